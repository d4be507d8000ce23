import { BoundLog } from './bound-log.js';
import type { ClientConnection, RequestResult } from './client-connection.js';
import { connectEndpoint } from './connect-endpoint.js';
import { authenticate } from './connection-auth.js';
import { processingResponse, responseHead, textResponse } from './http-response.js';
import type { L7rContext } from './l7r-context.js';
import { PrepareError, type AuthenticatedUser, type PrepareFailure, type VmEndpoint } from './l7r-backend.js';
import type { ConnectOutcome } from './l7r-metrics.js';
import { headerHasToken, headerValue, type RequestHead } from './request-head.js';
import type { RequestTarget } from './request-target.js';
import { sendRefusal, sendText } from './respond.js';
import { checkSessionParams, clientParams, parseVmId } from './session-params.js';
import { isSlaveKey } from './slave-key.js';
import { connectRelay, RelayRefused, type Relayed } from './relay-client.js';
import { startTunnel } from './tunnel.js';
import type { Upstream } from './upstream.js';

/** Said once per process: the fallback is a property of the Node running us, not of a session. */
let warnedNoDirectRead = false;

/**
 * `GET /qvd/connect_to_vm?id=N&qvd.client.*=...` with `Connection: Upgrade`
 * and `Upgrade: QVD/1.0`: checks in the original's order (401, 426, 422,
 * 403 parameters, then 404 / 403 blocked from the backend), then `102
 * Processing` heads while the VM is prepared, `101 Switching Protocols`,
 * and the socket becomes a tunnel to the VM's NX port.
 */
export async function connectToVm(context: L7rContext, connection: ClientConnection, head: RequestHead, target: RequestTarget, receivedAt: bigint): Promise<RequestResult> {
  const count = (outcome: ConnectOutcome): void => context.metrics?.connectsTotal.inc({ outcome });
  const auth = await authenticate(context, connection, head);
  if (auth.kind === 'refused') {
    count(auth.status === 429 ? 'throttled' : auth.status === 503 ? 'unavailable' : 'auth_failed');
    return sendRefusal(connection, auth);
  }
  const user = auth.user;
  if (!(headerHasToken(head, 'Connection', 'upgrade') && headerValue(head, 'Upgrade')?.toUpperCase() === 'QVD/1.0')) {
    count('bad_request');
    return sendText(connection, 426, 'Upgrade to QVD/1.0 required', [['Connection', 'Upgrade'], ['Upgrade', 'QVD/1.0']]);
  }
  const problem = checkSessionParams(target.params);
  if (problem !== undefined) {
    count('bad_request');
    return sendText(connection, problem.status, problem.message);
  }
  const id = parseVmId(target.params.get('id') ?? '');
  if (id === undefined) {
    count('not_found');
    return sendText(connection, 404, 'The requested virtual machine does not exist');
  }
  if (!context.isServing()) {
    count('unavailable');
    return sendText(connection, 503, 'Server is not serving');
  }
  return new ConnectAttempt(context, connection, user, id, receivedAt, count).run(clientParams(target.params));
}

/** One connect from preparation to the 101, and the session it opens. */
class ConnectAttempt {
  private boundLog: BoundLog | undefined;
  /** Aborts the backend's preparation and our connect to the VM: client gone, timeout, takeover. */
  private readonly abort = new AbortController();
  private endpoint: VmEndpoint | undefined;
  private unsubscribeTakeover: (() => void) | undefined;
  private sessionClosed = false;
  private takenOver = false;

  constructor(
    private readonly context: L7rContext,
    private readonly connection: ClientConnection,
    private readonly user: AuthenticatedUser,
    private readonly vmId: number,
    private readonly receivedAt: bigint,
    private readonly count: (outcome: ConnectOutcome) => void,
  ) {}

  private get log(): BoundLog {
    this.boundLog ??= new BoundLog(this.context.logger, { ip: this.connection.ip, port: this.connection.socket.remotePort, user: this.user.key, vm: this.vmId });
    return this.boundLog;
  }

