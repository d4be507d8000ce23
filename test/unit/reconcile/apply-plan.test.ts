import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDriverFactory } from '../../../src/drivers/fake/fake-driver-factory.js';
import { NodeError } from '../../../src/errors.js';
import { applyPlan, type ApplyReporter } from '../../../src/reconcile/apply-plan.js';
import { makePlan } from '../../../src/reconcile/make-plan.js';
import { observeScope } from '../../../src/reconcile/observe-nodes.js';
import type { Plan } from '../../../src/reconcile/plan.js';
import type { DesiredState } from '../../../src/spec/desired-state.js';
import { openStore } from '../../../src/state/open-store.js';
import type { Store } from '../../../src/state/store.js';
import { desiredFixture, emptySnapshot } from '../../support/desired-fixture.js';

let dir: string;
let image: string;
let kernel: string;
let initrd: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qvd-apply-plan-'));
  // What the fake reads of an image: qcow2's magic and virtual size.
  const header = Buffer.alloc(32);
  header.writeUInt32BE(0x514649fb, 0);
  header.writeBigUInt64BE(1n << 30n, 24);
  image = join(dir, 'desktop.qcow2');
  await writeFile(image, header);
  kernel = join(dir, 'vmlinuz');
  initrd = join(dir, 'initrd.img');
  await writeFile(kernel, 'kernel');
  await writeFile(initrd, 'initrd');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  readonly desired: DesiredState;
  readonly drivers: FakeDriverFactory;
  readonly store: Store;
  readonly steps: string[];
}

async function setUp(): Promise<Run> {
  const desired = desiredFixture({
    nodes: [{ name: 'node1' }],
    images: [{ source: image, boot: { kernel, initrd, cmdline: 'console=ttyS0' } }],
    vms: ['a', 'b', 'c'].map((n) => ({ name: `vm-${n}`, node: 'node1' })),
  });
  return { desired, drivers: new FakeDriverFactory(), store: await openStore({ kind: 'sqlite', path: ':memory:' }), steps: [] };
}

async function plan(run: Run, opts: { destroy?: boolean } = {}): Promise<Plan> {
  const observed = new Map(await Promise.all(run.desired.nodes.map(async (n) => [n.name, await run.drivers.forNode(n).observe(observeScope(run.desired, n))] as const)));
  return makePlan({ desired: run.desired, snapshot: await run.store.snapshot(), observed, ...(opts.destroy === true ? { destroy: true, purgeHomes: true } : {}) });
}

async function apply(run: Run, p: Plan) {
  const reporter: ApplyReporter = { step: (node, address, status, error) => run.steps.push(`${node ?? 'store'}: ${address}: ${status}${error === undefined ? '' : ` (${error})`}`) };
  return applyPlan(p, { store: run.store, drivers: run.drivers, desired: run.desired, parallelism: 4, reporter });
}

