import type { ColumnType } from 'kysely';

/**
 * The tables as kysely sees them (snake_case, one interface per table).
 * Kept apart from the record types in store.ts so that the SQL shape can
 * change through a migration without touching what callers see.
 */
export interface Database {
  readonly meta: MetaTable;
  readonly lock: LockTable;
  readonly users: UsersTable;
  readonly vms: VmsTable;
  readonly nodes: NodesTable;
  readonly images: ImagesTable;
  readonly observed: ObservedTable;
  readonly journal: JournalTable;
}

/**
 * Booleans are written as 0/1 because better-sqlite3 refuses to bind JS
 * booleans; PostgreSQL accepts '0'/'1' for its boolean columns and reads them
 * back as true/false, SQLite reads back 0/1.
 */
export type BoolColumn = ColumnType<boolean | 0 | 1, 0 | 1, 0 | 1>;

export interface MetaTable {
  /** Always 1: the table holds exactly one row. */
  id: number;
  serial: number;
  /** Key of the VMs' agent secrets (migration 003); never shown, never in a plan. */
  vma_key: string | null;
  /** The settings the last apply wrote, JSON (migration 005); null before any did. */
  settings: string | null;
}

export interface LockTable {
  /** Always 1: the primary key on a constant is what makes the lock exclusive. */
  slot: number;
  /** Random per acquisition, so a release only removes its own lock. */
  id: string;
  operation: string;
  pid: number;
  host: string;
  /** ISO-8601. */
  since: string;
}

export interface UsersTable {
  key: string;
  login: string;
  tenant: string;
  password_hash: string;
  blocked: BoolColumn;
  /** JSON object of strings. */
  properties: string;
}

export interface VmsTable {
  name: string;
  user_key: string;
  image_key: string;
  node: string;
  node_pinned: BoolColumn;
  ip: string;
  mac: string;
  power: string;
  persistent: BoolColumn;
  blocked: BoolColumn;
  /** JSON object of strings. */
  properties: string;
}

export interface NodesTable {
  name: string;
  address: string;
  blocked: BoolColumn;
  memory_mb: number;
  vcpus: number;
  max_vms: number;
}

export interface ImagesTable {
  key: string;
  sha256: string;
  memory_mb: number;
  vcpus: number;
  home_size_mb: number;
  application: BoolColumn;
}

export interface ObservedTable {
  node: string;
  /** The ObservedNode as JSON. */
  json: string;
  /** ISO-8601. */
  at: string;
}

export interface JournalTable {
  apply_id: string;
  seq: number;
  node: string | null;
  step: string;
  status: string;
  error: string | null;
  /** ISO-8601 of the last write to this entry. */
  at: string;
  /**
   * Insertion order across applies, so "the last apply" does not depend on
   * clocks or on how apply ids are formed.
   */
  ord: number;
}
