import { QvdError } from '../errors.js';

export type ConnectErrorKind = 'auth' | 'forbidden' | 'not-found' | 'unavailable' | 'tls' | 'network' | 'protocol' | 'no-vm' | 'nxproxy';

/** Why `qvd connect` failed, phrased for the user; `retryable` drives the retry loop. */
export class ConnectError extends QvdError {
  constructor(
    readonly kind: ConnectErrorKind,
    message: string,
    readonly retryable: boolean,
    options: { readonly status?: number; readonly hint?: string; readonly cause?: unknown } = {},
  ) {
    super(message, { ...(options.hint === undefined ? {} : { hint: options.hint }), ...(options.cause === undefined ? {} : { cause: options.cause }) });
    this.status = options.status;
  }
  readonly status: number | undefined;
}

/** The message for an HTTP answer that is not the one expected. */
export function statusError(status: number, reason: string, body: string, context: string): ConnectError {
  const text = body.trim();
  const detail = text === '' ? '' : `: ${text.slice(0, 300)}`;
  switch (status) {
    case 401:
      return new ConnectError('auth', `login failed: wrong user name or password (HTTP 401)`, false, { status, hint: 'check --user and the password; a tenant is given as user@tenant' });
    case 403:
      return new ConnectError('forbidden', `${context}: access denied (HTTP 403)${detail}`, false, { status, hint: 'the user or the VM may be blocked; ask your administrator' });
    case 404:
      return new ConnectError('not-found', `${context}: no such VM for this user (HTTP 404)${detail}`, false, { status, hint: 'list your VMs with --list' });
    case 422:
      return new ConnectError('protocol', `${context}: the server says the request lacks a VM id (HTTP 422)${detail}`, false, { status });
    case 426:
      return new ConnectError('protocol', `${context}: the server wants a protocol upgrade this client did not offer (HTTP 426)`, false, { status });
    case 505:
      return new ConnectError('protocol', `${context}: the server refuses HTTP/1.1 (HTTP 505)`, false, { status });
    case 502:
    case 503:
    case 504:
      return new ConnectError('unavailable', text === '' ? `${context}: the server is not available (HTTP ${status} ${reason})` : text, true, { status });
    default:
      return new ConnectError('protocol', `${context}: unexpected answer HTTP ${status} ${reason}${detail}`, status >= 500, { status });
  }
}
