import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDomainXml } from '../../../src/drivers/libvirt/domain-xml.js';
import { domainXml } from './test-xml.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
// The fixtures are libvirt's own dumpxml of domains the integration test defined (QVD_CAPTURE_FIXTURES=1).
const scope = JSON.parse(fixture('observe-scope.json')) as { pool: string; network: string; storageDir: string; domainPrefix: string };
const base = scope.storageDir.replace(/\/pool$/, '');
// The integration test derives MACs from the names' random suffix.
const suffix = scope.pool.split('-').pop() ?? '';

const expected = {
  type: 'qemu',
  memoryMiB: 128,
  vcpus: 1,
  disks: [
    { target: 'vda', pool: scope.pool, volume: `${scope.domainPrefix}vm1.qcow2`, format: 'qcow2' },
    { target: 'vdb', pool: scope.pool, volume: `${scope.domainPrefix}home1.qcow2`, format: 'qcow2' },
  ],
  nics: [{ mac: `52:54:00:${suffix.slice(0, 2)}:${suffix.slice(2, 4)}:01`, network: scope.network }],
  serialLog: `${base}/vm1-serial.log`,
};

describe('parseDomainXml', () => {
  it('reads libvirt\'s dumpxml of a defined domain down to DomainConfig, dropping what libvirt added', () => {
    const parsed = parseDomainXml(fixture('domain-defined.xml'));
    expect(parsed).toEqual({ name: `${scope.domainPrefix}vm1`, uuid: expect.stringMatching(/^[0-9a-f-]{36}$/), managedVm: 'vm1', config: expected });
  });

  it('reads the live XML of a running domain the same way (index, backingStore, alias, portid ignored)', () => {
    const defined = parseDomainXml(fixture('domain-defined.xml'));
    const live = parseDomainXml(fixture('domain-running-live.xml'));
    expect(live).toEqual(defined);
  });

  it('maps file disks back to pool/volume by path and reads direct kernel boot with entities decoded', () => {
    const byPath = new Map([
      [`${scope.storageDir}/${scope.domainPrefix}vm1.qcow2`, { pool: scope.pool, volume: `${scope.domainPrefix}vm1.qcow2` }],
      [`${scope.storageDir}/${scope.domainPrefix}home1.qcow2`, { pool: scope.pool, volume: `${scope.domainPrefix}home1.qcow2` }],
    ]);
    const parsed = parseDomainXml(fixture('domain-file-disks.xml'), (path) => byPath.get(path));
    expect(parsed.config).toEqual({ ...expected, kernel: `${base}/vmlinuz`, initrd: `${base}/initrd.img`, cmdline: 'console=ttyS0 qvd.x="a&b" quiet' });
  });

  it('keeps an unknown file path as the volume with an empty pool, so the diff sees it', () => {
    const parsed = parseDomainXml(fixture('domain-file-disks.xml'));
    expect(parsed.config.disks[0]).toEqual({ target: 'vda', pool: '', volume: `${scope.storageDir}/${scope.domainPrefix}vm1.qcow2`, format: 'qcow2' });
  });

  it('reads what the core renders exactly as libvirt\'s normalised form (MAC case, MiB)', () => {
    const xml = domainXml({ name: 'd1', vm: 'alice-vm', memoryMiB: 512, vcpus: 2, type: 'kvm', pool: 'p', disks: [{ volume: 'a.qcow2', target: 'vda' }], nics: [{ mac: '52:54:00:AB:CD:EF', network: 'qvd' }], kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0' });
    expect(parseDomainXml(xml)).toEqual({
      name: 'd1',
      managedVm: 'alice-vm',
      config: { type: 'kvm', memoryMiB: 512, vcpus: 2, disks: [{ target: 'vda', pool: 'p', volume: 'a.qcow2', format: 'qcow2' }], nics: [{ mac: '52:54:00:ab:cd:ef', network: 'qvd' }], kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0' },
    });
  });

  it('finds qvd metadata under any namespace prefix, and ignores other metadata', () => {
    const xml = `<domain type='qemu'><name>x</name><metadata><other:vm xmlns:other="urn:other" name="nope"/><q:vm xmlns:q="https://qvd.dev/xmlns/vm/1" name="vm7"/></metadata><memory>1048576</memory><vcpu>1</vcpu></domain>`;
    expect(parseDomainXml(xml).managedVm).toBe('vm7');
    const foreign = `<domain type='qemu'><name>x</name><metadata><other:vm xmlns:other="urn:other" name="nope"/></metadata><memory>1048576</memory></domain>`;
    expect(parseDomainXml(foreign).managedVm).toBeUndefined();
  });

  it('converts every memory unit libvirt accepts (KiB by default)', () => {
    const mem = (value: string, unit?: string): number => parseDomainXml(`<domain type='qemu'><name>x</name><memory${unit === undefined ? '' : ` unit='${unit}'`}>${value}</memory></domain>`).config.memoryMiB;
    expect(mem('262144')).toBe(256);
    expect(mem('1', 'GiB')).toBe(1024);
    expect(mem('1', 'G')).toBe(1024);
    expect(mem('512', 'M')).toBe(512);
    expect(mem(String(256 * 1024 * 1024), 'bytes')).toBe(256);
    expect(mem('1000000', 'KB')).toBeCloseTo(953.67, 2);
  });

  it('skips cdroms and keeps NICs that are not on a network with an empty network name', () => {
    const xml = `<domain type='qemu'><name>x</name><memory unit='MiB'>64</memory><devices>
      <disk type='file' device='cdrom'><source file='/iso'/><target dev='hdc'/></disk>
      <interface type='bridge'><mac address='52:54:00:00:00:01'/><source bridge='br0'/></interface></devices></domain>`;
    expect(parseDomainXml(xml).config).toMatchObject({ disks: [], nics: [{ mac: '52:54:00:00:00:01', network: '' }] });
  });

  it('rejects what it cannot read, with a reason', () => {
    expect(() => parseDomainXml('<domain type="qemu"><name>x</domain>')).toThrow(/invalid XML/);
    expect(() => parseDomainXml('<network><name>x</name></network>')).toThrow(/expected a <domain> document/);
    expect(() => parseDomainXml('<domain type="lxc"><name>x</name><memory>1</memory></domain>')).toThrow(/unsupported <domain type='lxc'>/);
    expect(() => parseDomainXml('<domain type="qemu"><memory>1</memory></domain>')).toThrow(/no <name>/);
    expect(() => parseDomainXml('<domain type="qemu"><name>x</name></domain>')).toThrow(/<memory>/);
  });
});
