import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuthProvider } from '../../../src/l7r/auth-provider.js';
import { createBuiltinAuthProvider } from '../../../src/l7r/builtin-auth-provider.js';
import { ensureTlsMaterial, fingerprintOf, type TlsMaterial } from '../../../src/l7r/tls-material.js';
import { RawTlsClient } from './support/raw-tls-client.js';
import { basic, request, startHarness, testTls, type Harness } from './support/l7r-harness.js';

/** The SHA-256 fingerprint of the certificate a new connection is shown. */
async function presented(port: number): Promise<string> {
  const client = await RawTlsClient.connect(port);
  const fingerprint = client.socket.getPeerCertificate().fingerprint256;
  client.close();
  return fingerprint;
}

describe('L7R: certificate and login providers replaced while it runs', () => {
  let dir = '';
  let second: TlsMaterial;
  let h: Harness | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'qvd-l7r-reload-'));
    second = await ensureTlsMaterial(dir);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('shows new connections the new certificate; an open connection keeps working; a key that does not match changes nothing', async () => {
    h = await startHarness();
    const first = await testTls();
    expect(await presented(h.port)).toBe(fingerprintOf(first.cert));
    const open = await RawTlsClient.connect(h.port);
    h.l7r.setTls(second);
    expect(await presented(h.port)).toBe(fingerprintOf(second.cert));
    open.send(request('/qvd/ping'));
    expect((await open.readResponse()).status).toBe(200);
    expect(() => h!.l7r.setTls({ cert: first.cert, key: second.key })).toThrow();
    expect(await presented(h.port)).toBe(fingerprintOf(second.cert));
    open.close();
  });

  it('moves to another port: new connections there, none on the old one, open ones carry on; a port in use leaves it where it was', async () => {
    h = await startHarness();
    const oldPort = h.port;
    const open = await RawTlsClient.connect(oldPort);
    const { port: newPort } = await h.l7r.relisten(0, '127.0.0.1');
    expect(newPort).not.toBe(oldPort);
    expect(await presented(newPort)).toBe(fingerprintOf((await testTls()).cert));
    await expect(RawTlsClient.connect(oldPort)).rejects.toThrow(/ECONNREFUSED/);
    open.send(request('/qvd/ping'));
    expect((await open.readResponse()).status).toBe(200);
    open.close();
    // A port another socket holds: the error comes back and the L7R still accepts where it was.
    const squatter = createServer();
    squatter.listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    await expect(h.l7r.relisten((squatter.address() as { port: number }).port, '127.0.0.1')).rejects.toThrow(/EADDRINUSE/);
    squatter.close();
    const again = await RawTlsClient.connect(newPort);
    again.send(request('/qvd/ping'));
    expect((await again.readResponse()).status).toBe(200);
    again.close();
  });

  it('logs in through the providers given later, not the ones it started with', async () => {
    const nobody: AuthProvider = { name: 'nobody', authenticate: () => Promise.resolve({ kind: 'unknown' }) };
    h = await startHarness({ auth: () => [nobody] });
    const list = async (): Promise<number> => {
      const client = await RawTlsClient.connect(h!.port);
      client.send(request('/qvd/list_of_vm', [['Authorization', basic('a', 'pw-a@default')]]));
      const status = (await client.readResponse()).status;
      client.close();
      return status;
    };
    expect(await list()).toBe(401);
    h.l7r.setAuthProviders([createBuiltinAuthProvider(h.backend)]);
    expect(await list()).toBe(200);
  });
});
