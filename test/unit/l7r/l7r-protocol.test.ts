import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PrepareError } from '../../../src/l7r/l7r-backend.js';
import { RawTlsClient } from './support/raw-tls-client.js';
import { basic, CONNECT_HEADERS, request, startHarness, until, type Harness } from './support/l7r-harness.js';

const A = basic('a', 'pw-a@default');

describe('L7R protocol over a real TLS connection', () => {
  let h: Harness;
  let client: RawTlsClient;
  beforeEach(async () => {
    h = await startHarness();
    client = await RawTlsClient.connect(h.port);
  });
  afterEach(async () => {
    client.close();
    await h.close();
  });

  it('answers ping without credentials, byte for byte', async () => {
    client.send(request('/qvd/ping'));
    const response = await client.readResponse();
    expect(response.bytes).toBe('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nI am alive!\r\n');
  });

  it('answers ping with 503 when the backend is not serving', async () => {
    h.backend.serving = false;
    client.send(request('/qvd/ping'));
    const response = await client.readResponse();
    expect(response.bytes).toBe('HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\r\nServer is not serving');
  });

  it('lists the VMs of the user for /qvd/list_of_vm? (trailing ?) as JSON with an exact Content-Length', async () => {
    client.send(request('/qvd/list_of_vm?', [['Authorization', A], ['Accept', 'application/json']]));
    const response = await client.readResponse();
    const body =
      '[{"id":1,"state":"stopped","name":"desk-a","blocked":false,"is_application":false},' +
      '{"id":3,"state":"running","name":"app-a","blocked":false,"is_application":true},' +
      '{"id":4,"state":"stopped","name":"blocked-a","blocked":true,"is_application":false}]';
    expect(response.bytes).toBe(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });

  it('lists only application VMs for /qvd/list_of_applications', async () => {
    client.send(request('/qvd/list_of_applications', [['Authorization', A]]));
    const response = await client.readResponse();
    expect(JSON.parse(response.body)).toEqual([{ id: 3, state: 'running', name: 'app-a', blocked: false, is_application: true }]);
  });

  it('answers 401 with WWW-Authenticate: Basic realm="QVD" without or with wrong credentials', async () => {
    const expected = 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="QVD"\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\nAuthentication required';
    client.send(request('/qvd/list_of_vm'));
    expect((await client.readResponse()).bytes).toBe(expected);
    client.send(request('/qvd/list_of_vm', [['Authorization', basic('a', 'wrong')]]));
    expect((await client.readResponse()).bytes).toBe(expected);
    client.send(request('/qvd/list_of_vm', [['Authorization', basic('nobody', 'x')]]));
    expect((await client.readResponse()).bytes).toBe(expected);
    client.send(request('/qvd/list_of_vm', [['Authorization', 'Basic %%%']]));
    expect((await client.readResponse()).bytes).toBe(expected);
    // Still open after every refusal.
    client.send(request('/qvd/ping'));
    expect((await client.readResponse()).status).toBe(200);
  });

  it('accepts user@tenant and user#tenant logins, default tenant otherwise', async () => {
    for (const [login, ids] of [['a@t1', [11]], ['a#t2', [12]], ['a@default', [1, 3, 4]]] as const) {
      const password = `pw-${login.replace('#', '@')}`;
      client.send(request('/qvd/list_of_vm', [['Authorization', basic(login, password)]]));
      const response = await client.readResponse();
      expect(response.status).toBe(200);
      expect((JSON.parse(response.body) as Array<{ id: number }>).map((vm) => vm.id)).toEqual(ids);
    }
  });

  it('answers 426 with Upgrade headers when connect_to_vm lacks Connection: Upgrade / Upgrade: QVD/1.0', async () => {
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A]]));
    expect((await client.readResponse()).bytes).toBe(
      'HTTP/1.1 426 Upgrade Required\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\nContent-Type: text/plain\r\nContent-Length: 27\r\n\r\nUpgrade to QVD/1.0 required',
    );
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ['Connection', 'Upgrade'], ['Upgrade', 'websocket']]));
    expect((await client.readResponse()).status).toBe(426);
  });

  it('answers 422 without id and 403 for a parameter other than id, qvd.client.* and custom.*', async () => {
    client.send(request('/qvd/connect_to_vm?qvd.client.os=linux', [['Authorization', A], ...CONNECT_HEADERS]));
    expect((await client.readResponse()).bytes).toBe(
      'HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\nparameter id is missing',
    );
    client.send(request('/qvd/connect_to_vm?id=1&custom.x=1&evil=1&qvd.client.os=l', [['Authorization', A], ...CONNECT_HEADERS]));
    expect((await client.readResponse()).bytes).toBe('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n\r\nInvalid parameters evil');
    expect(h.backend.prepareCalls).toEqual([]);
  });

  it('answers 404 for an unknown VM or path and 403 for a blocked VM', async () => {
    client.send(request('/qvd/connect_to_vm?id=999', [['Authorization', A], ...CONNECT_HEADERS]));
    expect((await client.readResponse()).bytes).toBe(
      'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 44\r\n\r\nThe requested virtual machine does not exist',
    );
    client.send(request('/qvd/connect_to_vm?id=4', [['Authorization', A], ...CONNECT_HEADERS]));
    expect((await client.readResponse()).bytes).toBe(
      'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 56\r\n\r\nThe requested virtual machine is offline for maintenance',
    );
    client.send(request('/qvd/nothing_here'));
    expect((await client.readResponse()).bytes).toBe('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found');
    client.send('POST /qvd/ping HTTP/1.1\r\n\r\n');
    const post = await client.readResponse();
    expect(post.status).toBe(405);
    expect(post.headers).toContainEqual(['Allow', 'GET']);
  });

  it('sends 102 Processing heads with X-QVD-VM-Info, then 101 with the slave key, then pipes bytes both ways', async () => {
    client.send(request('/qvd/connect_to_vm?id=1&qvd.client.os=linux', [['Authorization', A], ...CONNECT_HEADERS]));
    expect((await client.readHead()).raw).toBe('HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Starting virtual machine\r\n\r\n');
    expect((await client.readHead()).raw).toBe('HTTP/1.1 102 Processing\r\nX-QVD-VM-Info: Waiting for X session to come up\r\n\r\n');
    const upgrade = await client.readHead();
    expect(upgrade.raw).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: QVD\/1\.0\r\nX-QVD-Slave-Key: [A-Za-z0-9]{64}\r\n\r\n$/);
    client.send('hello through the tunnel');
    expect((await client.readBytes(24)).toString()).toBe('hello through the tunnel');
    const payload = Buffer.alloc(3 * 1024 * 1024, 7);
    client.send(payload);
    expect((await client.readBytes(payload.length, 10_000)).equals(payload)).toBe(true);
    expect(h.backend.prepareCalls).toEqual([{ user: 'a@default', id: 1, params: { 'qvd.client.os': 'linux' } }]);
    expect(h.l7r.activeSessions).toBe(1);
    client.close();
    await until(() => h.l7r.activeSessions === 0);
    await until(() => h.backend.events.some((event) => event.startsWith('ended:')));
    const metrics = await h.registry.metrics();
    expect(metrics).toContain('qvd_l7r_connects_total{outcome="ok"} 1');
    expect(metrics).toMatch(/qvd_l7r_tunnel_bytes_total\{direction="in"\} 31457(?:52|28)\d*/);
    expect(metrics).toContain('qvd_l7r_sessions_active 0');
    expect(metrics).toContain('qvd_l7r_time_to_101_seconds_count 1');
  });

  it('adds X-QVD-NX-Cookie to the 101 when the backend has one; refuses a malformed one', async () => {
    h.backend.nxCookie = '0123456789abcdef0123456789abcdef';
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]));
    await client.readHead();
    await client.readHead();
    const upgrade = await client.readHead();
    expect(upgrade.raw).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: QVD\/1\.0\r\nX-QVD-Slave-Key: [A-Za-z0-9]{64}\r\nX-QVD-NX-Cookie: 0123456789abcdef0123456789abcdef\r\n\r\n$/);
    client.close();
    await until(() => h.l7r.activeSessions === 0);

    h.backend.nxCookie = 'not-a-cookie';
    const other = await RawTlsClient.connect(h.port);
    other.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]));
    await other.readHead();
    await other.readHead();
    const refused = await other.readResponse();
    expect(refused.status).toBe(503);
    other.close();
  });

  it('adds the session NX cookie to a cookie-less NX hello (the original clients), split or early, and leaves others alone', async () => {
    const cookie = '0123456789abcdef0123456789abcdef';
    h.backend.nxCookie = cookie;
    const hello = 'NXPROXY-3.5.0-3.5.99 stream=default,data=default ';
    const injected = `NXPROXY-3.5.0-3.5.99 cookie=${cookie},stream=default,data=default `;
    // Split across TLS records: the VM (an echo here) sees the whole hello, cookie added, then the rest as sent.
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]));
    await client.readHead();
    await client.readHead();
    expect((await client.readHead()).status).toBe(101);
    client.send(hello.slice(0, 12));
    await new Promise((r) => setTimeout(r, 50));
    client.send(`${hello.slice(12)}after`);
    expect((await client.readBytes(injected.length + 5)).toString('latin1')).toBe(`${injected}after`);
    client.close();
    await until(() => h.l7r.activeSessions === 0);

    // Sent together with the connect request (before the 101).
    const early = await RawTlsClient.connect(h.port);
    early.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]) + hello);
    await early.readHead();
    await early.readHead();
    expect((await early.readHead()).status).toBe(101);
    expect((await early.readBytes(injected.length)).toString('latin1')).toBe(injected);
    early.close();
    await until(() => h.l7r.activeSessions === 0);

    // A hello with its own cookie (qvd connect) passes unchanged.
    const own = await RawTlsClient.connect(h.port);
    own.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]));
    await own.readHead();
    await own.readHead();
    expect((await own.readHead()).status).toBe(101);
    own.send(injected);
    expect((await own.readBytes(injected.length)).toString('latin1')).toBe(injected);
    own.close();
  });

  it('passes a half-close through the tunnel and the echo back after it', async () => {
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]));
    await client.readHead();
    await client.readHead();
    expect((await client.readHead()).status).toBe(101);
    client.send('last words');
    client.socket.end();
    expect((await client.readBytes(10)).toString()).toBe('last words');
    await client.waitEnd();
    await until(() => h.l7r.activeSessions === 0);
  });

  it('forwards bytes the client sent right after the connect request', async () => {
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]) + 'early');
    await client.readHead();
    await client.readHead();
    expect((await client.readHead()).status).toBe(101);
    expect((await client.readBytes(5)).toString()).toBe('early');
  });

  it('answers 503 with the reference body when preparation fails after it began', async () => {
    h.backend.prepareFailure = new PrepareError({ kind: 'unavailable', reason: 'Unable to start VM, operation timed out!' });
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]));
    await client.readHead();
    await client.readHead();
    const body = 'The requested virtual machine is not available: Unable to start VM, operation timed out!, retry later.';
    expect((await client.readResponse()).bytes).toBe(`HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    client.send(request('/qvd/ping'));
    expect((await client.readResponse()).status).toBe(200);
  });

  it('answers 503 when the VM endpoint refuses the connection, and ends the session', async () => {
    await h.echo.close();
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]));
    await client.readHead();
    await client.readHead();
    const response = await client.readResponse();
    expect(response.status).toBe(503);
    expect(response.body).toMatch(/^The requested virtual machine is not available: unable to connect to the virtual machine \(.*ECONNREFUSED.*\), retry later\.$/);
    await until(() => h.backend.events.some((event) => event.startsWith('ended:')));
    expect(h.backend.events.some((event) => event.startsWith('started:'))).toBe(false);
  });

  it('aborts the backend call when the client disconnects while its VM is prepared', async () => {
    h.backend.prepareDelayMs = 10_000;
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', A], ...CONNECT_HEADERS]));
    await client.readHead();
    client.close();
    await until(() => h.backend.lastSignal?.aborted === true);
    await until(async () => (await h.registry.metrics()).includes('qvd_l7r_connects_total{outcome="aborted"} 1'));
    expect(h.backend.events.filter((event) => event.startsWith('started:'))).toEqual([]);
  });

  it('authenticates, creates a token, and accepts it as Bearer base64 or raw; never a token to make tokens', async () => {
    client.send(request('/qvd/authenticate_user', [['Authorization', A]]));
    const auth = await client.readResponse();
    expect(auth.status).toBe(200);
    expect(auth.headers).toContainEqual(['Content-Type', 'application/json']);
    expect(JSON.parse(auth.body)).toEqual({ authenticated: true, login: 'a', tenant: 'default' });

    client.send(request('/qvd/create_auth_token', [['Authorization', A]]));
    const created = await client.readResponse();
    const { token, expires_at: expiresAt } = JSON.parse(created.body) as { token: string; expires_at: string };
    expect(token).toMatch(/^[0-9a-f]{48}$/);
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(23 * 3600_000);
    expect(created.headers).toContainEqual(['Content-Length', String(Buffer.byteLength(created.body))]);

    for (const bearer of [Buffer.from(token).toString('base64'), token]) {
      client.send(request('/qvd/list_of_vm?', [['Authorization', `Bearer ${bearer}`]]));
      const listed = await client.readResponse();
      expect(listed.status).toBe(200);
      expect((JSON.parse(listed.body) as unknown[]).length).toBe(3);
    }
    client.send(request('/qvd/create_auth_token', [['Authorization', `Bearer ${token}`]]));
    expect((await client.readResponse()).status).toBe(403);
  });

  it('refuses expired and revoked tokens with 401', async () => {
    const user = { key: 'a@default', login: 'a', tenant: 'default' };
    h.backend.tokens.set('expired-token', { user, expiresAt: Date.now() - 1, revoked: false });
    h.backend.tokens.set('revoked-token', { user, expiresAt: Date.now() + 3600_000, revoked: true });
    h.backend.tokens.set('good-token', { user, expiresAt: Date.now() + 3600_000, revoked: false });
    for (const token of ['expired-token', 'revoked-token', 'no-such-token']) {
      client.send(request('/qvd/list_of_vm', [['Authorization', `Bearer ${Buffer.from(token).toString('base64')}`]]));
      const response = await client.readResponse();
      expect(response.status).toBe(401);
      expect(response.headers).toContainEqual(['WWW-Authenticate', 'Basic realm="QVD"']);
    }
    client.send(request('/qvd/list_of_vm', [['Authorization', `Bearer ${Buffer.from('good-token').toString('base64')}`]]));
    expect((await client.readResponse()).status).toBe(200);
    h.backend.tokens.get('good-token')!.revoked = true;
    client.send(request('/qvd/list_of_vm', [['Authorization', `Bearer ${Buffer.from('good-token').toString('base64')}`]]));
    expect((await client.readResponse()).status).toBe(401);
    expect(h.logs.filter((line) => line.reason === 'bad-token').length).toBe(4);
  });

  it('refuses a blocked user with 401 and logs why', async () => {
    h.backend.setBlocked('a@default', true);
    client.send(request('/qvd/list_of_vm', [['Authorization', A]]));
    expect((await client.readResponse()).status).toBe(401);
    expect(h.logs.some((line) => line.reason === 'user-blocked' && line.login === 'a@default')).toBe(true);
  });

  it('asks for a stop, 404 for a VM of someone else, 422 without id', async () => {
    client.send(request('/qvd/stop_vm?id=1', [['Authorization', A]]));
    const stopped = await client.readResponse();
    expect(stopped.status).toBe(200);
    expect(JSON.parse(stopped.body)).toEqual({ id: 1, stopping: true });
    client.send(request('/qvd/stop_vm?id=2', [['Authorization', A], ...CONNECT_HEADERS]));
    expect((await client.readResponse()).status).toBe(404);
    client.send(request('/qvd/stop_vm', [['Authorization', A]]));
    expect((await client.readResponse()).status).toBe(422);
    expect(h.backend.stopped).toEqual([1]);
  });

  it('keeps the connection after every answer and closes it when the client says Connection: close', async () => {
    for (let index = 0; index < 5; index++) {
      client.send(request('/qvd/ping'));
      expect((await client.readResponse()).status).toBe(200);
    }
    client.send(request('/qvd/ping', [['Connection', 'close']]));
    expect((await client.readResponse()).status).toBe(200);
    await client.waitEnd();
  });

  it('passes Auth-<hex name> parameters, decoded, to the auth providers', async () => {
    await h.close();
    const seen: Array<Readonly<Record<string, string>>> = [];
    h = await startHarness({
      auth: () => [
        {
          name: 'recorder',
          async authenticate(attempt) {
            seen.push({ ...attempt.extra });
            return { kind: 'ok', user: { key: `${attempt.login}@${attempt.tenant}`, login: attempt.login, tenant: attempt.tenant } };
          },
        },
      ],
    });
    client.close();
    client = await RawTlsClient.connect(h.port);
    const name = Buffer.from('client.location').toString('hex');
    client.send(request('/qvd/authenticate_user', [['Authorization', A], [`Auth-${name}`, Buffer.from('Mäntsälä office').toString('base64')], ['Auth-zz', 'eA==']]));
    expect((await client.readResponse()).status).toBe(200);
    expect(seen).toEqual([{ 'client.location': 'Mäntsälä office' }]);
  });
});
