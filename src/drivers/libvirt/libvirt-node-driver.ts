import { posix } from 'node:path';
import { NodeError } from '../../errors.js';
import type { CommandRunner } from '../exec/command-runner.js';
import { heredoc, raw, sh } from '../exec/ssh/shell-quote.js';
import { isQvdSidecarName, isQvdTemporaryName, verifiedUploads } from '../exec/verified-upload.js';
import type { BatchOutcome, DomainDefinition, ImageUpload, NamedVolumeSpec, NodeDriver, ObserveScope, StopDomainOptions, VolumeSpec } from '../node-driver.js';
import type { NodeFacts, ObservedNode } from '../observed-state.js';
import type { DomainApi } from './domain-api.js';
import { createVolumesScript, parseCreateVolumesOutput } from './create-volumes-script.js';
import { defineDomainsScript, parseDefineDomainsOutput, type DefineResult } from './define-domains-script.js';
import { parseDomainXml } from './domain-xml.js';
import { errorMessage } from './libvirt-errors.js';
import { parseNetworkXml } from './network-xml.js';
import { planNetworkSteps, type CurrentNetwork, type NetworkStep } from './network-steps.js';
import { assembleObservedNode, splitSections } from './observe-output.js';
import { newMarkerToken, observeScript, observeScriptArgs } from './observe-script.js';
import { defineOutcome, removeOutcome, sectionKey, volumeOutcome, zip } from './batch-outcomes.js';
import { deleteVolumesScript, parseRemoveOutput, undefineDomainsScript } from './remove-batch-scripts.js';
import { parsePoolXml } from './storage-xml.js';
import { assertVirshName, virshBatch } from './virsh-batch.js';
import { keyValues } from './virsh-listing.js';
import { dhcpHostXml, withUuid } from './xml-edit.js';

export interface LibvirtNodeDriverOptions {
  readonly node: string;
  /** Runs virsh, qemu-img and shell on the node. */
  readonly runner: CommandRunner;
  /** Domain lifecycle through the libvirt binding. */
  readonly domains: DomainApi;
  /** The URI virsh uses on the node itself (e.g. qemu:///system). */
  readonly nodeLibvirtUri: string;
  /** The SSH host key the runner verified, reported in the facts. */
  readonly sshHostKey?: () => NodeFacts['sshHostKey'] | undefined;
  readonly observeTimeoutMs?: number;
}

/** libvirt refuses nothing here, but qvd never manages the NAT network libvirt ships. */
const reservedNetworks = new Set(['default']);

/**
 * NodeDriver for a libvirt node. Domains go through the binding; networks,
 * pools and volumes (which it lacks) through virsh and qemu-img on the node,
 * each operation one script (one round trip) where it can be. Every
 * mutation first looks at what is there, so repeating it is a no-op.
 */
export class LibvirtNodeDriver implements NodeDriver {
  readonly node: string;
  private readonly runner: CommandRunner;
  private readonly domains: DomainApi;
  private readonly uri: string;
  /** Learnt from observe and ensurePool, so that volume work needs no pool lookup first. */
  private readonly poolPaths = new Map<string, string>();
  /** Learnt from observe: what a redefine of an existing domain must carry. */
  private readonly domainUuids = new Map<string, string>();

  constructor(private readonly options: LibvirtNodeDriverOptions) {
    this.node = options.node;
    this.runner = options.runner;
    this.domains = options.domains;
    this.uri = options.nodeLibvirtUri;
  }

  async observe(scope: ObserveScope): Promise<ObservedNode> {
    assertVirshName(this.node, 'network', scope.network);
    assertVirshName(this.node, 'pool', scope.pool);
    const token = newMarkerToken();
    const result = await this.runner.runScript(observeScript, { label: 'observe', args: observeScriptArgs(token, this.uri, scope), timeoutMs: this.options.observeTimeoutMs ?? 120_000 });
    const sshHostKey = this.options.sshHostKey?.();
    const observed = assembleObservedNode(this.node, scope, splitSections(result.stdout, token), { ...(sshHostKey === undefined ? {} : { sshHostKey }), domainUuids: this.domainUuids });
    for (const pool of observed.pools) this.poolPaths.set(pool.name, pool.path);
    return observed;
  }

