import { connect, type TLSSocket } from 'node:tls';
import type { RelayedSession } from './l7r-backend.js';
import { channelBinding, checkRelayProof, signRelay } from './relay-token.js';
import { Upstream, UPSTREAM_WRITE_HIGH_WATER } from './upstream.js';

/** The internal path another node's L7R answers relays on (relay-route.ts). */
export const RELAY_PATH = '/qvd/relay_to_vm';

export interface RelayRequest {
  /** The L7R of the VM's node. */
  readonly host: string;
  readonly port: number;
  readonly key: Buffer;
  /** This node, and the VM's. */
  readonly from: string;
  readonly to: string;
  readonly session: RelayedSession;
  /** TCP and TLS to the other L7R; the wait for its answer is bounded by `signal`. */
  readonly connectTimeoutMs: number;
  readonly signal: AbortSignal;
  /** Each `X-QVD-VM-Info` the other L7R sends while it starts the desktop session. */
  readonly progress: (info: string) => void;
}

export interface Relayed {
  /** A pipe to the VM's NX port through the other L7R, ready for startTunnel. */
  readonly upstream: Upstream;
  /** From the other node's 101 (the VM's agent made it for this session). */
  readonly nxCookie?: string;
}

/** The other L7R answered, but not with a 101: `reason` is for the user's 503. */
export class RelayRefused extends Error {
  constructor(readonly status: number, readonly reason: string) {
    super(reason);
  }
}

const MAX_HEAD_BYTES = 16 * 1024;
const REFUSAL_BODY = /^The requested virtual machine is not available: (.*), retry later\.$/s;

/**
 * Open the relay to the L7R of the VM's node: TLS, one signed request for
 * this VM and session, its 102 heads passed on, then its 101 (checked to
 * come from a holder of the cluster key, on this very connection) and from
 * there a raw pipe. The other L7R's certificate is not checked against a
 * CA (nodes make their own): the token and the proof, both bound to this
 * connection's keying material, authenticate both ends instead.
 */
export function connectRelay(request: RelayRequest): Promise<Relayed> {
  return new Promise((resolve, reject) => {
    if (request.signal.aborted) {
      reject(new Error('aborted'));
      return;
    }
    const upstream = new Upstream();
    // allowHalfOpen, highWaterMark and onread reach the TLSSocket (Node's tls.connect passes them on); the types omit the first two.
    const passedOn = { allowHalfOpen: true, highWaterMark: UPSTREAM_WRITE_HIGH_WATER, onread: upstream.socketOptions().onread };
    const socket: TLSSocket = connect({ host: request.host, port: request.port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...passedOn });
    upstream.attach(socket);
    let settled = false;
    let nonce = '';
    let binding: Buffer = Buffer.alloc(0);
    const finish = (error: Error | undefined, result?: Relayed): void => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      request.signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (error === undefined && result !== undefined) {
        // From here the tunnel owns the socket; an error must not crash the process before it attaches.
        socket.on('error', () => undefined);
        resolve(result);
        return;
      }
      socket.destroy();
      reject(error ?? new Error('relay failed'));
    };
    const onError = (error: Error): void => finish(new Error(`cannot reach the L7R of node ${request.to} (${error.message})`));
    const onClose = (): void => finish(new Error(`the L7R of node ${request.to} closed the relay`));
    const onAbort = (): void => finish(new Error('aborted'));
    const connectTimer = setTimeout(() => finish(new Error(`the L7R of node ${request.to} did not answer within ${request.connectTimeoutMs} ms`)), request.connectTimeoutMs);
    socket.on('error', onError);
    socket.on('close', onClose);
    request.signal.addEventListener('abort', onAbort, { once: true });

    socket.once('secureConnect', () => {
      clearTimeout(connectTimer);
      try {
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 30_000);
        binding = channelBinding(socket);
        const target = relayTarget(request.session);
        const signed = signRelay(request.key, { from: request.from, to: request.to, target }, binding);
        nonce = signed.nonce;
        socket.write(`GET ${target} HTTP/1.1\r\nX-QVD-Relay: ${signed.header}\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n\r\n`);
      } catch (error) {
        finish(error as Error);
      }
    });

    let buffered: Buffer = Buffer.alloc(0);
    upstream.deliverTo((chunk) => {
      buffered = buffered.length === 0 ? Buffer.from(chunk) : Buffer.concat([buffered, chunk]);
      for (;;) {
        const response = readResponse(buffered);
        if (response === 'incomplete') {
          if (buffered.length > MAX_HEAD_BYTES) finish(new Error(`the L7R of node ${request.to} sent an oversized answer`));
          return true;
        }
        if (response === 'malformed') {
          finish(new Error(`the L7R of node ${request.to} sent a malformed answer`));
          return false;
        }
        buffered = buffered.subarray(response.consumed);
        if (response.status === 102) {
          request.progress(response.headers.get('x-qvd-vm-info') ?? '');
          continue;
        }
        if (response.status === 101) {
          if (!checkRelayProof(request.key, nonce, binding, response.headers.get('x-qvd-relay-proof'))) {
            finish(new Error(`the L7R of node ${request.to} did not prove it holds the cluster key`));
            return false;
          }
          upstream.keepFrom(buffered);
          const cookie = response.headers.get('x-qvd-nx-cookie');
          finish(undefined, { upstream, ...(cookie === undefined ? {} : { nxCookie: cookie }) });
          return true;
        }
        const body = response.body.toString('utf8');
        finish(new RelayRefused(response.status, REFUSAL_BODY.exec(body)?.[1] ?? `the L7R of node ${request.to} answered ${response.status} ${body}`.trim()));
        return false;
      }
    });
  });
}

/** The relay request's target: the VM, the session, whose it is, and the client's parameters for the desktop session. */
export function relayTarget(session: RelayedSession): string {
  const query = new URLSearchParams({ id: String(session.vmId), session: session.sessionId, user: session.userKey, login: session.login });
  for (const [name, value] of Object.entries(session.clientParams)) query.append(name, value);
  return `${RELAY_PATH}?${query.toString()}`;
}

type Response = { status: number; headers: Map<string, string>; body: Buffer; consumed: number };

/** One response head (and its body, when it has one) from the start of `data`. */
function readResponse(data: Buffer): Response | 'incomplete' | 'malformed' {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return 'incomplete';
  const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
  const status = /^HTTP\/1\.1 ([0-9]{3})(?: |$)/.exec(statusLine ?? '');
  if (status === null) return 'malformed';
  const headers = new Map<string, string>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return 'malformed';
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const code = Number(status[1]);
  const length = code === 101 || code === 102 ? 0 : Number(headers.get('content-length') ?? '0');
  if (!Number.isSafeInteger(length) || length < 0) return 'malformed';
  if (data.length < end + 4 + length) return 'incomplete';
  return { status: code, headers, body: data.subarray(end + 4, end + 4 + length), consumed: end + 4 + length };
}
