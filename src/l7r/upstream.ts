import type { Socket } from 'node:net';

/**
 * Bytes read from any upstream socket (a VM's NX port, or another node's
 * L7R) land in this one buffer. Safe to share: a read is handed on before
 * the next read of any socket can happen (one thread), and whoever keeps it
 * longer than that copies it (see tunnel.ts). Reads this large cut
 * the read calls and JS callbacks per MiB of screen updates by 4 compared
 * to the 64 KiB a stream reads by default, and no buffer is allocated per read.
 */
const SHARED_READ_BYTES = 256 * 1024;
let sharedReadBuffer: Buffer | undefined;

function readBuffer(): Buffer {
  sharedReadBuffer ??= Buffer.allocUnsafe(SHARED_READ_BYTES);
  return sharedReadBuffer;
}

/**
 * Bytes a client sends faster than the upstream takes them are held up to
 * this much per tunnel before the client is paused (one batch of TLS records
 * plus what the kernel did not take yet).
 */
export const UPSTREAM_WRITE_HIGH_WATER = 512 * 1024;

/**
 * The read side of an upstream socket made with `socketOptions()`: its reads
 * go to whoever `deliverTo` named (which says whether to keep reading);
 * before anyone takes them, they are copied and kept, so nothing the peer
 * sends early is lost.
 */
export class Upstream {
  #socket: Socket | undefined;
  #deliver: ((chunk: Buffer) => boolean) | undefined;
  #early: Buffer[] = [];
  #earlyBytes = 0;

  /** For `net.connect`/`tls.connect`: reads into the shared buffer, to this upstream; writes held up to UPSTREAM_WRITE_HIGH_WATER. */
  socketOptions(): { onread: { buffer: () => Buffer; callback: (bytes: number, buffer: Buffer) => boolean }; writableHighWaterMark: number } {
    return { onread: { buffer: readBuffer, callback: (bytes, buffer) => this.#onRead(buffer.subarray(0, bytes)) }, writableHighWaterMark: UPSTREAM_WRITE_HIGH_WATER };
  }

  attach(socket: Socket): void {
    this.#socket = socket;
  }

  get socket(): Socket {
    if (this.#socket === undefined) throw new Error('upstream socket not attached');
    return this.#socket;
  }

  /** Bytes read before `deliverTo` (copies), emptied. */
  takeEarly(): Buffer {
    const early = this.#early.length === 1 ? this.#early[0]! : Buffer.concat(this.#early);
    this.#early = [];
    this.#earlyBytes = 0;
    return early;
  }

  /** From now on every read goes to `deliver`; false from it pauses reading until `socket.resume()` (call it once after this). */
  deliverTo(deliver: (chunk: Buffer) => boolean): void {
    this.#deliver = deliver;
  }

  /** Back to keeping reads (copied) for whoever takes them next, starting with `rest`. */
  keepFrom(rest: Buffer): void {
    this.#deliver = undefined;
    this.#early = rest.length === 0 ? [] : [Buffer.from(rest)];
    this.#earlyBytes = rest.length;
  }

  #onRead(chunk: Buffer): boolean {
    if (this.#deliver !== undefined) return this.#deliver(chunk);
    this.#early.push(Buffer.from(chunk));
    this.#earlyBytes += chunk.length;
    // A peer that talks before anyone listens is held off, not buffered without end.
    return this.#earlyBytes < SHARED_READ_BYTES;
  }
}
