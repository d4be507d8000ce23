import { randomBytes } from 'node:crypto';
import { CompiledQuery, sql, type Kysely, type QueryResult, type Updateable } from 'kysely';
import type { PowerState } from '../spec/spec-document.js';
import type { RuntimeDatabase, VmRuntimeTable } from './runtime-schema.js';
import type {
  Heartbeat,
  NodeState,
  NodeView,
  RuntimeStore,
  UserState,
  VmCommand,
  VmEvent,
  VmExpect,
  VmPatch,
  VmRuntime,
  VmState,
  VmView,
} from './runtime-store.js';
import type { UserRecord } from './store.js';
import { CompiledOnce } from './compiled-once.js';

export interface KyselyRuntimeStoreOptions {
  readonly db: Kysely<RuntimeDatabase>;
  readonly dialect: 'sqlite' | 'postgres';
  readonly location: string;
  readonly actor: string;
  /** Injected for tests; the wall clock otherwise. */
  readonly now?: () => Date;
}

const bool = (value: unknown): boolean => value === true || value === 1;

/** Compiled once: building a raw query anew costs more than SQLite takes to run it. */
const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');
const COMMIT = CompiledQuery.raw('commit');
const ROLLBACK = CompiledQuery.raw('rollback');

/** A compiled transition UPDATE; `sources[i]` is the index of parameter i in the values, or -1 for a constant of the SQL. */
interface TransitionUpdate {
  readonly compiled: CompiledQuery<unknown>;
  readonly sources: readonly number[];
}

/** What a transition's UPDATE returns, for its event. */
interface TransitionRow {
  readonly vm: string;
  readonly state: string;
  readonly command: string | null;
  readonly node: string | null;
  readonly user_state: string;
}

/** One expectation of a transition's compare-and-set: a column null, equal to a value, or in a list. */
interface TransitionWhere {
  readonly column: 'state' | 'command' | 'node' | 'session_id' | 'session_takeover';
  readonly value: string | null | readonly string[];
}

/** Raw SQL (an increment) rather than a value: part of the statement's text, not a parameter. */
function isRawSql(value: unknown): boolean {
  return typeof value === 'object' && value !== null && 'toOperationNode' in value;
}

/**
 * Build a transition UPDATE with a marker in place of each value (the id
 * first, then the SET values, then the WHERE values, as #transitionUpdate
 * lists them), compile it, and note which parameter is which value.
 */
function compileTransitionUpdate(
  db: Kysely<RuntimeDatabase>,
  set: Record<string, unknown>,
  wheres: readonly TransitionWhere[],
  count: number,
  returning: boolean,
): TransitionUpdate {
  const markers = Array.from({ length: count }, (_, i) => `\u0000qvd-parameter-${i}\u0000`);
  let next = 0;
  const mark = (): string => markers[next++]!;
  const idMarker = mark();
  const marked: Record<string, unknown> = {};
  for (const column in set) marked[column] = isRawSql(set[column]) ? set[column] : mark();
  let q = db
    .updateTable('vm_runtime')
    .set(marked as Updateable<VmRuntimeTable>)
    .where('id', '=', idMarker as unknown as number)
    .where('retired_at', 'is', null);
  for (const { column, value } of wheres) {
    if (value === null) q = q.where(column, 'is', null);
    else if (typeof value === 'string') q = q.where(column, '=', mark());
    else q = q.where(column, 'in', value.map(() => mark()));
  }
  const compiled = (returning ? q.returning(['vm', 'state', 'command', 'node', 'user_state']).compile() : q.compile()) as CompiledQuery<unknown>;
  const index = new Map(markers.map((m, i) => [m, i]));
  const sources = compiled.parameters.map((p) => (typeof p === 'string' ? (index.get(p) ?? -1) : -1));
  if (new Set(sources.filter((i) => i !== -1)).size !== count) throw new Error(`transition UPDATE did not take every value as a parameter: ${compiled.sql}`);
  return { compiled, sources };
}

