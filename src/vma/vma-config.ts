import { readFile } from 'node:fs/promises';
import { NX_DISPLAY, VMA_PORT } from './vma-api.js';

/** Settings of the VMA, from /etc/qvd/vma.json (every field optional). */
export interface VmaConfig {
  readonly port: number;
  readonly address: string;
  /** File holding the per-VM secret (written by PID 1 from the kernel command line). */
  readonly secretFile: string;
  /** The VM's home disk; formatted ext4 on first use, mounted on /home. */
  readonly homeDevice: string;
  /** The desktop, run as the user on DISPLAY=:100 once a client attached. */
  readonly sessionCommand: readonly string[];
  readonly display: number;
  readonly runDir: string;
}

export const DEFAULT_CONFIG: VmaConfig = {
  port: VMA_PORT,
  address: '0.0.0.0',
  secretFile: '/run/qvd/vma-secret',
  homeDevice: '/dev/vdb',
  sessionCommand: ['/etc/qvd/session'],
  display: NX_DISPLAY,
  runDir: '/run/qvd-session',
};

export async function loadVmaConfig(path: string): Promise<VmaConfig> {
  const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '{}';
    throw e;
  });
  const raw = JSON.parse(text) as Partial<VmaConfig>;
  return { ...DEFAULT_CONFIG, ...raw };
}

/** The secret, or undefined when there is none (the VMA then refuses every call). */
export async function readSecret(path: string): Promise<string | undefined> {
  const s = (await readFile(path, 'utf8').catch(() => '')).trim();
  return s === '' ? undefined : s;
}
