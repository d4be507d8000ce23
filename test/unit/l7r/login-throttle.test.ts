import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../../src/l7r/login-throttle.js';

describe('LoginThrottle', () => {
  const settings = { freeFailuresPerLogin: 3, freeFailuresPerIp: 10, baseDelayMs: 100, maxDelayMs: 1000, maxWaitMs: 2500, windowMs: 60_000 };

  it('lets the free failures through, then spaces attempts exponentially, capped', () => {
    let now = 0;
    const throttle = new LoginThrottle(settings, () => now);
    const waits: number[] = [];
    for (let attempt = 0; attempt < 9; attempt++) {
      const ticket = throttle.admit('10.0.0.1', 'ann@default');
      if (ticket.kind !== 'go') throw new Error('refused');
      waits.push(ticket.waitMs);
      now += ticket.waitMs;
      throttle.failed('10.0.0.1', 'ann@default');
    }
    expect(waits).toEqual([0, 0, 0, 100, 200, 400, 800, 1000, 1000]);
  });

  it('queues parallel attempts instead of letting them multiply the rate, and refuses a queue over maxWait', () => {
    let now = 0;
    const throttle = new LoginThrottle(settings, () => now);
    for (let index = 0; index < 5; index++) throttle.failed('10.0.0.1', 'ann@default');
    // 5 failures, 3 free: spacing 400 ms.
    const tickets = Array.from({ length: 8 }, () => throttle.admit('10.0.0.2', 'ann@default'));
    expect(tickets.map((ticket) => (ticket.kind === 'go' ? ticket.waitMs : -ticket.retryAfterMs))).toEqual([400, 800, 1200, 1600, 2000, 2400, -2800, -2800]);
  });

  it('counts per address too, forgets after the window, and clears a login on success', () => {
    let now = 0;
    const throttle = new LoginThrottle(settings, () => now);
    for (let index = 0; index < 12; index++) throttle.failed('10.0.0.9', `user${index}@default`);
    expect(throttle.admit('10.0.0.9', 'fresh@default')).toEqual({ kind: 'go', waitMs: 400 });
    expect(throttle.admit('10.0.0.8', 'fresh@default')).toEqual({ kind: 'go', waitMs: 0 });
    for (let index = 0; index < 4; index++) throttle.failed('10.0.0.7', 'Bob@default');
    expect(throttle.failures('10.0.0.7', 'bob@DEFAULT').login).toBe(4);
    throttle.succeeded('bob@default');
    expect(throttle.failures('10.0.0.7', 'bob@default')).toEqual({ ip: 4, login: 0 });
    now += 61_000;
    expect(throttle.failures('10.0.0.9')).toEqual({ ip: 0, login: 0 });
  });

  it('counts the failures of a whole IPv6 /64 together, and another /64 apart', () => {
    let now = 0;
    const throttle = new LoginThrottle(settings, () => now);
    // Ten logins, each failing once from its own address of one /64: the address's 10 free failures are used up.
    for (let i = 1; i <= 10; i++) throttle.failed(`2001:db8:1:2::${i.toString(16)}`, `u${i}@default`);
    expect(throttle.failures('2001:db8:1:2:ffff::1').ip).toBe(10);
    expect(throttle.admit('2001:db8:1:2::99', 'new@default')).toEqual({ kind: 'go', waitMs: 100 });
    expect(throttle.admit('2001:db8:1:3::1', 'other@default')).toEqual({ kind: 'go', waitMs: 0 });
    throttle.failed('::ffff:10.0.0.7', undefined);
    expect(throttle.failures('10.0.0.7').ip).toBe(1);
  });

  it('stays within maxEntries', () => {
    const throttle = new LoginThrottle({ ...settings, maxEntries: 50 });
    for (let index = 0; index < 1000; index++) throttle.failed(`10.0.${index >> 8}.${index & 255}`, `u${index}`);
    expect((throttle as unknown as { entries: Map<string, unknown> }).entries.size).toBeLessThanOrEqual(50);
  });
});
