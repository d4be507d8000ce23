import { createHash } from 'node:crypto';
import { X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConnectError } from '../../../src/client/connect-error.js';
import type { ConnectOptions, ConnectProgress } from '../../../src/client/connect-options.js';
import { connect } from '../../../src/client/connect.js';
import { nxproxyComplaints } from '../../../src/client/nx-tunnel.js';
import { FakeL7r, json, makeCert, type FakeHandler, type TestCert } from './fake-l7r.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const COOKIE = '0123456789abcdef0123456789abcdef';
const VMS = [
  { id: 7, name: 'desk', state: 'stopped', blocked: false, is_application: false },
  { id: 9, name: 'other', state: 'running', blocked: 0, is_application: false },
];

let cert: TestCert;
let fingerprint: string;
let proxyDir: string;
let l7r: FakeL7r | undefined;

beforeAll(() => {
  cert = makeCert();
  fingerprint = createHash('sha256').update(new X509Certificate(cert.cert).raw).digest('hex');
  proxyDir = mkdtempSync(join(tmpdir(), 'qvd-fake-nxproxy-'));
  copyFileSync(join(HERE, 'fake-nxproxy.mjs'), join(proxyDir, 'nxproxy'));
  chmodSync(join(proxyDir, 'nxproxy'), 0o755);
});
afterAll(() => {
  rmSync(cert.dir, { recursive: true, force: true });
  rmSync(proxyDir, { recursive: true, force: true });
});
afterEach(async () => {
  await l7r?.close();
  l7r = undefined;
  rmSync(join(proxyDir, 'result.json'), { force: true });
});

async function serve(handler: FakeHandler): Promise<number> {
  l7r = new FakeL7r(cert, handler);
  return l7r.listen();
}

const base = (port: number, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
  host: '127.0.0.1',
  port,
  user: 'alice',
  password: 's3cret',
  fingerprint,
  retryDelayMs: 1,
  display: ':99',
  nxproxyPath: join(proxyDir, 'nxproxy'),
  ...extra,
});

