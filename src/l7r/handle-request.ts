import type { ClientConnection, RequestResult } from './client-connection.js';
import { connectToVm } from './connect-to-vm.js';
import { textResponse } from './http-response.js';
import type { L7rContext } from './l7r-context.js';
import type { AuthenticatedUser } from './l7r-backend.js';
import { authenticate } from './connection-auth.js';
import { headerHasToken, headerValue, type RequestHead } from './request-head.js';
import { parseRequestTarget, type RequestTarget } from './request-target.js';
import { sendJson, sendRefusal, sendText } from './respond.js';
import { RELAY_PATH } from './relay-client.js';
import { relayToVm } from './relay-route.js';
import { checkSessionParams, parseVmId } from './session-params.js';

type Route = (context: L7rContext, connection: ClientConnection, head: RequestHead, target: RequestTarget, receivedAt: bigint) => Promise<RequestResult>;

const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/qvd/ping', ping],
  ['/qvd/list_of_vm', (context, connection, head) => listVms(context, connection, head, false)],
  ['/qvd/list_of_applications', (context, connection, head) => listVms(context, connection, head, true)],
  ['/qvd/authenticate_user', authenticateUser],
  ['/qvd/create_auth_token', createAuthToken],
  ['/qvd/stop_vm', stopVm],
  ['/qvd/connect_to_vm', connectRoute],
  // Internal: another node's L7R relaying to a VM of this node; refused without the cluster key.
  [RELAY_PATH, relayToVm],
]);

/** Dispatch one request; the connection stays open afterwards unless the result says otherwise. */
export async function handleRequest(context: L7rContext, connection: ClientConnection, head: RequestHead, receivedAt: bigint): Promise<RequestResult> {
  // No request bodies in this protocol: one we cannot skip reliably ends the connection.
  if (headerValue(head, 'Transfer-Encoding') !== undefined) return closeWith(connection, 400, 'Request bodies are not accepted');
  const length = headerValue(head, 'Content-Length');
  if (length !== undefined && !/^0+$/.test(length)) return closeWith(connection, 413, 'Request bodies are not accepted');

  const target = parseRequestTarget(head.target);
  if (target === undefined) return closeWith(connection, 400, 'Malformed request target');
  const route = ROUTES.get(target.path);
  if (context.logger.isLevelEnabled('debug')) connection.log.debug({ method: head.method, path: target.path }, 'request');
  if (route === undefined) return keepOrClose(head, sendText(connection, 404, 'Not Found'));
  if (head.method !== 'GET') return keepOrClose(head, sendText(connection, 405, 'Only GET is supported', [['Allow', 'GET']]));
  // A health check must answer even while a login storm queues.
  if (route === ping) return keepOrClose(head, await ping(context, connection));
  const leave = await context.admission.enter();
  try {
    if (connection.closed) return 'close';
    const result = await route(context, connection, head, target, receivedAt);
    return result === 'upgraded' ? result : keepOrClose(head, result);
  } finally {
    leave();
  }
}

/** `Connection: close` from the client is honoured after the answer. */
function keepOrClose(head: RequestHead, result: RequestResult): RequestResult {
  return result === 'keep' && headerHasToken(head, 'Connection', 'close') ? 'close' : result;
}

function closeWith(connection: ClientConnection, status: number, body: string): RequestResult {
  connection.write(textResponse(status, body, [['Connection', 'close']]));
  return 'close';
}

async function ping(context: L7rContext, connection: ClientConnection): Promise<RequestResult> {
  if (!context.isServing()) return sendText(connection, 503, context.isDraining() ? 'Server is shutting down' : 'Server is not serving');
  connection.write(textResponse(200, 'I am alive!\r\n'));
  return 'keep';
}

async function withUser(
  context: L7rContext,
  connection: ClientConnection,
  head: RequestHead,
  then: (user: AuthenticatedUser, scheme: 'basic' | 'bearer') => Promise<RequestResult>,
): Promise<RequestResult> {
  const outcome = await authenticate(context, connection, head);
  if (outcome.kind === 'refused') return sendRefusal(connection, outcome);
  return then(outcome.user, outcome.scheme);
}

function listVms(context: L7rContext, connection: ClientConnection, head: RequestHead, applicationsOnly: boolean): Promise<RequestResult> {
  return withUser(context, connection, head, async (user) => {
    if (!context.isServing()) return sendText(connection, 503, 'Server is not serving');
    const vms = await context.backend.listVms(user, applicationsOnly);
    // Booleans, not 0/1: the Qt client reads `blocked` with QJsonValue::toBool, which is false for any number.
    return sendJson(
      connection,
      vms.map((vm) => ({ id: vm.id, state: vm.state, name: vm.name, blocked: vm.blocked, is_application: vm.isApplication })),
    );
  });
}

function authenticateUser(context: L7rContext, connection: ClientConnection, head: RequestHead): Promise<RequestResult> {
  return withUser(context, connection, head, async (user) => sendJson(connection, { authenticated: true, login: user.login, tenant: user.tenant }));
}

function createAuthToken(context: L7rContext, connection: ClientConnection, head: RequestHead): Promise<RequestResult> {
  return withUser(context, connection, head, async (user, scheme) => {
    // A token that could mint tokens would never expire in the hands of whoever stole it.
    if (scheme !== 'basic') return sendText(connection, 403, 'Tokens are created with the password, not with a token');
    const token = await context.backend.createToken(user);
    connection.log.info({ user: user.key }, 'auth token created');
    return sendJson(connection, { token: token.token, expires_at: token.expiresAt });
  });
}

function stopVm(context: L7rContext, connection: ClientConnection, head: RequestHead, target: RequestTarget): Promise<RequestResult> {
  return withUser(context, connection, head, async (user) => {
    const problem = checkSessionParams(target.params);
    if (problem !== undefined) return sendText(connection, problem.status, problem.message);
    const id = parseVmId(target.params.get('id') ?? '');
    if (id === undefined || !(await context.backend.stopVm(user, id))) return sendText(connection, 404, 'The requested virtual machine does not exist');
    connection.log.info({ user: user.key, vm: id }, 'stop requested');
    return sendJson(connection, { id, stopping: true });
  });
}

function connectRoute(context: L7rContext, connection: ClientConnection, head: RequestHead, target: RequestTarget, receivedAt: bigint): Promise<RequestResult> {
  return connectToVm(context, connection, head, target, receivedAt);
}
