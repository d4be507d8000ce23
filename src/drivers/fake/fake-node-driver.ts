import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { NodeError } from '../../errors.js';
import { isQvdSidecarName } from '../exec/verified-upload.js';
import { parseDomainXml } from '../libvirt/domain-xml.js';
import { parseNetworkXml, type NetworkDefinition } from '../libvirt/network-xml.js';
import { byName } from '../libvirt/observe-output.js';
import { isVirshSafeName } from '../libvirt/observe-script.js';
import type { BatchOutcome, DomainDefinition, ImageUpload, NamedVolumeSpec, NodeDriver, ObserveScope, StopDomainOptions, VolumeSpec } from '../node-driver.js';
import type { DomainConfig, DomainPower, NodeFacts, ObservedDomain, ObservedNode, ObservedVolume } from '../observed-state.js';

export type FakeMethod = Exclude<keyof NodeDriver, 'node'>;

export interface FakeCall {
  readonly method: FakeMethod;
  readonly args: readonly unknown[];
}

export interface SeedDomainsOptions {
  /** Names are `${prefix}${index}` (index from `start`, default 1). */
  readonly prefix: string;
  readonly start?: number;
  readonly power?: DomainPower;
  readonly pool?: string;
  readonly network?: string;
  /** Defaults to a small qemu guest with one disk and one NIC per domain. */
  readonly config?: (index: number, name: string) => DomainConfig;
  /** Also creates each domain's disk volume in `pool`, so the node looks fully converged. */
  readonly withVolumes?: boolean;
  readonly managedVm?: (index: number, name: string) => string | undefined;
}

const defaultFacts: NodeFacts = {
  hardwareVirt: false,
  qemuImg: true,
  libvirtVersion: '9.0.0',
  hostname: 'fake',
  freeDiskBytes: 500 * 1024 ** 3,
  storageDirUsable: true,
};

interface FakeDomain {
  power: DomainPower;
  config: DomainConfig;
  managedVm?: string;
  xml?: string;
}

/**
 * An in-memory node with the real driver's observable behaviour: the same
 * XML parser (so a domain reads back exactly as the real one would), the
 * same idempotency (repeating a mutation is a no-op) and the same refusals
 * (missing pool, backing volume or domain; shrinking; replacing an image;
 * libvirt's `default` network). Failures can be injected per method, and
 * every call is recorded.
 */
export class FakeNodeDriver implements NodeDriver {
  facts: NodeFacts = { ...defaultFacts };
  readonly calls: FakeCall[] = [];
  readonly networks = new Map<string, { definition: NetworkDefinition; active: boolean; autostart: boolean }>();
  readonly pools = new Map<string, { path: string; active: boolean }>();
  /** Volumes per pool name, then per volume name. */
  readonly volumes = new Map<string, Map<string, ObservedVolume>>();
  readonly domains = new Map<string, FakeDomain>();
  /** Set by close(); the fake keeps working afterwards (its state outlives a run, like a node's). */
  closed = false;
  private readonly failures = new Map<FakeMethod, Error[]>();
  private readonly itemFailures = new Map<string, Error>();

  constructor(readonly node: string, facts: Partial<NodeFacts> = {}) {
    this.facts = { ...defaultFacts, ...facts };
  }

  /** In the next batch that holds it, the item (volume or domain) named `item` fails with `error`; the others go on. */
  failItem(item: string, error: Error = new NodeError(this.node, `injected failure for ${item}`)): void {
    this.itemFailures.set(item, error);
  }

  /** The next call of `method` rejects with `error` (queued: call twice to fail twice). */
  failNext(method: FakeMethod, error: Error = new NodeError(this.node, `injected failure in ${method}`)): void {
    const queue = this.failures.get(method) ?? [];
    queue.push(error);
    this.failures.set(method, queue);
  }

  setFacts(facts: Partial<NodeFacts>): void {
    this.facts = { ...this.facts, ...facts };
  }

  /** What a guest or an admin can do behind qvd's back (a crash, a shutdown from inside). */
  setPower(name: string, power: DomainPower): void {
    const domain = this.domains.get(name);
    if (domain === undefined) throw new Error(`fake ${this.node}: no domain ${name}`);
    domain.power = power;
  }

