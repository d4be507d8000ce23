import type { ResolvedNetwork } from './resolve-network.js';

export interface IpRequest {
  readonly name: string;
  /** Fixed by the spec (already checked to be valid and unique). */
  readonly ip?: number;
  /** What the VM had when last applied. */
  readonly previousIp?: number;
}

export interface IpAllocation {
  readonly ipOf: ReadonlyMap<string, number>;
  /** VMs left without an address: the range is full. */
  readonly exhausted: readonly string[];
}

const byName = (a: IpRequest, b: IpRequest): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Addresses for every VM: fixed ones as written; a VM that had an address
 * from the DHCP range keeps it while nobody else claims it (a changed IP
 * would break its open sessions and DHCP lease); the rest get the lowest
 * free addresses of the range, in name order.
 */
export function allocateIps(vms: readonly IpRequest[], network: ResolvedNetwork): IpAllocation {
  const ipOf = new Map<string, number>();
  const taken = new Set<number>([network.net.network, network.net.broadcast, network.gateway]);
  for (const vm of vms) {
    if (vm.ip === undefined) continue;
    ipOf.set(vm.name, vm.ip);
    taken.add(vm.ip);
  }
  const inRange = (ip: number): boolean => ip >= network.dhcpStart && ip <= network.dhcpEnd;
  const rest: IpRequest[] = [];
  for (const vm of vms.filter((v) => v.ip === undefined).sort(byName)) {
    const previous = vm.previousIp;
    if (previous !== undefined && inRange(previous) && !taken.has(previous)) {
      ipOf.set(vm.name, previous);
      taken.add(previous);
    } else {
      rest.push(vm);
    }
  }
  const exhausted: string[] = [];
  let cursor = network.dhcpStart;
  for (const vm of rest) {
    while (cursor <= network.dhcpEnd && taken.has(cursor)) cursor++;
    if (cursor > network.dhcpEnd) {
      exhausted.push(vm.name);
      continue;
    }
    ipOf.set(vm.name, cursor);
    taken.add(cursor);
  }
  return { ipOf, exhausted };
}
