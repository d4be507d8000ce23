import { describe, expect, it } from 'vitest';
import { createPasswordVerifier } from '../../../src/l7r/password-verifier.js';
import { hashPassword, qvdSha256 } from '../../../src/spec/password-hash.js';

describe('password verifier', () => {
  it('checks argon2id off the main thread and qvd-sha256 on it', async () => {
    const verifier = createPasswordVerifier({ threads: 2 });
    try {
      const argon = await hashPassword('correct horse');
      // The event loop keeps turning while two argon2id checks run.
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 5);
      const results = await Promise.all([verifier.verify(argon, 'correct horse'), verifier.verify(argon, 'wrong'), verifier.verify(argon, 'correct horse')]);
      clearInterval(ticker);
      expect(results).toEqual([true, false, true]);
      expect(ticks).toBeGreaterThan(3);
      expect(await verifier.verify(qvdSha256('pw'), 'pw')).toBe(true);
      expect(await verifier.verify(qvdSha256('pw'), 'px')).toBe(false);
      expect(await verifier.verify('not a hash', '')).toBe(false);
    } finally {
      await verifier.close();
    }
  });
});
