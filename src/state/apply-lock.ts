import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { LockHeldError } from '../errors.js';
import type { Database } from './database-schema.js';
import type { LockHolder } from './store.js';

/** Who this process is, and how to tell whether another process still runs; injected for tests. */
export interface LockIdentity {
  readonly host: string;
  readonly pid: number;
  readonly isProcessAlive: (pid: number) => boolean;
  /** How often a waiter looks again; a row lock has no wake-up of its own. */
  readonly pollIntervalMs: number;
}

/**
 * The apply lock: one row in `lock` whose primary key is a constant, so an
 * INSERT either takes it or conflicts, atomically on both dialects and across
 * processes and machines. A row is used rather than a database lock because
 * the holder has to stay visible (who, since when) and has to survive the
 * holder's connection for `qvd state unlock` to make sense.
 */
export class ApplyLock {
  readonly #db: Kysely<Database>;
  readonly #location: string;
  readonly #me: LockIdentity;

  constructor(db: Kysely<Database>, location: string, me: LockIdentity) {
    this.#db = db;
    this.#location = location;
    this.#me = me;
  }

  async acquire(operation: string, timeoutMs: number): Promise<LockHolder> {
    const started = Date.now();
    // NaN would make every comparison false and wait forever; Infinity does mean forever.
    const deadline = started + (Number.isNaN(timeoutMs) ? 0 : Math.max(0, timeoutMs));
    let takenOverFrom: LockHolder | undefined;
    for (;;) {
      const mine: LockHolder = {
        id: randomUUID(),
        operation,
        pid: this.#me.pid,
        host: this.#me.host,
        since: new Date().toISOString(),
      };
      const inserted = await this.#db
        .insertInto('lock')
        .values({ slot: 1, ...mine })
        .onConflict((oc) => oc.column('slot').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted !== undefined) return takenOverFrom === undefined ? mine : { ...mine, takenOverFrom };

      const holder = await this.read();
      if (holder === undefined) continue; // released between our insert and our read
      if (this.#isStale(holder)) {
        // Delete by id, not by slot: when several waiters notice the same
        // stale holder, only the row they saw goes, never a fresh holder's.
        await this.#db.deleteFrom('lock').where('id', '=', holder.id).execute();
        takenOverFrom = holder;
        continue;
      }
      // Whoever holds it now is alive: if we removed a dead holder earlier,
      // someone else got in first, and that takeover was not ours.
      takenOverFrom = undefined;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw this.#held(holder, timeoutMs > 0 ? Date.now() - started : undefined);
      await sleep(Math.min(this.#me.pollIntervalMs, remaining));
    }
  }

  async release(id: string): Promise<void> {
    // A lock someone force-removed is simply gone; releasing it is not an error.
    await this.#db.deleteFrom('lock').where('id', '=', id).execute();
  }

  async read(): Promise<LockHolder | undefined> {
    const row = await this.#db
      .selectFrom('lock')
      .select(['id', 'operation', 'pid', 'host', 'since'])
      .where('slot', '=', 1)
      .executeTakeFirst();
    return row === undefined ? undefined : { ...row };
  }

  async forceRemove(): Promise<LockHolder | undefined> {
    const row = await this.#db
      .deleteFrom('lock')
      .where('slot', '=', 1)
      .returning(['id', 'operation', 'pid', 'host', 'since'])
      .executeTakeFirst();
    return row === undefined ? undefined : { ...row };
  }

  /**
   * Only a holder on this very host can be proven dead (a pid means nothing
   * elsewhere); a SIGKILLed apply must not block the next one forever.
   */
  #isStale(holder: LockHolder): boolean {
    return holder.host === this.#me.host && !this.#me.isProcessAlive(holder.pid);
  }

  #held(holder: LockHolder, waitedMs: number | undefined): LockHeldError {
    const waited = waitedMs === undefined ? '' : ` (waited ${(waitedMs / 1000).toFixed(1)} s)`;
    return new LockHeldError(
      `state ${this.#location} is locked by ${holder.operation} (pid ${holder.pid} on host ${holder.host}) since ${holder.since}${waited}`,
      {
        hint:
          'If it is still running, wait for it to finish or give --lock-timeout a longer wait. ' +
          'If that process is gone (killed on another host, or its host is down), remove the lock with `qvd state unlock`.',
      },
    );
  }
}
