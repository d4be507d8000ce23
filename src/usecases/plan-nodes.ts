import type { DriverPool } from '../drivers/driver-pool.js';
import { fingerprint, makePlan, plannedNodes } from '../reconcile/make-plan.js';
import { observeNodes } from '../reconcile/observe-nodes.js';
import type { Plan } from '../reconcile/plan.js';
import type { DesiredState } from '../spec/desired-state.js';
import type { Store, StoreSnapshot } from '../state/store.js';
import { stat } from 'node:fs/promises';
import { trace, traced } from '../trace.js';

export interface PlanOptions {
  readonly destroy: boolean;
  readonly purgeHomes: boolean;
  readonly targets: readonly string[];
  readonly parallelism: number;
}

/** Observe the nodes the plan covers, then make the plan (pure) from what they said. */
export async function planNodes(desired: DesiredState, snapshot: StoreSnapshot, drivers: DriverPool, opts: PlanOptions, store?: Store): Promise<Plan> {
  const nodes = plannedNodes(desired, opts.targets);
  const observed = await traced('nodes: observe', () => observeNodes(desired, nodes, drivers, opts.parallelism));
  if (store !== undefined) {
    trace('store: save observed ...');
    for (const o of observed.values()) if (!(o instanceof Error)) await store.saveObserved(o);
    trace('store: save observed done');
  }
  const fileSizes = await imageSizes(desired);
  trace('plan: image sizes read');
  return makePlan({
    desired,
    snapshot,
    observed,
    fileSizes,
    purgeHomes: opts.purgeHomes,
    destroy: opts.destroy,
    targets: opts.targets,
  });
}

/** A saved plan is still good when planning again now gives the same node changes. */
export function stillCurrent(saved: Plan, now: Plan): boolean {
  return fingerprint(now.changes) === saved.basis.observedFingerprint;
}

async function imageSizes(desired: DesiredState): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  const files = desired.images.flatMap((i) => [i.source, ...(i.boot === undefined ? [] : [i.boot.kernel, ...(i.boot.initrd === undefined ? [] : [i.boot.initrd])])]);
  await Promise.all(
    files.map(async (f) => {
      const s = await stat(f).catch(() => undefined);
      if (s !== undefined) sizes.set(f, s.size);
    }),
  );
  return sizes;
}