/** The L7R of the happy path: list, then 102s, then 101 with the cookie and the agent's first bytes in the same packet. */
const happyL7r =
  (agentSide: (socket: TLSSocket) => void = () => {}): FakeHandler =>
  (req, socket) => {
    if (req.path.startsWith('/qvd/list_of_vm')) {
      json(socket, 200, VMS);
      return;
    }
    if (req.path.startsWith('/qvd/connect_to_vm')) {
      socket.write('HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting VM\r\n\r\n');
      socket.write('HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting X session\r\n\r\n');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\nX-QVD-Slave-Key: ${'k'.repeat(64)}\r\nX-QVD-NX-Cookie: ${COOKIE}\r\n\r\nhello-from-agent\n`);
      agentSide(socket);
      return 'upgraded';
    }
    json(socket, 404, 'nope', 'Not Found');
  };

describe('connect', () => {
  it('lists the VMs with Basic auth on one TLS connection', async () => {
    const port = await serve(happyL7r());
    const r = await connect(base(port, { list: true }));
    expect(r).toEqual({ kind: 'list', vms: [{ id: 7, name: 'desk', state: 'stopped', blocked: false }, { id: 9, name: 'other', state: 'running', blocked: false }] });
    const req = l7r?.requests[0];
    expect(req?.path).toBe('/qvd/list_of_vm');
    expect(req?.headers['authorization']).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
  });

  it('connects: same connection, Upgrade headers, 102 progress, 101, nxproxy piped to the stream', async () => {
    writeFileSync(join(proxyDir, 'mode'), 'exit');
    let fromProxy = '';
    const port = await serve(
      happyL7r((socket) => {
        socket.on('data', (c: Buffer) => (fromProxy += c.toString()));
      }),
    );
    const progress: ConnectProgress[] = [];
    const r = await connect(base(port, { vm: 'desk', geometry: '1024x768', keyboard: 'pc105/es', fullscreen: false, onProgress: (p) => progress.push(p) }));
    expect(r.kind).toBe('session');
    if (r.kind !== 'session') return;
    expect(r.vm).toEqual({ id: 7, name: 'desk', state: 'stopped', blocked: false });
    const end = await r.session.closed;
    expect(end).toMatchObject({ reason: 'nxproxy-exited', nxproxyExitCode: 0 });
    expect(end.bytesFromServer).toBe('hello-from-agent\n'.length);

    const [list, conn] = l7r?.requests ?? [];
    expect(conn?.connection).toBe(list?.connection);
    expect(conn?.headers).toMatchObject({ connection: 'Upgrade', upgrade: 'QVD/1.0' });
    const q = new URL(`https://x${conn?.path ?? ''}`).searchParams;
    expect(Object.fromEntries(q)).toMatchObject({ id: '7', 'qvd.client.geometry': '1024x768', 'qvd.client.keyboard': 'pc105/es', 'qvd.client.fullscreen': '0', 'qvd.client.link': 'lan' });
    expect(conn?.path).toContain('qvd.client.keyboard=pc105%2Fes');

    const seen = JSON.parse(readFileSync(join(proxyDir, 'result.json'), 'utf8')) as { argv: string[]; options: string; env: Record<string, string>; got: string };
    expect(seen.argv[0]).toBe('-S');
    expect(seen.argv[1]).toMatch(/^nx\/nx,options=\/.+:\d+$/);
    // The cookie reaches nxproxy through its options file, never its argv.
    expect(seen.argv.join(' ')).not.toContain(COOKIE);
    expect(seen.options).toMatch(new RegExp(`^nx/nx,connect=127.0.0.1,port=(\\d+),cookie=${COOKIE}:(\\d+)$`));
    expect(seen.env.DISPLAY).toBe(':99');
    expect(seen.got).toBe('hello-from-agent\n');
    await vi.waitFor(() => expect(fromProxy).toBe(`hello-from-proxy cookie=${COOKIE}\n`));
    expect(existsSync(seen.env.NX_ROOT ?? '/nonexistent')).toBe(false);
    expect(progress.filter((p) => p.stage === 'vm-info').map((p) => p.message)).toEqual(['Starting VM', 'Starting X session']);
  });

  it('ends the session when the server closes the tunnel', async () => {
    writeFileSync(join(proxyDir, 'mode'), 'wait');
    const port = await serve(happyL7r((socket) => setTimeout(() => socket.end(), 300)));
    const r = await connect(base(port, { vm: 'desk' }));
    expect(r.kind).toBe('session');
    if (r.kind !== 'session') return;
    const end = await r.session.closed;
    expect(end).toMatchObject({ reason: 'server-closed', nxproxyExitCode: 3 });
    // What nxproxy said on its way out is kept for the user.
    expect(nxproxyComplaints(end.nxproxyLog, 1)).toEqual(['Error: Connection with remote peer broken.']);
  });

  it('says the server ended it when the server hangs up before nxproxy is even connected', async () => {
    writeFileSync(join(proxyDir, 'mode'), 'wait');
    const port = await serve(happyL7r((socket) => socket.end()));
    const r = await connect(base(port, { vm: 'desk' }));
    expect(r.kind).toBe('session');
    if (r.kind !== 'session') return;
    expect(await r.session.closed).toMatchObject({ reason: 'server-closed' });
  });

  it('close() ends nxproxy and the tunnel', async () => {
    writeFileSync(join(proxyDir, 'mode'), 'wait');
    const port = await serve(happyL7r());
    const r = await connect(base(port, { vm: 7 }));
    if (r.kind !== 'session') throw new Error('no session');
    await vi.waitFor(() => expect(existsSync(join(proxyDir, 'result.json'))).toBe(true));
    expect(await r.session.close()).toMatchObject({ reason: 'closed' });
  });

  it('does not retry a refused login and says so', async () => {
    const port = await serve((_req, socket) => {
      socket.write('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="QVD"\r\nContent-Length: 0\r\n\r\n');
    });
    const e = await connect(base(port, { list: true })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConnectError);
    expect(e).toMatchObject({ kind: 'auth', status: 401, message: 'login failed: wrong user name or password (HTTP 401)' });
    expect(l7r?.connections).toBe(1);
  });

  it('retries 503 up to 5 attempts and reports the server text', async () => {
    const port = await serve((req, socket) => {
      if (req.path.startsWith('/qvd/list_of_vm')) json(socket, 200, VMS.slice(0, 1));
      else json(socket, 503, 'The requested virtual machine is not available: node n1 is lost, retry later.', 'Service Unavailable');
    });
    const progress: ConnectProgress[] = [];
    const e = await connect(base(port, { onProgress: (p) => progress.push(p) })).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: 'unavailable', status: 503, message: 'The requested virtual machine is not available: node n1 is lost, retry later.' });
    expect(l7r?.connections).toBe(5);
    expect(progress.filter((p) => p.stage === 'retrying')).toHaveLength(4);
  });

  it('retries a connection dropped before 101, then succeeds', async () => {
    writeFileSync(join(proxyDir, 'mode'), 'exit');
    const happy = happyL7r();
    const port = await serve((req, socket) => {
      if (req.connection === 0 && req.path.startsWith('/qvd/connect_to_vm')) {
        socket.write('HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting VM\r\n\r\n');
        socket.destroy();
        return 'upgraded';
      }
      return happy(req, socket);
    });
    const r = await connect(base(port, { vm: 'desk' }));
    expect(r.kind).toBe('session');
    if (r.kind === 'session') await r.session.closed;
    expect(l7r?.connections).toBe(2);
  });

  it('gives a clear message per failure status', async () => {
    let answer: [number, string, string] = [403, 'Forbidden', ''];
    const port = await serve((req, socket) => {
      if (req.path.startsWith('/qvd/list_of_vm')) json(socket, 200, VMS);
      else json(socket, answer[0], answer[2], answer[1]);
    });
    const fail = (): Promise<unknown> => connect(base(port, { vm: 'desk', attempts: 1 })).catch((x: unknown) => x);
    expect(await fail()).toMatchObject({ kind: 'forbidden', message: 'connecting to the VM: access denied (HTTP 403)' });
    answer = [404, 'Not Found', ''];
    expect(await fail()).toMatchObject({ kind: 'not-found', message: 'connecting to the VM: no such VM for this user (HTTP 404)' });
    answer = [426, 'Upgrade Required', ''];
    expect(await fail()).toMatchObject({ kind: 'protocol' });
    expect(await connect(base(port, { attempts: 1 })).catch((x: unknown) => x)).toMatchObject({ kind: 'no-vm', message: 'this user has 2 VMs: desk (7), other (9); choose one' });
    expect(await connect(base(port, { vm: 'nope', attempts: 1 })).catch((x: unknown) => x)).toMatchObject({ kind: 'not-found' });
  });

  it('refuses a server whose certificate does not match the pin, before sending credentials', async () => {
    const port = await serve(happyL7r());
    const wrong = 'ab'.repeat(32);
    const e = await connect(base(port, { fingerprint: wrong, list: true })).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: 'tls', retryable: false });
    expect((e as Error).message).toMatch(/does not match the pinned fingerprint: expected AB:AB:.*, got /);
    expect(l7r?.requests).toEqual([]);
  });

  it('accepts the pin in the usual spellings', async () => {
    const port = await serve(happyL7r());
    const colons = (fingerprint.toUpperCase().match(/../g) ?? []).join(':');
    const openssh = `SHA256:${Buffer.from(fingerprint, 'hex').toString('base64').replace(/=+$/, '')}`;
    for (const fp of [colons, `sha256:${fingerprint}`, openssh]) expect((await connect(base(port, { fingerprint: fp, list: true }))).kind).toBe('list');
  });

  it('verifies by CA and host name when no pin is given', async () => {
    const port = await serve(happyL7r());
    const { fingerprint: _drop, ...noPin } = base(port, { list: true });
    expect((await connect({ ...noPin, host: 'localhost', ca: cert.cert })).kind).toBe('list');
    const other = makeCert('elsewhere');
    try {
      const e = await connect({ ...noPin, host: 'localhost', ca: other.cert }).catch((x: unknown) => x);
      expect(e).toMatchObject({ kind: 'tls', retryable: false });
      expect((e as Error).message).toMatch(/not trusted/);
    } finally {
      rmSync(other.dir, { recursive: true, force: true });
    }
  });

  it('fails clearly when nxproxy cannot start', async () => {
    const port = await serve(happyL7r());
    const e = await connect(base(port, { vm: 'desk', nxproxyPath: '/nonexistent/nxproxy', attempts: 1 })).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: 'nxproxy' });
    expect((e as Error).message).toMatch(/nxproxy exited \(code 127\) before connecting/);
  });

  it("picks what went wrong out of nxproxy's log: an X server refusing the session, which nxproxy ends with exit 0", () => {
    // Lines of a real nxproxy log (Debian's nxproxy 3.5.99.26, client side, the user's X server refusing nxagent).
    const log = [
      'NXPROXY - Version 3.5.99.26',
      'Info: Proxy running in server mode with pid \'7112\'.',
      'Info: Connection with remote proxy completed.',
      'Session: Session started at \'Thu Nov 26 06:33:52 2026\'.',
      "Warning: X connection failed with error 'Invalid MIT-MAGIC-COOKIE-1 key'.",
      'Session: Terminating session at \'Thu Nov 26 06:33:58 2026\'.',
      'Info: Your session was closed before reaching a usable state.',
      'Info: This can be due to the local X server refusing access to the client.',
    ].join('\n');
    expect(nxproxyComplaints(log, 8)).toEqual([
      "Warning: X connection failed with error 'Invalid MIT-MAGIC-COOKIE-1 key'.",
      'Info: Your session was closed before reaching a usable state.',
      'Info: This can be due to the local X server refusing access to the client.',
    ]);
    expect(nxproxyComplaints('Info: Connection with remote proxy completed.\nSession: Session terminated', 8)).toEqual([]);
  });
});
