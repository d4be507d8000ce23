import type { NodeView } from '../state/runtime-store.js';

/** The VM being placed, as far as the choice needs it. */
export interface PlacementVm {
  readonly name: string;
  /** The node apply placed it on (its disks live there). */
  readonly placedNode: string;
  readonly pinned: boolean;
  readonly memoryMb: number;
  readonly vcpus: number;
}

export type NodeChoice = { readonly kind: 'node'; readonly node: string; readonly why: string } | { readonly kind: 'none'; readonly reason: string };

/** The random term's weight: enough to split ties, far below one VM's effect on the score. */
export const RANDOM_WEIGHT = 0.01;

/**
 * The original load balancer's score: free share of memory plus free share
 * of CPU, divided among the VMs already there plus this one.
 */
export function nodeScore(n: NodeView, random: number): number {
  const rt = n.runtime;
  const running = rt?.runningVms ?? 0;
  const freeRam = n.record.memoryMb > 0 ? (rt?.freeMemoryMb ?? 0) / n.record.memoryMb : 0;
  const freeCpu = n.record.vcpus > 0 ? (rt?.freeVcpus ?? 0) / n.record.vcpus : 0;
  return (freeRam + freeCpu) / (running + 1) + RANDOM_WEIGHT * random;
}

/** Why a node cannot take the VM now, or undefined when it can. */
export function unfitReason(n: NodeView, vm: PlacementVm, freshAfter: string): string | undefined {
  const rt = n.runtime;
  if (n.record.blocked) return 'blocked';
  if (rt === undefined || rt.state !== 'running') return `not serving (${rt?.state ?? 'never started'})`;
  if (rt.heartbeatAt === null || rt.heartbeatAt < freshAfter) return 'heartbeat too old';
  if (rt.runningVms >= n.record.maxVms) return `full (${rt.runningVms}/${n.record.maxVms} VMs)`;
  if (rt.freeMemoryMb < vm.memoryMb) return `not enough free memory (${rt.freeMemoryMb} MB free, ${vm.memoryMb} MB needed)`;
  return undefined;
}

/**
 * Pure: where to start a stopped VM. A pinned VM goes to its node or
 * nowhere. Otherwise its placed node wins when it can take it, because its
 * home disk and base image are there (nodes share no storage); failing that,
 * the best score among the nodes that can.
 */
export function chooseNode(vm: PlacementVm, nodes: readonly NodeView[], freshAfter: string, random: () => number = Math.random): NodeChoice {
  const byName = new Map(nodes.map((n) => [n.record.name, n]));
  const placed = byName.get(vm.placedNode);
  const placedProblem = placed === undefined ? 'not in the store' : unfitReason(placed, vm, freshAfter);
  if (vm.pinned) {
    return placedProblem === undefined
      ? { kind: 'node', node: vm.placedNode, why: 'pinned' }
      : { kind: 'none', reason: `its node ${vm.placedNode} is ${placedProblem}` };
  }
  if (placedProblem === undefined) return { kind: 'node', node: vm.placedNode, why: 'its placed node' };
  let best: { node: string; score: number } | undefined;
  const problems: string[] = [`${vm.placedNode}: ${placedProblem}`];
  for (const n of nodes) {
    if (n.record.name === vm.placedNode) continue;
    const problem = unfitReason(n, vm, freshAfter);
    if (problem !== undefined) {
      problems.push(`${n.record.name}: ${problem}`);
      continue;
    }
    const score = nodeScore(n, random());
    if (best === undefined || score > best.score) best = { node: n.record.name, score };
  }
  if (best === undefined) return { kind: 'none', reason: `no node can start it (${problems.join('; ')})` };
  return { kind: 'node', node: best.node, why: `best load score (${best.score.toFixed(3)}); ${problems[0] ?? ''}` };
}
