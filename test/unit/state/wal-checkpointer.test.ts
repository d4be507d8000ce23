import { statSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '../../../src/state/open-store.js';
import { startWalCheckpointer } from '../../../src/state/wal-checkpointer.js';
import { useTempDirs } from './sqlite-temp.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** 300 commits of a 4 KiB row each, as serve commits one connect after the other. */
function writeRound(db: BetterSqlite3.Database): void {
  const insert = db.prepare('INSERT INTO t (x) VALUES (?)');
  const row = Buffer.alloc(4096, 7);
  for (let i = 0; i < 300; i++) insert.run(row);
}

const walBytes = (path: string): number => statSync(`${path}-wal`).size;

describe('WAL checkpoints on a worker thread', () => {
  const tempDir = useTempDirs();

  async function database(): Promise<{ db: BetterSqlite3.Database; path: string }> {
    const path = join(await tempDir(), 'state.db');
    const db = openSqliteDatabase(path);
    db.exec('CREATE TABLE t (x BLOB)');
    return { db, path };
  }

  it('turns the connection’s own checkpoints off while it runs', async () => {
    const { db, path } = await database();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    const checkpointer = startWalCheckpointer(db, path, 20);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    await checkpointer.stop();
    // Stopped on purpose: the connection is about to close, it stays as it was.
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    db.close();
  });

  it('keeps the WAL from growing: the worker checkpoints, so the next commits reuse it from the start', async () => {
    const { db, path } = await database();
    const checkpointer = startWalCheckpointer(db, path, 20);
    writeRound(db);
    const first = walBytes(path);
    await sleep(300);
    writeRound(db);
    expect(walBytes(path)).toBeLessThan(first * 1.5);
    // Everything written is in the database file, read by a connection of its own.
    await sleep(300);
    const reader = new BetterSqlite3(path, { readonly: true });
    expect(reader.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 600 });
    reader.close();
    await checkpointer.stop();
    db.close();
  });

  it('without it the same commits double the WAL (what the test above would see if no checkpoint ran)', async () => {
    const { db, path } = await database();
    db.pragma('wal_autocheckpoint = 0');
    writeRound(db);
    const first = walBytes(path);
    await sleep(300);
    writeRound(db);
    expect(walBytes(path)).toBeGreaterThan(first * 1.8);
    db.close();
  });

  it('gives the connection its own checkpoints back when the worker cannot run', async () => {
    const { db, path } = await database();
    // A path the worker cannot open (fileMustExist): it fails at start, as a worker that dies would.
    const checkpointer = startWalCheckpointer(db, `${path}.missing`, 20);
    for (let i = 0; i < 200 && db.pragma('wal_autocheckpoint', { simple: true }) === 0; i++) await sleep(10);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    await checkpointer.stop();
    db.close();
  });
});
