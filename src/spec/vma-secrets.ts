import { createHmac, randomBytes } from 'node:crypto';
import type { DesiredState } from './desired-state.js';

/**
 * Per-VM agent (VMA) secrets. Each is HMAC-SHA256(store key, VM name): the
 * store key is made once per store (random, kept in its meta table), so
 * every process that opens the same store (apply, plan, each node's serve)
 * computes the same secret without it ever being written anywhere but the
 * domain definition, and the spec never holds one.
 */
export function deriveVmaSecret(storeKey: string, vm: string): string {
  // Domain-separated, so the key could serve another purpose later without the values colliding.
  return createHmac('sha256', storeKey).update(`qvd vma secret v1\0${vm}`, 'utf8').digest('hex');
}

/** A new store key: 32 random bytes, hex. */
export function newVmaStoreKey(): string {
  return randomBytes(32).toString('hex');
}

/** The desired state with the secrets of the VMs whose image runs the VMA. */
export function withVmaSecrets(desired: DesiredState, storeKey: string): DesiredState {
  const agentImages = new Set(desired.images.filter((i) => i.vma).map((i) => i.key));
  const secrets: Record<string, string> = {};
  for (const vm of desired.vms) if (agentImages.has(vm.image)) secrets[vm.name] = deriveVmaSecret(storeKey, vm.name);
  return { ...desired, vmaSecrets: secrets };
}
