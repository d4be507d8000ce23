import type { AuthenticatedUser } from './l7r-backend.js';

/** One login to check: the Basic credentials of a request, split and decoded. */
export interface LoginAttempt {
  readonly login: string;
  readonly tenant: string;
  readonly password: string;
  /** `Auth-<hex name>` parameters the client sent (decoded). */
  readonly extra: Readonly<Record<string, string>>;
  /** The client's address, for providers that log or restrict by it. */
  readonly ip: string;
  /** Aborted when the client goes away: a provider may stop waiting for a directory. */
  readonly signal: AbortSignal;
}

/**
 * - `ok`: this provider knows the user and the password is right;
 *   `accountChecked` says it already looked at the account's blocked flag.
 * - `bad`: it knows the user and refuses (wrong password, blocked, bad code):
 *   no later provider is asked, so a stale password elsewhere never wins.
 * - `unknown`: not its user; the next provider decides.
 */
export type AuthVerdict =
  | { readonly kind: 'ok'; readonly user: AuthenticatedUser; readonly accountChecked?: boolean }
  | { readonly kind: 'bad'; readonly reason: string }
  | { readonly kind: 'unknown' };

/**
 * A way to check passwords (built-in hashes, LDAP, ...). Providers are asked
 * in order; the first that knows the user decides. A provider throws only
 * when it cannot answer (directory down): the L7R then answers 503, not 401,
 * and does not count a failed login.
 */
export interface AuthProvider {
  readonly name: string;
  authenticate(attempt: LoginAttempt): Promise<AuthVerdict>;
}

/** The user key the backend uses: `login@tenant`. */
export function userKey(login: string, tenant: string): string {
  return `${login}@${tenant}`;
}