/**
 * RuntimeStore over kysely, the same queries on SQLite and PostgreSQL. Each
 * write is one short transaction (BEGIN IMMEDIATE on SQLite, so writers queue
 * instead of failing); the compare-and-set lives in the UPDATE's WHERE, which
 * PostgreSQL re-evaluates on the latest row version after a concurrent commit,
 * so of two racing transitions exactly one reports a changed row.
 */
export class KyselyRuntimeStore implements RuntimeStore {
  readonly dialect: 'sqlite' | 'postgres';
  readonly location: string;
  readonly actor: string;
  readonly #db: Kysely<RuntimeDatabase>;
  readonly #now: () => Date;
  readonly #eventTag = randomBytes(4).toString('hex');
  #eventSeq = 0;
  #closed = false;
  /** Transitions waiting for the next group commit (SQLite). */
  readonly #pending: { step: (db: Kysely<RuntimeDatabase>) => Promise<boolean>; resolve: (ok: boolean) => void; reject: (error: unknown) => void }[] = [];
  #committing = false;
  /** Compiled transition UPDATEs by shape (see #transitionUpdate). */
  readonly #transitionUpdates = new Map<string, TransitionUpdate>();
  /** The reads and writes every connect makes, compiled once (see compiled-once.ts). */
  readonly #hot = {
    vmById: new CompiledOnce(([id]) => this.#views().where('r.id', '=', id as number)),
    vmBySession: new CompiledOnce(([session]) => this.#views().where('r.session_id', '=', session as string)),
    user: new CompiledOnce(([login, tenant]) => this.#db.selectFrom('users').selectAll().where('login', '=', login as string).where('tenant', '=', tenant as string)),
    before: new CompiledOnce(([id]) =>
      this.#db.selectFrom('vm_runtime').select(['vm', 'state', 'command', 'node', 'user_state']).where('id', '=', id as number).where('retired_at', 'is', null),
    ),
    event: new CompiledOnce((v) =>
      this.#db.insertInto('vm_events').values({
        id: v[0] as string,
        at: v[1] as string,
        vm_id: v[2] as number,
        vm: v[3] as string,
        node: v[4] as string | null,
        from_state: v[5] as string,
        to_state: v[6] as string,
        command: v[7] as string | null,
        user_state: v[8] as string,
        reason: v[9] as string,
        actor: v[10] as string,
      }),
    ),
  };

  constructor(options: KyselyRuntimeStoreOptions) {
    this.#db = options.db;
    this.dialect = options.dialect;
    this.location = options.location;
    this.actor = options.actor;
    this.#now = options.now ?? (() => new Date());
  }

