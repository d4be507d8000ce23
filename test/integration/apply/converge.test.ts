import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { backingFile, domains, networks, runningDomains, virsh, volumes } from '../../support/node-inspect.js';
import { qvd } from '../../support/qvd-cli.js';
import { testNetwork, writeSpec, type SpecOptions } from '../../support/spec-for-testenv.js';

const env = inject('testenv');
const [n1, n2] = env.nodes;
const net = testNetwork(1);
let file: string;
const spec = async (opts: Omit<SpecOptions, 'network'>): Promise<void> => {
  file = await writeSpec(env, { ...opts, network: net }, file === undefined ? undefined : file.replace(/\/qvd\.yaml$/, ''));
};

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('qvd apply against two real libvirt nodes', () => {
  beforeAll(async () => {
    await spec({
      vms: [
        { name: 'cv-run', node: 'n1', power: 'running' },
        { name: 'cv-idle', node: 'n1' },
        { name: 'cv-two', node: 'n2' },
      ],
    });
  });
  afterAll(async () => {
    await qvd(['destroy', '-f', file, '--auto-approve', '--purge-homes']);
  });

  it('creates the network, disks and domains, and boots the running VM', async () => {
    const plan = await qvd(['plan', '-f', file, '--detailed-exitcode']);
    expect(plan.stdout).toContain('+ domain qvd-cv-run on n1');
    expect(plan.code, plan.stderr).toBe(2);

    const apply = await qvd(['apply', '-f', file, '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(apply.stdout).toMatch(/Apply complete/);

    expect((await domains(n1!)).sort()).toEqual(['qvd-cv-idle', 'qvd-cv-run']);
    expect(await domains(n2!)).toEqual(['qvd-cv-two']);
    expect(await runningDomains(n1!)).toEqual(['qvd-cv-run']);
    expect(await volumes(n1!)).toEqual([
      'img-tiny--default.initrd',
      'img-tiny--default.initrd.sha256',
      'img-tiny--default.kernel',
      'img-tiny--default.kernel.sha256',
      'img-tiny--default.qcow2',
      'img-tiny--default.qcow2.sha256',
      'vm-cv-idle-home.qcow2',
      'vm-cv-idle-root.qcow2',
      'vm-cv-run-home.qcow2',
      'vm-cv-run-root.qcow2',
    ]);
    expect(await backingFile(n1!, `${n1!.storageDir}/vm-cv-run-root.qcow2`)).toBe(`${n1!.storageDir}/img-tiny--default.qcow2`);
    expect(await networks(n1!)).toContain(net.name);
    const netXml = await virsh(n1!, 'net-dumpxml', net.name);
    expect(netXml).toMatch(/<host mac='54:52:00:[0-9a-f:]+' name='cv-run' ip='10\.214\.1\.\d+'\/>/);
    expect(netXml).not.toContain('cv-two');

    // The running VM really boots: its serial console (a file in the storage dir) shows the marker.
    const log = `${n1!.storageDir}/vm-cv-run-console.log`;
    await waitFor('the guest to boot', async () => ((await readFile(log, 'utf8').catch(() => '')).includes('QVD-TEST-BOOTED') ? true : undefined));
    const ip = await waitFor('the guest to get its address', async () => /QVD-TEST-IP (\S+)/.exec(await readFile(log, 'utf8').catch(() => ''))?.[1]);
    expect(netXml).toContain(`ip='${ip}'`);
  });

  it('plans nothing on a second run', async () => {
    const plan = await qvd(['plan', '-f', file, '--detailed-exitcode']);
    expect(plan.stdout).toContain('No changes');
    expect(plan.code, plan.stdout + plan.stderr).toBe(0);
    const status = await qvd(['status', '-f', file, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ records: { nodes: 2, vms: 3, settings: true } });
  });

  it('updates memory in place, at the next boot of the running VM', async () => {
    await spec({ memoryMb: 160, vms: [{ name: 'cv-run', node: 'n1', power: 'running' }, { name: 'cv-idle', node: 'n1' }, { name: 'cv-two', node: 'n2' }] });
    const plan = await qvd(['plan', '-f', file, '--json']);
    const value = JSON.parse(plan.stdout) as { changes: { kind: string; action: string; domain?: string; attributes: { name: string; before?: unknown; after?: unknown }[] }[] };
    const run = value.changes.find((c) => c.kind === 'domain' && c.domain === 'qvd-cv-run');
    expect(run).toMatchObject({ action: 'update-restart', attributes: [{ name: 'memory_mib', before: 128, after: 160 }] });
    expect(value.changes.find((c) => c.kind === 'domain' && c.domain === 'qvd-cv-idle')?.action).toBe('update');
    const apply = await qvd(['apply', '-f', file, '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(await virsh(n1!, 'dumpxml', '--inactive', 'qvd-cv-idle')).toContain("<memory unit='KiB'>163840</memory>");
    expect((await qvd(['plan', '-f', file, '--detailed-exitcode'])).code).toBe(0);
  });

  it('repairs drift made by hand: an undefined domain and a deleted overlay', async () => {
    await virsh(n2!, 'undefine', 'qvd-cv-two');
    await virsh(n2!, 'vol-delete', '--pool', 'qvd', 'vm-cv-two-root.qcow2');
    const plan = await qvd(['plan', '-f', file]);
    expect(plan.stdout).toContain('+ volume vm-cv-two-root.qcow2 on n2');
    expect(plan.stdout).toContain('+ domain qvd-cv-two on n2');
    expect(plan.stdout).toContain('Plan: 2 to add, 0 to change, 0 to destroy.');
    expect((await qvd(['apply', '-f', file, '--auto-approve'])).code).toBe(0);
    expect(await domains(n2!)).toEqual(['qvd-cv-two']);
    expect((await qvd(['plan', '-f', file, '--detailed-exitcode'])).code).toBe(0);
  });

  it('removing a VM deletes its domain and overlay and keeps its home disk', async () => {
    await spec({ memoryMb: 160, vms: [{ name: 'cv-run', node: 'n1', power: 'running' }, { name: 'cv-two', node: 'n2' }] });
    const apply = await qvd(['apply', '-f', file, '--auto-approve']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(await domains(n1!)).toEqual(['qvd-cv-run']);
    const vols = await volumes(n1!);
    expect(vols).not.toContain('vm-cv-idle-root.qcow2');
    expect(vols).toContain('vm-cv-idle-home.qcow2');
  });

  it('destroy leaves nothing managed on either node', async () => {
    const r = await qvd(['destroy', '-f', file, '--auto-approve', '--purge-homes']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    for (const n of [n1!, n2!]) {
      expect(await domains(n)).toEqual([]);
      expect(await volumes(n)).toEqual([]);
      expect(await networks(n)).not.toContain(net.name);
    }
    const status = await qvd(['status', '-f', file, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ records: { nodes: 0, images: 0, users: 0, vms: 0, settings: false } });
  });
});
