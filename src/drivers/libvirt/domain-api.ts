import type { DomainPower } from '../observed-state.js';

/**
 * The domain power operations the driver needs (defines and undefines go
 * through virsh, in batches), each already idempotent at this level
 * (missing or already-in-state is not an error). The real one is the
 * @unraid/libvirt binding; keeping it behind this seam keeps the binding's
 * quirks (code -1 errors, Domain handles tied to one connection) in one file.
 */
export interface DomainApi {
  /** `absent` when no domain has this name. */
  state(name: string): Promise<DomainPower | 'absent'>;
  uuid(name: string): Promise<string | undefined>;
  /** Start a defined domain; resume it when paused. */
  start(name: string): Promise<void>;
  /** ACPI shutdown request; returns at once. */
  shutdown(name: string): Promise<void>;
  /** Immediate power off. */
  destroy(name: string): Promise<void>;
  close(): Promise<void>;
}
