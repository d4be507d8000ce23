import { describe, expect, it } from 'vitest';
import { authExtraParameters } from '../../../src/l7r/auth-extra-headers.js';
import { parseAuthorization } from '../../../src/l7r/credentials.js';
import { escapeDnValue, fillDnTemplate } from '../../../src/l7r/ldap-dn.js';
import { parseLogin } from '../../../src/l7r/parse-login.js';
import { headerHasToken, parseRequestHead } from '../../../src/l7r/request-head.js';
import { parseRequestTarget } from '../../../src/l7r/request-target.js';
import { checkSessionParams, parseVmId } from '../../../src/l7r/session-params.js';
import { isSlaveKey, newSlaveKey } from '../../../src/l7r/slave-key.js';

const LIMITS = { maxHeaderBytes: 1024, maxHeaders: 5 };
const parse = (text: string) => parseRequestHead(Buffer.from(text, 'latin1'), LIMITS);

describe('parseRequestHead', () => {
  it('parses a request with CRLF or bare LF lines, keeping header names as sent', () => {
    const text = 'GET /qvd/ping HTTP/1.1\r\nAuthorization: Basic eA==\r\nX-Odd:  spaced value \t\r\n\r\nNEXT';
    const parsed = parse(text);
    expect(parsed).toEqual({
      kind: 'head',
      head: { method: 'GET', target: '/qvd/ping', headers: [['Authorization', 'Basic eA=='], ['X-Odd', 'spaced value']] },
      consumed: text.length - 4,
    });
    expect(parse('GET / HTTP/1.1\nA: b\n\n')).toMatchObject({ kind: 'head', consumed: 21 });
    expect(parse('\r\n\r\nGET / HTTP/1.1\r\n\r\n')).toMatchObject({ kind: 'head', consumed: 22 });
  });

  it('waits for more bytes at every split point', () => {
    const text = 'GET /qvd/ping HTTP/1.1\r\nA: b\r\n\r\n';
    for (let cut = 0; cut < text.length; cut++) expect(parse(text.slice(0, cut)).kind).toBe('incomplete');
    expect(parse(text).kind).toBe('head');
  });

  it('says 505 for other versions, 400 for garbage, 431 when too large', () => {
    expect(parse('GET / HTTP/1.0\r\n\r\n')).toMatchObject({ kind: 'error', status: 505 });
    expect(parse('GET / HTTP/2.0\r\n\r\n')).toMatchObject({ kind: 'error', status: 505 });
    expect(parse('GET /\r\n\r\n')).toMatchObject({ kind: 'error', status: 505 });
    expect(parse('\x16\x03\x01')).toMatchObject({ kind: 'error', status: 400 });
    expect(parse('GET  HTTP/1.1\r\n\r\n')).toMatchObject({ kind: 'error', status: 400 });
    expect(parse('GET / HTTP/1.1\r\nNo colon\r\n\r\n')).toMatchObject({ kind: 'error', status: 400 });
    expect(parse('GET / HTTP/1.1\r\nBad Name: x\r\n\r\n')).toMatchObject({ kind: 'error', status: 400 });
    expect(parse('GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n')).toMatchObject({ kind: 'error', status: 400 });
    expect(parse('GET / HTTP/1.1\r\nA: b\rc\r\n\r\n')).toMatchObject({ kind: 'error', status: 400 });
    expect(parse(`GET / HTTP/1.1\r\nA: ${'x'.repeat(1100)}\r\n\r\n`)).toMatchObject({ kind: 'error', status: 431 });
    expect(parse(`GET / HTTP/1.1\r\nA: ${'x'.repeat(1100)}`)).toMatchObject({ kind: 'error', status: 431 });
    expect(parse(`GET / HTTP/1.1\r\n${'A: b\r\n'.repeat(6)}\r\n`)).toMatchObject({ kind: 'error', status: 431 });
  });

  it('finds tokens in Connection', () => {
    const parsed = parse('GET / HTTP/1.1\r\nconnection: keep-alive, Upgrade\r\n\r\n');
    if (parsed.kind !== 'head') throw new Error('not parsed');
    expect(headerHasToken(parsed.head, 'Connection', 'upgrade')).toBe(true);
    expect(headerHasToken(parsed.head, 'Connection', 'close')).toBe(false);
  });
});

