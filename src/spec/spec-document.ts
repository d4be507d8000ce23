/**
 * The shape of qvd.yaml after schema validation (schemas/qvd.schema.json is the
 * authority; keep the two in step, and regenerate src/spec/generated after
 * editing the schema: see docs/spec.md). Optional fields get their defaults
 * in resolve.ts and its resolve-*.ts helpers, not here.
 */
export type Duration = number | string;

export interface SpecDocument {
  version: 1;
  settings?: SpecSettings;
  nodes: SpecNode[];
  images: SpecImage[];
  users?: SpecUser[];
  vms?: SpecVm[];
}

export interface SpecSettings {
  l7r?: {
    address?: string;
    port?: number;
    max_connections?: number;
    max_connections_per_address?: number;
    /** `{cert: generate}` (a key given alongside is ignored) or certificate and key files. */
    tls?: { cert: 'generate' } | { cert: string; key: string };
  };
  network?: {
    name?: string;
    bridge?: string;
    cidr?: string;
    gateway?: string;
    dhcp_range?: { start: string; end: string };
  };
  hkd?: {
    start_timeout?: Duration;
    stop_timeout?: Duration;
    idle_stop?: Duration;
    heartbeat?: Duration;
    node_lost?: Duration;
    max_parallel_ops?: number;
    vma_ping?: Duration;
    vma_max_failures?: number;
    vma_dead_after?: Duration;
  };
  database?: { sqlite?: string; postgres?: { url_env: string } };
  auth?: {
    builtin?: boolean;
    token_ttl?: Duration;
    ldap?: { url: string; base_dn: string; user_filter?: string; bind_dn_template?: string };
  };
}

export interface SpecNode {
  name: string;
  address: string;
  local?: boolean;
  ssh?: { user?: string; port?: number; private_key?: string; host_key_fingerprint?: string };
  libvirt_uri?: string;
  capacity?: { memory_mb?: number; vcpus?: number; max_vms?: number };
  storage_dir?: string;
  blocked?: boolean;
  labels?: Record<string, string>;
}

export interface SpecImage {
  name: string;
  tag?: string;
  source: string;
  /** The digest, or a file holding it (`sha256sum` output). */
  sha256: string | { file: string };
  format?: 'qcow2';
  memory_mb?: number;
  vcpus?: number;
  home_size_mb?: number;
  application?: boolean;
  vma?: boolean;
  boot?: { kernel: string; initrd?: string; cmdline?: string };
}

export type SpecPassword = { hash: string } | { env: string } | { file: string };

export interface SpecUser {
  login: string;
  tenant?: string;
  password: SpecPassword;
  blocked?: boolean;
  properties?: Record<string, string>;
}

export type PowerState = 'on-demand' | 'running' | 'stopped';

export interface SpecVm {
  name: string;
  user: string;
  image: string;
  node?: string;
  ip?: string;
  power?: PowerState;
  persistent?: boolean;
  blocked?: boolean;
  properties?: Record<string, string>;
}
