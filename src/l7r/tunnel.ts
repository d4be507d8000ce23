import { TLSSocket } from 'node:tls';
import { addNxCookie } from './nx-hello-cookie.js';
import type { ByteSource } from './l7r-metrics.js';
import type { Upstream } from './upstream.js';
import { readDirect, type DirectReader } from './direct-read.js';
import { RecordBatcher } from './record-batcher.js';

export type TunnelEndReason = 'closed' | 'error' | 'takeover' | 'shutdown';

export interface TunnelEnd {
  readonly reason: TunnelEndReason;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly error?: Error;
}

export interface Tunnel extends ByteSource {
  /** False when this Node offers no direct reads (direct-read.ts): client bytes then come as `data` events, one copy more. */
  readonly directRead: boolean;
  /** The upstream is TLS (a relay to the VM's node): its records are batched on to the client like the client's go upstream. */
  readonly batchedDown: boolean;
  /** Settles once both sockets are closed. */
  readonly done: Promise<TunnelEnd>;
  /** Cut both sockets now (takeover, shutdown). */
  close(reason: TunnelEndReason): void;
}

/**
 * The raw byte pipe between the client's TLS socket and the upstream (the
 * VM's NX port, or the L7R of the VM's node), both ways, with backpressure:
 * the faster side is paused while the other has not taken its bytes. A FIN
 * from either side is passed on as a FIN (half-close): both sockets allow
 * half-open, and the tunnel ends when both directions are done. An error on
 * either side cuts both. `head` holds bytes the client sent after its
 * request, before the 101: they belong upstream.
 *
 * Client → upstream: see record-batcher.ts (full records batched into one
 * write, decrypted straight into the batch where Node allows it; short ones
 * written at once). Upstream → client, from a VM (TCP): reads land in a
 * shared buffer (see upstream.ts) and are encrypted at once; only when the
 * client's socket is backed up is a read copied, and reading pauses until
 * it drains. From another node's L7R (TLS, one record per read): batched
 * like the client's bytes, or every 16 KiB would cost a write and a TLS
 * record of its own on the way to the client.
 *
 * `nxCookie`: the session's NX cookie, added to the client's first NX
 * message when it has none (the original clients; see nx-hello-cookie.ts).
 */
export function startTunnel(client: TLSSocket, upstream: Upstream, head: Buffer, lingerMs: number, nxCookie?: string): Tunnel {
  const vm = upstream.socket;
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

  // Client → upstream.
  const writer = new RecordBatcher(vm);
  let clientPaused = false;
  const resumeClient = (): void => {
    clientPaused = false;
    client.resume();
  };
  const fromClient: DirectReader = {
    target: () => writer.target(),
    onRead: (bytes, buffer) => {
      if (hello === undefined) return pausedUnlessTaken(writer.onRead(bytes, buffer));
      const chunk = passHello(Buffer.from(buffer.subarray(0, bytes)), false);
      if (chunk !== undefined) vm.write(chunk);
      return pausedUnlessTaken(!vm.writableNeedDrain);
    },
  };
  const pausedUnlessTaken = (taken: boolean): boolean => {
    if (!taken && !clientPaused && !vm.destroyed) {
      clientPaused = true;
      vm.once('drain', resumeClient);
    }
    return taken;
  };
  // The client's first bytes, held until its NX hello is complete (only with a cookie to add).
  let hello: Buffer | undefined = nxCookie === undefined ? undefined : Buffer.alloc(0);
  const passHello = (chunk: Buffer, final: boolean): Buffer | undefined => {
    if (hello === undefined || nxCookie === undefined) return chunk;
    hello = hello.length === 0 ? chunk : Buffer.concat([hello, chunk]);
    const rewrite = addNxCookie(hello, nxCookie);
    if (!rewrite.done && !final) return undefined;
    const out = rewrite.done ? rewrite.bytes : hello;
    hello = undefined;
    return out;
  };
  client.once('end', () => {
    const rest = passHello(Buffer.alloc(0), true);
    writer.flush();
    if (rest !== undefined && rest.length > 0) vm.write(rest);
    vm.end();
  });

  // Upstream → client.
  const resumeVm = (): void => {
    vm.resume();
  };
  const early = upstream.takeEarly();
  if (early.length > 0) client.write(early);
  const toClient = vm instanceof TLSSocket ? new RecordBatcher(client) : undefined;
  const batchedDown =
    toClient !== undefined &&
    readDirect(vm, {
      target: () => toClient.target(),
      onRead: (bytes, buffer) => {
        const taken = toClient.onRead(bytes, buffer);
        if (!taken && !client.destroyed) client.once('drain', resumeVm);
        return taken;
      },
    });
  if (!batchedDown) {
    upstream.deliverTo((chunk) => {
      // Held by the stream when it cannot be encrypted now: then it must not stay a view of the shared read buffer.
      const more = client.write(client.writableLength > 0 ? Buffer.from(chunk) : chunk);
      if (!more && !client.destroyed) {
        client.once('drain', resumeVm);
        return false;
      }
      return true;
    });
  }
  vm.once('end', () => {
    toClient?.flush();
    client.end();
  });

  if (head.length > 0) {
    const first = passHello(head, false);
    if (first !== undefined) vm.write(first);
  }
  // Bytes the stream already holds go first; then reads go to the writer, directly when Node allows it.
  for (let chunk = client.read() as Buffer | null; chunk !== null; chunk = client.read() as Buffer | null) fromClient.onRead(chunk.length, chunk);
  const directRead = readDirect(client, fromClient);
  if (!directRead) {
    client.on('data', (chunk: Buffer) => {
      if (!fromClient.onRead(chunk.length, chunk)) client.pause();
    });
  }
  vm.resume();
  client.resume();

  return {
    directRead,
    batchedDown,
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
