import type { AuthProvider, AuthVerdict, LoginAttempt } from './auth-provider.js';
import type { L7rBackend } from './l7r-backend.js';
import { sharedPasswordVerifier, type PasswordVerifier } from './password-verifier.js';
import { TotpChecker } from './totp-checker.js';

export interface BuiltinAuthOptions {
  readonly verifier?: PasswordVerifier;
  /** Shared with other providers so a code used on one is spent on all. */
  readonly totp?: TotpChecker;
}

/**
 * Users and password hashes from qvd's own state (the spec's `users:`). A
 * user with a TOTP secret must append the current code to the password.
 * A blocked user is refused like a wrong password (the client sees 401 either
 * way; the log says which), but only after the password was right, so the
 * answer never tells a guesser that an account exists.
 */
export function createBuiltinAuthProvider(backend: Pick<L7rBackend, 'findUser'>, options: BuiltinAuthOptions = {}): AuthProvider {
  const verifier = options.verifier ?? sharedPasswordVerifier();
  const totp = options.totp ?? new TotpChecker();
  return {
    name: 'builtin',
    async authenticate(attempt: LoginAttempt): Promise<AuthVerdict> {
      const record = await backend.findUser(attempt.login, attempt.tenant);
      if (record === undefined) return { kind: 'unknown' };
      let password = attempt.password;
      let step: number | undefined;
      if (record.totpSecret !== undefined && record.totpSecret !== '') {
        const check = totp.check(record.key, record.totpSecret, password);
        if (!check.ok) {
          // The hash is still checked so a wrong code costs as much time as a wrong password.
          await verifier.verify(record.passwordHash, password);
          return { kind: 'bad', reason: check.reason };
        }
        password = check.password;
        step = check.step;
      }
      if (!(await verifier.verify(record.passwordHash, password))) return { kind: 'bad', reason: 'bad-password' };
      if (record.blocked) return { kind: 'bad', reason: 'user-blocked' };
      if (step !== undefined) totp.accept(record.key, step);
      return { kind: 'ok', user: { key: record.key, login: attempt.login, tenant: attempt.tenant }, accountChecked: true };
    },
  };
}
