import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CERT_FILE, ensureTlsMaterial, KEY_FILE } from '../../../src/l7r/tls-material.js';

describe('ensureTlsMaterial', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('generates a self-signed P-256 pair once, key 0600, and reuses it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'qvd-tls-test-'));
    const target = join(dir, 'l7r');
    const first = await ensureTlsMaterial(target, { altNames: ['DNS:vdi.example.org', 'IP:127.0.0.1'] });
    expect(first.generated).toBe(true);
    expect(first.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const cert = new X509Certificate(first.cert);
    expect(cert.subject).toBe('CN=qvd');
    expect(cert.subjectAltName).toContain('DNS:vdi.example.org');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(first.key))).toBe(true);
    expect((await stat(join(target, KEY_FILE))).mode & 0o777).toBe(0o600);
    expect((await stat(join(target, CERT_FILE))).isFile()).toBe(true);

    const again = await ensureTlsMaterial(target);
    expect(again).toEqual({ ...first, generated: false });
  });

  it('makes one pair when several callers race', async () => {
    dir = await mkdtemp(join(tmpdir(), 'qvd-tls-test-'));
    const results = await Promise.all(Array.from({ length: 4 }, () => ensureTlsMaterial(dir!)));
    expect(new Set(results.map((result) => result.fingerprint)).size).toBe(1);
    expect(results.filter((result) => result.generated).length).toBe(1);
  });
});
