import { describe, expect, it } from 'vitest';
import { addNxCookie } from '../../../src/l7r/nx-hello-cookie.js';

const COOKIE = '0123456789abcdef0123456789abcdef';
// What Debian's nxproxy 3.5.99 sends first, without and with a cookie (captured).
const HELLO = 'NXPROXY-3.5.0-3.5.99 stream=default,data=default ';
const WITH_COOKIE = 'NXPROXY-3.5.0-3.5.99 cookie=fedcba9876543210fedcba9876543210,stream=default,data=default ';

const text = (r: ReturnType<typeof addNxCookie>): string | undefined => (r.done ? r.bytes.toString('latin1') : undefined);

describe('addNxCookie', () => {
  it('adds the cookie to a hello without one, keeping the bytes that follow', () => {
    const r = addNxCookie(Buffer.from(`${HELLO}MORE`, 'latin1'), COOKIE);
    expect(text(r)).toBe(`NXPROXY-3.5.0-3.5.99 cookie=${COOKIE},stream=default,data=default MORE`);
    expect(r.done && r.injected).toBe(true);
  });

  it('leaves a hello that carries its own cookie alone (nxagent judges it)', () => {
    const r = addNxCookie(Buffer.from(WITH_COOKIE, 'latin1'), COOKIE);
    expect(text(r)).toBe(WITH_COOKIE);
    expect(r.done && r.injected).toBe(false);
  });

  it('waits for the rest of a hello split across reads', () => {
    for (let cut = 1; cut < HELLO.length; cut++) expect(addNxCookie(Buffer.from(HELLO.slice(0, cut), 'latin1'), COOKIE).done, `cut at ${cut}`).toBe(false);
    expect(text(addNxCookie(Buffer.from(HELLO, 'latin1'), COOKIE))).toContain(`cookie=${COOKIE},stream`);
  });

  it('passes anything that is not an NX hello through unchanged', () => {
    for (const other of ['GET / HTTP/1.1\r\n', 'NXPROXX-3.5 a ', '\u0000\u0001binary']) {
      const r = addNxCookie(Buffer.from(other, 'latin1'), COOKIE);
      expect(text(r)).toBe(other);
    }
    const endless = Buffer.from(`NXPROXY-3.5.0 ${'x'.repeat(2000)}`, 'latin1');
    expect(text(addNxCookie(endless, COOKIE))).toBe(endless.toString('latin1'));
  });

  it('adds the cookie as the only option when there are none', () => {
    expect(text(addNxCookie(Buffer.from('NXPROXY-3.5.0  ', 'latin1'), COOKIE))).toBe(`NXPROXY-3.5.0 cookie=${COOKIE} `);
  });
});
