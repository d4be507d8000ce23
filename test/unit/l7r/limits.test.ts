import { connect } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RawTlsClient } from './support/raw-tls-client.js';
import { basic, request, startHarness, until, type Harness, type LogLine } from './support/l7r-harness.js';

describe('L7R limits and malformed input', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ limits: { requestTimeoutMs: 300, idleTimeoutMs: 600 } });
  });
  afterEach(async () => {
    await h.close();
  });

  it('answers HTTP/1.0 with 505 and closes', async () => {
    const client = await RawTlsClient.connect(h.port);
    client.send('GET /qvd/ping HTTP/1.0\r\n\r\n');
    expect((await client.readResponse()).bytes).toBe(
      'HTTP/1.1 505 HTTP Version Not Supported\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 26\r\n\r\nonly HTTP/1.1 is supported',
    );
    await client.waitEnd();
  });

  it('answers a non-HTTP first line with 400 and closes', async () => {
    for (const garbage of ['\x16\x03\x01\x02\x00\x01\x00', 'HELLO THERE\r\n\r\n']) {
      const client = await RawTlsClient.connect(h.port);
      client.send(garbage);
      const response = await client.readResponse();
      expect(response.status).toBe(400);
      expect(response.headers).toContainEqual(['Connection', 'close']);
      await client.waitEnd();
    }
  });

  it('answers a head over 16 KiB with 431 and closes', async () => {
    const client = await RawTlsClient.connect(h.port);
    client.send(`GET /qvd/ping HTTP/1.1\r\nX-Filler: ${'x'.repeat(17 * 1024)}\r\n\r\n`);
    const response = await client.readResponse();
    expect(response.status).toBe(431);
    await client.waitEnd();
    // An endless header line without a line break is cut the same way.
    const endless = await RawTlsClient.connect(h.port);
    endless.send(`GET /qvd/ping HTTP/1.1\r\nX-Filler: ${'x'.repeat(20 * 1024)}`);
    expect((await endless.readResponse()).status).toBe(431);
    await endless.waitEnd();
  });

  it('closes a connection whose request does not complete in time (slow loris), with 408', async () => {
    const client = await RawTlsClient.connect(h.port);
    const started = Date.now();
    client.send('GET /qvd/ping HTTP/1.1\r\n');
    // Dribbling bytes does not extend the deadline.
    const dribble = setInterval(() => client.send('X-A: b\r\n'), 50);
    const response = await client.readResponse(3000);
    clearInterval(dribble);
    expect(response.status).toBe(408);
    await client.waitEnd();
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('closes an idle kept-alive connection after the idle timeout', async () => {
    const client = await RawTlsClient.connect(h.port);
    client.send(request('/qvd/ping'));
    expect((await client.readResponse()).status).toBe(200);
    const started = Date.now();
    await client.waitEnd(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
  });

  it('refuses request bodies, folded headers and two Authorization headers', async () => {
    const body = await RawTlsClient.connect(h.port);
    body.send('GET /qvd/ping HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello');
    expect((await body.readResponse()).status).toBe(413);
    await body.waitEnd();
    const chunked = await RawTlsClient.connect(h.port);
    chunked.send('GET /qvd/ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    expect((await chunked.readResponse()).status).toBe(400);
    const folded = await RawTlsClient.connect(h.port);
    folded.send('GET /qvd/ping HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n');
    expect((await folded.readResponse()).status).toBe(400);
    const twice = await RawTlsClient.connect(h.port);
    const auth = basic('a', 'pw-a@default');
    twice.send(request('/qvd/list_of_vm', [['Authorization', auth], ['Authorization', basic('b', 'pw-b@default')]]));
    expect((await twice.readResponse()).status).toBe(401);
    twice.close();
  });

  it('refuses TLS 1.1 and offers TLS 1.3', async () => {
    const error = await new Promise<Error>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port: h.port,
        rejectUnauthorized: false,
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        // OpenSSL 3 would refuse TLS 1.1 on the client side at its default level: lower it so the server is what refuses.
        ciphers: 'DEFAULT@SECLEVEL=0',
      });
      socket.once('secureConnect', () => {
        socket.destroy();
        reject(new Error('TLS 1.1 handshake succeeded'));
      });
      socket.once('error', resolve);
    });
    expect(error.message).toMatch(/protocol version|unsupported protocol|no protocols available/i);
    expect(error.message).not.toMatch(/no protocols available/i);
    const modern = await RawTlsClient.connect(h.port);
    expect(modern.socket.getProtocol()).toBe('TLSv1.3');
    modern.close();
  });
});

