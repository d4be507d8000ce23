import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createBuiltinAuthProvider } from '../../../src/l7r/builtin-auth-provider.js';
import { PrepareError } from '../../../src/l7r/l7r-backend.js';
import type { L7rLimits } from '../../../src/l7r/l7r-limits.js';
import { createL7rMetrics, type L7rMetrics } from '../../../src/l7r/l7r-metrics.js';
import { createL7rServer, type L7rServer } from '../../../src/l7r/l7r-server.js';
import { relayTarget } from '../../../src/l7r/relay-client.js';
import { channelBinding, signRelay } from '../../../src/l7r/relay-token.js';
import { startEchoServer } from './support/echo-server.js';
import { FakeBackend } from './support/fake-backend.js';
import { basic, CONNECT_HEADERS, request, testTls, until, type LogLine } from './support/l7r-harness.js';
import { RawTlsClient } from './support/raw-tls-client.js';

const COOKIE = '0123456789abcdef0123456789abcdef';
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Node {
  readonly backend: FakeBackend;
  readonly port: number;
  readonly logs: LogLine[];
  readonly server: L7rServer;
  readonly metrics: L7rMetrics;
}

/** One node's L7R on a fake backend; its "VM" is a local echo server. */
async function node(name: string, relayKey: Buffer | undefined, limits: Partial<L7rLimits> = {}): Promise<Node> {
  const tls = await testTls();
  const echo = await startEchoServer();
  const backend = new FakeBackend({ host: echo.host, port: echo.port }, name);
  backend.addUser({ login: 'a', tenant: 'default', password: 'pw-a' });
  backend.addVm({ id: 1, owner: 'a@default', name: 'desk-a' });
  backend.addVm({ id: 2, owner: 'a@default', name: 'desk-a2' });
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) });
  const metrics = createL7rMetrics(new Registry());
  const server = createL7rServer({ backend, tls: { cert: tls.cert, key: tls.key }, auth: [createBuiltinAuthProvider(backend)], logger, limits, metrics, ...(relayKey === undefined ? {} : { relayKey }) });
  const { port } = await server.listen(0, '127.0.0.1');
  cleanups.push(async () => {
    await server.close(0);
    await echo.close();
  });
  return { backend, port, logs, server, metrics };
}

/** Node X takes the user's connection; the VM runs on node Y. */
async function cluster(keys: { x?: Buffer; y?: Buffer } = {}): Promise<{ x: Node; y: Node }> {
  const key = randomBytes(32);
  const y = await node('node-y', keys.y ?? key);
  const x = await node('node-x', keys.x ?? key);
  x.backend.relayTo = { node: 'node-y', host: '127.0.0.1', port: y.port };
  y.backend.nxCookie = COOKIE;
  return { x, y };
}

async function connectThrough(port: number, vmId = 1): Promise<RawTlsClient> {
  const client = await RawTlsClient.connect(port);
  client.send(request(`/qvd/connect_to_vm?id=${vmId}&qvd.client.os=linux&qvd.client.keyboard=pc105%2Fes`, [['Authorization', basic('a', 'pw-a')], ...CONNECT_HEADERS]));
  return client;
}

