import { EventEmitter } from 'node:events';
import type { Notifier } from './notifier.js';

/**
 * SQLite serves one node from one process: the L7R and the HKD share this
 * emitter. Handlers run on a later tick, as a database notification would.
 */
export class MemoryNotifier implements Notifier {
  readonly #emitter = new EventEmitter().setMaxListeners(0);

  notify(channel: string, payload: string): Promise<void> {
    setImmediate(() => this.#emitter.emit(channel, payload));
    return Promise.resolve();
  }

  listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>> {
    this.#emitter.on(channel, handler);
    return Promise.resolve(() => {
      this.#emitter.off(channel, handler);
      return Promise.resolve();
    });
  }

  close(): Promise<void> {
    this.#emitter.removeAllListeners();
    return Promise.resolve();
  }
}
