import type { DomainConfig, ObservedNetwork, ObservedNode, ObservedVolume } from '../drivers/observed-state.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { AttributeChange, Change, DomainChange, ImageFileChange, PowerChange, VolumeChange } from './change.js';
import { DOMAIN_PREFIX } from './naming.js';
import type { NodeTarget } from './node-target.js';
import { renderDomainXml } from './render-domain-xml.js';
import { maskVmaSecret } from './vma-cmdline.js';

export interface DiffOptions {
  /** Delete home disks of VMs that are gone (they are kept by default). */
  readonly purgeHomes: boolean;
  /** `qvd destroy`: the network goes too, and the pool when nothing is left in it. */
  readonly destroy: boolean;
  /**
   * Every VM of the spec. One placed on another node but running here was
   * started here by serve (failover): apply leaves it alone while it runs.
   */
  readonly specVms?: ReadonlySet<string>;
}

export interface NodeDiff {
  readonly changes: Change[];
  readonly diagnostics: Diagnostic[];
}

const IMAGE_FILE = /^img-.+\.(qcow2|kernel|initrd)$/;
/** Files qvd makes per VM in the pool: disks, and the serial console log qemu writes. */
const VM_VOLUME = /^vm-(.+)-(?:(root|home)\.qcow2|(console)\.log)$/;
/**
 * A temporary file nobody has written to for this long belongs to a writer
 * that is gone (an apply killed mid-upload, a node that rebooted mid-copy):
 * uploads write continuously and copies finish in seconds.
 */
export const STALE_LEFTOVER_SECONDS = 15 * 60;

/**
 * Pure: what must change on one node so that it matches its target. The
 * order of the result is the order of execution.
 */
