/**
 * The two URIs of a node. virsh runs ON the node and talks to its local
 * daemon; the binding runs HERE and reaches the same daemon through
 * libvirt's own SSH transport (libssh), pinned to the host key our SSH
 * connection verified.
 */

/** What virsh on the node uses: the spec's URI without any transport or host. */
export function nodeLocalUri(specUri: string): string {
  const match = /^([a-z0-9]+)(?:\+[a-z0-9]+)?:\/\/[^/]*(\/[^?]*)?/i.exec(specUri);
  if (match === null) return 'qemu:///system';
  return `${match[1] ?? 'qemu'}://${match[2] ?? '/system'}`;
}

export interface RemoteUriParts {
  readonly localUri: string;
  readonly user: string;
  readonly host: string;
  readonly port: number;
  /** Private key file; without one libvirt asks the ssh-agent. */
  readonly keyFile?: string;
  readonly knownHostsFile: string;
}

/**
 * `qemu+libssh://USER@HOST:PORT/system?keyfile=..&known_hosts=..&known_hosts_verify=normal&sshauth=privkey`.
 * known_hosts_verify=normal: an unknown or changed key fails instead of being
 * added, so libvirt trusts exactly the key qvd verified.
 */
export function remoteLibvirtUri(parts: RemoteUriParts): string {
  const local = /^([a-z0-9]+):\/\/(\/[^?]*)?/i.exec(parts.localUri);
  const driver = local?.[1] ?? 'qemu';
  const path = local?.[2] ?? '/system';
  const host = parts.host.includes(':') && !parts.host.startsWith('[') ? `[${parts.host}]` : parts.host;
  const query = new URLSearchParams();
  if (parts.keyFile !== undefined) query.set('keyfile', parts.keyFile);
  query.set('known_hosts', parts.knownHostsFile);
  query.set('known_hosts_verify', 'normal');
  query.set('sshauth', parts.keyFile !== undefined ? 'privkey' : 'agent');
  return `${driver}+libssh://${encodeURIComponent(parts.user)}@${host}:${parts.port}${path}?${query.toString()}`;
}