  async syncVms(): Promise<{ added: number; retired: number }> {
    const now = this.#iso();
    return this.#write(async (db) => {
      // One statement for any number of new VMs. Ids continue after the
      // highest ever used (rows are never deleted). Two processes racing on
      // PostgreSQL compute the same ids: the loser's rows conflict and are
      // skipped, and the winner's rows already cover the same VMs.
      const inserted = await sql`
        insert into vm_runtime (id, vm, state, command, command_at, node, user_state, user_state_at,
          vma_failures, start_failures, state_reason, state_at, created_at)
        select (select coalesce(max(id), 0) from vm_runtime) + row_number() over (order by v.name),
          v.name, 'stopped', null, null, null, 'disconnected', ${now}, 0, 0, 'new VM', ${now}, ${now}
        from vms v
        where not exists (select 1 from vm_runtime r where r.vm = v.name and r.retired_at is null)
        on conflict do nothing`.execute(db);
      // A VM removed from the spec keeps its row (and id) for history; while
      // it still runs, its node's HKD (or apply) has to stop it first.
      const retired = await db
        .updateTable('vm_runtime')
        .set({ retired_at: now })
        .where('retired_at', 'is', null)
        .where('state', '=', 'stopped')
        .where((eb) => eb.not(eb.exists(eb.selectFrom('vms').select('vms.name').whereRef('vms.name', '=', 'vm_runtime.vm'))))
        .executeTakeFirst();
      return { added: Number(inserted.numAffectedRows ?? 0n), retired: Number(retired.numUpdatedRows) };
    });
  }

  async serial(): Promise<number> {
    const row = await this.#db.selectFrom('meta').select('serial').where('id', '=', 1).executeTakeFirstOrThrow();
    return row.serial;
  }

  async vm(id: number): Promise<VmView | undefined> {
    const { rows } = await this.#hot.vmById.run(this.#db, [id]);
    return rows[0] === undefined ? undefined : toView(rows[0]);
  }

  async vmByName(name: string): Promise<VmView | undefined> {
    const rows = await this.#views().where('v.name', '=', name).execute();
    return rows[0] === undefined ? undefined : toView(rows[0]);
  }

  async vmBySession(sessionId: string): Promise<VmView | undefined> {
    const { rows } = await this.#hot.vmBySession.run(this.#db, [sessionId]);
    return rows[0] === undefined ? undefined : toView(rows[0]);
  }

  async vmsOfUser(userKey: string): Promise<VmView[]> {
    const rows = await this.#views().where('v.user_key', '=', userKey).orderBy('r.id').execute();
    return rows.map(toView);
  }

  async vmsForNode(node: string, observedNames: readonly string[]): Promise<VmView[]> {
    const rows = await this.#views()
      .where((eb) =>
        eb.or([
          eb('r.node', '=', node),
          eb('v.node', '=', node),
          ...(observedNames.length === 0 ? [] : [eb('v.name', 'in', [...observedNames])]),
        ]),
      )
      .orderBy('r.id')
      .execute();
    return rows.map(toView);
  }

  async user(login: string, tenant: string): Promise<UserRecord | undefined> {
    const row = (await this.#hot.user.run(this.#db, [login, tenant])).rows[0];
    return row === undefined ? undefined : toUser(row);
  }

  async userByKey(key: string): Promise<UserRecord | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('key', '=', key).executeTakeFirst();
    return row === undefined ? undefined : toUser(row);
  }

  async nodes(): Promise<NodeView[]> {
    const rows = await this.#db
      .selectFrom('nodes as n')
      .leftJoin('node_runtime as nr', 'nr.node', 'n.name')
      .select([
        'n.name',
        'n.address',
        'n.blocked',
        'n.memory_mb',
        'n.vcpus',
        'n.max_vms',
        'nr.node as rt_node',
        'nr.state',
        'nr.state_reason',
        'nr.state_at',
        'nr.heartbeat_at',
        'nr.serve_pid',
        'nr.serve_host',
        'nr.l7r_address',
        'nr.running_vms',
        'nr.free_memory_mb',
        'nr.free_vcpus',
      ])
      .orderBy('n.name')
      .execute();
    return rows.map((r) => ({
      record: { name: r.name, address: r.address, blocked: bool(r.blocked), memoryMb: r.memory_mb, vcpus: r.vcpus, maxVms: r.max_vms },
      runtime:
        r.rt_node === null
          ? undefined
          : {
              node: r.rt_node,
              state: r.state as NodeState,
              stateReason: r.state_reason ?? '',
              stateAt: r.state_at ?? '',
              heartbeatAt: r.heartbeat_at,
              servePid: r.serve_pid,
              serveHost: r.serve_host,
              l7rAddress: r.l7r_address,
              runningVms: r.running_vms ?? 0,
              freeMemoryMb: r.free_memory_mb ?? 0,
              freeVcpus: r.free_vcpus ?? 0,
            },
    }));
  }

  transitionVm(id: number, expect: VmExpect, patch: VmPatch, reason: string): Promise<boolean> {
    const now = this.#iso();
    const step = (db: Kysely<RuntimeDatabase>): Promise<boolean> => this.#transitionIn(db, id, expect, patch, reason, now);
    if (this.dialect === 'postgres') return this.#write(step);
    return new Promise((resolve, reject) => {
      this.#pending.push({ step, resolve, reject });
      if (!this.#committing) {
        this.#committing = true;
        setImmediate(() => void this.#commitPending());
      }
    });
  }

  /**
   * Group commit (SQLite): transitions asked for in the same turn of the
   * event loop, or while a commit is under way, go into one transaction. A
   * commit's WAL writes cost more than the statements in it, and a burst of
   * connects makes two transitions per session; each one is still its own
   * compare-and-set, run in order, as if committed one by one. A failing
   * batch is retried one by one, so one bad transition fails alone. The
   * wait is the rest of the current turn.
   */
  async #commitPending(): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0);
        try {
          const results = await this.#write(async (db) => {
            const out: boolean[] = [];
            for (const t of batch) out.push(await t.step(db));
            return out;
          });
          batch.forEach((t, i) => t.resolve(results[i]!));
        } catch (error) {
          if (batch.length === 1) {
            batch[0]!.reject(error);
            continue;
          }
          for (const t of batch) await this.#write(t.step).then(t.resolve, t.reject);
        }
      }
    } finally {
      this.#committing = false;
    }
  }

  async #transitionIn(db: Kysely<RuntimeDatabase>, id: number, expect: VmExpect, patch: VmPatch, reason: string, now: string): Promise<boolean> {
    if (patch.state === undefined) {
      // The state stays (a session claimed, connected, ended): the event needs nothing of the row before the
      // UPDATE that the UPDATE does not return, so one statement less than reading the row first.
      const after = (await this.#transitionUpdate(db, id, expect, patchColumns(patch, reason, now, ''), true)).rows[0] as TransitionRow | undefined;
      if (after === undefined) return false;
      await this.#hot.event.run(db, [this.#eventId(now), now, id, after.vm, after.node, after.state, after.state, after.command, after.user_state, reason, this.actor]);
      return true;
    }
    const before = (await this.#hot.before.run(db, [id])).rows[0];
    if (before === undefined) return false;
    const result = await this.#transitionUpdate(db, id, expect, patchColumns(patch, reason, now, before.state), false);
    if (Number(result.numAffectedRows ?? 0n) !== 1) return false;
    await this.#hot.event.run(db, [
      this.#eventId(now),
      now,
      id,
      before.vm,
      patch.node !== undefined ? patch.node : before.node,
      before.state,
      patch.state ?? before.state,
      patch.command !== undefined ? patch.command : before.command,
      patch.userState ?? before.user_state,
      reason,
      this.actor,
    ]);
    return true;
  }

  /**
   * The compare-and-set UPDATE of a transition. Its SQL depends only on the
   * transition's shape (the columns set, the expectations and which of them
   * are null), a handful of shapes in all: each is built and compiled by
   * kysely once, then run with the values in the order the SQL takes them.
   * With `returning`, the updated row's TransitionRow columns come back (no
   * row: nothing matched).
   */
  #transitionUpdate(db: Kysely<RuntimeDatabase>, id: number, expect: VmExpect, set: Record<string, unknown>, returning: boolean): Promise<QueryResult<unknown>> {
    const values: unknown[] = [id];
    let key = returning ? 'returning:' : '';
    for (const column in set) {
      const value = set[column];
      if (isRawSql(value)) key += `${column}=raw,`;
      else {
        key += `${column}=?,`;
        values.push(value);
      }
    }
    const wheres: TransitionWhere[] = [];
    if (expect.state !== undefined) wheres.push({ column: 'state', value: expect.state });
    if (expect.command !== undefined) wheres.push({ column: 'command', value: expect.command });
    if (expect.node !== undefined) wheres.push({ column: 'node', value: expect.node });
    if (expect.sessionId !== undefined) wheres.push({ column: 'session_id', value: expect.sessionId });
    if (expect.sessionTakeover !== undefined) wheres.push({ column: 'session_takeover', value: expect.sessionTakeover });
    for (const { column, value } of wheres) {
      if (value === null) key += `|${column} null`;
      else if (typeof value === 'string') {
        key += `|${column}=?`;
        values.push(value);
      } else {
        key += `|${column} in ${value.length}`;
        values.push(...value);
      }
    }
    let shape = this.#transitionUpdates.get(key);
    if (shape === undefined) {
      shape = compileTransitionUpdate(db, set, wheres, values.length, returning);
      this.#transitionUpdates.set(key, shape);
    }
    const parameters = shape.sources.map((source, i) => (source === -1 ? shape.compiled.parameters[i] : values[source]));
    return db.executeQuery({ ...shape.compiled, parameters });
  }

  async recordVmaHealth(id: number, ok: boolean): Promise<void> {
    const q = this.#db.updateTable('vm_runtime').where('id', '=', id).where('retired_at', 'is', null).where('state', 'in', ['starting', 'running']);
    if (ok) await q.set({ vma_ok_at: this.#iso(), vma_failures: 0 }).execute();
    else await q.set({ vma_failures: sql`vma_failures + 1` }).execute();
  }

  async heartbeat(node: string, beat: Heartbeat): Promise<void> {
    const now = this.#iso();
    const row = {
      node,
      state: beat.state,
      state_reason: beat.reason,
      state_at: now,
      heartbeat_at: now,
      serve_pid: beat.pid,
      serve_host: beat.host,
      l7r_address: beat.l7rAddress,
      running_vms: beat.runningVms,
      free_memory_mb: beat.freeMemoryMb,
      free_vcpus: beat.freeVcpus,
    };
    await this.#db
      .insertInto('node_runtime')
      .values(row)
      .onConflict((oc) =>
        oc.column('node').doUpdateSet((eb) => ({
          state: eb.ref('excluded.state'),
          // Keep when the state last changed, not when it was last confirmed.
          state_at: eb.case().when('node_runtime.state', '=', eb.ref('excluded.state')).then(eb.ref('node_runtime.state_at')).else(eb.ref('excluded.state_at')).end(),
          state_reason: eb.ref('excluded.state_reason'),
          heartbeat_at: eb.ref('excluded.heartbeat_at'),
          serve_pid: eb.ref('excluded.serve_pid'),
          serve_host: eb.ref('excluded.serve_host'),
          l7r_address: eb.ref('excluded.l7r_address'),
          running_vms: eb.ref('excluded.running_vms'),
          free_memory_mb: eb.ref('excluded.free_memory_mb'),
          free_vcpus: eb.ref('excluded.free_vcpus'),
        })),
      )
      .execute();
  }

  async setNodeState(node: string, state: NodeState, reason: string): Promise<void> {
    const now = this.#iso();
    await this.#db
      .insertInto('node_runtime')
      .values({ node, state, state_reason: reason, state_at: now, heartbeat_at: null, serve_pid: null, serve_host: null, l7r_address: null, running_vms: 0, free_memory_mb: 0, free_vcpus: 0 })
      .onConflict((oc) => oc.column('node').doUpdateSet({ state, state_reason: reason, state_at: now }))
      .execute();
  }

  async markNodeLost(node: string, olderThan: string, reason: string): Promise<readonly string[] | undefined> {
    const now = this.#iso();
    return this.#write(async (db) => {
      const marked = await db
        .updateTable('node_runtime')
        .set({ state: 'lost', state_reason: reason, state_at: now })
        .where('node', '=', node)
        .where('state', 'in', ['running', 'starting', 'stopping'])
        .where((eb) => eb.or([eb('heartbeat_at', 'is', null), eb('heartbeat_at', '<', olderThan)]))
        .executeTakeFirst();
      if (Number(marked.numUpdatedRows) !== 1) return undefined;
      const vms = await db.selectFrom('vm_runtime').select(['id', 'vm', 'state', 'command', 'user_state']).where('node', '=', node).where('retired_at', 'is', null).execute();
      if (vms.length === 0) return [];
      const vmReason = `node ${node} lost: ${reason}`;
      await db
        .updateTable('vm_runtime')
        .set({ ...patchColumns({ state: 'stopped', command: null, node: null, session: null, sessionTakeover: null, userState: 'disconnected', readyAt: null }, vmReason, now, ''), })
        .where('node', '=', node)
        .where('retired_at', 'is', null)
        .execute();
      await db
        .insertInto('vm_events')
        .values(
          vms.map((v) => ({
            id: this.#eventId(now),
            at: now,
            vm_id: v.id,
            vm: v.vm,
            node: null,
            from_state: v.state,
            to_state: 'stopped',
            command: null,
            user_state: 'disconnected',
            reason: vmReason,
            actor: this.actor,
          })),
        )
        .execute();
      return vms.map((v) => v.vm);
    });
  }

  async events(filter: { vmId?: number; limit?: number } = {}): Promise<VmEvent[]> {
    let q = this.#db.selectFrom('vm_events').selectAll().orderBy('id');
    if (filter.vmId !== undefined) q = q.where('vm_id', '=', filter.vmId);
    if (filter.limit !== undefined) q = q.limit(filter.limit);
    const rows = await q.execute();
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      vmId: r.vm_id,
      vm: r.vm,
      node: r.node,
      from: r.from_state as VmState,
      to: r.to_state as VmState,
      command: r.command as VmCommand | null,
      userState: r.user_state as UserState,
      reason: r.reason,
      actor: r.actor,
    }));
  }

  async saveToken(tokenHash: string, userKey: string, expiresAt: string): Promise<void> {
    await this.#db.insertInto('auth_tokens').values({ token_hash: tokenHash, user_key: userKey, created_at: this.#iso(), expires_at: expiresAt, revoked_at: null }).execute();
  }

  async tokenUser(tokenHash: string, now: string): Promise<string | undefined> {
    const row = await this.#db
      .selectFrom('auth_tokens')
      .select('user_key')
      .where('token_hash', '=', tokenHash)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return row?.user_key;
  }

  async revokeToken(tokenHash: string): Promise<boolean> {
    const r = await this.#db.updateTable('auth_tokens').set({ revoked_at: this.#iso() }).where('token_hash', '=', tokenHash).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async revokeUserTokens(userKey: string): Promise<number> {
    const r = await this.#db.updateTable('auth_tokens').set({ revoked_at: this.#iso() }).where('user_key', '=', userKey).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.destroy();
  }

  #iso(): string {
    return this.#now().toISOString();
  }

  #eventId(at: string): string {
    this.#eventSeq = (this.#eventSeq + 1) % 1e9;
    return `${at}~${this.#eventTag}~${String(this.#eventSeq).padStart(9, '0')}`;
  }

  #views() {
    return this.#db
      .selectFrom('vms as v')
      .innerJoin('vm_runtime as r', (join) => join.onRef('r.vm', '=', 'v.name').on('r.retired_at', 'is', null))
      .leftJoin('images as i', 'i.key', 'v.image_key')
      .select([
        'v.name',
        'v.user_key',
        'v.image_key',
        'v.node as placed_node',
        'v.node_pinned',
        'v.ip',
        'v.mac',
        'v.power',
        'v.persistent',
        'v.blocked',
        'v.properties',
        'i.key as image',
        'i.sha256 as image_sha256',
        'i.memory_mb as image_memory_mb',
        'i.vcpus as image_vcpus',
        'i.home_size_mb as image_home_size_mb',
        'i.application as image_application',
        'r.id',
        'r.state',
        'r.command',
        'r.command_at',
        'r.node',
        'r.user_state',
        'r.user_state_at',
        'r.session_id',
        'r.session_node',
        'r.session_pid',
        'r.session_host',
        'r.session_takeover',
        'r.nx_cookie',
        'r.vma_secret',
        'r.started_at',
        'r.ready_at',
        'r.vma_ok_at',
        'r.health_ok_at',
        'r.vma_failures',
        'r.start_failures',
        'r.state_reason',
        'r.state_at',
      ]);
  }

  /**
   * A write transaction; on SQLite BEGIN IMMEDIATE, because a deferred one
   * that reads first fails with SQLITE_BUSY when another process wrote meanwhile.
   */
  #write<T>(fn: (db: Kysely<RuntimeDatabase>) => Promise<T>): Promise<T> {
    if (this.dialect === 'postgres') return this.#db.transaction().execute(fn);
    return this.#db.connection().execute(async (conn) => {
      await conn.executeQuery(BEGIN_IMMEDIATE);
      let result: T;
      try {
        result = await fn(conn);
      } catch (error) {
        await conn.executeQuery(ROLLBACK).catch(() => undefined);
        throw error;
      }
      await conn.executeQuery(COMMIT);
      return result;
    });
  }
}

