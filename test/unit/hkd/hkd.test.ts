import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { Hkd } from '../../../src/hkd/hkd.js';
import { AgentReadinessProbe } from '../../../src/hkd/agent-readiness-probe.js';
import type { ReadinessProbe } from '../../../src/hkd/readiness-probe.js';
import type { DesiredState } from '../../../src/spec/desired-state.js';
import type { RuntimeStore } from '../../../src/state/runtime-store.js';
import { desiredFixture } from '../../support/desired-fixture.js';
import { FakeNodeDriver } from './fake-node-driver.js';
import { FakeVma } from './fake-vma.js';
import { runtimeFixture, silent, type RuntimeFixture } from './runtime-fixture.js';

const fixtures: RuntimeFixture[] = [];
const hkds: Hkd[] = [];
afterEach(async () => {
  for (const h of hkds.splice(0)) await h.stop(1000);
  for (const f of fixtures.splice(0)) await f.close();
});

function quick(d: DesiredState, hkd: Partial<DesiredState['settings']['hkd']> = {}): DesiredState {
  return { ...d, settings: { ...d.settings, hkd: { startTimeout: 5, stopTimeout: 1, idleStop: 3600, heartbeat: 0.2, nodeLost: 1, maxParallelOps: 10, vmaPing: 120, vmaMaxFailures: 10, vmaDeadAfter: 320, ...hkd } } };
}


function probe(state: { ready: boolean }): ReadinessProbe {
  return { ready: async () => state.ready };
}

async function setup(desired: DesiredState, node = 'node1', extra: { probeReady?: { ready: boolean } } = {}) {
  const fx = await runtimeFixture(desired);
  fixtures.push(fx);
  const driver = new FakeNodeDriver(node);
  const ready = extra.probeReady ?? { ready: true };
  const hkd = new Hkd({ node, desired: async () => desired, driver, runtime: fx.runtime, notifier: fx.notifier, logger: silent, probe: probe(ready), busyPassMs: 20, idlePassMs: 50, probeIntervalMs: 20 });
  hkds.push(hkd);
  return { fx, driver, hkd, runtime: fx.runtime };
}

async function until(hkd: Hkd, check: () => Promise<boolean>, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    await hkd.pass();
    if (await check()) return;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(20);
  }
}

async function requestStart(runtime: RuntimeStore, name: string, node = 'node1'): Promise<number> {
  const v = await runtime.vmByName(name);
  if (v === undefined) throw new Error(`no VM ${name}`);
  expect(await runtime.transitionVm(v.runtime.id, { state: 'stopped', command: null, node: null }, { command: 'start', node }, 'test start')).toBe(true);
  return v.runtime.id;
}

const stateOf = async (runtime: RuntimeStore, name: string) => (await runtime.vmByName(name))?.runtime;

