import type { Socket } from 'node:net';
import type { DirectReader } from './direct-read.js';

/**
 * Decrypted records are written on in batches of up to this much: TLS
 * hands out one 16 KiB record per read, and one write (and one loopback or
 * LAN segment, or one TLS record more) per record costs more CPU per byte
 * than the decryption.
 */
const BATCH_BYTES = 256 * 1024;

/** TLS's largest record: a shorter one is the last of what the client had to send (an interactive message). */
const FULL_RECORD_BYTES = 16 * 1024;

/**
 * Where a read lands when it cannot land in a batch: shared by every
 * tunnel, as a read is taken (copied or written) before the next read of
 * any socket can happen (one thread).
 */
let landing: Buffer | undefined;

/**
 * Batches whose writes are done, for the next burst of any tunnel: a fresh
 * 256 KiB buffer per batch is a fresh mapping (page faults, zeroed pages)
 * and external memory that drives V8 into full collections, which cost the
 * relay more than the copying it saves.
 */
const spare: Buffer[] = [];
const SPARE_MAX = 32;

/**
 * A batch buffer and who still uses it: writes of it in flight, and Node,
 * while the socket's next read is to land in it. It goes back to `spare`
 * once it is retired (full or abandoned) and neither is left.
 */
class Batch {
  readonly buffer = spare.pop() ?? Buffer.allocUnsafeSlow(BATCH_BYTES);
  #users = 0;
  #retired = false;

  hold(): void {
    this.#users++;
  }

  /** Also the callback of a write of part of this batch. */
  readonly release = (): void => {
    this.#users--;
    this.#recycle();
  };

  retire(): void {
    this.#retired = true;
    this.#recycle();
  }

  #recycle(): void {
    if (this.#retired && this.#users === 0 && spare.length < SPARE_MAX) spare.push(this.buffer);
  }
}

/**
 * The reads of a TLS socket, written on to another socket, as a
 * `DirectReader`: a bulk transfer (full TLS records) is decrypted by Node
 * straight into a batch buffer, record after record, and each batch goes
 * on in one write, when it is full or at the end of the event loop's turn.
 * A short record with nothing batched before it (keys, pointer moves, a
 * small screen update) is written at once. A batch lives only while records
 * keep arriving full, so an idle tunnel holds none. In a tunnel: client →
 * upstream always, and upstream → client when the upstream is another
 * node's L7R (a relay, TLS too).
 *
 * Writes go in read order whatever the path: a read that did not land in
 * the batch is copied to its end. `onRead` answers false, pausing the
 * reading socket, while the socket written to has more queued than it wants.
 */
export class RecordBatcher implements DirectReader {
  #batch: Batch | undefined;
  /** The batch the socket's next read lands in, if any (held until it does not). */
  #targeted: Batch | undefined;
  /** Bytes of the batch holding data; those before `#written` are on their way. */
  #filled = 0;
  #written = 0;
  #lastWasFull = false;
  #flushQueued = false;

  constructor(private readonly to: Socket) {}

  target(): Buffer {
    const batch = this.#batch;
    const into = batch !== undefined && batch.buffer.length - this.#filled >= FULL_RECORD_BYTES ? batch : undefined;
    if (into !== this.#targeted) {
      into?.hold();
      this.#targeted?.release();
      this.#targeted = into;
    }
    if (into !== undefined) return into.buffer.subarray(this.#filled);
    landing ??= Buffer.allocUnsafeSlow(FULL_RECORD_BYTES);
    return landing;
  }

  onRead(bytes: number, buffer: Buffer): boolean {
    const batch = this.#batch?.buffer;
    this.#lastWasFull = bytes >= FULL_RECORD_BYTES;
    if (batch !== undefined && buffer.buffer === batch.buffer && buffer.byteOffset === batch.byteOffset + this.#filled) {
      this.#filled += bytes;
    } else if (!this.#lastWasFull && this.#filled === this.#written) {
      this.#drop();
      this.to.write(Buffer.from(buffer.subarray(0, bytes)));
      return !this.to.writableNeedDrain;
    } else {
      this.#append(buffer.subarray(0, bytes));
    }
    if (this.#batch === undefined || this.#batch.buffer.length - this.#filled < FULL_RECORD_BYTES) {
      this.flush();
      this.#drop();
    } else if (!this.#flushQueued) {
      this.#flushQueued = true;
      setImmediate(this.#endOfTurn);
    }
    return !this.to.writableNeedDrain;
  }

  /** Write what is batched. */
  flush(): void {
    const batch = this.#batch;
    if (batch === undefined || this.#filled === this.#written || this.to.destroyed) return;
    const chunk = batch.buffer.subarray(this.#written, this.#filled);
    this.#written = this.#filled;
    batch.hold();
    this.to.write(chunk, batch.release);
  }

  #append(chunk: Buffer): void {
    if (chunk.length > BATCH_BYTES) {
      this.flush();
      this.#drop();
      this.to.write(Buffer.from(chunk));
      return;
    }
    if (this.#batch === undefined || this.#batch.buffer.length - this.#filled < chunk.length) {
      this.flush();
      this.#drop();
      this.#batch = new Batch();
    }
    chunk.copy(this.#batch.buffer, this.#filled);
    this.#filled += chunk.length;
  }

  readonly #endOfTurn = (): void => {
    this.#flushQueued = false;
    this.flush();
    // A short record ended the burst: let the batch go rather than keep it for an idle client.
    if (!this.#lastWasFull) this.#drop();
  };

  /** No more reads land in the batch (Node may still point at it: a read there is copied, see onRead). */
  #drop(): void {
    this.#batch?.retire();
    this.#batch = undefined;
    this.#filled = 0;
    this.#written = 0;
  }
}
