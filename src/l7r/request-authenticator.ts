import type { Logger } from 'pino';
import type { AuthProvider, AuthVerdict } from './auth-provider.js';
import { authExtraParameters } from './auth-extra-headers.js';
import { parseAuthorization, type Credentials } from './credentials.js';
import type { AuthenticatedUser, L7rBackend } from './l7r-backend.js';
import type { L7rMetrics } from './l7r-metrics.js';
import type { LoginThrottle } from './login-throttle.js';
import type { PasswordVerifier } from './password-verifier.js';
import { headerCount, headerValue, type RequestHead } from './request-head.js';

export type AuthOutcome =
  | { readonly kind: 'ok'; readonly user: AuthenticatedUser; readonly scheme: 'basic' | 'bearer' }
  | { readonly kind: 'refused'; readonly status: 401 | 429 | 503; readonly retryAfterSeconds?: number };

export interface RequestAuthenticatorOptions {
  readonly backend: L7rBackend;
  readonly providers: readonly AuthProvider[];
  readonly throttle: LoginThrottle;
  readonly verifier: PasswordVerifier;
  readonly logger: Logger;
  readonly metrics: L7rMetrics | undefined;
  /** Whether `Authorization: Bearer` is accepted (tokens from create_auth_token). */
  readonly bearer: boolean;
}

/** Checked when no provider knows the login, so "no such user" takes as long as "wrong password". */
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$BFV3faIEq8tx47U0gh4q3g$+QaMWlSsJrxxCDzUHvpZeimGTxW6CJWF7pxavPidwJA';

/**
 * Turns a request's credentials into a user, or a refusal: Basic through the
 * providers in order, Bearer through the backend's tokens; every attempt
 * passes the throttle first, and every refusal is counted and logged (source
 * address, login, reason; never the password or token).
 */
export class RequestAuthenticator {
  #providers: readonly AuthProvider[];

  constructor(private readonly options: RequestAuthenticatorOptions) {
    this.#providers = options.providers;
  }

  /** Providers for logins from now on (a reloaded spec); a login under way finishes with the old ones. */
  setProviders(providers: readonly AuthProvider[]): void {
    this.#providers = providers;
  }

  /** `signal` may be given as a function that makes it: it is then made only if something waits on it. */
  async authenticate(head: RequestHead, ip: string, signal: AbortSignal | (() => AbortSignal)): Promise<AuthOutcome> {
    const getSignal = typeof signal === 'function' ? signal : (): AbortSignal => signal;
    const credentials: Credentials =
      headerCount(head, 'Authorization') > 1 ? { kind: 'malformed', reason: 'several authorization headers' } : parseAuthorization(headerValue(head, 'Authorization'));
    if (credentials.kind === 'none') return this.refuse(ip, undefined, 'no-credentials', 401, false);
    if (credentials.kind === 'malformed') return this.refuse(ip, undefined, credentials.reason, 401, true);
    if (credentials.kind === 'bearer' && !this.options.bearer) return this.refuse(ip, undefined, 'bearer-disabled', 401, true);

    const login = credentials.kind === 'basic' ? `${credentials.login}@${credentials.tenant}` : undefined;
    const ticket = this.options.throttle.admit(ip, login);
    if (ticket.kind === 'refuse') {
      this.options.metrics?.authFailures.inc({ reason: 'throttled' });
      this.options.logger.warn({ ip, login, reason: 'throttled', retryAfterMs: ticket.retryAfterMs }, 'login refused');
      return { kind: 'refused', status: 429, retryAfterSeconds: Math.ceil(ticket.retryAfterMs / 1000) };
    }
    if (ticket.waitMs > 0 && !(await sleep(ticket.waitMs, getSignal()))) return { kind: 'refused', status: 401 };

    if (credentials.kind === 'bearer') return this.bearer(credentials.tokens, ip);
    const attempt = {
      login: credentials.login,
      tenant: credentials.tenant,
      password: credentials.password,
      extra: authExtraParameters(head),
      ip,
      get signal(): AbortSignal {
        return getSignal();
      },
    };
    let verdict: AuthVerdict = { kind: 'unknown' };
    let provider = 'none';
    for (const candidate of this.#providers) {
      try {
        verdict = await candidate.authenticate(attempt);
      } catch (error) {
        this.options.logger.error({ ip, login, provider: candidate.name, err: error }, 'auth provider failed; answering 503');
        return { kind: 'refused', status: 503 };
      }
      provider = candidate.name;
      if (verdict.kind !== 'unknown') break;
    }
    if (verdict.kind === 'unknown') {
      await this.options.verifier.verify(DUMMY_HASH, credentials.password);
      return this.refuse(ip, login, 'unknown-user', 401, true, provider);
    }
    if (verdict.kind === 'bad') return this.refuse(ip, login, verdict.reason, 401, true, provider);
    if (verdict.accountChecked !== true && (await this.isBlocked(verdict.user))) return this.refuse(ip, login, 'user-blocked', 401, true, provider);
    this.options.throttle.succeeded(login ?? '');
    this.options.logger.debug({ ip, login, provider }, 'login accepted');
    return { kind: 'ok', user: verdict.user, scheme: 'basic' };
  }

  private async bearer(tokens: readonly string[], ip: string): Promise<AuthOutcome> {
    for (const token of tokens) {
      const user = await this.options.backend.userForToken(token);
      if (user === undefined) continue;
      if (await this.isBlocked(user)) return this.refuse(ip, `${user.login}@${user.tenant}`, 'user-blocked', 401, true, 'token');
      return { kind: 'ok', user, scheme: 'bearer' };
    }
    // Unknown, expired and revoked tokens look alike to the client; the log cannot tell them apart either.
    return this.refuse(ip, undefined, 'bad-token', 401, true, 'token');
  }

  private async isBlocked(user: AuthenticatedUser): Promise<boolean> {
    const record = await this.options.backend.findUser(user.login, user.tenant);
    return record?.blocked === true;
  }

  private refuse(ip: string, login: string | undefined, reason: string, status: 401 | 503, counts: boolean, provider?: string): AuthOutcome {
    if (counts) this.options.throttle.failed(ip, login);
    this.options.metrics?.authFailures.inc({ reason: metricReason(reason) });
    const fields = { ip, login, reason, provider };
    if (counts) this.options.logger.warn(fields, 'login refused');
    else this.options.logger.info(fields, 'request without credentials');
    return { kind: 'refused', status };
  }
}

/** A small fixed label set: free-text reasons would make a metric per message. */
function metricReason(reason: string): string {
  if (reason === 'no-credentials' || reason === 'unknown-user' || reason === 'bad-password' || reason === 'user-blocked' || reason === 'bad-token') return reason.replaceAll('-', '_');
  if (reason.startsWith('totp')) return 'totp';
  if (reason === 'empty-password') return 'bad_password';
  return 'malformed';
}

/** Resolves true after `ms`, false at once when `signal` aborts first. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
