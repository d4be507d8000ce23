import { describe, expect, it } from 'vitest';
import { batchRecordWrites } from '../../../src/state/record-write-batch.js';
import { image, node, user, vm } from './record-fixtures.js';

describe('batchRecordWrites', () => {
  it('is empty for no writes', () => {
    const empty = { upserts: [], deletes: [] };
    expect(batchRecordWrites([])).toEqual({ user: empty, vm: empty, node: empty, image: empty });
  });

  it('sorts writes by kind and operation', () => {
    const batch = batchRecordWrites([
      { kind: 'user', op: 'upsert', record: user(1) },
      { kind: 'vm', op: 'delete', key: 'old-vm' },
      { kind: 'node', op: 'upsert', record: node(1) },
      { kind: 'image', op: 'delete', key: 'old:image' },
      { kind: 'vm', op: 'upsert', record: vm(1) },
    ]);
    expect(batch.user).toEqual({ upserts: [user(1)], deletes: [] });
    expect(batch.vm).toEqual({ upserts: [vm(1)], deletes: ['old-vm'] });
    expect(batch.node).toEqual({ upserts: [node(1)], deletes: [] });
    expect(batch.image).toEqual({ upserts: [], deletes: ['old:image'] });
  });

  it('keeps only the last write to each key, as applying them in order would', () => {
    const batch = batchRecordWrites([
      { kind: 'vm', op: 'upsert', record: vm(1) },
      { kind: 'vm', op: 'delete', key: vm(1).name },
      { kind: 'vm', op: 'delete', key: vm(2).name },
      { kind: 'vm', op: 'upsert', record: vm(2) },
      { kind: 'vm', op: 'upsert', record: vm(3) },
      { kind: 'vm', op: 'upsert', record: vm(3, { power: 'stopped' }) },
      { kind: 'image', op: 'upsert', record: image(1) },
      { kind: 'image', op: 'upsert', record: image(1, { vcpus: 8 }) },
    ]);
    expect(batch.vm.deletes).toEqual([vm(1).name]);
    expect(batch.vm.upserts).toEqual([vm(2), vm(3, { power: 'stopped' })]);
    expect(batch.image.upserts).toEqual([image(1, { vcpus: 8 })]);
  });

  it('keys users and images by key, VMs and nodes by name, independently per kind', () => {
    const batch = batchRecordWrites([
      { kind: 'node', op: 'upsert', record: node(1, { name: 'same' }) },
      { kind: 'vm', op: 'delete', key: 'same' },
      { kind: 'user', op: 'upsert', record: user(1, { key: 'same' }) },
      { kind: 'image', op: 'delete', key: 'same' },
    ]);
    expect(batch.node.upserts).toHaveLength(1);
    expect(batch.vm.deletes).toEqual(['same']);
    expect(batch.user.upserts).toHaveLength(1);
    expect(batch.image.deletes).toEqual(['same']);
  });
});
