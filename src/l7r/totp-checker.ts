import { base32Decode, matchTotp, TOTP_DIGITS } from './totp.js';

export type TotpCheck = { readonly ok: true; readonly password: string; readonly step: number } | { readonly ok: false; readonly reason: string };

/**
 * Second factor as the original QVD clients send it: the code is appended to
 * the password (the Qt client concatenates "password + second factor"; the
 * server splits by the fixed length). A code is accepted once: a replay of a
 * seen code (same user, same or earlier step) is refused.
 */
export class TotpChecker {
  /** Last step accepted per user key; bounded so a flood of users cannot grow it forever. */
  private readonly lastStep = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxUsers = 100_000,
  ) {}

  /** Split `password` into password and code and check the code against `secret`. */
  check(userKey: string, secret: string, password: string): TotpCheck {
    const key = base32Decode(secret);
    if (key === undefined) return { ok: false, reason: 'totp-secret-invalid' };
    if (password.length < TOTP_DIGITS) return { ok: false, reason: 'totp-code-missing' };
    const code = password.slice(-TOTP_DIGITS);
    const step = matchTotp(key, code, this.now());
    if (step === undefined) return { ok: false, reason: 'totp-code-wrong' };
    const last = this.lastStep.get(userKey);
    if (last !== undefined && step <= last) return { ok: false, reason: 'totp-code-reused' };
    return { ok: true, password: password.slice(0, -TOTP_DIGITS), step };
  }

  /** Called once the whole login succeeded, so a wrong password does not burn the code. */
  accept(userKey: string, step: number): void {
    this.lastStep.delete(userKey);
    this.lastStep.set(userKey, step);
    if (this.lastStep.size > this.maxUsers) {
      const oldest = this.lastStep.keys().next().value;
      if (oldest !== undefined) this.lastStep.delete(oldest);
    }
  }
}
