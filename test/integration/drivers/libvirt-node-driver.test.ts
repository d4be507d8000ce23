import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriverFactory } from '../../../src/drivers/create-driver-factory.js';
import { LocalRunner } from '../../../src/drivers/exec/local-runner.js';
import { observeScript, observeScriptArgs } from '../../../src/drivers/libvirt/observe-script.js';
import type { NodeDriver, ObserveScope } from '../../../src/drivers/node-driver.js';
import type { DomainConfig } from '../../../src/drivers/observed-state.js';
import { NodeError } from '../../../src/errors.js';
import type { DesiredNode } from '../../../src/spec/desired-state.js';
import { startSshServer, type TestSshServer } from '../../support/ssh-server.js';
import { domainXml, networkXml, type TestNetwork } from '../../unit/drivers/test-xml.js';
import { cleanupHost, startHostLibvirt, testNames, virsh, type TestNames } from './libvirt-host.js';

const MiB = 1024 * 1024;

/**
 * The real driver end to end: this process -> our own sshd on 127.0.0.1 ->
 * the host's libvirtd (virsh over the SSH connection; domains through the
 * binding over qemu+libssh pinned to the verified host key).
 */
describe('LibvirtNodeDriver against the host libvirtd through a real sshd', () => {
  let server: TestSshServer;
  let names: TestNames;
  let work: string;
  let driver: NodeDriver;
  let scope: ObserveScope;
  let image: string;
  let imageSha: string;
  let net: TestNetwork;
  const timings: Record<string, number> = {};

  const mac = (i: number): string => `52:54:00:${names.suffix.slice(0, 2)}:${names.suffix.slice(2, 4)}:${i.toString(16).padStart(2, '0')}`;
  const vmDisk = (i: number): string => `${names.prefix}vm${i}.qcow2`;
  const time = async <T>(label: string, fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await fn();
    } finally {
      timings[label] = Math.round(performance.now() - started);
    }
  };

  beforeAll(async () => {
    startHostLibvirt();
    names = testNames('drv');
    mkdirSync(names.base, { recursive: true });
    // QEMU runs as libvirt-qemu: every directory on the way to the images must let it through.
    chmodSync(names.base, 0o755);
    server = await startSshServer();
    work = mkdtempSync(join(tmpdir(), 'qvd-driver-'));
    image = join(work, 'base.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '64M']);
    imageSha = createHash('sha256').update(readFileSync(image)).digest('hex');
    scope = { network: names.network, pool: names.pool, storageDir: names.storageDir, domainPrefix: names.prefix };
    net = {
      name: names.network,
      bridge: names.bridge,
      gateway: `${names.subnet}.1`,
      prefix: 24,
      rangeStart: `${names.subnet}.100`,
      rangeEnd: `${names.subnet}.199`,
      hosts: [
        { mac: mac(1), ip: `${names.subnet}.11`, name: 'vm1' },
        { mac: mac(2), ip: `${names.subnet}.12`, name: 'vm2' },
      ],
    };
    const node: DesiredNode = {
      name: 'node-a',
      address: '127.0.0.1',
      local: false,
      ssh: { user: 'root', port: server.port, privateKey: server.privateKeyPath, hostKeyFingerprint: server.hostKeyFingerprint },
      libvirtUri: 'qemu:///system',
      capacity: { memoryMb: 4096, vcpus: 2, maxVms: 50 },
      storageDir: names.storageDir,
      blocked: false,
      labels: {},
    };
    driver = createDriverFactory({ workDir: join(work, 'state') }).forNode(node);
  });

  afterAll(async () => {
    await driver?.close();
    if (names !== undefined) cleanupHost(names);
    await server?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
    console.log('driver timings (ms):', JSON.stringify(timings));
  });

  it('observes an empty node: facts only, in one round trip', async () => {
    const observed = await time('observe-empty', () => driver.observe(scope));
    expect(observed.node).toBe('node-a');
    expect(observed.facts).toMatchObject({ qemuImg: true, libvirtVersion: '9.0.0', storageDirUsable: true });
    expect(observed.facts.hardwareVirt).toBe(execFileSync('bash', ['-c', "grep -Eqw 'vmx|svm' /proc/cpuinfo && echo yes || echo no"], { encoding: 'utf8' }).trim() === 'yes');
    expect(observed.facts.hostname).toBe(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim());
    expect(observed.facts.freeDiskBytes).toBeGreaterThan(0);
    expect(observed.facts.sshHostKey).toEqual({ fingerprint: server.hostKeyFingerprint, type: 'ssh-ed25519', trustedOnFirstUse: false });
    expect(observed.facts.problems).toBeUndefined();
    expect(observed).toMatchObject({ networks: [], pools: [], volumes: [], domains: [] });
  });

  it('ensurePool creates, builds, starts and autostarts a dir pool; again is a no-op', async () => {
    await time('ensurePool', () => driver.ensurePool(names.pool, names.storageDir));
    await driver.ensurePool(names.pool, names.storageDir);
    const info = virsh('pool-info', names.pool);
    expect(info).toMatch(/State:\s+running/);
    expect(info).toMatch(/Autostart:\s+yes/);
    expect(execFileSync('runuser', ['-u', 'libvirt-qemu', '--', 'test', '-x', names.storageDir]).length).toBe(0);
    const observed = await driver.observe(scope);
    expect(observed.pools).toEqual([{ name: names.pool, active: true, path: names.storageDir }]);
  });

  it('ensurePool refuses a pool of that name on another path', async () => {
    const error = await driver.ensurePool(names.pool, `${names.base}/elsewhere`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeError);
    expect((error as Error).message).toMatch(/exists as a dir pool on/);
  });

  it('uploadImage uploads once, verifies, and skips when the checksum is already there', async () => {
    const progress: number[] = [];
    await time('uploadImage', () => driver.uploadImage(names.pool, 'base.qcow2', image, imageSha, (sent) => progress.push(sent)));
    expect(progress.at(-1)).toBe(statSync(image).size);
    const sidecar = join(names.storageDir, 'base.qcow2.sha256');
    const before = statSync(sidecar).mtimeMs;
    const again: number[] = [];
    await time('uploadImage-present', () => driver.uploadImage(names.pool, 'base.qcow2', image, imageSha, (sent) => again.push(sent)));
    expect(again).toEqual([]);
    expect(statSync(sidecar).mtimeMs).toBe(before);
    const error = await driver.uploadImage(names.pool, 'base.qcow2', image, 'f'.repeat(64)).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/already exists with other content/);
  });

  it('uploadImages puts several files in the same round trips, each with its own outcome', async () => {
    const kernel = join(work, 'vmlinuz');
    writeFileSync(kernel, 'not really a kernel\n');
    const kernelSha = createHash('sha256').update(readFileSync(kernel)).digest('hex');
    const outcomes = await driver.uploadImages!(names.pool, [
      { volume: 'base.qcow2', localPath: image, sha256: imageSha },
      { volume: `${names.prefix}k.kernel`, localPath: kernel, sha256: kernelSha },
      { volume: `${names.prefix}bad.kernel`, localPath: kernel, sha256: '0'.repeat(64) },
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, false]);
    expect(outcomes[2]?.ok === false && outcomes[2].error.message).toMatch(new RegExp(`expected sha256 0{64}, the node computed ${kernelSha}`));
    expect(readFileSync(join(names.storageDir, `${names.prefix}k.kernel.sha256`), 'utf8')).toBe(`${kernelSha}  ${names.prefix}k.kernel\n`);
    expect(readdirSync(names.storageDir).filter((f) => f.startsWith('.qvd-') || f.includes('bad.kernel'))).toEqual([]);
    await driver.deleteVolume(names.pool, `${names.prefix}k.kernel`);
  });

  it('createVolume makes an overlay with an explicit backing format, and a home volume; both idempotent', async () => {
    await time('createVolume-overlay', () => driver.createVolume(names.pool, vmDisk(1), { backing: { volume: 'base.qcow2', format: 'qcow2' } }));
    await driver.createVolume(names.pool, vmDisk(1), { backing: { volume: 'base.qcow2', format: 'qcow2' } });
    await driver.createVolume(names.pool, `${names.prefix}home1.qcow2`, { capacityBytes: 32 * MiB });
    await driver.createVolume(names.pool, `${names.prefix}home1.qcow2`, { capacityBytes: 32 * MiB });
    const info = execFileSync('qemu-img', ['info', '--output=json', join(names.storageDir, vmDisk(1))], { encoding: 'utf8' });
    expect(JSON.parse(info)).toMatchObject({ 'backing-filename': join(names.storageDir, 'base.qcow2'), 'backing-filename-format': 'qcow2', 'virtual-size': 64 * MiB });
  });

  it('createVolume refuses an existing volume of another kind', async () => {
    const error = await driver.createVolume(names.pool, `${names.prefix}home1.qcow2`, { backing: { volume: 'base.qcow2', format: 'qcow2' } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NodeError);
    expect((error as Error).message).toMatch(/already exists as qcow2, not as qcow2 backed by base.qcow2/);
    const missing = await driver.createVolume(names.pool, `${names.prefix}x.qcow2`, { backing: { volume: 'missing.qcow2', format: 'qcow2' } }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(NodeError);
    expect((missing as Error).message).toMatch(/creating volume .*x\.qcow2 failed: .*missing\.qcow2/s);
  });

  it('createVolumes makes a batch in one round trip, each volume with its own outcome, and libvirt lists the new ones', async () => {
    const outcomes = await driver.createVolumes!(names.pool, [
      { volume: vmDisk(2), backing: { volume: 'base.qcow2', format: 'qcow2' } },
      { volume: `${names.prefix}home1.qcow2`, capacityBytes: 32 * MiB },
      { volume: `${names.prefix}y.qcow2`, backing: { volume: 'missing.qcow2', format: 'qcow2' } },
      { volume: vmDisk(1), capacityBytes: MiB },
      { volume: `${names.prefix}home2.qcow2`, capacityBytes: 16 * MiB },
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, false, false, true]);
    expect(outcomes[2]?.ok === false && outcomes[2].error.message).toMatch(/creating volume .*y\.qcow2 failed: .*missing\.qcow2/s);
    expect(outcomes[3]?.ok === false && outcomes[3].error.message).toMatch(/vm1\.qcow2 already exists as qcow2 backed by base\.qcow2, not as qcow2$/);
    expect(virsh('vol-list', names.pool)).toContain(vmDisk(2));
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(names.storageDir, vmDisk(2))], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(info).toMatchObject({ format: 'qcow2', 'backing-filename': join(names.storageDir, 'base.qcow2'), 'backing-filename-format': 'qcow2', 'virtual-size': 64 * MiB });
    expect((statSync(join(names.storageDir, `${names.prefix}home2.qcow2`)).mode & 0o777).toString(8)).toBe('600');
    // Neither temporaries nor half-made volumes stay behind.
    expect(readdirSync(names.storageDir).filter((f) => f.startsWith('.qvd-') || f.includes('y.qcow2'))).toEqual([]);
    await driver.deleteVolume(names.pool, vmDisk(2));
    await driver.deleteVolume(names.pool, `${names.prefix}home2.qcow2`);
  });

  it('resizeVolume grows, is a no-op at the same size, refuses to shrink', async () => {
    await driver.resizeVolume(names.pool, `${names.prefix}home1.qcow2`, 48 * MiB);
    await driver.resizeVolume(names.pool, `${names.prefix}home1.qcow2`, 48 * MiB);
    const error = await driver.resizeVolume(names.pool, `${names.prefix}home1.qcow2`, 16 * MiB).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/shrinking/);
  });

  it('observe shows the volumes with backing, format, capacity and checksum, and not the sidecar', async () => {
    const observed = await driver.observe(scope);
    expect(observed.volumes).toEqual([
      { pool: names.pool, name: 'base.qcow2', path: join(names.storageDir, 'base.qcow2'), format: 'qcow2', capacityBytes: 64 * MiB, sha256: imageSha },
      { pool: names.pool, name: `${names.prefix}home1.qcow2`, path: join(names.storageDir, `${names.prefix}home1.qcow2`), format: 'qcow2', capacityBytes: 48 * MiB },
      { pool: names.pool, name: vmDisk(1), path: join(names.storageDir, vmDisk(1)), format: 'qcow2', capacityBytes: 64 * MiB, backingPath: join(names.storageDir, 'base.qcow2'), backingFormat: 'qcow2' },
    ]);
  });

  it('a local: true node (no SSH) observes the same', async () => {
    const local = createDriverFactory({ workDir: join(work, 'state') }).forNode({ ...localNode(), storageDir: names.storageDir });
    try {
      const remote = await driver.observe(scope);
      const { sshHostKey: _ignored, ...remoteFacts } = remote.facts;
      const here = await local.observe(scope);
      expect({ ...here, node: remote.node, facts: { ...here.facts, freeDiskBytes: 0 } }).toEqual({ ...remote, facts: { ...remoteFacts, freeDiskBytes: 0 } });
    } finally {
      await local.close();
    }
  });

  it('ensureNetwork defines, starts and autostarts an isolated network with DHCP hosts; again is a no-op', async () => {
    await time('ensureNetwork-create', () => driver.ensureNetwork(names.network, networkXml(net)));
    const uuid = virsh('net-uuid', names.network).trim();
    await time('ensureNetwork-same', () => driver.ensureNetwork(names.network, networkXml(net)));
    expect(virsh('net-uuid', names.network).trim()).toBe(uuid);
    const observed = await driver.observe(scope);
    expect(observed.networks).toEqual([{
      name: names.network, active: true, autostart: true, bridge: names.bridge, address: net.gateway, prefix: 24, forward: false,
      dhcpRange: { start: net.rangeStart, end: net.rangeEnd },
      hosts: net.hosts,
    }]);
    expect(execFileSync('ip', ['-o', '-4', 'addr', 'show', 'dev', names.bridge], { encoding: 'utf8' })).toContain(`${net.gateway}/24`);
  });

  it('ensureNetwork changes DHCP hosts of the running network live, without a restart', async () => {
    const changed = { ...net, hosts: [net.hosts[1]!, { mac: mac(3), ip: `${names.subnet}.13`, name: 'vm3' }, { ...net.hosts[0]!, ip: `${names.subnet}.21` }] };
    const dnsmasqBefore = execFileSync('bash', ['-c', `pgrep -f '[d]nsmasq/${names.network}.conf' || true`], { encoding: 'utf8' }).trim();
    await time('ensureNetwork-hosts', () => driver.ensureNetwork(names.network, networkXml(changed)));
    const live = (await driver.observe(scope)).networks[0];
    expect(new Set(live?.hosts.map((h) => `${h.mac} ${h.ip} ${h.name ?? ''}`))).toEqual(new Set(changed.hosts.map((h) => `${h.mac} ${h.ip} ${h.name}`)));
    expect(virsh('net-dumpxml', names.network)).toContain(`${names.subnet}.21`);
    // dnsmasq is only signalled, the network was not restarted.
    expect(execFileSync('bash', ['-c', `pgrep -f '[d]nsmasq/${names.network}.conf' || true`], { encoding: 'utf8' }).trim()).toBe(dnsmasqBefore);
    await driver.ensureNetwork(names.network, networkXml(net));
    expect((await driver.observe(scope)).networks[0]?.hosts).toEqual(net.hosts);
  });

  it('ensureNetwork redefines and restarts when the range changes', async () => {
    const wider = { ...net, rangeEnd: `${names.subnet}.250` };
    await driver.ensureNetwork(names.network, networkXml(wider));
    expect((await driver.observe(scope)).networks[0]).toMatchObject({ active: true, dhcpRange: { start: net.rangeStart, end: wider.rangeEnd } });
    expect(virsh('net-dumpxml', names.network)).toContain(`${names.subnet}.250`);
    await driver.ensureNetwork(names.network, networkXml(net));
  });

  it('refuses to touch libvirt\'s default network', async () => {
    await expect(driver.removeNetwork('default')).rejects.toThrow(/refusing to manage/);
  });

  const expectedConfig = (): DomainConfig => ({
    type: 'qemu',
    memoryMiB: 128,
    vcpus: 1,
    disks: [
      { target: 'vda', pool: names.pool, volume: vmDisk(1), format: 'qcow2' },
      { target: 'vdb', pool: names.pool, volume: `${names.prefix}home1.qcow2`, format: 'qcow2' },
    ],
    nics: [{ mac: mac(1), network: names.network }],
    serialLog: join(names.base, 'vm1-serial.log'),
  });
  const vm1Xml = (): string => domainXml({
    name: `${names.prefix}vm1`,
    vm: 'vm1',
    pool: names.pool,
    disks: [{ volume: vmDisk(1), target: 'vda' }, { volume: `${names.prefix}home1.qcow2`, target: 'vdb' }],
    nics: [{ mac: mac(1).toUpperCase(), network: names.network }],
    serialLog: join(names.base, 'vm1-serial.log'),
  });

  it('defineDomain defines; again (same XML, no uuid in it) is fine', async () => {
    await time('defineDomain-first', () => driver.defineDomain(`${names.prefix}vm1`, vm1Xml()));
    const uuid = virsh('domuuid', `${names.prefix}vm1`).trim();
    await time('defineDomain-again', () => driver.defineDomain(`${names.prefix}vm1`, vm1Xml()));
    expect(virsh('domuuid', `${names.prefix}vm1`).trim()).toBe(uuid);
    const observed = await driver.observe(scope);
    expect(observed.domains).toEqual([{ name: `${names.prefix}vm1`, power: 'stopped', managedVm: 'vm1', config: expectedConfig() }]);
    if (process.env['QVD_CAPTURE_FIXTURES'] === '1') writeFixture('domain-defined.xml', virsh('dumpxml', '--inactive', `${names.prefix}vm1`));
  });

  it('defineDomain refuses XML for another name or broken XML', async () => {
    await expect(driver.defineDomain(`${names.prefix}other`, vm1Xml())).rejects.toThrow(/domain XML is for/);
    await expect(driver.defineDomain(`${names.prefix}vm1`, '<domain type="qemu"><name>x</domain>')).rejects.toThrow(/invalid domain XML/);
  });

  it('defineDomains defines a batch in one round trip; an item libvirt or qvd refuses fails alone; a redefine keeps the uuid', async () => {
    const uuid = virsh('domuuid', `${names.prefix}vm1`).trim();
    const other = (n: number, bus = 'virtio'): string =>
      domainXml({ name: `${names.prefix}vm${n}`, vm: `vm${n}`, pool: names.pool, disks: [{ volume: vmDisk(1), target: 'vda' }], nics: [{ mac: mac(n), network: names.network }] }).replace("bus='virtio'", `bus='${bus}'`);
    const outcomes = await driver.defineDomains!([
      { name: `${names.prefix}vm1`, xml: vm1Xml() },
      { name: `${names.prefix}vm2`, xml: other(2) },
      { name: `${names.prefix}vm3`, xml: other(2) },
      { name: `${names.prefix}vm4`, xml: other(4, 'bogus') },
      { name: `${names.prefix}vm5`, xml: other(5) },
    ]);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, false, false, true]);
    expect(outcomes[2]?.ok === false && outcomes[2].error.message).toMatch(/domain XML is for/);
    expect(outcomes[3]?.ok === false && outcomes[3].error.message).toMatch(new RegExp(`define domain ${names.prefix}vm4 failed: .*bogus`));
    expect(virsh('domuuid', `${names.prefix}vm1`).trim()).toBe(uuid);
    expect(virsh('list', '--all', '--name').split('\n').filter((d) => d.startsWith(names.prefix)).sort()).toEqual([`${names.prefix}vm1`, `${names.prefix}vm2`, `${names.prefix}vm5`]);
    await driver.undefineDomain(`${names.prefix}vm2`);
    await driver.undefineDomain(`${names.prefix}vm5`);
  });

  it('startDomain and stopDomain reach the state and are idempotent', async () => {
    await time('startDomain', () => driver.startDomain(`${names.prefix}vm1`));
    await driver.startDomain(`${names.prefix}vm1`);
    expect((await driver.observe(scope)).domains[0]?.power).toBe('running');
    if (process.env['QVD_CAPTURE_FIXTURES'] === '1') writeFixture('domain-running-live.xml', virsh('dumpxml', `${names.prefix}vm1`));
    await time('stopDomain-destroy', () => driver.stopDomain(`${names.prefix}vm1`, false));
    await driver.stopDomain(`${names.prefix}vm1`, false);
    expect((await driver.observe(scope)).domains[0]?.power).toBe('stopped');
  });

  it('a graceful stop only sends ACPI; with a timeout, a guest that ignores it is destroyed', async () => {
    await driver.startDomain(`${names.prefix}vm1`);
    const sent = Date.now();
    await driver.stopDomain(`${names.prefix}vm1`, true);
    expect(Date.now() - sent).toBeLessThan(5000);
    // No OS in this guest: nothing handles the power button.
    expect(virsh('domstate', `${names.prefix}vm1`).trim()).toBe('running');
    const started = Date.now();
    await driver.stopDomain(`${names.prefix}vm1`, true, { timeoutMs: 1500 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(virsh('domstate', `${names.prefix}vm1`).trim()).toBe('shut off');
  });

  it('maps a disk libvirt shows by file path back to its pool volume, and reads direct kernel boot', async () => {
    const name = `${names.prefix}byfile`;
    const xml = vm1Xml().replace(`${names.prefix}vm1<`, `${name}<`).replace(/<disk type='volume' device='disk'>\s*<driver name='qemu' type='qcow2'\/>\s*<source pool='[^']+' volume='([^']+)'\/>/g,
      (_m, volume: string) => `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${join(names.storageDir, volume)}'/>`);
    const boot = `<type arch='x86_64'>hvm</type><kernel>${names.base}/vmlinuz</kernel><initrd>${names.base}/initrd.img</initrd><cmdline>console=ttyS0 qvd.x="a&amp;b" quiet</cmdline>`;
    await driver.defineDomain(name, xml.replace("<type arch='x86_64'>hvm</type>", boot));
    const observed = (await driver.observe(scope)).domains.find((d) => d.name === name);
    expect(observed?.config).toEqual({ ...expectedConfig(), kernel: `${names.base}/vmlinuz`, initrd: `${names.base}/initrd.img`, cmdline: 'console=ttyS0 qvd.x="a&b" quiet' });
    if (process.env['QVD_CAPTURE_FIXTURES'] === '1') writeFixture('domain-file-disks.xml', virsh('dumpxml', '--inactive', name));
    await driver.undefineDomain(name);
  });

  it('undefineDomain destroys a running domain first; again is fine', async () => {
    await driver.startDomain(`${names.prefix}vm1`);
    await time('undefineDomain-running', () => driver.undefineDomain(`${names.prefix}vm1`));
    await driver.undefineDomain(`${names.prefix}vm1`);
    expect((await driver.observe(scope)).domains).toEqual([]);
    await expect(driver.startDomain(`${names.prefix}vm1`)).rejects.toThrow(/not defined/);
    await driver.stopDomain(`${names.prefix}vm1`, false);
  });

  it('measures: define 20 domains, observe a node with 20 domains', async () => {
    const count = 20;
    for (let i = 1; i <= count; i++) await driver.createVolume(names.pool, vmDisk(100 + i), { backing: { volume: 'base.qcow2', format: 'qcow2' } });
    const started = performance.now();
    const outcomes = await driver.defineDomains!(
      Array.from({ length: count }, (_, k) => {
        const i = k + 1;
        return { name: `${names.prefix}m${i}`, xml: domainXml({ name: `${names.prefix}m${i}`, vm: `m${i}`, pool: names.pool, disks: [{ volume: vmDisk(100 + i), target: 'vda' }], nics: [{ mac: mac(100 + i), network: names.network }] }) };
      }),
    );
    timings['define-20-domains'] = Math.round(performance.now() - started);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    const rounds: number[] = [];
    let observed;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      observed = await driver.observe(scope);
      rounds.push(Math.round(performance.now() - t));
    }
    timings['observe-20-domains-median'] = rounds.sort((a, b) => a - b)[2] ?? 0;
    if (process.env['QVD_CAPTURE_FIXTURES'] === '1') {
      const raw = await new LocalRunner('fixture').runScript(observeScript, { args: observeScriptArgs('fixturetoken', 'qemu:///system', scope) });
      writeFixture('observe-output.txt', raw.stdout);
      writeFixture('observe-scope.json', JSON.stringify(scope, null, 2));
    }
    expect(observed?.domains).toHaveLength(count);
    expect(observed?.volumes).toHaveLength(3 + count);
    // Expected names are only a hint: whatever they say, the node reads the same (free disk space aside: the host's disk is shared).
    const same = (o: typeof observed): unknown => ({ ...o, facts: { ...o?.facts, freeDiskBytes: 0 } });
    const domains = observed?.domains.map((d) => d.name) ?? [];
    const volumes = observed?.volumes.map((v) => v.name) ?? [];
    for (const expected of [
      { domains, volumes },
      { domains: [...domains.slice(0, 7), `${names.prefix}absent`, 'not-prefixed'], volumes: [...volumes.slice(5), 'absent.qcow2', 'bad name.qcow2'] },
      { domains: [], volumes: [] },
    ]) {
      expect(same(await driver.observe({ ...scope, expected }))).toEqual(same(observed));
    }
    // Expected at another path than the pool's (a storage_dir spelt differently): read by the listing's path instead.
    expect(same(await driver.observe({ ...scope, storageDir: `${scope.storageDir}/`, expected: { domains, volumes } }))).toEqual(same(observed));
    for (let i = 1; i <= count; i++) await driver.undefineDomain(`${names.prefix}m${i}`);
    for (let i = 1; i <= count; i++) await driver.deleteVolume(names.pool, vmDisk(100 + i));
  });

  it('deleteVolume, removeNetwork, removePool remove and are idempotent', async () => {
    await driver.deleteVolume(names.pool, vmDisk(1));
    await driver.deleteVolume(names.pool, vmDisk(1));
    await driver.deleteVolume(names.pool, 'base.qcow2');
    await driver.deleteVolume(names.pool, 'base.qcow2');
    expect(statSafe(join(names.storageDir, 'base.qcow2.sha256'))).toBe(false);
    await driver.removeNetwork(names.network);
    await driver.removeNetwork(names.network);
    await driver.removePool(names.pool);
    await driver.removePool(names.pool);
    const observed = await driver.observe(scope);
    expect(observed).toMatchObject({ networks: [], pools: [], volumes: [], domains: [] });
  });
});

function localNode(): DesiredNode {
  return {
    name: 'node-local', address: '127.0.0.1', local: true, ssh: { user: 'root', port: 22 }, libvirtUri: 'qemu:///system',
    capacity: { memoryMb: 4096, vcpus: 2, maxVms: 50 }, storageDir: '/', blocked: false, labels: {},
  };
}

function statSafe(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function writeFixture(name: string, content: string): void {
  writeFileSync(join(import.meta.dirname, '../../unit/drivers/fixtures', name), content);
}
