import { describe, expect, it } from 'vitest';
import { RawTlsClient } from './support/raw-tls-client.js';
import { basic, CONNECT_HEADERS, request, startHarness, until } from './support/l7r-harness.js';

describe('shutdown', () => {
  it('closes idle connections at once, refuses new sessions, and cuts tunnels after the drain time', async () => {
    const h = await startHarness();
    const idle = await RawTlsClient.connect(h.port);
    idle.send(request('/qvd/ping'));
    await idle.readResponse();
    const session = await RawTlsClient.connect(h.port);
    session.send(request('/qvd/connect_to_vm?id=1', [['Authorization', basic('a', 'pw-a@default')], ...CONNECT_HEADERS]));
    let head = await session.readHead();
    while (head.status === 102) head = await session.readHead();
    expect(head.status).toBe(101);

    const started = Date.now();
    const closing = h.l7r.close(400);
    await idle.waitEnd(1000);
    session.send('still here');
    expect((await session.readBytes(10)).toString()).toBe('still here');
    await closing;
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    await session.waitEnd(1000);
    await until(() => h.backend.events.some((event) => event.startsWith('ended:')));
    await h.echo.close();
  });
});
