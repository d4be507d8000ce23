import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDriverFactory } from '../../../src/drivers/fake/fake-driver-factory.js';
import { FakeNodeDriver } from '../../../src/drivers/fake/fake-node-driver.js';
import { assembleObservedNode, splitSections } from '../../../src/drivers/libvirt/observe-output.js';
import type { ObserveScope } from '../../../src/drivers/node-driver.js';
import { NodeError } from '../../../src/errors.js';
import type { DesiredNode } from '../../../src/spec/desired-state.js';
import { domainXml, networkXml } from './test-xml.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const MiB = 1024 * 1024;
const scope: ObserveScope = { network: 'qvd', pool: 'qvd', storageDir: '/var/lib/qvd/pool', domainPrefix: 'qvd-' };
const net = networkXml({ name: 'qvd', bridge: 'qvdbr0', gateway: '10.9.0.1', prefix: 24, rangeStart: '10.9.0.100', rangeEnd: '10.9.0.200', hosts: [{ mac: '52:54:00:00:00:01', ip: '10.9.0.11', name: 'vm1' }] });
const vm1 = domainXml({ name: 'qvd-vm1', vm: 'vm1', pool: 'qvd', disks: [{ volume: 'vm1.qcow2', target: 'vda' }], nics: [{ mac: '52:54:00:00:00:01', network: 'qvd' }] });

