import { FifoSlots } from '../fifo-slots.js';

/**
 * How many requests are worked on at once; the rest wait their turn, in
 * arrival order.
 *
 * Why: a request is a chain of short steps (password check, store reads
 * and writes, a TCP connect), each of which yields. With hundreds of
 * requests in flight the steps interleave round-robin, so every request
 * finishes near the end of the burst: in a login storm nobody gets a
 * desktop until everybody is about to. With a few slots, the first
 * arrivals are answered while the later ones wait, and the total work is
 * the same.
 *
 * A request that has held its slot for `holdMs` (a VM booting, a slow
 * directory) gives it up to the next one and goes on without: slots bound
 * the busy work, not the waiting.
 */
export class Admission {
  readonly #slots: FifoSlots;

  constructor(
    slots: number,
    private readonly holdMs: number,
  ) {
    this.#slots = new FifoSlots(slots);
  }

  /** Resolves when the request may start; call the returned function when it is done (extra calls are ignored). */
  async enter(): Promise<() => void> {
    await this.#slots.enter();
    let held = true;
    const leave = (): void => {
      if (!held) return;
      held = false;
      clearTimeout(timer);
      this.#slots.leave();
    };
    const timer = setTimeout(leave, this.holdMs);
    timer.unref();
    return leave;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.#slots.queued;
  }
}