describe('L7R connection caps at accept', () => {
  let h: Harness | undefined;
  const open: RawTlsClient[] = [];
  afterEach(async () => {
    for (const client of open.splice(0)) client.socket.destroy();
    await h?.close();
    h = undefined;
  });
  const from = async (localAddress: string): Promise<RawTlsClient> => {
    const client = await RawTlsClient.connect(h!.port, { localAddress });
    open.push(client);
    return client;
  };
  const pings = async (client: RawTlsClient): Promise<number> => {
    client.send(request('/qvd/ping'));
    return (await client.readResponse()).status;
  };
  const refusals = async (reason: string): Promise<number> => (await h!.metrics.connectionsRefused.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  const refusedLines = (): LogLine[] => h!.logs.filter((line) => line.msg === 'connection refused at accept');

  it('closes connections from an address past max_connections_per_address before the handshake; other addresses and freed slots get in', async () => {
    h = await startHarness({ limits: { maxConnectionsPerAddress: 2 } });
    const first = await from('127.0.0.1');
    await from('127.0.0.1');
    await expect(from('127.0.0.1')).rejects.toThrow(/disconnected before secure TLS connection|ECONNRESET/);
    await expect(from('127.0.0.1')).rejects.toThrow(/disconnected before secure TLS connection|ECONNRESET/);
    expect(await refusals('per_address')).toBe(2);
    // One warning for the address, not one per refusal.
    expect(refusedLines()).toHaveLength(1);
    expect(refusedLines()[0]).toMatchObject({ level: 40, limit: 'per_address', address: '127.0.0.1', open: 2, max: 2 });
    // The connections that got in work; another address is counted apart.
    expect(await pings(first)).toBe(200);
    expect(await pings(await from('127.0.0.2'))).toBe(200);
    // A closed connection gives its slot back.
    first.socket.destroy();
    let again: RawTlsClient | undefined;
    await until(async () => {
      again = await from('127.0.0.1').catch(() => undefined);
      return again !== undefined;
    });
    expect(await pings(again!)).toBe(200);
    expect(await refusals('max_connections')).toBe(0);
  });

  it('counts and logs connections refused because the server is full (max_connections)', async () => {
    h = await startHarness({ limits: { maxConnections: 1, maxConnectionsPerAddress: 0 } });
    const only = await from('127.0.0.1');
    await expect(from('127.0.0.2')).rejects.toThrow(/disconnected before secure TLS connection|ECONNRESET/);
    expect(await refusals('max_connections')).toBe(1);
    expect(refusedLines()).toEqual([expect.objectContaining({ level: 40, limit: 'max_connections', ip: '127.0.0.2', max: 1 })]);
    expect(await pings(only)).toBe(200);
  });

  it('takes new caps while running: open connections stay, new ones are counted against the new caps', async () => {
    h = await startHarness({ limits: { maxConnectionsPerAddress: 0 } });
    const held = await Promise.all([from('127.0.0.1'), from('127.0.0.1'), from('127.0.0.1')]);
    h.l7r.setConnectionCaps({ maxConnections: 10_000, maxConnectionsPerAddress: 2 });
    // Three are open already (counted even without a cap): a fourth is over the new cap of 2.
    await expect(from('127.0.0.1')).rejects.toThrow(/disconnected before secure TLS connection|ECONNRESET/);
    expect(await Promise.all(held.map(pings))).toEqual([200, 200, 200]);
    held[0]!.socket.destroy();
    held[1]!.socket.destroy();
    await until(async () => (await from('127.0.0.1').catch(() => undefined)) !== undefined);
    // Two open now (the third held one and the one just made): the server takes no more with a cap of 2.
    h.l7r.setConnectionCaps({ maxConnections: 2, maxConnectionsPerAddress: 0 });
    await expect(from('127.0.0.2')).rejects.toThrow(/disconnected before secure TLS connection|ECONNRESET/);
    expect(await refusals('max_connections')).toBe(1);
  });

  it('has no per-address cap with max_connections_per_address 0', async () => {
    h = await startHarness({ limits: { maxConnectionsPerAddress: 0 } });
    const clients = await Promise.all(Array.from({ length: 20 }, () => from('127.0.0.1')));
    expect(await Promise.all(clients.map(pings))).toEqual(Array(20).fill(200));
    expect(await refusals('per_address')).toBe(0);
  });
});
