// npm run bench:plan — the cost of `qvd plan` at fleet size, against Terraform.
// A generated spec of 10,000 VMs, 5,000 users, 100 nodes and 20 images; the
// store on SQLite; the nodes are the fake driver (their I/O is bench:apply's
// business). Each measurement is a fresh process, like a CLI run.
import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { prepareLargeSpec } from '../test/fixtures/spec/gen-large-spec.js';
import { dropCaCertsTax } from './node-start-tax.js';
// @ts-expect-error plain ESM helper shared with the CLI build
import { bundleOptions } from '../scripts/build/bundle-options.mjs';

const run = promisify(execFile);
const SIZE = { vms: 10_000, users: 5_000, nodes: 100, images: 20 };
const RUNS = Number(process.env['QVD_BENCH_RUNS'] ?? 5);

interface ChildResult {
  mode: string;
  changes: number;
  errors: number;
  ms: { total: number; load: number; seed: number; specAndStore: number; observeAndDiff: number };
  maxRssMb: number;
  cpuMs: number;
  applyMs?: number;
}

const REPO = join(import.meta.dirname, '..');
const CHILD_DIR = join(REPO, 'bench', '.out', 'plan-child');
const CHILD = join(CHILD_DIR, 'plan-child.js');

async function child(mode: 'create' | 'noop', dir: string): Promise<ChildResult> {
  const { stdout } = await run(process.execPath, [CHILD, mode, dir], { maxBuffer: 64 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as ChildResult;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (ms: number): string => `${ms.toFixed(0)} ms`;

async function terraformPeer(): Promise<number | undefined> {
  if (spawnSync('terraform', ['version'], { stdio: 'ignore' }).status !== 0) {
    console.log('terraform: not on PATH, peer skipped');
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), 'qvd-bench-tf-'));
  try {
    await writeFile(join(dir, 'main.tf'), `resource "terraform_data" "vm" {\n  count = ${SIZE.vms}\n  input = "vm-\${count.index}"\n}\n`);
    const tf = (args: string[]): Promise<unknown> => run('terraform', args, { cwd: dir, maxBuffer: 256 << 20, env: { ...process.env, TF_IN_AUTOMATION: '1', CHECKPOINT_DISABLE: '1' } });
    await tf(['init', '-input=false', '-no-color']);
    // The converged state is written directly: `terraform apply` of 10,000
    // terraform_data takes over ten minutes here, and only plan is compared.
    await writeFile(join(dir, 'terraform.tfstate'), terraformState(SIZE.vms));
    const times: number[] = [];
    for (let i = 0; i < Math.min(RUNS, 3); i++) {
      const s = performance.now();
      // -detailed-exitcode: 0 means the generated state really is converged.
      await tf(['plan', '-input=false', '-no-color', '-detailed-exitcode']);
      times.push(performance.now() - s);
    }
    return median(times);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A Terraform state holding `count` converged terraform_data instances, as `apply` would leave it. */
function terraformState(count: number): string {
  const instances = Array.from({ length: count }, (_, i) => ({
    index_key: i,
    schema_version: 0,
    attributes: { id: randomUUID(), input: { value: `vm-${i}`, type: 'string' }, output: { value: `vm-${i}`, type: 'string' }, triggers_replace: null },
    sensitive_attributes: [],
  }));
  return JSON.stringify({
    version: 4,
    terraform_version: '1.11.4',
    serial: 1,
    lineage: randomUUID(),
    outputs: {},
    resources: [{ mode: 'managed', type: 'terraform_data', name: 'vm', provider: 'provider["terraform.io/builtin/terraform"]', instances }],
    check_results: null,
  });
}

/** The real CLI, whole process: `qvd validate` reads, parses, validates and resolves the same file. */
async function validateCli(file: string): Promise<number> {
  const s = performance.now();
  await run(process.execPath, [join(REPO, 'bin', 'qvd'), 'validate', '-f', file], { maxBuffer: 64 << 20 });
  return performance.now() - s;
}

// The child loads its code the way `qvd plan` does: bundled and code-split (scripts/build/bundle.mjs),
// so that what it does not run (PostgreSQL, the apply steps) is not even parsed.
await rm(CHILD_DIR, { recursive: true, force: true });
await build({ ...(bundleOptions(REPO) as object), entryPoints: { 'plan-child': join(REPO, 'bench', 'plan-child.ts') }, outdir: CHILD_DIR, splitting: true, chunkNames: 'chunks/[name]-[hash]' });
console.log(dropCaCertsTax());
const dir = await mkdtemp(join(tmpdir(), 'qvd-bench-plan-'));
try {
  await prepareLargeSpec(dir, SIZE);
  console.log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`spec: ${SIZE.vms} VMs, ${SIZE.users} users, ${SIZE.nodes} nodes, ${SIZE.images} images; ${RUNS} runs each, median\n`);
  const creates: ChildResult[] = [];
  for (let i = 0; i < RUNS; i++) {
    await rm(join(dir, '.qvd'), { recursive: true, force: true });
    creates.push(await child('create', dir));
  }
  const noops: ChildResult[] = [];
  for (let i = 0; i < RUNS; i++) noops.push(await child('noop', dir));
  for (const [name, rs] of [['create plan (empty nodes, empty store)', creates], ['no-op plan (converged)', noops]] as const) {
    const r = rs[0]!;
    console.log(`${name}: ${r.changes} changes, ${r.errors} errors`);
    const totals = rs.map((x) => x.ms.total);
    console.log(`  whole process (reading the recorded nodes excluded) ${fmt(median(totals))}, runs ${fmt(Math.min(...totals))}–${fmt(Math.max(...totals))}  (module load ${fmt(median(rs.map((x) => x.ms.load)))}, spec+store ${fmt(median(rs.map((x) => x.ms.specAndStore)))}, observe+diff ${fmt(median(rs.map((x) => x.ms.observeAndDiff)))})`);
    console.log(`  CPU time ${fmt(median(rs.map((x) => x.cpuMs)))} (wall time suffers when the machine is shared), peak RSS ${median(rs.map((x) => x.maxRssMb)).toFixed(0)} MB`);
  }
  const validates: number[] = [];
  for (let i = 0; i < RUNS; i++) validates.push(await validateCli(join(dir, 'qvd.yaml')));
  console.log(`qvd validate (the real CLI, whole process, same file): ${fmt(median(validates))}`);
  const noopMs = median(noops.map((x) => x.ms.total));
  console.log(`\ngoal: no-op plan < 500 ms and < 200 MB: ${noopMs < 500 && median(noops.map((x) => x.maxRssMb)) < 200 ? 'met' : 'NOT met'}`);
  console.log(`apply of the create plan to the fake nodes + SQLite (not a goal): ${fmt(median(creates.map((x) => x.applyMs ?? NaN)))}`);
  const tfMs = await terraformPeer();
  if (tfMs !== undefined) console.log(`\nterraform plan, ${SIZE.vms} terraform_data, no changes: ${fmt(tfMs)}  →  qvd no-op plan is ${(tfMs / noopMs).toFixed(1)}× faster`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
