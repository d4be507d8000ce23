import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RawTlsClient } from './support/raw-tls-client.js';
import { basic, CONNECT_HEADERS, request, startHarness, until, type Harness } from './support/l7r-harness.js';

async function connectSession(port: number): Promise<RawTlsClient> {
  const client = await RawTlsClient.connect(port);
  client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', basic('a', 'pw-a@default')], ...CONNECT_HEADERS]));
  let head = await client.readHead();
  while (head.status === 102) head = await client.readHead();
  expect(head.status).toBe(101);
  return client;
}

describe('session takeover', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('closes the first tunnel (both sockets) when a second connection takes the session over', async () => {
    const first = await connectSession(h.port);
    first.send('one');
    expect((await first.readBytes(3)).toString()).toBe('one');
    expect(h.echo.sockets.size).toBe(1);
    const firstSession = [...h.backend.sessions.keys()][0];

    const started = Date.now();
    const second = await connectSession(h.port);
    await first.waitEnd(2000);
    expect(Date.now() - started).toBeLessThan(2000);
    await until(() => h.backend.events.includes(`ended:${firstSession}`));
    expect(h.backend.events.indexOf(`takeover:${firstSession}`)).toBeGreaterThanOrEqual(0);

    second.send('two');
    expect((await second.readBytes(3)).toString()).toBe('two');
    // The first VM-side socket is gone too; only the second remains.
    await until(() => h.echo.sockets.size === 1);
    expect(h.l7r.activeSessions).toBe(1);
    expect(h.logs.some((line) => line.msg === 'session ended' && line.reason === 'takeover')).toBe(true);
    second.close();
  });
});