describe('HKD', () => {
  it('starts a requested VM: objects as apply makes them, fresh overlay, running once ready, every step logged', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'alice-desk', node: 'node1' }] }));
    const { hkd, driver, runtime } = await setup(desired);
    const id = await requestStart(runtime, 'alice-desk');
    await until(hkd, async () => (await stateOf(runtime, 'alice-desk'))?.state === 'running');
    expect(driver.calls).toEqual(
      expect.arrayContaining(['network qvd', 'pool qvd', 'upload img-desktop--default.qcow2', 'create-volume vm-alice-desk-root.qcow2', 'create-volume vm-alice-desk-home.qcow2', 'define qvd-alice-desk', 'start qvd-alice-desk']),
    );
    expect(driver.starts('qvd-alice-desk')).toBe(1);
    const r = await stateOf(runtime, 'alice-desk');
    expect(r).toMatchObject({ state: 'running', node: 'node1', command: null });
    expect(r?.readyAt).not.toBeNull();
    const events = await runtime.events({ vmId: id });
    expect(events.map((e) => `${e.from}>${e.to}`)).toEqual(['stopped>stopped', 'stopped>starting', 'starting>starting', 'starting>running']);
    expect(events.every((e) => e.reason.length > 0 && e.actor === 'test')).toBe(true);

    // Stop, then start again: the non-persistent root overlay is made anew, the home disk kept.
    await runtime.transitionVm(id, { state: 'running' }, { command: 'stop' }, 'test stop');
    await until(hkd, async () => (await stateOf(runtime, 'alice-desk'))?.state === 'stopped');
    driver.calls.length = 0;
    await requestStart(runtime, 'alice-desk');
    await until(hkd, async () => (await stateOf(runtime, 'alice-desk'))?.state === 'running');
    expect(driver.calls).toContain('delete-volume vm-alice-desk-root.qcow2');
    expect(driver.calls).toContain('create-volume vm-alice-desk-root.qcow2');
    expect(driver.calls).not.toContain('create-volume vm-alice-desk-home.qcow2');
  });

  it('keeps the root disk of a persistent VM', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'p', node: 'node1', persistent: true }] }));
    const { hkd, driver, runtime } = await setup(desired);
    const id = await requestStart(runtime, 'p');
    await until(hkd, async () => (await stateOf(runtime, 'p'))?.state === 'running');
    await runtime.transitionVm(id, { state: 'running' }, { command: 'stop' }, 'test stop');
    await until(hkd, async () => (await stateOf(runtime, 'p'))?.state === 'stopped');
    driver.calls.length = 0;
    await requestStart(runtime, 'p');
    await until(hkd, async () => (await stateOf(runtime, 'p'))?.state === 'running');
    expect(driver.calls.filter((c) => c.includes('volume'))).toEqual([]);
  });

  it('fails a start that does not become ready within start_timeout, with the reason', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'slow', node: 'node1' }] }), { startTimeout: 0.5 });
    const { hkd, driver, runtime } = await setup(desired, 'node1', { probeReady: { ready: false } });
    await requestStart(runtime, 'slow');
    await until(hkd, async () => (await stateOf(runtime, 'slow'))?.startFailures === 1);
    const r = await stateOf(runtime, 'slow');
    expect(r).toMatchObject({ state: 'stopped', node: null, command: null });
    expect(r?.stateReason).toMatch(/start_timeout/);
    expect(driver.calls).toContain('destroy qvd-slow');
  });

  it('records a failing start with the driver error', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'bad', node: 'node1' }] }));
    const { hkd, driver, runtime } = await setup(desired);
    driver.failStart = new Error('qemu: could not open disk');
    await requestStart(runtime, 'bad');
    await until(hkd, async () => (await stateOf(runtime, 'bad'))?.startFailures === 1);
    expect((await stateOf(runtime, 'bad'))?.stateReason).toBe('start failed: qemu: could not open disk');
  });

  it('stops an idle VM after idle_stop, ACPI first', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'idle', node: 'node1' }] }), { idleStop: 0.3 });
    const { hkd, driver, runtime } = await setup(desired);
    await requestStart(runtime, 'idle');
    await until(hkd, async () => (await stateOf(runtime, 'idle'))?.state === 'running');
    await until(hkd, async () => (await stateOf(runtime, 'idle'))?.state === 'stopped', 5000);
    expect(driver.calls).toContain('shutdown qvd-idle');
    expect(driver.calls).not.toContain('destroy qvd-idle');
    const events = await runtime.events({ vmId: (await runtime.vmByName('idle'))!.runtime.id });
    expect(events.some((e) => e.to === 'stopping' && /idle/.test(e.reason))).toBe(true);
  });

  it('does not idle-stop a connected VM or a power: running one', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'busy', node: 'node1' }, { name: 'kept', node: 'node1', power: 'running' }] }), { idleStop: 0.2 });
    const { hkd, runtime } = await setup(desired);
    const id = await requestStart(runtime, 'busy');
    await until(hkd, async () => (await stateOf(runtime, 'busy'))?.state === 'running' && (await stateOf(runtime, 'kept'))?.state === 'running');
    await runtime.transitionVm(id, { sessionId: null }, { session: { id: 's1', node: 'node1', pid: process.pid, host: 'elsewhere', takeoverBy: null }, userState: 'connected' }, 'test session');
    await sleep(400);
    await hkd.pass();
    await hkd.pass();
    expect((await stateOf(runtime, 'busy'))?.state).toBe('running');
    expect((await stateOf(runtime, 'kept'))?.state).toBe('running');
  });

  it('escalates to destroy when the ACPI shutdown is ignored for stop_timeout', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'stubborn', node: 'node1' }] }), { stopTimeout: 0.3 });
    const { hkd, driver, runtime } = await setup(desired);
    driver.acpiWorks = false;
    const id = await requestStart(runtime, 'stubborn');
    await until(hkd, async () => (await stateOf(runtime, 'stubborn'))?.state === 'running');
    await runtime.transitionVm(id, { state: 'running' }, { command: 'stop' }, 'test stop');
    await until(hkd, async () => (await stateOf(runtime, 'stubborn'))?.state === 'stopped', 5000);
    expect(driver.calls.filter((c) => c.endsWith('qvd-stubborn') && /shutdown|destroy/.test(c))).toEqual(['shutdown qvd-stubborn', 'destroy qvd-stubborn']);
  });

  it('cleans up a zombie: the store says running, libvirt has no running domain', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'z', node: 'node1' }] }));
    const { hkd, driver, runtime } = await setup(desired);
    const id = await requestStart(runtime, 'z');
    await until(hkd, async () => (await stateOf(runtime, 'z'))?.state === 'running');
    driver.domains.get('qvd-z')!.power = 'stopped'; // the guest died behind our back
    await until(hkd, async () => (await stateOf(runtime, 'z'))?.state === 'stopped');
    const last = (await runtime.events({ vmId: id })).at(-1);
    expect(last).toMatchObject({ from: 'running', to: 'stopped' });
    expect(last?.reason).toMatch(/zombie/);
  });

  it('adopts a domain running here that nobody asked for, and destroys one the store places on another node', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'a', node: 'node1' }, { name: 'b', node: 'node1', nodePinned: false }] }));
    const { hkd, driver, runtime } = await setup(desired);
    driver.runForeign('qvd-a', 'a');
    driver.runForeign('qvd-b', 'b');
    const b = (await runtime.vmByName('b'))!.runtime.id;
    // b was started on node2 (failover) while this node was away.
    await runtime.transitionVm(b, { state: 'stopped' }, { state: 'running', node: 'node2' }, 'failover test');
    await until(hkd, async () => (await stateOf(runtime, 'a'))?.state === 'running' && driver.calls.includes('destroy qvd-b'));
    expect(await stateOf(runtime, 'a')).toMatchObject({ state: 'running', node: 'node1' });
    expect((await stateOf(runtime, 'a'))?.stateReason).toMatch(/adopted/);
    expect(await stateOf(runtime, 'b')).toMatchObject({ state: 'running', node: 'node2' });
  });

  it('runs at most max_parallel_ops starts at once', async () => {
    const desired = quick(desiredFixture({ vms: [1, 2, 3, 4].map((i) => ({ name: `v${i}`, node: 'node1' })) }), { maxParallelOps: 2 });
    const { hkd, driver, runtime } = await setup(desired);
    driver.startDelayMs = 100;
    for (const i of [1, 2, 3, 4]) await requestStart(runtime, `v${i}`);
    await until(hkd, async () => (await Promise.all([1, 2, 3, 4].map((i) => stateOf(runtime, `v${i}`)))).every((r) => r?.state === 'running'));
    expect(driver.maxConcurrent).toBe(2);
  });

  it('marks a node lost when its heartbeat is older than node_lost, and frees its VMs', async () => {
    const desired = quick(desiredFixture({ vms: [{ name: 'on2', node: 'node2', nodePinned: false }] }), { nodeLost: 0.5, heartbeat: 0.1 });
    const { fx, hkd, runtime } = await setup(desired);
    const old = await fx.other('node2-serve');
    await old.heartbeat('node2', { state: 'running', reason: 'serving', pid: 1, host: 'h2', l7rAddress: null, runningVms: 1, freeMemoryMb: 1000, freeVcpus: 1 });
    const id = (await runtime.vmByName('on2'))!.runtime.id;
    await runtime.transitionVm(id, { state: 'stopped' }, { state: 'running', node: 'node2' }, 'running on node2');
    await hkd.start();
    const end = Date.now() + 5000;
    while ((await runtime.nodes()).find((n) => n.record.name === 'node2')?.runtime?.state !== 'lost') {
      if (Date.now() > end) throw new Error('node2 never marked lost');
      await sleep(50);
    }
    expect(await stateOf(runtime, 'on2')).toMatchObject({ state: 'stopped', node: null, userState: 'disconnected' });
    const last = (await runtime.events({ vmId: id })).at(-1);
    expect(last?.reason).toMatch(/^node node2 lost/);
    // This node's own heartbeat keeps it running.
    expect((await runtime.nodes()).find((n) => n.record.name === 'node1')?.runtime?.state).toBe('running');
  });
});

