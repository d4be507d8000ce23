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

describe('the settings record against the spec', () => {
  const d = desiredFixture();
  const want = desiredRecords(d);
  const withSettings = (settings: Record<string, string | number | boolean> | undefined): StoreSnapshot => {
    const { settings: _spec, ...lists } = want;
    return { serial: 1, ...lists, ...(settings === undefined ? {} : { settings }) };
  };
  const settingsChanges = (snapshot: StoreSnapshot, desired = d) => diffRecords(desired, snapshot).filter((c) => c.write.kind === 'settings');

  it('is every setting but the database, flat, durations in seconds', () => {
    expect(want.settings).toMatchObject({ 'l7r.port': 8443, 'l7r.max_connections_per_address': 1000, 'l7r.tls.generate': true, 'hkd.idle_stop': 3600, 'network.cidr': '10.3.15.0/24', 'auth.token_ttl': 86400 });
    expect(Object.keys(want.settings).filter((k) => k.startsWith('database'))).toEqual([]);
    expect(Object.values(want.settings).every((v) => ['string', 'number', 'boolean'].includes(typeof v))).toBe(true);
  });

  it('is created on a store that has none, and then settled', () => {
    expect(settingsChanges(withSettings(undefined))).toEqual([
      expect.objectContaining({ action: 'create', write: { kind: 'settings', op: 'upsert', record: want.settings } }),
    ]);
    expect(settingsChanges(withSettings({ ...want.settings }))).toEqual([]);
  });

  it('shows a changed setting with its values before and after, and only that one', () => {
    const later = { ...d, settings: { ...d.settings, hkd: { ...d.settings.hkd, idleStop: 600 } } };
    const changes = settingsChanges(withSettings(want.settings), later);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ action: 'update', attributes: [{ name: 'hkd.idle_stop', before: 3600, after: 600 }] });
  });

  it('shows a setting taken out of the spec (LDAP dropped) as a change, and a new one (LDAP added)', () => {
    const ldap = { url: 'ldap://127.0.0.1:389', baseDn: 'dc=example', userFilter: '(uid=%u)', bindDnTemplate: 'uid=%u,dc=example' };
    const withLdap = { ...d, settings: { ...d.settings, auth: { ...d.settings.auth, ldap } } };
    const stored = desiredRecords(withLdap).settings;
    const dropped = settingsChanges(withSettings(stored));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]?.attributes).toEqual(expect.arrayContaining([{ name: 'auth.ldap.url', before: 'ldap://127.0.0.1:389' }]));
    const added = settingsChanges(withSettings(want.settings), withLdap);
    expect(added[0]?.attributes).toEqual(expect.arrayContaining([{ name: 'auth.ldap.url', before: undefined, after: 'ldap://127.0.0.1:389' }].map(({ name, after }) => expect.objectContaining({ name, after }))));
  });

  it('is deleted by destroy', () => {
    expect(diffRecords(undefined, withSettings(want.settings)).filter((c) => c.write.kind === 'settings')).toEqual([
      expect.objectContaining({ action: 'delete', write: { kind: 'settings', op: 'delete', key: 'cluster' } }),
    ]);
  });
});