describe('FakeNodeDriver', () => {
  let work: string;
  let image: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'qvd-fake-'));
    image = join(work, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M']);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const converged = async (): Promise<FakeNodeDriver> => {
    const fake = new FakeNodeDriver('n1');
    await fake.ensureNetwork('qvd', net);
    await fake.ensurePool('qvd', scope.storageDir);
    await fake.uploadImage('qvd', 'base.qcow2', image, 'a'.repeat(64));
    await fake.createVolume('qvd', 'vm1.qcow2', { backing: { volume: 'base.qcow2', format: 'qcow2' } });
    await fake.defineDomain('qvd-vm1', vm1);
    return fake;
  };

  it('builds up a node and observes it in the real driver\'s shape', async () => {
    const fake = await converged();
    await fake.startDomain('qvd-vm1');
    const observed = await fake.observe(scope);
    expect(observed.networks).toEqual([{ name: 'qvd', bridge: 'qvdbr0', address: '10.9.0.1', prefix: 24, forward: false, dhcpRange: { start: '10.9.0.100', end: '10.9.0.200' }, hosts: [{ mac: '52:54:00:00:00:01', ip: '10.9.0.11', name: 'vm1' }], active: true, autostart: true }]);
    expect(observed.pools).toEqual([{ name: 'qvd', active: true, path: scope.storageDir }]);
    expect(observed.volumes).toEqual([
      { pool: 'qvd', name: 'base.qcow2', path: `${scope.storageDir}/base.qcow2`, format: 'qcow2', capacityBytes: 64 * MiB, sha256: 'a'.repeat(64) },
      { pool: 'qvd', name: 'vm1.qcow2', path: `${scope.storageDir}/vm1.qcow2`, format: 'qcow2', capacityBytes: 64 * MiB, backingPath: `${scope.storageDir}/base.qcow2`, backingFormat: 'qcow2' },
    ]);
    expect(observed.domains).toEqual([{ name: 'qvd-vm1', power: 'running', managedVm: 'vm1', config: { type: 'qemu', memoryMiB: 128, vcpus: 1, disks: [{ target: 'vda', pool: 'qvd', volume: 'vm1.qcow2', format: 'qcow2' }], nics: [{ mac: '52:54:00:00:00:01', network: 'qvd' }] } }]);
  });

  it('agrees with the real driver: same volumes and domain for the same operations', async () => {
    // The real capture: image base.qcow2 (64 MiB), overlay <prefix>vm101.qcow2, domain <prefix>m1 on it.
    const realScope = JSON.parse(fixture('observe-scope.json')) as ObserveScope;
    const real = assembleObservedNode('n1', realScope, splitSections(fixture('observe-output.txt'), 'fixturetoken'));
    const realBase = real.volumes.find((v) => v.name === 'base.qcow2');
    const overlay = `${realScope.domainPrefix}vm101.qcow2`;
    const realOverlay = real.volumes.find((v) => v.name === overlay);
    const realDomain = real.domains.find((d) => d.name === `${realScope.domainPrefix}m1`);

    const fake = new FakeNodeDriver('n1');
    await fake.ensurePool(realScope.pool, realScope.storageDir);
    await fake.uploadImage(realScope.pool, 'base.qcow2', image, realBase?.sha256 ?? '');
    await fake.createVolume(realScope.pool, overlay, { backing: { volume: 'base.qcow2', format: 'qcow2' } });
    await fake.defineDomain(`${realScope.domainPrefix}m1`, domainXml({ name: `${realScope.domainPrefix}m1`, vm: 'm1', pool: realScope.pool, disks: [{ volume: overlay, target: 'vda' }], nics: [{ mac: realDomain?.config.nics[0]?.mac ?? '', network: realScope.network }] }));
    const observed = await fake.observe(realScope);
    expect(observed.volumes.find((v) => v.name === 'base.qcow2')).toEqual(realBase);
    expect(observed.volumes.find((v) => v.name === overlay)).toEqual(realOverlay);
    expect(observed.domains).toEqual([realDomain]);
  });

  it('repeats every mutation without error or change', async () => {
    const fake = await converged();
    const before = await fake.observe(scope);
    await fake.ensureNetwork('qvd', net);
    await fake.ensurePool('qvd', scope.storageDir);
    await fake.uploadImage('qvd', 'base.qcow2', image, 'a'.repeat(64));
    await fake.createVolume('qvd', 'vm1.qcow2', { backing: { volume: 'base.qcow2', format: 'qcow2' } });
    await fake.defineDomain('qvd-vm1', vm1);
    await fake.stopDomain('qvd-vm1', true);
    expect(await fake.observe(scope)).toEqual(before);
    await fake.undefineDomain('qvd-vm1');
    await fake.undefineDomain('qvd-vm1');
    await fake.deleteVolume('qvd', 'vm1.qcow2');
    await fake.deleteVolume('qvd', 'vm1.qcow2');
    await fake.removeNetwork('qvd');
    await fake.removeNetwork('qvd');
    await fake.stopDomain('qvd-vm1', false);
    expect(await fake.observe(scope)).toMatchObject({ networks: [], domains: [], volumes: [expect.objectContaining({ name: 'base.qcow2' })] });
  });

  it('refuses what the real driver refuses', async () => {
    const fake = await converged();
    await expect(fake.ensureNetwork('default', net)).rejects.toThrow(/refusing/);
    await expect(fake.ensureNetwork('other', net)).rejects.toThrow(/network XML is for "qvd"/);
    await expect(fake.uploadImage('nopool', 'x.qcow2', image, 'a'.repeat(64))).rejects.toThrow(/storage pool nopool does not exist/);
    await expect(fake.uploadImage('qvd', 'base.qcow2', image, 'b'.repeat(64))).rejects.toThrow(/already exists with other content/);
    await expect(fake.createVolume('qvd', 'x.qcow2', { backing: { volume: 'missing.qcow2', format: 'qcow2' } })).rejects.toThrow(/Could not open backing file/);
    await expect(fake.createVolume('qvd', 'vm1.qcow2', { capacityBytes: MiB })).rejects.toThrow(/already exists as qcow2 backed by/);
    await expect(fake.resizeVolume('qvd', 'vm1.qcow2', MiB)).rejects.toThrow(/shrinking/);
    await expect(fake.createVolume('qvd', 'base.qcow2.sha256', { capacityBytes: MiB })).rejects.toThrow(/reserved/);
    await expect(fake.defineDomain('qvd-other', vm1)).rejects.toThrow(/domain XML is for "qvd-vm1"/);
    await expect(fake.defineDomain('qvd-vm1', '<domain><name>x</domain>')).rejects.toBeInstanceOf(NodeError);
    await expect(fake.startDomain('qvd-missing')).rejects.toThrow(/not defined/);
    await fake.deleteVolume('qvd', 'vm1.qcow2');
    await expect(fake.startDomain('qvd-vm1')).rejects.toThrow(/Storage volume not found/);
  });

  it('fails the next call of a method on demand, once per injection, and records calls', async () => {
    const fake = new FakeNodeDriver('n1');
    fake.failNext('ensurePool');
    fake.failNext('observe', new Error('boom'));
    await expect(fake.ensurePool('qvd', scope.storageDir)).rejects.toThrow(/injected failure in ensurePool/);
    await fake.ensurePool('qvd', scope.storageDir);
    await expect(fake.observe(scope)).rejects.toThrow('boom');
    await fake.observe(scope);
    expect(fake.callsOf('ensurePool')).toHaveLength(2);
    expect(fake.calls.map((c) => c.method)).toEqual(['ensurePool', 'ensurePool', 'observe', 'observe']);
  });

  it('lets a test change facts and power behind qvd\'s back', async () => {
    const fake = await converged();
    fake.setFacts({ hardwareVirt: true, problems: ['disk full'] });
    await fake.startDomain('qvd-vm1');
    fake.setPower('qvd-vm1', 'stopped');
    const observed = await fake.observe(scope);
    expect(observed.facts).toMatchObject({ hardwareVirt: true, problems: ['disk full'] });
    expect(observed.domains[0]?.power).toBe('stopped');
  });

  it('seeds 100 nodes x 100 domains fast, and observes them', async () => {
    const factory = new FakeDriverFactory();
    for (let n = 1; n <= 100; n++) factory.node(`node${n}`).seedDomains(100, { prefix: 'qvd-', power: 'running', withVolumes: true, managedVm: (i) => `vm-${n}-${i}` });
    const node = { name: 'node7' } as DesiredNode;
    const observed = await factory.forNode(node).observe(scope);
    expect(observed.domains).toHaveLength(100);
    expect(observed.domains[0]).toMatchObject({ name: 'qvd-1', power: 'running', managedVm: 'vm-7-1', config: { disks: [{ pool: 'qvd', volume: 'qvd-1.qcow2' }] } });
    expect(factory.forNode(node)).toBe(factory.node('node7'));
    const all = await Promise.all(factory.all.map((f) => f.observe(scope)));
    expect(all.reduce((n, o) => n + o.domains.length, 0)).toBe(10_000);
  });
});
