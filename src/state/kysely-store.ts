import { hostname } from 'node:os';
import { Migrator, sql, type Kysely } from 'kysely';
import type { ObservedNode } from '../drivers/observed-state.js';
import { QvdError } from '../errors.js';
import { ApplyLock, type LockIdentity } from './apply-lock.js';
import { deleteKeys, upsertRows } from './bulk-write.js';
import type { Database } from './database-schema.js';
import { migrationProvider, migrations } from './migration-provider.js';
import { isProcessAlive } from './process-alive.js';
import { imageCodec, nodeCodec, userCodec, vmCodec, type RecordCodec } from './record-codecs.js';
import { readTableAsArrays } from './json-table-read.js';
import { newVmaStoreKey } from '../spec/vma-secrets.js';
import { batchRecordWrites } from './record-write-batch.js';
import type { JournalEntry, LockHolder, RecordWrite, SettingsRecord, Store, StoreSnapshot } from './store.js';

/** kysely's default bookkeeping table, which the Migrator below uses. */
const MIGRATION_TABLE = 'kysely_migration';

export interface KyselyStoreOptions {
  readonly db: Kysely<Database>;
  readonly dialect: 'sqlite' | 'postgres';
  /** For messages: a path, or a URL already stripped of its password. */
  readonly location: string;
  /** Overrides of who this process is, for tests. */
  readonly lock?: Partial<LockIdentity>;
}

/**
 * The store over kysely: every query is written once and runs on SQLite and
 * PostgreSQL alike. Only transactions (#write, #read) and the bulk read
 * (json-table-read.ts) differ.
 */
