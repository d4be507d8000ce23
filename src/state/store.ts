import type { ObservedNode } from '../drivers/observed-state.js';
import type { DesiredUser, DesiredVm } from '../spec/desired-state.js';

/** Who holds the apply lock, shown to whoever waits for it. */
export interface LockHolder {
  readonly id: string;
  readonly operation: string;
  readonly pid: number;
  readonly host: string;
  /** ISO-8601. */
  readonly since: string;
  /**
   * Set only on what `acquireLock` returns, when it removed the lock of a
   * process that had died on this host: the caller should say so, since that
   * earlier run was interrupted.
   */
  readonly takenOverFrom?: LockHolder;
}

/**
 * Records the store keeps for what `serve` needs; written by apply. Users
 * and VMs are kept exactly as the spec resolves them.
 */
export type UserRecord = DesiredUser;
export type VmRecord = DesiredVm;

export interface NodeRecord {
  readonly name: string;
  readonly address: string;
  readonly blocked: boolean;
  readonly memoryMb: number;
  readonly vcpus: number;
  readonly maxVms: number;
}

export interface ImageRecord {
  readonly key: string;
  readonly sha256: string;
  readonly memoryMb: number;
  readonly vcpus: number;
  readonly homeSizeMb: number;
  readonly application: boolean;
}

/**
 * The cluster settings as `serve` works from them, flat: `hkd.idle_stop` →
 * 3600 (what `DesiredSettings` holds, without the database, which is where
 * the store itself lives). Recorded so that a change of settings alone is a
 * change plan shows and apply makes, and running serves reload.
 */
export type SettingsRecord = Readonly<Record<string, string | number | boolean>>;

/** Everything plan needs from the store, read in one go. */
export interface StoreSnapshot {
  readonly serial: number;
  /** Absent until an apply wrote them. */
  readonly settings?: SettingsRecord;
  readonly users: readonly UserRecord[];
  readonly vms: readonly VmRecord[];
  readonly nodes: readonly NodeRecord[];
  readonly images: readonly ImageRecord[];
}

/** One record change, applied by `writeRecords` in a single transaction. */
export type RecordWrite =
  | { readonly kind: 'user'; readonly op: 'upsert'; readonly record: UserRecord }
  | { readonly kind: 'user'; readonly op: 'delete'; readonly key: string }
  | { readonly kind: 'vm'; readonly op: 'upsert'; readonly record: VmRecord }
  | { readonly kind: 'vm'; readonly op: 'delete'; readonly key: string }
  | { readonly kind: 'node'; readonly op: 'upsert'; readonly record: NodeRecord }
  | { readonly kind: 'node'; readonly op: 'delete'; readonly key: string }
  | { readonly kind: 'image'; readonly op: 'upsert'; readonly record: ImageRecord }
  | { readonly kind: 'image'; readonly op: 'delete'; readonly key: string }
  | { readonly kind: 'settings'; readonly op: 'upsert'; readonly record: SettingsRecord }
  | { readonly kind: 'settings'; readonly op: 'delete'; readonly key: typeof SETTINGS_KEY };

/** The one settings record's key, as plans name it. */
export const SETTINGS_KEY = 'cluster';

/** A step of an apply, written before it runs and updated after. */
export interface JournalEntry {
  readonly applyId: string;
  readonly seq: number;
  readonly node: string | null;
  /** Human description, e.g. "create domain qvd-alice-desk". */
  readonly step: string;
  readonly status: 'started' | 'done' | 'failed';
  readonly error?: string;
}

/**
 * The state store: SQLite (embedded default) or PostgreSQL (cluster), one
 * interface. All methods are safe to call concurrently from one process.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  /** Where it lives, for messages (file path, or URL without password). */
  readonly location: string;

  /** Run pending numbered migrations; idempotent. */
  migrate(): Promise<void>;

  snapshot(): Promise<StoreSnapshot>;
  serial(): Promise<number>;

  /**
   * Take the apply lock, waiting up to `timeoutMs` (0: fail at once). A lock
   * whose holder process is gone on this host is taken over. Throws
   * LockHeldError naming the holder.
   */
  acquireLock(operation: string, timeoutMs: number): Promise<LockHolder>;
  releaseLock(id: string): Promise<void>;
  readLock(): Promise<LockHolder | undefined>;
  /** `qvd state unlock`: remove the lock whoever holds it; returns who did. */
  forceUnlock(): Promise<LockHolder | undefined>;

  /** Write record changes and bump the serial, in one transaction; returns the new serial. */
  writeRecords(writes: readonly RecordWrite[]): Promise<number>;
  /**
   * The key the VMs' agent secrets are derived from: made at random by the
   * first caller and kept in the store, so every process agrees on it.
   */
  vmaKey(): Promise<string>;

  /** Bump the serial alone (an apply that changed nodes but no records). */
  bumpSerial(): Promise<number>;

  saveObserved(observed: ObservedNode): Promise<void>;
  loadObserved(node: string): Promise<{ observed: ObservedNode; at: string } | undefined>;

  journal(entry: JournalEntry): Promise<void>;
  /** Entries of the last apply (for `qvd status` and crash reports). */
  lastJournal(): Promise<readonly JournalEntry[]>;

  close(): Promise<void>;
}