  async run(params: Readonly<Record<string, string>>): Promise<RequestResult> {
    const { connection, context } = this;
    const offGone = connection.onGone(() => this.abort.abort(new Error('client went away')));
    // Bounds everything up to the 101: preparation, and a relay's desktop start on the VM's node.
    const timer = setTimeout(() => this.abort.abort(new Error('timed out preparing the virtual machine')), context.limits.prepareTimeoutMs);
    timer.unref();
    let preparing = true;
    // The backend may call progress late or after failing: only heads sent before the final answer count.
    const progress = (info: string): void => {
      if (preparing && !this.abort.signal.aborted) connection.write(processingResponse(info));
    };
    const done = (): void => {
      preparing = false;
      clearTimeout(timer);
      offGone();
    };
    try {
      if (context.logger.isLevelEnabled('debug')) this.log.debug('connect requested');
      this.endpoint = await context.backend.prepareVm(this.user, this.vmId, params, progress, this.abort.signal);
    } catch (error) {
      done();
      return this.prepareFailed(error);
    }
    const endpoint = this.endpoint;
    this.unsubscribeTakeover = context.backend.onTakeover(endpoint.sessionId, () => this.onTakeover());

    if (!isSlaveKey(endpoint.slaveKey)) {
      done();
      this.log.error({ session: endpoint.sessionId }, 'backend gave a slave key that is not 64 alphanumerics');
      return this.fail('internal error');
    }
    let vm: Upstream;
    let nxCookie = endpoint.nxCookie;
    try {
      if (endpoint.relay === undefined) {
        vm = await connectEndpoint(endpoint.host, endpoint.port, context.limits.endpointConnectTimeoutMs, this.abort.signal);
      } else {
        const relayed = await this.relay(endpoint, endpoint.relay, params, progress);
        vm = relayed.upstream;
        nxCookie = relayed.nxCookie;
      }
    } catch (error) {
      done();
      if (this.clientGone()) return this.gaveUp();
      if (error instanceof RelayRefused) return this.fail(this.takenOver ? 'Aborted by contending session' : error.reason);
      this.log.warn({ err: error, host: endpoint.relay?.host ?? endpoint.host, port: endpoint.relay?.port ?? endpoint.port, node: endpoint.node }, 'cannot reach the VM');
      if (this.takenOver) return this.fail('Aborted by contending session');
      return this.fail(endpoint.relay === undefined ? `unable to connect to the virtual machine (${errorText(error)})` : errorText(error));
    }
    done();
    if (nxCookie !== undefined && !/^[0-9a-f]{32}$/.test(nxCookie)) {
      vm.socket.destroy();
      this.log.error({ session: endpoint.sessionId }, 'got an NX cookie that is not 32 lowercase hex digits');
      return this.fail('internal error');
    }
    try {
      await context.backend.sessionStarted(endpoint.sessionId);
    } catch (error) {
      vm.socket.destroy();
      this.log.error({ err: error }, 'backend could not record the session start');
      return this.fail('internal error');
    }
    if (this.clientGone() || this.takenOver) {
      vm.socket.destroy();
      return this.clientGone() ? this.gaveUp() : this.fail('Aborted by contending session');
    }
    return this.upgrade(vm, { ...endpoint, ...(nxCookie === undefined ? {} : { nxCookie }) });
  }

  /** The VM runs on another node: its L7R starts the desktop session and pipes to the VM; its 102s go to the client. */
  private relay(endpoint: VmEndpoint, to: { host: string; port: number }, params: Readonly<Record<string, string>>, progress: (info: string) => void): Promise<Relayed> {
    const relay = this.context.relay;
    if (relay === undefined) return Promise.reject(new Error(`the VM runs on node ${endpoint.node}, and this L7R has no relay key to reach it`));
    if (this.context.logger.isLevelEnabled('debug')) this.log.debug({ node: endpoint.node, host: to.host, port: to.port }, 'relaying to the VM\'s node');
    return connectRelay({
      host: to.host,
      port: to.port,
      key: relay.key,
      from: this.context.backend.node,
      to: endpoint.node,
      session: { vmId: this.vmId, sessionId: endpoint.sessionId, userKey: this.user.key, login: this.user.login, clientParams: params },
      connectTimeoutMs: this.context.limits.endpointConnectTimeoutMs,
      signal: this.abort.signal,
      progress,
    });
  }