export function diffNode(t: NodeTarget, o: ObservedNode, opts: DiffOptions): NodeDiff {
  const node = t.node.name;
  const diagnostics: Diagnostic[] = [];
  const stops: PowerChange[] = [];
  const domainDeletes: DomainChange[] = [];
  const volumeDeletes: VolumeChange[] = [];
  const imageDeletes: ImageFileChange[] = [];
  const upserts: Change[] = [];
  const starts: PowerChange[] = [];

  const volumes = new Map<string, ObservedVolume>();
  for (const v of o.volumes) if (v.pool === t.pool.name) volumes.set(v.name, v);
  const visiting = new Set(
    opts.destroy
      ? []
      : o.domains
          .filter((d) => d.managedVm !== undefined && d.power === 'running' && opts.specVms?.has(d.managedVm) === true && !t.domains.some((w) => w.vm.name === d.managedVm))
          .map((d) => d.managedVm as string),
  );
  for (const vm of visiting) {
    diagnostics.push({ severity: 'warning', node, summary: `VM ${vm} runs on ${node}, away from its placed node (failover by serve); it is left alone until it stops` });
  }

  // Network and pool come first: everything else lives in them.
  const observedNet = o.networks.find((n) => n.name === t.network.name);
  if (!opts.destroy) {
    // A visiting VM keeps its DHCP entry here while it runs (its lease renews).
    const visitingMacs = new Set(o.domains.filter((d) => d.managedVm !== undefined && visiting.has(d.managedVm)).flatMap((d) => d.config.nics.map((n) => n.mac)));
    const visitingHosts = (observedNet?.hosts ?? []).filter((h) => visitingMacs.has(h.mac));
    const wantNet = visitingHosts.length === 0 ? t.network : { ...t.network, hosts: [...t.network.hosts, ...visitingHosts].sort((a, b) => a.mac.localeCompare(b.mac)) };
    const attrs = networkAttributes(observedNet, wantNet);
    if (observedNet === undefined || attrs.length > 0) {
      upserts.push({
        kind: 'network',
        action: observedNet === undefined ? 'create' : 'update',
        node,
        name: t.network.name,
        desired: wantNet,
        attributes: attrs,
        reason: observedNet === undefined ? 'not on the node' : 'differs from the spec',
      });
    }
    const pool = o.pools.find((p) => p.name === t.pool.name);
    if (pool === undefined || !pool.active || pool.path !== t.pool.path) {
      upserts.push({
        kind: 'pool',
        action: pool === undefined ? 'create' : 'update',
        node,
        name: t.pool.name,
        path: t.pool.path,
        attributes: [
          ...(pool?.path === t.pool.path ? [] : [{ name: 'path', before: pool?.path, after: t.pool.path }]),
          ...(pool !== undefined && !pool.active ? [{ name: 'active', before: false, after: true }] : []),
        ],
        reason: pool === undefined ? 'not on the node' : 'differs from the spec',
      });
    }
  }

  // Image files: uploaded once per node, replaced when their checksum moved.
  const replacedImages = new Set<string>();
  const wantedImages = new Set(t.imageFiles.map((f) => f.volume));
  for (const f of t.imageFiles) {
    const have = volumes.get(f.volume);
    const base = { kind: 'image-file' as const, node, pool: t.pool.name, volume: f.volume, image: f.image, source: f.source, ...(f.sha256 === undefined ? {} : { sha256: f.sha256 }) };
    if (have === undefined) {
      upserts.push({ ...base, action: 'create', attributes: [{ name: 'sha256', after: f.sha256 }], reason: 'not on the node' });
    } else if (f.sha256 !== undefined && have.sha256 !== f.sha256) {
      replacedImages.add(f.volume);
      upserts.push({
        ...base,
        action: 'replace',
        attributes: [{ name: 'sha256', before: have.sha256 ?? '(unknown)', after: f.sha256, forcesReplacement: true }],
        reason: have.sha256 === undefined ? 'present without a recorded checksum: uploaded again and verified' : 'image content changed',
      });
    }
  }
  for (const v of volumes.values()) {
    if (!wantedImages.has(v.name) && v.name.startsWith('img-') && IMAGE_FILE.test(v.name)) {
      imageDeletes.push({ kind: 'image-file', action: 'delete', node, pool: t.pool.name, volume: v.name, image: v.name, attributes: [], reason: 'no VM on this node uses it' });
    }
  }

  // Domains: compare normalised configs; a domain qvd did not make is adopted only when identical.
  const observedDomains = new Map<string, ObservedNode['domains'][number]>();
  for (const d of o.domains) if (d.name.startsWith(DOMAIN_PREFIX)) observedDomains.set(d.name, d);
  const wantedDomains = new Set(t.domains.map((d) => d.domain));
  const restarted = new Set<string>();

  // VM volumes.
  const wantedVolumes = new Set(t.volumes.map((v) => v.volume));
  for (const v of t.volumes) {
    const have = volumes.get(v.volume);
    // Built only for volumes that change: a converged node of thousands of VMs builds none.
    const base = (): Pick<VolumeChange, 'kind' | 'node' | 'pool' | 'volume' | 'vm' | 'role' | 'capacityBytes' | 'backing'> => ({
      kind: 'volume',
      node,
      pool: t.pool.name,
      volume: v.volume,
      vm: v.vm,
      role: v.role,
      ...(v.capacityBytes === undefined ? {} : { capacityBytes: v.capacityBytes }),
      ...(v.backing === undefined ? {} : { backing: v.backing }),
    });
    if (have === undefined) {
      upserts.push({ ...base(), action: 'create', attributes: volumeAttributes(undefined, v, t.pool.path), reason: 'not on the node' });
      continue;
    }
    if (v.backing !== undefined) {
      const wantBacking = `${t.pool.path}/${v.backing.volume}`;
      const imageReplaced = replacedImages.has(v.backing.volume);
      if (have.backingPath !== wantBacking || have.backingFormat !== v.backing.format || have.format !== 'qcow2' || imageReplaced) {
        const dom = observedDomains.get(`${DOMAIN_PREFIX}${v.vm}`);
        if (dom?.power === 'running') {
          stops.push(power(node, dom.name, v.vm, 'stop', 'its root disk is replaced'));
          restarted.add(dom.name);
        }
        upserts.push({
          ...base(),
          action: 'replace',
          attributes: [
            {
              name: 'backing',
              before: have.backingPath === undefined ? '(none)' : `${have.backingPath} (${have.backingFormat ?? '?'})`,
              after: `${wantBacking} (${v.backing.format})`,
              forcesReplacement: true,
            },
          ],
          reason: imageReplaced ? 'its image changed: the overlay must be rebuilt on the new one' : 'backing file differs from the spec',
        });
      }
    } else if (v.capacityBytes !== undefined) {
      if (have.capacityBytes < v.capacityBytes) {
        upserts.push({ ...base(), action: 'update', attributes: [{ name: 'capacity', before: have.capacityBytes, after: v.capacityBytes }], reason: 'home disk grows' });
      } else if (have.capacityBytes > v.capacityBytes) {
        diagnostics.push({
          severity: 'warning',
          node,
          summary: `volume ${v.volume} on ${node} is larger (${have.capacityBytes} bytes) than home_size_mb asks (${v.capacityBytes} bytes); qvd never shrinks a home disk`,
        });
      }
    }
  }
  const domainVms = new Set(t.domains.map((d) => d.vm.name));
  for (const v of volumes.values()) {
    // Wanted volumes are nearly all of them in a converged node: settle those before any regex.
    if (wantedVolumes.has(v.name)) continue;
    const m = VM_VOLUME.exec(v.name);
    if (m === null || visiting.has(m[1] ?? '')) continue;
    if (m[3] === 'console' && domainVms.has(m[1] ?? '')) continue;
    const role = m[3] === 'console' ? 'log' : m[2] === 'home' ? 'home' : 'root';
    if (role === 'home' && !opts.purgeHomes) continue;
    volumeDeletes.push({ kind: 'volume', action: 'delete', node, pool: t.pool.name, volume: v.name, vm: m[1] ?? '', role, attributes: [], reason: 'its VM is no longer on this node' });
  }

  for (const f of o.leftovers ?? []) {
    if (f.ageSeconds < STALE_LEFTOVER_SECONDS) continue;
    volumeDeletes.push({
      kind: 'volume',
      action: 'delete',
      node,
      pool: t.pool.name,
      volume: f.name,
      vm: '',
      role: 'leftover',
      attributes: [],
      reason: `temporary file of an interrupted upload or copy (untouched for ${Math.floor(f.ageSeconds / 60)} min)`,
    });
  }

  for (const d of t.domains) {
    const have = observedDomains.get(d.domain);
    // The XML is rendered only for domains that change: a no-op plan of thousands of VMs renders none.
    const base = (): Pick<DomainChange, 'kind' | 'node' | 'domain' | 'vm' | 'config' | 'xml'> => ({
      kind: 'domain',
      node,
      domain: d.domain,
      vm: d.vm.name,
      config: d.config,
      xml: renderDomainXml(d.domain, d.vm.name, d.config),
    });
    if (have === undefined) {
      upserts.push({ ...base(), action: 'create', attributes: domainAttributes(undefined, d.config), reason: 'not on the node' });
    } else {
      const attrs = domainAttributes(have.config, d.config);
      if (have.managedVm !== d.vm.name) {
        if (attrs.length > 0) {
          diagnostics.push({
            severity: 'error',
            node,
            summary: `domain ${d.domain} already exists on ${node} and was not made by qvd for VM "${d.vm.name}"; it differs in ${attrs.map((a) => a.name).join(', ')}`,
            detail: `Rename or remove that domain on the node (virsh undefine ${d.domain}), or rename the VM in the spec.`,
          });
          continue;
        }
        upserts.push({ ...base(), action: 'update', attributes: [{ name: 'managed by qvd', before: false, after: true }], reason: 'an identical domain exists: adopted' });
      } else if (attrs.length > 0) {
        const running = have.power === 'running' && !restarted.has(d.domain);
        upserts.push({ ...base(), action: running ? 'update-restart' : 'update', attributes: attrs, reason: running ? 'definition changed; the running VM uses the new one from its next boot' : 'definition changed' });
      }
    }
    const isRunning = have?.power === 'running' && !restarted.has(d.domain);
    if (d.vm.power === 'running' && !isRunning) starts.push(power(node, d.domain, d.vm.name, 'start', 'power: running'));
    if (d.vm.power === 'stopped' && isRunning) stops.push(power(node, d.domain, d.vm.name, 'stop', 'power: stopped'));
    if (d.vm.power === 'on-demand' && restarted.has(d.domain)) starts.push(power(node, d.domain, d.vm.name, 'start', 'it was running before its root disk was replaced'));
  }
  for (const d of observedDomains.values()) {
    if (wantedDomains.has(d.name) || d.managedVm === undefined || visiting.has(d.managedVm)) continue;
    if (d.power === 'running' || d.power === 'paused') stops.push(power(node, d.name, d.managedVm, 'stop', 'before it is deleted'));
    domainDeletes.push({ kind: 'domain', action: 'delete', node, domain: d.name, vm: d.managedVm, attributes: [], reason: 'its VM is no longer on this node' });
  }

  const tail: Change[] = [];
  if (opts.destroy) {
    if (observedNet !== undefined) tail.push({ kind: 'network', action: 'delete', node, name: observedNet.name, attributes: [], reason: 'destroy' });
    const pool = o.pools.find((p) => p.name === t.pool.name);
    const homesLeft = [...volumes.values()].some((v) => VM_VOLUME.exec(v.name)?.[2] === 'home') && !opts.purgeHomes;
    if (pool !== undefined && !homesLeft) tail.push({ kind: 'pool', action: 'delete', node, name: pool.name, path: pool.path, attributes: [], reason: 'destroy' });
  }
  return { changes: [...stops, ...domainDeletes, ...volumeDeletes, ...upserts, ...starts, ...imageDeletes, ...tail], diagnostics };
}

