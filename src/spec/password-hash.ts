import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sha256 } from '../sha256.js';

/**
 * The two password hash formats qvd stores:
 * - `$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>` (PHC string), for new passwords;
 * - `$qvd-sha256$<salt>$<base64>`: the original QVD's scheme, base64 of
 *   sha256(salt + password) without `=` padding, so users migrated from it
 *   keep their passwords.
 */

export const QVD_DEFAULT_SALT = 'qvd1234';

/** OWASP's minimum argon2id profile: ~19 MiB, 2 passes. Enough for logins, cheap enough for a plan with a few plaintext users. */
export const ARGON2ID_PARAMS = { memorySize: 19456, iterations: 2, parallelism: 1, hashLength: 32 } as const;

const ARGON2ID_FORMAT = /^\$argon2id\$v=19\$m=[0-9]+,t=[0-9]+,p=[0-9]+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const QVD_SHA256_FORMAT = /^\$qvd-sha256\$([^$\s]+)\$([A-Za-z0-9+/]{43})$/;

export type PasswordHashKind = 'argon2id' | 'qvd-sha256';

/** Which supported format a string is in, if any (what a password file or variable may hold instead of a password). */
export function passwordHashKind(text: string): PasswordHashKind | undefined {
  if (ARGON2ID_FORMAT.test(text)) return 'argon2id';
  if (QVD_SHA256_FORMAT.test(text)) return 'qvd-sha256';
  return undefined;
}

/** The original QVD hash of `password`, in qvd's `$qvd-sha256$` notation. */
export function qvdSha256(password: string, salt: string = QVD_DEFAULT_SALT): string {
  const digest = sha256(salt + password, 'base64').replace(/=+$/, '');
  return `$qvd-sha256$${salt}$${digest}`;
}

/** A hash copied from the original QVD database (bare base64, default salt) in qvd's notation. */
export function fromOriginalQvdHash(base64: string, salt: string = QVD_DEFAULT_SALT): string {
  return `$qvd-sha256$${salt}$${base64.replace(/=+$/, '')}`;
}

/** hash-wasm carries every algorithm's WASM inline (~50 ms to load): only load it for argon2id work. */
const hashWasm = async (): Promise<typeof import('hash-wasm')> => import('hash-wasm');

export async function argon2idHash(password: string, salt: Uint8Array): Promise<string> {
  const { argon2id } = await hashWasm();
  return argon2id({ password, salt, ...ARGON2ID_PARAMS, outputType: 'encoded' });
}

/** A new argon2id hash with a random salt (for `qvd user passwd` and the like). */
export async function hashPassword(password: string): Promise<string> {
  return argon2idHash(password, randomBytes(16));
}

/**
 * The salt for a plaintext password that arrives through `env` or `file`.
 *
 * Trade-off: a random salt would give a new hash on every plan, so the plan
 * would always show the user as changed and the spec hash would never settle.
 * Deriving the salt from (login, tenant, password) keeps repeated plans
 * identical while salts stay unique per user and per password. The cost:
 * the salt is predictable by someone who already guesses the password, and
 * the same login, tenant and password give the same hash on two
 * installations, which helps an attacker who precomputes for one known
 * account. Specs that care store `hash:` (made once, with a random salt).
 */
export function deterministicSalt(login: string, tenant: string, password: string): Uint8Array {
  const digest = createHash('sha256').update(`qvd-argon2id-salt\0${login}\0${tenant}\0${password}`, 'utf8').digest();
  return new Uint8Array(digest.subarray(0, 16));
}

/** Whether `password` matches `hash` (either format); false for malformed hashes, never a throw. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  const kind = passwordHashKind(hash);
  if (kind === 'argon2id') {
    try {
      const { argon2Verify } = await hashWasm();
      return await argon2Verify({ password, hash });
    } catch {
      return false;
    }
  }
  if (kind === 'qvd-sha256') {
    const salt = QVD_SHA256_FORMAT.exec(hash)?.[1] ?? '';
    const expected = Buffer.from(hash);
    const actual = Buffer.from(qvdSha256(password, salt));
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
  return false;
}
