// One timed `plan` in a fresh process, as the CLI runs it: this file is
// bundled with the CLI's esbuild options (bench/plan.bench.ts does it), so
// module loading costs what it costs `qvd plan`. Then read + parse + validate
// + resolve the spec, store snapshot, observe (fake nodes), diff. Prints one
// JSON line. Usage: node plan-child/plan-child.js create|noop DIR
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
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

/**
 * Nodes that answer observe with what a previous run left on them, each read
 * from its own file when it is observed, as a driver reads its node. Reading
 * and parsing those files is the bench's own I/O, not the plan's: it is timed
 * (synchronously, so that nothing else runs meanwhile) and left out of `total`.
 */
let seedMs = 0;
const recordedNodes = (): Factory =>
  ({
    forNode: (node: { name: string }) => ({
      node: node.name,
      observe: async () => {
        const s = performance.now();
        const observed = JSON.parse(readFileSync(join(dir, 'observed', `${node.name}.json`), 'utf8')) as Observed;
        seedMs += performance.now() - s;
        return observed;
      },
      close: async () => undefined,
    }),
  }) as unknown as Factory;

const fake = new FakeDriverFactory();
const drivers: Factory = mode === 'noop' ? recordedNodes() : fake;
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
  // `total` leaves out reading the recorded nodes: it is the bench's own I/O, not the plan's.
  ms: { total: tPlan - seedMs, load: tLoaded, seed: seedMs, specAndStore: tSpec - tLoaded, observeAndDiff: tPlan - tSpec - seedMs },
  // CPU time of this process: what the plan costs when the machine is shared (the synchronous reading of the recorded nodes taken out).
  cpuMs: (cpu.user + cpu.system) / 1000 - seedMs,
  maxRssMb: process.resourceUsage().maxRSS / 1024,
};
if (mode === 'create') {
  // Converge the fake nodes and the store so the next run is a no-op.
  const { applyPlan } = await import('../src/reconcile/apply-plan.js');
  const t = performance.now();
  const applied = await applyPlan(plan, { store: opened.store, drivers: pool, desired: opened.desired, parallelism: 16, reporter: { step() {} } });
  result['applyMs'] = performance.now() - t;
  result['applyFailures'] = applied.failures.length;
  await mkdir(join(dir, 'observed'), { recursive: true });
  for (const n of opened.desired.nodes) {
    const observed = await fake.node(n.name).observe({ network: opened.desired.settings.network.name, pool: 'qvd', storageDir: n.storageDir, domainPrefix: 'qvd-' });
    await writeFile(join(dir, 'observed', `${n.name}.json`), JSON.stringify(observed));
  }
}
await opened.store.close();
console.log(JSON.stringify(result));
