import type { DriverFactory, ObserveScope } from '../drivers/node-driver.js';
import type { ObservedNode } from '../drivers/observed-state.js';
import type { DesiredNode, DesiredState } from '../spec/desired-state.js';
import { runBounded } from './apply-plan.js';
import { DOMAIN_PREFIX, POOL_NAME } from './naming.js';
import { traced } from '../trace.js';

export function observeScope(desired: DesiredState, node: DesiredNode): ObserveScope {
  return { network: desired.settings.network.name, pool: POOL_NAME, storageDir: node.storageDir, domainPrefix: DOMAIN_PREFIX };
}

/**
 * Read every node at once (bounded); a node that fails is reported as its
 * Error, not thrown. The drivers stay open for the caller (see DriverPool).
 */
export async function observeNodes(desired: DesiredState, nodes: ReadonlySet<string>, drivers: DriverFactory, parallelism: number): Promise<Map<string, ObservedNode | Error>> {
  const out = new Map<string, ObservedNode | Error>();
  await runBounded(desired.nodes.filter((n) => nodes.has(n.name)), parallelism, async (node) => {
    const driver = drivers.forNode(node);
    try {
      out.set(node.name, await traced(`node ${node.name}: observe`, () => driver.observe(observeScope(desired, node))));
    } catch (e) {
      out.set(node.name, e instanceof Error ? e : new Error(String(e)));
    }
  });
  return out;
}
