import type { DesiredState } from '../spec/desired-state.js';
import { flattenSettings } from '../spec/settings-record.js';
import { SETTINGS_KEY, type ImageRecord, type NodeRecord, type RecordWrite, type SettingsRecord, type StoreSnapshot, type UserRecord, type VmRecord } from '../state/store.js';
import { canonicalJson } from './canonical-json.js';
import type { AttributeChange, RecordChange } from './change.js';

/** The records `serve` works from, as the desired state says they should be (a StoreSnapshot's lists, and its settings). */
export function desiredRecords(d: DesiredState): { users: UserRecord[]; vms: VmRecord[]; nodes: NodeRecord[]; images: ImageRecord[]; settings: SettingsRecord } {
  return {
    settings: flattenSettings(d.settings),
    users: [...d.users],
    vms: [...d.vms],
    nodes: d.nodes.map((n) => ({ name: n.name, address: n.address, blocked: n.blocked, memoryMb: n.capacity.memoryMb, vcpus: n.capacity.vcpus, maxVms: n.capacity.maxVms })),
    images: d.images.map((i) => ({ key: i.key, sha256: i.sha256, memoryMb: i.memoryMb, vcpus: i.vcpus, homeSizeMb: i.homeSizeMb, application: i.application })),
  };
}

type Kind = RecordWrite['kind'];

/**
 * Pure: store records to write so that the store matches the spec (`undefined`
 * for destroy: every record goes).
 */
export function diffRecords(d: DesiredState | undefined, s: StoreSnapshot): RecordChange[] {
  const want = d === undefined ? { users: [], vms: [], nodes: [], images: [], settings: undefined } : desiredRecords(d);
  return [
    ...diffKind('node', s.nodes, want.nodes, (r) => r.name),
    ...diffKind('image', s.images, want.images, (r) => r.key),
    ...diffKind('user', s.users, want.users, (r) => r.key),
    ...diffKind('vm', s.vms, want.vms, (r) => r.name),
    // Last, as apply writes records in plan order: serves reload the spec once this lands.
    ...diffKind('settings', s.settings === undefined ? [] : [s.settings], want.settings === undefined ? [] : [want.settings], () => SETTINGS_KEY),
  ];
}

function diffKind<R extends object>(kind: Kind, have: readonly R[], want: readonly R[], key: (r: R) => string): RecordChange[] {
  const out: RecordChange[] = [];
  const before = new Map(have.map((r) => [key(r), r]));
  const wanted = new Set<string>();
  for (const r of want) {
    const k = key(r);
    wanted.add(k);
    const old = before.get(k);
    // A converged store is the common case at fleet size: settle it without building anything.
    if (old !== undefined && sameRecord(old, r)) continue;
    const attributes = recordAttributes(old, r);
    if (old !== undefined && attributes.length === 0) continue;
    out.push({
      kind: 'record',
      action: old === undefined ? 'create' : 'update',
      write: { kind, op: 'upsert', record: r } as RecordWrite,
      attributes,
      reason: old === undefined ? 'not in the store' : 'differs from the spec',
    });
  }
  for (const [k] of before) {
    if (!wanted.has(k)) out.push({ kind: 'record', action: 'delete', write: { kind, op: 'delete', key: k } as RecordWrite, attributes: [], reason: 'no longer in the spec' });
  }
  return out;
}

function recordAttributes<R extends object>(old: R | undefined, r: R): AttributeChange[] {
  const attrs: AttributeChange[] = [];
  for (const [name, after] of Object.entries(r)) {
    const before = old === undefined ? undefined : (old as Record<string, unknown>)[name];
    // Most values are equal scalars: settle those without building any text.
    if (old !== undefined && (before === after || (isEmptyObject(before) && isEmptyObject(after)))) continue;
    const a = typeof after === 'object' ? canonicalJson(after) : after;
    const b = typeof before === 'object' ? canonicalJson(before) : before;
    if (old !== undefined && a === b) continue;
    // Hashes are secrets too: show that they change, never their value.
    const secret = name === 'passwordHash';
    attrs.push({ name, ...(old === undefined ? {} : { before: secret ? '(sensitive)' : b }), after: secret ? '(sensitive)' : a });
  }
  // A field the record no longer has (a setting taken out of the spec, e.g. auth.ldap.url).
  for (const [name, before] of Object.entries(old ?? {})) {
    if (before !== undefined && !(name in r)) attrs.push({ name, before: typeof before === 'object' ? canonicalJson(before) : before });
  }
  return attrs;
}

/** Equal scalars, and objects equal as flat string maps (properties); anything else is left to recordAttributes. */
function sameRecord(old: object, r: object): boolean {
  const a = old as Record<string, unknown>;
  const b = r as Record<string, unknown>;
  let fields = 0;
  for (const name in b) {
    const x = a[name];
    const y = b[name];
    if (y !== undefined) fields++;
    if (x === y) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null || !sameFlatMap(x as Record<string, unknown>, y as Record<string, unknown>)) return false;
  }
  for (const name in a) if (a[name] !== undefined) fields--;
  return fields === 0;
}

function sameFlatMap(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  let n = 0;
  for (const k in b) {
    const v = b[k];
    if (typeof v === 'object' || a[k] !== v) return false;
    n++;
  }
  for (const _ in a) n--;
  return n === 0;
}

function isEmptyObject(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return false;
  for (const _ in v) return false;
  return true;
}