  private upgrade(vm: Upstream, endpoint: VmEndpoint): RequestResult {
    const { connection, context } = this;
    connection.write(
      responseHead(101, [
        ['Connection', 'Upgrade'],
        ['Upgrade', 'QVD/1.0'],
        ['X-QVD-Slave-Key', endpoint.slaveKey],
        // Extra to the original protocol (its clients ignore it): the cookie nxproxy must present.
        ...(endpoint.nxCookie === undefined ? [] : [['X-QVD-NX-Cookie', endpoint.nxCookie] as [string, string]]),
      ]),
    );
    const seconds = Number(process.hrtime.bigint() - this.receivedAt) / 1e9;
    const pending = connection.detach();
    // The original clients send no NX cookie: the tunnel adds the session's (nx-hello-cookie.ts).
    const tunnel = startTunnel(connection.socket, vm, pending, context.limits.tunnelLingerMs, endpoint.nxCookie);
    if (!tunnel.directRead && !warnedNoDirectRead) {
      warnedNoDirectRead = true;
      this.log.warn(`tunnels read client bytes through data events on Node ${process.version} (no direct reads): uploads cost more CPU`);
    }
    context.tunnels.add(tunnel);
    const metrics = context.metrics;
    metrics?.timeTo101.observe(seconds);
    metrics?.sessionsActive.inc();
    this.count('ok');
    const stopTracking = metrics?.trackTunnel(tunnel);
    this.takeoverHook = () => tunnel.close('takeover');
    this.log.info({ session: endpoint.sessionId, node: endpoint.node, ms: Math.round(seconds * 1000) }, 'session connected');
    void tunnel.done.then((end) => {
      context.tunnels.delete(tunnel);
      metrics?.sessionsActive.dec();
      stopTracking?.();
      this.log.info({ session: endpoint.sessionId, reason: end.reason, bytesIn: end.bytesIn, bytesOut: end.bytesOut, err: end.error }, 'session ended');
      this.closeSession();
    });
    return 'upgraded';
  }

  /** Set once the tunnel runs: a takeover then cuts it. Before that, it aborts the attempt. */
  private takeoverHook: (() => void) | undefined;

  private onTakeover(): void {
    this.takenOver = true;
    this.log.info({ session: this.endpoint?.sessionId }, 'session taken over by another connection');
    if (this.takeoverHook !== undefined) this.takeoverHook();
    else this.abort.abort(new Error('Aborted by contending session'));
  }

  private prepareFailed(error: unknown): RequestResult {
    if (this.clientGone()) return this.gaveUp();
    const failure = prepareFailure(error);
    if (failure === undefined) {
      const reason = this.abort.signal.aborted ? errorText(this.abort.signal.reason) : 'internal error';
      if (!this.abort.signal.aborted) this.log.error({ err: error }, 'preparing the VM failed unexpectedly');
      return this.fail(reason);
    }
    switch (failure.kind) {
      case 'not-found':
        this.count('not_found');
        this.log.info('no such VM for this user');
        return sendText(this.connection, 404, 'The requested virtual machine does not exist');
      case 'blocked':
        this.count('blocked');
        this.log.info('VM is blocked');
        return sendText(this.connection, 403, 'The requested virtual machine is offline for maintenance');
      case 'unavailable':
        return this.fail(failure.reason);
    }
  }

  /** 503 with the reference's body; the session, if one was prepared, is given back. */
  private fail(reason: string): RequestResult {
    this.count('unavailable');
    this.log.warn({ reason }, 'VM not available');
    this.closeSession();
    const body = `The requested virtual machine is not available: ${reason.replace(/[\r\n]+/g, ' ')}, retry later.`;
    this.connection.write(textResponse(503, body));
    return 'keep';
  }

  private gaveUp(): RequestResult {
    this.count('aborted');
    this.log.info('client went away while its VM was prepared');
    this.closeSession();
    return 'close';
  }

  private clientGone(): boolean {
    return this.connection.closed;
  }

  /** sessionEnded exactly once for a prepared session, whichever way it ends. */
  private closeSession(): void {
    if (this.sessionClosed) return;
    this.sessionClosed = true;
    this.unsubscribeTakeover?.();
    const endpoint = this.endpoint;
    if (endpoint === undefined) return;
    this.context.backend.sessionEnded(endpoint.sessionId).catch((error: unknown) => {
      this.log.error({ err: error, session: endpoint.sessionId }, 'backend could not record the session end');
    });
  }
}

function prepareFailure(error: unknown): PrepareFailure | undefined {
  if (error instanceof PrepareError) return error.failure;
  // A PrepareError from another copy of this module (a bundled backend) is still one.
  if (typeof error === 'object' && error !== null && 'failure' in error) {
    const failure = (error as { failure: unknown }).failure;
    if (typeof failure === 'object' && failure !== null && 'kind' in failure) return failure as PrepareFailure;
  }
  return undefined;
}

function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
