import type { ImageRecord, NodeRecord, RecordWrite, UserRecord, VmRecord } from '../../../src/state/store.js';

/** Records with every field set to something distinguishable, for round trips. */

export function user(i: number, over: Partial<UserRecord> = {}): UserRecord {
  return {
    key: `user${i}@tenant${i % 7}`,
    login: `user${i}`,
    tenant: `tenant${i % 7}`,
    passwordHash: `$qvd-sha256$salt${i}$hash${i}`,
    blocked: i % 11 === 0,
    properties: i % 2 === 0 ? { department: `d${i % 13}`, 'quote"s': 'ünïcode ✓' } : {},
    ...over,
  };
}

export function vm(i: number, over: Partial<VmRecord> = {}): VmRecord {
  return {
    name: `vm-${String(i).padStart(5, '0')}`,
    user: `user${i % 5000}@tenant${i % 7}`,
    image: `desktop:${i % 3}`,
    node: `node${i % 4}`,
    nodePinned: i % 5 === 0,
    ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    mac: `52:54:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}`,
    power: i % 3 === 0 ? 'running' : i % 3 === 1 ? 'stopped' : 'on-demand',
    persistent: i % 2 === 0,
    blocked: i % 17 === 0,
    properties: i % 2 === 0 ? { screen: '1920x1080', keyboard: 'es' } : {},
    ...over,
  };
}

export function node(i: number, over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    name: `node${i}`,
    address: `192.168.0.${10 + i}`,
    blocked: i === 3,
    memoryMb: 65536 + i,
    vcpus: 32 + i,
    maxVms: 3000 + i,
    ...over,
  };
}

export function image(i: number, over: Partial<ImageRecord> = {}): ImageRecord {
  return {
    key: `desktop:${i}`,
    sha256: 'ab'.repeat(32),
    memoryMb: 2048 + i,
    vcpus: 2,
    homeSizeMb: 10240,
    application: i === 2,
    ...over,
  };
}

const hex = (n: number): string => (n & 255).toString(16).padStart(2, '0');

/** A fleet the size the store must handle quickly: 4 nodes, 3 images, 5,000 users, 10,000 VMs. */
export function fleetWrites(users = 5000, vms = 10_000): RecordWrite[] {
  const writes: RecordWrite[] = [];
  for (let i = 0; i < 4; i++) writes.push({ kind: 'node', op: 'upsert', record: node(i) });
  for (let i = 0; i < 3; i++) writes.push({ kind: 'image', op: 'upsert', record: image(i) });
  for (let i = 0; i < users; i++) writes.push({ kind: 'user', op: 'upsert', record: user(i) });
  for (let i = 0; i < vms; i++) writes.push({ kind: 'vm', op: 'upsert', record: vm(i) });
  return writes;
}

export const byKey = <T extends { key: string }>(a: T, b: T): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
export const byName = <T extends { name: string }>(a: T, b: T): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
