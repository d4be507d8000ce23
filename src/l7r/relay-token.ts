import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/**
 * Authentication of the internal relay between two nodes' L7Rs (see
 * relay-client.ts and relay-route.ts). Both hold the cluster's relay key
 * (derived from the store's key, never sent anywhere); users do not.
 *
 * The relaying L7R sends `X-QVD-Relay: v1;from=<node>;ts=<ms>;nonce=<n>;mac=<m>`
 * with m = HMAC(key, from, to, ts, nonce, request target, channel binding).
 * The target names the VM, the session and the user, so a token opens
 * exactly that; the channel binding is TLS keying material of the very
 * connection (RFC 5705 exporter), which differs on every connection and
 * which a man in the middle cannot share with both ends: a token cannot be
 * replayed on another connection, and a proxy in between cannot forward it.
 * Within the time window a nonce is accepted once. The answering L7R proves
 * itself with a MAC over the nonce and the same binding in its 101.
 */

const VERSION = 'v1';
const BINDING_LABEL = 'EXPORTER-qvd-l7r-relay';

/** TLS keying material both ends of this connection compute alike (32 bytes). */
export function channelBinding(socket: TLSSocket): Buffer {
  return socket.exportKeyingMaterial(32, BINDING_LABEL, Buffer.alloc(0));
}

export interface RelayClaims {
  /** Node of the L7R that relays (the user's connection is there). */
  readonly from: string;
  /** Node of the L7R asked to pipe to its VM. */
  readonly to: string;
  /** The request target as sent (`/qvd/relay?...`). */
  readonly target: string;
}

export interface SignedRelay {
  readonly header: string;
  readonly nonce: string;
}

export function signRelay(key: Buffer, claims: RelayClaims, binding: Buffer, now: number = Date.now(), nonce: string = randomBytes(16).toString('base64url')): SignedRelay {
  const ts = String(Math.floor(now));
  const mac = requestMac(key, claims, ts, nonce, binding);
  return { header: `${VERSION};from=${encodeURIComponent(claims.from)};ts=${ts};nonce=${nonce};mac=${mac}`, nonce };
}

/** What the answering L7R puts in its 101 as `X-QVD-Relay-Proof`. */
export function relayProof(key: Buffer, nonce: string, binding: Buffer): string {
  return mac(key, ['qvd l7r relay v1 accept', nonce, binding.toString('hex')]);
}

export function checkRelayProof(key: Buffer, nonce: string, binding: Buffer, proof: string | undefined): boolean {
  return proof !== undefined && sameText(proof, relayProof(key, nonce, binding));
}

export type RelayVerdict = { readonly ok: true; readonly from: string; readonly nonce: string } | { readonly ok: false; readonly reason: string };

export interface RelayVerifierOptions {
  /** How far a token's time may be from this node's clock, either way (nodes keep time with NTP). */
  readonly windowMs?: number;
  /** Nonces remembered at most; past it, new tokens are refused until old ones age out. */
  readonly maxNonces?: number;
  readonly now?: () => number;
}

/** Checks relay tokens on the answering side; remembers nonces for the time window. */
export class RelayVerifier {
  readonly #key: Buffer;
  readonly #windowMs: number;
  readonly #maxNonces: number;
  readonly #now: () => number;
  /** Nonce → when it may be forgotten; in arrival order, which is about expiry order (one window for all): one kept too long costs only memory. */
  readonly #seen = new Map<string, number>();

  constructor(key: Buffer, options: RelayVerifierOptions = {}) {
    this.#key = key;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#maxNonces = options.maxNonces ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  verify(header: string | undefined, expected: { readonly to: string; readonly target: string }, binding: Buffer): RelayVerdict {
    if (header === undefined) return { ok: false, reason: 'no relay token' };
    const fields = parseToken(header);
    if (fields === undefined) return { ok: false, reason: 'malformed relay token' };
    const { from, ts, nonce, mac: given } = fields;
    const now = this.#now();
    const at = Number(ts);
    if (at < now - this.#windowMs) return { ok: false, reason: 'expired relay token' };
    if (at > now + this.#windowMs) return { ok: false, reason: 'relay token from the future (clocks apart?)' };
    const wanted = requestMac(this.#key, { from, to: expected.to, target: expected.target }, ts, nonce, binding);
    if (!sameText(given, wanted)) return { ok: false, reason: 'bad relay token' };
    this.#forgetExpired(now);
    if (this.#seen.has(nonce)) return { ok: false, reason: 'replayed relay token' };
    if (this.#seen.size >= this.#maxNonces) return { ok: false, reason: 'too many relay tokens in the window' };
    // Kept until the token could no longer pass the time check anyway.
    this.#seen.set(nonce, at + this.#windowMs);
    return { ok: true, from, nonce };
  }

  #forgetExpired(now: number): void {
    for (const [nonce, until] of this.#seen) {
      if (until > now) break;
      this.#seen.delete(nonce);
    }
  }
}

function parseToken(header: string): { from: string; ts: string; nonce: string; mac: string } | undefined {
  const [version, ...parts] = header.trim().split(';');
  if (version !== VERSION) return undefined;
  const fields = new Map<string, string>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0 || fields.has(part.slice(0, eq))) return undefined;
    fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const ts = fields.get('ts');
  const nonce = fields.get('nonce');
  const given = fields.get('mac');
  const rawFrom = fields.get('from');
  if (ts === undefined || !/^[0-9]{1,16}$/.test(ts)) return undefined;
  if (nonce === undefined || !/^[A-Za-z0-9_-]{16,64}$/.test(nonce)) return undefined;
  if (given === undefined || !/^[A-Za-z0-9_-]{43}$/.test(given)) return undefined;
  if (rawFrom === undefined || rawFrom === '') return undefined;
  let from: string;
  try {
    from = decodeURIComponent(rawFrom);
  } catch {
    return undefined;
  }
  return { from, ts, nonce, mac: given };
}

function requestMac(key: Buffer, claims: RelayClaims, ts: string, nonce: string, binding: Buffer): string {
  return mac(key, ['qvd l7r relay v1 request', claims.from, claims.to, ts, nonce, claims.target, binding.toString('hex')]);
}

/** Fields joined with NUL, which none of them may hold (node names, a request target, base64url, hex). */
function mac(key: Buffer, fields: readonly string[]): string {
  return createHmac('sha256', key).update(fields.join('\0'), 'utf8').digest('base64url');
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
