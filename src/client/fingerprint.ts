import { createHash } from 'node:crypto';

/**
 * A pinned certificate fingerprint in the form we compare: 64 lowercase hex
 * digits. Accepts what people copy from tools: `AB:CD:...` (openssl, Node),
 * bare hex, `sha256:<hex>`, and OpenSSH-style `SHA256:<base64>`.
 * Returns undefined when the text is none of these.
 */
export function normalizeFingerprint(text: string): string | undefined {
  let s = text.trim();
  const prefixed = /^sha-?256:(.*)$/i.exec(s);
  if (prefixed?.[1] !== undefined) s = prefixed[1];
  const hex = s.replace(/:/g, '').toLowerCase();
  if (/^[0-9a-f]{64}$/.test(hex)) return hex;
  if (prefixed !== null && /^[A-Za-z0-9+/]{43}=?$/.test(s)) {
    const bytes = Buffer.from(s, 'base64');
    if (bytes.length === 32) return bytes.toString('hex');
  }
  return undefined;
}

/** SHA-256 of a certificate's DER bytes, as normalizeFingerprint spells it. */
export function certFingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

/** `AB:CD:...`, the way openssl prints it: for messages. */
export function displayFingerprint(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}
