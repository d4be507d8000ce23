import { describe, expect, it } from 'vitest';
import type { ObservedNode } from '../../../src/drivers/observed-state.js';
import type { Change } from '../../../src/reconcile/change.js';
import { desiredRecords } from '../../../src/reconcile/diff-records.js';
import { STALE_LEFTOVER_SECONDS } from '../../../src/reconcile/diff-node.js';
import { makePlan } from '../../../src/reconcile/make-plan.js';
import { nodeTarget } from '../../../src/reconcile/node-target.js';
import type { DesiredState } from '../../../src/spec/desired-state.js';
import type { StoreSnapshot } from '../../../src/state/store.js';
import { desiredFixture, emptyNode, emptySnapshot, observedFromTarget } from '../../support/desired-fixture.js';

const observeEmpty = (d: DesiredState): Map<string, ObservedNode | Error> => new Map(d.nodes.map((n) => [n.name, emptyNode(n.name)]));
const converged = (d: DesiredState, power?: (vm: string) => 'running' | 'stopped'): Map<string, ObservedNode | Error> =>
  new Map(d.nodes.map((n) => [n.name, observedFromTarget(nodeTarget(d, n, false), power)]));
const snapshotOf = (d: DesiredState, serial = 1): StoreSnapshot => ({ serial, ...desiredRecords(d) });
const kinds = (cs: readonly Change[]): string[] => cs.map((c) => `${c.action} ${c.kind}${c.node === undefined ? '' : `@${c.node}`}`);