function toView(r: Record<string, unknown>): VmView {
  const s = (k: string): string => r[k] as string;
  const n = (k: string): string | null => (r[k] ?? null) as string | null;
  const runtime: VmRuntime = {
    id: Number(r['id']),
    vm: s('name'),
    state: s('state') as VmState,
    command: n('command') as VmCommand | null,
    commandAt: n('command_at'),
    node: n('node'),
    userState: s('user_state') as UserState,
    userStateAt: s('user_state_at'),
    session:
      r['session_id'] === null || r['session_id'] === undefined
        ? null
        : { id: s('session_id'), node: s('session_node'), pid: Number(r['session_pid']), host: s('session_host'), takeoverBy: n('session_takeover') },
    nxCookie: n('nx_cookie'),
    vmaSecret: n('vma_secret'),
    startedAt: n('started_at'),
    readyAt: n('ready_at'),
    vmaOkAt: n('vma_ok_at'),
    healthOkAt: n('health_ok_at'),
    vmaFailures: Number(r['vma_failures']),
    startFailures: Number(r['start_failures']),
    stateReason: s('state_reason'),
    stateAt: s('state_at'),
  };
  const props = r['properties'];
  return {
    record: {
      name: s('name'),
      user: s('user_key'),
      image: s('image_key'),
      node: s('placed_node'),
      nodePinned: bool(r['node_pinned']),
      ip: s('ip'),
      mac: s('mac'),
      power: s('power') as PowerState,
      persistent: bool(r['persistent']),
      blocked: bool(r['blocked']),
      properties: typeof props === 'string' ? (JSON.parse(props) as Record<string, string>) : ((props ?? {}) as Record<string, string>),
    },
    runtime,
    image:
      r['image'] === null || r['image'] === undefined
        ? undefined
        : {
            key: s('image'),
            sha256: s('image_sha256'),
            memoryMb: Number(r['image_memory_mb']),
            vcpus: Number(r['image_vcpus']),
            homeSizeMb: Number(r['image_home_size_mb']),
            application: bool(r['image_application']),
          },
  };
}

