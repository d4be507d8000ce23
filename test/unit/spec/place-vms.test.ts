import { describe, expect, it } from 'vitest';
import { placeVms, type PlacementNode, type PlacementVm } from '../../../src/spec/place-vms.js';

const node = (name: string, extra: Partial<PlacementNode> = {}): PlacementNode => ({ name, blocked: false, maxVms: 1000, memoryMb: 65536, vcpus: 16, ...extra });
const vm = (name: string, extra: Partial<PlacementVm> = {}): PlacementVm => ({ name, memoryMb: 1024, vcpus: 1, running: false, ...extra });
const nodes = (n: number): PlacementNode[] => Array.from({ length: n }, (_, i) => node(`node-${i}`));
const vms = (n: number, prefix = 'vm'): PlacementVm[] => Array.from({ length: n }, (_, i) => vm(`${prefix}-${String(i).padStart(5, '0')}`));

/** The VMs whose node differs between two placements. */
function moved(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  return [...before].filter(([name, n]) => after.has(name) && after.get(name) !== n).map(([name]) => name);
}

/** What a snapshot would say after applying `placement`. */
const asPrevious = (list: readonly PlacementVm[], placement: ReadonlyMap<string, string>): PlacementVm[] =>
  list.map((v) => ({ ...v, previousNode: placement.get(v.name) }));

