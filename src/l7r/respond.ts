import type { ClientConnection, RequestResult } from './client-connection.js';
import { jsonResponse, textResponse, type HeaderLines } from './http-response.js';
import type { AuthOutcome } from './request-authenticator.js';

/**
 * Error answers are `text/plain` with a one-line reason, like the original
 * server's: its clients show the body of some of them to the user.
 */
export function sendText(connection: ClientConnection, status: number, body: string, headers: HeaderLines = []): RequestResult {
  connection.write(textResponse(status, body, headers));
  return 'keep';
}

export function sendJson(connection: ClientConnection, value: unknown): RequestResult {
  connection.write(jsonResponse(200, value));
  return 'keep';
}

export const WWW_AUTHENTICATE: HeaderLines = [['WWW-Authenticate', 'Basic realm="QVD"']];

/** The answer to a refused login. */
export function sendRefusal(connection: ClientConnection, outcome: Extract<AuthOutcome, { kind: 'refused' }>): RequestResult {
  switch (outcome.status) {
    case 401:
      return sendText(connection, 401, 'Authentication required', WWW_AUTHENTICATE);
    case 429:
      return sendText(connection, 429, 'Too many failed logins, retry later', [['Retry-After', String(outcome.retryAfterSeconds ?? 1)]]);
    case 503:
      return sendText(connection, 503, 'Authentication service unavailable, retry later');
  }
}