function power(node: string, domain: string, vm: string, to: 'start' | 'stop', reason: string): PowerChange {
  return { kind: 'power', action: 'update', node, domain, vm, to, attributes: [{ name: 'power', before: to === 'start' ? 'stopped' : 'running', after: to === 'start' ? 'running' : 'stopped' }], reason };
}

function networkAttributes(have: ObservedNetwork | undefined, want: ObservedNetwork): AttributeChange[] {
  const attrs: AttributeChange[] = [];
  const scalar = (name: string, before: unknown, after: unknown): void => {
    if (have === undefined || before !== after) attrs.push({ name, ...(have === undefined ? {} : { before }), after });
  };
  scalar('bridge', have?.bridge, want.bridge);
  scalar('address', have?.address, want.address);
  scalar('prefix', have?.prefix, want.prefix);
  scalar('dhcp range', have?.dhcpRange === undefined ? undefined : `${have.dhcpRange.start}-${have.dhcpRange.end}`, `${want.dhcpRange?.start}-${want.dhcpRange?.end}`);
  if (have !== undefined) {
    scalar('active', have.active, true);
    scalar('autostart', have.autostart, true);
    scalar('forward', have.forward, false);
  }
  if (have !== undefined && sameHosts(have.hosts, want.hosts)) return attrs;
  const host = (h: ObservedNetwork['hosts'][number]): string => (h.name === undefined ? h.ip : `${h.ip} (${h.name})`);
  const before = new Map((have?.hosts ?? []).map((h) => [h.mac, host(h)]));
  const after = new Map(want.hosts.map((h) => [h.mac, host(h)]));
  for (const [mac, ip] of after) if (before.get(mac) !== ip) attrs.push({ name: `dhcp host ${mac}`, ...(before.has(mac) ? { before: before.get(mac) } : {}), after: ip });
  for (const [mac, ip] of before) if (!after.has(mac)) attrs.push({ name: `dhcp host ${mac}`, before: ip });
  return attrs;
}

