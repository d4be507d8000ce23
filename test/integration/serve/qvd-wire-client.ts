import { connect, type TLSSocket } from 'node:tls';

/** A minimal QVD/1.0 client over TLS, enough to list VMs and open a tunnel like the original client does. */
export class QvdWireClient {
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #closed = false;
  readonly #onData = (d: Buffer): void => {
    this.#buf = Buffer.concat([this.#buf, d]);
    for (const w of this.#waiters.splice(0)) w();
  };
  readonly #onClose = (): void => {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w();
  };
  private constructor(readonly socket: TLSSocket) {
    socket.on('data', this.#onData);
    socket.on('close', this.#onClose);
    socket.on('error', () => undefined);
  }

  static open(host: string, port: number): Promise<QvdWireClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ host, port, rejectUnauthorized: false }, () => resolve(new QvdWireClient(s)));
      s.once('error', reject);
    });
  }

  async request(path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    this.socket.write(`GET ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    const head = await this.head();
    const len = Number(head.headers['Content-Length'] ?? 0);
    const body = await this.bytes(len);
    return { ...head, body: body.toString('utf8') };
  }

  /** The next response head (status line + headers). */
  async head(timeoutMs = 300_000): Promise<{ status: number; headers: Record<string, string> }> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const i = this.#buf.indexOf('\r\n\r\n');
      if (i >= 0) {
        const text = this.#buf.subarray(0, i).toString('latin1');
        this.#buf = this.#buf.subarray(i + 4);
        const [status, ...lines] = text.split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines) {
          const c = l.indexOf(':');
          headers[l.slice(0, c)] = l.slice(c + 1).trim();
        }
        return { status: Number(status?.split(' ')[1]), headers };
      }
      if (this.#closed || Date.now() > end) throw new Error(`no response head (closed=${this.#closed})`);
      await this.#more(end - Date.now());
    }
  }

  async bytes(n: number, timeoutMs = 30_000): Promise<Buffer> {
    const end = Date.now() + timeoutMs;
    while (this.#buf.length < n) {
      if (this.#closed || Date.now() > end) throw new Error(`wanted ${n} bytes, have ${this.#buf.length}`);
      await this.#more(end - Date.now());
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  close(): void {
    this.socket.destroy();
  }

  /** Hands the (paused) socket over after a 101: no more reading here; returns the bytes already read past the head. */
  detach(): Buffer {
    this.socket.off('data', this.#onData);
    this.socket.off('close', this.#onClose);
    this.socket.pause();
    const rest = this.#buf;
    this.#buf = Buffer.alloc(0);
    return rest;
  }

  #more(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, Math.max(1, ms));
      this.#waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

export const basic = (login: string, password: string): string => `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`;

/**
 * connect_to_vm as the original client: 102 heads with progress, then 101,
 * then the socket is a pipe to the VM's port 4100.
 */
export async function connectToVm(host: string, port: number, auth: string, id: number): Promise<{ client: QvdWireClient; progress: string[]; status: number; body?: string; ms: number }> {
  const t0 = Date.now();
  const client = await QvdWireClient.open(host, port);
  client.socket.write(`GET /qvd/connect_to_vm?id=${id}&qvd.client.os=linux HTTP/1.1\r\nAuthorization: ${auth}\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n\r\n`);
  const progress: string[] = [];
  for (;;) {
    const h = await client.head();
    if (h.status === 102) {
      progress.push(h.headers['X-QVD-VM-Info'] ?? '');
      continue;
    }
    if (h.status === 101) return { client, progress, status: 101, ms: Date.now() - t0 };
    const body = (await client.bytes(Number(h.headers['Content-Length'] ?? 0))).toString();
    client.close();
    return { client, progress, status: h.status, body, ms: Date.now() - t0 };
  }
}