describe('HKD with the VMs\' agents', () => {
  const SECRET = 'f'.repeat(64);
  async function withAgent(hkdTimers: Partial<DesiredState['settings']['hkd']> = {}) {
    const base = quick(desiredFixture({ vms: [{ name: 'desk', node: 'node1' }], images: [{ vma: true }] }), hkdTimers);
    const desired: DesiredState = { ...base, vmaSecrets: { desk: SECRET } };
    const fx = await runtimeFixture(desired);
    fixtures.push(fx);
    const driver = new FakeNodeDriver('node1');
    const vma = new FakeVma(driver);
    vma.secrets.set('desk', SECRET);
    const hkd = new Hkd({ node: 'node1', desired: async () => desired, driver, runtime: fx.runtime, notifier: fx.notifier, logger: silent, probe: new AgentReadinessProbe(vma), vma, sessionCheckMs: 10, busyPassMs: 20, idlePassMs: 50, probeIntervalMs: 20 });
    hkds.push(hkd);
    return { fx, driver, hkd, runtime: fx.runtime, vma };
  }

  it('is ready when the agent answers, and stops through the agent\'s poweroff first', async () => {
    const { hkd, driver, runtime, vma } = await withAgent();
    vma.alive = false;
    const id = await requestStart(runtime, 'desk');
    await until(hkd, async () => driver.domains.get('qvd-desk')?.power === 'running');
    for (let i = 0; i < 5; i++) await hkd.pass();
    expect((await stateOf(runtime, 'desk'))?.state).toBe('starting');
    vma.alive = true;
    await until(hkd, async () => (await stateOf(runtime, 'desk'))?.state === 'running');
    expect((await stateOf(runtime, 'desk'))?.stateReason).toMatch(/VMA .* answers/);
    await runtime.transitionVm(id, { state: 'running' }, { command: 'stop' }, 'test stop');
    await until(hkd, async () => (await stateOf(runtime, 'desk'))?.state === 'stopped');
    expect(vma.calls).toContain('desk poweroff');
    expect(driver.calls).not.toContain('shutdown qvd-desk');
    expect((await stateOf(runtime, 'desk'))?.stateReason).toBe('stopped (VMA poweroff)');
  });

  it('goes on to ACPI at once when the agent cannot be asked to power off', async () => {
    const { hkd, driver, runtime, vma } = await withAgent({ stopTimeout: 30 });
    const id = await requestStart(runtime, 'desk');
    await until(hkd, async () => (await stateOf(runtime, 'desk'))?.state === 'running');
    vma.alive = false;
    await runtime.transitionVm(id, { state: 'running' }, { command: 'stop' }, 'test stop');
    await until(hkd, async () => (await stateOf(runtime, 'desk'))?.state === 'stopped', 4000);
    expect(driver.calls).toContain('shutdown qvd-desk');
    expect((await stateOf(runtime, 'desk'))?.stateReason).toBe('stopped (ACPI shutdown)');
  });

  it('counts failed health pings and stops a VM whose agent stays dead (vma_max_failures, vma_dead_after)', async () => {
    const { hkd, runtime, vma } = await withAgent({ vmaPing: 0.02, vmaMaxFailures: 3, vmaDeadAfter: 0.1 });
    await requestStart(runtime, 'desk');
    await until(hkd, async () => (await stateOf(runtime, 'desk'))?.state === 'running');
    await until(hkd, async () => ((await stateOf(runtime, 'desk'))?.vmaOkAt ?? null) !== null);
    vma.alive = false;
    await until(hkd, async () => (await stateOf(runtime, 'desk'))?.state === 'stopped', 6000);
    const events = await runtime.events({ vmId: (await runtime.vmByName('desk'))!.runtime.id });
    expect(events.find((e) => e.to === 'stopping')?.reason).toMatch(/^dead: its VMA failed \d+ health checks in a row/);
  });

  it('sees through x_state that the client is gone: the session is cleared and its L7R told to close the tunnel', async () => {
    const { hkd, runtime, vma, fx } = await withAgent();
    const id = await requestStart(runtime, 'desk');
    await until(hkd, async () => (await stateOf(runtime, 'desk'))?.state === 'running');
    const told: string[] = [];
    await fx.notifier.listen('qvd_node_node1', (p) => told.push(p));
    await runtime.transitionVm(id, { sessionId: null }, { session: { id: 's1', node: 'node1', pid: process.pid, host: 'elsewhere', takeoverBy: null }, userState: 'connected' }, 'test session');
    // Listening (the client not attached yet) is no verdict.
    vma.set('desk', 'listening');
    for (let i = 0; i < 4; i++) {
      await hkd.pass();
      await sleep(15);
    }
    expect((await stateOf(runtime, 'desk'))?.userState).toBe('connected');
    vma.set('desk', 'connected');
    await until(hkd, async () => vma.calls.filter((c) => c === 'desk x_state').length >= 6);
    vma.set('desk', 'suspended');
    await until(hkd, async () => (await stateOf(runtime, 'desk'))?.userState === 'disconnected');
    expect((await stateOf(runtime, 'desk'))?.session).toBeNull();
    await until(hkd, async () => told.length > 0, 2000);
    expect(told.map((t) => JSON.parse(t) as { kind: string; session?: string })).toContainEqual({ kind: 'takeover', session: 's1', by: 'client-gone' });
  });
});
