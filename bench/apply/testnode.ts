// Test nodes for bench:apply: brought up with scripts/testenv/node-up.sh on
// an INDEX in 240..250 that no other node uses, torn down (--purge) at the
// end, and wiped between tools so that each starts from an empty node.
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TestNode as BenchNode, TestImage } from '../../test/support/testenv.js';
import { mustRun, timed, type Timed } from './exec.js';

export const REPO = join(import.meta.dirname, '../..');
const SCRIPTS = join(REPO, 'scripts/testenv');

// The same shapes node-up.sh and build-test-image.sh print for the tests.
export type { TestNode as BenchNode, TestImage } from '../../test/support/testenv.js';
const lastJson = <T>(s: string): T => JSON.parse(s.trim().split('\n').pop() ?? '') as T;

export async function testImage(): Promise<TestImage> {
  await mustRun('start-libvirt.sh', 'bash', [join(SCRIPTS, 'start-libvirt.sh')]);
  return lastJson<TestImage>((await mustRun('build-test-image.sh', 'bash', [join(SCRIPTS, 'build-test-image.sh')])).stdout);
}

function indexLooksFree(index: number): boolean {
  try {
    execFileSync('ip', ['link', 'show', `qvdh${index}`], { stdio: 'ignore' });
    return false;
  } catch {
    // no such veth
  }
  const addrs = execFileSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' });
  return !addrs.includes(` 10.213.${index}.1/`);
}

/** Brings up node NAME on the first free INDEX of `indexes`; `onUp` learns it at once (for teardown). */
export async function nodeUp(name: string, stateDir: string, indexes: readonly number[], onUp: (n: { name: string; stateDir: string }) => void): Promise<BenchNode> {
  let last = '';
  for (const index of indexes) {
    if (!indexLooksFree(index)) continue;
    // Registered before the attempt: node-up.sh cleans up its own failure, node-down.sh is idempotent.
    onUp({ name, stateDir });
    const r = await timed('bash', [join(SCRIPTS, 'node-up.sh'), name, String(index), stateDir]);
    if (r.code === 0) return lastJson<BenchNode>(r.stdout);
    last = r.stderr;
    if (!/already in use|taken/.test(r.stderr)) throw new Error(`node-up.sh ${name} ${index} failed:\n${r.stderr}`);
  }
  throw new Error(`no free INDEX among ${indexes.join(',')} for node ${name}${last === '' ? '' : `:\n${last}`}`);
}

export async function nodeDown(n: { name: string; stateDir: string }): Promise<void> {
  const r = await timed('bash', [join(SCRIPTS, 'node-down.sh'), n.name, n.stateDir, '--purge']);
  if (r.code !== 0) console.error(`node-down.sh ${n.name} failed:\n${r.stderr}`);
}

/** OpenSSH options that pin the node's host key and touch nothing in ~/.ssh. */
export function sshOptions(n: BenchNode): string[] {
  return ['-F', '/dev/null', '-i', n.privateKey, '-o', `UserKnownHostsFile=${n.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-p', String(n.sshPort)];
}

export function ssh(n: BenchNode, script: string, timeoutMs?: number): Promise<Timed> {
  return timed('ssh', [...sshOptions(n), `${n.sshUser}@${n.address}`, 'bash -s'], { input: script, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
}

/** What is on the node: domains, networks, pools, files in the storage dir. */
export async function inventory(n: BenchNode): Promise<{ domains: number; networks: number; pools: number; files: number }> {
  const r = await ssh(n, `u=qemu:///system
echo "$(virsh -q -c $u list --all --name | grep -c .) $(virsh -q -c $u net-list --all --name | grep -c .) $(virsh -q -c $u pool-list --all --name | grep -c .) $(find ${n.storageDir} -mindepth 1 | grep -c .)"
`);
  const [domains, networks, pools, files] = r.stdout.trim().split(/\s+/).map(Number);
  if (r.code !== 0 || files === undefined) throw new Error(`cannot read node ${n.name}: ${r.stderr}`);
  return { domains: domains ?? NaN, networks: networks ?? NaN, pools: pools ?? NaN, files };
}

/** Empties the node (every domain, network, pool, volume file): between tools, and after a failure. */
export async function wipe(n: BenchNode): Promise<void> {
  const r = await ssh(n, `u=qemu:///system
for d in $(virsh -q -c $u list --all --name); do virsh -q -c $u destroy "$d" >/dev/null 2>&1; virsh -q -c $u undefine "$d" >/dev/null; done
for x in $(virsh -q -c $u net-list --all --name); do virsh -q -c $u net-destroy "$x" >/dev/null 2>&1; virsh -q -c $u net-undefine "$x" >/dev/null; done
for p in $(virsh -q -c $u pool-list --all --name); do virsh -q -c $u pool-destroy "$p" >/dev/null 2>&1; virsh -q -c $u pool-undefine "$p" >/dev/null; done
find ${n.storageDir} -mindepth 1 -delete
`);
  if (r.code !== 0) throw new Error(`wiping node ${n.name} failed:\n${r.stderr}`);
  const left = await inventory(n);
  if (left.domains + left.networks + left.pools + left.files !== 0) throw new Error(`node ${n.name} not empty after wipe: ${JSON.stringify(left)}`);
}

/**
 * The test nodes share the host's /root, and Debian's bash sources root's
 * ~/.bashrc for every command sshd runs unless SHLVL says it is nested;
 * node-up.sh therefore gives the node's sshd `SetEnv SHLVL=1` (see there).
 * `bashrc` takes that line out, so that every SSH command pays for the host's
 * .bashrc (`pyenv init` here, 0.15-0.35 s): what a node with a costly login
 * shell setup looks like. `testenv` is the node as node-up.sh makes it. sshd
 * is restarted when the config changes.
 */
export async function setNodeShell(n: BenchNode, mode: 'testenv' | 'bashrc'): Promise<void> {
  const file = join(n.stateDir, 'ssh/sshd_config');
  const line = 'SetEnv SHLVL=1';
  const text = await readFile(file, 'utf8');
  const want = mode === 'testenv';
  if (text.split('\n').includes(line) === want) return;
  await writeFile(file, want ? `${text.replace(/\n*$/, '\n')}${line}\n` : text.split('\n').filter((l) => l !== line).join('\n'));
  await mustRun('node-stop-sshd.sh', 'bash', [join(SCRIPTS, 'node-stop-sshd.sh'), n.name, n.stateDir]);
  await mustRun('node-start-sshd.sh', 'bash', [join(SCRIPTS, 'node-start-sshd.sh'), n.name, n.stateDir]);
}

/** Median wall time of `ssh node true` (a fresh OpenSSH connection each). */
export async function sshTrueMs(n: BenchNode, runs = 5): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) out.push((await ssh(n, 'true')).ms);
  return out;
}
