import { InvalidInputError } from '../errors.js';
import type { HostPort } from './run-serve.js';

/** `ADDR:PORT`, `[v6]:PORT` or `:PORT` (all addresses). */
export function parseHostPort(text: string, flag: string): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw new InvalidInputError(`${flag} ${JSON.stringify(text)}: expected ADDR:PORT, e.g. 127.0.0.1:8444`);
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : (m[2] ?? '0.0.0.0')), port };
}