describe('makePlan', () => {
  it('plans everything from empty nodes and an empty store, in dependency order', () => {
    const d = desiredFixture();
    const plan = makePlan({ desired: d, snapshot: emptySnapshot, observed: observeEmpty(d) });
    const node1 = plan.changes.filter((c) => c.node === 'node1').map((c) => c.kind);
    expect(node1).toEqual(['network', 'pool', 'image-file', 'volume', 'volume', 'domain']);
    // Nodes, images, users, VMs, and the settings.
    expect(plan.changes.filter((c) => c.kind === 'record').length).toBe(2 + 1 + 2 + 2 + 1);
    // Records come after every node change.
    const firstRecord = plan.changes.findIndex((c) => c.kind === 'record');
    expect(plan.changes.slice(firstRecord).every((c) => c.kind === 'record')).toBe(true);
    expect(plan.summary).toEqual({ add: plan.changes.length, change: 0, destroy: 0 });
    expect(plan.diagnostics.filter((x) => x.severity === 'error')).toEqual([]);
  });

  it('is empty when nodes and store already match', () => {
    const d = desiredFixture();
    const plan = makePlan({ desired: d, snapshot: snapshotOf(d), observed: converged(d) });
    expect(plan.changes).toEqual([]);
    expect(plan.summary).toEqual({ add: 0, change: 0, destroy: 0 });
  });

  it('plans a change of settings alone as one store change, for serves to pick up', () => {
    const d = desiredFixture();
    const later = { ...d, settings: { ...d.settings, hkd: { ...d.settings.hkd, idleStop: 600 }, l7r: { ...d.settings.l7r, maxConnectionsPerAddress: 50 } } };
    const plan = makePlan({ desired: later, snapshot: snapshotOf(d), observed: converged(later) });
    expect(kinds(plan.changes)).toEqual(['update record']);
    expect(plan.changes[0]).toMatchObject({ write: { kind: 'settings', op: 'upsert' } });
    expect(plan.changes[0]?.attributes.map((a) => a.name).sort()).toEqual(['hkd.idle_stop', 'l7r.max_connections_per_address']);
    expect(plan.summary).toEqual({ add: 0, change: 1, destroy: 0 });
  });

  it('updates a stopped domain in place and a running one at its next boot', () => {
    const before = desiredFixture();
    const after = desiredFixture({ images: [{ memoryMb: 1024 }] });
    const stopped = makePlan({ desired: after, snapshot: snapshotOf(before), observed: converged(before) });
    const domainChanges = stopped.changes.filter((c) => c.kind === 'domain');
    expect(domainChanges.map((c) => c.action)).toEqual(['update', 'update']);
    expect(domainChanges[0]?.attributes).toEqual([{ name: 'memory_mib', before: 512, after: 1024 }]);
    const running = makePlan({ desired: after, snapshot: snapshotOf(before), observed: converged(before, () => 'running') });
    expect(running.changes.filter((c) => c.kind === 'domain').map((c) => c.action)).toEqual(['update-restart', 'update-restart']);
    // The image record changes too, nothing else.
    expect(kinds(running.changes).filter((k) => !k.includes('domain'))).toEqual(['update record']);
  });

  it('treats a rename as a delete of the old VM and a create of the new, keeping the old home disk', () => {
    const before = desiredFixture({ vms: [{ name: 'alice-desk', node: 'node1' }] });
    const after = desiredFixture({ vms: [{ name: 'alice-desktop', node: 'node1' }] });
    const plan = makePlan({ desired: after, snapshot: snapshotOf(before), observed: converged(before) });
    const node1 = plan.changes.filter((c) => c.node === 'node1');
    expect(node1.map((c) => `${c.action} ${c.kind} ${'volume' in c ? c.volume : 'domain' in c ? c.domain : ''}`)).toEqual([
      'delete domain qvd-alice-desk',
      'delete volume vm-alice-desk-root.qcow2',
      'update network ',
      'create volume vm-alice-desktop-root.qcow2',
      'create volume vm-alice-desktop-home.qcow2',
      'create domain qvd-alice-desktop',
    ]);
    const purge = makePlan({ desired: after, snapshot: snapshotOf(before), observed: converged(before), purgeHomes: true });
    expect(purge.changes.some((c) => c.kind === 'volume' && c.action === 'delete' && c.volume === 'vm-alice-desk-home.qcow2')).toBe(true);
  });

  it('stops a running VM before deleting it when it is removed from the spec', () => {
    const before = desiredFixture();
    const after = desiredFixture({ vms: [{ name: 'alice-desk', node: 'node1' }] });
    const plan = makePlan({ desired: after, snapshot: snapshotOf(before), observed: converged(before, () => 'running') });
    expect(kinds(plan.changes.filter((c) => c.node === 'node2'))).toEqual(['update power@node2', 'delete domain@node2', 'delete volume@node2', 'update network@node2', 'delete image-file@node2']);
    expect(plan.changes.find((c) => c.kind === 'record' && c.action === 'delete')).toMatchObject({ write: { kind: 'vm', op: 'delete', key: 'bob-desk' } });
  });

  it('replaces overlays, saying why, when the image content changes', () => {
    const before = desiredFixture();
    const after = desiredFixture({ images: [{ sha256: 'b'.repeat(64) }] });
    const plan = makePlan({ desired: after, snapshot: snapshotOf(before), observed: converged(before) });
    const img = plan.changes.find((c) => c.kind === 'image-file' && c.node === 'node1');
    expect(img?.action).toBe('replace');
    expect(img?.attributes[0]).toMatchObject({ name: 'sha256', forcesReplacement: true });
    const root = plan.changes.find((c) => c.kind === 'volume' && c.node === 'node1' && c.role === 'root');
    expect(root).toMatchObject({ action: 'replace', reason: expect.stringContaining('image changed') });
    // Home disks survive an image change.
    expect(plan.changes.some((c) => c.kind === 'volume' && c.role === 'home')).toBe(false);
  });

  it('starts VMs whose power is running and stops those whose power is stopped', () => {
    const d = desiredFixture({ vms: [{ name: 'a', node: 'node1', power: 'running' }, { name: 'b', node: 'node1', power: 'stopped' }] });
    const plan = makePlan({ desired: d, snapshot: snapshotOf(d), observed: converged(d, (vm) => (vm === 'b' ? 'running' : 'stopped')) });
    expect(plan.changes.map((c) => (c.kind === 'power' ? `${c.to} ${c.vm}` : c.kind))).toEqual(['stop b', 'start a']);
    expect(makePlan({ desired: d, snapshot: snapshotOf(d), observed: converged(d, (vm) => (vm === 'a' ? 'running' : 'stopped')) }).changes).toEqual([]);
  });

  it('adopts an identical unmanaged domain and refuses a different one', () => {
    const d = desiredFixture({ vms: [{ name: 'a', node: 'node1' }] });
    const obs = converged(d);
    const n1 = obs.get('node1') as ObservedNode;
    const unmanaged = { ...n1, domains: n1.domains.map((x) => ({ ...x, managedVm: undefined })) } as ObservedNode;
    const adopt = makePlan({ desired: d, snapshot: snapshotOf(d), observed: new Map([...obs, ['node1', unmanaged]]) });
    expect(adopt.changes).toMatchObject([{ kind: 'domain', action: 'update', reason: expect.stringContaining('adopted') }]);
    const different = { ...unmanaged, domains: unmanaged.domains.map((x) => ({ ...x, config: { ...x.config, memoryMiB: 4096 } })) } as ObservedNode;
    const conflict = makePlan({ desired: d, snapshot: snapshotOf(d), observed: new Map([...obs, ['node1', different]]) });
    expect(conflict.diagnostics[0]).toMatchObject({ severity: 'error', node: 'node1', summary: expect.stringContaining('was not made by qvd') });
  });

  it('shows drift made out of band: a deleted overlay and an undefined domain come back', () => {
    const d = desiredFixture({ vms: [{ name: 'a', node: 'node1' }] });
    const obs = converged(d);
    const n1 = obs.get('node1') as ObservedNode;
    const drifted = { ...n1, domains: [], volumes: n1.volumes.filter((v) => !v.name.endsWith('-root.qcow2')) };
    const plan = makePlan({ desired: d, snapshot: snapshotOf(d), observed: new Map([...obs, ['node1', drifted]]) });
    expect(kinds(plan.changes)).toEqual(['create volume@node1', 'create domain@node1']);
  });

  it('grows a home disk but never shrinks one', () => {
    const before = desiredFixture();
    const grow = makePlan({ desired: desiredFixture({ images: [{ homeSizeMb: 128 }] }), snapshot: snapshotOf(before), observed: converged(before) });
    expect(grow.changes.filter((c) => c.kind === 'volume').map((c) => c.action)).toEqual(['update', 'update']);
    const shrink = makePlan({ desired: desiredFixture({ images: [{ homeSizeMb: 32 }] }), snapshot: snapshotOf(before), observed: converged(before) });
    expect(shrink.changes.filter((c) => c.kind === 'volume')).toEqual([]);
    expect(shrink.diagnostics.some((x) => x.severity === 'warning' && x.summary.includes('never shrinks'))).toBe(true);
  });

  it('keeps the other nodes planned when one cannot be read, and leaves its VM records alone', () => {
    const d = desiredFixture();
    const obs = observeEmpty(d);
    obs.set('node2', new Error('connect ECONNREFUSED 10.0.0.2:22'));
    const plan = makePlan({ desired: d, snapshot: emptySnapshot, observed: obs });
    expect(plan.unreachableNodes).toEqual(['node2']);
    expect(plan.changes.some((c) => c.node === 'node2')).toBe(false);
    expect(plan.changes.some((c) => c.kind === 'record' && c.write.kind === 'vm' && c.write.op === 'upsert' && c.write.record.node === 'node2')).toBe(false);
    expect(plan.diagnostics[0]).toMatchObject({ severity: 'error', node: 'node2', summary: expect.stringContaining('ECONNREFUSED') });
  });

  it('refuses nodes without qemu-img and with too little disk, naming the node', () => {
    const d = desiredFixture();
    const obs = observeEmpty(d);
    obs.set('node1', { ...emptyNode('node1'), facts: { hardwareVirt: false, qemuImg: false, freeDiskBytes: 1000, storageDirUsable: false } });
    const plan = makePlan({ desired: d, snapshot: emptySnapshot, observed: obs, fileSizes: new Map([['/images/desktop.qcow2', 10_000_000]]) });
    const errors = plan.diagnostics.filter((x) => x.severity === 'error').map((x) => x.summary);
    expect(errors).toEqual([
      'node node1: qemu-img is not installed',
      'node node1: the storage directory cannot be traversed by the user qemu runs as',
      expect.stringMatching(/^node node1: not enough free disk/),
    ]);
    expect(plan.diagnostics.some((x) => x.severity === 'warning' && x.summary.includes('hardware virtualisation'))).toBe(true);
  });

  it('changes its fingerprint exactly when the node side of the plan changes', () => {
    const d = desiredFixture();
    const a = makePlan({ desired: d, snapshot: emptySnapshot, observed: observeEmpty(d) });
    const b = makePlan({ desired: d, snapshot: { ...emptySnapshot, serial: 7 }, observed: observeEmpty(d) });
    expect(b.basis.observedFingerprint).toBe(a.basis.observedFingerprint);
    expect(b.basis.stateSerial).toBe(7);
    const moved = observeEmpty(d);
    moved.set('node1', observedFromTarget(nodeTarget(d, d.nodes[0]!, false)));
    const c = makePlan({ desired: d, snapshot: emptySnapshot, observed: moved });
    expect(c.basis.observedFingerprint).not.toBe(a.basis.observedFingerprint);
  });

  it('destroys everything managed, keeping home disks and their pool unless purged', () => {
    const d = desiredFixture();
    const keep = makePlan({ desired: d, snapshot: snapshotOf(d), observed: converged(d, () => 'running'), destroy: true });
    expect(kinds(keep.changes.filter((c) => c.node === 'node1'))).toEqual(['update power@node1', 'delete domain@node1', 'delete volume@node1', 'delete image-file@node1', 'delete network@node1']);
    expect(keep.changes.filter((c) => c.kind === 'record').every((c) => c.action === 'delete')).toBe(true);
    const purge = makePlan({ desired: d, snapshot: snapshotOf(d), observed: converged(d), destroy: true, purgeHomes: true });
    expect(kinds(purge.changes.filter((c) => c.node === 'node1'))).toEqual(['delete domain@node1', 'delete volume@node1', 'delete volume@node1', 'delete image-file@node1', 'delete network@node1', 'delete pool@node1']);
  });

  it('limits the plan to --target VMs and what they need', () => {
    const d = desiredFixture();
    const plan = makePlan({ desired: d, snapshot: emptySnapshot, observed: observeEmpty(d), targets: ['bob-desk'] });
    expect(plan.changes.every((c) => c.node === 'node2' || (c.kind === 'record' && c.write.kind === 'vm'))).toBe(true);
    expect(kinds(plan.changes)).toEqual(['create network@node2', 'create pool@node2', 'create image-file@node2', 'create volume@node2', 'create volume@node2', 'create domain@node2', 'create record']);
  });
});

