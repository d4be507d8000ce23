import type { ImageRecord, NodeRecord, RecordWrite, SettingsRecord, UserRecord, VmRecord } from './store.js';

/** The writes of one kind of record, reduced to one final operation per key. */
export interface KindBatch<R> {
  readonly upserts: readonly R[];
  readonly deletes: readonly string[];
}

export interface RecordWriteBatch {
  readonly user: KindBatch<UserRecord>;
  readonly vm: KindBatch<VmRecord>;
  readonly node: KindBatch<NodeRecord>;
  readonly image: KindBatch<ImageRecord>;
  /** The last settings write: a new record, null to remove it, undefined for none. */
  readonly settings: SettingsRecord | null | undefined;
}

type Final<R> = Map<string, { readonly op: 'upsert'; readonly record: R } | { readonly op: 'delete' }>;

/**
 * Collapse a list of writes so that each key is touched once, the last write
 * winning. This is what lets the store send deletes and upserts as bulk
 * statements in any order with the same result as applying the list one by
 * one, and keeps PostgreSQL from rejecting an upsert that names a key twice.
 */
export function batchRecordWrites(writes: readonly RecordWrite[]): RecordWriteBatch {
  const user: Final<UserRecord> = new Map();
  const vm: Final<VmRecord> = new Map();
  const node: Final<NodeRecord> = new Map();
  const image: Final<ImageRecord> = new Map();
  let settings: SettingsRecord | null | undefined;
  for (const w of writes) {
    switch (w.kind) {
      case 'user':
        if (w.op === 'upsert') user.set(w.record.key, { op: 'upsert', record: w.record });
        else user.set(w.key, { op: 'delete' });
        break;
      case 'vm':
        if (w.op === 'upsert') vm.set(w.record.name, { op: 'upsert', record: w.record });
        else vm.set(w.key, { op: 'delete' });
        break;
      case 'node':
        if (w.op === 'upsert') node.set(w.record.name, { op: 'upsert', record: w.record });
        else node.set(w.key, { op: 'delete' });
        break;
      case 'image':
        if (w.op === 'upsert') image.set(w.record.key, { op: 'upsert', record: w.record });
        else image.set(w.key, { op: 'delete' });
        break;
      case 'settings':
        settings = w.op === 'upsert' ? w.record : null;
        break;
    }
  }
  return { user: split(user), vm: split(vm), node: split(node), image: split(image), settings };
}

function split<R>(final: Final<R>): KindBatch<R> {
  const upserts: R[] = [];
  const deletes: string[] = [];
  for (const [key, w] of final) {
    if (w.op === 'upsert') upserts.push(w.record);
    else deletes.push(key);
  }
  return { upserts, deletes };
}
