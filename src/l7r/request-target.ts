/** The path and query parameters of a request target. */
export interface RequestTarget {
  readonly path: string;
  /** Decoded parameters in the order sent; a repeated name keeps its last value. */
  readonly params: ReadonlyMap<string, string>;
}

/**
 * Split `/qvd/connect_to_vm?id=1&qvd.client.keyboard=pc105%2Fes` into path
 * and parameters. The original client sends `/qvd/list_of_vm?` (empty query)
 * and URL-encodes values with `uri_escape` (`%XX`, no `+`); `+` is still read
 * as a space, as HTML forms and Perl's URI module do. Undefined when the
 * target or an escape is malformed.
 */
export function parseRequestTarget(target: string): RequestTarget | undefined {
  let rest = target;
  // absolute-form (RFC 9112 §3.2.2): a server must accept it, even if no QVD client sends it.
  const absolute = /^https?:\/\/[^/?#]*/i.exec(rest);
  if (absolute !== null) rest = rest.slice(absolute[0].length) || '/';
  if (!rest.startsWith('/')) return undefined;
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const question = rest.indexOf('?');
  const rawPath = question === -1 ? rest : rest.slice(0, question);
  const path = decode(rawPath, false);
  if (path === undefined) return undefined;
  const params = new Map<string, string>();
  if (question !== -1) {
    for (const pair of rest.slice(question + 1).split('&')) {
      if (pair === '') continue;
      const equals = pair.indexOf('=');
      const name = decode(equals === -1 ? pair : pair.slice(0, equals), true);
      const value = decode(equals === -1 ? '' : pair.slice(equals + 1), true);
      if (name === undefined || value === undefined) return undefined;
      params.set(name, value);
    }
  }
  return { path, params };
}

function decode(text: string, plusIsSpace: boolean): string | undefined {
  const spaced = plusIsSpace ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return undefined;
  }
}
