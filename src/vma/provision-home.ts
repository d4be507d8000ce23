import { access, mkdir, readFile } from 'node:fs/promises';
import type { ProcessRunner } from './process-runner.js';
import type { HomeInfo } from './vma-api.js';

export type HomeAction = { readonly kind: 'mount'; readonly fsType: string } | { readonly kind: 'format' } | { readonly kind: 'refuse'; readonly reason: string };

/**
 * What to do with the home disk given `blkid -p -o export DEVICE`. Only a
 * disk on which blkid finds nothing at all (exit 2) is formatted: a
 * partition table, RAID member or any other signature means someone's data,
 * and formatting it would be the one unrecoverable mistake.
 */
export function decideHomeAction(blkidExitCode: number, blkidOutput: string): HomeAction {
  if (blkidExitCode === 2) return { kind: 'format' };
  if (blkidExitCode !== 0) return { kind: 'refuse', reason: `blkid failed with exit code ${blkidExitCode}` };
  const fields = new Map<string, string>();
  for (const line of blkidOutput.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  const usage = fields.get('USAGE');
  const type = fields.get('TYPE');
  if (type !== undefined && (usage === undefined || usage === 'filesystem')) return { kind: 'mount', fsType: type };
  const what = fields.get('PTTYPE') !== undefined ? `a ${fields.get('PTTYPE') ?? ''} partition table` : `${type ?? 'unknown'} (${usage ?? 'no usage'})`;
  return { kind: 'refuse', reason: `the home disk holds ${what}, not a filesystem; refusing to format it` };
}

export function isMounted(procMounts: string, mountPoint: string): boolean {
  return procMounts.split('\n').some((l) => l.split(' ')[1] === mountPoint);
}

/**
 * Mounts the VM's home disk (second virtio disk) on /home, creating an ext4
 * filesystem on its first use. Without that disk the home stays on the root
 * disk, which the overlay discards at every start: said in x_state, not fatal.
 */
export async function ensureHomeMounted(runner: ProcessRunner, device: string, mountPoint: string, log: (msg: string) => void): Promise<HomeInfo> {
  await mkdir(mountPoint, { recursive: true });
  if (isMounted(await readFile('/proc/mounts', 'utf8'), mountPoint)) return { device, formatted: false };
  if (!(await access(device).then(() => true, () => false))) {
    log(`no home disk ${device}: homes live on the root disk and are lost at the next start`);
    return { device: null, formatted: false };
  }
  const probe = await runner.run('blkid', ['-p', '-o', 'export', device]);
  const action = decideHomeAction(probe.code, probe.stdout);
  let formatted = false;
  let fsType = 'ext4';
  switch (action.kind) {
    case 'refuse':
      throw new Error(action.reason);
    case 'format': {
      log(`formatting empty home disk ${device} as ext4`);
      const mk = await runner.run('mkfs.ext4', ['-q', '-F', '-L', 'qvd-home', '-m', '0', device], { timeoutMs: 300_000 });
      if (mk.code !== 0) throw new Error(`mkfs.ext4 ${device} failed: ${mk.stderr.trim()}`);
      formatted = true;
      break;
    }
    case 'mount':
      fsType = action.fsType;
      break;
  }
  const m = await runner.run('mount', ['-t', fsType, '-o', 'nodev,nosuid', device, mountPoint]);
  if (m.code !== 0) throw new Error(`mounting ${device} on ${mountPoint} failed: ${m.stderr.trim()}`);
  log(`home disk ${device} (${fsType}) mounted on ${mountPoint}${formatted ? ' after formatting' : ''}`);
  return { device, formatted };
}
