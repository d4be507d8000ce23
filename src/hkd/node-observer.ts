import type { NodeDriver, ObserveScope } from '../drivers/node-driver.js';
import type { ObservedNode } from '../drivers/observed-state.js';

export interface Observation {
  readonly node: ObservedNode;
  /** When the read began: anything that changed after it may be missing from it. */
  readonly startedAt: number;
}

/**
 * One node's libvirt view, shared by the pass and the operations in flight:
 * concurrent callers share one read, and a caller content with a read that
 * began less than `maxAgeMs` ago gets it without another round trip.
 */
export class NodeObserver {
  #last: Observation | undefined;
  #pending: Promise<Observation> | undefined;

  constructor(
    private readonly driver: NodeDriver,
    private readonly scope: ObserveScope,
    private readonly clock: () => number = Date.now,
  ) {}

  get last(): Observation | undefined {
    return this.#last;
  }

  observe(maxAgeMs = 0): Promise<Observation> {
    const last = this.#last;
    if (last !== undefined && this.clock() - last.startedAt <= maxAgeMs) return Promise.resolve(last);
    const pending = this.#pending;
    // A read already under way began "now enough" for any caller.
    if (pending !== undefined) return pending;
    const startedAt = this.clock();
    const p = this.driver
      .observe(this.scope)
      .then((node) => {
        const o = { node, startedAt };
        if (this.#last === undefined || this.#last.startedAt <= startedAt) this.#last = o;
        return o;
      })
      .finally(() => {
        if (this.#pending === p) this.#pending = undefined;
      });
    this.#pending = p;
    return p;
  }
}
