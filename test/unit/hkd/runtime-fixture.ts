import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { DesiredState } from '../../../src/spec/desired-state.js';
import { MemoryNotifier } from '../../../src/state/notifier-memory.js';
import { openStore } from '../../../src/state/open-store.js';
import { openRuntimeStore } from '../../../src/state/runtime-open.js';
import type { RuntimeStore } from '../../../src/state/runtime-store.js';
import type { RecordWrite } from '../../../src/state/store.js';

export const silent = pino({ level: 'silent' });

/** The records apply would have written for a desired state. */
export function recordWrites(d: DesiredState): RecordWrite[] {
  return [
    ...d.users.map((record): RecordWrite => ({ kind: 'user', op: 'upsert', record })),
    ...d.images.map((i): RecordWrite => ({ kind: 'image', op: 'upsert', record: { key: i.key, sha256: i.sha256, memoryMb: i.memoryMb, vcpus: i.vcpus, homeSizeMb: i.homeSizeMb, application: i.application } })),
    ...d.nodes.map((n): RecordWrite => ({ kind: 'node', op: 'upsert', record: { name: n.name, address: n.address, blocked: n.blocked, memoryMb: n.capacity.memoryMb, vcpus: n.capacity.vcpus, maxVms: n.capacity.maxVms } })),
    ...d.vms.map((record): RecordWrite => ({ kind: 'vm', op: 'upsert', record })),
  ];
}

export interface RuntimeFixture {
  readonly runtime: RuntimeStore;
  readonly notifier: MemoryNotifier;
  readonly path: string;
  /** Another process's view of the same file (its own connection and actor). */
  other(actor: string): Promise<RuntimeStore>;
  close(): Promise<void>;
}

/** A temp SQLite state holding the records of `desired`, its runtime rows synced. */
export async function runtimeFixture(desired: DesiredState, opts: { now?: () => Date } = {}): Promise<RuntimeFixture> {
  const dir = await mkdtemp(join(tmpdir(), 'qvd-hkd-unit-'));
  const path = join(dir, 'state.db');
  const store = await openStore({ kind: 'sqlite', path });
  await store.writeRecords(recordWrites(desired));
  await store.close();
  const opened: RuntimeStore[] = [];
  const open = async (actor: string): Promise<RuntimeStore> => {
    const r = await openRuntimeStore({ kind: 'sqlite', path }, { actor, ...(opts.now === undefined ? {} : { now: opts.now }) });
    opened.push(r);
    return r;
  };
  const runtime = await open('test');
  await runtime.syncVms();
  const notifier = new MemoryNotifier();
  return {
    runtime,
    notifier,
    path,
    other: open,
    async close() {
      await notifier.close();
      for (const r of opened) await r.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
