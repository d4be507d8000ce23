import type { RequestHead } from './request-head.js';
import { decodeBase64Text } from './credentials.js';

const PREFIX = 'auth-';
const MAX_PARAMETERS = 32;
const MAX_NAME_HEX = 256;

/**
 * Extra login parameters: a header `Auth-<hex of name>: base64(value)` per
 * parameter, as the original clients send them (the hex keeps any name legal
 * as a header name). Malformed ones are skipped: they are hints for auth
 * plugins, never credentials on their own.
 */
export function authExtraParameters(head: RequestHead): Readonly<Record<string, string>> {
  const extra: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  for (const [name, value] of head.headers) {
    if (name.length <= PREFIX.length || name.slice(0, PREFIX.length).toLowerCase() !== PREFIX) continue;
    const hex = name.slice(PREFIX.length);
    if (hex.length % 2 !== 0 || hex.length > MAX_NAME_HEX || !/^[0-9A-Fa-f]+$/.test(hex)) continue;
    const decodedValue = decodeBase64Text(value);
    if (decodedValue === undefined) continue;
    extra[Buffer.from(hex, 'hex').toString('utf8')] = decodedValue;
    if (++count >= MAX_PARAMETERS) break;
  }
  return extra;
}
