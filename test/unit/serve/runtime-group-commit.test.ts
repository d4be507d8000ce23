import { afterEach, describe, expect, it } from 'vitest';
import { desiredFixture } from '../../support/desired-fixture.js';
import { runtimeFixture, type RuntimeFixture } from '../hkd/runtime-fixture.js';

const fixtures: RuntimeFixture[] = [];
afterEach(async () => {
  for (const fx of fixtures.splice(0)) await fx.close();
});

async function store(): Promise<RuntimeFixture> {
  const fx = await runtimeFixture(desiredFixture({ vms: [{ name: 'a1', node: 'node1' }, { name: 'a2', node: 'node1' }] }));
  fixtures.push(fx);
  return fx;
}

/** Serve's SQLite store commits the transitions of one event-loop turn together (runtime-kysely-store.ts). */
describe('runtime store group commit (SQLite)', () => {
  it('keeps every transition of a batch its own compare-and-set, in order', async () => {
    const { runtime } = await store();
    const id = (await runtime.vmByName('a1'))!.runtime.id;
    const claim = (session: string) =>
      runtime.transitionVm(id, { state: 'stopped', sessionId: null }, { session: { id: session, node: 'node1', pid: 1, host: 'h', takeoverBy: null }, userState: 'connecting' }, `claim ${session}`);
    // Asked for in the same turn: one transaction, and only the first claim finds the slot free.
    expect(await Promise.all([claim('s1'), claim('s2'), claim('s3')])).toEqual([true, false, false]);
    expect((await runtime.vm(id))!.runtime.session?.id).toBe('s1');
    const events = await runtime.events({ vmId: id });
    expect(events.map((e) => e.reason)).toEqual(['claim s1']);
  });

  it('fails only the transition that cannot be written; the others of its batch are committed', async () => {
    const { runtime } = await store();
    const [a1, a2] = [(await runtime.vmByName('a1'))!.runtime.id, (await runtime.vmByName('a2'))!.runtime.id];
    const results = await Promise.allSettled([
      runtime.transitionVm(a1, { state: 'stopped' }, { command: 'start', node: 'node1' }, 'start a1'),
      // The event log requires a reason: this one's insert fails inside the batch.
      runtime.transitionVm(a2, { state: 'stopped' }, { command: 'start', node: 'node1' }, null as unknown as string),
      runtime.transitionVm(a2, { state: 'stopped' }, { userState: 'connecting' }, 'a2 connecting'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await runtime.vm(a1))!.runtime).toMatchObject({ command: 'start', node: 'node1' });
    expect((await runtime.vm(a2))!.runtime).toMatchObject({ command: null, userState: 'connecting' });
    expect((await runtime.events({ vmId: a2 })).map((e) => e.reason)).toEqual(['a2 connecting']);
  });

  it('records in each event the row as the transition left it, whether or not the state changed', async () => {
    const { runtime } = await store();
    const id = (await runtime.vmByName('a1'))!.runtime.id;
    expect(await runtime.transitionVm(id, { state: 'stopped', command: null }, { command: 'start', node: 'node1' }, 'start')).toBe(true);
    expect(await runtime.transitionVm(id, { state: 'stopped', command: 'start' }, { state: 'running', command: null }, 'running')).toBe(true);
    const session = { id: 's1', node: 'node1', pid: 1, host: 'h', takeoverBy: null };
    expect(await runtime.transitionVm(id, { state: 'running', sessionId: null }, { session, userState: 'connecting' }, 'claim')).toBe(true);
    expect(await runtime.transitionVm(id, { sessionId: 's1' }, { userState: 'connected' }, 'connected')).toBe(true);
    // Expectations that no longer hold change nothing and record nothing, with or without a state in the patch.
    expect(await runtime.transitionVm(id, { sessionId: 'other' }, { session: null, userState: 'disconnected' }, 'not mine')).toBe(false);
    expect(await runtime.transitionVm(id, { state: 'stopped' }, { state: 'starting' }, 'not stopped')).toBe(false);
    expect(await runtime.transitionVm(id, { state: ['running', 'starting'], sessionId: 's1' }, { command: 'stop' }, 'stop')).toBe(true);
    expect(await runtime.transitionVm(id, { sessionId: 's1' }, { session: null, userState: 'disconnected', vmaFailures: 'increment' }, 'ended')).toBe(true);
    const events = (await runtime.events({ vmId: id })).map(({ reason, from, to, command, node, userState, vm }) => ({ reason, from, to, command, node, userState, vm }));
    expect(events).toEqual([
      { reason: 'start', from: 'stopped', to: 'stopped', command: 'start', node: 'node1', userState: 'disconnected', vm: 'a1' },
      { reason: 'running', from: 'stopped', to: 'running', command: null, node: 'node1', userState: 'disconnected', vm: 'a1' },
      { reason: 'claim', from: 'running', to: 'running', command: null, node: 'node1', userState: 'connecting', vm: 'a1' },
      { reason: 'connected', from: 'running', to: 'running', command: null, node: 'node1', userState: 'connected', vm: 'a1' },
      { reason: 'stop', from: 'running', to: 'running', command: 'stop', node: 'node1', userState: 'connected', vm: 'a1' },
      { reason: 'ended', from: 'running', to: 'running', command: 'stop', node: 'node1', userState: 'disconnected', vm: 'a1' },
    ]);
    expect((await runtime.vm(id))!.runtime).toMatchObject({ session: null, userState: 'disconnected', command: 'stop', vmaFailures: 1 });
  });
});
