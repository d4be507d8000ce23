import { connect } from 'node:net';
import { Upstream } from './upstream.js';

/**
 * TCP to the VM's NX port, with TCP_NODELAY (NX sends many small
 * interactive messages) and keep-alive (a dead VM is noticed even while the
 * user is idle). Half-open is allowed so a FIN can pass through the tunnel.
 */
export function connectEndpoint(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<Upstream> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error('aborted'));
      return;
    }
    const upstream = new Upstream();
    const socket = connect({
      host,
      port,
      allowHalfOpen: true,
      noDelay: true,
      keepAlive: true,
      keepAliveInitialDelay: 30_000,
      ...upstream.socketOptions(),
    });
    upstream.attach(socket);
    const fail = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onError = (error: Error): void => fail(error);
    const onAbort = (): void => fail(new Error('aborted'));
    const timer = setTimeout(() => fail(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    socket.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      cleanup();
      // Until the tunnel attaches its handler (and after), an error must not crash the process; the tunnel sees 'close'.
      socket.on('error', () => undefined);
      resolve(upstream);
    });
  });
}
