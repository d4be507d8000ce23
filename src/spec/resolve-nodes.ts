import { isAbsolute, resolve as resolvePath } from 'node:path';
import type { DesiredNode } from './desired-state.js';
import type { SpecNode } from './spec-document.js';

export const NODE_DEFAULTS = {
  sshUser: 'root',
  sshPort: 22,
  memoryMb: 16384,
  vcpus: 8,
  maxVms: 50,
  storageDir: '/var/lib/qvd/storage',
  localLibvirtUri: 'qemu:///system',
} as const;

/** Paths in the spec are relative to its directory, whatever the working directory of qvd. */
export const absolutePath = (specDir: string, path: string): string => (isAbsolute(path) ? path : resolvePath(specDir, path));

/**
 * libvirt over SSH with libssh (the driver may tunnel differently; this is
 * what `virsh -c` would accept for the same node). Host keys are the
 * driver's business: it checks host_key_fingerprint itself.
 */
export function defaultLibvirtUri(node: { local: boolean; address: string; ssh: DesiredNode['ssh'] }): string {
  if (node.local) return NODE_DEFAULTS.localLibvirtUri;
  const host = node.address.includes(':') ? `[${node.address}]` : node.address;
  const auth = node.ssh.privateKey === undefined ? 'sshauth=agent' : `sshauth=privkey&keyfile=${encodeURIComponent(node.ssh.privateKey)}`;
  return `qemu+libssh://${node.ssh.user}@${host}:${node.ssh.port}/system?${auth}`;
}

export function resolveNode(spec: SpecNode, specDir: string): DesiredNode {
  const local = spec.local ?? false;
  const privateKey = spec.ssh?.private_key === undefined ? undefined : absolutePath(specDir, spec.ssh.private_key);
  const ssh: DesiredNode['ssh'] = {
    user: spec.ssh?.user ?? NODE_DEFAULTS.sshUser,
    port: spec.ssh?.port ?? NODE_DEFAULTS.sshPort,
    ...(privateKey === undefined ? {} : { privateKey }),
    ...(spec.ssh?.host_key_fingerprint === undefined ? {} : { hostKeyFingerprint: spec.ssh.host_key_fingerprint }),
  };
  return {
    name: spec.name,
    address: spec.address,
    local,
    ssh,
    libvirtUri: spec.libvirt_uri ?? defaultLibvirtUri({ local, address: spec.address, ssh }),
    capacity: {
      memoryMb: spec.capacity?.memory_mb ?? NODE_DEFAULTS.memoryMb,
      vcpus: spec.capacity?.vcpus ?? NODE_DEFAULTS.vcpus,
      maxVms: spec.capacity?.max_vms ?? NODE_DEFAULTS.maxVms,
    },
    storageDir: spec.storage_dir ?? NODE_DEFAULTS.storageDir,
    blocked: spec.blocked ?? false,
    labels: { ...(spec.labels ?? {}) },
  };
}