  /** Many domains at once, without XML, for benchmarks and large plans (100 nodes x 100 domains). */
  seedDomains(count: number, options: SeedDomainsOptions): string[] {
    const pool = options.pool ?? 'qvd';
    const network = options.network ?? 'qvd';
    const names: string[] = [];
    const start = options.start ?? 1;
    const poolPath = this.pools.get(pool)?.path ?? `/var/lib/qvd/${pool}`;
    for (let index = start; index < start + count; index++) {
      const name = `${options.prefix}${index}`;
      const config = options.config?.(index, name) ?? {
        type: 'qemu' as const,
        memoryMiB: 256,
        vcpus: 1,
        disks: [{ target: 'vda', pool, volume: `${name}.qcow2`, format: 'qcow2' }],
        nics: [{ mac: fakeMac(index), network }],
      };
      const domain: FakeDomain = { power: options.power ?? 'stopped', config };
      const managedVm = options.managedVm?.(index, name);
      if (managedVm !== undefined) domain.managedVm = managedVm;
      this.domains.set(name, domain);
      if (options.withVolumes === true) {
        for (const disk of config.disks) {
          this.poolVolumes(disk.pool).set(disk.volume, { pool: disk.pool, name: disk.volume, path: posix.join(poolPath, disk.volume), format: disk.format, capacityBytes: 1024 ** 3 });
        }
      }
      names.push(name);
    }
    return names;
  }

  async observe(scope: ObserveScope): Promise<ObservedNode> {
    this.enter('observe', [scope]);
    const network = this.networks.get(scope.network);
    const pool = this.pools.get(scope.pool);
    const volumes = pool === undefined ? [] : [...this.poolVolumes(scope.pool).values()].sort(byName);
    const domains: ObservedDomain[] = [];
    for (const [name, domain] of this.domains) {
      if (!name.startsWith(scope.domainPrefix)) continue;
      domains.push(domain.managedVm === undefined ? { name, power: domain.power, config: domain.config } : { name, power: domain.power, managedVm: domain.managedVm, config: domain.config });
    }
    return {
      node: this.node,
      facts: this.facts,
      networks: network === undefined ? [] : [{ ...network.definition, active: network.active, autostart: network.autostart }],
      pools: pool === undefined ? [] : [{ name: scope.pool, active: pool.active, path: pool.path }],
      volumes,
      domains: domains.sort(byName),
    };
  }

  async ensureNetwork(name: string, xml: string): Promise<void> {
    this.enter('ensureNetwork', [name, xml]);
    this.checkName('network', name);
    if (name === 'default') throw new NodeError(this.node, 'refusing to manage libvirt\'s "default" network (NAT to the outside); give qvd\'s network another name');
    const definition = this.parse(() => parseNetworkXml(xml), 'network XML');
    if (definition.name !== name) throw new NodeError(this.node, `network XML is for ${JSON.stringify(definition.name)}, not ${JSON.stringify(name)}`);
    this.networks.set(name, { definition, active: true, autostart: true });
  }

  async removeNetwork(name: string): Promise<void> {
    this.enter('removeNetwork', [name]);
    if (name === 'default') throw new NodeError(this.node, 'refusing to manage libvirt\'s "default" network');
    this.networks.delete(name);
  }

  async ensurePool(name: string, path: string): Promise<void> {
    this.enter('ensurePool', [name, path]);
    this.checkName('pool', name);
    if (!posix.isAbsolute(path)) throw new NodeError(this.node, `storage dir must be an absolute path: ${path}`);
    const dir = posix.normalize(path).replace(/(.)\/$/, '$1');
    const existing = this.pools.get(name);
    if (existing !== undefined && existing.path !== dir) {
      throw new NodeError(this.node, `storage pool ${name} exists as a dir pool on ${existing.path}, not a dir pool on ${dir}`);
    }
    if (this.facts.storageDirUsable === false) throw new NodeError(this.node, `QEMU runs as libvirt-qemu, which cannot reach storage dir ${dir}`);
    this.pools.set(name, { path: dir, active: true });
  }

  async removePool(name: string): Promise<void> {
    this.enter('removePool', [name]);
    // Like the real driver: the definition goes, the files (volumes) stay.
    this.pools.delete(name);
  }

  async uploadImage(pool: string, volume: string, localPath: string, sha256: string, onProgress?: (sentBytes: number, totalBytes: number) => void): Promise<void> {
    this.enter('uploadImage', [pool, volume, localPath, sha256]);
    this.putImage(pool, volume, localPath, sha256, onProgress);
  }

  async uploadImages(pool: string, images: readonly ImageUpload[]): Promise<readonly BatchOutcome[]> {
    this.enter('uploadImages', [pool, images]);
    return images.map((i) => this.itemOutcome(i.volume, () => this.putImage(pool, i.volume, i.localPath, i.sha256)));
  }

  private putImage(pool: string, volume: string, localPath: string, sha256: string, onProgress?: (sentBytes: number, totalBytes: number) => void): void {
    const poolPath = this.requirePool(pool, `cannot upload ${volume}`);
    this.checkVolumeName(volume);
    const existing = this.poolVolumes(pool).get(volume);
    if (existing !== undefined) {
      if (existing.sha256 === sha256.toLowerCase()) return;
      throw new NodeError(this.node, `${posix.join(poolPath, volume)} already exists with other content (sha256 ${existing.sha256 ?? 'unknown'}, wanted ${sha256})`);
    }
    const image = readImageHeader(this.node, localPath);
    onProgress?.(image.fileBytes, image.fileBytes);
    this.poolVolumes(pool).set(volume, { pool, name: volume, path: posix.join(poolPath, volume), format: image.format, capacityBytes: image.capacityBytes, sha256: sha256.toLowerCase() });
  }

