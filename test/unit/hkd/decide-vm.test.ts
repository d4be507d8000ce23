import { describe, expect, it } from 'vitest';
import { decideVm, stopPhases, type VmFacts } from '../../../src/hkd/decide-vm.js';
import type { ObservedDomain } from '../../../src/drivers/observed-state.js';
import type { VmRuntime, VmView } from '../../../src/state/runtime-store.js';

const NOW = Date.parse('2025-01-01T01:00:00.000Z');
const ago = (s: number): string => new Date(NOW - s * 1000).toISOString();

function facts(rt: Partial<VmRuntime>, opts: { domain?: ObservedDomain['power']; power?: 'on-demand' | 'running' | 'stopped'; placed?: string; busy?: boolean } = {}): VmFacts {
  const runtime: VmRuntime = {
    id: 1, vm: 'v', state: 'stopped', command: null, commandAt: null, node: null, userState: 'disconnected', userStateAt: ago(10), session: null,
    nxCookie: null, vmaSecret: null, startedAt: null, readyAt: null, vmaOkAt: null, healthOkAt: null, vmaFailures: 0, startFailures: 0, stateReason: '', stateAt: ago(10), ...rt,
  };
  const view: VmView = {
    record: { name: 'v', user: 'u', image: 'i', node: opts.placed ?? 'n1', nodePinned: false, ip: '10.0.0.5', mac: 'm', power: opts.power ?? 'on-demand', persistent: false, blocked: false, properties: {} },
    runtime,
    image: undefined,
  };
  return {
    view,
    domain: opts.domain === undefined ? undefined : { name: 'qvd-v', power: opts.domain, managedVm: 'v', config: { type: 'qemu', memoryMiB: 1, vcpus: 1, disks: [], nics: [] } },
    busy: opts.busy ?? false,
    node: 'n1',
    host: 'h1',
    nowMs: NOW,
    timers: { startTimeout: 60, stopTimeout: 30, idleStop: 600, heartbeat: 10, nodeLost: 60, maxParallelOps: 2, vmaPing: 120, vmaMaxFailures: 10, vmaDeadAfter: 320 },
    isProcessAlive: (pid) => pid !== 999,
  };
}

describe('decideVm', () => {
  it('leaves a VM with an operation in flight alone', () => {
    expect(decideVm(facts({ state: 'stopped', command: 'start', node: 'n1' }, { busy: true }))).toEqual({ kind: 'none' });
  });
  it('claims a start asked of this node, and only of this node', () => {
    expect(decideVm(facts({ command: 'start', node: 'n1' })).kind).toBe('claim-start');
    expect(decideVm(facts({ command: 'start', node: 'n2' })).kind).toBe('none');
  });
  it('starting: redo the start, wait for readiness, or fail after start_timeout', () => {
    expect(decideVm(facts({ state: 'starting', node: 'n1', stateAt: ago(5) })).kind).toBe('start');
    expect(decideVm(facts({ state: 'starting', node: 'n1', stateAt: ago(5) }, { domain: 'running' })).kind).toBe('await-ready');
    expect(decideVm(facts({ state: 'starting', node: 'n1', stateAt: ago(61) }, { domain: 'running' })).kind).toBe('fail-start');
  });
  it('running: zombie when the domain is gone; stop on command, power: stopped, or idle', () => {
    expect(decideVm(facts({ state: 'running', node: 'n1' }, { domain: 'stopped' })).kind).toBe('finish-stop');
    expect(decideVm(facts({ state: 'running', node: 'n1', command: 'stop' }, { domain: 'running' })).kind).toBe('begin-stop');
    expect(decideVm(facts({ state: 'running', node: 'n1' }, { domain: 'running', power: 'stopped' })).kind).toBe('begin-stop');
    expect(decideVm(facts({ state: 'running', node: 'n1', userStateAt: ago(601) }, { domain: 'running' }))).toMatchObject({ kind: 'begin-stop', reason: expect.stringMatching(/idle/) });
    expect(decideVm(facts({ state: 'running', node: 'n1', userStateAt: ago(599) }, { domain: 'running' })).kind).toBe('none');
    expect(decideVm(facts({ state: 'running', node: 'n1', userStateAt: ago(601) }, { domain: 'running', power: 'running' })).kind).toBe('none');
    expect(decideVm(facts({ state: 'running', node: 'n1', userState: 'connected', userStateAt: ago(6000) }, { domain: 'running' })).kind).toBe('none');
  });
  it('clears a session whose L7R process died on this host', () => {
    const session = { id: 's', node: 'n1', pid: 999, host: 'h1', takeoverBy: null };
    expect(decideVm(facts({ state: 'running', node: 'n1', userState: 'connected', session }, { domain: 'running' })).kind).toBe('clear-session');
    expect(decideVm(facts({ state: 'running', node: 'n1', userState: 'connected', session: { ...session, host: 'h2' } }, { domain: 'running' })).kind).toBe('none');
  });
  it('domains nobody asked for: adopt when the store has it stopped, destroy when it lives elsewhere', () => {
    expect(decideVm(facts({}, { domain: 'running' })).kind).toBe('adopt');
    expect(decideVm(facts({ state: 'running', node: 'n2' }, { domain: 'running' })).kind).toBe('destroy-stray');
  });
  it('power: running placed here is started; stopping goes on until the domain is gone', () => {
    expect(decideVm(facts({}, { power: 'running' })).kind).toBe('request-start');
    expect(decideVm(facts({}, { power: 'running', placed: 'n2' })).kind).toBe('none');
    expect(decideVm(facts({ state: 'stopping', node: 'n1' }, { domain: 'running' })).kind).toBe('continue-stop');
    expect(decideVm(facts({ state: 'stopping', node: 'n1' })).kind).toBe('finish-stop');
    expect(decideVm(facts({ state: 'debugging', node: 'n1' }, { domain: 'running' })).kind).toBe('none');
  });
});

describe('stopPhases', () => {
  it('gives each phase stop_timeout, the VMA one only with a VMA', () => {
    expect(stopPhases(0, 30, false)).toEqual(['acpi', 'destroy']);
    expect(stopPhases(31_000, 30, false)).toEqual(['destroy']);
    expect(stopPhases(0, 30, true)).toEqual(['vma', 'acpi', 'destroy']);
    expect(stopPhases(45_000, 30, true)).toEqual(['acpi', 'destroy']);
    expect(stopPhases(999_000, 30, true)).toEqual(['destroy']);
  });
});
