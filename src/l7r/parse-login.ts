/** The tenant of a login that names none. */
export const DEFAULT_TENANT = 'default';

export interface LoginName {
  readonly login: string;
  readonly tenant: string;
}

/**
 * `user`, `user@tenant` or `user#tenant`, as the original clients send it.
 * The last `@` or `#` separates the tenant, so a login that is itself an
 * e-mail address can still name a tenant (`ann@example.org@acme`); one that
 * wants the default tenant then must say so (`ann@example.org@default`).
 * Undefined when the login or the tenant is empty.
 */
export function parseLogin(raw: string): LoginName | undefined {
  const cut = Math.max(raw.lastIndexOf('@'), raw.lastIndexOf('#'));
  const login = cut === -1 ? raw : raw.slice(0, cut);
  const tenant = cut === -1 ? DEFAULT_TENANT : raw.slice(cut + 1);
  if (login === '' || tenant === '') return undefined;
  return { login, tenant };
}
