import type { ConnectionOptions } from 'node:tls';
import { Client } from 'ldapts';
import { userKey, type AuthProvider, type AuthVerdict, type LoginAttempt } from './auth-provider.js';
import { fillDnTemplate } from './ldap-dn.js';
import { DEFAULT_TENANT } from './parse-login.js';

export interface LdapAuthOptions {
  /** `ldap://host:389` or `ldaps://host:636`. */
  readonly url: string;
  /** DN to bind as: `uid=%u,ou=people,dc=example,dc=org`; `%u` is the login, `%t` the tenant. */
  readonly userDn: string;
  /**
   * The tenant whose users live in this directory, when `userDn` has no `%t`
   * (default `default`). Without this, `ann@t1` and `ann@t2` would both bind
   * as the same entry and each could reach the other's desktops.
   */
  readonly tenant?: string;
  /** Upgrade an `ldap://` connection with StartTLS before sending the password. */
  readonly startTls?: boolean;
  /** CA, server name, ... for `ldaps://` and StartTLS. */
  readonly tlsOptions?: ConnectionOptions;
  /** Per operation (default 5 s). */
  readonly timeoutMs?: number;
  /** TCP connect (default 5 s). */
  readonly connectTimeoutMs?: number;
  /**
   * How to tell "no such user" from "wrong password" after a failed bind
   * (LDAP answers invalidCredentials to both): a base search on the DN, made
   * anonymously or with these credentials. When the search is not allowed,
   * the directory is taken to know the user (fail closed: no fallback to a
   * later provider).
   */
  readonly lookup?: { readonly bindDn: string; readonly password: string };
}

const INVALID_CREDENTIALS = 49;
const NO_SUCH_OBJECT = 32;

/**
 * Password check by binding to a directory as the user (the original QVD's
 * LDAP plugin). An empty password is refused before any bind: LDAP treats a
 * simple bind without password as an anonymous bind, which succeeds.
 */
export function createLdapAuthProvider(options: LdapAuthOptions): AuthProvider {
  const perTenant = options.userDn.includes('%t');
  const servedTenant = options.tenant ?? DEFAULT_TENANT;
  const clientOptions = {
    url: options.url,
    timeout: options.timeoutMs ?? 5000,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    ...(options.tlsOptions === undefined ? {} : { tlsOptions: options.tlsOptions }),
  };

  return {
    name: 'ldap',
    async authenticate(attempt: LoginAttempt): Promise<AuthVerdict> {
      if (!perTenant && attempt.tenant !== servedTenant) return { kind: 'unknown' };
      const dn = fillDnTemplate(options.userDn, attempt.login, attempt.tenant);
      const client = new Client(clientOptions);
      const abort = (): void => void client.unbind().catch(() => undefined);
      attempt.signal.addEventListener('abort', abort, { once: true });
      try {
        if (options.startTls === true) await client.startTLS(options.tlsOptions ?? {});
        if (attempt.password === '') return (await userExists(client, dn, options.lookup)) ? { kind: 'bad', reason: 'empty-password' } : { kind: 'unknown' };
        try {
          await client.bind(dn, attempt.password);
          return { kind: 'ok', user: { key: userKey(attempt.login, attempt.tenant), login: attempt.login, tenant: attempt.tenant } };
        } catch (error) {
          if (resultCode(error) !== INVALID_CREDENTIALS) throw error;
        }
        return (await userExists(client, dn, options.lookup)) ? { kind: 'bad', reason: 'bad-password' } : { kind: 'unknown' };
      } finally {
        attempt.signal.removeEventListener('abort', abort);
        await client.unbind().catch(() => undefined);
      }
    },
  };
}

async function userExists(client: Client, dn: string, lookup: LdapAuthOptions['lookup']): Promise<boolean> {
  try {
    if (lookup !== undefined) await client.bind(lookup.bindDn, lookup.password);
    const result = await client.search(dn, { scope: 'base', attributes: ['1.1'] });
    return result.searchEntries.length > 0;
  } catch (error) {
    if (resultCode(error) === NO_SUCH_OBJECT) return false;
    return true;
  }
}

function resultCode(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'number' ? error.code : undefined;
}
