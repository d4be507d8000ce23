import { describe, expect, it } from 'vitest';
import { parseXStartParams } from '../../../src/vma/parse-x-start-params.js';

const cookie = '0123456789ABCDEF0123456789abcdef';

describe('parseXStartParams', () => {
  it('accepts the VMA names and lowercases the cookie', () => {
    const r = parseXStartParams({ user: 'alice@acme', cookie, geometry: '800x600', fullscreen: 'true', link: 'lan' });
    expect(r).toEqual({ ok: true, params: { user: 'alice@acme', cookie: cookie.toLowerCase(), geometry: '800x600', fullscreen: true, link: 'lan' } });
  });

  it('accepts what the client sent under qvd.client.* and ignores the rest', () => {
    const r = parseXStartParams({ user: 'bob', cookie, 'qvd.client.keyboard': 'pc105/es', 'qvd.client.os': 'linux', 'qvd.client.fullscreen': '0', 'custom.x': 'y', 'qvd.client.printing.enabled': '1' });
    expect(r).toEqual({ ok: true, params: { user: 'bob', cookie: cookie.toLowerCase(), keyboard: 'pc105/es', client: 'linux', fullscreen: false } });
  });

  it('treats empty values as absent, as the original client sends some', () => {
    const r = parseXStartParams({ user: 'bob', cookie, 'qvd.client.geometry': '', 'qvd.client.keyboard': '' });
    expect(r).toEqual({ ok: true, params: { user: 'bob', cookie: cookie.toLowerCase() } });
  });

  it('requires user and cookie', () => {
    const r = parseXStartParams({});
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors).toEqual(['user: required', 'cookie: required (the NX cookie of this connection)']);
  });

  it('refuses values that could inject nxagent options', () => {
    for (const bad of [{ geometry: '800x600,listen=1' }, { keyboard: 'pc105/us:7' }, { keyboard: 'a=b' }, { cookie: 'abc' }, { link: 'fast' }, { fullscreen: 'maybe' }, { user: 'a b' }]) {
      const r = parseXStartParams({ user: 'alice', cookie, ...bad });
      expect(r.ok, JSON.stringify(bad)).toBe(false);
    }
  });
});
