import type { ObservedNetwork } from '../observed-state.js';
import { attr, child, children, childText, parseXml, XmlParseError } from './xml-tree.js';

/** The parts of a network's XML qvd manages; `active`/`autostart` come from elsewhere (net-info). */
export type NetworkDefinition = Omit<ObservedNetwork, 'active' | 'autostart'>;

export function parseNetworkXml(xml: string): NetworkDefinition {
  const network = parseXml(xml, 'network');
  const name = childText(network, 'name');
  if (name === undefined || name === '') throw new XmlParseError('network XML has no <name>');
  // qvd networks carry one IPv4 <ip>; an IPv6 one, if someone added it, is not ours to compare.
  const ip = children(network, 'ip').find((candidate) => (attr(candidate, 'family') ?? 'ipv4') === 'ipv4');
  const dhcp = child(ip, 'dhcp');
  const range = child(dhcp, 'range');
  const address = attr(ip, 'address');
  const prefix = attr(ip, 'prefix') ?? netmaskToPrefix(attr(ip, 'netmask'));
  const result: { -readonly [K in keyof NetworkDefinition]: NetworkDefinition[K] } = {
    name,
    bridge: attr(child(network, 'bridge'), 'name') ?? '',
    forward: child(network, 'forward') !== undefined,
    hosts: children(dhcp, 'host').map((host) => {
      const entry: { mac: string; ip: string; name?: string } = { mac: (attr(host, 'mac') ?? '').toLowerCase(), ip: attr(host, 'ip') ?? '' };
      const hostName = attr(host, 'name');
      if (hostName !== undefined) entry.name = hostName;
      return entry;
    // net-update appends, a define keeps the written order: sorted by MAC, the same hosts always read the same.
    }).sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0)),
  };
  if (address !== undefined) result.address = address;
  if (prefix !== undefined && prefix !== '') result.prefix = Number(prefix);
  const start = attr(range, 'start');
  const end = attr(range, 'end');
  if (start !== undefined && end !== undefined) result.dhcpRange = { start, end };
  return result;
}

function netmaskToPrefix(netmask: string | undefined): string | undefined {
  if (netmask === undefined) return undefined;
  const bits = netmask.split('.').map(Number).map((octet) => octet.toString(2).split('').filter((b) => b === '1').length);
  return String(bits.reduce((sum, b) => sum + b, 0));
}
