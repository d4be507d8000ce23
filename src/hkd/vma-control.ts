/**
 * What the HKD asks of the agent inside a VM. Absent until the VMA exists
 * (NX issue): the stop sequence then starts at the ACPI shutdown.
 */
export interface VmaControl {
  /** Ask the guest to power itself off; false when the agent did not take the request. */
  poweroff(target: { readonly vm: string; readonly ip: string }, signal?: AbortSignal): Promise<boolean>;
}