export class KyselyStore implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly location: string;
  readonly #db: Kysely<Database>;
  readonly #lock: ApplyLock;
  #closed = false;

  constructor(options: KyselyStoreOptions) {
    this.dialect = options.dialect;
    this.location = options.location;
    this.#db = options.db;
    this.#lock = new ApplyLock(options.db, options.location, {
      host: hostname(),
      pid: process.pid,
      isProcessAlive,
      pollIntervalMs: 200,
      ...options.lock,
    });
  }

  async migrate(): Promise<void> {
    // Every command opens the store; nearly always it is already current, and
    // one read proves it without the Migrator's write lock and bookkeeping.
    if (await this.#migrated()) return;
    const run = async (db: Kysely<Database>): Promise<void> => {
      const { error } = await new Migrator({ db, provider: migrationProvider }).migrateToLatest();
      if (error !== undefined) throw error;
    };
    try {
      if (this.dialect === 'sqlite') {
        // kysely runs SQLite migrations outside any transaction and without a
        // lock; one IMMEDIATE transaction makes them atomic and makes a second
        // process wait (busy_timeout) instead of applying them twice.
        await this.#write(run);
      } else {
        try {
          await run(this.#db);
        } catch {
          // Two processes creating kysely's bookkeeping tables at once race on
          // CREATE TABLE IF NOT EXISTS; the loser finds them there next time.
          await run(this.#db);
        }
      }
    } catch (error) {
      throw migrationError(this.location, error);
    }
  }

  /** Whether exactly the known migrations, no more and no fewer, have run. */
  async #migrated(): Promise<boolean> {
    let applied: string[];
    try {
      const result = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)} order by name`.execute(this.#db);
      applied = result.rows.map((r) => r.name);
    } catch {
      // No bookkeeping table yet (a new store), or not a database at all: the Migrator says which.
      return false;
    }
    const known = Object.keys(migrations).sort();
    return applied.length === known.length && applied.every((name, i) => name === known[i]);
  }

  /** Lists come sorted by key (code-unit order), the same on both dialects. */
  snapshot(): Promise<StoreSnapshot> {
    return this.#read(async (db) => {
      const meta = await db.selectFrom('meta').select(['serial', 'settings']).where('id', '=', 1).executeTakeFirstOrThrow();
      const users = await this.#readAll(db, userCodec);
      const vms = await this.#readAll(db, vmCodec);
      const nodes = await this.#readAll(db, nodeCodec);
      const images = await this.#readAll(db, imageCodec);
      return {
        serial: meta.serial,
        ...(meta.settings === null ? {} : { settings: JSON.parse(meta.settings) as SettingsRecord }),
        users: users.sort((a, b) => compare(a.key, b.key)),
        vms: vms.sort((a, b) => compare(a.name, b.name)),
        nodes: nodes.sort((a, b) => compare(a.name, b.name)),
        images: images.sort((a, b) => compare(a.key, b.key)),
      };
    });
  }

  async serial(): Promise<number> {
    const meta = await this.#db.selectFrom('meta').select('serial').where('id', '=', 1).executeTakeFirstOrThrow();
    return meta.serial;
  }

  acquireLock(operation: string, timeoutMs: number): Promise<LockHolder> {
    return this.#lock.acquire(operation, timeoutMs);
  }

  releaseLock(id: string): Promise<void> {
    return this.#lock.release(id);
  }

  readLock(): Promise<LockHolder | undefined> {
    return this.#lock.read();
  }

  forceUnlock(): Promise<LockHolder | undefined> {
    return this.#lock.forceRemove();
  }

  writeRecords(writes: readonly RecordWrite[]): Promise<number> {
    const batch = batchRecordWrites(writes);
    return this.#write(async (db) => {
      // Each key appears once (batchRecordWrites). Deletes go first so that a
      // value a deleted row frees (under a future unique column) can be reused.
      await deleteKeys(db, vmCodec, batch.vm.deletes);
      await deleteKeys(db, userCodec, batch.user.deletes);
      await deleteKeys(db, imageCodec, batch.image.deletes);
      await deleteKeys(db, nodeCodec, batch.node.deletes);
      await upsertRows(db, nodeCodec, batch.node.upserts.map(nodeCodec.toRow));
      await upsertRows(db, imageCodec, batch.image.upserts.map(imageCodec.toRow));
      await upsertRows(db, userCodec, batch.user.upserts.map(userCodec.toRow));
      await upsertRows(db, vmCodec, batch.vm.upserts.map(vmCodec.toRow));
      if (batch.settings !== undefined) {
        await db
          .updateTable('meta')
          .set({ settings: batch.settings === null ? null : JSON.stringify(batch.settings) })
          .where('id', '=', 1)
          .execute();
      }
      return bumpSerial(db);
    });
  }

  async vmaKey(): Promise<string> {
    // Set only while still null: of two processes racing here, the second
    // update changes nothing and both read the first one's key.
    await this.#db.updateTable('meta').set({ vma_key: newVmaStoreKey() }).where('id', '=', 1).where('vma_key', 'is', null).execute();
    const row = await this.#db.selectFrom('meta').select('vma_key').where('id', '=', 1).executeTakeFirstOrThrow();
    if (row.vma_key === null) throw new QvdError(`state ${this.location}: no VMA key after setting one`);
    return row.vma_key;
  }

  bumpSerial(): Promise<number> {
    return bumpSerial(this.#db);
  }

  async saveObserved(observed: ObservedNode): Promise<void> {
    await this.#db
      .insertInto('observed')
      .values({ node: observed.node, json: JSON.stringify(observed), at: new Date().toISOString() })
      .onConflict((oc) =>
        oc.column('node').doUpdateSet((eb) => ({ json: eb.ref('excluded.json'), at: eb.ref('excluded.at') })),
      )
      .execute();
  }

  async loadObserved(node: string): Promise<{ observed: ObservedNode; at: string } | undefined> {
    const row = await this.#db.selectFrom('observed').select(['json', 'at']).where('node', '=', node).executeTakeFirst();
    return row === undefined ? undefined : { observed: JSON.parse(row.json) as ObservedNode, at: row.at };
  }

  async journal(entry: JournalEntry): Promise<void> {
    await this.#db
      .insertInto('journal')
      .values({
        apply_id: entry.applyId,
        seq: entry.seq,
        node: entry.node,
        step: entry.step,
        status: entry.status,
        error: entry.error ?? null,
        at: new Date().toISOString(),
        ord: sql<number>`(select coalesce(max(ord), 0) + 1 from journal)`,
      })
      // The same step is written before it runs and again after: update in
      // place, keeping its original position (ord).
      .onConflict((oc) =>
        oc.columns(['apply_id', 'seq']).doUpdateSet((eb) => ({
          node: eb.ref('excluded.node'),
          step: eb.ref('excluded.step'),
          status: eb.ref('excluded.status'),
          error: eb.ref('excluded.error'),
          at: eb.ref('excluded.at'),
        })),
      )
      .execute();
  }

  async lastJournal(): Promise<readonly JournalEntry[]> {
    const rows = await this.#db
      .selectFrom('journal')
      .select(['apply_id', 'seq', 'node', 'step', 'status', 'error'])
      .where('apply_id', '=', (eb) =>
        eb.selectFrom('journal').select('apply_id').orderBy('ord', 'desc').limit(1),
      )
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({
      applyId: r.apply_id,
      seq: r.seq,
      node: r.node,
      step: r.step,
      status: r.status as JournalEntry['status'],
      ...(r.error === null ? {} : { error: r.error }),
    }));
  }

  async close(): Promise<void> {
    // pg's Pool throws when ended twice; callers close in `finally` blocks.
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.destroy();
  }

  async #readAll<R>(db: Kysely<Database>, codec: RecordCodec<R, unknown>): Promise<R[]> {
    const rows = await readTableAsArrays(db, this.dialect, codec.table, codec.columns);
    return rows.map(codec.fromArray);
  }

  /**
   * A write transaction. On SQLite it is BEGIN IMMEDIATE: a deferred
   * transaction that reads before it writes fails at once with SQLITE_BUSY
   * when another process wrote meanwhile, whereas IMMEDIATE waits
   * (busy_timeout) for the write lock up front.
   */
  #write<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.dialect === 'postgres') return this.#db.transaction().execute(fn);
    return this.#db.connection().execute(async (conn) => {
      await sql`begin immediate`.execute(conn);
      let result: T;
      try {
        result = await fn(conn);
      } catch (error) {
        // SQLite has already rolled back after some errors (SQLITE_FULL, an
        // interrupt); a failing ROLLBACK then must not hide the real error.
        await sql`rollback`.execute(conn).catch(() => undefined);
        throw error;
      }
      await sql`commit`.execute(conn);
      return result;
    });
  }

  /** A consistent read of several tables (SQLite's WAL gives deferred transactions a snapshot). */
  #read<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
    if (this.dialect === 'sqlite') return this.#db.transaction().execute(fn);
    return this.#db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(fn);
  }
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function bumpSerial(db: Kysely<Database>): Promise<number> {
  const row = await db
    .updateTable('meta')
    .set((eb) => ({ serial: eb('serial', '+', 1) }))
    .where('id', '=', 1)
    .returning('serial')
    .executeTakeFirstOrThrow();
  return row.serial;
}

function migrationError(location: string, error: unknown): QvdError {
  const message = error instanceof Error ? error.message : String(error);
  const missing = /previously executed migration (\S+) is missing/.exec(message);
  if (missing !== null) {
    return new QvdError(`state ${location} has migration ${missing[1]}, which this qvd does not know`, {
      hint: 'It was upgraded by a newer qvd: run that version (or newer) against it.',
      cause: error,
    });
  }
  return new QvdError(`cannot open state ${location}: ${message}`, { cause: error });
}
