import type { Logger } from 'pino';
import type { DesiredState } from '../spec/desired-state.js';
import type { RuntimeStore } from '../state/runtime-store.js';

/**
 * The desired state serve works from, reloaded from the spec file when an
 * apply moved the store's serial (at most once per `minIntervalMs`). A spec
 * that no longer loads keeps the last good one: a typo must not stop serve.
 */
export class DesiredSource {
  #current: DesiredState;
  #serial: number;
  #checkedAt = 0;
  #pending: Promise<DesiredState> | undefined;
  readonly #listeners: ((next: DesiredState, previous: DesiredState) => void)[] = [];

  constructor(
    initial: DesiredState,
    initialSerial: number,
    private readonly load: () => Promise<DesiredState>,
    private readonly runtime: RuntimeStore,
    private readonly logger: Logger,
    private readonly minIntervalMs = 2000,
  ) {
    this.#current = initial;
    this.#serial = initialSerial;
  }

  /** Called after each reload that produced a new desired state (not when the spec failed to load). */
  onReload(listener: (next: DesiredState, previous: DesiredState) => void): void {
    this.#listeners.push(listener);
  }

  get current(): DesiredState {
    return this.#current;
  }

  get(): Promise<DesiredState> {
    if (Date.now() - this.#checkedAt < this.minIntervalMs) return Promise.resolve(this.#current);
    this.#pending ??= this.#refresh().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #refresh(): Promise<DesiredState> {
    this.#checkedAt = Date.now();
    const serial = await this.runtime.serial().catch(() => this.#serial);
    if (serial === this.#serial) return this.#current;
    try {
      const previous = this.#current;
      this.#current = await this.load();
      this.#serial = serial;
      this.logger.info({ serial }, 'spec reloaded after an apply');
      for (const listener of this.#listeners) {
        try {
          listener(this.#current, previous);
        } catch (error) {
          this.logger.error({ err: error }, 'applying the reloaded spec failed');
        }
      }
    } catch (error) {
      this.logger.error({ err: error }, 'the spec no longer loads; serve keeps the last good one');
      this.#serial = serial;
    }
    return this.#current;
  }
}
