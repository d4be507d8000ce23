import { afterEach, describe, expect, it } from 'vitest';
import { AgentReadinessProbe } from '../../../src/hkd/agent-readiness-probe.js';
import { Hkd } from '../../../src/hkd/hkd.js';
import { PrepareError, type AuthenticatedUser } from '../../../src/l7r/l7r-backend.js';
import { ServeBackend } from '../../../src/serve/serve-backend.js';
import type { DesiredState } from '../../../src/spec/desired-state.js';
import { desiredFixture } from '../../support/desired-fixture.js';
import { FakeNodeDriver } from '../hkd/fake-node-driver.js';
import { FakeVma } from '../hkd/fake-vma.js';
import { runtimeFixture, silent } from '../hkd/runtime-fixture.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const alice: AuthenticatedUser = { key: 'alice@default', login: 'alice', tenant: 'default' };
const never = new AbortController().signal;
const SECRET = 'e'.repeat(64);

async function serve(withAgent: boolean, sessionStartMs = 5000) {
  const base = desiredFixture({ vms: [{ name: 'desk', node: 'node1' }], images: [{ vma: withAgent }] });
  const desired: DesiredState = {
    ...base,
    settings: { ...base.settings, hkd: { ...base.settings.hkd, startTimeout: 5, stopTimeout: 1, heartbeat: 0.2, nodeLost: 5 } },
    ...(withAgent ? { vmaSecrets: { desk: SECRET } } : {}),
  };
  const fx = await runtimeFixture(desired);
  cleanups.push(() => fx.close());
  const driver = new FakeNodeDriver('node1');
  const vma = new FakeVma(driver);
  vma.secrets.set('desk', SECRET);
  const hkd = new Hkd({ node: 'node1', desired: async () => desired, driver, runtime: fx.runtime, notifier: fx.notifier, logger: silent, probe: new AgentReadinessProbe(vma, { ready: async () => true }), vma, busyPassMs: 20, idlePassMs: 100, probeIntervalMs: 20 });
  await hkd.start();
  cleanups.push(() => hkd.stop(1000));
  const backend = await ServeBackend.create({
    node: 'node1',
    runtime: fx.runtime,
    notifier: fx.notifier,
    settings: async () => desired.settings,
    logger: silent,
    pollMs: 50,
    vma,
    vmaSecret: async (vm) => desired.vmaSecrets?.[vm],
    sessionStartMs,
  });
  cleanups.push(() => backend.close());
  const id = (await fx.runtime.vmByName('desk'))!.runtime.id;
  return { fx, vma, backend, id };
}

describe('prepareVm with the VM\'s agent', () => {
  it('starts the X session with a fresh cookie and the client\'s parameters, and hands the cookie to the L7R', async () => {
    const s = await serve(true);
    const progress: string[] = [];
    const params = { 'qvd.client.geometry': '800x600', 'qvd.client.keyboard': 'pc105/es' };
    const ep = await s.backend.prepareVm(alice, s.id, params, (t) => progress.push(t), never);
    expect(ep.nxCookie).toMatch(/^[0-9a-f]{32}$/);
    const start = s.vma.calls.filter((c) => c === 'desk x_start');
    expect(start).toHaveLength(1);
    expect(s.vma.x.get('desk')).toMatchObject({ state: 'listening', cookie: ep.nxCookie, user: 'alice' });
    expect(progress).toEqual(expect.arrayContaining(['starting the desktop session', 'desktop session: starting']));
    expect((await s.fx.runtime.vm(s.id))?.runtime).toMatchObject({ userState: 'connecting', session: { id: ep.sessionId } });
    await s.backend.sessionEnded(ep.sessionId);

    // Every connect gets its own cookie.
    const again = await s.backend.prepareVm(alice, s.id, params, () => undefined, never);
    expect(again.nxCookie).toMatch(/^[0-9a-f]{32}$/);
    expect(again.nxCookie).not.toBe(ep.nxCookie);
  });

  it('waits past a stale "listening" (an agent still listening for an older cookie)', async () => {
    const s = await serve(true);
    const first = await s.backend.prepareVm(alice, s.id, {}, () => undefined, never);
    await s.backend.sessionEnded(first.sessionId);
    // The fake answers x_start with "starting"; make it answer like a resume wait would: "listening" still.
    const realStart = s.vma.xStart.bind(s.vma);
    s.vma.xStart = async (t, p) => {
      const r = await realStart(t, p);
      s.vma.set('desk', 'listening');
      const stale = { ...r, state: 'listening' as const, since: s.vma.x.get('desk')!.since };
      // A moment later the agent suspends and listens again for the new cookie.
      setTimeout(() => s.vma.set('desk', 'listening'), 300);
      return stale;
    };
    const t0 = Date.now();
    const ep = await s.backend.prepareVm(alice, s.id, {}, () => undefined, never);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(ep.nxCookie).toMatch(/^[0-9a-f]{32}$/);
  });

  it('answers unavailable with the agent\'s reason, and gives the session back', async () => {
    const s = await serve(true);
    s.vma.failSession = 'x_start failed: useradd: cannot lock /etc/passwd';
    const err = await s.backend.prepareVm(alice, s.id, {}, () => undefined, never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PrepareError);
    expect((err as PrepareError).failure).toEqual({ kind: 'unavailable', reason: 'the desktop session could not start: x_start failed: useradd: cannot lock /etc/passwd' });
    expect((await s.fx.runtime.vm(s.id))?.runtime).toMatchObject({ state: 'running', userState: 'disconnected', session: null });
  });

  it('gives up when the agent does not listen within the limit', async () => {
    const s = await serve(true, 300);
    s.vma.listenAfterPolls = 1000;
    const err = (await s.backend.prepareVm(alice, s.id, {}, () => undefined, never).catch((e: unknown) => e)) as PrepareError;
    expect(err.failure).toMatchObject({ kind: 'unavailable', reason: expect.stringMatching(/^the desktop session was not ready within 0s \(X session starting\)$/) });
  });

  it('leaves a VM without agent as it was: no x_start, no cookie', async () => {
    const s = await serve(false);
    const ep = await s.backend.prepareVm(alice, s.id, {}, () => undefined, never);
    expect(ep.nxCookie).toBeUndefined();
    expect(s.vma.calls).toEqual([]);
  });
});
