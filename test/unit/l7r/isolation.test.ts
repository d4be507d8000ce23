import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawTlsClient } from './support/raw-tls-client.js';
import { basic, CONNECT_HEADERS, request, startHarness, type Harness } from './support/l7r-harness.js';

/** A user can never list, stop or connect to another user's VM, whatever id they guess or tenant they claim. */
describe('isolation between users and tenants', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  const users = [
    { login: 'a', password: 'pw-a@default', own: [1, 3, 4] },
    { login: 'b', password: 'pw-b@default', own: [2] },
    { login: 'a@t1', password: 'pw-a@t1', own: [11] },
    { login: 'a#t2', password: 'pw-a@t2', own: [12] },
  ];
  const allIds = [1, 2, 3, 4, 11, 12, 5, 0, 999_999];

  for (const user of users) {
    it(`${user.login} lists, stops and connects to its own VMs only`, async () => {
      const client = await RawTlsClient.connect(h.port);
      const auth = basic(user.login, user.password);
      client.send(request('/qvd/list_of_vm', [['Authorization', auth]]));
      expect((JSON.parse((await client.readResponse()).body) as Array<{ id: number }>).map((vm) => vm.id)).toEqual(user.own);
      for (const id of allIds) {
        if (user.own.includes(id)) continue;
        client.send(request(`/qvd/stop_vm?id=${id}`, [['Authorization', auth]]));
        expect((await client.readResponse()).status).toBe(404);
        client.send(request(`/qvd/connect_to_vm?id=${id}`, [['Authorization', auth], ...CONNECT_HEADERS]));
        expect((await client.readResponse()).status).toBe(404);
      }
      client.close();
    });
  }

  it('a password of one tenant does not open the same login in another tenant', async () => {
    const client = await RawTlsClient.connect(h.port);
    for (const login of ['a@t2', 'a#t2', 'a', 'a#default', 'a@t1@t2']) {
      client.send(request('/qvd/list_of_vm', [['Authorization', basic(login, 'pw-a@t1')]]));
      expect((await client.readResponse()).status).toBe(401);
    }
    client.close();
  });

  it('reusing a connection with other credentials uses those, not the earlier login', async () => {
    const client = await RawTlsClient.connect(h.port);
    client.send(request('/qvd/list_of_vm', [['Authorization', basic('a', 'pw-a@default')]]));
    expect((await client.readResponse()).status).toBe(200);
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', basic('b', 'pw-b@default')], ...CONNECT_HEADERS]));
    expect((await client.readResponse()).status).toBe(404);
    client.send(request('/qvd/connect_to_vm?id=1', [['Authorization', basic('a', 'wrong')], ...CONNECT_HEADERS]));
    expect((await client.readResponse()).status).toBe(401);
    client.close();
    expect(h.backend.stopped).toEqual([]);
    // The backend was asked on behalf of b, the user of that request, never of the connection's earlier login.
    expect(h.backend.prepareCalls.at(-1)).toEqual({ user: 'b@default', id: 1, params: {} });
  });
});
