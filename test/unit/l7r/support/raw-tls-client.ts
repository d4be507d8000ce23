import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';

export interface RawHead {
  readonly raw: string;
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
}

export interface RawResponse extends RawHead {
  readonly body: string;
  /** Head and body exactly as received. */
  readonly bytes: string;
}

/**
 * A TLS client that writes raw request bytes and reads raw response bytes,
 * the way the original QVD clients do: no HTTP library between the test and
 * the wire.
 */
export class RawTlsClient {
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private ended = false;

  private constructor(readonly socket: TLSSocket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, options: ConnectionOptions = {}): Promise<RawTlsClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options }, () => resolve(new RawTlsClient(socket)));
      socket.once('error', reject);
    });
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Bytes received and not yet consumed. */
  get pending(): Buffer {
    return this.buffer;
  }

  async readHead(timeoutMs = 5000): Promise<RawHead> {
    const end = await this.waitFor(() => {
      const index = this.buffer.indexOf('\r\n\r\n');
      return index === -1 ? undefined : index + 4;
    }, timeoutMs);
    const raw = this.buffer.subarray(0, end).toString('latin1');
    this.buffer = this.buffer.subarray(end);
    const lines = raw.slice(0, -4).split('\r\n');
    const status = Number((lines[0] ?? '').split(' ')[1]);
    const headers = lines.slice(1).map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon), line.slice(colon + 1).trim()] as const;
    });
    return { raw, status, headers };
  }

  /** A head and, when it has an exact `Content-Length` header, that many body bytes (like the original client). */
  async readResponse(timeoutMs = 5000): Promise<RawResponse> {
    const head = await this.readHead(timeoutMs);
    const length = head.headers.find(([name]) => name === 'Content-Length');
    const body = length === undefined ? '' : (await this.readBytes(Number(length[1]), timeoutMs)).toString('utf8');
    return { ...head, body, bytes: head.raw + body };
  }

  async readBytes(count: number, timeoutMs = 5000): Promise<Buffer> {
    await this.waitFor(() => (this.buffer.length >= count ? count : undefined), timeoutMs);
    const bytes = this.buffer.subarray(0, count);
    this.buffer = this.buffer.subarray(count);
    return bytes;
  }

  /** Resolves when the server closed the connection. */
  async waitEnd(timeoutMs = 5000): Promise<void> {
    await this.waitFor(() => (this.ended ? 1 : undefined), timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }

  private waitFor(ready: () => number | undefined, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const value = ready();
        if (value !== undefined) {
          clearTimeout(timer);
          resolve(value);
          return true;
        }
        if (this.ended) {
          clearTimeout(timer);
          reject(new Error(`connection ended; received so far: ${JSON.stringify(this.buffer.toString('latin1'))}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== onWake);
        reject(new Error(`timed out; received so far: ${JSON.stringify(this.buffer.toString('latin1'))}`));
      }, timeoutMs);
      const onWake = (): void => {
        if (check()) this.waiters = this.waiters.filter((waiter) => waiter !== onWake);
      };
      if (!check()) this.waiters.push(onWake);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
