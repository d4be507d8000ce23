import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { StoreConfig } from '../../../src/state/open-store.js';
import { startPostgres, type RunningPostgres } from '../../support/postgres.js';

/** One dialect under test: a server (or a temp dir) per suite, an empty state per test. */
export interface StoreBackend {
  readonly name: 'sqlite' | 'postgres';
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A state nobody has used yet. */
  fresh(): Promise<StoreConfig>;
}

export function sqliteBackend(): StoreBackend {
  let dir: string | undefined;
  let n = 0;
  return {
    name: 'sqlite',
    async start() {
      dir = await mkdtemp(join(tmpdir(), 'qvd-state-'));
    },
    async stop() {
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
    async fresh() {
      if (dir === undefined) throw new Error('sqlite backend not started');
      n += 1;
      // A nested path: openStore must create the directory.
      return { kind: 'sqlite', path: join(dir, `state-${n}`, 'qvd.db') };
    },
  };
}

export function postgresBackend(): StoreBackend {
  let server: RunningPostgres | undefined;
  let n = 0;
  return {
    name: 'postgres',
    async start() {
      server = await startPostgres();
    },
    async stop() {
      await server?.stop();
    },
    async fresh() {
      if (server === undefined) throw new Error('postgres backend not started');
      n += 1;
      const database = `qvd_test_${n}`;
      const admin = new pg.Client({ connectionString: server.url });
      await admin.connect();
      try {
        await admin.query(`create database ${database}`);
      } finally {
        await admin.end();
      }
      const url = new URL(server.url);
      url.pathname = `/${database}`;
      return { kind: 'postgres', url: url.toString() };
    },
  };
}
