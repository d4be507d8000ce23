import { describe, expect, it } from 'vitest';
import { desiredRecords, diffRecords } from '../../../src/reconcile/diff-records.js';
import type { StoreSnapshot } from '../../../src/state/store.js';
import { desiredFixture } from '../../support/desired-fixture.js';

const snapshotOf = (records: ReturnType<typeof desiredRecords>): StoreSnapshot => ({ serial: 1, ...records });

/** A different value of the same shape, so that only equality decides. */
function changed(value: unknown): unknown {
  if (typeof value === 'string') return `${value}x`;
  if (typeof value === 'number') return value + 1;
  if (typeof value === 'boolean') return !value;
  return { ...(value as object), added: 'yes' };
}

describe('store records against the spec', () => {
  const d = desiredFixture();
  const want = desiredRecords(d);

  it('are settled as equal when the store holds the same values in fresh objects', () => {
    const copy = JSON.parse(JSON.stringify(want)) as ReturnType<typeof desiredRecords>;
    expect(diffRecords(d, snapshotOf(copy))).toEqual([]);
  });

  // Every field of every record kind, so that a field the fast equality forgets shows here.
  const keyField = { users: 'key', vms: 'name', nodes: 'name', images: 'key' } as const;
  for (const kind of ['users', 'vms', 'nodes', 'images'] as const) {
    const sample = want[kind][0] as unknown as Record<string, unknown>;
    it(`see ${kind} renamed as one created and one deleted`, () => {
      const stored = JSON.parse(JSON.stringify(want)) as Record<string, Record<string, unknown>[]>;
      const row = stored[kind]?.[0] as Record<string, unknown>;
      row[keyField[kind]] = changed(row[keyField[kind]]);
      const changes = diffRecords(d, snapshotOf(stored as unknown as ReturnType<typeof desiredRecords>));
      expect(changes.map((c) => c.action).sort()).toEqual(['create', 'delete']);
    });
    for (const field of Object.keys(sample).filter((f) => f !== keyField[kind])) {
      it(`see a change of ${kind}.${field}`, () => {
        const stored = JSON.parse(JSON.stringify(want)) as Record<string, Record<string, unknown>[]>;
        const row = stored[kind]?.[0] as Record<string, unknown>;
        row[field] = changed(row[field]);
        const changes = diffRecords(d, snapshotOf(stored as unknown as ReturnType<typeof desiredRecords>));
        expect(changes).toHaveLength(1);
        expect(changes[0]).toMatchObject({ action: 'update', attributes: [expect.objectContaining({ name: field })] });
      });
    }
  }

  it('see a property removed, and one changed, not only one added', () => {
    const withProps = { ...want, vms: want.vms.map((v, i) => (i === 0 ? { ...v, properties: { desk: 'a', floor: '2' } } : v)) };
    const dd = { ...d, vms: withProps.vms };
    const fewer = { ...withProps, vms: withProps.vms.map((v, i) => (i === 0 ? { ...v, properties: { desk: 'a' } } : v)) };
    const other = { ...withProps, vms: withProps.vms.map((v, i) => (i === 0 ? { ...v, properties: { desk: 'a', floor: '3' } } : v)) };
    expect(diffRecords(dd, snapshotOf(withProps))).toEqual([]);
    expect(diffRecords(dd, snapshotOf(fewer))).toHaveLength(1);
    expect(diffRecords(dd, snapshotOf(other))).toHaveLength(1);
  });
});
