import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, type SqliteDatabase } from 'kysely';
import pg from 'pg';
import { openSqliteDatabase, openStore, type StoreConfig } from './open-store.js';
import { redactUrl } from './redact-url.js';
import { KyselyRuntimeStore } from './runtime-kysely-store.js';
import type { RuntimeDatabase } from './runtime-schema.js';
import type { RuntimeStore } from './runtime-store.js';
import { QueuedSqliteDialect } from './sqlite-queued-dialect.js';
import { withStatementCache } from './sqlite-statement-cache.js';
import { startWalCheckpointer } from './wal-checkpointer.js';

export interface OpenRuntimeStoreOptions {
  /** Who writes, for the event log (default: `pid N on HOST`). */
  readonly actor?: string;
  readonly now?: () => Date;
}

/**
 * Open the runtime half of a store. Migrations run through openStore, so there
 * is one place that decides how they run (and refuses a newer schema).
 *
 * One kysely instance (on SQLite: one connection) is meant to carry all of a
 * serve process's writes: better-sqlite3 is synchronous, and two connections
 * of one process writing at once would block each other's event loop.
 */
export async function openRuntimeStore(config: StoreConfig, options: OpenRuntimeStoreOptions = {}): Promise<RuntimeStore> {
  const store = await openStore(config);
  await store.close();
  const actor = options.actor ?? `pid ${process.pid} on ${hostname()}`;
  if (config.kind === 'sqlite') {
    const db = new Kysely<RuntimeDatabase>({ dialect: new QueuedSqliteDialect({ database: async () => runtimeConnection(config.path) }) });
    return new KyselyRuntimeStore({ db, dialect: 'sqlite', location: config.path === ':memory:' ? config.path : resolve(config.path), actor, ...(options.now === undefined ? {} : { now: options.now }) });
  }
  const pool = new pg.Pool({ connectionString: config.url, max: 10, connectionTimeoutMillis: 10_000 });
  // A dropped idle connection must not crash serve; the next query reconnects.
  pool.on('error', () => undefined);
  const db = new Kysely<RuntimeDatabase>({ dialect: new PostgresDialect({ pool }) });
  return new KyselyRuntimeStore({ db, dialect: 'postgres', location: redactUrl(config.url), actor, ...(options.now === undefined ? {} : { now: options.now }) });
}

/**
 * The runtime rows (sessions, user states, transitions) are written several
 * times per connect. In WAL mode, `synchronous = NORMAL` still never leaves
 * the database corrupt or a transaction half done, and a crashed process loses
 * nothing; only a power cut can lose the last commits, which the HKD's next
 * pass rebuilds from what libvirt runs. FULL would wait for the disk on every
 * commit, blocking the event loop (better-sqlite3 is synchronous) that also
 * carries every tunnel. Set on this connection only: apply's keep FULL.
 */
function runtimeConnection(path: string): SqliteDatabase {
  const db: BetterSqlite3.Database = openSqliteDatabase(path);
  db.pragma('synchronous = NORMAL');
  const cached = withStatementCache(db);
  if (path === ':memory:') return cached;
  // Checkpoints wait for the disk: on a worker, not on the thread of every tunnel (wal-checkpointer.ts).
  const checkpointer = startWalCheckpointer(db, resolve(path));
  return {
    ...cached,
    close: () => {
      void checkpointer.stop();
      cached.close();
    },
  };
}
