import { isIPv4, isIPv6 } from 'node:net';

/**
 * Who a connection counts against: an IPv4 address (IPv4-mapped IPv6
 * included), or the /64 of an IPv6 address, since one host or LAN gets a
 * whole /64 and can pick addresses from it freely.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return address;
  return `${expandIpv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight hextets of a valid IPv6 address, without leading zeros (zone dropped). */
function expandIpv6(address: string): string[] {
  const bare = address.split('%')[0]!;
  const [head, tail] = bare.includes('::') ? bare.split('::') : [bare, undefined];
  const words = (part: string | undefined): string[] => {
    if (part === undefined || part === '') return [];
    const out: string[] = [];
    for (const word of part.split(':')) {
      if (word.includes('.')) {
        // An embedded IPv4 tail (::1.2.3.4) is the last two hextets.
        const [a, b, c, d] = word.split('.').map(Number) as [number, number, number, number];
        out.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
      } else out.push(parseInt(word, 16).toString(16));
    }
    return out;
  };
  const front = words(head);
  const back = words(tail);
  return tail === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
}

/**
 * Open connections per client address (see addressKey), counted from TCP
 * accept so that handshakes count too. A connection is identified by its
 * remote address and port, which is what both the TCP socket and the TLS
 * socket on top of it report. `limit` 0: no cap. Connections are counted
 * even then, so that a limit set later (a reloaded spec) is exact at once.
 */
export class AddressCap {
  private readonly open = new Map<string, number>();
  private readonly holders = new Map<string, string>();

  constructor(public limit: number) {}

  /** Counts the connection in, or answers the key it was refused for. */
  admit(address: string | undefined, port: number | undefined): { readonly ok: true } | { readonly ok: false; readonly key: string; readonly open: number } {
    if (address === undefined) return { ok: true };
    const key = addressKey(address);
    const open = this.open.get(key) ?? 0;
    if (this.limit > 0 && open >= this.limit) return { ok: false, key, open };
    this.open.set(key, open + 1);
    this.holders.set(`${address}|${port}`, key);
    return { ok: true };
  }

  /** Stops counting a connection (closed, or a relay from another node); idempotent. */
  release(address: string | undefined, port: number | undefined): void {
    const holder = `${address}|${port}`;
    const key = this.holders.get(holder);
    if (key === undefined) return;
    this.holders.delete(holder);
    const open = (this.open.get(key) ?? 1) - 1;
    if (open <= 0) this.open.delete(key);
    else this.open.set(key, open);
  }

  /** Connections counted against the key of `address` now. */
  count(address: string): number {
    return this.open.get(addressKey(address)) ?? 0;
  }
}
