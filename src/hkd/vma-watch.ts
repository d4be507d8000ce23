import type { Logger } from 'pino';
import type { DesiredSettings } from '../spec/desired-state.js';
import { encodeNodeMessage, nodeChannel, VM_CHANNEL, type Notifier } from '../state/notifier.js';
import type { RuntimeStore, VmView } from '../state/runtime-store.js';
import type { VmaControl, VmaTarget } from './vma-control.js';

export interface VmaWatchOptions {
  readonly vma: VmaControl;
  readonly runtime: RuntimeStore;
  readonly notifier: Notifier;
  readonly logger: Logger;
  readonly now: () => number;
  /** How often the X session of a VM with a connected user is looked at. */
  readonly sessionCheckMs?: number;
}

/** The original retries a failed VMA ping after 10 s. */
const RETRY_MS = 10_000;

/**
 * The HKD's watch over the agents of its running VMs, one check in flight
 * per VM at most, never blocking a pass:
 * - health: `ping` every `vma_ping` (RETRY_MS after a failure); the result
 *   goes to vma_ok_at / vma_failures, from which decideVm declares a VM dead;
 * - sessions: while a user is connected, `x_state` every sessionCheckMs (it
 *   counts as a ping). Once the agent has been seen `connected` for the
 *   current session, any other state means the NX client is gone (the agent
 *   suspended, or the desktop ended) even if the L7R's tunnel is still up:
 *   the session is cleared (user `disconnected`, which starts the idle
 *   timer) and its L7R is asked to close the tunnel.
 */
export class VmaWatch {
  readonly #o: VmaWatchOptions;
  /** VM id → when it was last checked, and whether that failed. */
  readonly #last = new Map<number, { readonly at: number; readonly failed: boolean }>();
  readonly #inflight = new Set<number>();
  /** VM id → the session the agent was last seen `connected` in. */
  readonly #seenConnected = new Map<number, string>();

  constructor(options: VmaWatchOptions) {
    this.#o = options;
  }

  /** Called on every pass for each running VM with an agent: checks it when due. */
  visit(view: VmView, target: VmaTarget, timers: DesiredSettings['hkd']): void {
    const id = view.runtime.id;
    const last = this.#last.get(id);
    if (this.#inflight.has(id) || (last !== undefined && this.#o.now() - last.at < this.#interval(view, last.failed, timers))) return;
    this.#inflight.add(id);
    void this.#check(view, target, timers)
      .catch((error: unknown) => this.#o.logger.error({ err: error, vm: target.vm }, 'VMA check failed'))
      .finally(() => this.#inflight.delete(id));
  }

  /** The VM is no longer running here: start afresh if it comes back. */
  forget(id: number): void {
    this.#last.delete(id);
    this.#seenConnected.delete(id);
  }

  /** VM ids this watch remembers, to forget the ones that left. */
  get known(): readonly number[] {
    return [...this.#last.keys()];
  }

  /** Decided at each visit, so a session that just connected is looked at soon. */
  #interval(view: VmView, failed: boolean, timers: DesiredSettings['hkd']): number {
    const pingMs = timers.vmaPing * 1000;
    if (failed) return Math.min(pingMs, RETRY_MS);
    return view.runtime.userState === 'connected' ? Math.min(pingMs, this.#o.sessionCheckMs ?? 5000) : pingMs;
  }

  async #check(view: VmView, target: VmaTarget, timers: DesiredSettings['hkd']): Promise<void> {
    const r = view.runtime;
    const session = r.userState === 'connected' ? r.session : null;
    const pingMs = timers.vmaPing * 1000;
    try {
      if (session === null) {
        await this.#o.vma.ping(target);
      } else {
        const x = await this.#o.vma.xState(target);
        if (x.state === 'connected') this.#seenConnected.set(r.id, session.id);
        else if (this.#seenConnected.get(r.id) === session.id) await this.#clientGone(view, session, x.state);
      }
      // Written when it tells something new, not on every session check.
      if (r.vmaFailures > 0 || r.vmaOkAt === null || this.#o.now() - Date.parse(r.vmaOkAt) >= pingMs) await this.#o.runtime.recordVmaHealth(r.id, true);
      this.#last.set(r.id, { at: this.#o.now(), failed: false });
    } catch (error) {
      this.#o.logger.warn({ vm: target.vm, failures: r.vmaFailures + 1, err: error }, 'the VMA did not answer');
      this.#last.set(r.id, { at: this.#o.now(), failed: true });
      await this.#o.runtime.recordVmaHealth(r.id, false);
    }
  }

  async #clientGone(view: VmView, session: NonNullable<VmView['runtime']['session']>, state: string): Promise<void> {
    this.#seenConnected.delete(view.runtime.id);
    const ok = await this.#o.runtime.transitionVm(
      view.runtime.id,
      { state: 'running', sessionId: session.id },
      { session: null, userState: 'disconnected' },
      `the VMA says the client of session ${session.id} is gone (X session ${state})`,
    );
    if (!ok) return;
    this.#o.logger.info({ vm: view.record.name, session: session.id, xState: state }, 'client gone (VMA): session cleared');
    await this.#o.notifier.notify(VM_CHANNEL, String(view.runtime.id)).catch(() => undefined);
    // Its tunnel leads to an agent no client uses: have its L7R close it.
    await this.#o.notifier.notify(nodeChannel(session.node), encodeNodeMessage({ kind: 'takeover', session: session.id, by: 'client-gone' })).catch(() => undefined);
  }
}
