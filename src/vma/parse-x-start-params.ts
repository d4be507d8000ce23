import type { XStartParams } from './vma-api.js';

export type ParseResult = { readonly ok: true; readonly params: XStartParams } | { readonly ok: false; readonly errors: readonly string[] };

const LINKS = new Set(['modem', 'isdn', 'adsl', 'wan', 'lan', 'local']);

// Every value ends up inside nxagent's option string `k=v,k=v:100`, where a
// comma, colon or equals sign would inject or break options: the patterns
// below leave those out on purpose.
const GEOMETRY = /^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$/;
const KEYBOARD = /^[A-Za-z0-9_/().+-]{1,64}$/;
const CLIENT_OS = /^[a-z0-9]{1,16}$/;
const COOKIE = /^[0-9a-fA-F]{32}$/;
const LOGIN = /^[A-Za-z0-9._@#-]{1,128}$/;

/**
 * Reads `x_start` parameters from a JSON body or a query string. Both the
 * VMA's own names (`geometry`) and the client's (`qvd.client.geometry`) are
 * accepted, so the L7R can forward what the client sent unchanged and add
 * `user` and `cookie`. Unknown keys (`custom.*`, printing, audio...) are
 * ignored: this guest does not implement them.
 */
export function parseXStartParams(input: Readonly<Record<string, unknown>>): ParseResult {
  const errors: string[] = [];
  const get = (name: string): unknown => input[name] ?? input[`qvd.client.${name}`];
  const str = (name: string, pattern: RegExp, what: string): string | undefined => {
    const v = get(name);
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' || !pattern.test(v)) {
      errors.push(`${name}: expected ${what}, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  };

  const missing = (name: string): boolean => {
    const v = get(name);
    return v === undefined || v === null || v === '';
  };
  if (missing('user')) errors.push('user: required');
  if (missing('cookie')) errors.push('cookie: required (the NX cookie of this connection)');
  const user = str('user', LOGIN, 'a login (letters, digits, . _ - @ #)');
  const cookie = str('cookie', COOKIE, '32 hexadecimal digits');
  const geometry = str('geometry', GEOMETRY, 'WIDTHxHEIGHT');
  const keyboard = str('keyboard', KEYBOARD, 'an NX keyboard like pc105/us');
  const client = str('client', CLIENT_OS, 'an OS name like linux') ?? str('os', CLIENT_OS, 'an OS name like linux');
  const link = str('link', /^[a-z]+$/, 'a link type');
  if (link !== undefined && !LINKS.has(link)) errors.push(`link: expected one of ${[...LINKS].join(', ')}, got ${JSON.stringify(link)}`);
  const fullscreen = parseBool(get('fullscreen'));
  if (fullscreen === 'invalid') errors.push(`fullscreen: expected a boolean, got ${JSON.stringify(get('fullscreen'))}`);

  if (errors.length > 0 || user === undefined || cookie === undefined) return { ok: false, errors };
  return {
    ok: true,
    params: {
      user,
      cookie: cookie.toLowerCase(),
      ...(geometry === undefined ? {} : { geometry }),
      ...(keyboard === undefined ? {} : { keyboard }),
      ...(link === undefined ? {} : { link }),
      ...(fullscreen === undefined || fullscreen === 'invalid' ? {} : { fullscreen }),
      ...(client === undefined ? {} : { client }),
    },
  };
}

function parseBool(v: unknown): boolean | undefined | 'invalid' {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v !== 'string') return 'invalid';
  const s = v.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off'].includes(s)) return false;
  return 'invalid';
}
