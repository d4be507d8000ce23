import type { DesiredVm } from '../spec/desired-state.js';

const groups = new WeakMap<readonly DesiredVm[], ReadonlyMap<string, readonly DesiredVm[]>>();
const NONE: readonly DesiredVm[] = [];

/**
 * The VMs placed on `node`, in spec order. Grouped once per VM list: a plan
 * asks for every node, and filtering 10,000 VMs per node of a hundred is a
 * million visits.
 */
export function vmsOnNode(vms: readonly DesiredVm[], node: string): readonly DesiredVm[] {
  let byNode = groups.get(vms);
  if (byNode === undefined) {
    const m = new Map<string, DesiredVm[]>();
    for (const v of vms) {
      const list = m.get(v.node);
      if (list === undefined) m.set(v.node, [v]);
      else list.push(v);
    }
    byNode = m;
    groups.set(vms, byNode);
  }
  return byNode.get(node) ?? NONE;
}
