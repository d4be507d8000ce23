import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SLAVE_KEY = /^[A-Za-z0-9]{64}$/;

/** A per-session secret for the side channel, as the original: 64 characters from [A-Za-z0-9]. */
export function newSlaveKey(): string {
  let key = '';
  while (key.length < 64) {
    for (const byte of randomBytes(96)) {
      // 248 = 4 * 62: bytes above it would make the first letters likelier.
      if (byte < 248) key += ALPHABET[byte % 62];
      if (key.length === 64) break;
    }
  }
  return key;
}

/** The key goes into a response header: anything else could inject headers or break clients. */
export function isSlaveKey(value: string): boolean {
  return SLAVE_KEY.test(value);
}
