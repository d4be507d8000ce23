/**
 * The Unix account name a QVD login gets inside the guest. QVD logins may
 * carry a tenant (`user@tenant`, `user#tenant`), capitals and dots, which
 * Debian's useradd refuses or which would make two logins collide in
 * surprising ways; the guest belongs to one user, so only the login part is
 * kept, lowercased, with anything outside [a-z0-9_-] turned into `_`.
 */
export function unixLogin(login: string): string {
  const bare = login.split(/[@#]/, 1)[0] ?? '';
  let name = bare.toLowerCase().replace(/[^a-z0-9_-]/g, '_');
  // A leading digit or dash is refused by useradd.
  if (!/^[a-z_]/.test(name)) name = `u${name}`;
  return name.slice(0, 32);
}

/**
 * Accounts a session must never run as, whatever the login is called; the
 * provisioner also refuses any existing account below UID 1000.
 */
export const RESERVED_LOGINS: ReadonlySet<string> = new Set(['root', 'daemon', 'bin', 'sys', 'sync', 'games', 'man', 'lp', 'mail', 'news', 'uucp', 'proxy', 'www-data', 'backup', 'list', 'irc', '_apt', 'nobody', 'messagebus']);
