import { SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';

/**
 * kysely's SQLite driver hands its one connection over with a mutex whose
 * waiters all wake on every release and all but one go back to waiting:
 * with N queries waiting (a burst of connects to the L7R), each query costs
 * N wake-ups. This gate wakes exactly the next waiter, in arrival order.
 */
class FifoGate {
  #busy = false;
  readonly #waiting: (() => void)[] = [];
  #head = 0;

  enter(): Promise<void> {
    if (!this.#busy) {
      this.#busy = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  leave(): void {
    if (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head++]!;
      // Compact now and then rather than shift() (linear) on every hand-over.
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting.splice(0, this.#head);
        this.#head = 0;
      }
      next();
      return;
    }
    this.#waiting.length = 0;
    this.#head = 0;
    this.#busy = false;
  }
}

class QueuedSqliteDriver extends SqliteDriver {
  readonly #gate = new FifoGate();

  override async acquireConnection(): Promise<DatabaseConnection> {
    await this.#gate.enter();
    try {
      return await super.acquireConnection();
    } catch (error) {
      this.#gate.leave();
      throw error;
    }
  }

  override async releaseConnection(): Promise<void> {
    await super.releaseConnection();
    this.#gate.leave();
  }
}

/** SqliteDialect whose connection is handed over in order, one wake-up per query. */
export class QueuedSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig;

  constructor(config: SqliteDialectConfig) {
    super(config);
    this.#config = config;
  }

  override createDriver(): Driver {
    return new QueuedSqliteDriver(this.#config);
  }
}
