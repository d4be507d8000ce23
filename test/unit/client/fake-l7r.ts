import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';

export interface TestCert {
  readonly dir: string;
  readonly cert: string;
  readonly key: string;
}

/** A self-signed certificate for localhost / 127.0.0.1, made with openssl. */
export function makeCert(cn = 'localhost'): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'qvd-client-test-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', `/CN=${cn}`, '-addext', `subjectAltName=DNS:${cn},IP:127.0.0.1`], { stdio: 'ignore' });
  return { dir, cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
}

export interface FakeRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** Index of the TLS connection this request came on (0, 1, ...). */
  readonly connection: number;
}

/** Answers one request by writing raw bytes; return 'upgraded' when it took the socket over. */
export type FakeHandler = (req: FakeRequest, socket: TLSSocket) => void | 'upgraded';

/**
 * A TLS server that speaks just enough HTTP/1.1 to play the L7R: it reads
 * requests one after another on each connection and lets the test write the
 * exact answer bytes (interim 102s, a 101 followed by stream bytes...).
 */
export class FakeL7r {
  readonly requests: FakeRequest[] = [];
  connections = 0;
  private server: Server;

  constructor(
    cert: TestCert,
    private readonly handler: FakeHandler,
  ) {
    this.server = createServer({ cert: cert.cert, key: cert.key }, (socket) => this.serve(socket, this.connections++));
  }

  async listen(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }

  private serve(socket: TLSSocket, connection: number): void {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const [line = '', ...rest] = buffer.subarray(0, end).toString('latin1').split('\r\n');
        buffer = buffer.subarray(end + 4);
        const [method = '', path = ''] = line.split(' ');
        const headers = Object.fromEntries(rest.map((h) => [h.slice(0, h.indexOf(':')).toLowerCase(), h.slice(h.indexOf(':') + 1).trim()]));
        const req = { method, path, headers, connection };
        this.requests.push(req);
        if (this.handler(req, socket) === 'upgraded') {
          socket.off('data', onData);
          return;
        }
      }
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  }
}

export function json(socket: TLSSocket, status: number, body: unknown, reason = 'OK'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}