  async ensureNetwork(name: string, xml: string): Promise<void> {
    this.assertManagedNetwork(name);
    const desired = this.parse(() => parseNetworkXml(xml), 'network XML');
    if (desired.name !== name) throw new NodeError(this.node, `network XML is for ${JSON.stringify(desired.name)}, not ${JSON.stringify(name)}`);
    const read = await virshBatch(this.runner, this.uri, [
      { key: 'info', command: `net-info ${name}` },
      { key: 'config', command: `net-dumpxml --inactive ${name}` },
      { key: 'live', command: `net-dumpxml ${name}` },
      { key: 'uuid', command: `net-uuid ${name}` },
    ]);
    const current = this.currentNetwork(read);
    const steps = planNetworkSteps(current, desired);
    if (steps.length === 0) return;
    const uuid = read.get('uuid')?.trim() ?? '';
    const defineXml = current !== undefined && uuid !== '' ? withUuid(xml, 'network', uuid) : xml;
    await this.runner.runScript(sh`set -e
uri=${this.uri}
name=${name}
${raw(networkStepScript(steps, defineXml))}`, { label: `ensure network ${name}` });
  }

  async removeNetwork(name: string): Promise<void> {
    this.assertManagedNetwork(name);
    await this.runner.runScript(sh`uri=${this.uri}
name=${name}
if ! virsh -q -c "$uri" net-info "$name" >/dev/null 2>&1; then exit 0; fi
virsh -q -c "$uri" net-destroy "$name" >/dev/null 2>&1 || true
out=$(virsh -q -c "$uri" net-undefine "$name" 2>&1) || { case $out in *"not found"*) ;; *) echo "$out" >&2; exit 1 ;; esac; }
`, { label: `remove network ${name}` });
  }

  async ensurePool(name: string, path: string): Promise<void> {
    assertVirshName(this.node, 'pool', name);
    if (!posix.isAbsolute(path)) throw new NodeError(this.node, `storage dir must be an absolute path: ${path}`);
    const dir = posix.normalize(path).replace(/(.)\/$/, '$1');
    const read = await virshBatch(this.runner, this.uri, [
      { key: 'xml', command: `pool-dumpxml --inactive ${name}` },
      { key: 'info', command: `pool-info ${name}` },
    ]);
    const xml = read.get('xml') ?? '';
    const exists = xml !== '';
    if (exists) {
      const pool = this.parse(() => parsePoolXml(xml), 'pool XML');
      if (pool.type !== 'dir' || posix.normalize(pool.path).replace(/(.)\/$/, '$1') !== dir) {
        throw new NodeError(this.node, `storage pool ${name} exists as a ${pool.type} pool on ${pool.path}, not a dir pool on ${dir}`, {
          hint: `Remove the pool (virsh pool-destroy ${name}; virsh pool-undefine ${name}) or point storage_dir at ${pool.path}.`,
        });
      }
    }
    const info = keyValues(read.get('info') ?? '');
    const running = info.get('State') === 'running';
    const autostart = info.get('Autostart') === 'yes';
    const result = await this.runner.runScript(sh`set -e
uri=${this.uri}
name=${name}
dir=${dir}
# Directories created here get 0755 whatever root's umask, so QEMU's user can traverse them.
(umask 022; mkdir -p -- "$dir")
${raw(exists ? '' : 'virsh -q -c "$uri" pool-define-as "$name" dir --target "$dir" >/dev/null')}
${raw(running ? '' : 'virsh -q -c "$uri" pool-build "$name" >/dev/null; virsh -q -c "$uri" pool-start "$name" >/dev/null')}
${raw(autostart ? '' : 'virsh -q -c "$uri" pool-autostart "$name" >/dev/null')}
qu=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"\\([^"]*\\)".*/\\1/p' /etc/libvirt/qemu.conf 2>/dev/null | tail -n 1)
if [ -z "$qu" ]; then for u in libvirt-qemu qemu; do if id -u "$u" >/dev/null 2>&1; then qu=$u; break; fi; done; fi
if [ -n "$qu" ] && [ "$qu" != root ] && command -v runuser >/dev/null 2>&1 && ! runuser -u "$qu" -- test -x "$dir"; then
  blocked=
  d=$dir
  while [ "$d" != / ]; do
    case $(stat -c %A -- "$d") in ?????????x|?????????t) ;; *) blocked="$d $blocked" ;; esac
    d=$(dirname -- "$d")
  done
  echo "BLOCKED $qu $blocked"
fi
`, { label: `ensure pool ${name}` });
    const blocked = /^BLOCKED (\S+) ?(.*)$/m.exec(result.stdout);
    if (blocked !== null) {
      const dirs = (blocked[2] ?? '').trim();
      throw new NodeError(this.node, `QEMU runs as ${blocked[1]}, which cannot reach storage dir ${dir}`, {
        hint: dirs === '' ? `Make every directory on the way to ${dir} traversable by ${blocked[1]}.` : `On the node: chmod o+x ${dirs}`,
      });
    }
    this.poolPaths.set(name, dir);
  }

