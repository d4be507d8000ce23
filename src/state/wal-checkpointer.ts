import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type BetterSqlite3 from 'better-sqlite3';

/** How often the worker moves the WAL into the database: the WAL holds about this much of serve's writes. */
export const CHECKPOINT_INTERVAL_MS = 1000;

/** SQLite's own default, given back to the connection if the worker is gone. */
const AUTOCHECKPOINT_PAGES = 1000;

// CommonJS in the worker: an eval'd worker cannot resolve bare ESM specifiers (as password-verifier.ts).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true, timeout: 5000 });
const checkpoint = () => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy (another checkpoint, apply's connection): the next tick tries again.
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.once('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

export interface WalCheckpointer {
  /** Ends the worker (its connection closes, the last one checkpoints); settles when it has. */
  stop(): Promise<void>;
}

/**
 * Checkpoints of serve's SQLite database, on a worker thread: a checkpoint
 * copies the WAL into the database file and waits for the disk twice, and
 * better-sqlite3 runs it on the thread that commits, so with SQLite's
 * automatic checkpoint (every 1000 pages) a commit now and then stalled the
 * event loop that carries every tunnel for as long as the disk took. The
 * connection `db` stops checkpointing by itself; the worker's own
 * connection runs a PASSIVE checkpoint (it never blocks readers or the
 * writer) every `intervalMs`. Commits then never wait for the disk on this
 * thread. If the worker cannot start or dies, `db` checkpoints by itself
 * again.
 */
export function startWalCheckpointer(db: BetterSqlite3.Database, path: string, intervalMs = CHECKPOINT_INTERVAL_MS): WalCheckpointer {
  let worker: Worker;
  try {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path, intervalMs } });
  } catch {
    return { stop: async () => undefined };
  }
  db.pragma('wal_autocheckpoint = 0');
  let stopping = false;
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', () => {
      if (!stopping && db.open) db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      resolve();
    });
  });
  worker.on('error', () => undefined);
  // A checkpointer alone must not keep a finished program running.
  worker.unref();
  return {
    stop: () => {
      if (!stopping) {
        stopping = true;
        worker.postMessage('stop');
      }
      return exited;
    },
  };
}
