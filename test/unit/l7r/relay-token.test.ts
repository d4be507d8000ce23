import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkRelayProof, relayProof, RelayVerifier, signRelay } from '../../../src/l7r/relay-token.js';

const KEY = randomBytes(32);
const BINDING = randomBytes(32);
const TARGET = '/qvd/relay_to_vm?id=7&session=s-1&user=ann&login=ann&qvd.client.os=linux';
const CLAIMS = { from: 'node-a', to: 'node-b', target: TARGET };
const EXPECTED = { to: 'node-b', target: TARGET };
const NOW = 1_800_000_000_000;

function verifier(now = NOW): RelayVerifier {
  return new RelayVerifier(KEY, { windowMs: 60_000, now: () => now });
}

describe('relay tokens between L7Rs', () => {
  it('accepts a token made with the cluster key for this node, target and connection, and says who relays', () => {
    const { header, nonce } = signRelay(KEY, CLAIMS, BINDING, NOW);
    expect(verifier().verify(header, EXPECTED, BINDING)).toEqual({ ok: true, from: 'node-a', nonce });
  });

  it('refuses a forged token: another key, or a MAC that was altered', () => {
    const other = signRelay(randomBytes(32), CLAIMS, BINDING, NOW).header;
    expect(verifier().verify(other, EXPECTED, BINDING)).toEqual({ ok: false, reason: 'bad relay token' });
    const { header } = signRelay(KEY, CLAIMS, BINDING, NOW);
    const mac = header.slice(header.indexOf('mac=') + 4);
    const flipped = header.replace(`mac=${mac}`, `mac=${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`);
    expect(verifier().verify(flipped, EXPECTED, BINDING)).toEqual({ ok: false, reason: 'bad relay token' });
  });

  it('refuses a token for another VM, session or user (the target is signed), for another node, or claiming another sender', () => {
    const { header } = signRelay(KEY, CLAIMS, BINDING, NOW);
    for (const target of [TARGET.replace('id=7', 'id=8'), TARGET.replace('session=s-1', 'session=s-2'), TARGET.replace('user=ann', 'user=bob')]) {
      expect(verifier().verify(header, { to: 'node-b', target }, BINDING)).toEqual({ ok: false, reason: 'bad relay token' });
    }
    expect(verifier().verify(header, { to: 'node-c', target: TARGET }, BINDING)).toEqual({ ok: false, reason: 'bad relay token' });
    expect(verifier().verify(header.replace('from=node-a', 'from=node-c'), EXPECTED, BINDING)).toEqual({ ok: false, reason: 'bad relay token' });
  });

  it('refuses a token presented on another TLS connection (other keying material)', () => {
    const { header } = signRelay(KEY, CLAIMS, BINDING, NOW);
    expect(verifier().verify(header, EXPECTED, randomBytes(32))).toEqual({ ok: false, reason: 'bad relay token' });
  });

  it('refuses an expired token and one from too far in the future', () => {
    const old = signRelay(KEY, CLAIMS, BINDING, NOW - 61_000).header;
    expect(verifier().verify(old, EXPECTED, BINDING)).toEqual({ ok: false, reason: 'expired relay token' });
    const ahead = signRelay(KEY, CLAIMS, BINDING, NOW + 61_000).header;
    expect(verifier().verify(ahead, EXPECTED, BINDING).ok).toBe(false);
    // Within the window either way, clocks a little apart are fine.
    expect(verifier().verify(signRelay(KEY, CLAIMS, BINDING, NOW - 59_000).header, EXPECTED, BINDING).ok).toBe(true);
    expect(verifier().verify(signRelay(KEY, CLAIMS, BINDING, NOW + 59_000).header, EXPECTED, BINDING).ok).toBe(true);
  });

  it('refuses a replayed token, and forgets nonces once their tokens would be expired anyway', () => {
    let now = NOW;
    const v = new RelayVerifier(KEY, { windowMs: 60_000, now: () => now });
    const { header } = signRelay(KEY, CLAIMS, BINDING, NOW);
    expect(v.verify(header, EXPECTED, BINDING).ok).toBe(true);
    expect(v.verify(header, EXPECTED, BINDING)).toEqual({ ok: false, reason: 'replayed relay token' });
    now = NOW + 61_000;
    expect(v.verify(header, EXPECTED, BINDING)).toEqual({ ok: false, reason: 'expired relay token' });
    // The expired nonce was dropped: a fresh token is still accepted.
    expect(v.verify(signRelay(KEY, CLAIMS, BINDING, now).header, EXPECTED, BINDING).ok).toBe(true);
  });

  it('refuses missing and malformed tokens without throwing', () => {
    const v = verifier();
    for (const header of [undefined, '', 'v1', 'v2;from=a;ts=1;nonce=AAAAAAAAAAAAAAAAAAAAAA;mac=x', 'v1;from=a;ts=abc;nonce=AAAAAAAAAAAAAAAAAAAAAA;mac=' + 'A'.repeat(43), 'v1;from=%E0%A4%A;ts=1;nonce=AAAAAAAAAAAAAAAAAAAAAA;mac=' + 'A'.repeat(43), 'v1;ts=1;ts=2']) {
      expect(v.verify(header, EXPECTED, BINDING).ok, String(header)).toBe(false);
    }
  });

  it('proves the answering L7R holds the key, for this nonce and connection only', () => {
    const proof = relayProof(KEY, 'nonce-1', BINDING);
    expect(checkRelayProof(KEY, 'nonce-1', BINDING, proof)).toBe(true);
    expect(checkRelayProof(KEY, 'nonce-2', BINDING, proof)).toBe(false);
    expect(checkRelayProof(KEY, 'nonce-1', randomBytes(32), proof)).toBe(false);
    expect(checkRelayProof(randomBytes(32), 'nonce-1', BINDING, proof)).toBe(false);
    expect(checkRelayProof(KEY, 'nonce-1', BINDING, undefined)).toBe(false);
  });
});
