import { mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestEnv } from './testenv.js';

export interface TestVm {
  readonly name: string;
  readonly user?: string;
  readonly node?: string;
  readonly power?: 'on-demand' | 'running' | 'stopped';
  readonly ip?: string;
}

export interface SpecOptions {
  readonly vms: readonly TestVm[];
  readonly memoryMb?: number;
  readonly homeSizeMb?: number;
  /** Override a node's fingerprint (to test a wrong one). */
  readonly fingerprint?: Record<string, string>;
  readonly network?: { readonly name: string; readonly bridge: string; readonly cidr: string };
  readonly imageSource?: string;
  readonly imageSha256?: string;
  readonly extraSettings?: string;
}

/**
 * A network of its own for each test file (`slot`), so that leftovers of one
 * file never collide with the next: names carry the pid, addresses the slot.
 */
export function testNetwork(slot: number): { name: string; bridge: string; cidr: string } {
  const tag = `${process.pid.toString(36)}${slot}`;
  return { name: `qvdt-${tag}`, bridge: `qb${tag}`.slice(0, 15), cidr: `10.214.${slot}.0/24` };
}

/**
 * A spec for the test nodes of this run: nodes n1 and n2 with their real
 * addresses, keys and host key fingerprints, the test guest image booting
 * its own kernel, and the VMs asked for. Unique network and bridge names so
 * that parallel runs do not collide.
 */
export function specYaml(env: TestEnv, opts: SpecOptions): string {
  const net = opts.network ?? testNetwork(0);
  const nodes = env.nodes.map(
    (n, i) => `  - name: n${i + 1}
    address: ${n.address}
    ssh:
      user: ${n.sshUser}
      port: ${n.sshPort}
      private_key: ${n.privateKey}
      host_key_fingerprint: "${opts.fingerprint?.[`n${i + 1}`] ?? n.hostKeyFingerprint}"
    storage_dir: ${n.storageDir}
    capacity: { memory_mb: 4096, vcpus: 2, max_vms: 30 }`,
  );
  const vms = opts.vms.map(
    (v) => `  - name: ${v.name}
    user: ${v.user ?? 'alice'}
    image: tiny
${v.node === undefined ? '' : `    node: ${v.node}\n`}${v.power === undefined ? '' : `    power: ${v.power}\n`}${v.ip === undefined ? '' : `    ip: ${v.ip}\n`}`,
  );
  return `version: 1
settings:
  network:
    name: ${net.name}
    bridge: ${net.bridge}
    cidr: ${net.cidr}
${opts.extraSettings ?? ''}
nodes:
${nodes.join('\n')}
images:
  - name: tiny
    source: ${opts.imageSource ?? env.image.disk}
    sha256: "${opts.imageSha256 ?? env.image.sha256}"
    memory_mb: ${opts.memoryMb ?? 128}
    home_size_mb: ${opts.homeSizeMb ?? 16}
    vma: false
    boot:
      kernel: ${env.image.kernel}
      initrd: ${env.image.initrd}
      cmdline: console=ttyS0
users:
  - login: alice
    password: { hash: "$qvd-sha256$qvd1234$gF7cemH4TAk9hgXhfRbmGsabY4w5p4fdOGj2A4/hK/w" }
  - login: bob
    password: { hash: "$qvd-sha256$qvd1234$gF7cemH4TAk9hgXhfRbmGsabY4w5p4fdOGj2A4/hK/w" }
vms:${vms.length === 0 ? ' []' : `\n${vms.join('\n')}`}
`;
}

/** A fresh directory holding qvd.yaml (and so its own .qvd/ store). */
export async function writeSpec(env: TestEnv, opts: SpecOptions, dir?: string): Promise<string> {
  const d = dir ?? (await mkdtemp('/var/tmp/qvd-spec-'));
  const file = join(d, 'qvd.yaml');
  await writeFile(file, specYaml(env, opts));
  return file;
}
