// npm run bench:apply — qvd apply against real libvirt nodes (scripts/testenv),
// compared with Ansible (community.libvirt) and with a plain shell loop over SSH.
//
//  1. On ONE fresh test node: `qvd apply` of 20 on-demand VMs (network, pool,
//     image upload, 20 root overlays + 20 home disks, 20 domains), its no-change
//     rerun, `qvd plan` over the 20, then `qvd destroy --purge-homes`.
//  2. The same work as an Ansible playbook (first run, no-change rerun).
//  3. The floor: scp + one ssh running a shell loop (first run; rerun = dominfo checks).
//  4. A no-op `qvd plan` over TWO nodes holding 100 domains each.
// Each tool starts from an empty node. QVD_BENCH_RUNS (default 3) repetitions
// of 1–3, medians reported. QVD_BENCH_ANSIBLE_PIPELINING=0 skips the extra
// Ansible run with pipelining on; QVD_BENCH_BIG=0 skips part 4.
// Every peer talks to the same node sshd. As scripts/testenv makes it, bash
// skips root's ~/.bashrc for SSH commands (SetEnv SHLVL=1: the nodes share the
// host's /root, whose .bashrc runs pyenv init); QVD_BENCH_NODE_SHELL=bashrc
// measures with that .bashrc run by every SSH command instead, `both` both
// (default testenv; see setNodeShell).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { specYaml } from '../test/support/spec-for-testenv.js';
import { ansibleMissing, INSTALL_HINT, runPlaybook, writePlaybook, type PlaybookRun } from './apply/ansible.js';
import { loadNow, median, mustRun, timed, type Timed } from './apply/exec.js';
import { shellFirst, shellRerun } from './apply/shell.js';
import { inventory, nodeDown, nodeUp, REPO, setNodeShell, sshTrueMs, testImage, wipe, type BenchNode, type TestImage } from './apply/testnode.js';
import { workloadFromPlan, type Workload } from './apply/workload.js';
import { dropCaCertsTax } from './node-start-tax.js';

const RUNS = Math.max(1, Number(process.env['QVD_BENCH_RUNS'] ?? 3));
const VMS = 20;
const BIG_PER_NODE = 100;
const PLAN_RUNS = 3;
const WITH_PIPELINING = process.env['QVD_BENCH_ANSIBLE_PIPELINING'] !== '0';
const WITH_BIG = process.env['QVD_BENCH_BIG'] !== '0';
const INDEXES = [240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250];
const QVD = join(REPO, 'bin/qvd');

const s = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '—');
const x = (r: number): string => (Number.isFinite(r) ? `${r.toFixed(1)}×` : '—');
const log = (line: string): void => console.log(line);

// ---- teardown, also on Ctrl-C -------------------------------------------------
const upNodes: { name: string; stateDir: string }[] = [];
let base = '';
let tornDown = false;
async function teardown(): Promise<void> {
  if (tornDown) return;
  tornDown = true;
  for (const n of upNodes.splice(0)) {
    await nodeDown(n);
    // Ansible's remote_tmp: the nodes share the host's /tmp.
    await rm(`/tmp/.qvd-bench-ansible-${n.name}`, { recursive: true, force: true });
  }
  if (base !== '') await rm(base, { recursive: true, force: true });
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    console.error(`\n${sig}: tearing the bench nodes down`);
    void teardown().finally(() => process.exit(130));
  });
}

