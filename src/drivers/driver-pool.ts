import type { DesiredNode } from '../spec/desired-state.js';
import type { DriverFactory, NodeDriver } from './node-driver.js';

/**
 * One driver (so one SSH and one libvirt connection) per node for a whole
 * command: observe, apply and the re-check share it. Close it once at the end.
 */
export class DriverPool implements DriverFactory {
  private readonly drivers = new Map<string, NodeDriver>();
  constructor(private readonly factory: DriverFactory) {}

  forNode(node: DesiredNode): NodeDriver {
    let d = this.drivers.get(node.name);
    if (d === undefined) {
      d = this.factory.forNode(node);
      this.drivers.set(node.name, d);
    }
    return d;
  }

  /** Start connecting to these nodes now (see NodeDriver.prepare); their drivers are then the ones forNode returns. */
  prepare(nodes: readonly DesiredNode[]): void {
    for (const n of nodes) this.forNode(n).prepare?.();
  }

  async close(): Promise<void> {
    const all = [...this.drivers.values()];
    this.drivers.clear();
    await Promise.all(all.map((d) => d.close().catch(() => undefined)));
  }
}
