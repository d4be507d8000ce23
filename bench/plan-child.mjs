// One timed `plan` in a fresh process, as the CLI would run it: module load,
// read + parse + validate + resolve the spec, store snapshot, observe (fake
// nodes), diff. Prints one JSON line. Usage: node plan-child.mjs create|noop DIR
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const [mode, dir] = process.argv.slice(2);
const t0 = performance.now();
const { openSpec } = await import('../dist/usecases/open-spec.js');
const { planNodes } = await import('../dist/usecases/plan-nodes.js');
const { DriverPool } = await import('../dist/drivers/driver-pool.js');
const { FakeDriverFactory } = await import('../dist/drivers/fake/fake-driver-factory.js');
const tLoaded = performance.now();

/** Nodes that answer observe with what a previous run left on them (read from a file, untimed I/O aside). */
class RecordedNodes {
  constructor(byNode) { this.byNode = byNode; }
  forNode(node) {
    const observed = this.byNode[node.name];
    return { node: node.name, observe: async () => observed, close: async () => undefined };
  }
}

const drivers = mode === 'noop' ? new RecordedNodes(JSON.parse(await readFile(join(dir, 'observed.json'), 'utf8'))) : new FakeDriverFactory();
const tSeeded = performance.now();
const opened = await openSpec(join(dir, 'qvd.yaml'), { withStore: true });
const tSpec = performance.now();
const pool = new DriverPool(drivers);
const plan = await planNodes(opened.desired, opened.snapshot, pool, { destroy: false, purgeHomes: false, targets: [], parallelism: 16 });
const tPlan = performance.now();
const result = {
  mode,
  changes: plan.changes.length,
  errors: plan.diagnostics.filter((d) => d.severity === 'error').length,
  ms: { total: tPlan, load: tLoaded, seed: tSeeded - tLoaded, specAndStore: tSpec - tSeeded, observeAndDiff: tPlan - tSpec },
  // CPU time of this process: what the plan costs when the machine is shared.
  cpuMs: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
  maxRssMb: process.resourceUsage().maxRSS / 1024,
};
if (mode === 'create') {
  // Converge the fake nodes and the store so the next run is a no-op.
  const { applyPlan } = await import('../dist/reconcile/apply-plan.js');
  const t = performance.now();
  const applied = await applyPlan(plan, { store: opened.store, drivers: pool, desired: opened.desired, parallelism: 16, reporter: { step() {} } });
  result.applyMs = performance.now() - t;
  result.applyFailures = applied.failures.length;
  const observed = {};
  for (const n of opened.desired.nodes) observed[n.name] = await drivers.node(n.name).observe({ network: opened.desired.settings.network.name, pool: 'qvd', storageDir: n.storageDir, domainPrefix: 'qvd-' });
  await writeFile(join(dir, 'observed.json'), JSON.stringify(observed));
}
await opened.store.close();
console.log(JSON.stringify(result));
