import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import type { LockIdentity } from './apply-lock.js';
import type { Database } from './database-schema.js';
import { KyselyStore } from './kysely-store.js';
import { redactUrl } from './redact-url.js';
import type { Store } from './store.js';

export type StoreConfig = { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly url: string };

export interface OpenStoreOptions {
  /** Overrides of who this process is, for tests. */
  readonly lock?: Partial<LockIdentity>;
}

/** How long a writer waits for another process's write transaction (SQLite) or for a connection (PostgreSQL). */
const BUSY_TIMEOUT_MS = 10_000;

/** Open the state and bring its schema up to date. */
export async function openStore(config: StoreConfig, options: OpenStoreOptions = {}): Promise<Store> {
  const store = config.kind === 'sqlite' ? openSqlite(config.path, options) : await openPostgres(config.url, options);
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw error;
  }
  return store;
}

/**
 * The better-sqlite3 handle with the settings qvd relies on: WAL so readers
 * (plan, serve) never wait for a writer; busy_timeout so concurrent writers
 * from other processes queue instead of failing; foreign_keys because SQLite
 * ignores declared foreign keys without it, and PostgreSQL never does
 * (none yet: for the runtime tables to come).
 */
export function openSqliteDatabase(path: string): BetterSqlite3.Database {
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  const db = new BetterSqlite3(path, { timeout: BUSY_TIMEOUT_MS });
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('foreign_keys = ON');
    // The default 2 MB page cache is smaller than a 10,000-VM state; the
    // snapshot then rereads pages from the OS on every plan.
    db.pragma('cache_size = -32000');
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function openSqlite(path: string, options: OpenStoreOptions): KyselyStore {
  // Opened lazily, inside the first query, so that a file that is not a
  // database fails in migrate() with the store's own message.
  const dialect = new SqliteDialect({ database: async () => openSqliteDatabase(path) });
  return new KyselyStore({
    db: new Kysely<Database>({ dialect }),
    dialect: 'sqlite',
    location: path === ':memory:' ? path : resolve(path),
    ...(options.lock === undefined ? {} : { lock: options.lock }),
  });
}

async function openPostgres(url: string, options: OpenStoreOptions): Promise<KyselyStore> {
  // Loaded only for clusters: the embedded default never pays for pg.
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, max: 10, connectionTimeoutMillis: BUSY_TIMEOUT_MS });
  // An idle connection dropped by the server (restart, failover) is reported
  // here; without a listener it would crash the process. The next query
  // simply gets a new connection.
  pool.on('error', () => undefined);
  return new KyselyStore({
    db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
    dialect: 'postgres',
    location: redactUrl(url),
    ...(options.lock === undefined ? {} : { lock: options.lock }),
  });
}
