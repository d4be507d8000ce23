import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * True when `authorization` is `Bearer <secret>`. Compared through SHA-256
 * digests so that neither the content nor the length of the secret leaks
 * through timing.
 */
export function bearerMatches(authorization: string | undefined, secret: string): boolean {
  if (authorization === undefined || secret === '') return false;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
  if (m?.[1] === undefined) return false;
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]), digest(secret));
}
