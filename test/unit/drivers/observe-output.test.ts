import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assembleObservedNode, splitSections } from '../../../src/drivers/libvirt/observe-output.js';
import type { ObserveScope } from '../../../src/drivers/node-driver.js';
import { NodeError } from '../../../src/errors.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
// Real output of the observe script on a node with a pool, an uploaded image, 20 overlays and 20 defined domains.
const output = fixture('observe-output.txt');
const scope = JSON.parse(fixture('observe-scope.json')) as ObserveScope;

describe('observe output', () => {
  it('splits at marker lines of its own token only', () => {
    const sections = splitSections(`junk\n@@qvd:t1:fact:hostname@@\nnode1\n@@qvd:other:fact:x@@\n@@qvd:t1:end:@@\n`, 't1');
    expect(sections).toEqual([{ kind: 'fact', name: 'hostname', body: 'node1\n@@qvd:other:fact:x@@' }, { kind: 'end', name: '', body: '' }]);
  });

  it('assembles the real capture into a normalised ObservedNode', () => {
    const node = assembleObservedNode('n1', scope, splitSections(output, 'fixturetoken'), { sshHostKey: { fingerprint: 'SHA256:x', type: 'ssh-ed25519', trustedOnFirstUse: false } });
    expect(node.facts).toEqual({
      hardwareVirt: false,
      qemuImg: true,
      hostname: 'vm',
      libvirtVersion: '9.0.0',
      freeDiskBytes: expect.any(Number),
      storageDirUsable: true,
      sshHostKey: { fingerprint: 'SHA256:x', type: 'ssh-ed25519', trustedOnFirstUse: false },
    });
    expect(node.networks).toHaveLength(1);
    expect(node.networks[0]).toMatchObject({ name: scope.network, active: true, autostart: true, forward: false, prefix: 24 });
    expect(node.networks[0]?.hosts).toHaveLength(2);
    expect(node.pools).toEqual([{ name: scope.pool, active: true, path: scope.storageDir }]);
    // 23 volumes: the image (with the checksum from its sidecar, which itself is no volume), a home disk, 21 overlays.
    expect(node.volumes).toHaveLength(23);
    expect(node.volumes.map((v) => v.name)).not.toContain('base.qcow2.sha256');
    const base = node.volumes.find((v) => v.name === 'base.qcow2');
    expect(base).toMatchObject({ format: 'qcow2', capacityBytes: 64 * 1024 * 1024, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const overlay = node.volumes.find((v) => v.name === `${scope.domainPrefix}vm101.qcow2`);
    expect(overlay).toEqual({ pool: scope.pool, name: `${scope.domainPrefix}vm101.qcow2`, path: `${scope.storageDir}/${scope.domainPrefix}vm101.qcow2`, format: 'qcow2', capacityBytes: 64 * 1024 * 1024, backingPath: `${scope.storageDir}/base.qcow2`, backingFormat: 'qcow2' });
    expect(node.domains).toHaveLength(20);
    expect(node.domains.map((d) => d.name)).toEqual([...node.domains.map((d) => d.name)].sort());
    const m1 = node.domains.find((d) => d.name === `${scope.domainPrefix}m1`);
    expect(m1).toEqual({
      name: `${scope.domainPrefix}m1`,
      power: 'stopped',
      managedVm: 'm1',
      config: { type: 'qemu', memoryMiB: 128, vcpus: 1, disks: [{ target: 'vda', pool: scope.pool, volume: `${scope.domainPrefix}vm101.qcow2`, format: 'qcow2' }], nics: [{ mac: expect.stringMatching(/^52:54:00:/), network: scope.network }] },
    });
  });

  it('reports missing qemu-img and an untraversable storage dir as facts (preflight words them)', () => {
    const text = [
      '@@qvd:t:fact:qemu-img@@', '',
      '@@qvd:t:fact:virsh@@', '/usr/bin/virsh',
      '@@qvd:t:fact:storage-traversable@@', 'no',
      '@@qvd:t:version:@@', 'Running against daemon: 9.0.0',
      '@@qvd:t:end:@@', '',
    ].join('\n');
    const node = assembleObservedNode('n1', scope, splitSections(text, 't'));
    expect(node.facts).toEqual({ hardwareVirt: false, qemuImg: false, libvirtVersion: '9.0.0', storageDirUsable: false });
  });

  it("reports qvd's temporary files with their age by the node's clock", () => {
    const text = [
      '@@qvd:t:fact:qemu-img@@', '/usr/bin/qemu-img',
      '@@qvd:t:fact:virsh@@', '/usr/bin/virsh',
      '@@qvd:t:version:@@', 'Running against daemon: 9.0.0',
      '@@qvd:t:leftover:.qvd-upload-00ff-img-a.qcow2@@', '1795670000',
      '@@qvd:t:leftover:.qvd-tmp-77-vm-x-root.qcow2@@', '1795670990',
      // Gone between the listing and stat: no age, not reported.
      '@@qvd:t:leftover:.qvd-tmp-78-vm-y-root.qcow2@@', '',
      '@@qvd:t:clock:@@', '1795671000',
      '@@qvd:t:end:@@', '',
    ].join('\n');
    expect(assembleObservedNode('n1', scope, splitSections(text, 't')).leftovers).toEqual([
      { name: '.qvd-tmp-77-vm-x-root.qcow2', ageSeconds: 10 },
      { name: '.qvd-upload-00ff-img-a.qcow2', ageSeconds: 1000 },
    ]);
  });

  it('refuses output it cannot trust as a whole: no virsh, libvirtd unreachable, cut short', () => {
    const base = ['@@qvd:t:fact:virsh@@', '/usr/bin/virsh', '@@qvd:t:fact:qemu-img@@', '/usr/bin/qemu-img'];
    const noVirsh = ['@@qvd:t:fact:virsh@@', '', '@@qvd:t:end:@@'].join('\n');
    expect(() => assembleObservedNode('n1', scope, splitSections(noVirsh, 't'))).toThrow(/node n1: virsh is not installed/);
    const unreachable = [...base, '@@qvd:t:version:@@', '', '@@qvd:t:virsh-stderr:@@', 'error: failed to connect to the hypervisor', 'error: Failed to connect socket', '@@qvd:t:end:@@'].join('\n');
    expect(() => assembleObservedNode('n1', scope, splitSections(unreachable, 't'))).toThrow('node n1: cannot reach libvirtd: failed to connect to the hypervisor');
    const cut = [...base, '@@qvd:t:version:@@', 'Running against daemon: 9.0.0'].join('\n');
    expect(() => assembleObservedNode('n1', scope, splitSections(cut, 't'))).toThrow(/cut short/);
    const error = (() => { try { assembleObservedNode('n1', scope, splitSections(cut, 't')); } catch (e) { return e; } return undefined; })();
    expect(error).toBeInstanceOf(NodeError);
  });

  it('turns unreadable objects and unsafe names into problems and keeps the rest', () => {
    const text = [
      '@@qvd:t:fact:virsh@@', '/usr/bin/virsh', '@@qvd:t:fact:qemu-img@@', '/usr/bin/qemu-img', '@@qvd:t:version:@@', 'Running against daemon: 9.0.0',
      '@@qvd:t:domains-running:@@', 'p-ok',
      '@@qvd:t:dom:p-bad@@', '<domain type="qemu"><name>p-bad</domain>',
      '@@qvd:t:dom:p-ok@@', '<domain type="qemu"><name>p-ok</name><memory unit="MiB">64</memory></domain>',
      '@@qvd:t:dom:p-gone@@', '',
      '@@qvd:t:unsafe-name:domain@@', 'p-with space',
      '@@qvd:t:end:@@',
    ].join('\n');
    const node = assembleObservedNode('n1', { ...scope, domainPrefix: 'p-' }, splitSections(text, 't'));
    expect(node.domains).toEqual([{ name: 'p-ok', power: 'running', config: { type: 'qemu', memoryMiB: 64, vcpus: 1, disks: [], nics: [] } }]);
    expect(node.facts.problems).toEqual([expect.stringMatching(/^domain p-bad: unreadable XML/), 'domain "p-with space" has characters qvd does not handle in names; it was not read']);
  });

  it('takes the dumps of expected objects only for those the listing had (guess-ok), alongside the ordinary dumps', () => {
    const text = [
      '@@qvd:t:fact:virsh@@', '/usr/bin/virsh', '@@qvd:t:version:@@', 'Running against daemon: 9.0.0',
      '@@qvd:t:domains-running:@@', 'p-a', 'p-c',
      '@@qvd:t:dom-guess:p-a@@', '<domain type="qemu"><name>p-a</name><memory unit="MiB">64</memory></domain>',
      // Expected but not listed (created after the listing, or a stale answer): not observed.
      '@@qvd:t:dom-guess:p-b@@', '<domain type="qemu"><name>p-b</name><memory unit="MiB">64</memory></domain>',
      // Listed and expected, but gone before its dump: nothing, as with an ordinary dump.
      '@@qvd:t:dom-guess:p-gone@@', '',
      // Listed and not expected: dumped the ordinary way.
      '@@qvd:t:dom:p-c@@', '<domain type="qemu"><name>p-c</name><memory unit="MiB">32</memory></domain>',
      '@@qvd:t:guess-ok:@@', 'd:p-a', 'd:p-gone',
      '@@qvd:t:end:@@',
    ].join('\n');
    const node = assembleObservedNode('n1', { ...scope, domainPrefix: 'p-' }, splitSections(text, 't'));
    expect(node.domains.map((d) => [d.name, d.config.memoryMiB])).toEqual([['p-a', 64], ['p-c', 32]]);
    expect(node.facts.problems).toBeUndefined();
  });

  it('reads the real capture the same when its dumps came as accepted guesses', () => {
    const plain = assembleObservedNode('n1', scope, splitSections(output, 'fixturetoken'));
    const accepted: string[] = [];
    const guessed = output.replace(/^@@qvd:fixturetoken:(dom|vol):(.*)@@$/gm, (_m, kind: string, name: string) => {
      accepted.push(`${kind === 'dom' ? 'd' : 'v'}:${name}`);
      return `@@qvd:fixturetoken:${kind}-guess:${name}@@`;
    });
    const withOk = guessed.replace(/^@@qvd:fixturetoken:end:@@$/m, `@@qvd:fixturetoken:guess-ok:@@\n${accepted.join('\n')}\n@@qvd:fixturetoken:end:@@`);
    expect(accepted.length).toBeGreaterThan(40);
    expect(assembleObservedNode('n1', scope, splitSections(withOk, 'fixturetoken'))).toEqual(plain);
    // Without the script's word that they were listed, guesses count for nothing.
    const none = assembleObservedNode('n1', scope, splitSections(guessed, 'fixturetoken'));
    expect(none.domains).toEqual([]);
    expect(none.volumes).toEqual([]);
  });
});
