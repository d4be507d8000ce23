import type { NodeDriver, ObserveScope } from '../../../src/drivers/node-driver.js';
import type { DomainPower, ObservedDomain, ObservedNetwork, ObservedNode, ObservedPool, ObservedVolume } from '../../../src/drivers/observed-state.js';

interface FakeDomain {
  xml: string;
  power: DomainPower;
  vm?: string;
  memoryMiB: number;
  vcpus: number;
}

/**
 * An in-memory node for the HKD's unit tests: it records every call, and its
 * domains power on and off at once (or never, to test the stop escalation).
 */
export class FakeNodeDriver implements NodeDriver {
  readonly domains = new Map<string, FakeDomain>();
  readonly volumes = new Map<string, ObservedVolume>();
  readonly networks = new Map<string, ObservedNetwork>();
  readonly pools = new Map<string, ObservedPool>();
  readonly calls: string[] = [];
  /** Whether an ACPI shutdown turns the domain off. */
  acpiWorks = true;
  /** Concurrent startDomain calls now, and the most seen at once. */
  concurrent = 0;
  maxConcurrent = 0;
  /** Delay of startDomain, to let calls overlap. */
  startDelayMs = 0;
  failStart: Error | undefined;
  failObserve: Error | undefined;

  constructor(readonly node: string) {}

  starts(domain?: string): number {
    return this.calls.filter((c) => c === `start ${domain ?? ''}`.trimEnd() || (domain === undefined && c.startsWith('start '))).length;
  }

  async observe(_scope: ObserveScope): Promise<ObservedNode> {
    if (this.failObserve !== undefined) throw this.failObserve;
    await Promise.resolve();
    const domains: ObservedDomain[] = [...this.domains.entries()].map(([name, d]) => ({
      name,
      power: d.power,
      ...(d.vm === undefined ? {} : { managedVm: d.vm }),
      config: { type: 'qemu', memoryMiB: d.memoryMiB, vcpus: d.vcpus, disks: [], nics: [] },
    }));
    return {
      node: this.node,
      facts: { hardwareVirt: false, qemuImg: true },
      networks: [...this.networks.values()],
      pools: [...this.pools.values()],
      volumes: [...this.volumes.values()],
      domains,
    };
  }

  async ensureNetwork(name: string, xml: string): Promise<void> {
    this.calls.push(`network ${name}`);
    const hosts = [...xml.matchAll(/<host mac='([^']+)'(?: name='([^']+)')? ip='([^']+)'/g)].map((m) => ({ mac: m[1] ?? '', ip: m[3] ?? '', ...(m[2] === undefined ? {} : { name: m[2] }) }));
    this.networks.set(name, { name, active: true, autostart: true, bridge: 'qvdbr0', address: '10.3.15.1', prefix: 24, dhcpRange: { start: '10.3.15.100', end: '10.3.15.250' }, hosts, forward: false });
  }

  async removeNetwork(name: string): Promise<void> {
    this.networks.delete(name);
  }

  async ensurePool(name: string, path: string): Promise<void> {
    this.calls.push(`pool ${name}`);
    this.pools.set(name, { name, active: true, path });
  }

  async removePool(name: string): Promise<void> {
    this.pools.delete(name);
  }

  async uploadImage(pool: string, volume: string, _localPath: string, sha256: string): Promise<void> {
    this.calls.push(`upload ${volume}`);
    this.volumes.set(volume, { pool, name: volume, path: `/pool/${volume}`, format: volume.endsWith('.qcow2') ? 'qcow2' : 'raw', capacityBytes: 1, sha256 });
  }

  async createVolume(pool: string, volume: string, spec: { capacityBytes?: number; backing?: { volume: string; format: string } }): Promise<void> {
    this.calls.push(`create-volume ${volume}`);
    const path = this.pools.get(pool)?.path ?? '/pool';
    this.volumes.set(volume, {
      pool,
      name: volume,
      path: `${path}/${volume}`,
      format: 'qcow2',
      capacityBytes: spec.capacityBytes ?? 1,
      ...(spec.backing === undefined ? {} : { backingPath: `${path}/${spec.backing.volume}`, backingFormat: spec.backing.format }),
    });
  }

  async resizeVolume(_pool: string, volume: string, capacityBytes: number): Promise<void> {
    const v = this.volumes.get(volume);
    if (v !== undefined) this.volumes.set(volume, { ...v, capacityBytes });
  }

  async deleteVolume(_pool: string, volume: string): Promise<void> {
    this.calls.push(`delete-volume ${volume}`);
    this.volumes.delete(volume);
  }

  async defineDomain(name: string, xml: string): Promise<void> {
    this.calls.push(`define ${name}`);
    const vm = /name='([^']+)'\/>/.exec(xml)?.[1];
    const memoryMiB = Number(/<memory unit='MiB'>(\d+)</.exec(xml)?.[1] ?? 0);
    const vcpus = Number(/<vcpu>(\d+)</.exec(xml)?.[1] ?? 1);
    const prev = this.domains.get(name);
    this.domains.set(name, { xml, power: prev?.power ?? 'stopped', memoryMiB, vcpus, ...(vm === undefined ? {} : { vm }) });
  }

  async undefineDomain(name: string): Promise<void> {
    this.domains.delete(name);
  }

  async startDomain(name: string): Promise<void> {
    this.calls.push(`start ${name}`);
    this.concurrent++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
    try {
      if (this.startDelayMs > 0) await new Promise((r) => setTimeout(r, this.startDelayMs));
      if (this.failStart !== undefined) throw this.failStart;
      const d = this.domains.get(name);
      if (d === undefined) throw new Error(`domain ${name} not found`);
      d.power = 'running';
    } finally {
      this.concurrent--;
    }
  }

  async stopDomain(name: string, graceful: boolean): Promise<void> {
    this.calls.push(`${graceful ? 'shutdown' : 'destroy'} ${name}`);
    const d = this.domains.get(name);
    if (d === undefined) return;
    if (!graceful || this.acpiWorks) d.power = 'stopped';
  }

  /** A domain running behind the store's back (apply started it, or a leftover). */
  runForeign(name: string, vm: string): void {
    this.domains.set(name, { xml: '', power: 'running', vm, memoryMiB: 512, vcpus: 1 });
  }

  async close(): Promise<void> {}
}
