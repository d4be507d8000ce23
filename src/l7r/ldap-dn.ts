/**
 * Escape a value for an LDAP distinguished name (RFC 4514 §2.4), so a login
 * such as `x,ou=admins` cannot change which entry the bind names.
 */
export function escapeDnValue(value: string): string {
  let escaped = '';
  for (let index = 0; index < value.length; index++) {
    const char = value[index] ?? '';
    if (char === '\0') escaped += '\\00';
    else if (',+"\\<>;='.includes(char)) escaped += `\\${char}`;
    else if ((char === ' ' || char === '#') && index === 0) escaped += `\\${char}`;
    else if (char === ' ' && index === value.length - 1) escaped += '\\ ';
    else escaped += char;
  }
  return escaped;
}

/** `uid=%u,ou=people,dc=example,dc=org` with `%u` (login) and `%t` (tenant) filled in, escaped. */
export function fillDnTemplate(template: string, login: string, tenant: string): string {
  return template.replace(/%[ut%]/g, (placeholder) => (placeholder === '%u' ? escapeDnValue(login) : placeholder === '%t' ? escapeDnValue(tenant) : '%'));
}
