import type { PowerState } from './spec-document.js';

/**
 * The validated spec, normalised: defaults filled in, every reference resolved,
 * secrets reduced to hashes, every VM placed on a node and given an IP and MAC.
 * Plain data (JSON-serialisable): a saved plan carries it.
 */
export interface DesiredState {
  readonly specHash: string;
  readonly settings: DesiredSettings;
  readonly nodes: readonly DesiredNode[];
  readonly images: readonly DesiredImage[];
  readonly users: readonly DesiredUser[];
  readonly vms: readonly DesiredVm[];
  /**
   * Per-VM secret of the agent (VMA), by VM name, for VMs whose image has
   * one. Derived from the store's key (vma-secrets.ts), so absent when no
   * store was opened (validate). Never in records or plans shown to people.
   */
  readonly vmaSecrets?: Readonly<Record<string, string>>;
}

export interface DesiredSettings {
  readonly l7r: {
    readonly address: string;
    readonly port: number;
    readonly maxConnections: number;
    /** 0: no cap. */
    readonly maxConnectionsPerAddress: number;
    readonly tls: { readonly generate: true } | { readonly generate: false; readonly cert: string; readonly key: string };
  };
  readonly network: {
    readonly name: string;
    readonly bridge: string;
    readonly cidr: string;
    readonly gateway: string;
    readonly prefix: number;
    readonly dhcpStart: string;
    readonly dhcpEnd: string;
  };
  /** All durations in seconds. */
  readonly hkd: {
    readonly startTimeout: number;
    readonly stopTimeout: number;
    readonly idleStop: number;
    readonly heartbeat: number;
    readonly nodeLost: number;
    readonly maxParallelOps: number;
    /** VMA health ping period. */
    readonly vmaPing: number;
    /** Failed pings in a row that, with vmaDeadAfter of running, make a VM dead. */
    readonly vmaMaxFailures: number;
    readonly vmaDeadAfter: number;
  };
  readonly database: { readonly kind: 'sqlite'; readonly path: string } | { readonly kind: 'postgres'; readonly urlEnv: string };
  readonly auth: {
    readonly builtin: boolean;
    readonly tokenTtl: number;
    readonly ldap?: { readonly url: string; readonly baseDn: string; readonly userFilter: string; readonly bindDnTemplate: string };
  };
}

export interface DesiredNode {
  readonly name: string;
  readonly address: string;
  readonly local: boolean;
  readonly ssh: { readonly user: string; readonly port: number; readonly privateKey?: string; readonly hostKeyFingerprint?: string };
  readonly libvirtUri: string;
  readonly capacity: { readonly memoryMb: number; readonly vcpus: number; readonly maxVms: number };
  readonly storageDir: string;
  readonly blocked: boolean;
  readonly labels: Readonly<Record<string, string>>;
}

export interface DesiredImage {
  /** `name:tag`, the key VMs refer to. */
  readonly key: string;
  readonly name: string;
  readonly tag: string;
  /** Absolute path on the machine running qvd. */
  readonly source: string;
  readonly sha256: string;
  readonly format: 'qcow2';
  readonly memoryMb: number;
  readonly vcpus: number;
  readonly homeSizeMb: number;
  readonly application: boolean;
  /** Runs the qvd agent (needs boot: its secret travels on the kernel command line). */
  readonly vma: boolean;
  readonly boot?: { readonly kernel: string; readonly initrd?: string; readonly cmdline: string };
}

export interface DesiredUser {
  /** `login` or `login@tenant`: unique. */
  readonly key: string;
  readonly login: string;
  readonly tenant: string;
  /** `$argon2id$...` or `$qvd-sha256$<salt>$<b64>`. */
  readonly passwordHash: string;
  readonly blocked: boolean;
  readonly properties: Readonly<Record<string, string>>;
}

export interface DesiredVm {
  readonly name: string;
  readonly user: string;
  readonly image: string;
  readonly node: string;
  /** True when the spec fixed the node; false when the scheduler chose it. */
  readonly nodePinned: boolean;
  readonly ip: string;
  readonly mac: string;
  readonly power: PowerState;
  readonly persistent: boolean;
  readonly blocked: boolean;
  readonly properties: Readonly<Record<string, string>>;
}
