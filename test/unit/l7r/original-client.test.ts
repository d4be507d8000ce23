import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RawTlsClient } from './support/raw-tls-client.js';
import { startHarness, type Harness } from './support/l7r-harness.js';

/**
 * What the original command-line client does, byte for byte as far as the
 * reference records it: no Host header, `GET /qvd/list_of_vm?` with
 * Authorization, Accept and User-Agent, then on the SAME TLS connection the
 * connect request with URL-encoded qvd.client.* parameters in no particular
 * order (some empty), reading 102s until the 101, then NX bytes.
 */
describe('the original QVD command-line client', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('lists, then connects on the same connection and talks through the tunnel', async () => {
    // No SNI: the client connects to an IP address.
    const client = await RawTlsClient.connect(h.port, { servername: '' });
    expect(['TLSv1.2', 'TLSv1.3']).toContain(client.socket.getProtocol());
    const auth = `Basic ${Buffer.from('a:pw-a@default').toString('base64')}`;
    client.send(`GET /qvd/list_of_vm? HTTP/1.1\r\nAuthorization: ${auth}\r\nAccept: application/json\r\nUser-Agent: QVD::Client/4.2\r\n\r\n`);
    const list = await client.readResponse();
    expect(list.status).toBe(200);
    // Its lookup of Content-Length is case-sensitive.
    expect(list.headers.find(([name]) => name === 'Content-Length')?.[1]).toBe(String(Buffer.byteLength(list.body)));
    const vms = JSON.parse(list.body) as Array<{ id: number; blocked: boolean }>;
    expect(vms.length).toBeGreaterThan(0);
    expect(client.isEnded).toBe(false);

    const query = [
      'qvd.client.printing.enabled=0',
      'qvd.client.link=adsl',
      'qvd.client.keyboard=pc105%2Fes',
      `id=${vms[0]?.id}`,
      'qvd.client.nxagent.extra_args=',
      'qvd.client.geometry=1024x768',
      'qvd.client.os=linux',
      'qvd.client.fullscreen=',
      'qvd.client.usb.enabled=0',
    ].join('&');
    client.send(`GET /qvd/connect_to_vm?${query} HTTP/1.1\r\nAuthorization: ${auth}\r\nConnection: Upgrade\r\nUpgrade: QVD/1.0\r\n\r\n`);
    let head = await client.readHead();
    let interim = 0;
    while (head.status === 102) {
      expect(head.headers.map(([name]) => name)).toEqual(['X-QVD-VM-Info']);
      interim++;
      head = await client.readHead();
    }
    expect(interim).toBe(2);
    expect(head.status).toBe(101);
    expect(head.headers.find(([name]) => name === 'X-QVD-Slave-Key')?.[1]).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(h.backend.prepareCalls[0]?.params).toEqual({
      'qvd.client.printing.enabled': '0',
      'qvd.client.link': 'adsl',
      'qvd.client.keyboard': 'pc105/es',
      'qvd.client.nxagent.extra_args': '',
      'qvd.client.geometry': '1024x768',
      'qvd.client.os': 'linux',
      'qvd.client.fullscreen': '',
      'qvd.client.usb.enabled': '0',
    });

    // NX's first bytes, and a binary burst back and forth.
    client.send('NXPROXY-1.5.0-3.5.99\n');
    expect((await client.readBytes(21)).toString()).toBe('NXPROXY-1.5.0-3.5.99\n');
    const burst = Buffer.from(Array.from({ length: 65_536 }, (_, index) => index % 251));
    client.send(burst);
    expect((await client.readBytes(burst.length)).equals(burst)).toBe(true);
    client.close();
  });
});
