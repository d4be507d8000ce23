/**
 * N slots handed out in arrival order, waking exactly one waiter per
 * release (the L7R's admission of requests, the SQLite connection of the
 * serve store). A plain array with a moving head: shift() is linear, and
 * bursts queue hundreds of waiters.
 */
export class FifoSlots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  #head = 0;

  constructor(slots: number) {
    this.#free = Math.max(1, slots);
  }

  /** Resolves once a slot is held; pair with one `leave()`. */
  enter(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  leave(): void {
    if (this.#head < this.#waiting.length) {
      const next = this.#waiting[this.#head++]!;
      // Compact now and then rather than on every hand-over.
      if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
        this.#waiting.splice(0, this.#head);
        this.#head = 0;
      }
      next();
      return;
    }
    this.#waiting.length = 0;
    this.#head = 0;
    this.#free++;
  }

  /** Waiters without a slot. */
  get queued(): number {
    return this.#waiting.length - this.#head;
  }
}
