import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ConnectProgress } from '../../../src/client/connect-options.js';
import { connect } from '../../../src/client/connect.js';
import type { VmaClient } from '../../../src/vma/vma-client.js';
import { FakeL7r, json, makeCert, type TestCert } from '../../unit/client/fake-l7r.js';
import { countColour, DESKTOP_COLOUR, DesktopVm, freeDisplay, netnsSpawn, type NetnsProcess } from '../vma/desktop-vm.js';

const run = promisify(execFile);

/**
 * `connect()` end to end against the desktop guest, with a stand-in for the
 * L7R that does what the real one must: Basic auth, the VM list, then on
 * connect_to_vm a fresh NX cookie for VMA x_start (with the client's
 * qvd.client.* parameters), 102s until x_state is listening, 101 with
 * X-QVD-NX-Cookie, and a byte pipe to the guest's port 4100 (through a
 * relay inside the node's namespace). nxproxy and Xvfb run on the host, as on
 * a user's machine.
 */
const EVIDENCE = '/var/tmp/qvd-desktop-evidence';
const image = inject('desktopImage');
const env = inject('testenv');

describe('qvd connect against the desktop guest', () => {
  let vm: DesktopVm;
  let vma: VmaClient;
  let cert: TestCert;
  let l7r: FakeL7r;
  let port = 0;
  let work = '';
  let nxRelay: NetnsProcess | undefined;
  let xvfb: ChildProcess | undefined;
  let display = 0;
  const cookies: string[] = [];
  const savedXauthority = process.env['XAUTHORITY'];

  beforeAll(async () => {
    if ('error' in image) throw new Error(image.error);
    const node = env.nodes[0];
    if (node === undefined) throw new Error('no test node');
    mkdirSync(EVIDENCE, { recursive: true });
    work = await mkdtemp(join(tmpdir(), 'qvd-connect-it-'));
    vm = new DesktopVm(node, image);
    await vm.define();
    const t0 = await vm.start();

    // The user's X display, with its own authority (see NxViewer).
    display = await freeDisplay(700);
    process.env['XAUTHORITY'] = join(work, 'xauthority');
    await run('xauth', ['-f', join(work, 'xauthority'), 'add', `:${display}`, 'MIT-MAGIC-COOKIE-1', randomBytes(16).toString('hex')]);
    xvfb = spawn('Xvfb', [`:${display}`, '-auth', join(work, 'xauthority'), '-screen', '0', '1024x768x24', '-noreset', '-nolisten', 'tcp'], { stdio: 'ignore' });

    await vm.waitForVma(t0, 240_000);
    vma = await vm.vma();
    const nxSock = join(work, 'nx.sock');
    nxRelay = netnsSpawn(node, 'nx-relay', ['socat', `UNIX-LISTEN:${nxSock},fork,mode=600`, `TCP:${vm.ip}:4100,nodelay`]);
    for (let i = 0; i < 50 && !existsSync(nxSock); i++) await new Promise((r) => setTimeout(r, 50));

    cert = makeCert();
    l7r = new FakeL7r(cert, (req, socket) => {
      if (req.headers['authorization'] !== `Basic ${Buffer.from('alice:pw').toString('base64')}`) {
        socket.write('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="QVD"\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      if (req.path.startsWith('/qvd/list_of_vm')) {
        json(socket, 200, [{ id: 1, name: 'desk', state: 'running', blocked: false, is_application: false }]);
        return;
      }
      void upgrade(req.path, socket, nxSock);
      return 'upgraded';
    });
    port = await l7r.listen();
  });

  /** What the real L7R does on connect_to_vm once the VM runs. */
  async function upgrade(path: string, socket: TLSSocket, nxSock: string): Promise<void> {
    const query = Object.fromEntries(new URL(`https://l7r${path}`).searchParams);
    const cookie = randomBytes(16).toString('hex');
    cookies.push(cookie);
    socket.write('HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting X session\r\n\r\n');
    try {
      await vma.call('x_start', { ...query, user: 'alice', cookie });
      await vma.waitForXState(['listening'], 60_000);
    } catch (e) {
      json(socket, 503, `The requested virtual machine is not available: ${(e as Error).message}, retry later.`, 'Service Unavailable');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\nX-QVD-Slave-Key: ${randomBytes(32).toString('hex')}\r\nX-QVD-NX-Cookie: ${cookie}\r\n\r\n`);
    const agent = netConnect(nxSock);
    agent.setNoDelay(true);
    socket.pipe(agent);
    agent.pipe(socket);
    agent.on('error', () => socket.destroy());
    socket.on('error', () => agent.destroy());
  }

  afterAll(async () => {
    if (savedXauthority === undefined) delete process.env['XAUTHORITY'];
    else process.env['XAUTHORITY'] = savedXauthority;
    await l7r?.close();
    await nxRelay?.stop();
    xvfb?.kill('SIGKILL');
    await vm?.destroy();
    if (cert !== undefined) rmSync(cert.dir, { recursive: true, force: true });
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  const fingerprint = (): string => createHash('sha256').update(new X509Certificate(cert.cert).raw).digest('hex');

  const screenshotUntilColour = async (out: string, timeoutMs: number): Promise<{ count: number; total: number }> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await run('import', ['-window', 'root', out], { env: { ...process.env, DISPLAY: `:${display}` } });
      const c = await countColour(out, DESKTOP_COLOUR);
      if (c.count > c.total * 0.2 || Date.now() > deadline) return c;
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  it('shows the desktop through the L7R tunnel, and resumes it on a second connect', async () => {
    const progress: ConnectProgress[] = [];
    const t0 = Date.now();
    const r = await connect({ host: '127.0.0.1', port, user: 'alice', password: 'pw', fingerprint: fingerprint(), display: `:${display}`, geometry: '800x600', keyboard: 'pc105/us', onProgress: (p) => progress.push(p) });
    expect(r.kind).toBe('session');
    if (r.kind !== 'session') return;
    expect(r.vm.name).toBe('desk');
    expect(progress.map((p) => p.message)).toContain('Starting X session');
    await vma.waitForXState(['connected'], 60_000);
    const shot = join(EVIDENCE, `connect-${vm.suffix}-1.png`);
    const c = await screenshotUntilColour(shot, 60_000);
    console.log(`qvd connect: desktop on screen after ${Date.now() - t0} ms; ${shot}: ${DESKTOP_COLOUR} on ${c.count} of ${c.total} pixels`);
    expect(c.count).toBeGreaterThan(c.total * 0.2);

    // Closing the client suspends the session in the guest.
    const end = await r.session.close();
    expect(end.reason).toBe('closed');
    expect(end.bytesFromServer).toBeGreaterThan(1000);
    await vma.waitForXState(['suspended'], 60_000);

    const again = await connect({ host: '127.0.0.1', port, user: 'alice', password: 'pw', fingerprint: fingerprint(), display: `:${display}` });
    if (again.kind !== 'session') throw new Error('no session');
    expect((await vma.waitForXState(['connected'], 60_000)).agentRestarts).toBe(0);
    const c2 = await screenshotUntilColour(join(EVIDENCE, `connect-${vm.suffix}-2-resumed.png`), 60_000);
    expect(c2.count).toBeGreaterThan(c2.total * 0.2);
    expect(cookies).toHaveLength(2);
    expect(cookies[0]).not.toBe(cookies[1]);
    await again.session.close();
  });

  it('says clearly when the password is wrong', async () => {
    await expect(connect({ host: '127.0.0.1', port, user: 'alice', password: 'nope', fingerprint: fingerprint(), list: true })).rejects.toMatchObject({ kind: 'auth' });
  });
});
