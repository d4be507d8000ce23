import type { AuthProvider, AuthVerdict, LoginAttempt } from './auth-provider.js';
import type { TotpChecker } from './totp-checker.js';

/**
 * A second factor on top of another provider (LDAP, say): when
 * `secretFor` knows a TOTP secret for the user, the password must end with
 * the current code, which is cut off before the inner provider sees it.
 */
export function withTotp(inner: AuthProvider, totp: TotpChecker, secretFor: (login: string, tenant: string) => Promise<string | undefined>): AuthProvider {
  return {
    name: `${inner.name}+totp`,
    async authenticate(attempt: LoginAttempt): Promise<AuthVerdict> {
      const secret = await secretFor(attempt.login, attempt.tenant);
      if (secret === undefined || secret === '') return inner.authenticate(attempt);
      const check = totp.check(`${attempt.login}@${attempt.tenant}`, secret, attempt.password);
      // No bind with a wrong code: directories with lockout policies would count it against the user.
      if (!check.ok) return { kind: 'bad', reason: check.reason };
      const verdict = await inner.authenticate({ ...attempt, password: check.password });
      if (verdict.kind === 'ok') totp.accept(`${attempt.login}@${attempt.tenant}`, check.step);
      return verdict;
    },
  };
}
