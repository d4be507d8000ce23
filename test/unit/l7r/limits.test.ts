import { connect } from 'node:tls';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RawTlsClient } from './support/raw-tls-client.js';
import { basic, request, startHarness, type Harness } from './support/l7r-harness.js';

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
