import { createHmac, timingSafeEqual } from 'node:crypto';

/** RFC 6238 with the parameters every authenticator app uses by default. */
export const TOTP_DIGITS = 6;
export const TOTP_STEP_SECONDS = 30;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 (case-insensitive, spaces and padding ignored); undefined when malformed or empty. */
export function base32Decode(text: string): Buffer | undefined {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  if (clean === '') return undefined;
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index === -1) return undefined;
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** The HOTP value (RFC 4226) of `key` at `counter`, as a zero-padded decimal string. */
export function hotp(key: Buffer, counter: number, digits: number = TOTP_DIGITS): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

export function totpCounter(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_STEP_SECONDS);
}

/**
 * The time step `code` belongs to, within ±`window` steps of now (clock drift
 * and the seconds a user needs to type), or undefined.
 */
export function matchTotp(key: Buffer, code: string, nowMs: number, window = 1): number | undefined {
  if (!/^[0-9]+$/.test(code) || code.length !== TOTP_DIGITS) return undefined;
  const given = Buffer.from(code);
  const now = totpCounter(nowMs);
  let matched: number | undefined;
  // Every candidate is compared, so the time taken does not tell which step matched.
  for (let counter = now - window; counter <= now + window; counter++) {
    if (timingSafeEqual(Buffer.from(hotp(key, counter)), given) && matched === undefined) matched = counter;
  }
  return matched;
}
