import type { Duplex } from 'node:stream';
import { ConnectError } from './connect-error.js';

export interface HttpResponse {
  readonly status: number;
  readonly reason: string;
  /** Header names lowercased; repeated headers joined with ", ". */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: string;
}

const MAX_HEAD = 64 * 1024;
const MAX_BODY = 4 * 1024 * 1024;

/**
 * The few parts of HTTP/1.1 the QVD protocol needs, over one connection that
 * becomes a raw byte pipe after `101`: requests without bodies, responses
 * with Content-Length (or chunked, or until close), any number of interim
 * `1xx` heads. Bytes that arrive after a 101 head stay buffered for the pipe.
 */
export class HttpConnection {
  private buffer: Buffer = Buffer.alloc(0);
  private ended = false;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    this.notify();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };
  private readonly onError = (e: Error): void => {
    this.error = e;
    this.notify();
  };

  constructor(private readonly socket: Duplex) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  send(path: string, headers: Readonly<Record<string, string>>): void {
    const lines = [`GET ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''];
    this.socket.write(lines.join('\r\n'));
  }

  /** The next response head, with its body unless it is 1xx. */
  async read(): Promise<HttpResponse> {
    const headEnd = await this.waitFor(() => {
      const i = this.buffer.indexOf('\r\n\r\n');
      if (i < 0 && this.buffer.length > MAX_HEAD) throw new ConnectError('protocol', 'response head too large', false);
      return i < 0 ? undefined : i;
    });
    const head = this.buffer.subarray(0, headEnd).toString('latin1');
    this.buffer = this.buffer.subarray(headEnd + 4);
    const [statusLine = '', ...headerLines] = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
    if (m === null) throw new ConnectError('protocol', `not an HTTP/1.1 answer: ${JSON.stringify(statusLine.slice(0, 80))}`, false);
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    for (const line of headerLines) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name) ?? ''}, ${value}` : value);
    }
    const base = { status, reason: m[2] ?? '', headers };
    if (status < 200) return { ...base, body: '' };
    return { ...base, body: await this.readBody(headers) };
  }

  /** Stops parsing; returns the bytes already received past the last head (start of the raw stream). */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }

  private async readBody(headers: ReadonlyMap<string, string>): Promise<string> {
    const length = headers.get('content-length');
    if (length !== undefined) {
      const n = Number(length);
      if (!Number.isSafeInteger(n) || n < 0 || n > MAX_BODY) throw new ConnectError('protocol', `bad Content-Length ${length}`, false);
      await this.waitFor(() => (this.buffer.length >= n ? true : undefined));
      const body = this.buffer.subarray(0, n).toString('utf8');
      this.buffer = this.buffer.subarray(n);
      return body;
    }
    if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) return this.readChunked();
    // Neither: the body runs until the server closes.
    await this.waitFor(() => (this.ended ? true : undefined), true);
    const body = this.buffer.toString('utf8');
    this.buffer = Buffer.alloc(0);
    return body;
  }

  private async readChunked(): Promise<string> {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = await this.waitFor(() => {
        const i = this.buffer.indexOf('\r\n');
        return i < 0 ? undefined : i;
      });
      const size = parseInt(this.buffer.subarray(0, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size)) throw new ConnectError('protocol', 'bad chunk size', false);
      await this.waitFor(() => (this.buffer.length >= lineEnd + 2 + size + 2 ? true : undefined));
      parts.push(this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
      this.buffer = this.buffer.subarray(lineEnd + 2 + size + 2);
      if (size === 0) return Buffer.concat(parts).toString('utf8');
    }
  }

  private async waitFor<T>(check: () => T | undefined, endIsOk = false): Promise<T> {
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (this.error !== undefined) throw new ConnectError('network', `connection failed: ${this.error.message}`, true, { cause: this.error });
      if (this.ended && !endIsOk) throw new ConnectError('network', 'the server closed the connection', true);
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
