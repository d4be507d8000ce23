import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDriverFactory } from '../../../src/drivers/create-driver-factory.js';
import { SshRunner } from '../../../src/drivers/exec/ssh/ssh-runner.js';
import type { NodeDriver, ObserveScope } from '../../../src/drivers/node-driver.js';
import type { DesiredNode } from '../../../src/spec/desired-state.js';
import { domainXml, networkXml } from '../../unit/drivers/test-xml.js';

/**
 * The driver against one of the isolated test nodes of scripts/testenv (its
 * own netns, sshd and system libvirtd), booting the tiny test guest: the
 * guest getting its DHCP lease from our network and seeing its disk through
 * our overlay proves the XML conventions end to end. Skipped when the
 * integration global setup did not provide a test environment.
 */
const env = inject('testenv' as never) as unknown as { nodes: readonly TestEnvNode[]; image: { kernel: string; initrd: string; disk: string; sha256: string } } | undefined;
if (env === undefined || env.nodes.length === 0) throw new Error('test/support/global-setup.ts must provide the test nodes (testenv)');

interface TestEnvNode {
  readonly name: string;
  readonly address: string;
  readonly sshPort: number;
  readonly sshUser: string;
  readonly privateKey: string;
  readonly hostKeyFingerprint: string;
  readonly storageDir: string;
}

describe('LibvirtNodeDriver on an isolated test node, booting the test guest', () => {
  const suffix = randomBytes(3).toString('hex');
  const names = { pool: `qvdt-e-${suffix}`, network: `qvdt-e-${suffix}`, bridge: `qvde${suffix}`, prefix: `qvdt-e-${suffix}-` };
  const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
  const mac = `52:54:00:${suffix.slice(0, 2)}:${suffix.slice(2, 4)}:${suffix.slice(4, 6)}`;
  const ip = `${subnet}.11`;
  let node: TestEnvNode;
  let driver: NodeDriver;
  let shell: SshRunner;
  let scope: ObserveScope;
  let work: string;
  let storageDir: string;
  let serialLog: string;

  beforeAll(async () => {
    node = env!.nodes[0]!;
    work = mkdtempSync(join(tmpdir(), 'qvd-driver-env-'));
    storageDir = `${node.storageDir}/drv-${suffix}`;
    serialLog = `${node.storageDir}/drv-${suffix}-serial.log`;
    scope = { network: names.network, pool: names.pool, storageDir, domainPrefix: names.prefix };
    const desired: DesiredNode = {
      name: node.name,
      address: node.address,
      local: false,
      ssh: { user: node.sshUser, port: node.sshPort, privateKey: node.privateKey, hostKeyFingerprint: node.hostKeyFingerprint },
      libvirtUri: 'qemu:///system',
      capacity: { memoryMb: 2048, vcpus: 2, maxVms: 10 },
      storageDir,
      blocked: false,
      labels: {},
    };
    driver = createDriverFactory({ workDir: work }).forNode(desired);
    shell = new SshRunner({ node: node.name, host: node.address, port: node.sshPort, user: node.sshUser, privateKey: readFileSync(node.privateKey, 'utf8'), hostKeyFingerprint: node.hostKeyFingerprint });
  });

  afterAll(async () => {
    // Through the driver first; then by hand, in case the driver is what broke.
    await driver?.undefineDomain(`${names.prefix}vm1`).catch(() => undefined);
    await driver?.removeNetwork(names.network).catch(() => undefined);
    await driver?.removePool(names.pool).catch(() => undefined);
    await driver?.close();
    await shell?.runScript(`virsh destroy '${names.prefix}vm1'; virsh undefine '${names.prefix}vm1'; virsh net-destroy '${names.network}'; virsh net-undefine '${names.network}'; virsh pool-destroy '${names.pool}'; virsh pool-undefine '${names.pool}'; rm -rf '${storageDir}' '${serialLog}'`, { okExitCodes: [0, 1] }).catch(() => undefined);
    await shell?.close();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('converges the node and the guest boots on our disk and network', async () => {
    const empty = await driver.observe(scope);
    expect(empty.facts).toMatchObject({ qemuImg: true, storageDirUsable: true, sshHostKey: { fingerprint: node.hostKeyFingerprint, trustedOnFirstUse: false } });
    expect(empty.facts.problems).toBeUndefined();

    await driver.ensurePool(names.pool, storageDir);
    await driver.uploadImage(names.pool, 'image.qcow2', env!.image.disk, env!.image.sha256);
    await driver.createVolume(names.pool, `${names.prefix}vm1.qcow2`, { backing: { volume: 'image.qcow2', format: 'qcow2' } });
    await driver.ensureNetwork(names.network, networkXml({ name: names.network, bridge: names.bridge, gateway: `${subnet}.1`, prefix: 24, rangeStart: `${subnet}.100`, rangeEnd: `${subnet}.199`, hosts: [{ mac, ip, name: 'vm1' }] }));
    await driver.defineDomain(`${names.prefix}vm1`, domainXml({
      name: `${names.prefix}vm1`, vm: 'vm1', memoryMiB: 256, pool: names.pool,
      disks: [{ volume: `${names.prefix}vm1.qcow2`, target: 'vda' }],
      nics: [{ mac, network: names.network }],
      kernel: env!.image.kernel, initrd: env!.image.initrd, cmdline: 'console=ttyS0',
      serialLog,
    }));
    await driver.startDomain(`${names.prefix}vm1`);

    const observed = await driver.observe(scope);
    expect(observed.domains).toEqual([expect.objectContaining({ name: `${names.prefix}vm1`, power: 'running', managedVm: 'vm1' })]);
    expect(observed.volumes.find((v) => v.name === 'image.qcow2')?.sha256).toBe(env!.image.sha256);

    // The guest reports its lease on the serial console: it must be the address our DHCP host entry gave its MAC.
    let log = '';
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !/QVD-TEST-READY/.test(log)) {
      await new Promise((r) => setTimeout(r, 1000));
      log = (await shell.run(['cat', serialLog], { okExitCodes: [0, 1] })).stdout;
    }
    expect(log).toMatch(/QVD-TEST-DISK \S+/);
    expect(log).toContain(`QVD-TEST-IP ${ip}`);

    // This guest handles the ACPI power button: a graceful stop ends without the destroy fallback.
    const started = Date.now();
    await driver.stopDomain(`${names.prefix}vm1`, true, { timeoutMs: 60_000 });
    expect(Date.now() - started).toBeLessThan(60_000);
    expect((await driver.observe(scope)).domains[0]?.power).toBe('stopped');
  });
});