describe('makePlan and serve', () => {
  it('leaves a VM that serve started on another node alone while it runs there', () => {
    const d = desiredFixture();
    const obs = converged(d, () => 'running');
    const n1 = obs.get('node1') as ObservedNode;
    const n2 = obs.get('node2') as ObservedNode;
    // bob-desk (placed on node2) was failed over to node1 and runs there.
    const bobOnNode2 = n2.domains.find((x) => x.managedVm === 'bob-desk')!;
    const bobHost = n2.networks[0]!.hosts.find((h) => h.name === 'bob-desk')!;
    const withBob = {
      ...n1,
      domains: [...n1.domains, bobOnNode2],
      volumes: [...n1.volumes, ...n2.volumes.filter((v) => v.name.startsWith('vm-bob-desk'))],
      networks: [{ ...n1.networks[0]!, hosts: [...n1.networks[0]!.hosts, bobHost].sort((a, b) => a.mac.localeCompare(b.mac)) }],
    };
    const plan = makePlan({ desired: d, snapshot: snapshotOf(d), observed: new Map([...obs, ['node1', withBob]]) });
    expect(plan.changes).toEqual([]);
    expect(plan.diagnostics.some((x) => x.severity === 'warning' && x.summary.includes('failover'))).toBe(true);
    // Once it is stopped there, the next apply cleans it up.
    const stopped = { ...withBob, domains: withBob.domains.map((x) => (x.managedVm === 'bob-desk' ? { ...x, power: 'stopped' as const } : x)) };
    const cleanup = makePlan({ desired: d, snapshot: snapshotOf(d), observed: new Map([...obs, ['node1', stopped]]) });
    expect(kinds(cleanup.changes)).toEqual(['delete domain@node1', 'delete volume@node1', 'update network@node1']);
  });
});

