import type { ObservedNode } from '../drivers/observed-state.js';
import { DOMAIN_PREFIX } from '../reconcile/naming.js';

export interface NodeUsage {
  readonly runningVms: number;
  readonly freeMemoryMb: number;
  readonly freeVcpus: number;
}

/**
 * What a node has left, from what libvirt says runs there (not from what the
 * store believes): the heartbeat publishes it for the other nodes' choice.
 */
export function nodeUsage(observed: ObservedNode, capacity: { readonly memoryMb: number; readonly vcpus: number }): NodeUsage {
  let runningVms = 0;
  let memory = 0;
  let vcpus = 0;
  for (const d of observed.domains) {
    if (!d.name.startsWith(DOMAIN_PREFIX) || (d.power !== 'running' && d.power !== 'paused')) continue;
    runningVms++;
    memory += d.config.memoryMiB;
    vcpus += d.config.vcpus;
  }
  return { runningVms, freeMemoryMb: Math.max(0, capacity.memoryMb - memory), freeVcpus: Math.max(0, capacity.vcpus - vcpus) };
}
