import { afterEach, describe, expect, it } from 'vitest';
import { RawTlsClient } from './support/raw-tls-client.js';
import { basic, request, startHarness, type Harness } from './support/l7r-harness.js';

describe('failed logins through the L7R', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
  });

  it('slows repeated failures, logs each one without the password, and answers 429 to a flood', async () => {
    h = await startHarness({ throttle: { freeFailuresPerLogin: 2, baseDelayMs: 150, maxDelayMs: 2000, maxWaitMs: 1000 } });
    const client = await RawTlsClient.connect(h.port);
    const times: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      const started = Date.now();
      client.send(request('/qvd/list_of_vm', [['Authorization', basic('a', `secret-guess-${attempt}`)]]));
      expect((await client.readResponse()).status).toBe(401);
      times.push(Date.now() - started);
    }
    // Free, free, then ~150, ~300, ~600 ms (upper bounds generous: a loaded machine adds, never subtracts).
    expect(times[0]).toBeLessThan(2000);
    expect(times[1]).toBeLessThan(2000);
    expect(times[2]).toBeGreaterThanOrEqual(140);
    expect(times[3]).toBeGreaterThanOrEqual(290);
    expect(times[4]).toBeGreaterThanOrEqual(590);

    const refused = h.logs.filter((line) => line.msg === 'login refused');
    expect(refused.length).toBe(5);
    for (const line of refused) {
      expect(line).toMatchObject({ ip: '127.0.0.1', login: 'a@default', reason: 'bad-password', provider: 'builtin' });
    }
    expect(JSON.stringify(h.logs)).not.toContain('secret-guess');

    // Parallel guesses queue; beyond maxWait they are refused at once with Retry-After.
    const flood = await Promise.all(
      Array.from({ length: 4 }, async (_, index) => {
        const parallel = await RawTlsClient.connect(h!.port);
        parallel.send(request('/qvd/list_of_vm', [['Authorization', basic('a', `flood-${index}`)]]));
        const response = await parallel.readResponse(10_000);
        parallel.close();
        return response;
      }),
    );
    const statuses = flood.map((response) => response.status).sort();
    expect(statuses).toContain(429);
    const tooMany = flood.find((response) => response.status === 429);
    expect(tooMany?.headers.find(([name]) => name === 'Retry-After')?.[1]).toMatch(/^[0-9]+$/);
    expect(h.logs.some((line) => line.reason === 'throttled')).toBe(true);
    expect(await h.registry.metrics()).toMatch(/qvd_l7r_auth_failures_total\{reason="bad_password"\} [0-9]+/);

    // The right password still works once its slot comes (after Retry-After), and clears the login's record.
    let status = 0;
    for (let attempt = 0; attempt < 5 && status !== 200; attempt++) {
      client.send(request('/qvd/list_of_vm', [['Authorization', basic('a', 'pw-a@default')]]));
      const response = await client.readResponse(10_000);
      status = response.status;
      const retryAfter = response.headers.find(([name]) => name === 'Retry-After')?.[1];
      if (retryAfter !== undefined) await new Promise((resolve) => setTimeout(resolve, Number(retryAfter) * 1000));
    }
    expect(status).toBe(200);
    client.close();
  });
});