  async removePool(name: string): Promise<void> {
    assertVirshName(this.node, 'pool', name);
    // The directory and the files in it stay: removing a pool definition never deletes data.
    await this.runner.runScript(sh`uri=${this.uri}
name=${name}
if ! virsh -q -c "$uri" pool-info "$name" >/dev/null 2>&1; then exit 0; fi
virsh -q -c "$uri" pool-destroy "$name" >/dev/null 2>&1 || true
out=$(virsh -q -c "$uri" pool-undefine "$name" 2>&1) || { case $out in *"not found"*) ;; *) echo "$out" >&2; exit 1 ;; esac; }
`, { label: `remove pool ${name}` });
    this.poolPaths.delete(name);
  }

  async uploadImage(pool: string, volume: string, localPath: string, sha256: string, onProgress?: (sentBytes: number, totalBytes: number) => void): Promise<void> {
    const [outcome] = await this.upload(pool, [{ volume, localPath, sha256, ...(onProgress === undefined ? {} : { onProgress }) }]);
    if (outcome !== undefined && !outcome.ok) throw outcome.error;
  }

  uploadImages(pool: string, images: readonly ImageUpload[]): Promise<readonly BatchOutcome[]> {
    return this.upload(pool, images);
  }

  async createVolume(pool: string, volume: string, spec: VolumeSpec): Promise<void> {
    const [outcome] = await this.createVolumes(pool, [{ volume, ...spec }]);
    if (outcome !== undefined && !outcome.ok) throw outcome.error;
  }

  async createVolumes(pool: string, volumes: readonly NamedVolumeSpec[]): Promise<readonly BatchOutcome[]> {
    assertVirshName(this.node, 'pool', pool);
    const outcomes: (BatchOutcome | undefined)[] = volumes.map((v) => this.invalidVolumeSpec(pool, v));
    const todo = volumes.filter((_, i) => outcomes[i] === undefined);
    if (todo.length === 0) return outcomes as BatchOutcome[];
    const dir = await this.poolPath(pool, `cannot create volumes in pool ${pool}`);
    const token = newMarkerToken();
    const result = await this.runner.runScript(createVolumesScript(token, this.uri, pool, dir, todo), { label: `create ${todo.length} volume(s) in ${pool}`, timeoutMs: 120_000 + 2_000 * todo.length });
    const out = parseCreateVolumesOutput(result.stdout, token);
    return volumes.map((v, i) => outcomes[i] ?? volumeOutcome(this.node, pool, v, out.results.get(v.volume), out.refreshError, out.complete));
  }

