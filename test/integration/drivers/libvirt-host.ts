/**
 * Helpers for driver tests that use the host's own libvirtd: start it
 * without systemd, pick names and a subnet nobody uses, and remove every
 * object a test made (straight through virsh, so cleanup works even when
 * the driver under test does not).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export function startHostLibvirt(): void {
  const script = join(repo, 'scripts/testenv/start-libvirt.sh');
  if (existsSync(script)) {
    execFileSync('bash', [script], { stdio: 'pipe' });
    return;
  }
  const alive = spawnSync('virsh', ['-q', '-c', 'qemu:///system', 'version'], { stdio: 'ignore' }).status === 0;
  if (alive) return;
  for (const daemon of ['/usr/sbin/virtlogd', '/usr/sbin/virtlockd', '/usr/sbin/libvirtd']) spawnSync(daemon, ['-d'], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (spawnSync('virsh', ['-q', '-c', 'qemu:///system', 'version'], { stdio: 'ignore' }).status === 0) return;
    execFileSync('sleep', ['0.1']);
  }
  throw new Error('libvirtd did not come up');
}

export function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function virshQuiet(...args: string[]): void {
  spawnSync('virsh', ['-q', '-c', 'qemu:///system', ...args], { stdio: 'ignore' });
}

export interface TestNames {
  readonly suffix: string;
  readonly pool: string;
  readonly network: string;
  /** ≤ 15 characters, as Linux requires. */
  readonly bridge: string;
  readonly prefix: string;
  readonly base: string;
  readonly storageDir: string;
  readonly subnet: string;
}

/** Unique names, a storage dir whose parents libvirt-qemu can traverse, and a free private /24. */
export function testNames(tag: string): TestNames {
  const suffix = randomBytes(3).toString('hex');
  const base = `/var/tmp/qvd-${tag}-${suffix}`;
  return {
    suffix,
    pool: `qvdt-${tag}-${suffix}`,
    network: `qvdt-${tag}-${suffix}`,
    bridge: `qvdt${suffix}`,
    prefix: `qvdt-${tag}-${suffix}-`,
    base,
    storageDir: join(base, 'pool'),
    subnet: freeSubnet(),
  };
}

/** 10.X.Y.0/24 with X in 200..249: not on any interface or route here, not in any libvirt network. */
export function freeSubnet(): string {
  const used = execFileSync('ip', ['-o', '-4', 'addr'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', 'route'], { encoding: 'utf8' });
  let networks = '';
  try {
    networks = virsh('net-list', '--all', '--name').split('\n').filter(Boolean).map((n) => virsh('net-dumpxml', n)).join('\n');
  } catch {
    // No daemon yet: interfaces and routes are enough.
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const subnet = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!used.includes(`${subnet}.`) && !networks.includes(`${subnet}.`)) return subnet;
  }
  throw new Error('no free 10.x subnet found');
}

/** Removes domains under the prefix, the network and the pool, and the storage dir. Never fails. */
export function cleanupHost(names: TestNames): void {
  let domains: string[] = [];
  try {
    domains = virsh('list', '--all', '--name').split('\n').map((l) => l.trim()).filter((n) => n.startsWith(names.prefix));
  } catch {
    // libvirtd gone: nothing to undefine.
  }
  for (const domain of domains) {
    virshQuiet('destroy', domain);
    virshQuiet('undefine', domain);
  }
  virshQuiet('net-destroy', names.network);
  virshQuiet('net-undefine', names.network);
  virshQuiet('pool-destroy', names.pool);
  virshQuiet('pool-undefine', names.pool);
  rmSync(names.base, { recursive: true, force: true });
}
