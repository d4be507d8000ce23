import { describe, expect, it } from 'vitest';
import { AddressCap, addressKey } from '../../../src/l7r/address-cap.js';

describe('addressKey', () => {
  it('keeps IPv4 addresses and unwraps IPv4-mapped IPv6 ones', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::FFFF:192.0.2.7')).toBe('192.0.2.7');
  });

  it('puts every address of an IPv6 /64 under one key, whatever its spelling', () => {
    const key = addressKey('2001:db8:1:2::1');
    expect(key).toBe('2001:db8:1:2::/64');
    for (const same of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0db8:0001:0002:0:0:0:9', '2001:db8:1:2:a:b:1.2.3.4', '2001:db8:1:2::7%eth0']) {
      expect(addressKey(same)).toBe(key);
    }
    expect(addressKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1')).toBe('fe80:0:0:0::/64');
    expect(addressKey('2001:db8::')).toBe('2001:db8:0:0::/64');
  });
});

describe('AddressCap', () => {
  it('admits up to the limit per key, refuses past it, and admits again after a release', () => {
    const cap = new AddressCap(2);
    expect(cap.admit('192.0.2.1', 1000)).toEqual({ ok: true });
    expect(cap.admit('::ffff:192.0.2.1', 1001)).toEqual({ ok: true });
    expect(cap.admit('192.0.2.1', 1002)).toEqual({ ok: false, key: '192.0.2.1', open: 2 });
    // Another address is counted apart.
    expect(cap.admit('192.0.2.2', 1000)).toEqual({ ok: true });
    cap.release('::ffff:192.0.2.1', 1001);
    expect(cap.count('192.0.2.1')).toBe(1);
    expect(cap.admit('192.0.2.1', 1003)).toEqual({ ok: true });
  });

  it('releases each connection once: a second release, or one never admitted, changes nothing', () => {
    const cap = new AddressCap(2);
    cap.admit('192.0.2.1', 1);
    cap.admit('192.0.2.1', 2);
    cap.release('192.0.2.1', 1);
    cap.release('192.0.2.1', 1);
    cap.release('192.0.2.1', 3);
    expect(cap.count('192.0.2.1')).toBe(1);
    cap.release('192.0.2.1', 2);
    expect(cap.count('192.0.2.1')).toBe(0);
  });

  it('counts a /64 together', () => {
    const cap = new AddressCap(1);
    expect(cap.admit('2001:db8:1:2::1', 5)).toEqual({ ok: true });
    expect(cap.admit('2001:db8:1:2::99', 5)).toEqual({ ok: false, key: '2001:db8:1:2::/64', open: 1 });
  });

  it('with limit 0 admits everything, still counting, so a limit set later holds at once', () => {
    const cap = new AddressCap(0);
    for (let port = 0; port < 100; port++) expect(cap.admit('192.0.2.1', port)).toEqual({ ok: true });
    expect(cap.count('192.0.2.1')).toBe(100);
    cap.limit = 100;
    expect(cap.admit('192.0.2.1', 100)).toEqual({ ok: false, key: '192.0.2.1', open: 100 });
    cap.release('192.0.2.1', 0);
    expect(cap.admit('192.0.2.1', 100)).toEqual({ ok: true });
  });
});
