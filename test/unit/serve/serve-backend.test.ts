import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Hkd } from '../../../src/hkd/hkd.js';
import { PrepareError, type AuthenticatedUser, type VmEndpoint } from '../../../src/l7r/l7r-backend.js';
import { ServeBackend } from '../../../src/serve/serve-backend.js';
import type { DesiredState } from '../../../src/spec/desired-state.js';
import { desiredFixture } from '../../support/desired-fixture.js';
import { FakeNodeDriver } from '../hkd/fake-node-driver.js';
import { runtimeFixture, silent, type RuntimeFixture } from '../hkd/runtime-fixture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const alice: AuthenticatedUser = { key: 'alice@default', login: 'alice', tenant: 'default' };
const bob: AuthenticatedUser = { key: 'bob@default', login: 'bob', tenant: 'default' };

function quick(d: DesiredState, hkd: Partial<DesiredState['settings']['hkd']> = {}, tokenTtl = 86400): DesiredState {
  return {
    ...d,
    settings: { ...d.settings, auth: { ...d.settings.auth, tokenTtl }, hkd: { startTimeout: 5, stopTimeout: 1, idleStop: 3600, heartbeat: 0.2, nodeLost: 5, maxParallelOps: 10, vmaPing: 120, vmaMaxFailures: 10, vmaDeadAfter: 320, ...hkd } },
  };
}

interface Serve {
  fx: RuntimeFixture;
  driver: FakeNodeDriver;
  hkd: Hkd;
  backend: ServeBackend;
  probe: { ready: boolean };
  clock: { offsetMs: number };
}

/** One node's serve in-process: HKD on a fake driver, backend, one runtime store and notifier. */
async function serve(desired: DesiredState, opts: { takeover?: { retryMs: number; giveUpMs: number }; startDelayMs?: number } = {}): Promise<Serve> {
  const fx = await runtimeFixture(desired);
  cleanups.push(() => fx.close());
  const driver = new FakeNodeDriver('node1');
  driver.startDelayMs = opts.startDelayMs ?? 0;
  const probe = { ready: true };
  const clock = { offsetMs: 0 };
  const hkd = new Hkd({ node: 'node1', desired: async () => desired, driver, runtime: fx.runtime, notifier: fx.notifier, logger: silent, probe: { ready: async () => probe.ready }, busyPassMs: 20, idlePassMs: 100, probeIntervalMs: 20 });
  await hkd.start();
  cleanups.push(() => hkd.stop(1000));
  const backend = await ServeBackend.create({
    node: 'node1',
    runtime: fx.runtime,
    notifier: fx.notifier,
    settings: async () => desired.settings,
    logger: silent,
    pollMs: 50,
    now: () => Date.now() + clock.offsetMs,
    ...(opts.takeover === undefined ? {} : { takeover: opts.takeover }),
  });
  cleanups.push(() => backend.close());
  return { fx, driver, hkd, backend, probe, clock };
}

const idOf = async (s: Serve, name: string): Promise<number> => (await s.fx.runtime.vmByName(name))!.runtime.id;
const never = new AbortController().signal;

