import { sha256 } from '../sha256.js';
import type { ClientConnection } from './client-connection.js';
import type { L7rContext } from './l7r-context.js';
import type { AuthOutcome } from './request-authenticator.js';
import { headerValue, type RequestHead } from './request-head.js';

/** How long a connection may reuse the Basic credentials it proved (list, then connect, a few seconds apart). */
const AUTH_MEMO_MS = 60_000;

/** Authenticate, reusing what this connection already proved with the same Basic credentials. */
export async function authenticate(context: L7rContext, connection: ClientConnection, head: RequestHead): Promise<AuthOutcome> {
  const authorization = headerValue(head, 'Authorization');
  const basic = authorization !== undefined && /^basic /i.test(authorization);
  const fingerprint = basic ? credentialFingerprint(head) : '';
  const memo = connection.authMemo;
  if (basic && memo !== undefined && memo.fingerprint === fingerprint && Date.now() - memo.at < AUTH_MEMO_MS) {
    return { kind: 'ok', user: memo.user, scheme: memo.scheme };
  }
  const outcome = await context.authenticator.authenticate(head, connection.ip, () => connection.signal);
  connection.authMemo = outcome.kind === 'ok' && basic ? { fingerprint, user: outcome.user, scheme: outcome.scheme, at: Date.now() } : undefined;
  return outcome;
}

/** A digest of everything that went into the login (credentials and Auth-* parameters), so the memo keeps no password. */
function credentialFingerprint(head: RequestHead): string {
  let text = '';
  for (const [name, value] of head.headers) {
    const lower = name.toLowerCase();
    if (lower === 'authorization' || lower.startsWith('auth-')) text += `${lower}\0${value}\0`;
  }
  return sha256(text, 'base64');
}
