import { afterEach, describe, expect, it } from 'vitest';
import { base32Decode, hotp, matchTotp } from '../../../src/l7r/totp.js';
import { TotpChecker } from '../../../src/l7r/totp-checker.js';
import { RawTlsClient } from './support/raw-tls-client.js';
import { basic, request, startHarness, type Harness } from './support/l7r-harness.js';

// RFC 6238 appendix B: the SHA-1 seed "12345678901234567890" (base32 below).
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';

describe('TOTP', () => {
  it('matches the RFC 6238 test vectors (last 6 digits)', () => {
    const key = base32Decode(RFC_SECRET)!;
    expect(key.toString()).toBe('12345678901234567890');
    const vectors: Array<[number, string]> = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
    ];
    for (const [seconds, code] of vectors) {
      expect(hotp(key, Math.floor(seconds / 30), 8)).toBe(code);
      expect(matchTotp(key, code.slice(-6), seconds * 1000)).toBe(Math.floor(seconds / 30));
    }
  });

  it('accepts one step of drift either way and nothing further', () => {
    const key = base32Decode(RFC_SECRET)!;
    const now = 1_700_000_000_000;
    const step = Math.floor(now / 30_000);
    expect(matchTotp(key, hotp(key, step - 1), now)).toBe(step - 1);
    expect(matchTotp(key, hotp(key, step + 1), now)).toBe(step + 1);
    expect(matchTotp(key, hotp(key, step + 2), now)).toBeUndefined();
    expect(matchTotp(key, '12345', now)).toBeUndefined();
  });

  it('refuses a replayed code', () => {
    const now = 1_700_000_000_000;
    const checker = new TotpChecker(() => now);
    const code = hotp(base32Decode(RFC_SECRET)!, Math.floor(now / 30_000));
    const first = checker.check('ann@default', RFC_SECRET, `pass${code}`);
    expect(first).toMatchObject({ ok: true, password: 'pass' });
    if (first.ok) checker.accept('ann@default', first.step);
    expect(checker.check('ann@default', RFC_SECRET, `pass${code}`)).toEqual({ ok: false, reason: 'totp-code-reused' });
  });

  describe('through the L7R with the built-in provider', () => {
    let h: Harness | undefined;
    afterEach(async () => {
      await h?.close();
    });

    it('needs the current code appended to the password', async () => {
      h = await startHarness({ setup: (backend) => backend.addUser({ login: 'otp', tenant: 'default', password: 'pw', totpSecret: RFC_SECRET }) });
      const code = hotp(base32Decode(RFC_SECRET)!, Math.floor(Date.now() / 30_000));
      const client = await RawTlsClient.connect(h.port);
      for (const [password, status] of [['pw', 401], [`pw${code === '000000' ? '111111' : '000000'}`, 401], [`wrong${code}`, 401], [`pw${code}`, 200], [`pw${code}`, 401]] as const) {
        // A fresh connection each time: a connection reuses credentials it proved.
        const fresh = await RawTlsClient.connect(h.port);
        fresh.send(request('/qvd/authenticate_user', [['Authorization', basic('otp', password)]]));
        expect((await fresh.readResponse()).status).toBe(status);
        fresh.close();
      }
      client.close();
      expect(h.logs.filter((line) => line.msg === 'login refused').map((line) => line.reason)).toEqual([
        'totp-code-missing',
        'totp-code-wrong',
        'bad-password',
        'totp-code-reused',
      ]);
    });
  });
});
