import { createHash } from 'node:crypto';
import { errorAt, type Diagnostic } from './diagnostic.js';
import { argon2idHash, deterministicSalt, passwordHashKind } from './password-hash.js';
import { readFailure } from './read-failure.js';
import { absolutePath } from './resolve-nodes.js';
import type { SpecUser } from './spec-document.js';
import { DEFAULT_TENANT, userKey } from './spec-keys.js';

export interface SecretContext {
  readonly specDir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly readFile: (path: string) => string;
}

export interface ResolvedPasswords {
  /** One per user, in spec order; undefined where a diagnostic says why. */
  readonly hashes: readonly (string | undefined)[];
  /** What came from outside the spec text (env, files), for the spec hash. */
  readonly externalSecrets: readonly string[];
  readonly diagnostics: Diagnostic[];
}

/**
 * argon2id costs ~50 ms; a long-running process (`serve`) re-reading the
 * spec should not pay it again for the same input. Keyed by a digest, so the
 * map holds no plaintext.
 */
const hashedPlaintexts = new Map<string, string>();

async function hashPlaintext(login: string, tenant: string, password: string): Promise<string> {
  const key = createHash('sha256').update(`${login}\0${tenant}\0${password}`).digest('base64');
  const cached = hashedPlaintexts.get(key);
  if (cached !== undefined) return cached;
  const hash = await argon2idHash(password, deterministicSalt(login, tenant, password));
  hashedPlaintexts.set(key, hash);
  return hash;
}

/**
 * Every user's password as a hash. `hash:` is taken as written; `env:` and
 * `file:` may hold a hash or a plaintext password, which is hashed here
 * (see deterministicSalt for why repeated plans give the same hash).
 */
export async function resolvePasswords(users: readonly SpecUser[], context: SecretContext): Promise<ResolvedPasswords> {
  const hashes: (string | undefined)[] = [];
  const externalSecrets: string[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const [i, user] of users.entries()) {
    const tenant = user.tenant ?? DEFAULT_TENANT;
    const owner = (): string => `users[${i}] ${JSON.stringify(userKey(user.login, user.tenant))}`;
    const password = user.password;
    if ('hash' in password) {
      hashes.push(password.hash);
      continue;
    }
    let raw: string | undefined;
    const where = ['users', i, 'password', 'env' in password ? 'env' : 'file'];
    if ('env' in password) {
      raw = context.env[password.env];
      if (raw === undefined) {
        diagnostics.push(errorAt(where, `${owner()}: the environment variable ${password.env} is not set`, `export ${password.env}=... (a password, or a hash from \`qvd user passwd\`)`));
      }
    } else {
      const path = absolutePath(context.specDir, password.file);
      try {
        // One trailing newline is how editors and `echo` end a file, not part of the password.
        raw = context.readFile(path).replace(/\r?\n$/, '');
      } catch (error) {
        diagnostics.push(errorAt(where, `${owner()}: cannot read the password file ${path}: ${readFailure(error)}`));
      }
    }
    if (raw === undefined) {
      hashes.push(undefined);
      continue;
    }
    if (raw === '') {
      diagnostics.push(errorAt(where, `${owner()}: the password ${'env' in password ? `in ${password.env}` : 'file'} is empty`, 'An empty password would let anyone log in as this user; set one, or block the user.'));
      hashes.push(undefined);
      continue;
    }
    let hash: string;
    if (passwordHashKind(raw) !== undefined) {
      hash = raw;
    } else if (/^\$(?:argon2|qvd-sha256\$)/.test(raw)) {
      diagnostics.push(errorAt(where, `${owner()}: the password ${'env' in password ? `in ${password.env}` : 'file'} looks like a hash but is not a valid one`, 'Supported: $argon2id$v=19$m=..,t=..,p=..$<salt>$<hash> and $qvd-sha256$<salt>$<43 base64 characters>.'));
      hashes.push(undefined);
      continue;
    } else {
      hash = await hashPlaintext(user.login, tenant, raw);
    }
    hashes.push(hash);
    externalSecrets.push(`${userKey(user.login, user.tenant)}\0${hash}`);
  }
  return { hashes, externalSecrets, diagnostics };
}