function toUser(row: { key: string; login: string; tenant: string; password_hash: string; blocked: unknown; properties: string }): UserRecord {
  return {
    key: row.key,
    login: row.login,
    tenant: row.tenant,
    passwordHash: row.password_hash,
    blocked: bool(row.blocked),
    properties: JSON.parse(row.properties) as Record<string, string>,
  };
}

/** The SET clause of a transition; `currentState` decides whether state_at moves. */
function patchColumns(p: VmPatch, reason: string, now: string, currentState: string): Updateable<VmRuntimeTable> {
  const set: Record<string, unknown> = {};
  if (p.state !== undefined) {
    set['state'] = p.state;
    set['state_reason'] = reason;
    if (p.state !== currentState) set['state_at'] = now;
  }
  if (p.command !== undefined) {
    set['command'] = p.command;
    set['command_at'] = p.command === null ? null : now;
  }
  if (p.node !== undefined) set['node'] = p.node;
  if (p.userState !== undefined) {
    set['user_state'] = p.userState;
    set['user_state_at'] = now;
  }
  if (p.session !== undefined) {
    set['session_id'] = p.session?.id ?? null;
    set['session_node'] = p.session?.node ?? null;
    set['session_pid'] = p.session?.pid ?? null;
    set['session_host'] = p.session?.host ?? null;
    set['session_takeover'] = p.session?.takeoverBy ?? null;
  }
  if (p.sessionTakeover !== undefined) set['session_takeover'] = p.sessionTakeover;
  if (p.nxCookie !== undefined) set['nx_cookie'] = p.nxCookie;
  if (p.vmaSecret !== undefined) set['vma_secret'] = p.vmaSecret;
  if (p.startedAt !== undefined) set['started_at'] = p.startedAt;
  if (p.readyAt !== undefined) set['ready_at'] = p.readyAt;
  if (p.vmaOkAt !== undefined) set['vma_ok_at'] = p.vmaOkAt;
  if (p.healthOkAt !== undefined) set['health_ok_at'] = p.healthOkAt;
  if (p.vmaFailures !== undefined) set['vma_failures'] = p.vmaFailures === 'increment' ? sql`vma_failures + 1` : p.vmaFailures;
  if (p.startFailures !== undefined) set['start_failures'] = p.startFailures === 'increment' ? sql`start_failures + 1` : p.startFailures;
  return set as Updateable<VmRuntimeTable>;
}
