/**
 * IPv4 arithmetic on unsigned 32-bit numbers: comparisons and "next free
 * address" scans stay integer operations instead of string juggling.
 */

const OCTET = /^(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;

export interface Ipv4Network {
  /** Network address (host bits zero). */
  readonly network: number;
  readonly prefix: number;
  readonly broadcast: number;
  /** Number of addresses, network and broadcast included. */
  readonly size: number;
}

/** Parses dotted-quad notation; undefined when it is not a valid address. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function formatIpv4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/**
 * Parses `a.b.c.d/p`. The address part may have host bits set (10.3.15.7/24);
 * `hostBitsSet` tells the caller so it can warn rather than guess.
 */
export function parseCidr(text: string): (Ipv4Network & { readonly hostBitsSet: boolean }) | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = parseIpv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !/^(?:3[0-2]|[12]?[0-9])$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const size = 2 ** (32 - prefix);
  const network = address - (address % size);
  return { network, prefix, broadcast: network + size - 1, size, hostBitsSet: network !== address };
}

export function formatCidr(net: Ipv4Network): string {
  return `${formatIpv4(net.network)}/${net.prefix}`;
}

export function inNetwork(net: Ipv4Network, address: number): boolean {
  return address >= net.network && address <= net.broadcast;
}

/**
 * The MAC the original QVD gives a VM: a fixed prefix plus the address's last
 * three octets, so DHCP reservations and anti-spoofing rules follow from the IP.
 */
export function macForIpv4(address: number): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return `54:52:00:${hex((address >>> 16) & 255)}:${hex((address >>> 8) & 255)}:${hex(address & 255)}`;
}
