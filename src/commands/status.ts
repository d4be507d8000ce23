import { QvdCommand } from '../cli/base-command.js';
import { specFlag } from '../cli/flags.js';
import type { JournalEntry, LockHolder } from '../state/store.js';
import { hostname } from 'node:os';
import { isProcessAlive } from '../state/process-alive.js';
import { openStoreForSpec } from '../usecases/open-store-for-spec.js';

export interface StatusResult {
  readonly store: string;
  readonly serial: number;
  readonly lock: LockHolder | null;
  readonly records: { readonly nodes: number; readonly images: number; readonly users: number; readonly vms: number; readonly settings: boolean };
  readonly lastApply: readonly JournalEntry[];
}

export default class Status extends QvdCommand<typeof Status> {
  static override summary = 'Show the store: serial, lock holder, record counts and the steps of the last apply.';
  static override flags = { file: specFlag };

  async run(): Promise<StatusResult> {
    const store = await openStoreForSpec(this.flags.file);
    try {
      const [snap, lock, journal] = await Promise.all([store.snapshot(), store.readLock(), store.lastJournal()]);
      const records = { nodes: snap.nodes.length, images: snap.images.length, users: snap.users.length, vms: snap.vms.length, settings: snap.settings !== undefined };
      this.say(`store: ${store.location} (${store.dialect}), serial ${snap.serial}`);
      const gone = lock !== undefined && lock.host === hostname() && !isProcessAlive(lock.pid);
      this.say(
        lock === undefined
          ? 'lock: free'
          : `lock: held by ${lock.operation} (pid ${lock.pid} on ${lock.host}, since ${lock.since})${gone ? ': that process is gone (interrupted); the next apply takes the lock over' : ''}`,
      );
      this.say(`records: ${records.nodes} node(s), ${records.images} image(s), ${records.users} user(s), ${records.vms} VM(s), settings ${records.settings ? 'recorded' : 'not recorded yet'}`);
      const failed = journal.filter((j) => j.status === 'failed');
      const open = lastStarted(journal);
      if (journal.length > 0) this.say(`last apply: ${journal.filter((j) => j.status === 'done').length} step(s) done, ${failed.length} failed${open.length > 0 ? `, ${open.length} interrupted` : ''}`);
      for (const j of [...failed, ...open]) this.say(`  ${j.status === 'failed' ? '✗' : '…'} ${j.node ?? 'store'}: ${j.step}${j.error === undefined ? '' : `: ${j.error}`}`);
      return { store: store.location, serial: snap.serial, lock: lock ?? null, records, lastApply: journal };
    } finally {
      await store.close();
    }
  }
}

/** Steps that started and never finished: the apply was killed there. */
function lastStarted(journal: readonly JournalEntry[]): JournalEntry[] {
  const finished = new Set(journal.filter((j) => j.status !== 'started').map((j) => `${j.node} ${j.step}`));
  return journal.filter((j) => j.status === 'started' && !finished.has(`${j.node} ${j.step}`));
}
