import { addressKey } from './address-cap.js';

/** How failed logins slow further attempts. */
export interface ThrottleSettings {
  /** Failures older than this are forgotten. */
  readonly windowMs: number;
  /** Failures of one login (any source) before attempts on it are spaced out. */
  readonly freeFailuresPerLogin: number;
  /** Failures from one address (any login) before its attempts are spaced out; higher, as offices share an address. */
  readonly freeFailuresPerIp: number;
  /** Spacing after the first failure over the free ones; doubles with each further failure. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** An attempt that would have to wait longer than this (attempts queued ahead of it) is refused with 429 at once. */
  readonly maxWaitMs: number;
  /** Bound on remembered logins and addresses; the least recently touched go first. */
  readonly maxEntries: number;
}

export const DEFAULT_THROTTLE: ThrottleSettings = {
  windowMs: 15 * 60_000,
  freeFailuresPerLogin: 5,
  freeFailuresPerIp: 20,
  baseDelayMs: 500,
  maxDelayMs: 15_000,
  maxWaitMs: 30_000,
  maxEntries: 100_000,
};

export type ThrottleTicket = { readonly kind: 'go'; readonly waitMs: number } | { readonly kind: 'refuse'; readonly retryAfterMs: number };

interface Entry {
  failures: number;
  lastFailureAt: number;
  /** When the latest admitted attempt was allowed to run: the next one runs `delay` after it. */
  lastSlotAt: number;
}

/**
 * Exponential spacing of login attempts per source address and per login.
 * Each attempt reserves a slot `delay(failures)` after the previous one, so
 * parallel connections queue instead of multiplying the guessing rate. The
 * request waits for its slot before its password is checked, then gets its
 * normal answer (a delayed 401 rather than an early refusal the original
 * clients would not understand); only when the queue is longer than
 * `maxWaitMs` is the answer 429 with Retry-After.
 */
export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  readonly settings: ThrottleSettings;

  constructor(settings: Partial<ThrottleSettings> = {}, private readonly now: () => number = Date.now) {
    this.settings = { ...DEFAULT_THROTTLE, ...settings };
  }

  /** Reserve a slot for an attempt from `ip` on `login` (undefined for token logins). */
  admit(ip: string, login: string | undefined): ThrottleTicket {
    const now = this.now();
    const keys = this.keys(ip, login);
    let slot = now;
    for (const { key, free } of keys) {
      const entry = this.live(key, now);
      if (entry === undefined) continue;
      slot = Math.max(slot, entry.lastSlotAt + this.delay(entry.failures, free));
    }
    const wait = slot - now;
    if (wait > this.settings.maxWaitMs) return { kind: 'refuse', retryAfterMs: wait };
    for (const { key } of keys) {
      const entry = this.live(key, now);
      if (entry !== undefined) this.touch(key, { ...entry, lastSlotAt: Math.max(entry.lastSlotAt, slot) });
    }
    return { kind: 'go', waitMs: wait };
  }

  failed(ip: string, login: string | undefined): void {
    const now = this.now();
    for (const { key } of this.keys(ip, login)) {
      const entry = this.live(key, now) ?? { failures: 0, lastFailureAt: now, lastSlotAt: now };
      this.touch(key, { ...entry, failures: entry.failures + 1, lastFailureAt: now });
    }
  }

  /** A right password clears its login's record (not the address's: one good account must not launder guesses at others). */
  succeeded(login: string): void {
    this.entries.delete(loginKey(login));
  }

  /** Failures remembered for a login or an address (for tests and logs). */
  failures(ip: string, login?: string): { ip: number; login: number } {
    const now = this.now();
    return {
      ip: this.live(`ip:${addressKey(ip)}`, now)?.failures ?? 0,
      login: login === undefined ? 0 : (this.live(loginKey(login), now)?.failures ?? 0),
    };
  }

  private keys(ip: string, login: string | undefined): Array<{ key: string; free: number }> {
    // An IPv6 client picks addresses from its /64 at will: its failures count together.
    const keys = [{ key: `ip:${addressKey(ip)}`, free: this.settings.freeFailuresPerIp }];
    if (login !== undefined) keys.push({ key: loginKey(login), free: this.settings.freeFailuresPerLogin });
    return keys;
  }

  private delay(failures: number, free: number): number {
    if (failures < free) return 0;
    return Math.min(this.settings.maxDelayMs, this.settings.baseDelayMs * 2 ** Math.min(failures - free, 30));
  }

  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (now - entry.lastFailureAt > this.settings.windowMs && entry.lastSlotAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private touch(key: string, entry: Entry): void {
    // Re-insert so Map order is least recently touched first.
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.settings.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }
}

/** Case variants of a login share one record, so `Ann` and `ann` cannot double the guessing rate. */
function loginKey(login: string): string {
  return `login:${login.toLowerCase()}`;
}