describe('ServeBackend', () => {
  it('starts a VM exactly once for 20 concurrent prepareVm calls; each caller gets the VM in turn (takeover)', async () => {
    const s = await serve(quick(desiredFixture({ vms: [{ name: 'alice-desk', node: 'node1' }] })), { takeover: { retryMs: 50, giveUpMs: 10_000 }, startDelayMs: 100 });
    const id = await idOf(s, 'alice-desk');
    // A stand-in for the L7R: a session asked to end ends.
    const connect = async (): Promise<VmEndpoint> => {
      const progress: string[] = [];
      const ep = await s.backend.prepareVm(alice, id, {}, (t) => progress.push(t), never);
      s.backend.onTakeover(ep.sessionId, () => void s.backend.sessionEnded(ep.sessionId));
      return ep;
    };
    const endpoints = await Promise.all(Array.from({ length: 20 }, connect));
    expect(new Set(endpoints.map((e) => e.sessionId)).size).toBe(20);
    expect(endpoints.every((e) => e.host === '10.3.15.100' && e.port === 4100 && e.node === 'node1' && /^[A-Za-z0-9]{64}$/.test(e.slaveKey))).toBe(true);
    expect(s.driver.starts('qvd-alice-desk')).toBe(1);
    const events = await s.fx.runtime.events({ vmId: id });
    expect(events.filter((e) => e.to === 'starting' && e.from === 'stopped')).toHaveLength(1);
    expect(events.filter((e) => e.command === 'start' && e.from === 'stopped' && e.to === 'stopped')).toHaveLength(1);
    const r = (await s.fx.runtime.vm(id))!.runtime;
    expect(r.state).toBe('running');
    expect(endpoints.map((e) => e.sessionId)).toContain(r.session?.id);
  });

  it('reports progress and fails with the reason when the start fails', async () => {
    const s = await serve(quick(desiredFixture({ vms: [{ name: 'alice-desk', node: 'node1' }] })));
    s.driver.failStart = new Error('no space left on device');
    const progress: string[] = [];
    const err = await s.backend.prepareVm(alice, await idOf(s, 'alice-desk'), {}, (t) => progress.push(t), never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrepareError);
    expect((err as PrepareError).failure).toEqual({ kind: 'unavailable', reason: 'start failed: no space left on device' });
    expect(progress[0]).toBe('starting VM on node node1');
  });

  it('gives up after start_timeout when the desktop never answers', async () => {
    const s = await serve(quick(desiredFixture({ vms: [{ name: 'alice-desk', node: 'node1' }] }), { startTimeout: 0.6 }));
    s.probe.ready = false;
    const progress: string[] = [];
    const err = (await s.backend.prepareVm(alice, await idOf(s, 'alice-desk'), {}, (t) => progress.push(t), never).catch((e: unknown) => e)) as PrepareError;
    expect(err.failure.kind).toBe('unavailable');
    expect(progress).toContain('waiting for the desktop');
  });

  it('shows a user only their VMs, and refuses others and blocked or kept-stopped ones', async () => {
    const s = await serve(
      quick(desiredFixture({ vms: [{ name: 'a1', node: 'node1' }, { name: 'a2', node: 'node1', blocked: true }, { name: 'a3', node: 'node1', power: 'stopped' }, { name: 'b1', node: 'node1', user: 'bob@default' }] })),
    );
    const list = await s.backend.listVms(alice, false);
    expect(list.map((v) => v.name)).toEqual(['a1', 'a2', 'a3']);
    expect(list.map((v) => v.id)).toEqual([1, 2, 3]);
    expect((await s.backend.listVms(bob, false)).map((v) => [v.id, v.name, v.state])).toEqual([[4, 'b1', 'stopped']]);
    const fail = async (u: AuthenticatedUser, id: number) => ((await s.backend.prepareVm(u, id, {}, () => undefined, never).catch((e: unknown) => e)) as PrepareError).failure;
    expect(await fail(bob, 1)).toEqual({ kind: 'not-found' });
    expect(await fail(alice, 2)).toEqual({ kind: 'blocked' });
    expect((await fail(alice, 3)).kind).toBe('unavailable');
    expect(await s.backend.stopVm(bob, 1)).toBe(false);
  });

  it('keeps ids stable across syncs and never reuses the id of a removed VM', async () => {
    const s = await serve(quick(desiredFixture({ vms: [{ name: 'a1', node: 'node1' }, { name: 'a2', node: 'node1' }] })));
    const db = new BetterSqlite3(s.fx.path);
    try {
      db.prepare("delete from vms where name = 'a2'").run();
      await s.fx.runtime.syncVms();
      db.prepare("insert into vms select 'a3', user_key, image_key, node, node_pinned, '10.3.15.150', mac || 'x', power, persistent, blocked, properties from vms where name = 'a1'").run();
      db.prepare("insert into vms select 'a2', user_key, image_key, node, node_pinned, '10.3.15.151', mac || 'y', power, persistent, blocked, properties from vms where name = 'a1'").run();
      await s.fx.runtime.syncVms();
    } finally {
      db.close();
    }
    const ids = Object.fromEntries((await s.backend.listVms(alice, false)).map((v) => [v.name, v.id]));
    // a2 came back as a new VM: a new id, not its old 2.
    expect(ids).toEqual({ a1: 1, a2: 3, a3: 4 });
  });

  it('asks the previous session to end (takeover), and connecting → connected → disconnected follows the tunnel', async () => {
    const s = await serve(quick(desiredFixture({ vms: [{ name: 'alice-desk', node: 'node1' }] })), { takeover: { retryMs: 100, giveUpMs: 5000 } });
    const id = await idOf(s, 'alice-desk');
    const first = await s.backend.prepareVm(alice, id, {}, () => undefined, never);
    expect((await s.fx.runtime.vm(id))!.runtime.userState).toBe('connecting');
    await s.backend.sessionStarted(first.sessionId);
    expect((await s.fx.runtime.vm(id))!.runtime.userState).toBe('connected');
    let told = 0;
    s.backend.onTakeover(first.sessionId, () => {
      told++;
      void s.backend.sessionEnded(first.sessionId);
    });
    const progress: string[] = [];
    const second = await s.backend.prepareVm(alice, id, {}, (t) => progress.push(t), never);
    expect(told).toBe(1);
    expect(progress).toContain('closing the previous session of this VM');
    const r = (await s.fx.runtime.vm(id))!.runtime;
    expect(r.session?.id).toBe(second.sessionId);
    expect(r.userState).toBe('connecting');
    // The old holder's late end does not clear the new session.
    await s.backend.sessionEnded(first.sessionId);
    expect((await s.fx.runtime.vm(id))!.runtime.session?.id).toBe(second.sessionId);
    await s.backend.sessionEnded(second.sessionId);
    expect((await s.fx.runtime.vm(id))!.runtime).toMatchObject({ session: null, userState: 'disconnected' });
  });

  it('takes a session over without confirmation after the limit, or at once when its L7R process is gone', async () => {
    const s = await serve(quick(desiredFixture({ vms: [{ name: 'alice-desk', node: 'node1' }] })), { takeover: { retryMs: 50, giveUpMs: 300 } });
    const id = await idOf(s, 'alice-desk');
    const first = await s.backend.prepareVm(alice, id, {}, () => undefined, never);
    let told = 0;
    s.backend.onTakeover(first.sessionId, () => told++); // a stuck L7R: told, never ends
    const t0 = Date.now();
    const second = await s.backend.prepareVm(alice, id, {}, () => undefined, never);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(told).toBeGreaterThanOrEqual(2);
    const events = await s.fx.runtime.events({ vmId: id });
    expect(events.at(-1)?.reason).toMatch(/took over from .*did not end within/);
    // A holder whose process died on this host is replaced at once.
    await s.fx.runtime.transitionVm(id, { sessionId: second.sessionId }, { session: { id: 'dead', node: 'node1', pid: 2 ** 22 + 7, host: (await import('node:os')).hostname(), takeoverBy: null } }, 'test: dead holder');
    const t1 = Date.now();
    await s.backend.prepareVm(alice, id, {}, () => undefined, never);
    // At once, not after the 30 s a live holder gets.
    expect(Date.now() - t1).toBeLessThan(5000);
  });

  it('stopVm asks the HKD to stop the VM', async () => {
    const s = await serve(quick(desiredFixture({ vms: [{ name: 'alice-desk', node: 'node1' }] })));
    const id = await idOf(s, 'alice-desk');
    await s.backend.prepareVm(alice, id, {}, () => undefined, never);
    expect(await s.backend.stopVm(alice, id)).toBe(true);
    const end = Date.now() + 5000;
    while ((await s.fx.runtime.vm(id))!.runtime.state !== 'stopped') {
      if (Date.now() > end) throw new Error('never stopped');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(s.driver.calls).toContain('shutdown qvd-alice-desk');
  });

  it('tokens: only a sha256 is stored; they resolve until they expire or are revoked', async () => {
    const s = await serve(quick(desiredFixture({ vms: [] }), {}, 60));
    const { token, expiresAt } = await s.backend.createToken(alice);
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(55_000);
    expect(await s.backend.userForToken(token)).toEqual(alice);
    expect(await s.backend.userForToken(`${token}x`)).toBeUndefined();
    const db = new BetterSqlite3(s.fx.path, { readonly: true });
    const rows = db.prepare('select * from auth_tokens').all() as { token_hash: string }[];
    db.close();
    expect(JSON.stringify(rows)).not.toContain(token);
    expect(rows[0]?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    s.clock.offsetMs = 61_000;
    expect(await s.backend.userForToken(token)).toBeUndefined();
    s.clock.offsetMs = 0;
    const second = await s.backend.createToken(bob);
    expect(await s.backend.userForToken(second.token)).toEqual(bob);
    expect(await s.backend.revokeToken(second.token)).toBe(true);
    expect(await s.backend.userForToken(second.token)).toBeUndefined();
  });

  it('a VM running on another node: the endpoint relays to that node\'s L7R, whose backend attaches only the session claimed', async () => {
    const s = await serve(quick(desiredFixture({ vms: [{ name: 'alice-desk', node: 'node2' }] })));
    const id = await idOf(s, 'alice-desk');
    expect(await s.fx.runtime.transitionVm(id, { state: 'stopped' }, { state: 'running', node: 'node2' }, 'test: running on node2')).toBe(true);
    const other = await ServeBackend.create({ node: 'node2', runtime: s.fx.runtime, notifier: s.fx.notifier, settings: async () => quick(desiredFixture()).settings, logger: silent });
    cleanups.push(() => other.close());

    // No heartbeat from node2 yet: its spec address and the L7R port of the settings.
    const first = await s.backend.prepareVm(alice, id, {}, () => undefined, never);
    expect(first).toMatchObject({ node: 'node2', relay: { host: '127.0.0.1', port: 8443 } });
    expect(first.nxCookie).toBeUndefined();
    await s.backend.sessionEnded(first.sessionId);
    // Its heartbeat publishes where its L7R listens.
    await s.fx.runtime.heartbeat('node2', { state: 'running', reason: 'up', pid: 4242, host: 'h2', l7rAddress: '10.9.8.7:9443', runningVms: 1, freeMemoryMb: 1024, freeVcpus: 4 });
    const ep = await s.backend.prepareVm(alice, id, { 'qvd.client.os': 'linux' }, () => undefined, never);
    expect(ep.relay).toEqual({ host: '10.9.8.7', port: 9443 });

    const relayed = { vmId: id, sessionId: ep.sessionId, userKey: 'alice@default', login: 'alice', clientParams: { 'qvd.client.os': 'linux' } };
    expect(await other.attachRelayed(relayed, () => undefined, never)).toMatchObject({ host: '10.3.15.100', port: 4100, node: 'node2', sessionId: ep.sessionId });
    const refused = async (session: typeof relayed, backend = other) => ((await backend.attachRelayed(session, () => undefined, never).catch((e: unknown) => e)) as PrepareError).failure;
    expect(await refused({ ...relayed, sessionId: 'not-the-session' })).toEqual({ kind: 'unavailable', reason: 'Aborted by contending session' });
    expect(await refused({ ...relayed, userKey: 'bob@default' })).toEqual({ kind: 'not-found' });
    // node1 does not run it: it attaches nothing.
    expect((await refused(relayed, s.backend)).kind).toBe('unavailable');
    // The session is still the relaying node's, and ends there.
    await s.backend.sessionStarted(ep.sessionId);
    expect((await s.fx.runtime.vm(id))!.runtime).toMatchObject({ userState: 'connected', session: { id: ep.sessionId, node: 'node1' } });
    await s.backend.sessionEnded(ep.sessionId);
    expect((await s.fx.runtime.vm(id))!.runtime).toMatchObject({ userState: 'disconnected', session: null });
  });

  it('findUser returns the stored hash and account state', async () => {
    const s = await serve(quick(desiredFixture({ vms: [] })));
    expect(await s.backend.findUser('alice', 'default')).toEqual({ key: 'alice@default', passwordHash: '$qvd-sha256$qvd1234$abc', blocked: false });
    expect(await s.backend.findUser('nobody', 'default')).toBeUndefined();
  });
});