  async resizeVolume(pool: string, volume: string, capacityBytes: number): Promise<void> {
    assertVirshName(this.node, 'pool', pool);
    this.assertVolumeName(volume);
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes <= 0) throw new NodeError(this.node, `volume ${pool}/${volume}: invalid capacity ${capacityBytes}`);
    const result = await this.runner.runScript(sh`set -e
uri=${this.uri}
pool=${pool}
vol=${volume}
cap=${String(capacityBytes)}
virsh -q -c "$uri" pool-refresh "$pool" >/dev/null
cur=$(virsh -q -c "$uri" vol-info --bytes --pool "$pool" "$vol" | awk '$1 == "Capacity:" {print $2}')
if [ "$cur" = "$cap" ]; then echo SAME; exit 0; fi
if [ "$cur" -gt "$cap" ]; then echo "SHRINK $cur"; exit 0; fi
virsh -q -c "$uri" vol-resize --pool "$pool" "$vol" "$cap" >/dev/null
echo RESIZED
`, { label: `resize volume ${pool}/${volume}` });
    const shrink = /^SHRINK (\d+)/m.exec(result.stdout);
    if (shrink !== null) {
      throw new NodeError(this.node, `volume ${pool}/${volume} is ${shrink[1] ?? '?'} bytes; shrinking it to ${capacityBytes} would cut off data`, { hint: 'qvd only grows volumes.' });
    }
  }

  async deleteVolume(pool: string, volume: string): Promise<void> {
    const [outcome] = await this.deleteVolumes(pool, [volume]);
    if (outcome !== undefined && !outcome.ok) throw outcome.error;
  }

  async deleteVolumes(pool: string, volumes: readonly string[]): Promise<readonly BatchOutcome[]> {
    assertVirshName(this.node, 'pool', pool);
    // qvd's own temporary files may be deleted (an interrupted upload's), never made.
    const outcomes: (BatchOutcome | undefined)[] = volumes.map((v) => this.invalid(() => (isQvdTemporaryName(v) ? assertVirshName(this.node, 'volume', v) : this.assertVolumeName(v))));
    const todo = volumes.filter((_, i) => outcomes[i] === undefined);
    if (todo.length === 0) return outcomes as BatchOutcome[];
    const dir = await this.findPoolPath(pool);
    // No pool, no volumes in it: deleting them is done.
    if (dir === undefined) return outcomes.map((o) => o ?? { ok: true });
    const token = newMarkerToken();
    const result = await this.runner.runScript(deleteVolumesScript(token, this.uri, pool, dir, todo), { label: `delete ${todo.length} volume(s) in ${pool}` });
    const out = parseRemoveOutput(result.stdout, token);
    return volumes.map((v, i) => outcomes[i] ?? removeOutcome(this.node, out, v, `deleting volume ${pool}/${v}`));
  }

  async defineDomain(name: string, xml: string): Promise<void> {
    const [outcome] = await this.defineDomains([{ name, xml }]);
    if (outcome !== undefined && !outcome.ok) throw outcome.error;
  }

  /**
   * Through virsh on the node (one script for the batch) rather than the
   * binding: no second connection to open. A domain that exists must be
   * redefined with its uuid; the uuids observe saw are used, and a domain
   * that still clashes is looked up and defined again once.
   */
  async defineDomains(domains: readonly DomainDefinition[]): Promise<readonly BatchOutcome[]> {
    const outcomes: (BatchOutcome | undefined)[] = domains.map((d) => this.invalidDomain(d));
    const first = domains.flatMap((d, i) => (outcomes[i] === undefined ? [{ index: i, name: d.name, xml: d.xml }] : []));
    const clashes: typeof first = [];
    for (const [item, result] of zip(first, await this.defineOnNode(first.map((d) => this.withKnownUuid(d.name, d.xml))))) {
      if (!result.ok && /already (exists|defined) with uuid/.test(result.error)) clashes.push(item);
      else outcomes[item.index] = defineOutcome(this.node, item.name, result);
    }
    if (clashes.length > 0) {
      const uuids = await virshBatch(this.runner, this.uri, clashes.map((d) => ({ key: sectionKey('uuid', d.index), command: `domuuid ${d.name}` })));
      const again = clashes.map((d) => {
        const uuid = uuids.get(sectionKey('uuid', d.index))?.trim() ?? '';
        return uuid === '' ? d.xml : withUuid(d.xml, 'domain', uuid);
      });
      for (const [item, result] of zip(clashes, await this.defineOnNode(again))) outcomes[item.index] = defineOutcome(this.node, item.name, result);
    }
    return outcomes as BatchOutcome[];
  }

  async undefineDomain(name: string): Promise<void> {
    const [outcome] = await this.undefineDomains([name]);
    if (outcome !== undefined && !outcome.ok) throw outcome.error;
  }

  /** Through virsh on the node, like defines: one script for the batch, a running domain destroyed first. */
  async undefineDomains(names: readonly string[]): Promise<readonly BatchOutcome[]> {
    const outcomes: (BatchOutcome | undefined)[] = names.map((n) => this.invalid(() => assertVirshName(this.node, 'domain', n)));
    const todo = names.filter((_, i) => outcomes[i] === undefined);
    if (todo.length === 0) return outcomes as BatchOutcome[];
    const token = newMarkerToken();
    const result = await this.runner.runScript(undefineDomainsScript(token, this.uri, todo), { label: `undefine ${todo.length} domain(s)`, timeoutMs: 120_000 + 2_000 * todo.length });
    const out = parseRemoveOutput(result.stdout, token);
    return names.map((n, i) => {
      const outcome = outcomes[i] ?? removeOutcome(this.node, out, n, `undefining domain ${n}`);
      if (outcome.ok) this.domainUuids.delete(n);
      return outcome;
    });
  }

  async startDomain(name: string): Promise<void> {
    await this.domains.start(name);
  }

  async stopDomain(name: string, graceful: boolean, options: StopDomainOptions = {}): Promise<void> {
    const state = await this.domains.state(name);
    if (state === 'absent' || state === 'stopped') return;
    if (!graceful) {
      await this.domains.destroy(name);
      return;
    }
    await this.domains.shutdown(name);
    // Without a deadline the caller does its own waiting (the HKD escalates on its own timers).
    if (options.timeoutMs === undefined) return;
    const deadline = Date.now() + options.timeoutMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const now = await this.domains.state(name);
      if (now === 'absent' || now === 'stopped') return;
    }
    // The guest ignored the ACPI request (no acpid, hung): pull the plug, as the contract says it ends stopped.
    await this.domains.destroy(name);
  }

  prepare(): void {
    this.runner.prepare?.();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.domains.close(), this.runner.close()]);
  }

  private async upload(pool: string, images: readonly (ImageUpload & { onProgress?: (sentBytes: number, totalBytes: number) => void })[]): Promise<readonly BatchOutcome[]> {
    assertVirshName(this.node, 'pool', pool);
    const outcomes: (BatchOutcome | undefined)[] = images.map((i) => this.invalid(() => this.assertVolumeName(i.volume)));
    const todo = images.filter((_, i) => outcomes[i] === undefined);
    if (todo.length === 0) return outcomes as BatchOutcome[];
    const dir = await this.poolPath(pool, `cannot upload ${todo.map((i) => i.volume).join(', ')}`);
    const results = await verifiedUploads(
      this.runner,
      todo.map((i) => ({ localPath: i.localPath, remotePath: posix.join(dir, i.volume), sha256: i.sha256, ...(i.onProgress === undefined ? {} : { onProgress: i.onProgress }) })),
      // Keeps libvirt's list of the pool current; nothing later depends on it (volumes are made by path).
      { afterUpload: sh`virsh -q -c ${this.uri} pool-refresh ${pool} >/dev/null 2>&1 || true` },
    );
    let next = 0;
    return outcomes.map((o) => o ?? (results[next++] as BatchOutcome));
  }

  private async poolPath(pool: string, what: string): Promise<string> {
    const path = await this.findPoolPath(pool);
    if (path === undefined) throw new NodeError(this.node, `${what}: storage pool ${pool} does not exist`, { hint: 'The pool is created first (ensurePool).' });
    return path;
  }

  /** The pool's directory: known from observe or ensurePool, else read from libvirt; undefined when there is no such pool. */
  private async findPoolPath(pool: string): Promise<string | undefined> {
    const known = this.poolPaths.get(pool);
    if (known !== undefined) return known;
    const read = await virshBatch(this.runner, this.uri, [{ key: 'xml', command: `pool-dumpxml --inactive ${pool}` }]);
    const xml = read.get('xml') ?? '';
    if (xml === '') return undefined;
    const path = this.parse(() => parsePoolXml(xml), 'pool XML').path;
    this.poolPaths.set(pool, path);
    return path;
  }

  /** A batch item refused before anything is sent: its outcome, or undefined when it is fine. */
  private invalid(check: () => void): BatchOutcome | undefined {
    try {
      check();
      return undefined;
    } catch (error) {
      return { ok: false, error: error as Error };
    }
  }

  private invalidVolumeSpec(pool: string, v: NamedVolumeSpec): BatchOutcome | undefined {
    return this.invalid(() => {
      this.assertVolumeName(v.volume);
      if (v.backing !== undefined) this.assertVolumeName(v.backing.volume);
      if (v.backing !== undefined && !/^[a-z0-9]+$/.test(v.backing.format)) throw new NodeError(this.node, `volume ${pool}/${v.volume}: unknown backing format ${JSON.stringify(v.backing.format)}`);
      if (v.capacityBytes === undefined && v.backing === undefined) throw new NodeError(this.node, `volume ${pool}/${v.volume}: a capacity is needed when there is no backing volume`);
      if (v.capacityBytes !== undefined && (!Number.isSafeInteger(v.capacityBytes) || v.capacityBytes <= 0)) throw new NodeError(this.node, `volume ${pool}/${v.volume}: invalid capacity ${v.capacityBytes}`);
    });
  }

  private invalidDomain(d: DomainDefinition): BatchOutcome | undefined {
    return this.invalid(() => {
      assertVirshName(this.node, 'domain', d.name);
      const parsed = this.parse(() => parseDomainXml(d.xml), 'domain XML');
      if (parsed.name !== d.name) throw new NodeError(this.node, `domain XML is for ${JSON.stringify(parsed.name)}, not ${JSON.stringify(d.name)}`);
    });
  }

  private withKnownUuid(name: string, xml: string): string {
    const uuid = this.domainUuids.get(name);
    return uuid === undefined ? xml : withUuid(xml, 'domain', uuid);
  }

  private async defineOnNode(xmls: readonly string[]): Promise<DefineResult[]> {
    if (xmls.length === 0) return [];
    const token = newMarkerToken();
    const result = await this.runner.runScript(defineDomainsScript(token, this.uri, xmls), { label: `define ${xmls.length} domain(s)`, timeoutMs: 120_000 + 1_000 * xmls.length });
    return parseDefineDomainsOutput(result.stdout, token, xmls.length).results;
  }

  private currentNetwork(read: Map<string, string>): CurrentNetwork | undefined {
    const config = read.get('config') ?? '';
    if (config === '') return undefined;
    const info = keyValues(read.get('info') ?? '');
    const active = info.get('Active') === 'yes';
    const live = read.get('live') ?? '';
    return {
      config: this.parse(() => parseNetworkXml(config), 'network XML on the node'),
      ...(active && live !== '' ? { live: this.parse(() => parseNetworkXml(live), 'network XML on the node') } : {}),
      active,
      autostart: info.get('Autostart') === 'yes',
    };
  }

  private assertManagedNetwork(name: string): void {
    assertVirshName(this.node, 'network', name);
    if (reservedNetworks.has(name)) throw new NodeError(this.node, `refusing to manage libvirt's ${JSON.stringify(name)} network (NAT to the outside); give qvd's network another name`);
  }

  private assertVolumeName(volume: string): void {
    assertVirshName(this.node, 'volume', volume);
    if (isQvdSidecarName(volume)) throw new NodeError(this.node, `volume name ${JSON.stringify(volume)} is reserved for qvd's own files`);
  }

  private parse<T>(parse: () => T, what: string): T {
    try {
      return parse();
    } catch (error) {
      throw new NodeError(this.node, `invalid ${what}: ${errorMessage(error)}`, { cause: error });
    }
  }
}

function networkStepScript(steps: readonly NetworkStep[], defineXml: string): string {
  return steps.map((step) => {
    switch (step.kind) {
      case 'define':
        return sh`tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cat >"$tmp" ${heredoc(defineXml)}virsh -q -c "$uri" net-define "$tmp" >/dev/null`;
      case 'destroy':
        return 'virsh -q -c "$uri" net-destroy "$name" >/dev/null';
      case 'start':
        return 'virsh -q -c "$uri" net-start "$name" >/dev/null';
      case 'autostart':
        return 'virsh -q -c "$uri" net-autostart "$name" >/dev/null';
      case 'host': {
        const flags = [...(step.live ? ['--live'] : []), ...(step.config ? ['--config'] : [])];
        return sh`virsh -q -c "$uri" net-update "$name" ${step.op} ip-dhcp-host ${dhcpHostXml(step.host)} ${flags} >/dev/null`;
      }
    }
  }).join('\n');
}
