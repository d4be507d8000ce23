import type { NodeDriver } from './node-driver.js';
import type { ObservedNode } from './observed-state.js';

/**
 * Stands in for a node whose driver could not even be built (no usable SSH
 * key, say): every call fails with that reason, so the node fails on its
 * own and the others carry on, instead of forNode() throwing for all.
 */
export class UnavailableNodeDriver implements NodeDriver {
  constructor(readonly node: string, private readonly reason: Error) {}

  private fail(): Promise<never> {
    return Promise.reject(this.reason);
  }

  observe(): Promise<ObservedNode> { return this.fail(); }
  ensureNetwork(): Promise<void> { return this.fail(); }
  removeNetwork(): Promise<void> { return this.fail(); }
  ensurePool(): Promise<void> { return this.fail(); }
  removePool(): Promise<void> { return this.fail(); }
  uploadImage(): Promise<void> { return this.fail(); }
  createVolume(): Promise<void> { return this.fail(); }
  resizeVolume(): Promise<void> { return this.fail(); }
  deleteVolume(): Promise<void> { return this.fail(); }
  defineDomain(): Promise<void> { return this.fail(); }
  undefineDomain(): Promise<void> { return this.fail(); }
  startDomain(): Promise<void> { return this.fail(); }
  stopDomain(): Promise<void> { return this.fail(); }
  async close(): Promise<void> {
    // Nothing was opened.
  }
}
