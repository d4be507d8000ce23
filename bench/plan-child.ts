// One timed `plan` in a fresh process, as the CLI runs it: this file is
// bundled with the CLI's esbuild options (bench/plan.bench.ts does it), so
// module loading costs what it costs `qvd plan`. Then read + parse + validate
// + resolve the spec, store snapshot, observe (fake nodes), diff. Prints one
// JSON line. Usage: node plan-child/plan-child.js create|noop DIR
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const [mode, dir] = process.argv.slice(2) as ['create' | 'noop', string];
const t0 = performance.now();
const { openSpec } = await import('../src/usecases/open-spec.js');
const { planNodes } = await import('../src/usecases/plan-nodes.js');
const { DriverPool } = await import('../src/drivers/driver-pool.js');
const { FakeDriverFactory } = await import('../src/drivers/fake/fake-driver-factory.js');
type Observed = import('../src/drivers/observed-state.js').ObservedNode;
type Factory = ConstructorParameters<typeof DriverPool>[0];
const tLoaded = performance.now();

/** Nodes that answer observe with what a previous run left on them (read from a file: outside the timed plan). */
const recordedNodes = (byNode: Record<string, Observed>): Factory =>
  ({
    forNode: (node: { name: string }) => ({ node: node.name, observe: async () => byNode[node.name], close: async () => undefined }),
  }) as unknown as Factory;

const fake = new FakeDriverFactory();
const drivers: Factory = mode === 'noop' ? recordedNodes(JSON.parse(await readFile(join(dir, 'observed.json'), 'utf8')) as Record<string, Observed>) : fake;
const tSeeded = performance.now();
const opened = await openSpec(join(dir, 'qvd.yaml'), { withStore: true });
const tSpec = performance.now();
const pool = new DriverPool(drivers);
const plan = await planNodes(opened.desired, opened.snapshot, pool, { destroy: false, purgeHomes: false, targets: [], parallelism: 16 });
const tPlan = performance.now();
const cpu = process.cpuUsage();
const result: Record<string, unknown> = {
  mode,
  changes: plan.changes.length,
  errors: plan.diagnostics.filter((d) => d.severity === 'error').length,
  // `total` leaves out the seeding of the recorded nodes: it is the bench's own I/O, not the plan's.
  ms: { total: tPlan - (tSeeded - tLoaded), load: tLoaded, seed: tSeeded - tLoaded, specAndStore: tSpec - tSeeded, observeAndDiff: tPlan - tSpec },
  // CPU time of this process: what the plan costs when the machine is shared.
  cpuMs: (cpu.user + cpu.system) / 1000,
  maxRssMb: process.resourceUsage().maxRSS / 1024,
};
if (mode === 'create') {
  // Converge the fake nodes and the store so the next run is a no-op.
  const { applyPlan } = await import('../src/reconcile/apply-plan.js');
  const t = performance.now();
  const applied = await applyPlan(plan, { store: opened.store, drivers: pool, desired: opened.desired, parallelism: 16, reporter: { step() {} } });
  result['applyMs'] = performance.now() - t;
  result['applyFailures'] = applied.failures.length;
  const observed: Record<string, Observed> = {};
  for (const n of opened.desired.nodes) observed[n.name] = await fake.node(n.name).observe({ network: opened.desired.settings.network.name, pool: 'qvd', storageDir: n.storageDir, domainPrefix: 'qvd-' });
  await writeFile(join(dir, 'observed.json'), JSON.stringify(observed));
}
await opened.store.close();
console.log(JSON.stringify(result));
