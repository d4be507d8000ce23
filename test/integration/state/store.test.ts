import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ObservedNode } from '../../../src/drivers/observed-state.js';
import { LockHeldError } from '../../../src/errors.js';
import { openStore, type StoreConfig } from '../../../src/state/open-store.js';
import type { RecordWrite, Store } from '../../../src/state/store.js';
import { byKey, byName, fleetWrites, image, node, user, vm } from '../../unit/state/record-fixtures.js';
import { openInChild, removeChildBuild, spawnLockHolder } from './store-child-process.js';
import { postgresBackend, sqliteBackend } from './store-backends.js';

const observedNode: ObservedNode = {
  node: 'node1',
  facts: { hardwareVirt: false, qemuImg: true, libvirtVersion: '9.0.0', freeDiskBytes: 123456789012, problems: ['ünïcode ✓'] },
  networks: [
    {
      name: 'qvd',
      active: true,
      autostart: true,
      bridge: 'qvdbr0',
      address: '10.0.0.1',
      prefix: 16,
      dhcpRange: { start: '10.0.0.2', end: '10.0.255.254' },
      hosts: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.5', name: 'vm-00001' }],
      forward: false,
    },
  ],
  pools: [{ name: 'qvd', active: true, path: '/var/lib/qvd' }],
  volumes: [{ pool: 'qvd', name: 'a.qcow2', path: '/var/lib/qvd/a.qcow2', format: 'qcow2', capacityBytes: 1 << 30 }],
  domains: [
    {
      name: 'qvd-vm-00001',
      power: 'running',
      managedVm: 'vm-00001',
      config: { type: 'qemu', memoryMiB: 2048, vcpus: 2, disks: [], nics: [{ mac: '52:54:00:00:00:01', network: 'qvd' }] },
    },
  ],
};