// ---- qvd ---------------------------------------------------------------------
function qvd(args: readonly string[], cwd: string): Promise<Timed> {
  return timed(process.execPath, [QVD, ...args], { cwd });
}
async function qvdOk(what: string, args: readonly string[], cwd: string, expect: RegExp): Promise<Timed> {
  const r = await qvd(args, cwd);
  if (r.code !== 0 || !expect.test(r.stdout)) throw new Error(`qvd ${what}: exit ${String(r.code)}, expected ${String(expect)}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r;
}

function spec(nodes: readonly BenchNode[], image: TestImage, vms: { name: string; node: string }[], cidr: string, maxVms: number): string {
  const text = specYaml(
    { nodes, image },
    { vms: vms.map((v) => ({ ...v, power: 'on-demand' as const })), network: { name: `qvdb${process.pid.toString(36)}`, bridge: `qvdb${process.pid.toString(36)}`.slice(0, 15), cidr } },
  );
  // specYaml caps every node at 30 VMs: the 200-VM spec needs room.
  return maxVms === 30 ? text : text.replaceAll('max_vms: 30 }', `max_vms: ${maxVms} }`);
}

async function writeSpecDir(name: string, yaml: string): Promise<string> {
  const dir = join(base, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'qvd.yaml'), yaml);
  return dir;
}

/**
 * Per-kind span of the apply steps (first start to last end, from the arrival
 * time of each progress line): steps of one kind run as one batch, so their
 * individual times overlap.
 */
function stepTimes(r: Timed): { kinds: Map<string, { count: number; from: number; to: number }>; beforeFirst: number; afterLast: number } {
  const started = new Map<string, number>();
  const kinds = new Map<string, { count: number; from: number; to: number }>();
  let first = NaN;
  let last = NaN;
  for (const { at, text } of r.lines) {
    const m = /^\S+: (.+?)(\.\.\.|: done \(.*\))$/.exec(text);
    if (m === null) continue;
    const address = m[1] as string;
    if (m[2] === '...') {
      started.set(address, at);
      if (Number.isNaN(first)) first = at;
      continue;
    }
    last = at;
    const t0 = started.get(address);
    if (t0 === undefined) continue;
    const kind = /^(\w+) domain/.test(address)
      ? `${address.split(' ')[0]} domain`
      : /-root\.qcow2/.test(address)
        ? 'root overlay'
        : /-home\.qcow2/.test(address)
          ? 'home disk'
          : (/^\w+ (\w+)/.exec(address)?.[1] ?? 'other');
    const k = kinds.get(kind) ?? kinds.set(kind, { count: 0, from: t0, to: at }).get(kind)!;
    k.count++;
    k.from = Math.min(k.from, t0);
    k.to = Math.max(k.to, at);
  }
  return { kinds, beforeFirst: first, afterLast: r.ms - last };
}

type Phases = Record<string, unknown> & { nodes: Record<string, Record<string, number>> };
async function phases(specDir: string): Promise<Phases> {
  const r = await mustRun('phases.mjs', process.execPath, [join(import.meta.dirname, 'apply/phases.mjs'), join(specDir, 'qvd.yaml')], { cwd: specDir });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Phases;
}

// ---- the run -----------------------------------------------------------------
type Cond = 'testenv' | 'bashrc';
const COND_LABEL: Record<Cond, string> = {
  testenv: "node as testenv makes it (SetEnv SHLVL=1: bash skips root's ~/.bashrc, as on a real node)",
  bashrc: "node sshd without SetEnv SHLVL=1 (root's ~/.bashrc, with `pyenv init`, runs on every SSH command)",
};
const CONDS: Cond[] = (() => {
  const v = process.env['QVD_BENCH_NODE_SHELL'] ?? 'testenv';
  return v === 'both' ? ['testenv', 'bashrc'] : v === 'bashrc' ? ['bashrc'] : ['testenv'];
})();

interface Rep {
  sshTrue: number;
  qvdFirst: Timed;
  qvdRerun: Timed;
  qvdPlans: Timed[];
  qvdDestroy: Timed;
  qvdLeftAfterDestroy: string | undefined;
  phases: Phases;
  ansible?: { first: PlaybookRun; rerun: PlaybookRun };
  ansiblePipelining?: { first: PlaybookRun; rerun: PlaybookRun };
  shellFirst: { ms: number; cpuS: number | undefined };
  shellRerun: Timed;
}

interface Big {
  apply: Timed;
  rerun: Timed;
  plans: Map<Cond, Timed[]>;
  phases: Map<Cond, Phases>;
  destroy: Timed;
  left: string | undefined;
}

/**
 * Untimed check that a baseline built what qvd would: `qvd plan` over the node
 * it left must want no node change except re-uploading the image files (the
 * baselines write no .sha256 sidecar). Returns the unexpected changes.
 */
async function sameAsQvd(probeDir: string): Promise<string[]> {
  const r = await qvd(['plan', '-f', 'qvd.yaml', '--json'], probeDir);
  if (r.code !== 0 && r.code !== 2) return [`qvd plan failed: ${r.stderr.slice(-500)}`];
  const changes = (JSON.parse(r.stdout) as { changes: { kind: string; action: string; volume?: string; domain?: string; name?: string; reason?: string; attributes?: unknown }[] }).changes;
  // With the image "replaced", qvd also rebuilds the overlays on it: that follows from the sidecars, not from a difference.
  return changes
    .filter((c) => c.kind !== 'record' && c.kind !== 'image-file' && !(c.kind === 'volume' && c.action === 'replace' && /its image changed/.test(c.reason ?? '')))
    .map((c) => `${c.action} ${c.kind} ${c.domain ?? c.volume ?? c.name ?? ''} ${JSON.stringify(c.attributes ?? [])}`);
}
const equivalence: string[] = [];

async function runTools(a: BenchNode, yaml20: string, work: Workload, ansibleOk: boolean, cond: Cond, i: number): Promise<Rep> {
  const probeDir = join(base, 'qvd-probe');
  await setNodeShell(a, cond);
  if ((await inventory(a)).domains !== 0) await wipe(a);
  const sshTrue = median(await sshTrueMs(a));
  const dir = await writeSpecDir(`qvd-${cond}-r${i}`, yaml20);
  const qvdFirst = await qvdOk('apply', ['apply', '-f', 'qvd.yaml', '--auto-approve'], dir, /Apply complete/);
  const inv = await inventory(a);
  if (inv.domains !== VMS) throw new Error(`qvd apply left ${inv.domains} domains, not ${VMS}`);
  const qvdRerun = await qvdOk('apply (rerun)', ['apply', '-f', 'qvd.yaml', '--auto-approve'], dir, /No changes/);
  const qvdPlans: Timed[] = [];
  for (let p = 0; p < PLAN_RUNS; p++) qvdPlans.push(await qvdOk('plan', ['plan', '-f', 'qvd.yaml', '--detailed-exitcode'], dir, /No changes/));
  const ph = await phases(dir);
  const qvdDestroy = await qvdOk('destroy', ['destroy', '-f', 'qvd.yaml', '--auto-approve', '--purge-homes'], dir, /Apply complete|No changes/);
  const left = await inventory(a);
  const qvdLeftAfterDestroy = left.domains + left.networks + left.pools + left.files === 0 ? undefined : JSON.stringify(left);
  if (qvdLeftAfterDestroy !== undefined) await wipe(a);
  log(`[${cond}] ssh true ${s(sshTrue)}; qvd: apply ${s(qvdFirst.ms)}, rerun ${s(qvdRerun.ms)}, plan ${s(median(qvdPlans.map((p) => p.ms)))}, destroy ${s(qvdDestroy.ms)}${qvdLeftAfterDestroy === undefined ? '' : `, LEFT ON NODE after destroy: ${qvdLeftAfterDestroy}`}`);
  const rep: Rep = { sshTrue, qvdFirst, qvdRerun, qvdPlans, qvdDestroy, qvdLeftAfterDestroy, phases: ph, shellFirst: { ms: NaN, cpuS: undefined }, shellRerun: qvdRerun };

  if (ansibleOk) {
    for (const pipelining of WITH_PIPELINING ? [false, true] : [false]) {
      const adir = join(base, `ansible-${cond}${pipelining ? '-pipelining' : ''}`);
      await writePlaybook(adir, a, work, pipelining);
      // A fresh ControlPersist directory per run: every tool starts with a cold SSH connection.
      const first = await runPlaybook(adir, join(adir, `cp-${i}-1`));
      if ((await inventory(a)).domains !== VMS) throw new Error('ansible: domains missing after the first run');
      if (i === 0 && !pipelining) equivalence.push(`[${cond}] after the Ansible run, qvd plan wants: ${(await sameAsQvd(probeDir)).join('; ') || 'no node change but the image files (no .sha256 sidecars)'}`);
      const rerun = await runPlaybook(adir, join(adir, `cp-${i}-2`));
      if (rerun.changed !== 0) throw new Error(`ansible rerun changed ${rerun.changed} task(s):\n${rerun.stdout.slice(-3000)}`);
      await wipe(a);
      rep[pipelining ? 'ansiblePipelining' : 'ansible'] = { first, rerun };
      log(`[${cond}] ansible${pipelining ? ' (pipelining)' : ''}: first ${s(first.ms)} (changed=${first.changed}), rerun ${s(rerun.ms)} (changed=${rerun.changed})`);
    }
  }

  rep.shellFirst = await shellFirst(a, work, join(base, 'shell'));
  if ((await inventory(a)).domains !== VMS) throw new Error('shell: domains missing after the first run');
  if (i === 0) equivalence.push(`[${cond}] after the shell run, qvd plan wants: ${(await sameAsQvd(probeDir)).join('; ') || 'no node change but the image files (no .sha256 sidecars)'}`);
  rep.shellRerun = await shellRerun(a, work);
  await wipe(a);
  log(`[${cond}] shell: first ${s(rep.shellFirst.ms)}, rerun ${s(rep.shellRerun.ms)}`);
  return rep;
}

async function runBig(a: BenchNode, image: TestImage, tag: string): Promise<Big> {
  const b = await nodeUp(`qvdbench-${tag}-b`, join(base, 'node-b'), INDEXES.filter((n) => n !== a.index), (n) => upNodes.push(n));
  log(`node B: ${b.name} index ${b.index} (${b.address})`);
  // Creating 400 volumes is not what is measured here: done on the faster node shell when it is in use.
  const applyCond: Cond = CONDS.includes('testenv') ? 'testenv' : 'bashrc';
  for (const n of [a, b]) await setNodeShell(n, applyCond);
  const vmsBig = Array.from({ length: 2 * BIG_PER_NODE }, (_, i) => ({ name: `c${String(i).padStart(3, '0')}`, node: i < BIG_PER_NODE ? 'n1' : 'n2' }));
  const third = a.index - (a.index % 2);
  const dir = await writeSpecDir('qvd-big', spec([a, b], image, vmsBig, `10.214.${third}.0/23`, BIG_PER_NODE + 50));
  const apply = await qvdOk('apply (200)', ['apply', '-f', 'qvd.yaml', '--auto-approve'], dir, /Apply complete/);
  log(`[${applyCond}] qvd apply of ${vmsBig.length}: ${s(apply.ms)}`);
  const rerun = await qvdOk('apply (200, rerun)', ['apply', '-f', 'qvd.yaml', '--auto-approve'], dir, /No changes/);
  const plans = new Map<Cond, Timed[]>();
  const ph = new Map<Cond, Phases>();
  for (const cond of CONDS) {
    for (const n of [a, b]) await setNodeShell(n, cond);
    const runs: Timed[] = [];
    for (let p = 0; p < PLAN_RUNS; p++) runs.push(await qvdOk('plan (200)', ['plan', '-f', 'qvd.yaml', '--detailed-exitcode'], dir, /No changes/));
    plans.set(cond, runs);
    ph.set(cond, await phases(dir));
    log(`[${cond}] qvd no-op plan over 200: ${runs.map((p) => s(p.ms)).join(', ')}  (${loadNow()})`);
  }
  for (const n of [a, b]) await setNodeShell(n, applyCond);
  const destroy = await qvdOk('destroy (200)', ['destroy', '-f', 'qvd.yaml', '--auto-approve', '--purge-homes'], dir, /Apply complete|No changes/);
  const leftA = await inventory(a);
  const leftB = await inventory(b);
  const sum = (l: typeof leftA): number => l.domains + l.networks + l.pools + l.files;
  const left = sum(leftA) + sum(leftB) === 0 ? undefined : JSON.stringify({ a: leftA, b: leftB });
  return { apply, rerun, plans, phases: ph, destroy, left };
}

async function main(): Promise<void> {
  const loadBefore = loadNow();
  log(`bench:apply — ${VMS} on-demand VMs on one test node, ${RUNS} run(s) per tool and node condition (${CONDS.join(', ')}), medians; then a no-op plan over 2×${BIG_PER_NODE}`);
  log(`load before: ${loadBefore}`);
  log(dropCaCertsTax());
  const image = await testImage();
  base = await mkdtemp('/var/tmp/qvd-bench-apply-');
  const tag = process.pid.toString(36);
  const a = await nodeUp(`qvdbench-${tag}-a`, join(base, 'node-a'), INDEXES, (n) => upNodes.push(n));
  log(`node A: ${a.name} index ${a.index} (${a.address})`);

  const vms20 = Array.from({ length: VMS }, (_, i) => ({ name: `b${String(i).padStart(3, '0')}`, node: 'n1' }));
  const yaml20 = spec([a], image, vms20, `10.214.${a.index}.0/24`, 30);

  // The work the baselines repeat: what qvd plans on the empty node (untimed).
  const probeDir = await writeSpecDir('qvd-probe', yaml20);
  const planJson = await qvdOk('plan --json (empty node)', ['plan', '-f', 'qvd.yaml', '--json'], probeDir, /"changes"/);
  const work: Workload = await workloadFromPlan(planJson.stdout, 'n1');
  log(`work per tool: network ${work.network.name} (+${VMS} DHCP hosts), pool, ${work.images.length} image files, ${work.domains.length * 2} volumes, ${work.domains.length} domains`);

  const missing = ansibleMissing();
  if (missing !== undefined) log(`ansible: skipped: ${missing}. Install with: ${INSTALL_HINT}`);

  const reps = new Map<Cond, Rep[]>(CONDS.map((c) => [c, []]));
  for (let i = 0; i < RUNS; i++) {
    for (const cond of CONDS) {
      log(`\n— run ${i + 1}/${RUNS}, ${cond}  (${loadNow()})`);
      reps.get(cond)!.push(await runTools(a, yaml20, work, missing === undefined, cond, i));
    }
  }

  let big: Big | undefined;
  if (WITH_BIG) {
    log(`\n— ${2 * BIG_PER_NODE} domains on two nodes  (${loadNow()})`);
    big = await runBig(a, image, tag);
  }
  const loadAfter = loadNow();
  for (const cond of CONDS) report(cond, reps.get(cond)!, missing);
  if (big !== undefined) reportBig(big);
  log(`\n=== the baselines built what qvd builds (untimed check) ===\n${equivalence.join('\n')}`);
  goals(reps, big);
  log(`\nload before: ${loadBefore}\nload after:  ${loadAfter}`);
}

const summary = (reps: Rep[]): Record<string, number> => {
  const med = (f: (r: Rep) => number | undefined): number => median(reps.map((r) => f(r) ?? NaN));
  return {
    q1: med((r) => r.qvdFirst.ms),
    q2: med((r) => r.qvdRerun.ms),
    a1: med((r) => r.ansible?.first.ms),
    a2: med((r) => r.ansible?.rerun.ms),
    p1: med((r) => r.ansiblePipelining?.first.ms),
    p2: med((r) => r.ansiblePipelining?.rerun.ms),
    s1: med((r) => r.shellFirst.ms),
    s2: med((r) => r.shellRerun.ms),
    plan: median(reps.flatMap((r) => r.qvdPlans.map((p) => p.ms))),
  };
};

function phaseRow(ps: Phases[], label: string): void {
  const m = (f: (p: Phases) => unknown): string => s(median(ps.map((p) => Number(f(p)))));
  log(`${label} — phases in one fresh process (median of ${ps.length}):`);
  log(`  modules: oclif + commands ${m((p) => p.cliModules)} (all ${m((p) => p.modules)}); spec + store ${m((p) => p.specAndStore)}; diff + plan ${m((p) => p.diffAndPlan)} (+ saving the observed state, as apply does: ${m((p) => p.diffAndPlanWithSaveObserved)}); close ${m((p) => p.close)}`);
  for (const name of Object.keys(ps[0]?.nodes ?? {})) {
    const n = (k: string): string => m((p) => p.nodes[name]?.[k]);
    log(`  node ${name}: SSH connect ${n('sshConnect')}, exec round trip ${n('execRoundTrip')}, one virsh command ${n('virshOneCommand')}, observe ${n('observe')} (again ${n('observeAgain')}; ${String(ps[0]?.nodes[name]?.['domainsObserved'])} domains), libvirt binding connect ${n('libvirtBindingConnect')}, then a call ${n('libvirtBindingCall')}`);
  }
  log(`  nodes in parallel (connect … binding): ${m((p) => p.nodesInParallel)}`);
}

function report(cond: Cond, reps: Rep[], ansibleSkip: string | undefined): void {
  const med = (f: (r: Rep) => number | undefined): number => median(reps.map((r) => f(r) ?? NaN));
  const { q1, q2, a1, a2, p1, p2, s1, s2, plan } = summary(reps) as Record<string, number>;
  const cpu = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)} s` : '—');
  log(`\n=== ${VMS} on-demand VMs, one node — ${COND_LABEL[cond]} ===`);
  log(`wall time, median of ${reps.length} (local CPU user+sys in brackets); \`ssh node true\`: ${s(med((r) => r.sshTrue))}`);
  const rows: [string, number, number, number, number][] = [
    ['qvd apply', q1!, q2!, med((r) => r.qvdFirst.cpuS), med((r) => r.qvdRerun.cpuS)],
    ['ansible-playbook', a1!, a2!, med((r) => r.ansible?.first.cpuS), med((r) => r.ansible?.rerun.cpuS)],
    ['ansible-playbook, pipelining', p1!, p2!, med((r) => r.ansiblePipelining?.first.cpuS), med((r) => r.ansiblePipelining?.rerun.cpuS)],
    ['shell loop over ssh', s1!, s2!, med((r) => r.shellFirst.cpuS), med((r) => r.shellRerun.cpuS)],
  ];
  log(`${'tool'.padEnd(32)} ${'first run'.padStart(22)} ${'no-change rerun'.padStart(22)}`);
  for (const [name, f, r, fc, rc] of rows) {
    if (!Number.isFinite(f)) {
      log(`${name.padEnd(32)} ${ansibleSkip === undefined ? 'not run' : `skipped: ${ansibleSkip}. Install with: ${INSTALL_HINT}`}`);
      continue;
    }
    log(`${name.padEnd(32)} ${`${s(f)} [${cpu(fc)}]`.padStart(22)} ${`${s(r)} [${cpu(rc)}]`.padStart(22)}`);
  }
  log(`${'ratio Ansible / qvd'.padEnd(32)} ${x(a1! / q1!).padStart(22)} ${x(a2! / q2!).padStart(22)}`);
  if (Number.isFinite(p1)) log(`${'ratio Ansible (pipelining) / qvd'.padEnd(32)} ${x(p1! / q1!).padStart(22)} ${x(p2! / q2!).padStart(22)}`);
  log(`${'ratio qvd / shell'.padEnd(32)} ${x(q1! / s1!).padStart(22)} ${x(q2! / s2!).padStart(22)}`);
  log(`qvd plan, ${VMS} domains, no changes: ${s(plan!)} (median of ${reps.length * PLAN_RUNS}); qvd destroy --purge-homes: ${s(med((r) => r.qvdDestroy.ms))}`);
  for (const [i, r] of reps.entries()) {
    log(`  run ${i + 1}: qvd ${s(r.qvdFirst.ms)} / ${s(r.qvdRerun.ms)} / plan ${r.qvdPlans.map((p) => s(p.ms)).join(' ')}; ansible ${s(r.ansible?.first.ms ?? NaN)} / ${s(r.ansible?.rerun.ms ?? NaN)}; pipelining ${s(r.ansiblePipelining?.first.ms ?? NaN)} / ${s(r.ansiblePipelining?.rerun.ms ?? NaN)}; shell ${s(r.shellFirst.ms)} / ${s(r.shellRerun.ms)}`);
  }

  log(`qvd apply (first run) by step kind, first start to last end (median over runs; kinds follow each other, a kind's steps run as a batch):`);
  const kinds = new Set(reps.flatMap((r) => [...stepTimes(r.qvdFirst).kinds.keys()]));
  log(`  before the first step (start, spec, SSH, observe, plan): ${s(med((r) => stepTimes(r.qvdFirst).beforeFirst))}`);
  for (const k of kinds) {
    const span = med((r) => {
      const t = stepTimes(r.qvdFirst).kinds.get(k);
      return t === undefined ? undefined : t.to - t.from;
    });
    const n = stepTimes(reps[0]!.qvdFirst).kinds.get(k)?.count ?? 0;
    log(`  ${k.padEnd(16)} ${String(n).padStart(3)} in ${s(span)}`);
  }
  log(`  after the last step (store write, exit): ${s(med((r) => stepTimes(r.qvdFirst).afterLast))}`);
  phaseRow(reps.map((r) => r.phases), `no-op, ${VMS} domains on 1 node`);
  const leftovers = reps.map((r) => r.qvdLeftAfterDestroy).filter((l) => l !== undefined);
  if (leftovers.length > 0) log(`qvd destroy --purge-homes left objects on the node: ${leftovers.join('; ')}`);
}

