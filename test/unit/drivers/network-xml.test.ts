import { describe, expect, it } from 'vitest';
import { parseNetworkXml } from '../../../src/drivers/libvirt/network-xml.js';
import { networkXml } from './test-xml.js';

describe('parseNetworkXml', () => {
  it('reads libvirt\'s net-dumpxml: bridge, gateway, prefix, range, hosts sorted by MAC, no forward', () => {
    const xml = `<network>
  <name>qvd</name>
  <uuid>0df44c1a-a215-4dd7-8f7c-1a19b7dbf5f7</uuid>
  <bridge name='qvdbr0' stp='on' delay='0'/>
  <mac address='52:54:00:35:2a:95'/>
  <ip address='10.238.109.1' prefix='24'>
    <dhcp>
      <range start='10.238.109.100' end='10.238.109.199'/>
      <host mac='52:54:00:22:9B:02' name='vm2' ip='10.238.109.12'/>
      <host mac='52:54:00:22:9b:01' ip='10.238.109.11'/>
    </dhcp>
  </ip>
</network>`;
    expect(parseNetworkXml(xml)).toEqual({
      name: 'qvd', bridge: 'qvdbr0', address: '10.238.109.1', prefix: 24, forward: false,
      dhcpRange: { start: '10.238.109.100', end: '10.238.109.199' },
      hosts: [{ mac: '52:54:00:22:9b:01', ip: '10.238.109.11' }, { mac: '52:54:00:22:9b:02', ip: '10.238.109.12', name: 'vm2' }],
    });
  });

  it('reads a netmask as a prefix, notices <forward>, skips IPv6', () => {
    const xml = `<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/>
      <ip family='ipv6' address='fd00::1' prefix='64'/>
      <ip address='192.168.122.1' netmask='255.255.255.0'><dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp></ip></network>`;
    expect(parseNetworkXml(xml)).toMatchObject({ forward: true, address: '192.168.122.1', prefix: 24, hosts: [] });
  });

  it('round-trips the conventions the core renders', () => {
    const parsed = parseNetworkXml(networkXml({ name: 'n', bridge: 'b', gateway: '10.0.0.1', prefix: 24, rangeStart: '10.0.0.100', rangeEnd: '10.0.0.200', hosts: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.11', name: 'a' }] }));
    expect(parsed).toEqual({ name: 'n', bridge: 'b', address: '10.0.0.1', prefix: 24, forward: false, dhcpRange: { start: '10.0.0.100', end: '10.0.0.200' }, hosts: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.11', name: 'a' }] });
  });
});
