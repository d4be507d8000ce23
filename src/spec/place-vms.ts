import { fnv1a32, mixNode, pairWeightMixed } from './fast-hash.js';

export interface PlacementNode {
  readonly name: string;
  readonly blocked: boolean;
  readonly maxVms: number;
  readonly memoryMb: number;
  readonly vcpus: number;
}

export interface PlacementVm {
  readonly name: string;
  /** Fixed by the spec. */
  readonly node?: string;
  /** Where the VM was last applied (store snapshot). */
  readonly previousNode?: string;
  readonly memoryMb: number;
  readonly vcpus: number;
  /** power: running VMs hold their memory all the time, so they count against memory_mb. */
  readonly running: boolean;
}

export interface Placement {
  /** VM name -> node name. */
  readonly nodeOf: ReadonlyMap<string, string>;
  /** VMs no node could take, with the reason in words. */
  readonly unplaced: readonly { readonly vm: string; readonly reason: string }[];
}

class NodeLoad {
  vms = 0;
  runningMemoryMb = 0;
  readonly hash: number;
  constructor(readonly node: PlacementNode) {
    this.hash = fnv1a32(node.name);
  }
  fits(vm: PlacementVm): boolean {
    const node = this.node;
    return (
      !node.blocked &&
      this.vms < node.maxVms &&
      vm.vcpus <= node.vcpus &&
      vm.memoryMb <= node.memoryMb &&
      (!vm.running || this.runningMemoryMb + vm.memoryMb <= node.memoryMb)
    );
  }
  add(vm: PlacementVm): void {
    this.vms++;
    if (vm.running) this.runningMemoryMb += vm.memoryMb;
  }
}

const byName = (a: PlacementVm, b: PlacementVm): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Chooses a node for every VM, in three passes:
 * 1. a VM fixed by the spec gets its node (limits are checked elsewhere);
 * 2. a VM already on a node keeps it while the node exists, is not blocked
 *    and has room, so applying again never shuffles running desktops;
 * 3. the rest go, in name order, to the node of highest rendezvous weight
 *    (hash of VM and node names) that has room.
 * Rendezvous hashing makes a VM's choice independent of the other VMs:
 * adding a VM or a node moves nothing else, and removing a node moves only
 * its own VMs. Only full nodes couple VMs' choices, and pass 2 keeps
 * already-applied VMs out of that.
 */
export function placeVms(vms: readonly PlacementVm[], nodes: readonly PlacementNode[]): Placement {
  const loads = nodes.map((n) => new NodeLoad(n));
  const loadOf = new Map(loads.map((l) => [l.node.name, l]));
  const nodeOf = new Map<string, string>();
  const unplaced: { vm: string; reason: string }[] = [];

  const rest: PlacementVm[] = [];
  const sticky: PlacementVm[] = [];
  for (const vm of vms) {
    const fixed = vm.node === undefined ? undefined : loadOf.get(vm.node);
    if (fixed !== undefined) {
      fixed.add(vm);
      nodeOf.set(vm.name, fixed.node.name);
    } else if (vm.node !== undefined) {
      unplaced.push({ vm: vm.name, reason: `node ${JSON.stringify(vm.node)} does not exist` });
    } else if (vm.previousNode !== undefined && loadOf.has(vm.previousNode)) {
      sticky.push(vm);
    } else {
      rest.push(vm);
    }
  }

  for (const vm of sticky.sort(byName)) {
    const load = loadOf.get(vm.previousNode ?? '');
    if (load !== undefined && load.fits(vm)) {
      load.add(vm);
      nodeOf.set(vm.name, load.node.name);
    } else {
      rest.push(vm);
    }
  }

  // The inner loop runs VMs x nodes times (1,000,000 for 10,000 x 100): node
  // hashes are pre-mixed into a typed array so each pair costs one mix.
  const nodeMix = Uint32Array.from(loads, (l) => mixNode(l.hash));
  for (const vm of rest.sort(byName)) {
    const vmHash = fnv1a32(vm.name);
    let best = -1;
    let bestWeight = -1;
    for (let n = 0; n < loads.length; n++) {
      const weight = pairWeightMixed(vmHash, nodeMix[n] ?? 0);
      if (weight < bestWeight) continue;
      const load = loads[n] as NodeLoad;
      // Ties (1 in 2^32) go to the lower node name, so the result never depends on input order.
      if (weight === bestWeight && load.node.name > (loads[best] as NodeLoad).node.name) continue;
      if (!load.fits(vm)) continue;
      best = n;
      bestWeight = weight;
    }
    const chosen = loads[best];
    if (chosen === undefined) {
      unplaced.push({ vm: vm.name, reason: noRoomReason(vm, loads) });
      continue;
    }
    chosen.add(vm);
    nodeOf.set(vm.name, chosen.node.name);
  }
  return { nodeOf, unplaced };
}

function noRoomReason(vm: PlacementVm, loads: readonly NodeLoad[]): string {
  if (loads.length === 0) return 'there are no nodes';
  const open = loads.filter((l) => !l.node.blocked);
  if (open.length === 0) return 'every node is blocked';
  const big = open.filter((l) => vm.vcpus <= l.node.vcpus && vm.memoryMb <= l.node.memoryMb);
  if (big.length === 0) return `no unblocked node allows ${vm.vcpus} vcpus and ${vm.memoryMb} MiB`;
  if (big.every((l) => l.vms >= l.node.maxVms)) return `every node that could run it is at max_vms`;
  return `every node that could run it is full (max_vms, or memory_mb for running VMs)`;
}
