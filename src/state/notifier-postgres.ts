import pg from 'pg';
import type { Notifier } from './notifier.js';

export interface PostgresNotifierOptions {
  readonly url: string;
  /** Told about a lost LISTEN connection (it reconnects by itself). */
  readonly onError?: (error: Error) => void;
  readonly reconnectDelayMs?: number;
}

/**
 * LISTEN/NOTIFY on one dedicated connection (a pooled one would lose its
 * LISTENs when returned). When that connection drops, it reconnects and
 * listens again; notifications sent meanwhile are lost, which polling covers.
 */
export class PostgresNotifier implements Notifier {
  readonly #url: string;
  readonly #onError: (error: Error) => void;
  readonly #delayMs: number;
  readonly #handlers = new Map<string, Set<(payload: string) => void>>();
  /** NOTIFY goes through its own small pool so it never waits behind LISTEN setup. */
  readonly #sendPool: pg.Pool;
  #client: pg.Client | undefined;
  #connecting: Promise<pg.Client> | undefined;
  #closed = false;

  constructor(options: PostgresNotifierOptions) {
    this.#url = options.url;
    this.#onError = options.onError ?? (() => undefined);
    this.#delayMs = options.reconnectDelayMs ?? 1000;
    this.#sendPool = new pg.Pool({ connectionString: options.url, max: 2, connectionTimeoutMillis: 10_000 });
    this.#sendPool.on('error', () => undefined);
  }

  async notify(channel: string, payload: string): Promise<void> {
    await this.#sendPool.query('select pg_notify($1, $2)', [channel, payload]);
  }

  async listen(channel: string, handler: (payload: string) => void): Promise<() => Promise<void>> {
    let set = this.#handlers.get(channel);
    const first = set === undefined;
    if (set === undefined) {
      set = new Set();
      this.#handlers.set(channel, set);
    }
    set.add(handler);
    if (first) {
      const client = await this.#connection();
      await client.query(`listen ${quoteIdent(channel)}`);
    }
    return async () => {
      const s = this.#handlers.get(channel);
      s?.delete(handler);
      if (s !== undefined && s.size === 0) {
        this.#handlers.delete(channel);
        await this.#client?.query(`unlisten ${quoteIdent(channel)}`).catch(() => undefined);
      }
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.clear();
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
    await this.#sendPool.end().catch(() => undefined);
  }

  #connection(): Promise<pg.Client> {
    if (this.#client !== undefined) return Promise.resolve(this.#client);
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.#url });
    client.on('notification', (msg) => {
      for (const h of this.#handlers.get(msg.channel) ?? []) {
        try {
          h(msg.payload ?? '');
        } catch (error) {
          this.#onError(error as Error);
        }
      }
    });
    client.on('error', (error) => {
      this.#onError(error);
      this.#lost(client);
    });
    client.on('end', () => this.#lost(client));
    await client.connect();
    this.#client = client;
    return client;
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;
    this.#client = undefined;
    client.end().catch(() => undefined);
    if (this.#closed) return;
    const retry = (): void => {
      if (this.#closed || this.#handlers.size === 0) return;
      this.#connection()
        .then(async (c) => {
          for (const channel of this.#handlers.keys()) await c.query(`listen ${quoteIdent(channel)}`);
        })
        .catch((error: Error) => {
          this.#onError(error);
          setTimeout(retry, this.#delayMs).unref();
        });
    };
    setTimeout(retry, this.#delayMs).unref();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
