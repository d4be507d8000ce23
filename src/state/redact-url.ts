/**
 * A connection URL fit for messages and logs: the password, in the userinfo
 * or as a `password` query parameter, is dropped. A string that is not a URL
 * (libpq's `key=value` form) loses its `password=` pair.
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url
      .replace(/\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/gi, '')
      .replace(/\s+/g, ' ')
      .trim();
  }
  parsed.password = '';
  for (const name of [...parsed.searchParams.keys()]) {
    if (name.toLowerCase() === 'password') parsed.searchParams.delete(name);
  }
  return parsed.toString();
}
