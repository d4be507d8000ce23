/**
 * IPv4 arithmetic on unsigned 32-bit numbers: comparisons and "next free
 * address" scans stay integer operations instead of string juggling.
 */

export interface Ipv4Network {
  /** Network address (host bits zero). */
  readonly network: number;
  readonly prefix: number;
  readonly broadcast: number;
  /** Number of addresses, network and broadcast included. */
  readonly size: number;
}

/**
 * Parses dotted-quad notation (no leading zeros, each octet 0-255); undefined
 * when it is not a valid address. A character scan: resolve parses every VM's
 * address on every plan.
 */
export function parseIpv4(text: string): number | undefined {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      digits++;
      if (octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + octet;
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

const HEX: readonly string[] = Array.from({ length: 256 }, (_, n) => n.toString(16).padStart(2, '0'));

/**
 * The MAC the original QVD gives a VM: a fixed prefix plus the address's last
 * three octets, so DHCP reservations and anti-spoofing rules follow from the IP.
 */
export function macForIpv4(address: number): string {
  return `54:52:00:${HEX[(address >>> 16) & 255]}:${HEX[(address >>> 8) & 255]}:${HEX[address & 255]}`;
}
