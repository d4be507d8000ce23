import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { passwordHashKind, verifyPassword } from '../spec/password-hash.js';

/** Checks a password against a stored hash without stalling the event loop. */
export interface PasswordVerifier {
  verify(hash: string, password: string): Promise<boolean>;
  /** Stop the worker threads (they never keep the process alive on their own). */
  close(): Promise<void>;
}

/**
 * argon2id (hash-wasm, ~80 ms of CPU per check here) would freeze every tunnel
 * of the process for that long on each login, so argon2id checks run in
 * worker threads. The original QVD sha256 format costs microseconds and stays
 * on the main thread. If workers cannot start, checks fall back to the main
 * thread rather than fail logins.
 */
export function createPasswordVerifier(options: { readonly threads?: number } = {}): PasswordVerifier {
  const threads = Math.max(1, options.threads ?? Math.min(4, availableParallelism() - 1));
  const pool = new Argon2Pool(threads);
  return {
    async verify(hash, password) {
      if (passwordHashKind(hash) !== 'argon2id') return verifyPassword(hash, password);
      const result = await pool.verify(hash, password);
      return result ?? verifyPassword(hash, password);
    },
    close: () => pool.close(),
  };
}

let shared: PasswordVerifier | undefined;

/** One pool per process, shared by every server and provider that does not bring its own. */
export function sharedPasswordVerifier(): PasswordVerifier {
  shared ??= createPasswordVerifier();
  return shared;
}

// CommonJS in the worker: an eval'd worker cannot resolve bare ESM specifiers, and hash-wasm ships a UMD build.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { argon2Verify } = require(workerData.hashWasm);
parentPort.on('message', (job) => {
  argon2Verify({ password: job.password, hash: job.hash }).then(
    (ok) => parentPort.postMessage({ id: job.id, ok: ok === true }),
    () => parentPort.postMessage({ id: job.id, ok: false }),
  );
});
`;

interface Job {
  readonly id: number;
  readonly hash: string;
  readonly password: string;
  readonly resolve: (ok: boolean | undefined) => void;
}

interface Slot {
  worker: Worker;
  busy: Job | undefined;
}

class Argon2Pool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private nextId = 1;
  private broken = false;
  private crashes = 0;
  private hashWasmPath: string | undefined;

  constructor(private readonly size: number) {}

  /** True/false, or undefined when no worker could run it (the caller falls back). */
  verify(hash: string, password: string): Promise<boolean | undefined> {
    if (this.broken) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.queue.push({ id: this.nextId++, hash, password, resolve });
      this.pump();
    });
  }

  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    for (const job of this.queue.splice(0)) job.resolve(undefined);
    await Promise.all(slots.map(async (slot) => {
      slot.busy?.resolve(undefined);
      await slot.worker.terminate();
    }));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((candidate) => candidate.busy === undefined);
      if (slot === undefined && this.slots.length < this.size) slot = this.spawn();
      if (slot === undefined) return;
      const job = this.queue.shift();
      if (job === undefined) return;
      slot.busy = job;
      slot.worker.ref();
      slot.worker.postMessage({ id: job.id, hash: job.hash, password: job.password });
    }
  }

  private spawn(): Slot | undefined {
    try {
      this.hashWasmPath ??= createRequire(import.meta.url).resolve('hash-wasm');
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { hashWasm: this.hashWasmPath } });
      const slot: Slot = { worker, busy: undefined };
      worker.on('message', (message: { id: number; ok: boolean }) => {
        const job = slot.busy;
        if (job === undefined || job.id !== message.id) return;
        slot.busy = undefined;
        // An idle worker must not keep a finished program running.
        worker.unref();
        job.resolve(message.ok);
        this.pump();
      });
      worker.on('error', () => this.retire(slot));
      worker.on('exit', () => this.retire(slot));
      worker.unref();
      this.slots.push(slot);
      return slot;
    } catch {
      this.broken = true;
      for (const job of this.queue.splice(0)) job.resolve(undefined);
      return undefined;
    }
  }

  private retire(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index === -1) return;
    this.slots.splice(index, 1);
    slot.busy?.resolve(undefined);
    slot.busy = undefined;
    // A worker that keeps dying (hash-wasm missing, out of memory) is given up on: the main thread takes over.
    if (++this.crashes >= 3) {
      this.broken = true;
      for (const job of this.queue.splice(0)) job.resolve(undefined);
      return;
    }
    this.pump();
  }
}
