import { errorAt, errorWithRelated, type Diagnostic } from './diagnostic.js';
import { formatCidr, formatIpv4, inNetwork, parseIpv4 } from './ipv4.js';
import type { ResolvedNetwork } from './resolve-network.js';
import type { SpecDocument } from './spec-document.js';

/** Fixed VM addresses: inside the network, not one of its reserved addresses, used once. */
export function checkVmIps(document: SpecDocument, network: ResolvedNetwork): Diagnostic[] {
  const out: Diagnostic[] = [];
  const { net, gateway } = network;
  const usedBy = new Map<number, number>();
  (document.vms ?? []).forEach((vm, i) => {
    if (vm.ip === undefined) return;
    const ip = parseIpv4(vm.ip);
    if (ip === undefined) return;
    const owner = (): string => `vms[${i}] ${JSON.stringify(vm.name)}`;
    const path = ['vms', i, 'ip'];
    if (!inNetwork(net, ip)) {
      out.push(errorAt(path, `${owner()}: ip ${vm.ip} is outside the VM network ${formatCidr(net)}`, `Use an address from ${formatIpv4(net.network + 1)} to ${formatIpv4(net.broadcast - 1)}, or remove ip to have one allocated.`));
      return;
    }
    const reserved = ip === net.network ? 'the network address' : ip === net.broadcast ? 'the broadcast address' : ip === gateway ? 'the gateway' : undefined;
    if (reserved !== undefined) {
      out.push(errorAt(path, `${owner()}: ip ${vm.ip} is ${reserved} of ${formatCidr(net)}`));
      return;
    }
    const earlier = usedBy.get(ip);
    if (earlier !== undefined) {
      out.push(
        errorWithRelated(
          path,
          `${owner()}: ip ${vm.ip} is already given to vms[${earlier}] ${JSON.stringify(document.vms?.[earlier]?.name ?? '')}`,
          `The first use is vms[${earlier}]; each VM needs its own address.`,
          ['vms', earlier, 'ip'],
        ),
      );
      return;
    }
    usedBy.set(ip, i);
  });
  return out;
}
