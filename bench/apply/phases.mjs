// Where a no-op `qvd plan` / `qvd apply` spends its time, phase by phase, in
// one fresh process like the CLI (same dist modules, same drivers). Prints one
// JSON line of milliseconds. Usage: node phases.mjs SPECFILE
// Reaches into the libvirt driver's private fields (runner, domains): bench only.
const ms = (t) => Math.round((performance.now() - t) * 10) / 10;
const t0 = performance.now();
const out = { nodes: {} };
await import('@oclif/core/execute');
await import('../../dist/qvd/commands/plan.js');
out.cliModules = ms(t0);
const { openSpec } = await import('../../dist/usecases/open-spec.js');
const { planNodes } = await import('../../dist/usecases/plan-nodes.js');
const { DriverPool } = await import('../../dist/drivers/driver-pool.js');
const { createNodeDrivers } = await import('../../dist/cli/node-drivers.js');
const { observeScope } = await import('../../dist/reconcile/observe-nodes.js');
out.modules = ms(t0);

const file = process.argv[2];
let t = performance.now();
const opened = await openSpec(file, { withStore: true });
out.specAndStore = ms(t);

const pool = new DriverPool(createNodeDrivers(opened.file));
const observed = {};
t = performance.now();
await Promise.all(
  opened.desired.nodes.map(async (n) => {
    const d = pool.forNode(n);
    const o = (out.nodes[n.name] = {});
    let s = performance.now();
    await d.options.runner.connect();
    o.sshConnect = ms(s);
    s = performance.now();
    await d.options.runner.run(['true']);
    o.execRoundTrip = ms(s);
    s = performance.now();
    await d.options.runner.run(['virsh', '-q', '-c', 'qemu:///system', 'version', '--daemon']);
    o.virshOneCommand = ms(s);
    s = performance.now();
    observed[n.name] = await d.observe(observeScope(opened.desired, n));
    o.observe = ms(s);
    s = performance.now();
    await d.observe(observeScope(opened.desired, n));
    o.observeAgain = ms(s);
    o.domainsObserved = observed[n.name].domains.length;
    s = performance.now();
    await d.options.domains.uuid('qvd-bench-no-such-domain');
    o.libvirtBindingConnect = ms(s);
    s = performance.now();
    await d.options.domains.uuid('qvd-bench-no-such-domain');
    o.libvirtBindingCall = ms(s);
  }),
);
out.nodesInParallel = ms(t);

// Planning alone: the nodes answer with what they said above (no I/O).
const recorded = new DriverPool({ forNode: (n) => ({ node: n.name, observe: async () => observed[n.name], close: async () => undefined }) });
const opts = { destroy: false, purgeHomes: false, targets: [], parallelism: 8 };
t = performance.now();
const plan = await planNodes(opened.desired, opened.snapshot, recorded, opts);
out.diffAndPlan = ms(t);
out.changes = plan.changes.length;
// As apply does it: the observed state is also saved in the store.
t = performance.now();
await planNodes(opened.desired, opened.snapshot, recorded, opts, opened.store);
out.diffAndPlanWithSaveObserved = ms(t);

t = performance.now();
await pool.close();
await opened.store.close();
out.close = ms(t);
out.total = ms(t0);
console.log(JSON.stringify(out));
