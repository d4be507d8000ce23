import { createHmac } from 'node:crypto';

/**
 * The key the nodes' L7Rs authenticate relays with (src/l7r/relay-token.ts):
 * derived from the store's key, which every node's serve reads from the
 * shared store, so the cluster agrees on it without configuration and it
 * is never written anywhere. Domain-separated from the VMA secrets derived
 * from the same key.
 */
export function deriveRelayKey(storeKey: string): Buffer {
  return createHmac('sha256', storeKey).update('qvd l7r relay key v1', 'utf8').digest();
}
