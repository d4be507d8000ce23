import { SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type SqliteDialectConfig } from 'kysely';
import { FifoSlots } from '../fifo-slots.js';

/**
 * kysely's SQLite driver hands its one connection over with a mutex whose
 * waiters all wake on every release and all but one go back to waiting:
 * with N queries waiting (a burst of connects to the L7R), each query costs
 * N wake-ups. One FIFO slot wakes exactly the next waiter, in arrival order.
 */
class QueuedSqliteDriver extends SqliteDriver {
  readonly #gate = new FifoSlots(1);

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
