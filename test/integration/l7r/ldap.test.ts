import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBuiltinAuthProvider } from '../../../src/l7r/builtin-auth-provider.js';
import { createLdapAuthProvider } from '../../../src/l7r/ldap-auth-provider.js';
import { startSlapd, type RunningSlapd } from '../../support/slapd.js';
import { RawTlsClient } from '../../unit/l7r/support/raw-tls-client.js';
import { basic, CONNECT_HEADERS, request, startHarness, type Harness } from '../../unit/l7r/support/l7r-harness.js';

/** LDAP logins through the L7R against a real OpenLDAP server of our own. */
describe('LDAP auth provider with a real slapd', () => {
  let slapd: RunningSlapd;
  let h: Harness | undefined;
  beforeAll(async () => {
    slapd = await startSlapd();
    await slapd.addUser('ann', 'ldap-secret');
    // Also a local user, with another password: LDAP, asked first, decides for her.
    await slapd.addUser('a', 'ldap-pw-of-a');
  });
  afterAll(async () => {
    await slapd?.stop();
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const start = (url = slapd.url): Promise<Harness> =>
    startHarness({
      setup: (backend) => backend.addVm({ id: 50, owner: 'ann@default', name: 'ann-desktop' }),
      auth: (backend) => [createLdapAuthProvider({ url, userDn: `uid=%u,ou=people,${slapd.baseDn}`, timeoutMs: 2000, connectTimeoutMs: 2000 }), createBuiltinAuthProvider(backend)],
    });

  async function status(port: number, login: string, password: string, path = '/qvd/list_of_vm?'): Promise<{ status: number; body: string }> {
    const client = await RawTlsClient.connect(port);
    client.send(request(path, [['Authorization', basic(login, password)], ['Accept', 'application/json']]));
    const response = await client.readResponse();
    client.close();
    return response;
  }

  it('logs a directory user in through the L7R and lists her VMs', async () => {
    h = await start();
    const response = await status(h.port, 'ann', 'ldap-secret');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual([{ id: 50, state: 'stopped', name: 'ann-desktop', blocked: false, is_application: false }]);

    // And connects: the tunnel works for an LDAP user like for any other.
    const client = await RawTlsClient.connect(h.port);
    client.send(request('/qvd/connect_to_vm?id=50', [['Authorization', basic('ann', 'ldap-secret')], ...CONNECT_HEADERS]));
    let head = await client.readHead();
    while (head.status === 102) head = await client.readHead();
    expect(head.status).toBe(101);
    client.send('nx');
    expect((await client.readBytes(2)).toString()).toBe('nx');
    client.close();
  });

  it('refuses a wrong password, an empty one, and logs the reason', async () => {
    h = await start();
    expect((await status(h.port, 'ann', 'wrong')).status).toBe(401);
    // An empty password would be an anonymous bind, which LDAP accepts: it must never log anyone in.
    expect((await status(h.port, 'ann', '')).status).toBe(401);
    const reasons = h.logs.filter((line) => line.msg === 'login refused').map((line) => [line.provider, line.reason]);
    expect(reasons).toEqual([
      ['ldap', 'bad-password'],
      ['ldap', 'empty-password'],
    ]);
  });

  it('lets the next provider decide for users the directory does not know, and never the reverse', async () => {
    h = await start();
    // b exists only locally.
    expect((await status(h.port, 'b', 'pw-b@default')).status).toBe(200);
    // a exists in both: the directory decides, so the local password no longer works.
    expect((await status(h.port, 'a', 'pw-a@default')).status).toBe(401);
    expect((await status(h.port, 'a', 'ldap-pw-of-a')).status).toBe(200);
    // A DN injection attempt names no entry.
    expect((await status(h.port, 'ann,ou=people', 'ldap-secret')).status).toBe(401);
    // This directory serves the default tenant only: ann@t1 is not ann.
    expect((await status(h.port, 'ann@t1', 'ldap-secret')).status).toBe(401);
  });

  it('refuses a directory user blocked in qvd', async () => {
    h = await start();
    h.backend.addUser({ login: 'ann', tenant: 'default', password: 'unused', blocked: true });
    expect((await status(h.port, 'ann', 'ldap-secret')).status).toBe(401);
    expect(h.logs.some((line) => line.reason === 'user-blocked' && line.provider === 'ldap')).toBe(true);
  });

  it('answers 503 (not 401) when the directory cannot be reached', async () => {
    h = await start('ldap://127.0.0.1:1');
    const response = await status(h.port, 'ann', 'ldap-secret');
    expect(response.status).toBe(503);
    expect(h.logs.some((line) => line.msg === 'auth provider failed; answering 503')).toBe(true);
  });
});
