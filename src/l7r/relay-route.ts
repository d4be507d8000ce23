import type { Logger } from 'pino';
import type { ClientConnection, RequestResult } from './client-connection.js';
import { connectEndpoint } from './connect-endpoint.js';
import { processingResponse, responseHead, textResponse } from './http-response.js';
import type { L7rContext } from './l7r-context.js';
import { PrepareError, type RelayedSession } from './l7r-backend.js';
import { channelBinding, relayProof } from './relay-token.js';
import { headerCount, headerHasToken, headerValue, type RequestHead } from './request-head.js';
import type { RequestTarget } from './request-target.js';
import { parseVmId } from './session-params.js';
import { startTunnel } from './tunnel.js';
import type { Upstream } from './upstream.js';

const CLIENT_PARAM = /^(?:qvd\.client\.|custom\.)/;
const SESSION_FIELDS = new Set(['id', 'session', 'user', 'login']);

/**
 * The internal end of a relay (relay-client.ts): another node's L7R, which
 * holds the user's connection and the session, asks this node's L7R to pipe
 * to a VM running here (VM networks are per node). Refused with a bare 403
 * unless the token proves the cluster key on this connection (relay-token.ts):
 * users, who do not have the key, cannot use it. Then as connect_to_vm from
 * the backend on: 102 heads while the desktop session starts, 503 with the
 * reference body on failure, 101 (with the NX cookie and this node's proof)
 * and a raw pipe to the VM's NX port. The session stays the relaying
 * node's: it records its start and end, and takeovers go to it.
 */
export async function relayToVm(context: L7rContext, connection: ClientConnection, head: RequestHead, target: RequestTarget): Promise<RequestResult> {
  const { backend, relay } = context;
  if (relay === undefined || backend.attachRelayed === undefined) return closeWith(connection, 404, 'Not Found');
  const verdict =
    headerCount(head, 'X-QVD-Relay') === 1
      ? relay.verifier.verify(headerValue(head, 'X-QVD-Relay'), { to: backend.node, target: head.target }, channelBinding(connection.socket))
      : ({ ok: false, reason: 'no single relay token' } as const);
  if (!verdict.ok) {
    connection.log.warn({ reason: verdict.reason }, 'relay refused');
    return closeWith(connection, 403, 'Forbidden');
  }
  // Another node's L7R: it carries many users' sessions from one address, each already let in (and capped) there.
  context.exemptFromAddressCap(connection.socket);
  const session = relayedSession(target);
  if (session === undefined || !(headerHasToken(head, 'Connection', 'upgrade') && headerValue(head, 'Upgrade')?.toUpperCase() === 'QVD/1.0')) {
    connection.log.warn({ from: verdict.from }, 'malformed relay request');
    return closeWith(connection, 400, 'Malformed relay request');
  }
  const log = context.logger.child({ ip: connection.ip, relayFrom: verdict.from, vm: session.vmId, session: session.sessionId });
  const abort = new AbortController();
  const onGone = (): void => abort.abort(new Error('the relaying L7R went away'));
  connection.signal.addEventListener('abort', onGone, { once: true });
  const timer = setTimeout(() => abort.abort(new Error('timed out preparing the virtual machine')), context.limits.prepareTimeoutMs);
  timer.unref();
  let preparing = true;
  const progress = (info: string): void => {
    if (preparing && !abort.signal.aborted) connection.write(processingResponse(info));
  };
  const fail = (reason: string): RequestResult => {
    log.warn({ reason }, 'relay: VM not available');
    connection.write(textResponse(503, `The requested virtual machine is not available: ${reason.replace(/[\r\n]+/g, ' ')}, retry later.`));
    return 'close';
  };
  let vm: Upstream;
  let nxCookie: string | undefined;
  try {
    const endpoint = await backend.attachRelayed(session, progress, abort.signal);
    preparing = false;
    nxCookie = endpoint.nxCookie;
    if (nxCookie !== undefined && !/^[0-9a-f]{32}$/.test(nxCookie)) return fail('internal error');
    vm = await connectEndpoint(endpoint.host, endpoint.port, context.limits.endpointConnectTimeoutMs, abort.signal);
  } catch (error) {
    preparing = false;
    if (connection.closed) return 'close';
    if (error instanceof PrepareError) return fail(error.failure.kind === 'unavailable' ? error.failure.reason : error.failure.kind === 'not-found' ? 'no such VM here' : 'the VM is blocked');
    return fail(abort.signal.aborted ? String((abort.signal.reason as Error | undefined)?.message ?? abort.signal.reason) : `unable to connect to the virtual machine (${(error as Error).message})`);
  } finally {
    clearTimeout(timer);
    connection.signal.removeEventListener('abort', onGone);
  }
  if (connection.closed) {
    vm.socket.destroy();
    return 'close';
  }
  connection.write(
    responseHead(101, [
      ['Connection', 'Upgrade'],
      ['Upgrade', 'QVD/1.0'],
      ['X-QVD-Relay-Proof', relayProof(relay.key, verdict.nonce, channelBinding(connection.socket))],
      ...(nxCookie === undefined ? [] : [['X-QVD-NX-Cookie', nxCookie] as [string, string]]),
    ]),
  );
  startRelayTunnel(context, connection, vm, log);
  return 'upgraded';
}

function startRelayTunnel(context: L7rContext, connection: ClientConnection, vm: Upstream, log: Logger): void {
  const tunnel = startTunnel(connection.socket, vm, connection.detach(), context.limits.tunnelLingerMs);
  context.tunnels.add(tunnel);
  const untrack = context.metrics?.trackRelay(tunnel);
  context.metrics?.relaysActive.inc();
  log.info('relay connected');
  void tunnel.done.then((end) => {
    untrack?.();
    context.metrics?.relaysActive.dec();
    context.tunnels.delete(tunnel);
    log.info({ reason: end.reason, bytesIn: end.bytesIn, bytesOut: end.bytesOut, err: end.error }, 'relay ended');
  });
}

function relayedSession(target: RequestTarget): RelayedSession | undefined {
  const p = target.params;
  const vmId = parseVmId(p.get('id') ?? '');
  const sessionId = p.get('session');
  const userKey = p.get('user');
  const login = p.get('login');
  if (vmId === undefined || !sessionId || !userKey || !login) return undefined;
  const clientParams: Record<string, string> = {};
  for (const [name, value] of p) {
    if (SESSION_FIELDS.has(name)) continue;
    if (!CLIENT_PARAM.test(name)) return undefined;
    clientParams[name] = value;
  }
  return { vmId, sessionId, userKey, login, clientParams };
}

function closeWith(connection: ClientConnection, status: number, body: string): RequestResult {
  connection.write(textResponse(status, body, [['Connection', 'close']]));
  return 'close';
}
