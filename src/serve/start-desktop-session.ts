import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { VmaControl, VmaTarget } from '../hkd/vma-control.js';
import type { XStateResult } from '../vma/vma-api.js';

export interface DesktopSessionInput {
  readonly vma: VmaControl;
  readonly target: VmaTarget;
  /** The login the guest makes the session's Unix user from. */
  readonly login: string;
  /** The client's `qvd.client.*` / `custom.*` parameters, passed on unchanged. */
  readonly clientParams: Readonly<Record<string, string>>;
  readonly say: (text: string) => void;
  readonly signal: AbortSignal;
  /** How long the agent may take from x_start to `listening`. */
  readonly timeoutMs: number;
  readonly pollMs?: number;
  readonly now?: () => number;
}

/** Why a desktop session could not be made ready; the message is the 503's reason. */
export class DesktopSessionError extends Error {}

/**
 * What the original L7R does once the VM runs: a fresh NX cookie for this
 * connection, VMA `x_start` with the client's parameters, the login and the
 * cookie, then `x_state` polled until the agent listens for exactly that
 * cookie. Returns the cookie (for the 101's X-QVD-NX-Cookie).
 *
 * An agent already `listening` when x_start arrives is listening for an
 * older cookie (the newest is adopted asynchronously): its answer is stale,
 * and only a `listening` with a later `since` (the guest's clock, compared
 * with itself) counts.
 */
export async function startDesktopSession(input: DesktopSessionInput): Promise<string> {
  const { vma, target, say, signal } = input;
  const now = input.now ?? Date.now;
  const deadline = now() + input.timeoutMs;
  const cookie = randomBytes(16).toString('hex');
  say('starting the desktop session');
  let x: XStateResult;
  try {
    x = await vma.xStart(target, { ...input.clientParams, user: input.login, cookie });
  } catch (error) {
    throw new DesktopSessionError(`the desktop session could not be started (${messageOf(error)})`);
  }
  const stale = x.state === 'listening' ? x.since : undefined;
  let lastError: unknown;
  for (;;) {
    if (x.state === 'listening' && x.since !== stale) return cookie;
    if (x.state === 'stopped' && x.lastError !== undefined) throw new DesktopSessionError(`the desktop session could not start: ${x.lastError}`);
    if (signal.aborted) throw new DesktopSessionError(`aborted: ${String(signal.reason ?? 'client went away')}`);
    if (now() >= deadline) {
      const why = lastError === undefined ? `X session ${x.state}` : messageOf(lastError);
      throw new DesktopSessionError(`the desktop session was not ready within ${Math.round(input.timeoutMs / 1000)}s (${why})`);
    }
    say(`desktop session: ${x.state}`);
    await sleep(input.pollMs ?? 250, undefined, { signal }).catch(() => undefined);
    try {
      x = await vma.xState(target);
      lastError = undefined;
    } catch (error) {
      // One lost answer is no verdict: the deadline is.
      lastError = error;
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
