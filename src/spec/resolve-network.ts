import { errorAt, warningAt, type Diagnostic } from './diagnostic.js';
import { formatCidr, formatIpv4, inNetwork, parseCidr, parseIpv4, type Ipv4Network } from './ipv4.js';
import type { SpecSettings } from './spec-document.js';

export const DEFAULT_NETWORK_NAME = 'qvd';
export const DEFAULT_BRIDGE = 'qvdbr0';
export const DEFAULT_CIDR = '10.3.15.0/24';

/** The VM network with defaults filled in, addresses as numbers (ipv4.ts). */
export interface ResolvedNetwork {
  readonly name: string;
  readonly bridge: string;
  readonly net: Ipv4Network;
  readonly gateway: number;
  readonly dhcpStart: number;
  readonly dhcpEnd: number;
}

const NETWORK_PATH = ['settings', 'network'] as const;

/**
 * Default DHCP range: .100 to .250 as the original QVD's /24 had it, which
 * generalises to "skip the first 100 addresses (gateway, fixed IPs) and the
 * last 5" so a bigger network gets a bigger range. A network too small for
 * that gets every host address after the gateway.
 */
function defaultRange(net: Ipv4Network, gateway: number): { start: number; end: number } {
  if (net.size >= 256) return { start: net.network + 100, end: net.broadcast - 5 };
  return { start: Math.max(gateway, net.network) + 1, end: net.broadcast - 1 };
}

/** Fills in the network's defaults and checks that its addresses agree with each other. */
export function resolveNetwork(spec: SpecSettings['network']): { network?: ResolvedNetwork; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const cidrText = spec?.cidr ?? DEFAULT_CIDR;
  const parsed = parseCidr(cidrText);
  if (parsed === undefined) return { diagnostics: [errorAt([...NETWORK_PATH, 'cidr'], `settings.network.cidr: ${JSON.stringify(cidrText)} is not an IPv4 network`)] };
  if (parsed.prefix > 30) {
    return {
      diagnostics: [
        errorAt([...NETWORK_PATH, 'cidr'], `settings.network.cidr: ${cidrText} has no room for VMs`, 'A /30 is the smallest network with a gateway and a VM; use /24 or larger for real use.'),
      ],
    };
  }
  const net: Ipv4Network = { network: parsed.network, prefix: parsed.prefix, broadcast: parsed.broadcast, size: parsed.size };
  if (parsed.hostBitsSet) {
    diagnostics.push(
      warningAt([...NETWORK_PATH, 'cidr'], `settings.network.cidr: ${cidrText} has host bits set; it means ${formatCidr(net)}`, `Write ${formatCidr(net)} to say so.`),
    );
  }
  const where = `settings.network`;
  const hostRange = `${formatIpv4(net.network + 1)} to ${formatIpv4(net.broadcast - 1)}`;

  const gateway = spec?.gateway === undefined ? net.network + 1 : (parseIpv4(spec.gateway) ?? net.network + 1);
  if (spec?.gateway !== undefined && (!inNetwork(net, gateway) || gateway === net.network || gateway === net.broadcast)) {
    diagnostics.push(
      errorAt(
        [...NETWORK_PATH, 'gateway'],
        `${where}.gateway: ${spec.gateway} is not a host address of ${formatCidr(net)}`,
        `The gateway must be one of ${hostRange}.`,
      ),
    );
  }

  let { start, end } = defaultRange(net, gateway);
  const range = spec?.dhcp_range;
  if (range !== undefined) {
    start = parseIpv4(range.start) ?? start;
    end = parseIpv4(range.end) ?? end;
    let bad = false;
    for (const [field, value] of [
      ['start', start],
      ['end', end],
    ] as const) {
      if (!inNetwork(net, value) || value === net.network || value === net.broadcast) {
        bad = true;
        diagnostics.push(
          errorAt(
            [...NETWORK_PATH, 'dhcp_range', field],
            `${where}.dhcp_range.${field}: ${range[field]} is not a host address of ${formatCidr(net)}`,
            `The range must lie within ${hostRange}.`,
          ),
        );
      }
    }
    if (!bad && start > end) {
      diagnostics.push(
        errorAt(
          [...NETWORK_PATH, 'dhcp_range'],
          `${where}.dhcp_range: start ${range.start} is after end ${range.end}`,
          'Swap them: start is the lowest address of the range.',
        ),
      );
    }
  }
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  return {
    network: { name: spec?.name ?? DEFAULT_NETWORK_NAME, bridge: spec?.bridge ?? DEFAULT_BRIDGE, net, gateway, dhcpStart: start, dhcpEnd: end },
    diagnostics,
  };
}