function volumeAttributes(have: ObservedVolume | undefined, want: { capacityBytes?: number; backing?: { volume: string; format: string } }, poolPath: string): AttributeChange[] {
  const attrs: AttributeChange[] = [{ name: 'format', before: have?.format, after: 'qcow2' }];
  if (want.backing !== undefined) attrs.push({ name: 'backing', after: `${poolPath}/${want.backing.volume} (${want.backing.format})` });
  if (want.capacityBytes !== undefined) attrs.push({ name: 'capacity', after: want.capacityBytes });
  return attrs.map((a) => (have === undefined ? { name: a.name, after: a.after } : a));
}

/** Attribute-wise comparison of two normalised configs; `have` undefined lists every desired value. */
export function domainAttributes(have: DomainConfig | undefined, want: DomainConfig): AttributeChange[] {
  // Converged domains are the common case at fleet size: prove equality without building any text.
  if (have !== undefined && sameDomainConfig(have, want)) return [];
  const attrs: AttributeChange[] = [];
  const cmp = (name: string, before: unknown, after: unknown): void => {
    const b = typeof before === 'object' ? JSON.stringify(before) : before;
    const a = typeof after === 'object' ? JSON.stringify(after) : after;
    if (have === undefined) {
      if (after !== undefined) attrs.push({ name, after: a });
    } else if (b !== a) attrs.push({ name, before: b, after: a });
  };
  cmp('type', have?.type, want.type);
  cmp('memory_mib', have?.memoryMiB, want.memoryMiB);
  cmp('vcpus', have?.vcpus, want.vcpus);
  cmp('disks', have?.disks.map((d) => `${d.target}=${d.pool}/${d.volume}(${d.format})`).join(' '), want.disks.map((d) => `${d.target}=${d.pool}/${d.volume}(${d.format})`).join(' '));
  cmp('nics', have?.nics.map((n) => `${n.mac}@${n.network}`).join(' '), want.nics.map((n) => `${n.mac}@${n.network}`).join(' '));
  cmp('kernel', have?.kernel, want.kernel);
  cmp('initrd', have?.initrd, want.initrd);
  // The agent secret is compared, never shown: a changed secret reads as such.
  const shownBefore = have?.cmdline === undefined ? undefined : maskVmaSecret(have.cmdline);
  const shownAfter = want.cmdline === undefined ? undefined : maskVmaSecret(want.cmdline);
  if (have !== undefined && have.cmdline !== want.cmdline && shownBefore === shownAfter) attrs.push({ name: 'cmdline', before: shownBefore, after: `${shownAfter ?? ''} (secret changed)` });
  else cmp('cmdline', shownBefore, shownAfter);
  cmp('serial_log', have?.serialLog, want.serialLog);
  return attrs;
}