/** A pid that certainly existed and certainly has exited: a child we reaped. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await once(child, 'exit');
  if (child.pid === undefined) throw new Error('no pid');
  return child.pid;
}

afterAll(() => removeChildBuild());

describe.each([sqliteBackend(), postgresBackend()])('store on $name', (backend) => {
  let config: StoreConfig;
  let store: Store;
  const others: Store[] = [];

  /** A second, independent store on the same state (another connection/pool). */
  async function another(options: Parameters<typeof openStore>[1] = {}): Promise<Store> {
    const s = await openStore(config, options);
    others.push(s);
    return s;
  }

  beforeAll(() => backend.start(), 120_000);
  afterAll(() => backend.stop());
  beforeEach(async () => {
    config = await backend.fresh();
    store = await openStore(config);
  });
  afterEach(async () => {
    await store.close();
    for (const s of others.splice(0)) await s.close();
  });

  describe('a new state', () => {
    it('is empty at serial 0 with no lock, journal or observations', async () => {
      expect(store.dialect).toBe(backend.name);
      expect(await store.snapshot()).toEqual({ serial: 0, users: [], vms: [], nodes: [], images: [] });
      expect(await store.serial()).toBe(0);
      expect(await store.readLock()).toBeUndefined();
      expect(await store.lastJournal()).toEqual([]);
      expect(await store.loadObserved('node1')).toBeUndefined();
    });

    it('migrates idempotently: again, and on reopening, keeping the data', async () => {
      await store.writeRecords([{ kind: 'user', op: 'upsert', record: user(1) }]);
      await store.migrate();
      await store.migrate();
      await store.close();
      store = await openStore(config);
      await store.migrate();
      const snap = await store.snapshot();
      expect(snap.serial).toBe(1);
      expect(snap.users).toEqual([user(1)]);
    });

    it('survives two processes migrating it at once', async () => {
      // `store` already migrated this state; use a brand new one.
      const fresh = await backend.fresh();
      expect(await Promise.all([openInChild(fresh), openInChild(fresh), openInChild(fresh)])).toEqual([0, 0, 0]);
      const reopened = await openStore(fresh);
      others.push(reopened);
      expect(await reopened.bumpSerial()).toBe(1);
    });
  });

  describe('records', () => {
    it('round-trips every kind of record through snapshot', async () => {
      const writes: RecordWrite[] = [
        ...[0, 1, 2, 3].map((i): RecordWrite => ({ kind: 'node', op: 'upsert', record: node(i) })),
        ...[0, 1, 2].map((i): RecordWrite => ({ kind: 'image', op: 'upsert', record: image(i) })),
        ...[0, 1, 2, 11].map((i): RecordWrite => ({ kind: 'user', op: 'upsert', record: user(i) })),
        ...[0, 1, 2, 3, 5, 17].map((i): RecordWrite => ({ kind: 'vm', op: 'upsert', record: vm(i) })),
      ];
      expect(await store.writeRecords(writes)).toBe(1);
      const snap = await store.snapshot();
      expect(snap.serial).toBe(1);
      expect([...snap.nodes].sort(byName)).toEqual([0, 1, 2, 3].map((i) => node(i)));
      expect([...snap.images].sort(byKey)).toEqual([0, 1, 2].map((i) => image(i)));
      expect([...snap.users].sort(byKey)).toEqual([0, 1, 11, 2].map((i) => user(i)).sort(byKey));
      expect([...snap.vms].sort(byName)).toEqual([0, 1, 2, 3, 5, 17].map((i) => vm(i)));
    });

    it('updates, deletes, and bumps the serial once per call', async () => {
      await store.writeRecords([
        { kind: 'user', op: 'upsert', record: user(1) },
        { kind: 'user', op: 'upsert', record: user(2) },
        { kind: 'vm', op: 'upsert', record: vm(1) },
        { kind: 'vm', op: 'upsert', record: vm(2) },
        { kind: 'node', op: 'upsert', record: node(1) },
        { kind: 'image', op: 'upsert', record: image(1) },
      ]);
      const serial = await store.writeRecords([
        { kind: 'user', op: 'upsert', record: user(1, { blocked: true, properties: { a: 'b' } }) },
        { kind: 'user', op: 'delete', key: user(2).key },
        { kind: 'vm', op: 'upsert', record: vm(1, { node: 'node9', power: 'stopped', ip: '10.9.9.9' }) },
        { kind: 'vm', op: 'delete', key: vm(2).name },
        { kind: 'node', op: 'upsert', record: node(1, { blocked: true, maxVms: 1 }) },
        { kind: 'image', op: 'delete', key: image(1).key },
        { kind: 'node', op: 'delete', key: 'never-existed' },
      ]);
      expect(serial).toBe(2);
      const snap = await store.snapshot();
      expect(snap).toEqual({
        serial: 2,
        users: [user(1, { blocked: true, properties: { a: 'b' } })],
        vms: [vm(1, { node: 'node9', power: 'stopped', ip: '10.9.9.9' })],
        nodes: [node(1, { blocked: true, maxVms: 1 })],
        images: [],
      });
    });

    it('keeps the settings record: written, replaced, removed, each bumping the serial', async () => {
      const settings = { 'hkd.idleStop': 3600, 'l7r.tls.generate': true, 'network.cidr': '10.3.15.0/24' };
      expect(await store.writeRecords([{ kind: 'settings', op: 'upsert', record: settings }])).toBe(1);
      expect((await store.snapshot()).settings).toEqual(settings);
      // Reopened: it is in the database, not in the process.
      await store.close();
      store = await openStore(config);
      expect((await store.snapshot()).settings).toEqual(settings);
      expect(await store.writeRecords([{ kind: 'settings', op: 'upsert', record: { ...settings, 'hkd.idleStop': 60 } }, { kind: 'user', op: 'upsert', record: user(1) }])).toBe(2);
      expect((await store.snapshot()).settings).toEqual({ ...settings, 'hkd.idleStop': 60 });
      expect(await store.writeRecords([{ kind: 'settings', op: 'delete', key: 'cluster' }])).toBe(3);
      expect(await store.snapshot()).toEqual({ serial: 3, users: [user(1)], vms: [], nodes: [], images: [] });
    });

    it('applies writes to one key in order: the last one wins', async () => {
      await store.writeRecords([
        { kind: 'vm', op: 'upsert', record: vm(1) },
        { kind: 'vm', op: 'delete', key: vm(1).name },
        { kind: 'vm', op: 'upsert', record: vm(2) },
        { kind: 'vm', op: 'upsert', record: vm(2, { power: 'stopped' }) },
        { kind: 'vm', op: 'delete', key: vm(3).name },
        { kind: 'vm', op: 'upsert', record: vm(3) },
      ]);
      expect((await store.snapshot()).vms).toEqual([vm(2, { power: 'stopped' }), vm(3)]);
    });

    it('writes nothing when one write fails', async () => {
      await store.writeRecords([{ kind: 'user', op: 'upsert', record: user(1) }]);
      const broken = { ...user(2), login: null } as unknown as ReturnType<typeof user>;
      await expect(
        store.writeRecords([
          { kind: 'user', op: 'delete', key: user(1).key },
          { kind: 'vm', op: 'upsert', record: vm(1) },
          { kind: 'user', op: 'upsert', record: broken },
        ]),
      ).rejects.toThrow();
      expect(await store.snapshot()).toEqual({ serial: 1, users: [user(1)], vms: [], nodes: [], images: [] });
    });

    it('bumps the serial alone, and never hands out the same serial twice', async () => {
      expect(await store.bumpSerial()).toBe(1);
      expect(await store.serial()).toBe(1);
      const other = await another();
      const serials = await Promise.all([
        ...Array.from({ length: 10 }, () => store.bumpSerial()),
        ...Array.from({ length: 10 }, () => other.bumpSerial()),
        store.writeRecords([]),
      ]);
      expect([...serials].sort((a, b) => a - b)).toEqual(Array.from({ length: 21 }, (_, i) => i + 2));
      expect(await other.serial()).toBe(22);
    });

    it('handles 10,000 VMs and 5,000 users (timings printed)', async () => {
      const writes = fleetWrites();
      let t = performance.now();
      await store.writeRecords(writes);
      const writeMs = performance.now() - t;
      // Rewriting the same fleet is the common apply: every row conflicts.
      t = performance.now();
      await store.writeRecords(writes);
      const rewriteMs = performance.now() - t;
      await store.snapshot();
      const reads: number[] = [];
      let snap = await store.snapshot();
      for (let i = 0; i < 5; i++) {
        t = performance.now();
        snap = await store.snapshot();
        reads.push(performance.now() - t);
      }
      console.log(
        `[${backend.name}] writeRecords 15,007 new ${writeMs.toFixed(0)} ms, rewrite ${rewriteMs.toFixed(0)} ms; ` +
          `snapshot ${reads.map((ms) => ms.toFixed(1)).join(' / ')} ms`,
      );
      expect(snap.vms).toHaveLength(10_000);
      expect(snap.users).toHaveLength(5000);
      expect([...snap.vms].sort(byName)[1234]).toEqual(vm(1234));
    });
  });

  describe('apply lock', () => {
    it('is taken, visible, and released by id', async () => {
      const before = Date.now();
      const held = await store.acquireLock('apply', 0);
      expect(held).toMatchObject({ operation: 'apply', pid: process.pid, host: hostname() });
      expect(held.takenOverFrom).toBeUndefined();
      expect(Date.parse(held.since)).toBeGreaterThanOrEqual(before - 1000);
      expect(await store.readLock()).toEqual(held);
      await store.releaseLock('someone-else');
      expect(await store.readLock()).toEqual(held);
      await store.releaseLock(held.id);
      expect(await store.readLock()).toBeUndefined();
      await store.releaseLock(held.id);
      const again = await store.acquireLock('destroy', 0);
      expect(again.id).not.toBe(held.id);
    });

    it('refuses a second holder with a message naming the first', async () => {
      const held = await store.acquireLock('apply', 0);
      const other = await another();
      const error = await other.acquireLock('plan', 0).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockHeldError);
      const { message, hint } = error as LockHeldError;
      expect(message).toContain(store.location);
      expect(message).toContain('apply');
      expect(message).toContain(`pid ${process.pid}`);
      expect(message).toContain(hostname());
      expect(message).toContain(held.since);
      expect(hint).toContain('qvd state unlock');
      expect(message).not.toMatch(/waited/);
    });

    it('waits until the timeout, then says how long it waited', async () => {
      await store.acquireLock('apply', 0);
      const t = Date.now();
      const error = await store.acquireLock('apply', 600).catch((e: unknown) => e);
      expect(Date.now() - t).toBeGreaterThanOrEqual(590);
      expect(Date.now() - t).toBeLessThan(5000);
      expect(error).toBeInstanceOf(LockHeldError);
      expect((error as Error).message).toMatch(/waited 0\.[5-9] s|waited 1\.\d s/);
    });

    it('is handed to a waiter once released', async () => {
      const held = await store.acquireLock('apply', 0);
      const waiter = store.acquireLock('second', 10_000);
      setTimeout(() => void store.releaseLock(held.id), 300);
      const t = Date.now();
      const next = await waiter;
      expect(next.operation).toBe('second');
      expect(Date.now() - t).toBeGreaterThanOrEqual(250);
    });

    it('gives one winner among concurrent takers', async () => {
      const stores = [store, await another(), await another()];
      const results = await Promise.allSettled(stores.map((s, i) => s.acquireLock(`op${i}`, 0)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(LockHeldError);
    });

    it('is removed by forceUnlock, which says who held it', async () => {
      expect(await store.forceUnlock()).toBeUndefined();
      const held = await store.acquireLock('apply', 0);
      const other = await another();
      expect(await other.forceUnlock()).toEqual(held);
      expect(await store.readLock()).toBeUndefined();
      expect((await other.acquireLock('apply', 0)).operation).toBe('apply');
      // The original holder's release must not remove the new lock.
      await store.releaseLock(held.id);
      expect((await store.readLock())?.operation).toBe('apply');
    });

    it('is taken over from a dead process on this host, not on another host', async () => {
      const pid = await deadPid();
      const ghost = await another({ lock: { pid } });
      const stale = await ghost.acquireLock('apply', 0);
      const taken = await store.acquireLock('apply', 0);
      expect(taken.pid).toBe(process.pid);
      expect(taken.takenOverFrom).toEqual(stale);

      await store.releaseLock(taken.id);
      const remote = await another({ lock: { pid, host: 'elsewhere.example' } });
      await remote.acquireLock('apply', 0);
      const error = await store.acquireLock('apply', 300).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockHeldError);
      expect((error as Error).message).toContain('elsewhere.example');
    });

    describe('across processes', () => {
      it('blocks while another process holds it, and passes to us when it releases', async () => {
        const child = await spawnLockHolder(config, 'child-apply');
        try {
          expect(child.holder.pid).toBe(child.pid);
          expect(await store.readLock()).toEqual(child.holder);
          const error = await store.acquireLock('apply', 400).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(LockHeldError);
          expect((error as Error).message).toContain(`child-apply (pid ${child.pid} on host ${hostname()})`);

          const waiter = store.acquireLock('apply', 20_000);
          await new Promise((r) => setTimeout(r, 300));
          await child.release();
          const mine = await waiter;
          expect(mine.pid).toBe(process.pid);
          expect(mine.takenOverFrom).toBeUndefined();
        } finally {
          await child.kill();
        }
      });

      it('is refused to another process while we hold it', async () => {
        await store.acquireLock('apply', 0);
        await expect(spawnLockHolder(config)).rejects.toThrow(/LockHeldError|is locked by apply/);
      });

      it('is taken over after the holder was SIGKILLed', async () => {
        const child = await spawnLockHolder(config, 'child-apply');
        await child.kill();
        expect((await store.readLock())?.pid).toBe(child.pid);
        const mine = await store.acquireLock('apply', 0);
        expect(mine.takenOverFrom).toEqual(child.holder);
        const { takenOverFrom: _, ...row } = mine;
        expect(await store.readLock()).toEqual(row);
      });
    });
  });

  describe('observations', () => {
    it('saves, overwrites and loads the last observation of a node', async () => {
      const before = new Date().toISOString();
      await store.saveObserved(observedNode);
      const loaded = await store.loadObserved('node1');
      expect(loaded?.observed).toEqual(observedNode);
      expect(loaded !== undefined && loaded.at >= before).toBe(true);

      const changed: ObservedNode = { ...observedNode, domains: [] };
      await store.saveObserved(changed);
      await store.saveObserved({ ...observedNode, node: 'node2' });
      expect((await store.loadObserved('node1'))?.observed).toEqual(changed);
      expect((await store.loadObserved('node2'))?.observed.node).toBe('node2');
      expect(await store.loadObserved('node3')).toBeUndefined();
    });
  });

  describe('journal', () => {
    it('updates a step in place and returns the steps of the last apply in order', async () => {
      expect(await store.lastJournal()).toEqual([]);
      await store.journal({ applyId: 'a1', seq: 1, node: 'node1', step: 'create domain x', status: 'started' });
      await store.journal({ applyId: 'a1', seq: 1, node: 'node1', step: 'create domain x', status: 'done' });
      await store.journal({ applyId: 'a1', seq: 2, node: null, step: 'write records', status: 'started' });
      expect(await store.lastJournal()).toEqual([
        { applyId: 'a1', seq: 1, node: 'node1', step: 'create domain x', status: 'done' },
        { applyId: 'a1', seq: 2, node: null, step: 'write records', status: 'started' },
      ]);

      // A later apply whose id sorts first still is the last one.
      await store.journal({ applyId: '0-later', seq: 2, node: 'node2', step: 'upload image', status: 'started' });
      await store.journal({ applyId: '0-later', seq: 1, node: 'node1', step: 'define network', status: 'started' });
      await store.journal({
        applyId: '0-later',
        seq: 2,
        node: 'node2',
        step: 'upload image',
        status: 'failed',
        error: 'sha256 mismatch',
      });
      expect(await store.lastJournal()).toEqual([
        { applyId: '0-later', seq: 1, node: 'node1', step: 'define network', status: 'started' },
        { applyId: '0-later', seq: 2, node: 'node2', step: 'upload image', status: 'failed', error: 'sha256 mismatch' },
      ]);

      // Finishing a step of the earlier apply does not make it the last again.
      await store.journal({ applyId: 'a1', seq: 2, node: null, step: 'write records', status: 'done' });
      expect((await store.lastJournal())[0]?.applyId).toBe('0-later');
    });
  });

  it('shows where it lives without any password', () => {
    if (config.kind === 'sqlite') {
      expect(store.location).toBe(resolve(config.path));
    } else {
      expect(store.location).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/qvd_test_\d+$/);
    }
  });
});
