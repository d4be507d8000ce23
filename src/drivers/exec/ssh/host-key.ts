import { createHash } from 'node:crypto';

/** A host key as the SSH server presented it (the raw public key blob). */
export interface HostKey {
  readonly type: string;
  readonly blob: Buffer;
  /** `SHA256:<base64 without padding>`, the form `ssh-keygen -l` prints and the spec holds. */
  readonly fingerprint: string;
}

export function hostKeyFromBlob(blob: Buffer): HostKey {
  return { type: keyTypeOf(blob), blob, fingerprint: fingerprintOf(blob) };
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Spec fingerprints are compared in OpenSSH's form; admins paste them with or
 * without the `SHA256:` prefix and base64 padding, so both are accepted.
 */
export function sameFingerprint(expected: string, actual: string): boolean {
  return normaliseFingerprint(expected) === normaliseFingerprint(actual);
}

export function normaliseFingerprint(value: string): string {
  const trimmed = value.trim().replace(/=+$/, '');
  return trimmed.startsWith('SHA256:') ? trimmed : `SHA256:${trimmed}`;
}

/** The blob starts with its own algorithm name as an SSH string (uint32 length + bytes). */
function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const length = blob.readUInt32BE(0);
  if (length > 64 || blob.length < 4 + length) return 'unknown';
  return blob.subarray(4, 4 + length).toString('latin1');
}

/**
 * One known_hosts line for this host key, in the form libssh and OpenSSH look
 * up: bare host on port 22, `[host]:port` otherwise.
 */
export function knownHostsLine(host: string, port: number, key: HostKey): string {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  const name = port === 22 ? bare : `[${bare}]:${port}`;
  return `${name} ${key.type} ${key.blob.toString('base64')}\n`;
}
