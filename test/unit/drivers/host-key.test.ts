import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostKeyFromBlob, knownHostsLine, sameFingerprint } from '../../../src/drivers/exec/ssh/host-key.js';

describe('host keys', () => {
  it('fingerprints a key exactly as ssh-keygen -l does, and writes a known_hosts line ssh-keygen can read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'qvd-hostkey-'));
    try {
      for (const type of ['ed25519', 'ecdsa', 'rsa']) {
        const path = join(dir, type);
        execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path]);
        const [algorithm, base64] = readFileSync(`${path}.pub`, 'utf8').trim().split(/\s+/) as [string, string];
        const key = hostKeyFromBlob(Buffer.from(base64, 'base64'));
        const expected = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${path}.pub`], { encoding: 'utf8' }).split(/\s+/)[1];
        expect(key.fingerprint).toBe(expected);
        expect(key.type).toBe(algorithm);
        const knownHosts = join(dir, 'known_hosts');
        writeFileSync(knownHosts, knownHostsLine('10.0.0.5', 2222, key) + knownHostsLine('node.example', 22, key));
        expect(execFileSync('ssh-keygen', ['-F', '[10.0.0.5]:2222', '-f', knownHosts], { encoding: 'utf8' })).toContain(base64);
        expect(execFileSync('ssh-keygen', ['-F', 'node.example', '-f', knownHosts], { encoding: 'utf8' })).toContain(base64);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('compares fingerprints with or without prefix and padding', () => {
    expect(sameFingerprint('SHA256:abc', 'SHA256:abc')).toBe(true);
    expect(sameFingerprint('abc=', 'SHA256:abc')).toBe(true);
    expect(sameFingerprint(' SHA256:abc ', 'SHA256:abd')).toBe(false);
  });
});