describe('placeVms', () => {
  it('keeps a node fixed by the spec, even a blocked or full one', () => {
    const result = placeVms([vm('a', { node: 'n2' }), vm('b', { node: 'n1' })], [node('n1', { blocked: true }), node('n2', { maxVms: 0 })]);
    expect(Object.fromEntries(result.nodeOf)).toEqual({ a: 'n2', b: 'n1' });
    expect(result.unplaced).toEqual([]);
  });

  it('spreads VMs over the nodes', () => {
    const result = placeVms(vms(10_000), nodes(10));
    const counts = new Map<string, number>();
    for (const n of result.nodeOf.values()) counts.set(n, (counts.get(n) ?? 0) + 1);
    expect(counts.size).toBe(10);
    for (const count of counts.values()) expect(count).toBeGreaterThan(850);
  });

  it('does not depend on input order', () => {
    const list = vms(500);
    const a = placeVms(list, nodes(7));
    const b = placeVms([...list].reverse(), [...nodes(7)].reverse());
    expect(Object.fromEntries(b.nodeOf)).toEqual(Object.fromEntries(a.nodeOf));
  });

  it('adding a VM moves no other (no snapshot, no capacity pressure)', () => {
    const list = vms(2000);
    const before = placeVms(list, nodes(8)).nodeOf;
    const after = placeVms([vm('aaa-new'), ...list, vm('zzz-new')], nodes(8)).nodeOf;
    expect(moved(before, after)).toEqual([]);
  });

  it('adding a VM moves no other even when nodes are nearly full, thanks to the snapshot', () => {
    const tight = nodes(4).map((n) => ({ ...n, maxVms: 101 }));
    const list = vms(400);
    const before = placeVms(list, tight).nodeOf;
    const withNew = [vm('aaa-first-by-name'), ...asPrevious(list, before)];
    const after = placeVms(withNew, tight);
    expect(moved(before, after.nodeOf)).toEqual([]);
    expect(after.nodeOf.has('aaa-first-by-name')).toBe(true);
  });

  it('adding a node moves only VMs onto the new node (rendezvous), and none with a snapshot', () => {
    const list = vms(3000);
    const before = placeVms(list, nodes(5)).nodeOf;
    const after = placeVms(list, nodes(6)).nodeOf;
    for (const name of moved(before, after)) expect(after.get(name)).toBe('node-5');
    const sticky = placeVms(asPrevious(list, before), nodes(6)).nodeOf;
    expect(moved(before, sticky)).toEqual([]);
  });

  it('removing a node moves only its VMs', () => {
    const list = vms(3000);
    const before = placeVms(list, nodes(6)).nodeOf;
    const remaining = nodes(6).filter((n) => n.name !== 'node-2');
    for (const withSnapshot of [false, true]) {
      const input = withSnapshot ? asPrevious(list, before) : list;
      const after = placeVms(input, remaining).nodeOf;
      const movedNames = moved(before, after);
      expect(movedNames.length).toBeGreaterThan(0);
      for (const name of movedNames) expect(before.get(name)).toBe('node-2');
      expect([...after.values()]).not.toContain('node-2');
    }
  });

  it('keeps previous placements (sticky), even against the hash', () => {
    const list = vms(100).map((v) => ({ ...v, previousNode: 'node-0' }));
    const result = placeVms(list, nodes(5));
    expect(new Set(result.nodeOf.values())).toEqual(new Set(['node-0']));
  });

  it('moves VMs away from a node that became blocked or too small, and from a vanished one', () => {
    const result = placeVms(
      [vm('a', { previousNode: 'blocked' }), vm('b', { previousNode: 'tiny', vcpus: 4 }), vm('c', { previousNode: 'gone' })],
      [node('blocked', { blocked: true }), node('tiny', { vcpus: 2 }), node('ok')],
    );
    expect(result.nodeOf.get('a')).not.toBe('blocked');
    expect(result.nodeOf.get('b')).toBe('ok');
    expect(['tiny', 'ok']).toContain(result.nodeOf.get('c'));
  });

  it('respects max_vms, vcpus, memory and blocked nodes', () => {
    const result = placeVms(
      [...vms(30), vm('big', { vcpus: 12 }), vm('huge-mem', { memoryMb: 40000, running: true }), ...Array.from({ length: 3 }, (_, i) => vm(`run-${i}`, { memoryMb: 20000, running: true }))],
      [node('small', { maxVms: 10, vcpus: 8, memoryMb: 32768 }), node('medium', { maxVms: 20, vcpus: 16, memoryMb: 49152 }), node('off', { blocked: true })],
    );
    const counts = new Map<string, number>();
    for (const n of result.nodeOf.values()) counts.set(n, (counts.get(n) ?? 0) + 1);
    expect(counts.get('small') ?? 0).toBeLessThanOrEqual(10);
    expect(counts.get('medium') ?? 0).toBeLessThanOrEqual(20);
    expect(counts.has('off')).toBe(false);
    expect(result.nodeOf.get('big') ?? 'medium').toBe('medium');
    // Running VMs hold memory: 40000 + 20000 x 3 cannot all fit in 32768 + 49152.
    const running = ['huge-mem', 'run-0', 'run-1', 'run-2'].filter((n) => result.nodeOf.has(n));
    const memoryOn = (n: string): number => running.filter((r) => result.nodeOf.get(r) === n).reduce((sum, r) => sum + (r === 'huge-mem' ? 40000 : 20000), 0);
    expect(memoryOn('small')).toBeLessThanOrEqual(32768);
    expect(memoryOn('medium')).toBeLessThanOrEqual(49152);
    expect(result.unplaced.length).toBe(35 - result.nodeOf.size);
    expect(result.unplaced.length).toBeGreaterThan(0);
  });

  it('says why a VM has nowhere to go', () => {
    expect(placeVms([vm('a')], []).unplaced).toEqual([{ vm: 'a', reason: 'there are no nodes' }]);
    expect(placeVms([vm('a')], [node('x', { blocked: true })]).unplaced[0]?.reason).toBe('every node is blocked');
    expect(placeVms([vm('a', { vcpus: 64 })], [node('x')]).unplaced[0]?.reason).toBe('no unblocked node allows 64 vcpus and 1024 MiB');
    expect(placeVms([vm('a'), vm('b')], [node('x', { maxVms: 1 })]).unplaced[0]).toEqual({ vm: 'b', reason: 'every node that could run it is at max_vms' });
    expect(placeVms([vm('a', { node: 'nope' })], [node('x')]).unplaced[0]?.reason).toBe('node "nope" does not exist');
  });

  it('places 10,000 VMs on 100 nodes', () => {
    const result = placeVms(vms(10_000), nodes(100));
    expect(result.nodeOf.size).toBe(10_000);
    expect(result.unplaced).toEqual([]);
  });
});
