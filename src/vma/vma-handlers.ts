import { parseXStartParams } from './parse-x-start-params.js';
import type { VmaHandlers } from './rpc-server.js';
import type { XSession } from './x-session.js';
import { VmaError } from './vma-error.js';

export interface HandlerDeps {
  readonly session: XSession;
  readonly version: string;
  readonly startedAt: number;
  /** Stops the session and powers the guest off; must not reject. */
  readonly powerOff: () => Promise<void>;
  readonly now?: () => number;
}

/** How long x_stop waits for the session to end before answering. */
const STOP_WAIT_MS = 15_000;

/** The RPCs, mapped onto the session. x_start answers at once: callers poll x_state. */
export function vmaHandlers(d: HandlerDeps): VmaHandlers {
  const now = d.now ?? Date.now;
  let poweringOff = false;
  return {
    ping: () => ({ alive: true, version: d.version, uptime: Math.round((now() - d.startedAt) / 1000) }),
    x_state: () => d.session.status(),
    x_start: (params) => {
      if (poweringOff) throw new VmaError('conflict', 'the VM is powering off');
      const parsed = parseXStartParams(params);
      if (!parsed.ok) throw new VmaError('bad-request', `invalid x_start parameters: ${parsed.errors.join('; ')}`);
      return d.session.start(parsed.params);
    },
    x_suspend: () => d.session.suspend(),
    x_stop: async () => {
      await Promise.race([d.session.stop(), new Promise((r) => setTimeout(r, STOP_WAIT_MS).unref())]);
      return d.session.status();
    },
    poweroff: () => {
      if (!poweringOff) {
        poweringOff = true;
        // After the answer is on its way: the caller learns the request was taken.
        setTimeout(() => void d.powerOff(), 100);
      }
      return d.session.status();
    },
  };
}