describe('makePlan and console logs', () => {
  it('keeps the console log of a VM that stays and deletes it with its VM', () => {
    const d = desiredFixture();
    const obs = converged(d);
    const n1 = obs.get('node1') as ObservedNode;
    const log = { pool: 'qvd', name: 'vm-alice-desk-console.log', path: '/x/vm-alice-desk-console.log', format: 'raw', capacityBytes: 100 };
    const withLog = new Map([...obs, ['node1', { ...n1, volumes: [...n1.volumes, log] }]]);
    expect(makePlan({ desired: d, snapshot: snapshotOf(d), observed: withLog }).changes).toEqual([]);
    const gone = desiredFixture({ vms: [{ name: 'bob-desk', node: 'node2' }] });
    const plan = makePlan({ desired: gone, snapshot: snapshotOf(d), observed: withLog });
    expect(plan.changes.filter((c) => c.kind === 'volume' && c.node === 'node1').map((c) => (c.kind === 'volume' ? `${c.role} ${c.volume}` : ''))).toEqual([
      'root vm-alice-desk-root.qcow2',
      'log vm-alice-desk-console.log',
    ]);
  });

  it('deletes temporary files an interrupted upload or copy left behind once nobody writes them, and only those', () => {
    const d = desiredFixture();
    const obs = converged(d);
    const n1 = obs.get('node1') as ObservedNode;
    const leftovers = [
      { name: '.qvd-upload-0a1b2c3d4e5f-img-desk--default.qcow2', ageSeconds: STALE_LEFTOVER_SECONDS + 60 },
      // Still being written (an upload or a start under way elsewhere): left alone.
      { name: '.qvd-tmp-4242-vm-alice-desk-root.qcow2', ageSeconds: 5 },
    ];
    const plan = makePlan({ desired: d, snapshot: snapshotOf(d), observed: new Map([...obs, ['node1', { ...n1, leftovers }]]) });
    expect(plan.changes).toEqual([
      expect.objectContaining({ kind: 'volume', action: 'delete', node: 'node1', volume: '.qvd-upload-0a1b2c3d4e5f-img-desk--default.qcow2', role: 'leftover', vm: '' }),
    ]);
    expect(plan.changes[0]?.reason).toMatch(/interrupted upload or copy \(untouched for 16 min\)/);
    expect(plan.summary).toEqual({ add: 0, change: 0, destroy: 1 });
  });
});
