/**
 * What a node really has, normalised so that it compares directly with what
 * the spec renders (libvirt's filled-in defaults are dropped while reading).
 * Plain data: it is stored as the node's last observation.
 */
export interface ObservedNode {
  readonly node: string;
  readonly facts: NodeFacts;
  readonly networks: readonly ObservedNetwork[];
  readonly pools: readonly ObservedPool[];
  readonly volumes: readonly ObservedVolume[];
  readonly domains: readonly ObservedDomain[];
  /** qvd's own temporary files in the pool's directory (an upload or a volume copy under way, or killed). */
  readonly leftovers?: readonly ObservedLeftover[];
}

export interface ObservedLeftover {
  readonly name: string;
  /** Since its last write, by the node's clock. */
  readonly ageSeconds: number;
}

export interface NodeFacts {
  /** KVM usable (cpu flags + /dev/kvm); decides `<domain type>`. */
  readonly hardwareVirt: boolean;
  readonly qemuImg: boolean;
  readonly libvirtVersion?: string;
  readonly hostname?: string;
  /** Free bytes on the filesystem holding the storage dir (or its nearest existing parent). */
  readonly freeDiskBytes?: number;
  /** The storage dir (or, when missing, its nearest parent) can be traversed by the user qemu runs as. */
  readonly storageDirUsable?: boolean;
  /** Extra problems the driver found, each already phrased for the user. */
  readonly problems?: readonly string[];
  /**
   * The SSH host key the connection verified (absent for local nodes). With
   * trust on first use it was accepted unverified: record the fingerprint in
   * the spec (nodes[].ssh.host_key_fingerprint).
   */
  readonly sshHostKey?: { readonly fingerprint: string; readonly type: string; readonly trustedOnFirstUse: boolean };
}

export interface ObservedNetwork {
  readonly name: string;
  readonly active: boolean;
  readonly autostart: boolean;
  readonly bridge: string;
  /** Gateway address on the bridge and its prefix. */
  readonly address?: string;
  readonly prefix?: number;
  readonly dhcpRange?: { readonly start: string; readonly end: string };
  /** Sorted by MAC (lowercase), whatever order libvirt keeps them in. */
  readonly hosts: readonly { readonly mac: string; readonly ip: string; readonly name?: string }[];
  /** True when the network has a `<forward>` (qvd networks never do). */
  readonly forward: boolean;
}

export interface ObservedPool {
  readonly name: string;
  readonly active: boolean;
  readonly path: string;
}

export interface ObservedVolume {
  readonly pool: string;
  readonly name: string;
  readonly path: string;
  readonly format: string;
  readonly capacityBytes: number;
  readonly backingPath?: string;
  readonly backingFormat?: string;
  /** From the checksum file qvd writes beside an uploaded image, when present. */
  readonly sha256?: string;
}

export type DomainPower = 'running' | 'stopped' | 'paused' | 'other';

export interface ObservedDomain {
  readonly name: string;
  readonly power: DomainPower;
  /** Present when the domain carries qvd's metadata element. */
  readonly managedVm?: string;
  readonly config: DomainConfig;
}

/**
 * The attributes of a domain qvd manages, the same shape on both sides of the
 * diff. Anything libvirt adds on its own is left out.
 */
export interface DomainConfig {
  readonly type: 'kvm' | 'qemu';
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly disks: readonly { readonly target: string; readonly pool: string; readonly volume: string; readonly format: string }[];
  readonly nics: readonly { readonly mac: string; readonly network: string }[];
  readonly kernel?: string;
  readonly initrd?: string;
  readonly cmdline?: string;
  readonly serialLog?: string;
}