function reportBig(big: Big): void {
  log(`\n=== ${2 * BIG_PER_NODE} on-demand domains on two nodes ===`);
  log(`qvd apply (create all): ${s(big.apply.ms)}; no-change apply: ${s(big.rerun.ms)}; destroy: ${s(big.destroy.ms)}`);
  for (const [cond, runs] of big.plans) {
    log(`[${cond}] qvd plan, no changes: ${s(median(runs.map((p) => p.ms)))} (median of ${runs.map((p) => s(p.ms)).join(', ')})`);
    phaseRow([big.phases.get(cond)!], `  [${cond}] no-op, 200 domains on 2 nodes`);
  }
  if (big.left !== undefined) log(`qvd destroy --purge-homes left objects: ${big.left}`);
}

function goals(reps: Map<Cond, Rep[]>, big: Big | undefined): void {
  const goal = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  log(`\n=== goals ===`);
  for (const [cond, rs] of reps) {
    const { q1, q2, a1, a2, p1, p2, s1, s2 } = summary(rs) as Record<string, number>;
    log(`[${cond}]`);
    log(`  ≥ 5× faster than Ansible:          first ${x(a1! / q1!)}, rerun ${x(a2! / q2!)}: ${Number.isFinite(a1) ? goal(a1! / q1! >= 5 && a2! / q2! >= 5) : 'not measured (ansible skipped)'}${Number.isFinite(p1) ? `; vs pipelining: first ${x(p1! / q1!)}, rerun ${x(p2! / q2!)}: ${goal(p1! / q1! >= 5 && p2! / q2! >= 5)}` : ''}`);
    log(`  within 1.5× of the shell loop:     first ${x(q1! / s1!)}, rerun ${x(q2! / s2!)}: ${goal(q1! / s1! <= 1.5 && q2! / s2! <= 1.5)}`);
    log(`  no-change rerun < 0.5 s:           ${s(q2!)}: ${goal(q2! < 500)}`);
    const plans = big?.plans.get(cond);
    if (plans !== undefined) log(`  no-op plan over 200 domains < 2 s: ${s(median(plans.map((p) => p.ms)))}: ${goal(median(plans.map((p) => p.ms)) < 2000)}`);
  }
}

try {
  await main();
} catch (e) {
  console.error(`bench:apply failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
} finally {
  await teardown();
}