describe('parseRequestTarget', () => {
  it('splits path and decodes parameters the way the original client encodes them', () => {
    const target = parseRequestTarget('/qvd/connect_to_vm?qvd.client.keyboard=pc105%2Fes&id=7&qvd.client.fullscreen=&custom.a+b=c+d&flag');
    expect(target?.path).toBe('/qvd/connect_to_vm');
    expect(Object.fromEntries(target?.params ?? [])).toEqual({ 'qvd.client.keyboard': 'pc105/es', id: '7', 'qvd.client.fullscreen': '', 'custom.a b': 'c d', flag: '' });
    expect(parseRequestTarget('/qvd/list_of_vm?')).toEqual({ path: '/qvd/list_of_vm', params: new Map() });
    expect(parseRequestTarget('https://10.0.0.1:8443/qvd/ping')?.path).toBe('/qvd/ping');
    expect(parseRequestTarget('/x?a=%zz')).toBeUndefined();
    expect(parseRequestTarget('*')).toBeUndefined();
  });

  it('checks connect parameters: 422 without id, 403 for foreign names', () => {
    expect(checkSessionParams(new Map([['qvd.client.os', 'linux']]))).toEqual({ status: 422, message: 'parameter id is missing' });
    expect(checkSessionParams(new Map([['id', '1'], ['file_name', 'x'], ['qvd.clientx', 'y']]))).toEqual({ status: 403, message: 'Invalid parameters file_name qvd.clientx' });
    expect(checkSessionParams(new Map([['id', '1'], ['custom.foo', 'x'], ['qvd.client.os', 'y']]))).toBeUndefined();
    expect(parseVmId('42')).toBe(42);
    expect(parseVmId('4e2')).toBeUndefined();
    expect(parseVmId('-1')).toBeUndefined();
  });
});

describe('logins and credentials', () => {
  it('splits the tenant at the last @ or #', () => {
    expect(parseLogin('ann')).toEqual({ login: 'ann', tenant: 'default' });
    expect(parseLogin('ann@acme')).toEqual({ login: 'ann', tenant: 'acme' });
    expect(parseLogin('ann#acme')).toEqual({ login: 'ann', tenant: 'acme' });
    expect(parseLogin('ann@example.org@acme')).toEqual({ login: 'ann@example.org', tenant: 'acme' });
    expect(parseLogin('ann@')).toBeUndefined();
    expect(parseLogin('@acme')).toBeUndefined();
  });

  it('reads Basic (password may hold colons) and Bearer (base64 or raw)', () => {
    const encode = (text: string): string => Buffer.from(text).toString('base64');
    expect(parseAuthorization(`Basic ${encode('ann#acme:pa:ss')}`)).toEqual({ kind: 'basic', rawLogin: 'ann#acme', login: 'ann', tenant: 'acme', password: 'pa:ss' });
    expect(parseAuthorization(`basic ${encode('Jürgen:pässword')}`)).toMatchObject({ login: 'Jürgen', password: 'pässword' });
    expect(parseAuthorization(`Basic ${encode(':nologin')}`)).toMatchObject({ kind: 'malformed' });
    expect(parseAuthorization('Basic !!!')).toMatchObject({ kind: 'malformed' });
    expect(parseAuthorization('Digest x')).toMatchObject({ kind: 'malformed' });
    expect(parseAuthorization(undefined)).toEqual({ kind: 'none' });
    expect(parseAuthorization(`Bearer ${encode('tok-123')}`)).toEqual({ kind: 'bearer', tokens: ['tok-123', encode('tok-123')] });
    expect(parseAuthorization('Bearer raw.token-with_chars')).toEqual({ kind: 'bearer', tokens: ['raw.token-with_chars'] });
  });

  it('decodes Auth-<hex> parameters and skips malformed ones', () => {
    const head = {
      method: 'GET',
      target: '/',
      headers: [
        [`Auth-${Buffer.from('otp').toString('hex')}`, Buffer.from('123456').toString('base64')],
        [`auth-${Buffer.from('Site').toString('hex').toUpperCase()}`, Buffer.from('hq').toString('base64')],
        ['Auth-xyz', 'AAAA'],
        ['Auth-6f', '***'],
      ] as const,
    };
    expect(authExtraParameters(head)).toEqual({ otp: '123456', Site: 'hq' });
  });

  it('escapes DN values so a login cannot change the bind DN', () => {
    expect(escapeDnValue('a,ou=admins')).toBe('a\\,ou\\=admins');
    expect(escapeDnValue(' #x ')).toBe('\\ #x\\ ');
    expect(fillDnTemplate('uid=%u,ou=%t,dc=x', 'ann+1', 'acme')).toBe('uid=ann\\+1,ou=acme,dc=x');
  });

  it('makes slave keys of 64 alphanumerics', () => {
    const keys = new Set(Array.from({ length: 100 }, () => newSlaveKey()));
    expect(keys.size).toBe(100);
    for (const key of keys) expect(isSlaveKey(key)).toBe(true);
    expect(isSlaveKey(`${'a'.repeat(63)}\n`)).toBe(false);
  });
});
