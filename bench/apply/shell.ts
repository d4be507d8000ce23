// The floor: what a plain shell script over SSH needs for the same work.
// First run: one scp of the image files, then ONE ssh running a script that
// makes network and pool and, per domain, `qemu-img create` (root overlay,
// home disk) + `virsh define`. Rerun: one ssh whose loop checks network,
// pool, image files and `virsh dominfo` per domain and skips what exists.
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { timed, type Timed } from './exec.js';
import { ssh, sshOptions, type BenchNode } from './testnode.js';
import type { Workload } from './workload.js';

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const heredoc = (file: string, body: string): string => {
  if (/^QVDXML$/m.test(body)) throw new Error('XML holds the heredoc delimiter');
  return `cat >${file} <<'QVDXML'\n${body.endsWith('\n') ? body : `${body}\n`}QVDXML\n`;
};

function header(w: Workload): string {
  return `set -e
u=qemu:///system
S=${q(w.storageDir)}
v() { virsh -q -c "$u" "$@"; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
`;
}

function netAndPool(w: Workload): string {
  return `${heredoc('"$t/net.xml"', w.network.xml)}v net-define "$t/net.xml" >/dev/null
v net-start ${q(w.network.name)} >/dev/null
v net-autostart ${q(w.network.name)} >/dev/null
v pool-define-as ${q(w.pool)} dir --target "$S" >/dev/null
v pool-build ${q(w.pool)} >/dev/null
v pool-start ${q(w.pool)} >/dev/null
v pool-autostart ${q(w.pool)} >/dev/null
`;
}

function oneDomain(d: Workload['domains'][number]): string {
  return `${heredoc('"$t/d.xml"', d.xml)}qemu-img create -q -f qcow2 -F qcow2 -b "$S"/${q(d.root.backing)} "$S"/${q(d.root.volume)}
qemu-img create -q -f qcow2 "$S"/${q(d.home.volume)} ${d.home.bytes}
v define "$t/d.xml" >/dev/null
`;
}

export function firstScript(w: Workload): string {
  return `${header(w)}${netAndPool(w)}${w.domains.map(oneDomain).join('')}v pool-refresh ${q(w.pool)} >/dev/null
echo done
`;
}

export function rerunScript(w: Workload): string {
  const images = w.images.map((i) => `[ -s "$S"/${q(i.volume)} ] || { echo "missing image ${i.volume}" >&2; exit 1; }\n`).join('');
  const doms = w.domains
    .map((d) => `if v dominfo ${q(d.name)} >/dev/null 2>&1; then skipped=$((skipped+1)); else\n${oneDomain(d)}made=$((made+1)); fi\n`)
    .join('');
  return `${header(w)}made=0 skipped=0
if ! v net-info ${q(w.network.name)} >/dev/null 2>&1 || ! v pool-info ${q(w.pool)} >/dev/null 2>&1; then
${netAndPool(w)}fi
${images}${doms}if [ "$made" -gt 0 ]; then v pool-refresh ${q(w.pool)} >/dev/null; fi
echo "made=$made skipped=$skipped"
`;
}

/** First run: scp of the images (under their volume names), then the script. */
export async function shellFirst(n: BenchNode, w: Workload, workDir: string): Promise<{ ms: number; cpuS: number | undefined; parts: Timed[] }> {
  const stage = join(workDir, 'shell-stage');
  await mkdir(stage, { recursive: true });
  for (const i of w.images) await symlink(i.source, join(stage, i.volume)).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
  const scpOpts = sshOptions(n).map((o) => (o === '-p' ? '-P' : o));
  const started = performance.now();
  const copy = await timed('scp', ['-q', ...scpOpts, ...w.images.map((i) => join(stage, i.volume)), `${n.sshUser}@${n.address}:${w.storageDir}/`]);
  if (copy.code !== 0) throw new Error(`shell: scp failed: ${copy.stderr}`);
  const run = await ssh(n, firstScript(w));
  const ms = performance.now() - started;
  if (run.code !== 0 || !run.stdout.includes('done')) throw new Error(`shell: first run failed: ${run.stderr}`);
  return { ms, cpuS: (copy.cpuS ?? NaN) + (run.cpuS ?? NaN), parts: [copy, run] };
}

export async function shellRerun(n: BenchNode, w: Workload): Promise<Timed> {
  const r = await ssh(n, rerunScript(w));
  if (r.code !== 0) throw new Error(`shell: rerun failed: ${r.stderr}`);
  if (!r.stdout.includes(`made=0 skipped=${w.domains.length}`)) throw new Error(`shell: rerun was not a no-op: ${r.stdout}`);
  return r;
}