describe('applyPlan batches', () => {
  it('uploads the image files of a node in one batch, creates its volumes in another and defines its domains in a third, each change journaled', async () => {
    const run = await setUp();
    const p = await plan(run);
    const result = await apply(run, p);
    expect(result.failures).toEqual([]);
    const fake = run.drivers.node('node1');
    const volumeChanges = p.changes.filter((c) => c.kind === 'volume');
    expect(volumeChanges.length).toBe(6);
    expect(fake.callsOf('uploadImages')).toHaveLength(1);
    expect(fake.callsOf('uploadImages')[0]?.args[1]).toHaveLength(3);
    expect(fake.callsOf('uploadImage')).toHaveLength(0);
    expect(fake.callsOf('createVolumes')).toHaveLength(1);
    expect(fake.callsOf('createVolume')).toHaveLength(0);
    expect(fake.callsOf('defineDomains')).toHaveLength(1);
    expect(fake.callsOf('defineDomain')).toHaveLength(0);
    // Still in dependency order: every volume exists before the first domain is defined.
    const order = fake.calls.map((c) => c.method);
    expect(order.indexOf('createVolumes')).toBeGreaterThan(order.indexOf('uploadImages'));
    expect(order.indexOf('defineDomains')).toBeGreaterThan(order.indexOf('createVolumes'));

    const journal = await run.store.lastJournal();
    const nodeChanges = p.changes.filter((c) => c.kind !== 'record');
    for (const status of ['started', 'done'] as const) expect(journal.filter((j) => j.node === 'node1' && j.status === status)).toHaveLength(nodeChanges.length);
    expect(journal.find((j) => j.step === 'create volume vm-vm-b-home.qcow2 on node1' && j.status === 'done')).toBeDefined();
    expect((await plan(run)).changes.filter((c) => c.kind !== 'record')).toEqual([]);
    await run.store.close();
  });

  it('reports which items of a failing batch were made and which failed, skips the rest of the node, and the next apply finishes it', async () => {
    const run = await setUp();
    const fake = run.drivers.node('node1');
    fake.failItem('vm-vm-b-home.qcow2', new NodeError('node1', 'creating volume qvd/vm-vm-b-home.qcow2 failed: No space left on device'));
    const result = await apply(run, await plan(run));

    expect(result.failures).toEqual([{ node: 'node1', change: 'create volume vm-vm-b-home.qcow2 on node1', error: 'node node1: creating volume qvd/vm-vm-b-home.qcow2 failed: No space left on device' }]);
    expect(result.nodes).toEqual([expect.objectContaining({ node: 'node1', status: 'failed', skipped: 3 })]);
    expect(run.steps).toContain('node1: create volume vm-vm-a-home.qcow2 on node1: done');
    expect(run.steps).toContain('node1: create volume vm-vm-c-root.qcow2 on node1: done');
    expect(run.steps.filter((s) => / domain .*: skipped$/.test(s))).toHaveLength(3);
    expect([...(fake.volumes.get('qvd')?.keys() ?? [])].filter((v) => v.startsWith('vm-')).sort()).toEqual(['vm-vm-a-home.qcow2', 'vm-vm-a-root.qcow2', 'vm-vm-b-root.qcow2', 'vm-vm-c-home.qcow2', 'vm-vm-c-root.qcow2']);
    expect(fake.domains.size).toBe(0);
    const journal = await run.store.lastJournal();
    expect(journal.filter((j) => j.status === 'failed').map((j) => j.step)).toEqual(['create volume vm-vm-b-home.qcow2 on node1']);
    expect(journal.filter((j) => j.status === 'done' && j.step.startsWith('create volume'))).toHaveLength(5);

    const rest = await plan(run);
    expect(rest.changes.filter((c) => c.kind === 'volume').map((c) => (c.kind === 'volume' ? c.volume : ''))).toEqual(['vm-vm-b-home.qcow2']);
    expect((await apply(run, rest)).failures).toEqual([]);
    expect(fake.domains.size).toBe(3);
    await run.store.close();
  });

  it('undefines the domains and deletes the volumes of a destroy in batches', async () => {
    const run = await setUp();
    expect((await apply(run, await plan(run))).failures).toEqual([]);
    const fake = run.drivers.node('node1');
    const result = await apply(run, await plan(run, { destroy: true }));
    expect(result.failures).toEqual([]);
    expect(fake.callsOf('undefineDomains')).toHaveLength(1);
    expect(fake.callsOf('undefineDomain')).toHaveLength(0);
    expect(fake.callsOf('deleteVolume')).toHaveLength(0);
    expect(fake.callsOf('deleteVolumes').length).toBeGreaterThan(0);
    expect(fake.domains.size).toBe(0);
    expect([...(fake.volumes.get('qvd')?.keys() ?? [])]).toEqual([]);
    await run.store.close();
  });

  it('fails every item of a batch that fails as a whole', async () => {
    const run = await setUp();
    run.drivers.node('node1').failNext('defineDomains', new NodeError('node1', 'SSH connection lost'));
    const result = await apply(run, await plan(run));
    expect(result.failures.map((f) => f.change)).toEqual(['create domain qvd-vm-a on node1', 'create domain qvd-vm-b on node1', 'create domain qvd-vm-c on node1']);
    expect(result.failures.every((f) => f.error === 'node node1: SSH connection lost')).toBe(true);
    await run.store.close();
  });
});
