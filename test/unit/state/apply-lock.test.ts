import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LockHeldError } from '../../../src/errors.js';
import { openStore } from '../../../src/state/open-store.js';
import type { Store } from '../../../src/state/store.js';
import { useTempDirs } from './sqlite-temp.js';

const tempDir = useTempDirs();

/** Stores on one SQLite file, each pretending to be a given process. */
async function stores(
  ...who: { pid: number; host?: string; dead?: readonly number[]; pollIntervalMs?: number }[]
): Promise<Store[]> {
  const path = join(await tempDir(), 'qvd.db');
  const opened: Store[] = [];
  for (const w of who) {
    const dead = new Set(w.dead ?? []);
    opened.push(
      await openStore(
        { kind: 'sqlite', path },
        {
          lock: {
            pid: w.pid,
            host: w.host ?? 'here',
            isProcessAlive: (pid) => !dead.has(pid),
            ...(w.pollIntervalMs === undefined ? {} : { pollIntervalMs: w.pollIntervalMs }),
          },
        },
      ),
    );
  }
  return opened;
}

async function closeAll(list: readonly Store[]): Promise<void> {
  for (const s of list) await s.close();
}

describe('apply lock (SQLite, injected process table)', () => {
  it('takes over from a holder on this host whose process is gone', async () => {
    const all = await stores({ pid: 100 }, { pid: 200, dead: [100] });
    const [a, b] = all as [Store, Store];
    try {
      const stale = await a.acquireLock('apply', 0);
      const t = Date.now();
      const mine = await b.acquireLock('apply', 5000);
      // Taken over, not waited for: well under the 5 s it would otherwise wait.
      expect(Date.now() - t).toBeLessThan(4000);
      expect(mine).toMatchObject({ pid: 200, host: 'here', takenOverFrom: stale });
      // The old holder's late release does not free the new lock.
      await a.releaseLock(stale.id);
      expect((await b.readLock())?.pid).toBe(200);
    } finally {
      await closeAll(all);
    }
  });

  it('does not take over from a holder on another host, even with a "dead" pid', async () => {
    const all = await stores({ pid: 100, host: 'elsewhere' }, { pid: 200, dead: [100], pollIntervalMs: 20 });
    const [a, b] = all as [Store, Store];
    try {
      await a.acquireLock('apply', 0);
      const error = await b.acquireLock('plan', 100).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockHeldError);
      expect((error as Error).message).toMatch(/locked by apply \(pid 100 on host elsewhere\) since \S+ \(waited 0\.\d s\)/);
    } finally {
      await closeAll(all);
    }
  });

  it('lets exactly one of several waiters take over the same stale lock', async () => {
    const all = await stores(
      { pid: 100 },
      { pid: 201, dead: [100] },
      { pid: 202, dead: [100] },
      { pid: 203, dead: [100] },
    );
    try {
      await all[0]?.acquireLock('apply', 0);
      const results = await Promise.allSettled(all.slice(1).map((s) => s.acquireLock('apply', 0)));
      const winners = results.filter((r) => r.status === 'fulfilled');
      expect(winners).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason)).toEqual([
        expect.any(LockHeldError),
        expect.any(LockHeldError),
      ]);
    } finally {
      await closeAll(all);
    }
  });

  it('polls at the configured interval while waiting', async () => {
    const all = await stores({ pid: 100 }, { pid: 200, pollIntervalMs: 25 });
    const [a, b] = all as [Store, Store];
    try {
      const held = await a.acquireLock('apply', 0);
      const waiting = b.acquireLock('apply', 5000);
      setTimeout(() => void a.releaseLock(held.id), 100);
      const t = Date.now();
      await waiting;
      expect(Date.now() - t).toBeGreaterThanOrEqual(90);
    } finally {
      await closeAll(all);
    }
  });

  it('fails at once with timeout 0 (or a NaN from a bad flag)', async () => {
    const all = await stores({ pid: 100 }, { pid: 200 });
    const [a, b] = all as [Store, Store];
    try {
      await a.acquireLock('apply', 0);
      const t = Date.now();
      await expect(b.acquireLock('apply', 0)).rejects.toBeInstanceOf(LockHeldError);
      await expect(b.acquireLock('apply', Number.NaN)).rejects.toBeInstanceOf(LockHeldError);
      expect(Date.now() - t).toBeLessThan(2000);
    } finally {
      await closeAll(all);
    }
  });
});
