import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { ConnectError } from './connect-error.js';
import { certFingerprint, displayFingerprint, normalizeFingerprint } from './fingerprint.js';

export interface TlsTarget {
  readonly host: string;
  readonly port: number;
  readonly fingerprint?: string;
  readonly ca?: string;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

const RETRYABLE_NET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

/**
 * TLS to the L7R, judged the way the user asked: by a pinned certificate
 * fingerprint (self-signed clusters, the default `cert: generate`), by a CA
 * with host name check, or by the system's CAs. A mismatch is final: retrying
 * cannot fix a wrong certificate, and the credentials must not be sent.
 */
export function openTls(t: TlsTarget): Promise<TLSSocket> {
  const pinned = t.fingerprint === undefined ? undefined : normalizeFingerprint(t.fingerprint);
  if (t.fingerprint !== undefined && pinned === undefined) {
    return Promise.reject(new ConnectError('tls', `not a SHA-256 fingerprint: ${JSON.stringify(t.fingerprint)}`, false, { hint: 'give 64 hex digits (colons allowed) or SHA256:<base64>' }));
  }
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: t.host,
      port: t.port,
      // No SNI for an address (RFC 6066), like the original client.
      ...(isIP(t.host) === 0 ? { servername: t.host } : {}),
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: pinned === undefined,
      ...(pinned === undefined && t.ca !== undefined ? { ca: t.ca } : {}),
    });
    let done = false;
    const fail = (e: ConnectError): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      t.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(e);
    };
    const onAbort = (): void => fail(new ConnectError('network', 'cancelled', false));
    t.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => fail(new ConnectError('network', `no TLS connection to ${t.host}:${t.port} within ${t.timeoutMs} ms`, true)), t.timeoutMs);
    socket.once('secureConnect', () => {
      if (pinned !== undefined) {
        const got = certFingerprint(socket.getPeerCertificate().raw);
        if (got !== pinned) {
          fail(
            new ConnectError('tls', `the server's certificate does not match the pinned fingerprint: expected ${displayFingerprint(pinned)}, got ${displayFingerprint(got)}`, false, {
              hint: 'someone may be in the middle, or the server certificate changed; check with your administrator before updating the fingerprint',
            }),
          );
          return;
        }
      }
      done = true;
      clearTimeout(timer);
      t.signal?.removeEventListener('abort', onAbort);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      resolve(socket);
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      if (code.startsWith('ERR_TLS_') || /certificate|self.signed|unable to verify|hostname|altnames/i.test(e.message)) {
        fail(new ConnectError('tls', `the server's certificate is not trusted: ${e.message}`, false, { hint: 'pass the cluster CA (ca) or pin its fingerprint', cause: e }));
      } else {
        fail(new ConnectError('network', `cannot reach ${t.host}:${t.port}: ${e.message}`, RETRYABLE_NET.has(code) || code === '', { cause: e }));
      }
    });
  });
}
