import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ByteSource } from './l7r-metrics.js';

export type TunnelEndReason = 'closed' | 'error' | 'takeover' | 'shutdown';

export interface TunnelEnd {
  readonly reason: TunnelEndReason;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly error?: Error;
}

export interface Tunnel extends ByteSource {
  /** Settles once both sockets are closed. */
  readonly done: Promise<TunnelEnd>;
  /** Cut both sockets now (takeover, shutdown). */
  close(reason: TunnelEndReason): void;
}

/**
 * The raw byte pipe between the client's TLS socket and the VM's NX port,
 * both ways, with backpressure (pipe pauses the faster side). A FIN from
 * either side is passed on as a FIN (half-close): both sockets are created
 * with allowHalfOpen, and the tunnel ends when both directions are done. An
 * error on either side cuts both. `head` holds bytes the client sent after
 * its request, before the 101: they belong to the VM.
 */
export function startTunnel(client: TLSSocket, vm: Socket, head: Buffer, lingerMs: number): Tunnel {
  let reason: TunnelEndReason = 'closed';
  let firstError: Error | undefined;
  let linger: NodeJS.Timeout | undefined;
  let resolveDone: (end: TunnelEnd) => void = () => undefined;
  const done = new Promise<TunnelEnd>((resolve) => {
    resolveDone = resolve;
  });

  const cut = (why: TunnelEndReason, error?: Error): void => {
    if (reason === 'closed' && why !== 'closed') reason = why;
    if (error !== undefined) firstError ??= error;
    client.destroy();
    vm.destroy();
  };
  const onError = (error: Error): void => cut('error', error);
  client.on('error', onError);
  vm.on('error', onError);

  let open = 2;
  const onClose = (): void => {
    open--;
    if (open === 1) {
      // One side finished cleanly; the other is flushing its last bytes. Do not wait forever for a peer that never closes.
      linger = setTimeout(() => cut('closed'), lingerMs);
      linger.unref();
      return;
    }
    clearTimeout(linger);
    resolveDone({ reason, bytesIn: vm.bytesWritten, bytesOut: vm.bytesRead, ...(firstError === undefined ? {} : { error: firstError }) });
  };
  client.once('close', onClose);
  vm.once('close', onClose);

  if (head.length > 0) vm.write(head);
  client.pipe(vm);
  vm.pipe(client);
  client.resume();

  return {
    done,
    close: (why) => cut(why),
    get bytesIn() {
      return vm.bytesWritten;
    },
    get bytesOut() {
      return vm.bytesRead;
    },
  };
}