  async createVolume(pool: string, volume: string, spec: VolumeSpec): Promise<void> {
    this.enter('createVolume', [pool, volume, spec]);
    this.makeVolume(pool, volume, spec);
  }

  async createVolumes(pool: string, volumes: readonly NamedVolumeSpec[]): Promise<readonly BatchOutcome[]> {
    this.enter('createVolumes', [pool, volumes]);
    return volumes.map((v) => this.itemOutcome(v.volume, () => this.makeVolume(pool, v.volume, v)));
  }

  private makeVolume(pool: string, volume: string, spec: VolumeSpec): void {
    const poolPath = this.requirePool(pool, `cannot create ${volume}`);
    this.checkVolumeName(volume);
    if (spec.capacityBytes === undefined && spec.backing === undefined) throw new NodeError(this.node, `volume ${pool}/${volume}: a capacity is needed when there is no backing volume`);
    const volumes = this.poolVolumes(pool);
    const existing = volumes.get(volume);
    if (existing !== undefined) {
      const hasBacking = existing.backingPath === undefined ? undefined : posix.basename(existing.backingPath);
      if (existing.format !== 'qcow2' || hasBacking !== spec.backing?.volume) {
        throw new NodeError(this.node, `volume ${pool}/${volume} already exists as ${existing.format}${hasBacking === undefined ? '' : ` backed by ${existing.backingPath ?? ''}`}, not as qcow2${spec.backing === undefined ? '' : ` backed by ${spec.backing.volume}`}`);
      }
      return;
    }
    let created: ObservedVolume = { pool, name: volume, path: posix.join(poolPath, volume), format: 'qcow2', capacityBytes: spec.capacityBytes ?? 0 };
    if (spec.backing !== undefined) {
      const backing = volumes.get(spec.backing.volume);
      if (backing === undefined) throw new NodeError(this.node, `creating volume ${pool}/${volume} failed: qemu-img: Could not open backing file ${posix.join(poolPath, spec.backing.volume)}: No such file or directory`);
      created = { ...created, capacityBytes: spec.capacityBytes ?? backing.capacityBytes, backingPath: backing.path, backingFormat: spec.backing.format };
    }
    volumes.set(volume, created);
  }

  async resizeVolume(pool: string, volume: string, capacityBytes: number): Promise<void> {
    this.enter('resizeVolume', [pool, volume, capacityBytes]);
    const volumes = this.poolVolumes(pool);
    const existing = volumes.get(volume);
    if (existing === undefined) throw new NodeError(this.node, `volume ${pool}/${volume} does not exist`);
    if (existing.capacityBytes === capacityBytes) return;
    if (existing.capacityBytes > capacityBytes) throw new NodeError(this.node, `volume ${pool}/${volume} is ${existing.capacityBytes} bytes; shrinking it to ${capacityBytes} would cut off data`);
    volumes.set(volume, { ...existing, capacityBytes });
  }

  async deleteVolume(pool: string, volume: string): Promise<void> {
    this.enter('deleteVolume', [pool, volume]);
    this.volumes.get(pool)?.delete(volume);
  }

  async deleteVolumes(pool: string, volumes: readonly string[]): Promise<readonly BatchOutcome[]> {
    this.enter('deleteVolumes', [pool, volumes]);
    return volumes.map((v) => this.itemOutcome(v, () => this.volumes.get(pool)?.delete(v)));
  }

  async defineDomain(name: string, xml: string): Promise<void> {
    this.enter('defineDomain', [name, xml]);
    this.define(name, xml);
  }

  async defineDomains(domains: readonly DomainDefinition[]): Promise<readonly BatchOutcome[]> {
    this.enter('defineDomains', [domains]);
    return domains.map((d) => this.itemOutcome(d.name, () => this.define(d.name, d.xml)));
  }

  private define(name: string, xml: string): void {
    this.checkName('domain', name);
    const byPath = new Map<string, { pool: string; volume: string }>();
    for (const [pool, volumes] of this.volumes) for (const v of volumes.values()) byPath.set(v.path, { pool, volume: v.name });
    const parsed = this.parse(() => parseDomainXml(xml, (path) => byPath.get(path)), 'domain XML');
    if (parsed.name !== name) throw new NodeError(this.node, `domain XML is for ${JSON.stringify(parsed.name)}, not ${JSON.stringify(name)}`);
    const domain: FakeDomain = { power: this.domains.get(name)?.power ?? 'stopped', config: parsed.config, xml };
    if (parsed.managedVm !== undefined) domain.managedVm = parsed.managedVm;
    this.domains.set(name, domain);
  }

