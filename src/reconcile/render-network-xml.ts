import type { ObservedNetwork } from '../drivers/observed-state.js';
import { xmlEscape as x } from './xml-escape.js';

/** An isolated network (no `<forward>`): VMs reach the node, never the outside. */
export function renderNetworkXml(n: ObservedNetwork): string {
  const range = n.dhcpRange === undefined ? [] : [`      <range start='${x(n.dhcpRange.start)}' end='${x(n.dhcpRange.end)}'/>`];
  const hosts = n.hosts.map((h) => `      <host mac='${x(h.mac)}'${h.name === undefined ? '' : ` name='${x(h.name)}'`} ip='${x(h.ip)}'/>`);
  return [
    `<network>`,
    `  <name>${x(n.name)}</name>`,
    `  <bridge name='${x(n.bridge)}' stp='off'/>`,
    `  <ip address='${x(n.address ?? '')}' prefix='${n.prefix ?? 24}'>`,
    `    <dhcp>`,
    ...range,
    ...hosts,
    `    </dhcp>`,
    `  </ip>`,
    `</network>`,
    '',
  ].join('\n');
}
