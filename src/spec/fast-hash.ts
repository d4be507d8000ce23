/**
 * Non-cryptographic 32-bit hashing for placement: stable across runs and
 * platforms (placement must not change because Node changed), and cheap
 * enough for 10,000 VMs x 100 nodes.
 */

/** FNV-1a over UTF-16 code units. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** murmur3's finaliser: spreads every input bit over the output. */
export function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The rendezvous weight of a (VM, node) pair from their names' hashes.
 * Mixing the node's hash before combining keeps nodes with related names
 * (node-1, node-2) from giving related weights.
 */
export function pairWeight(vmHash: number, nodeHash: number): number {
  return pairWeightMixed(vmHash, mixNode(nodeHash));
}

/** The node half of pairWeight, computed once per node. */
export function mixNode(nodeHash: number): number {
  return mix32(nodeHash + 0x9e3779b9);
}

/** pairWeight with the node half precomputed by mixNode. */
export function pairWeightMixed(vmHash: number, mixedNodeHash: number): number {
  return mix32(vmHash ^ mixedNodeHash);
}
