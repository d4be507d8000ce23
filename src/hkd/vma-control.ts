import type { XStateResult } from '../vma/vma-api.js';

/** One VM's agent: where it is (reachable from this node) and its secret. */
export interface VmaTarget {
  readonly vm: string;
  readonly ip: string;
  readonly secret: string;
}

/**
 * What the node side (HKD, L7R backend) asks of the agent inside a VM.
 * Only VMs whose image runs the VMA (and so have a secret) are asked; the
 * others start and stop without it (port probe, ACPI).
 */
export interface VmaControl {
  /** Resolves when the agent answers; throws otherwise. */
  ping(target: VmaTarget): Promise<void>;
  xState(target: VmaTarget): Promise<XStateResult>;
  /** `params`: the client's `qvd.client.*` parameters plus `user` and `cookie`. */
  xStart(target: VmaTarget, params: Readonly<Record<string, string>>): Promise<XStateResult>;
  /** Ask the guest to power itself off: true once the agent took the request; throws when it could not be asked. */
  poweroff(target: VmaTarget): Promise<boolean>;
}
