import type { DriverFactory, ObserveScope } from '../drivers/node-driver.js';
import type { ObservedNode } from '../drivers/observed-state.js';
import type { DesiredNode, DesiredState } from '../spec/desired-state.js';
import { runBounded } from './apply-plan.js';
import { DOMAIN_PREFIX, domainName, homeVolume, imageInitrdVolume, imageKernelVolume, imageVolume, overlayVolume, POOL_NAME } from './naming.js';
import { traced } from '../trace.js';
import { vmsOnNode } from './vms-by-node.js';

export function observeScope(desired: DesiredState, node: DesiredNode): ObserveScope {
  return { network: desired.settings.network.name, pool: POOL_NAME, storageDir: node.storageDir, domainPrefix: DOMAIN_PREFIX, expected: expectedOnNode(desired, node) };
}

/** The names nodeTarget gives the node's domains and volumes (a hint for observe: see ObserveScope.expected). */
function expectedOnNode(desired: DesiredState, node: DesiredNode): { domains: string[]; volumes: string[] } {
  const images = new Map(desired.images.map((i) => [i.key, i]));
  const domains: string[] = [];
  const volumes: string[] = [];
  const used = new Set<string>();
  for (const vm of vmsOnNode(desired.vms, node.name)) {
    domains.push(domainName(vm.name));
    volumes.push(overlayVolume(vm.name), homeVolume(vm.name));
    used.add(vm.image);
  }
  for (const key of used) {
    const img = images.get(key);
    if (img === undefined) continue;
    volumes.push(imageVolume(key));
    if (img.boot !== undefined) volumes.push(imageKernelVolume(key), ...(img.boot.initrd === undefined ? [] : [imageInitrdVolume(key)]));
  }
  return { domains, volumes };
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
