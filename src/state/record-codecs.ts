import type { Insertable } from 'kysely';
import type { PowerState } from '../spec/spec-document.js';
import type { ImagesTable, NodesTable, UsersTable, VmsTable } from './database-schema.js';
import type { ImageRecord, NodeRecord, UserRecord, VmRecord } from './store.js';

/**
 * How each kind of record maps to its table: the row written, and the record
 * rebuilt from the JSON array a snapshot reads (see json-table-read.ts). The
 * column list and `fromArray` sit side by side because they must agree.
 *
 * Reads trust the types: every row was written through `toRow`.
 */
export interface RecordCodec<R, Row> {
  readonly table: 'users' | 'vms' | 'nodes' | 'images';
  readonly key: 'key' | 'name';
  /** Columns in the order `fromArray` expects; `json` columns arrive parsed. */
  readonly columns: readonly ReadColumn[];
  toRow(record: R): Row;
  fromArray(values: readonly unknown[]): R;
}

export interface ReadColumn {
  readonly name: string;
  readonly json?: boolean;
}

/** Booleans are written as 0/1 (better-sqlite3 binds no JS booleans); PostgreSQL reads them back as true/false. */
const bit = (value: boolean): 0 | 1 => (value ? 1 : 0);
const bool = (value: unknown): boolean => value === true || value === 1;
const properties: ReadColumn = { name: 'properties', json: true };

export const userCodec: RecordCodec<UserRecord, Insertable<UsersTable>> = {
  table: 'users',
  key: 'key',
  columns: [{ name: 'key' }, { name: 'login' }, { name: 'tenant' }, { name: 'password_hash' }, { name: 'blocked' }, properties],
  toRow: (r) => ({
    key: r.key,
    login: r.login,
    tenant: r.tenant,
    password_hash: r.passwordHash,
    blocked: bit(r.blocked),
    properties: JSON.stringify(r.properties),
  }),
  fromArray: (a) => ({
    key: a[0] as string,
    login: a[1] as string,
    tenant: a[2] as string,
    passwordHash: a[3] as string,
    blocked: bool(a[4]),
    properties: a[5] as Record<string, string>,
  }),
};

export const vmCodec: RecordCodec<VmRecord, Insertable<VmsTable>> = {
  table: 'vms',
  key: 'name',
  columns: [
    { name: 'name' },
    { name: 'user_key' },
    { name: 'image_key' },
    { name: 'node' },
    { name: 'node_pinned' },
    { name: 'ip' },
    { name: 'mac' },
    { name: 'power' },
    { name: 'persistent' },
    { name: 'blocked' },
    properties,
  ],
  toRow: (r) => ({
    name: r.name,
    user_key: r.user,
    image_key: r.image,
    node: r.node,
    node_pinned: bit(r.nodePinned),
    ip: r.ip,
    mac: r.mac,
    power: r.power,
    persistent: bit(r.persistent),
    blocked: bit(r.blocked),
    properties: JSON.stringify(r.properties),
  }),
  fromArray: (a) => ({
    name: a[0] as string,
    user: a[1] as string,
    image: a[2] as string,
    node: a[3] as string,
    nodePinned: bool(a[4]),
    ip: a[5] as string,
    mac: a[6] as string,
    power: a[7] as PowerState,
    persistent: bool(a[8]),
    blocked: bool(a[9]),
    properties: a[10] as Record<string, string>,
  }),
};

export const nodeCodec: RecordCodec<NodeRecord, Insertable<NodesTable>> = {
  table: 'nodes',
  key: 'name',
  columns: [{ name: 'name' }, { name: 'address' }, { name: 'blocked' }, { name: 'memory_mb' }, { name: 'vcpus' }, { name: 'max_vms' }],
  toRow: (r) => ({
    name: r.name,
    address: r.address,
    blocked: bit(r.blocked),
    memory_mb: r.memoryMb,
    vcpus: r.vcpus,
    max_vms: r.maxVms,
  }),
  fromArray: (a) => ({
    name: a[0] as string,
    address: a[1] as string,
    blocked: bool(a[2]),
    memoryMb: a[3] as number,
    vcpus: a[4] as number,
    maxVms: a[5] as number,
  }),
};

export const imageCodec: RecordCodec<ImageRecord, Insertable<ImagesTable>> = {
  table: 'images',
  key: 'key',
  columns: [{ name: 'key' }, { name: 'sha256' }, { name: 'memory_mb' }, { name: 'vcpus' }, { name: 'home_size_mb' }, { name: 'application' }],
  toRow: (r) => ({
    key: r.key,
    sha256: r.sha256,
    memory_mb: r.memoryMb,
    vcpus: r.vcpus,
    home_size_mb: r.homeSizeMb,
    application: bit(r.application),
  }),
  fromArray: (a) => ({
    key: a[0] as string,
    sha256: a[1] as string,
    memoryMb: a[2] as number,
    vcpus: a[3] as number,
    homeSizeMb: a[4] as number,
    application: bool(a[5]),
  }),
};
