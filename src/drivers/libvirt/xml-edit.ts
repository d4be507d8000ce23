/**
 * The few edits the driver makes to XML it was given, done on the text so
 * everything else reaches libvirt exactly as the core rendered it.
 */

/**
 * libvirt refuses to redefine an object by name alone ("already exists with
 * uuid ..."): carrying the existing uuid makes a define of an existing domain
 * or network an update, so define stays idempotent.
 */
export function withUuid(xml: string, root: 'domain' | 'network', uuid: string): string {
  if (/<uuid>/.test(xml)) return xml;
  const open = new RegExp(`<${root}(\\s[^>]*)?>`).exec(xml);
  if (open === null) return xml;
  const at = open.index + open[0].length;
  return `${xml.slice(0, at)}<uuid>${escapeXml(uuid)}</uuid>${xml.slice(at)}`;
}

export function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;');
}

/** One `<host>` of a network's DHCP section, as `virsh net-update ... ip-dhcp-host` takes it. */
export function dhcpHostXml(host: { readonly mac: string; readonly ip: string; readonly name?: string }): string {
  const name = host.name === undefined ? '' : ` name='${escapeXml(host.name)}'`;
  return `<host mac='${escapeXml(host.mac)}'${name} ip='${escapeXml(host.ip)}'/>`;
}
