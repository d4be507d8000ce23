import { Listr, type ListrTaskWrapper } from 'listr2';
import type { ApplyReporter } from '../reconcile/apply-plan.js';
import type { Plan } from '../reconcile/plan.js';

type Task = ListrTaskWrapper<unknown, never, never>;

interface Lane {
  readonly name: string;
  readonly total: number;
  done: number;
  title: string;
  task?: Task;
  settled: boolean;
  resolve?: () => void;
  reject?: (e: Error) => void;
  failure?: Error;
}

/**
 * The live view on a terminal: one listr2 line per node (and one for the
 * store), showing its current step and count, ✔ or ✖ at the end. Nodes run in
 * parallel, so the lines update independently.
 */
export class ListrReporter implements ApplyReporter {
  private readonly lanes = new Map<string, Lane>();
  private readonly running: Promise<unknown>;

  constructor(plan: Plan) {
    for (const c of plan.changes) {
      const name = c.node ?? 'store';
      const lane = this.lanes.get(name);
      if (lane === undefined) this.lanes.set(name, { name, total: 1, done: 0, title: `${name}: waiting`, settled: false });
      else (lane as { total: number }).total++;
    }
    const listr = new Listr(
      [...this.lanes.values()].map((lane) => ({
        title: lane.title,
        task: (_ctx: unknown, task: Task) =>
          new Promise<void>((resolve, reject) => {
            lane.task = task;
            task.title = lane.title;
            lane.resolve = resolve;
            lane.reject = reject;
            if (lane.settled) this.settle(lane);
          }),
      })),
      { concurrent: true, exitOnError: false },
    );
    this.running = listr.run().catch(() => undefined);
  }

  step(node: string | undefined, address: string, status: 'started' | 'done' | 'failed' | 'skipped', error?: string): void {
    const lane = this.lanes.get(node ?? 'store');
    if (lane === undefined) return;
    switch (status) {
      case 'started':
        lane.title = `${lane.name}: ${address} (${lane.done + 1}/${lane.total})`;
        break;
      case 'done':
        lane.done++;
        if (lane.done === lane.total) {
          lane.title = `${lane.name}: ${lane.total} change(s) made`;
          lane.settled = true;
        }
        break;
      case 'failed':
        lane.title = `${lane.name}: ${address} failed`;
        lane.failure = new Error(`${address}: ${error ?? 'failed'}`);
        lane.settled = true;
        break;
      case 'skipped':
        return;
    }
    if (lane.task !== undefined) lane.task.title = lane.title;
    if (lane.settled) this.settle(lane);
  }

  /** Once apply returned: close every line (a store lane with skipped records ends here too) and let listr finish drawing. */
  async finish(): Promise<void> {
    for (const lane of this.lanes.values()) {
      if (!lane.settled) {
        lane.title = `${lane.name}: ${lane.done}/${lane.total} change(s) made`;
        if (lane.task !== undefined) lane.task.title = lane.title;
        lane.settled = true;
      }
      this.settle(lane);
    }
    await this.running;
  }

  private settle(lane: Lane): void {
    if (lane.failure !== undefined) lane.reject?.(lane.failure);
    else lane.resolve?.();
  }
}