describe('L7R relay to the VM\'s node', () => {
  it('relays a connect through the L7R of the node the VM runs on: same 102s and 101 for the client, bytes both ways', async () => {
    const { x, y } = await cluster();
    const client = await connectThrough(x.port);
    const heads = [];
    for (;;) {
      const head = await client.readHead();
      heads.push(head);
      if (head.status !== 102) break;
    }
    expect(heads.slice(0, -1).map((h) => h.raw)).toEqual([
      'HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting virtual machine\r\n\r\n',
      'HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Waiting for X session to come up\r\n\r\n',
      // From node Y, starting the desktop session there.
      'HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: starting the desktop session\r\n\r\n',
    ]);
    const upgrade = heads.at(-1)!;
    expect(upgrade.raw).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: QVD\/1\.0\r\nX-QVD-Slave-Key: [A-Za-z0-9]{64}\r\nX-QVD-NX-Cookie: 0123456789abcdef0123456789abcdef\r\n\r\n$/);
    // Nothing of the relay shows: no proof or relay header reaches the client.
    expect(upgrade.raw).not.toMatch(/Relay/i);

    client.send('hello through two L7Rs');
    expect((await client.readBytes(22)).toString()).toBe('hello through two L7Rs');
    const big = randomBytes(3 << 20);
    client.send(big);
    expect((await client.readBytes(big.length, 20_000)).equals(big)).toBe(true);

    // Y was asked for exactly X's session of that VM and user, with the client's parameters.
    const session = [...x.backend.sessions.keys()][0]!;
    expect(y.backend.relayCalls).toEqual([{ vmId: 1, sessionId: session, userKey: 'a@default', login: 'a', clientParams: { 'qvd.client.os': 'linux', 'qvd.client.keyboard': 'pc105/es' } }]);
    // The session is X's: started and ended there; Y records none.
    expect(x.backend.events).toContain(`started:${session}`);
    expect(y.backend.events).toEqual([]);
    expect(y.logs.some((l) => l.msg === 'relay connected' && l['relayFrom'] === 'node-x')).toBe(true);

    // The VM's node counts the relayed tunnel as a relay, not as a session of its own.
    expect((await y.metrics.relaysActive.get()).values[0]?.value).toBe(1);
    expect((await y.metrics.sessionsActive.get()).values[0]?.value ?? 0).toBe(0);
    expect((await x.metrics.relaysActive.get()).values[0]?.value ?? 0).toBe(0);

    client.close();
    await until(() => x.backend.events.includes(`ended:${session}`));
    await until(() => y.logs.some((l) => l.msg === 'relay ended'));
    await until(() => x.server.activeSessions === 0 && y.server.activeSessions === 0);
    expect((await y.metrics.relaysActive.get()).values[0]?.value).toBe(0);
    const relayed = (await y.metrics.relayBytes.get()).values;
    const moved = 22 + big.length;
    expect(relayed.find((v) => v.labels.direction === 'in')?.value).toBe(moved);
    expect(relayed.find((v) => v.labels.direction === 'out')?.value).toBe(moved);
  });

  it('does not count relays against the relaying node\'s address once their token checks out', async () => {
    const key = randomBytes(32);
    // Y lets one connection per address in; X relays two users' sessions to it, both from 127.0.0.1.
    const y = await node('node-y', key, { maxConnectionsPerAddress: 1 });
    const x = await node('node-x', key);
    x.backend.relayTo = { node: 'node-y', host: '127.0.0.1', port: y.port };
    y.backend.nxCookie = COOKIE;
    const tunnels: RawTlsClient[] = [];
    for (const vmId of [1, 2]) {
      const client = await connectThrough(x.port, vmId);
      let head = await client.readHead();
      while (head.status === 102) head = await client.readHead();
      expect(head.status).toBe(101);
      tunnels.push(client);
    }
    for (const [i, client] of tunnels.entries()) {
      client.send(`tunnel ${i}`);
      expect((await client.readBytes(8)).toString()).toBe(`tunnel ${i}`);
    }
    // A plain client from that address still has its one slot on Y, and no more.
    const direct = await RawTlsClient.connect(y.port);
    direct.send(request('/qvd/ping'));
    expect((await direct.readResponse()).status).toBe(200);
    await expect(RawTlsClient.connect(y.port)).rejects.toThrow(/disconnected before secure TLS connection|ECONNRESET/);
    direct.close();
    for (const client of tunnels) client.close();
    await until(() => x.server.activeSessions === 0 && y.server.activeSessions === 0);
  });

  it('passes the VM node\'s refusal on as the reference 503 and gives the session back', async () => {
    const { x, y } = await cluster();
    y.backend.relayFailure = new PrepareError({ kind: 'unavailable', reason: 'the desktop session could not start: no agent' });
    const client = await connectThrough(x.port);
    let head = await client.readHead();
    while (head.status === 102) head = await client.readHead();
    expect(head.status).toBe(503);
    const body = (await client.readBytes(Number(head.headers.find(([n]) => n === 'Content-Length')![1]))).toString();
    expect(body).toBe('The requested virtual machine is not available: the desktop session could not start: no agent, retry later.');
    const session = [...x.backend.sessions.keys()][0]!;
    await until(() => x.backend.events.includes(`ended:${session}`));
    expect(x.backend.events).not.toContain(`started:${session}`);
    client.close();
  });

  it('fails with 503 when the VM node\'s L7R does not share the cluster key (and never attaches)', async () => {
    const { x, y } = await cluster({ x: randomBytes(32), y: randomBytes(32) });
    const client = await connectThrough(x.port);
    let head = await client.readHead();
    while (head.status === 102) head = await client.readHead();
    expect(head.status).toBe(503);
    expect(y.backend.relayCalls).toEqual([]);
    expect(y.logs.some((l) => l.msg === 'relay refused' && l['reason'] === 'bad relay token')).toBe(true);
    client.close();
  });

  it('refuses users on the internal endpoint: no token, Basic credentials, a forged token, one replayed on another connection', async () => {
    const key = randomBytes(32);
    const y = await node('node-y', key);
    const target = relayTarget({ vmId: 1, sessionId: 's-1', userKey: 'a@default', login: 'a', clientParams: {} });
    const attempt = async (headers: [string, string][], sign?: (client: RawTlsClient) => [string, string]): Promise<number> => {
      const client = await RawTlsClient.connect(y.port);
      client.send(request(target, [...headers, ...(sign === undefined ? [] : [sign(client)]), ...CONNECT_HEADERS]));
      const response = await client.readResponse();
      client.close();
      return response.status;
    };
    expect(await attempt([])).toBe(403);
    expect(await attempt([['Authorization', basic('a', 'pw-a')]])).toBe(403);
    expect(await attempt([], (c) => ['X-QVD-Relay', signRelay(randomBytes(32), { from: 'node-x', to: 'node-y', target }, channelBinding(c.socket)).header])).toBe(403);
    expect(await attempt([], (c) => ['X-QVD-Relay', signRelay(key, { from: 'node-x', to: 'node-y', target }, channelBinding(c.socket), Date.now() - 10 * 60_000).header])).toBe(403);
    // A token a key holder made for one connection, captured and presented on another.
    const first = await RawTlsClient.connect(y.port);
    const captured = signRelay(key, { from: 'node-x', to: 'node-y', target }, channelBinding(first.socket)).header;
    first.close();
    expect(await attempt([['X-QVD-Relay', captured]])).toBe(403);
    expect(y.backend.relayCalls).toEqual([]);
    expect(y.logs.filter((l) => l.msg === 'relay refused').map((l) => l['reason'])).toEqual([
      'no single relay token',
      'no single relay token',
      'bad relay token',
      'expired relay token',
      'bad relay token',
    ]);
  });

  it('is not there without a relay key: the path answers like any unknown one', async () => {
    const y = await node('node-y', undefined);
    const client = await RawTlsClient.connect(y.port);
    client.send(request(relayTarget({ vmId: 1, sessionId: 's', userKey: 'a@default', login: 'a', clientParams: {} }), [...CONNECT_HEADERS]));
    const response = await client.readResponse();
    expect(response.status).toBe(404);
    client.close();
  });
});
