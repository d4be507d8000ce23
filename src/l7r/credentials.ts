import { parseLogin } from './parse-login.js';

/** What an `Authorization` header carries. */
export type Credentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly reason: string }
  | { readonly kind: 'basic'; readonly rawLogin: string; readonly login: string; readonly tenant: string; readonly password: string }
  /** Candidate token strings, most likely first. */
  | { readonly kind: 'bearer'; readonly tokens: readonly string[] };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseAuthorization(header: string | undefined): Credentials {
  if (header === undefined) return { kind: 'none' };
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const value = space === -1 ? '' : header.slice(space + 1).trim();
  if (scheme === 'basic') return parseBasic(value);
  if (scheme === 'bearer') {
    if (value === '') return { kind: 'malformed', reason: 'empty bearer token' };
    // The original client sends base64 of the token; other clients send it as is. Try both, decoded first.
    const decoded = decodeBase64Text(value);
    const tokens = decoded !== undefined && decoded !== value && /^[\x21-\x7e]+$/.test(decoded) ? [decoded, value] : [value];
    return { kind: 'bearer', tokens };
  }
  return { kind: 'malformed', reason: `unsupported authorization scheme ${scheme.slice(0, 20)}` };
}

function parseBasic(value: string): Credentials {
  const decoded = decodeBase64Text(value);
  if (decoded === undefined) return { kind: 'malformed', reason: 'basic credentials are not base64' };
  // As the original: the login is everything before the first colon and is not empty; the password may hold colons.
  const colon = decoded.indexOf(':');
  if (colon <= 0) return { kind: 'malformed', reason: 'basic credentials without login' };
  const rawLogin = decoded.slice(0, colon);
  const name = parseLogin(rawLogin);
  if (name === undefined) return { kind: 'malformed', reason: 'empty login or tenant' };
  return { kind: 'basic', rawLogin, login: name.login, tenant: name.tenant, password: decoded.slice(colon + 1) };
}

/** UTF-8 text of a base64 string; clients on legacy locales send Latin-1, which is taken byte for byte. */
export function decodeBase64Text(value: string): string | undefined {
  if (value.length % 4 === 1 || !BASE64.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64');
  try {
    return utf8.decode(bytes);
  } catch {
    return bytes.toString('latin1');
  }
}
