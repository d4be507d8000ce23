import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration } from 'kysely';
import { describe, expect, it } from 'vitest';
import { QvdError } from '../../../src/errors.js';
import { migrations } from '../../../src/state/migration-provider.js';
import { openSqliteDatabase, openStore } from '../../../src/state/open-store.js';
import { user } from './record-fixtures.js';
import { useTempDirs } from './sqlite-temp.js';

const tempDir = useTempDirs();

describe('openStore on SQLite', () => {
  it('creates the directory and the schema, and names the file as its location', async () => {
    const path = join(await tempDir(), 'a', 'b', 'qvd.db');
    const store = await openStore({ kind: 'sqlite', path });
    try {
      expect(existsSync(path)).toBe(true);
      expect(store.dialect).toBe('sqlite');
      expect(store.location).toBe(path);
      expect(await store.serial()).toBe(0);
    } finally {
      await store.close();
    }
    const db = new BetterSqlite3(path);
    try {
      const tables = db.prepare(`select name from sqlite_master where type = 'table' order by name`).pluck().all();
      expect(tables).toEqual(
        expect.arrayContaining(['images', 'journal', 'lock', 'meta', 'nodes', 'observed', 'users', 'vms', 'kysely_migration']),
      );
      expect(db.prepare('select name from kysely_migration').pluck().all()).toEqual(Object.keys(migrations));
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      db.close();
    }
  });

  it('sets WAL, busy_timeout and foreign_keys on its connection', async () => {
    const db = openSqliteDatabase(join(await tempDir(), 'x', 'qvd.db'));
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThanOrEqual(5000);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      db.close();
    }
  });

  it('opens an existing state again without migrating twice, keeping the data', async () => {
    const path = join(await tempDir(), 'qvd.db');
    const first = await openStore({ kind: 'sqlite', path });
    await first.writeRecords([{ kind: 'user', op: 'upsert', record: user(1) }]);
    await first.migrate();
    await first.close();
    const second = await openStore({ kind: 'sqlite', path });
    try {
      await second.migrate();
      expect(await second.snapshot()).toMatchObject({ serial: 1, users: [user(1)] });
    } finally {
      await second.close();
    }
    const db = new BetterSqlite3(path);
    expect(db.prepare('select count(*) from kysely_migration').pluck().get()).toBe(Object.keys(migrations).length);
    db.close();
  });

  it('brings a state left by an older qvd up to date, running only the migrations it lacks', async () => {
    const path = join(await tempDir(), 'qvd.db');
    const names = Object.keys(migrations);
    const older = Object.fromEntries(names.slice(0, -1).map((n) => [n, migrations[n] as Migration]));
    const db = new Kysely<never>({ dialect: new SqliteDialect({ database: new BetterSqlite3(path) }) });
    const { error } = await new Migrator({ db, provider: { getMigrations: () => Promise.resolve(older) } }).migrateToLatest();
    await db.destroy();
    expect(error).toBeUndefined();
    const store = await openStore({ kind: 'sqlite', path });
    await store.close();
    const check = new BetterSqlite3(path);
    try {
      expect(check.prepare('select name from kysely_migration order by name').pluck().all()).toEqual(names);
    } finally {
      check.close();
    }
  });

  it('refuses a file that is not a database, naming it', async () => {
    const path = join(await tempDir(), 'qvd.db');
    await writeFile(path, 'this is not sqlite, just some text long enough to have a header '.repeat(10));
    const error = await openStore({ kind: 'sqlite', path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QvdError);
    expect((error as Error).message).toContain(`cannot open state ${path}`);
  });

  it('refuses a state migrated by a newer qvd, saying to upgrade', async () => {
    const path = join(await tempDir(), 'qvd.db');
    await (await openStore({ kind: 'sqlite', path })).close();
    const db = new BetterSqlite3(path);
    db.prepare(`insert into kysely_migration (name, timestamp) values ('999-from-the-future', '2099-01-01')`).run();
    db.close();
    const error = await openStore({ kind: 'sqlite', path }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QvdError);
    expect((error as QvdError).message).toContain('999-from-the-future');
    expect((error as QvdError).hint).toMatch(/newer qvd/);
  });

  it('closes twice without complaint', async () => {
    const store = await openStore({ kind: 'sqlite', path: join(await tempDir(), 'qvd.db') });
    await store.close();
    await store.close();
  });
});

describe('migrations', () => {
  it('are listed statically, numbered, in order', () => {
    const names = Object.keys(migrations);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) expect(name).toMatch(/^\d{3}-[a-z0-9-]+$/);
    expect([...names].sort()).toEqual(names);
  });
});

describe('openStore on PostgreSQL', () => {
  it('fails with the URL, without its password, when the server is not there', async () => {
    const error = await openStore({ kind: 'postgres', url: 'postgres://qvd:hunter2@127.0.0.1:1/qvd' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(QvdError);
    expect((error as Error).message).toContain('cannot open state postgres://qvd@127.0.0.1:1/qvd');
    expect((error as Error).message).not.toContain('hunter2');
  });
});
