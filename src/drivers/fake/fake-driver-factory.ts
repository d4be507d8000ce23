import type { DesiredNode } from '../../spec/desired-state.js';
import type { DriverFactory } from '../node-driver.js';
import type { NodeFacts } from '../observed-state.js';
import { FakeNodeDriver } from './fake-node-driver.js';

/**
 * Hands out one FakeNodeDriver per node name and keeps it: like real nodes,
 * their state survives from one plan/apply run to the next within a test.
 */
export class FakeDriverFactory implements DriverFactory {
  private readonly nodes = new Map<string, FakeNodeDriver>();

  constructor(private readonly defaultFacts: Partial<NodeFacts> = {}) {}

  forNode(node: DesiredNode): FakeNodeDriver {
    return this.node(node.name);
  }

  /** The fake for a node, created empty on first use (also to seed it before a run). */
  node(name: string): FakeNodeDriver {
    let fake = this.nodes.get(name);
    if (fake === undefined) {
      fake = new FakeNodeDriver(name, this.defaultFacts);
      this.nodes.set(name, fake);
    }
    return fake;
  }

  get all(): readonly FakeNodeDriver[] {
    return [...this.nodes.values()];
  }
}
