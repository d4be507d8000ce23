import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO, type TestNode } from './testenv.js';

const run = promisify(execFile);

/** Run a command inside a test node (its namespaces), as an admin on that node would. */
export async function onNode(node: TestNode, argv: readonly string[]): Promise<string> {
  const { stdout } = await run('bash', [join(REPO, 'scripts/testenv/node-exec.sh'), node.name, node.stateDir, ...argv], { maxBuffer: 16 << 20 });
  return stdout;
}

export const virsh = (node: TestNode, ...args: string[]): Promise<string> => onNode(node, ['virsh', '-q', '-c', 'qemu:///system', ...args]);

export async function domains(node: TestNode): Promise<string[]> {
  return (await virsh(node, 'list', '--all', '--name')).split('\n').map((s) => s.trim()).filter((s) => s !== '');
}

export async function runningDomains(node: TestNode): Promise<string[]> {
  return (await virsh(node, 'list', '--state-running', '--name')).split('\n').map((s) => s.trim()).filter((s) => s !== '');
}

/** Volumes of qvd's pool, or [] when the pool is not there. */
export async function volumes(node: TestNode): Promise<string[]> {
  const out = await virsh(node, 'vol-list', 'qvd').catch(() => '');
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '' && n !== 'Name' && !n.startsWith('---'))
    .sort();
}

export async function networks(node: TestNode): Promise<string[]> {
  return (await virsh(node, 'net-list', '--all', '--name')).split('\n').map((s) => s.trim()).filter((s) => s !== '');
}

/** The backing file of a qcow2 as qemu-img sees it. */
export async function backingFile(node: TestNode, path: string): Promise<string | undefined> {
  const info = JSON.parse(await onNode(node, ['qemu-img', 'info', '--output=json', '-U', path])) as { 'backing-filename'?: string; 'full-backing-filename'?: string };
  return info['full-backing-filename'] ?? info['backing-filename'];
}
