import { StalePlanError } from '../errors.js';
import { DriverPool } from '../drivers/driver-pool.js';
import type { DriverFactory } from '../drivers/node-driver.js';
import { applyPlan, type ApplyReporter, type ApplyResult } from '../reconcile/apply-plan.js';
import type { Plan } from '../reconcile/plan.js';
import type { PlanFile } from '../reconcile/planfile.js';
import type { DesiredState } from '../spec/desired-state.js';
import type { Store } from '../state/store.js';
import { planNodes, stillCurrent, type PlanOptions } from './plan-nodes.js';
import { refuseUnsafe } from './refuse-unsafe.js';
import { trace, traced } from '../trace.js';

export interface ApplyInput {
  readonly desired: DesiredState;
  readonly store: Store;
  /** A DriverPool is used as is (its prepared connections too) and closed here, before the lock is released. */
  readonly drivers: DriverFactory | DriverPool;
  readonly options: PlanOptions;
  /** A saved plan to apply exactly, instead of planning now. */
  readonly saved?: PlanFile;
  readonly lockTimeoutMs: number;
  readonly operation: string;
  /** Shown the plan; says whether to go on (the TTY prompt, or --auto-approve). */
  readonly approve: (plan: Plan) => Promise<boolean>;
  readonly reporter: ApplyReporter;
}

export type ApplyOutcome =
  | { readonly kind: 'no-changes'; readonly plan: Plan }
  | { readonly kind: 'cancelled'; readonly plan: Plan }
  | { readonly kind: 'applied'; readonly plan: Plan; readonly result: ApplyResult };

/**
 * Lock, observe, plan (or check a saved plan still holds), approve, apply,
 * unlock. Nothing on a node is touched before the plan is known to be safe.
 */
export async function runApply(input: ApplyInput): Promise<ApplyOutcome> {
  const { store } = input;
  const lock = await traced('lock: acquire', () => store.acquireLock(input.operation, input.lockTimeoutMs));
  const drivers = input.drivers instanceof DriverPool ? input.drivers : new DriverPool(input.drivers);
  try {
    const snapshot = await traced('store: snapshot (under the lock)', () => store.snapshot());
    if (input.saved !== undefined && snapshot.serial !== input.saved.plan.basis.stateSerial) {
      throw new StalePlanError(`the saved plan was made at state serial ${input.saved.plan.basis.stateSerial}, the store is now at ${snapshot.serial}`, {
        hint: 'Another apply ran since. Make a new plan with `qvd plan --out FILE`.',
      });
    }
    const fresh = await planNodes(input.desired, snapshot, drivers, input.options, store);
    let plan = fresh;
    if (input.saved !== undefined) {
      if (!stillCurrent(input.saved.plan, fresh)) {
        throw new StalePlanError('the nodes changed since the plan was saved: applying it now would not do what was reviewed', {
          hint: 'Make a new plan with `qvd plan --out FILE` and review it again.',
        });
      }
      plan = input.saved.plan;
    }
    trace('plan: made');
    refuseUnsafe(plan);
    if (plan.changes.length === 0) return { kind: 'no-changes', plan };
    if (!(await input.approve(plan))) return { kind: 'cancelled', plan };
    const result = await applyPlan(plan, { store, drivers, desired: input.desired, parallelism: input.options.parallelism, reporter: input.reporter });
    return { kind: 'applied', plan, result };
  } finally {
    await traced('nodes: close', () => drivers.close());
    await traced('lock: release', () => store.releaseLock(lock.id).catch(() => undefined));
  }
}

