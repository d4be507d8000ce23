import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bearerMatches } from '../../../src/vma/bearer-auth.js';
import { createVmaServer, type VmaHandlers } from '../../../src/vma/rpc-server.js';
import type { XStateResult } from '../../../src/vma/vma-api.js';
import { VmaCallError, VmaClient } from '../../../src/vma/vma-client.js';
import { VmaError } from '../../../src/vma/vma-error.js';
import { silentLog } from '../../../src/vma/vma-log.js';

const SECRET = 'a'.repeat(64);
const state = (s: XStateResult['state']): XStateResult => ({ state: s, since: '2026-01-01T00:00:00.000Z', display: 100, agentRestarts: 0 });

describe('VMA RPC server and client', () => {
  let server: Server;
  let port: number;
  let secret: string | undefined;
  let seen: Record<string, unknown>[];

  beforeEach(async () => {
    secret = SECRET;
    seen = [];
    const handlers: VmaHandlers = {
      ping: () => ({ alive: true, version: 't', uptime: 1 }),
      x_state: () => state('listening'),
      x_start: (p) => {
        seen.push({ ...p });
        if (p['cookie'] === undefined) throw new VmaError('bad-request', 'cookie: required');
        return state('starting');
      },
      x_suspend: () => state('suspended'),
      x_stop: async () => state('stopped'),
      poweroff: () => {
        throw new Error('boom');
      },
    };
    server = createVmaServer(handlers, () => secret, silentLog);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
  });

  const client = (s = SECRET): VmaClient => new VmaClient({ host: '127.0.0.1', port, secret: s });

  it('answers authenticated calls with JSON', async () => {
    expect(await client().call('ping')).toEqual({ alive: true, version: 't', uptime: 1 });
    expect(await client().call('x_start', { user: 'alice', cookie: 'c' })).toMatchObject({ state: 'starting' });
    expect(seen).toEqual([{ user: 'alice', cookie: 'c' }]);
  });

  it('takes GET query parameters too (the original style)', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/vma/x_start?user=bob&cookie=c&qvd.client.geometry=800x600`, { headers: { Authorization: `Bearer ${SECRET}` } });
    expect(res.status).toBe(200);
    expect(seen).toEqual([{ user: 'bob', cookie: 'c', 'qvd.client.geometry': '800x600' }]);
  });

  it('refuses a wrong or missing secret with 401', async () => {
    await expect(client('b'.repeat(64)).call('ping')).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    const res = await fetch(`http://127.0.0.1:${port}/vma/ping`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('refuses everything when it has no secret', async () => {
    secret = undefined;
    await expect(client().call('ping')).rejects.toMatchObject({ status: 503, code: 'not-configured' });
  });

  it('maps errors to statuses', async () => {
    await expect(client().call('x_start', { user: 'alice' })).rejects.toMatchObject({ status: 400, code: 'bad-request', message: 'VMA x_start: cookie: required' });
    await expect(client().call('poweroff')).rejects.toMatchObject({ status: 500, code: 'internal' });
    const res = await fetch(`http://127.0.0.1:${port}/vma/rm_rf`, { method: 'POST', headers: { Authorization: `Bearer ${SECRET}` } });
    expect(res.status).toBe(404);
    const bad = await fetch(`http://127.0.0.1:${port}/vma/x_start`, { method: 'POST', headers: { Authorization: `Bearer ${SECRET}` }, body: '[1]' });
    expect(bad.status).toBe(400);
  });

  it('waits for an x_state', async () => {
    expect(await client().waitForXState(['listening'], 1000)).toMatchObject({ state: 'listening' });
    await expect(client().waitForXState(['connected'], 300, 50)).rejects.toThrow(/x_state is listening, not connected/);
  });

  it('reports a VMA that is not there', async () => {
    await new Promise((r) => server.close(r));
    server = createVmaServer({} as VmaHandlers, () => secret, silentLog);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const e = await new VmaClient({ host: '127.0.0.1', port: 1, secret: SECRET, timeoutMs: 500 }).call('ping').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(VmaCallError);
    expect(e).toMatchObject({ status: 0, code: 'network' });
  });
});

describe('bearerMatches', () => {
  it('compares the whole secret', () => {
    expect(bearerMatches(`Bearer ${SECRET}`, SECRET)).toBe(true);
    expect(bearerMatches(`bearer  ${SECRET}`, SECRET)).toBe(true);
    expect(bearerMatches(`Bearer ${SECRET.slice(1)}`, SECRET)).toBe(false);
    expect(bearerMatches(`Basic ${SECRET}`, SECRET)).toBe(false);
    expect(bearerMatches(undefined, SECRET)).toBe(false);
    expect(bearerMatches('Bearer ', '')).toBe(false);
  });
});
