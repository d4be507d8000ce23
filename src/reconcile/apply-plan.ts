import { randomUUID } from 'node:crypto';
import type { BatchOutcome, DriverFactory, NodeDriver } from '../drivers/node-driver.js';
import type { DesiredState } from '../spec/desired-state.js';
import type { RecordWrite, Store } from '../state/store.js';
import { nodeSteps, type NodeStep } from './apply-batch.js';
import { applyNodeChange } from './apply-change.js';
import { changeAddress, type Change, type RecordChange } from './change.js';
import type { Plan } from './plan.js';

export interface ApplyReporter {
  step(node: string | undefined, address: string, status: 'started' | 'done' | 'failed' | 'skipped', error?: string): void;
}

export interface ApplyFailure {
  readonly node: string | undefined;
  readonly change: string;
  readonly error: string;
}

export type NodeOutcome = { readonly node: string; readonly status: 'ok' | 'failed'; readonly applied: number; readonly skipped: number };

export interface ApplyResult {
  readonly applyId: string;
  readonly applied: number;
  readonly failures: readonly ApplyFailure[];
  readonly nodes: readonly NodeOutcome[];
  readonly serial: number;
}

export interface ApplyContext {
  readonly store: Store;
  readonly drivers: DriverFactory;
  readonly desired: DesiredState;
  readonly parallelism: number;
  readonly reporter: ApplyReporter;
}

type NodeChange = Exclude<Change, RecordChange>;

/**
 * Run a plan: nodes in parallel (bounded), each node's changes in plan order,
 * every change journaled before and after it runs. Neighbouring changes the
 * driver can batch (image uploads, volume creates and deletes, domain defines
 * and undefines) run as one step (apply-batch.ts). A failing node stops after
 * its failed step; the others go on. Store records are written last, in one
 * transaction, leaving out VMs whose node failed.
 */
export async function applyPlan(plan: Plan, ctx: ApplyContext): Promise<ApplyResult> {
  const applyId = randomUUID();
  let seq = 0;
  const journal = async (node: string | null, step: string, status: 'started' | 'done' | 'failed', error?: string): Promise<void> =>
    ctx.store.journal({ applyId, seq: seq++, node, step, status, ...(error === undefined ? {} : { error }) });

  const perNode = new Map<string, NodeChange[]>();
  const records: RecordChange[] = [];
  for (const c of plan.changes) {
    if (c.kind === 'record') records.push(c);
    else (perNode.get(c.node) ?? perNode.set(c.node, []).get(c.node)!).push(c);
  }

  const failures: ApplyFailure[] = [];
  const outcomes: NodeOutcome[] = [];
  const nodesByName = new Map(ctx.desired.nodes.map((n) => [n.name, n]));
  const runNode = async (name: string, changes: NodeChange[]): Promise<void> => {
    const node = nodesByName.get(name);
    let applied = 0;
    if (node === undefined) {
      failures.push({ node: name, change: `node ${name}`, error: 'not in the desired state' });
      outcomes.push({ node: name, status: 'failed', applied, skipped: changes.length });
      return;
    }
    const driver = ctx.drivers.forNode(node);
    const steps = nodeSteps(driver, changes);
    for (const [i, step] of steps.entries()) {
      const stepChanges = changesOf(step);
      for (const c of stepChanges) {
        await journal(name, stepName(c), 'started');
        ctx.reporter.step(name, stepName(c), 'started');
      }
      const results = await runStep(driver, step);
      let failed = false;
      // Each change of a batch is recorded on its own: which ones were made, which failed.
      for (const [j, c] of stepChanges.entries()) {
        const result = results[j] ?? { ok: false, error: new Error('the driver reported no outcome for it') };
        if (result.ok) {
          await journal(name, stepName(c), 'done');
          ctx.reporter.step(name, stepName(c), 'done');
          applied++;
          continue;
        }
        failed = true;
        const msg = result.error.message;
        await journal(name, stepName(c), 'failed', msg);
        ctx.reporter.step(name, stepName(c), 'failed', msg);
        failures.push({ node: name, change: stepName(c), error: msg });
      }
      if (failed) {
        // Later steps may need what this one should have made: the node stops here.
        const rest = steps.slice(i + 1).flatMap(changesOf);
        for (const c of rest) ctx.reporter.step(name, stepName(c), 'skipped');
        outcomes.push({ node: name, status: 'failed', applied, skipped: rest.length });
        return;
      }
    }
    outcomes.push({ node: name, status: 'ok', applied, skipped: 0 });
  };
  await runBounded([...perNode.entries()], Math.max(1, ctx.parallelism), ([n, cs]) => runNode(n, cs));

  const failedNodes = new Set(outcomes.filter((o) => o.status === 'failed').map((o) => o.node));
  for (const n of plan.unreachableNodes) failedNodes.add(n);
  const snapshot = failedNodes.size === 0 ? undefined : await ctx.store.snapshot();
  const writes: RecordWrite[] = [];
  for (const r of records) {
    const w = r.write;
    if (w.kind === 'vm') {
      const node = w.op === 'upsert' ? w.record.node : snapshot?.vms.find((v) => v.name === w.key)?.node;
      const oldNode = w.op === 'upsert' ? snapshot?.vms.find((v) => v.name === w.record.name)?.node : undefined;
      if ((node !== undefined && failedNodes.has(node)) || (oldNode !== undefined && failedNodes.has(oldNode))) {
        ctx.reporter.step(undefined, `${r.action} ${changeAddress(r)}`, 'skipped');
        continue;
      }
    }
    writes.push(w);
  }
  let applied = outcomes.reduce((n, o) => n + o.applied, 0);
  let serial: number;
  if (writes.length > 0) {
    await journal(null, `write ${writes.length} store record(s)`, 'started');
    serial = await ctx.store.writeRecords(writes);
    await journal(null, `write ${writes.length} store record(s)`, 'done');
    applied += writes.length;
  } else {
    serial = applied > 0 ? await ctx.store.bumpSerial() : await ctx.store.serial();
  }
  return { applyId, applied, failures, nodes: outcomes, serial };
}

const stepName = (c: NodeChange): string => `${c.action} ${changeAddress(c)}`;
const changesOf = (step: NodeStep): readonly NodeChange[] => (step.kind === 'one' ? [step.change] : step.changes);

/** One outcome per change of the step; a batch that rejects as a whole fails every change in it. */
async function runStep(driver: NodeDriver, step: NodeStep): Promise<readonly BatchOutcome[]> {
  try {
    if (step.kind === 'batch') return await step.run();
    await applyNodeChange(driver, step.change);
    return [{ ok: true }];
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    return changesOf(step).map(() => ({ ok: false, error }));
  }
}

/** Run `work` over `items` with at most `limit` in flight. */
export async function runBounded<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(lanes);
}
