import type { ObservedNode } from '../../src/drivers/observed-state.js';
import type { NodeTarget } from '../../src/reconcile/node-target.js';
import type { DesiredImage, DesiredNode, DesiredState, DesiredVm } from '../../src/spec/desired-state.js';
import type { StoreSnapshot } from '../../src/state/store.js';

/** A small resolved state built by hand, so the core is tested apart from the spec loader. */
export function desiredFixture(over: { vms?: Partial<DesiredVm>[]; images?: Partial<DesiredImage>[]; nodes?: Partial<DesiredNode>[] } = {}): DesiredState {
  const nodes = (over.nodes ?? [{ name: 'node1' }, { name: 'node2' }]).map((n, i) => node({ name: `node${i + 1}`, ...n }));
  const images = (over.images ?? [{}]).map((i) => image(i));
  const vms = (over.vms ?? [{ name: 'alice-desk', node: 'node1' }, { name: 'bob-desk', node: 'node2' }]).map((v, i) => vm(i, v));
  return {
    specHash: 'spec-hash',
    settings: {
      l7r: { address: '0.0.0.0', port: 8443, maxConnections: 10_000, maxConnectionsPerAddress: 1_000, tls: { generate: true } },
      network: { name: 'qvd', bridge: 'qvdbr0', cidr: '10.3.15.0/24', gateway: '10.3.15.1', prefix: 24, dhcpStart: '10.3.15.100', dhcpEnd: '10.3.15.250' },
      hkd: { startTimeout: 270, stopTimeout: 180, idleStop: 3600, heartbeat: 120, nodeLost: 600, maxParallelOps: 10, vmaPing: 120, vmaMaxFailures: 10, vmaDeadAfter: 320 },
      database: { kind: 'sqlite', path: '/tmp/x.db' },
      auth: { builtin: true, tokenTtl: 86400 },
    },
    nodes,
    images,
    users: [
      { key: 'alice@default', login: 'alice', tenant: 'default', passwordHash: '$qvd-sha256$qvd1234$abc', blocked: false, properties: {} },
      { key: 'bob@default', login: 'bob', tenant: 'default', passwordHash: '$qvd-sha256$qvd1234$def', blocked: false, properties: {} },
    ],
    vms,
  };
}

function node(n: Partial<DesiredNode> & { name: string }): DesiredNode {
  return {
    address: '127.0.0.1',
    local: false,
    ssh: { user: 'root', port: 22 },
    libvirtUri: 'qemu:///system',
    capacity: { memoryMb: 16384, vcpus: 8, maxVms: 50 },
    storageDir: `/var/lib/qvd/${n.name}`,
    blocked: false,
    labels: {},
    ...n,
  };
}

function image(i: Partial<DesiredImage>): DesiredImage {
  const name = i.name ?? 'desktop';
  const tag = i.tag ?? 'default';
  return {
    key: `${name}:${tag}`,
    name,
    tag,
    source: `/images/${name}.qcow2`,
    sha256: 'a'.repeat(64),
    format: 'qcow2',
    memoryMb: 512,
    vcpus: 1,
    homeSizeMb: 64,
    application: false,
    vma: false,
    ...i,
  };
}

function vm(i: number, v: Partial<DesiredVm>): DesiredVm {
  const ip = v.ip ?? `10.3.15.${100 + i}`;
  const last = ip.split('.').slice(1).map((o) => Number(o).toString(16).padStart(2, '0'));
  return {
    name: `vm${i}`,
    user: 'alice@default',
    image: 'desktop:default',
    node: 'node1',
    nodePinned: true,
    ip,
    mac: `54:52:00:${last.join(':')}`,
    power: 'on-demand',
    persistent: false,
    blocked: false,
    properties: {},
    ...v,
  };
}

export const emptySnapshot: StoreSnapshot = { serial: 0, users: [], vms: [], nodes: [], images: [] };

export function emptyNode(name: string, hardwareVirt = false): ObservedNode {
  return { node: name, facts: { hardwareVirt, qemuImg: true, freeDiskBytes: 100 * 2 ** 30, storageDirUsable: true }, networks: [], pools: [], volumes: [], domains: [] };
}

/** What a node would report right after a successful apply of `t`. */
export function observedFromTarget(t: NodeTarget, power: (vm: string) => 'running' | 'stopped' = () => 'stopped'): ObservedNode {
  return {
    node: t.node.name,
    facts: emptyNode(t.node.name).facts,
    networks: [t.network],
    pools: [{ name: t.pool.name, active: true, path: t.pool.path }],
    volumes: [
      ...t.imageFiles.map((f) => ({ pool: t.pool.name, name: f.volume, path: `${t.pool.path}/${f.volume}`, format: f.format, capacityBytes: 1 << 20, ...(f.sha256 === undefined ? {} : { sha256: f.sha256 }) })),
      ...t.volumes.map((v) => ({
        pool: t.pool.name,
        name: v.volume,
        path: `${t.pool.path}/${v.volume}`,
        format: 'qcow2',
        capacityBytes: v.capacityBytes ?? 1 << 20,
        ...(v.backing === undefined ? {} : { backingPath: `${t.pool.path}/${v.backing.volume}`, backingFormat: v.backing.format }),
      })),
    ],
    domains: t.domains.map((d) => ({ name: d.domain, power: power(d.vm.name), managedVm: d.vm.name, config: d.config })),
  };
}
