import type { AddressInfo, Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { pino, type Logger } from 'pino';
import { AddressCap } from './address-cap.js';
import { Admission } from './admission.js';
import type { AuthProvider } from './auth-provider.js';
import { ClientConnection } from './client-connection.js';
import { handleRequest } from './handle-request.js';
import type { L7rBackend } from './l7r-backend.js';
import type { L7rContext } from './l7r-context.js';
import { DEFAULT_L7R_LIMITS, type L7rLimits } from './l7r-limits.js';
import type { L7rMetrics } from './l7r-metrics.js';
import { LoginThrottle, type ThrottleSettings } from './login-throttle.js';
import { sharedPasswordVerifier, type PasswordVerifier } from './password-verifier.js';
import { RelayVerifier } from './relay-token.js';
import { RequestAuthenticator } from './request-authenticator.js';
import type { Tunnel } from './tunnel.js';

export interface L7rServerOptions {
  readonly backend: L7rBackend;
  readonly tls: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Asked in order for Basic logins; the first that knows the user decides. */
  readonly auth: readonly AuthProvider[];
  /** Accept `Authorization: Bearer` tokens from create_auth_token (default true). */
  readonly bearerTokens?: boolean;
  readonly logger?: Logger;
  readonly metrics?: L7rMetrics;
  readonly limits?: Partial<L7rLimits>;
  readonly throttle?: Partial<ThrottleSettings> | LoginThrottle;
  /** For the dummy check that hides unknown logins; the built-in provider has its own option. */
  readonly verifier?: PasswordVerifier;
  /**
   * The cluster's relay key (the same on every node): with it, a connect to
   * a VM on another node is relayed through that node's L7R, and relays from
   * other nodes are answered (relay-client.ts, relay-route.ts). Without it,
   * neither.
   */
  readonly relayKey?: Buffer;
}

export interface L7rServer {
  listen(port: number, host?: string): Promise<{ port: number }>;
  /**
   * Stop accepting, close idle connections at once, let answers in progress
   * finish, give tunnels `drainMs` to end, then cut whatever is left.
   */
  close(drainMs?: number): Promise<void>;
  readonly server: Server;
  /** Open tunnels now (for status pages and tests). */
  readonly activeSessions: number;
  /** New connection caps (a reloaded spec), for connections accepted from now on; open ones stay. */
  setConnectionCaps(caps: Pick<L7rLimits, 'maxConnections' | 'maxConnectionsPerAddress'>): void;
  /** A new certificate and key for handshakes from now on (renewed files, a reloaded spec); open connections keep theirs. */
  setTls(tls: { readonly cert: string | Buffer; readonly key: string | Buffer }): void;
  /** Login providers for logins from now on (a reloaded spec). */
  setAuthProviders(providers: readonly AuthProvider[]): void;
  /**
   * Accept on another address and port from now on (a reloaded spec): open
   * connections and tunnels stay. If the new one cannot be bound, the L7R
   * goes back to the old one and the error is thrown.
   */
  relisten(port: number, host?: string): Promise<{ port: number }>;
}

/**
 * The L7R: HTTPS (TLS 1.2+) endpoint speaking QVD/1.0 to the original
 * clients and to `qvd connect`. HTTP is parsed by hand over the TLS socket
 * (see request-head.ts): the original clients send no Host header, read
 * several 102 heads before a 101 on the same connection as an earlier list
 * request, and look header names up case-sensitively; owning the bytes makes
 * all of that exact and the hand-over to the tunnel trivial.
 */
export function createL7rServer(options: L7rServerOptions): L7rServer {
  const limits: L7rLimits = { ...DEFAULT_L7R_LIMITS, ...options.limits };
  const logger = options.logger ?? pino({ name: 'l7r' });
  const throttle = options.throttle instanceof LoginThrottle ? options.throttle : new LoginThrottle(options.throttle);
  const connections = new Set<ClientConnection>();
  const tunnels = new Set<Tunnel>();
  const perAddress = new AddressCap(limits.maxConnectionsPerAddress);
  let draining = false;

  const authenticator = new RequestAuthenticator({
    backend: options.backend,
    providers: options.auth,
    throttle,
    verifier: options.verifier ?? sharedPasswordVerifier(),
    logger,
    metrics: options.metrics,
    bearer: options.bearerTokens ?? true,
  });
  const context: L7rContext = {
    backend: options.backend,
    authenticator,
    logger,
    metrics: options.metrics,
    limits,
    admission: new Admission(limits.activeRequests, limits.requestSlotMs),
    relay: options.relayKey === undefined ? undefined : { key: options.relayKey, verifier: new RelayVerifier(options.relayKey) },
    tunnels,
    exemptFromAddressCap: (socket) => perAddress.release(socket.remoteAddress, socket.remotePort),
    isDraining: () => draining,
    isServing: () => !draining && options.backend.serving !== false,
  };

  const server = createServer(
    {
      cert: options.tls.cert,
      key: options.tls.key,
      minVersion: MIN_TLS_VERSION,
      handshakeTimeout: limits.handshakeTimeoutMs,
    },
    (socket: TLSSocket) => {
      if (draining) {
        socket.destroy();
        return;
      }
      // A FIN from the client must reach the VM as a FIN while the VM's answer still flows back. Set only now:
      // on the server options it would also keep sockets whose client left mid-handshake until the handshake timeout.
      socket.allowHalfOpen = true;
      const connection = new ClientConnection(socket, {
        limits,
        logger,
        handler: (conn, head, receivedAt) => handleRequest(context, conn, head, receivedAt),
        isDraining: () => draining,
        onClose: (conn) => connections.delete(conn),
      });
      connections.add(connection);
    },
  );
  server.maxConnections = limits.maxConnections;
  const refused = refusalLog(logger);
  server.on('drop', (dropped?: { remoteAddress?: string }) => {
    options.metrics?.connectionsRefused.inc({ reason: 'max_connections' });
    refused('max_connections', 'all', { ip: dropped?.remoteAddress, max: server.maxConnections });
  });
  // Every TCP socket, handshaking ones included, so close() can cut what the drain left.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    const { remoteAddress, remotePort } = socket;
    const admitted = perAddress.admit(remoteAddress, remotePort);
    if (!admitted.ok) {
      // Before the handshake: a flood from one address costs one accept and one close each, no TLS.
      socket.destroy();
      options.metrics?.connectionsRefused.inc({ reason: 'per_address' });
      refused('per_address', admitted.key, { ip: remoteAddress, address: admitted.key, open: admitted.open, max: perAddress.limit });
      return;
    }
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      perAddress.release(remoteAddress, remotePort);
    });
  });
  server.on('tlsClientError', (error, socket) => {
    logger.debug({ err: error, ip: socket.remoteAddress }, 'TLS handshake failed');
  });

  return {
    server,
    get activeSessions() {
      return tunnels.size;
    },
    setTls(tls) {
      // Throws on a key that does not match its certificate, before anything is replaced.
      server.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: MIN_TLS_VERSION });
    },
    setAuthProviders(providers) {
      authenticator.setProviders(providers);
    },
    setConnectionCaps(caps) {
      // The caps live where they are enforced: the server's own count and the address cap.
      server.maxConnections = caps.maxConnections;
      perAddress.limit = caps.maxConnectionsPerAddress;
    },
    async listen(port, host) {
      const address = await bind(server, port, host);
      logger.info({ host: address.address, port: address.port }, 'L7R listening');
      return { port: address.port };
    },
    async relisten(port, host) {
      const old = server.address() as AddressInfo;
      // close() only stops accepting: connections already made stay, and listen() may be called again.
      server.close();
      try {
        const address = await bind(server, port, host);
        logger.info({ host: address.address, port: address.port, was: `${old.address}:${old.port}` }, 'L7R listening');
        return { port: address.port };
      } catch (error) {
        await bind(server, old.port, old.address);
        throw error;
      }
    },
    async close(drainMs = 10_000) {
      draining = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of connections) if (connection.idle) connection.endWith();
      const deadline = Date.now() + drainMs;
      while ((connections.size > 0 || tunnels.size > 0) && Date.now() < deadline) await sleep(Math.min(50, Math.max(1, deadline - Date.now())));
      for (const tunnel of tunnels) tunnel.close('shutdown');
      for (const connection of connections) connection.destroy();
      for (const socket of sockets) socket.destroy();
      await Promise.all([...tunnels].map((tunnel) => tunnel.done));
      await stopped;
      logger.info('L7R stopped');
    },
  };
}

const MIN_TLS_VERSION = 'TLSv1.2';

/**
 * A warning per refused address at most once a minute (with how many were
 * refused since the last one): a flood must not become a flood of log lines.
 */
function refusalLog(logger: Logger): (limit: 'max_connections' | 'per_address', key: string, fields: Record<string, unknown>) => void {
  const recent = new Map<string, { at: number; since: number }>();
  return (limit, key, fields) => {
    const id = `${limit} ${key}`;
    const now = Date.now();
    const seen = recent.get(id);
    if (seen !== undefined && now - seen.at < 60_000) {
      seen.since++;
      return;
    }
    if (recent.size >= 1000) for (const [k, v] of recent) if (now - v.at >= 60_000) recent.delete(k);
    recent.set(id, { at: now, since: 0 });
    logger.warn({ ...fields, limit, refusedSinceLastWarning: seen?.since ?? 0 }, 'connection refused at accept');
  };
}

function bind(server: Server, port: number, host: string | undefined): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
