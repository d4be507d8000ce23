import { randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const SLAVE_KEY = /^[A-Za-z0-9]{64}$/;

/**
 * Random bytes are drawn from the CSPRNG a pool at a time (as randomUUID
 * does): one call per key cost more than making the key. Each byte is used once.
 */
const POOL_BYTES = 8192;
let pool = Buffer.alloc(0);
let poolAt = 0;

function randomByte(): number {
  if (poolAt === pool.length) {
    pool = randomBytes(POOL_BYTES);
    poolAt = 0;
  }
  return pool[poolAt++]!;
}

/** A per-session secret for the side channel, as the original: 64 characters from [A-Za-z0-9]. */
export function newSlaveKey(): string {
  let key = '';
  while (key.length < 64) {
    const byte = randomByte();
    // 248 = 4 * 62: bytes above it would make the first letters likelier.
    if (byte < 248) key += ALPHABET[byte % 62];
  }
  return key;
}

/** The key goes into a response header: anything else could inject headers or break clients. */
export function isSlaveKey(value: string): boolean {
  return SLAVE_KEY.test(value);
}
