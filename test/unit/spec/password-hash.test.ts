import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { argon2idHash, deterministicSalt, fromOriginalQvdHash, hashPassword, passwordHashKind, qvdSha256, verifyPassword } from '../../../src/spec/password-hash.js';

describe('password hashes', () => {
  it('computes the original QVD hash: base64(sha256("qvd1234" + password)) without padding', () => {
    const independent = createHash('sha256').update('qvd1234secret').digest('base64').replace(/=+$/, '');
    expect(qvdSha256('secret')).toBe(`$qvd-sha256$qvd1234$${independent}`);
    expect(qvdSha256('secret')).toBe('$qvd-sha256$qvd1234$gF7cemH4TAk9hgXhfRbmGsabY4w5p4fdOGj2A4/hK/w');
    expect(qvdSha256('secret', 'pepper')).toBe(`$qvd-sha256$pepper$${createHash('sha256').update('peppersecret').digest('base64').replace(/=+$/, '')}`);
  });

  it('wraps a hash copied from the original database', () => {
    expect(fromOriginalQvdHash('gF7cemH4TAk9hgXhfRbmGsabY4w5p4fdOGj2A4/hK/w=')).toBe(qvdSha256('secret'));
  });

  it('verifies both formats', async () => {
    expect(await verifyPassword(qvdSha256('secret'), 'secret')).toBe(true);
    expect(await verifyPassword(qvdSha256('secret'), 'Secret')).toBe(false);
    const argon = await hashPassword('correct horse');
    expect(argon).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await verifyPassword(argon, 'correct horse')).toBe(true);
    expect(await verifyPassword(argon, 'wrong horse')).toBe(false);
  });

  it('returns false for malformed hashes instead of throwing', async () => {
    expect(await verifyPassword('', 'x')).toBe(false);
    expect(await verifyPassword('$argon2id$v=19$m=1,t=1,p=1$AAAA$BBBB', 'x')).toBe(false);
    expect(await verifyPassword('plaintext', 'plaintext')).toBe(false);
  });

  it('recognises the supported formats', () => {
    expect(passwordHashKind(qvdSha256('x'))).toBe('qvd-sha256');
    expect(passwordHashKind('$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g')).toBe('argon2id');
    expect(passwordHashKind('$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g')).toBeUndefined();
    expect(passwordHashKind('hunter2')).toBeUndefined();
  });

  it('gives a plaintext password the same argon2id hash for the same user, a different one otherwise', async () => {
    const a = await argon2idHash('pw', deterministicSalt('alice', 'default', 'pw'));
    const b = await argon2idHash('pw', deterministicSalt('alice', 'default', 'pw'));
    const c = await argon2idHash('pw', deterministicSalt('alice', 'sales', 'pw'));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(await verifyPassword(a, 'pw')).toBe(true);
  });
});