  async undefineDomain(name: string): Promise<void> {
    this.enter('undefineDomain', [name]);
    this.domains.delete(name);
  }

  async undefineDomains(names: readonly string[]): Promise<readonly BatchOutcome[]> {
    this.enter('undefineDomains', [names]);
    return names.map((n) => this.itemOutcome(n, () => this.domains.delete(n)));
  }

  async startDomain(name: string): Promise<void> {
    this.enter('startDomain', [name]);
    const domain = this.domains.get(name);
    if (domain === undefined) throw new NodeError(this.node, `cannot start domain ${name}: it is not defined`);
    if (domain.power === 'running') return;
    // What libvirt checks when it starts QEMU: every disk's volume and every NIC's network.
    for (const disk of domain.config.disks) {
      if (this.volumes.get(disk.pool)?.has(disk.volume) !== true || !this.pools.has(disk.pool)) {
        throw new NodeError(this.node, `libvirt: start domain ${name} failed: Storage volume not found: no storage vol with matching name '${disk.volume}'`);
      }
    }
    for (const nic of domain.config.nics) {
      if (this.networks.get(nic.network)?.active !== true) throw new NodeError(this.node, `libvirt: start domain ${name} failed: Requested operation is not valid: network '${nic.network}' is not active`);
    }
    domain.power = 'running';
  }

  async stopDomain(name: string, graceful: boolean, options: StopDomainOptions = {}): Promise<void> {
    this.enter('stopDomain', [name, graceful, options]);
    // Fake guests obey ACPI at once; setPower() models one that does not.
    const domain = this.domains.get(name);
    if (domain !== undefined) domain.power = 'stopped';
  }

  async close(): Promise<void> {
    this.calls.push({ method: 'close', args: [] });
    this.closed = true;
  }

  /** Calls of one method, for assertions. */
  callsOf(method: FakeMethod): FakeCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  private enter(method: FakeMethod, args: readonly unknown[]): void {
    this.calls.push({ method, args });
    const queued = this.failures.get(method);
    const error = queued?.shift();
    if (error !== undefined) throw error;
  }

  private itemOutcome(item: string, work: () => void): BatchOutcome {
    const injected = this.itemFailures.get(item);
    if (injected !== undefined) {
      this.itemFailures.delete(item);
      return { ok: false, error: injected };
    }
    try {
      work();
      return { ok: true };
    } catch (error) {
      return { ok: false, error: error as Error };
    }
  }

  private poolVolumes(pool: string): Map<string, ObservedVolume> {
    let volumes = this.volumes.get(pool);
    if (volumes === undefined) {
      volumes = new Map();
      this.volumes.set(pool, volumes);
    }
    return volumes;
  }

  private requirePool(pool: string, what: string): string {
    const found = this.pools.get(pool);
    if (found === undefined) throw new NodeError(this.node, `${what}: storage pool ${pool} does not exist`);
    return found.path;
  }

  private checkName(what: string, name: string): void {
    if (!isVirshSafeName(name)) throw new NodeError(this.node, `${what} name ${JSON.stringify(name)} is not supported: use letters, digits and . _ + : @ -`);
  }

  private checkVolumeName(volume: string): void {
    this.checkName('volume', volume);
    if (isQvdSidecarName(volume)) throw new NodeError(this.node, `volume name ${JSON.stringify(volume)} is reserved for qvd's own files`);
  }

  private parse<T>(parse: () => T, what: string): T {
    try {
      return parse();
    } catch (error) {
      throw new NodeError(this.node, `invalid ${what}: ${(error as Error).message}`, { cause: error });
    }
  }
}

/** Locally administered, unique per index: 52:54:00:xx:xx:xx as libvirt and the core use. */
function fakeMac(index: number): string {
  const hex = index.toString(16).padStart(6, '0').slice(-6);
  return `52:54:00:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

/** What libvirt would report for an uploaded file: qcow2's virtual size from its header, else the file size. */
function readImageHeader(node: string, localPath: string): { format: string; capacityBytes: number; fileBytes: number } {
  let fileBytes: number;
  try {
    fileBytes = statSync(localPath).size;
  } catch (error) {
    throw new NodeError(node, `SFTP upload of ${localPath} failed: ${(error as Error).message}`, { cause: error });
  }
  const header = Buffer.alloc(32);
  const fd = openSync(localPath, 'r');
  try {
    readSync(fd, header, 0, 32, 0);
  } finally {
    closeSync(fd);
  }
  if (header.readUInt32BE(0) === 0x514649fb) return { format: 'qcow2', capacityBytes: Number(header.readBigUInt64BE(24)), fileBytes };
  return { format: 'raw', capacityBytes: fileBytes, fileBytes };
}
