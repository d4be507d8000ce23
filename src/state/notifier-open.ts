import type { StoreConfig } from './open-store.js';
import type { Notifier } from './notifier.js';
import { MemoryNotifier } from './notifier-memory.js';
import { PostgresNotifier } from './notifier-postgres.js';

/** The notifier that matches a store: LISTEN/NOTIFY on PostgreSQL, in-process on SQLite. */
export function openNotifier(config: StoreConfig, onError?: (error: Error) => void): Notifier {
  if (config.kind === 'sqlite') return new MemoryNotifier();
  return new PostgresNotifier({ url: config.url, ...(onError === undefined ? {} : { onError }) });
}