function sameDomainConfig(a: DomainConfig, b: DomainConfig): boolean {
  if (a.type !== b.type || a.memoryMiB !== b.memoryMiB || a.vcpus !== b.vcpus || a.kernel !== b.kernel || a.initrd !== b.initrd || a.cmdline !== b.cmdline || a.serialLog !== b.serialLog) return false;
  if (a.disks.length !== b.disks.length || a.nics.length !== b.nics.length) return false;
  for (let i = 0; i < a.disks.length; i++) {
    const x = a.disks[i];
    const y = b.disks[i];
    if (x === undefined || y === undefined || x.target !== y.target || x.pool !== y.pool || x.volume !== y.volume || x.format !== y.format) return false;
  }
  for (let i = 0; i < a.nics.length; i++) {
    const x = a.nics[i];
    const y = b.nics[i];
    if (x === undefined || y === undefined || x.mac !== y.mac || x.network !== y.network) return false;
  }
  return true;
}

/** Same DHCP hosts, in any order (the node may list them in its own). */
function sameHosts(a: ObservedNetwork['hosts'], b: ObservedNetwork['hosts']): boolean {
  if (a.length !== b.length) return false;
  const byMac = new Map<string, ObservedNetwork['hosts'][number]>();
  for (const h of a) byMac.set(h.mac, h);
  for (const h of b) {
    const o = byMac.get(h.mac);
    if (o === undefined || o.ip !== h.ip || o.name !== h.name) return false;
  }
  return byMac.size === b.length;
}
