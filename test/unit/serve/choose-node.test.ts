import { describe, expect, it } from 'vitest';
import { chooseNode, nodeScore, RANDOM_WEIGHT } from '../../../src/serve/choose-node.js';
import type { NodeView } from '../../../src/state/runtime-store.js';

const NOW = '2025-01-01T00:10:00.000Z';
const FRESH = '2025-01-01T00:00:00.000Z';

function node(name: string, rt: Partial<NonNullable<NodeView['runtime']>> | undefined, rec: Partial<NodeView['record']> = {}): NodeView {
  return {
    record: { name, address: '10.0.0.1', blocked: false, memoryMb: 16000, vcpus: 8, maxVms: 10, ...rec },
    runtime:
      rt === undefined
        ? undefined
        : { node: name, state: 'running', stateReason: '', stateAt: FRESH, heartbeatAt: NOW, servePid: 1, serveHost: 'h', l7rAddress: null, runningVms: 0, freeMemoryMb: 16000, freeVcpus: 8, ...rt },
  };
}

const vm = { name: 'v', placedNode: 'a', pinned: false, memoryMb: 1000, vcpus: 1 };

describe('nodeScore', () => {
  it('is (free_ram + free_cpu) / (running_vms + 1) as shares of capacity, plus a small random term', () => {
    const n = node('a', { runningVms: 3, freeMemoryMb: 8000, freeVcpus: 2 });
    expect(nodeScore(n, 0)).toBeCloseTo((0.5 + 0.25) / 4, 10);
    expect(nodeScore(n, 1) - nodeScore(n, 0)).toBeCloseTo(RANDOM_WEIGHT, 10);
  });
});

describe('chooseNode', () => {
  it('puts a pinned VM on its node only', () => {
    expect(chooseNode({ ...vm, pinned: true }, [node('a', {}), node('b', {})], FRESH)).toMatchObject({ kind: 'node', node: 'a' });
    const r = chooseNode({ ...vm, pinned: true }, [node('a', { state: 'lost' }), node('b', {})], FRESH);
    expect(r).toEqual({ kind: 'none', reason: 'its node a is not serving (lost)' });
  });

  it('prefers the placed node (its disks are there) while it can take the VM', () => {
    const nodes = [node('a', { runningVms: 5, freeMemoryMb: 2000, freeVcpus: 1 }), node('b', {})];
    expect(chooseNode(vm, nodes, FRESH)).toMatchObject({ kind: 'node', node: 'a' });
  });

  it('otherwise picks the best score among running, unblocked, fresh nodes with room', () => {
    const nodes = [
      node('a', { state: 'lost' }),
      node('b', { runningVms: 4, freeMemoryMb: 8000, freeVcpus: 4 }), // (0.5+0.5)/5 = 0.2
      node('c', { runningVms: 1, freeMemoryMb: 8000, freeVcpus: 4 }), // (0.5+0.5)/2 = 0.5
      node('d', { runningVms: 0 }, { blocked: true }),
      node('e', { runningVms: 0, heartbeatAt: '2024-12-31T00:00:00.000Z' }),
      node('f', { runningVms: 10 }),
      node('g', { runningVms: 0, freeMemoryMb: 500 }),
      node('h', undefined),
    ];
    expect(chooseNode(vm, nodes, FRESH, () => 0.5)).toMatchObject({ kind: 'node', node: 'c' });
  });

  it('breaks near-ties with the random term', () => {
    const nodes = [node('a', { state: 'stopped' }), node('b', { runningVms: 1 }), node('c', { runningVms: 1 })];
    const seq = [0, 1];
    expect(chooseNode(vm, nodes, FRESH, () => seq.shift() ?? 0)).toMatchObject({ node: 'c' });
  });

  it('says why no node can take it', () => {
    const r = chooseNode(vm, [node('a', { state: 'lost' }), node('b', { runningVms: 10 })], FRESH);
    expect(r).toEqual({ kind: 'none', reason: 'no node can start it (a: not serving (lost); b: full (10/10 VMs))' });
  });
});
