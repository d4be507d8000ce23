import { describe, expect, it } from 'vitest';
import { allocateIps, type IpRequest } from '../../../src/spec/allocate-ips.js';
import { formatIpv4, macForIpv4, parseCidr, parseIpv4 } from '../../../src/spec/ipv4.js';
import type { ResolvedNetwork } from '../../../src/spec/resolve-network.js';

const ip = (text: string): number => parseIpv4(text) ?? Number.NaN;

function network(cidr = '10.3.15.0/24', start = '10.3.15.100', end = '10.3.15.250', gateway = '10.3.15.1'): ResolvedNetwork {
  const net = parseCidr(cidr);
  if (net === undefined) throw new Error(cidr);
  return { name: 'qvd', bridge: 'qvdbr0', net, gateway: ip(gateway), dhcpStart: ip(start), dhcpEnd: ip(end) };
}

const named = (allocation: { ipOf: ReadonlyMap<string, number> }): Record<string, string> =>
  Object.fromEntries([...allocation.ipOf].map(([name, value]) => [name, formatIpv4(value)]));

const asPrevious = (requests: readonly IpRequest[], allocation: { ipOf: ReadonlyMap<string, number> }): IpRequest[] =>
  requests.map((r) => ({ ...r, previousIp: allocation.ipOf.get(r.name) }));

describe('allocateIps', () => {
  it('gives the lowest free addresses of the range in name order, around fixed ones', () => {
    const result = allocateIps([{ name: 'c' }, { name: 'a' }, { name: 'fixed', ip: ip('10.3.15.101') }, { name: 'b' }], network());
    expect(named(result)).toEqual({ fixed: '10.3.15.101', a: '10.3.15.100', b: '10.3.15.102', c: '10.3.15.103' });
  });

  it('keeps previous addresses, so adding a VM renumbers nobody', () => {
    const first = [{ name: 'b' }, { name: 'c' }, { name: 'd' }];
    const before = allocateIps(first, network());
    const after = allocateIps([{ name: 'a' }, ...asPrevious(first, before)], network());
    for (const r of first) expect(after.ipOf.get(r.name)).toBe(before.ipOf.get(r.name));
    expect(formatIpv4(after.ipOf.get('a') ?? 0)).toBe('10.3.15.103');
  });

  it('reuses a freed address for the next new VM', () => {
    const first = [{ name: 'a' }, { name: 'b' }, { name: 'c' }];
    const before = allocateIps(first, network());
    const after = allocateIps([...asPrevious(first, before).filter((r) => r.name !== 'b'), { name: 'z' }], network());
    expect(formatIpv4(after.ipOf.get('z') ?? 0)).toBe('10.3.15.101');
  });

  it('lets a fixed address win over a previous one, and re-allocates the loser', () => {
    const result = allocateIps([{ name: 'old', previousIp: ip('10.3.15.100') }, { name: 'new', ip: ip('10.3.15.100') }], network());
    expect(named(result)).toEqual({ new: '10.3.15.100', old: '10.3.15.101' });
  });

  it('drops previous addresses outside the current range, and never hands out reserved ones', () => {
    const result = allocateIps(
      [{ name: 'a', previousIp: ip('10.3.15.20') }, { name: 'b', previousIp: ip('10.3.16.7') }, { name: 'c' }],
      network('10.3.15.0/29', '10.3.15.0', '10.3.15.7', '10.3.15.1'),
    );
    expect(named(result)).toEqual({ a: '10.3.15.2', b: '10.3.15.3', c: '10.3.15.4' });
  });

  it('reports the VMs left when the range is exhausted', () => {
    const result = allocateIps([{ name: 'a' }, { name: 'b' }, { name: 'c' }], network(undefined, '10.3.15.100', '10.3.15.101'));
    expect(result.exhausted).toEqual(['c']);
  });

  it('allocates 10,000 distinct addresses', () => {
    const requests = Array.from({ length: 10_000 }, (_, i) => ({ name: `vm-${i}` }));
    const result = allocateIps(requests, network('10.16.0.0/16', '10.16.1.0', '10.16.250.255', '10.16.0.1'));
    expect(new Set(result.ipOf.values()).size).toBe(10_000);
  });

  it('derives the MAC from the address as the original QVD does', () => {
    expect(macForIpv4(ip('10.3.15.20'))).toBe('54:52:00:03:0f:14');
    expect(macForIpv4(ip('192.168.255.1'))).toBe('54:52:00:a8:ff:01');
  });
});
