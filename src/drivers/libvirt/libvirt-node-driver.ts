import { posix } from 'node:path';
import { NodeError } from '../../errors.js';
import type { CommandRunner } from '../exec/command-runner.js';
import { heredoc, raw, sh } from '../exec/ssh/shell-quote.js';
import { isQvdSidecarName, verifiedUpload } from '../exec/verified-upload.js';
import type { NodeDriver, ObserveScope, StopDomainOptions } from '../node-driver.js';
import type { NodeFacts, ObservedNode } from '../observed-state.js';
import type { DomainApi } from './domain-api.js';
import { parseDomainXml } from './domain-xml.js';
import { errorMessage } from './libvirt-errors.js';
import { parseNetworkXml } from './network-xml.js';
import { planNetworkSteps, type CurrentNetwork, type NetworkStep } from './network-steps.js';
import { assembleObservedNode, splitSections } from './observe-output.js';
import { newMarkerToken, observeScript, observeScriptArgs } from './observe-script.js';
import { parsePoolXml, parseVolumeXml } from './storage-xml.js';
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
    return assembleObservedNode(this.node, scope, splitSections(result.stdout, token), sshHostKey === undefined ? {} : { sshHostKey });
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
  }

  async uploadImage(pool: string, volume: string, localPath: string, sha256: string, onProgress?: (sentBytes: number, totalBytes: number) => void): Promise<void> {
    assertVirshName(this.node, 'pool', pool);
    this.assertVolumeName(volume);
    const read = await virshBatch(this.runner, this.uri, [{ key: 'xml', command: `pool-dumpxml --inactive ${pool}` }]);
    const xml = read.get('xml') ?? '';
    if (xml === '') throw new NodeError(this.node, `cannot upload ${volume}: storage pool ${pool} does not exist`, { hint: 'The pool is created before images are uploaded (ensurePool).' });
    const dir = this.parse(() => parsePoolXml(xml), 'pool XML').path;
    const outcome = await verifiedUpload(this.runner, { localPath, remotePath: posix.join(dir, volume), sha256, ...(onProgress === undefined ? {} : { onProgress }) });
    // libvirt lists a file only after a refresh; later volume operations (overlays) need it listed.
    if (outcome === 'uploaded') await this.runner.run(['virsh', '-q', '-c', this.uri, 'pool-refresh', pool]);
  }

  async createVolume(pool: string, volume: string, spec: { capacityBytes?: number; backing?: { volume: string; format: string } }): Promise<void> {
    assertVirshName(this.node, 'pool', pool);
    this.assertVolumeName(volume);
    if (spec.backing !== undefined) this.assertVolumeName(spec.backing.volume);
    if (spec.capacityBytes === undefined && spec.backing === undefined) throw new NodeError(this.node, `volume ${pool}/${volume}: a capacity is needed when there is no backing volume`);
    if (spec.capacityBytes !== undefined && (!Number.isSafeInteger(spec.capacityBytes) || spec.capacityBytes <= 0)) throw new NodeError(this.node, `volume ${pool}/${volume}: invalid capacity ${spec.capacityBytes}`);
    const result = await this.runner.runScript(sh`set -e
uri=${this.uri}
pool=${pool}
vol=${volume}
cap=${spec.capacityBytes === undefined ? '' : String(spec.capacityBytes)}
backing=${spec.backing?.volume ?? ''}
bfmt=${spec.backing?.format ?? ''}
virsh -q -c "$uri" pool-refresh "$pool" >/dev/null
if virsh -q -c "$uri" vol-info --pool "$pool" "$vol" >/dev/null 2>&1; then
  echo EXISTS
  virsh -q -c "$uri" vol-dumpxml --pool "$pool" "$vol"
  exit 0
fi
if [ -z "$cap" ]; then
  # An overlay without its own size takes its backing volume's.
  cap=$(virsh -q -c "$uri" vol-info --bytes --pool "$pool" "$backing" | awk '$1 == "Capacity:" {print $2}')
fi
if [ -n "$backing" ]; then
  # The backing format is always explicit: QEMU refuses to probe it (and must not, for safety).
  virsh -q -c "$uri" vol-create-as "$pool" "$vol" "$cap" --format qcow2 --backing-vol "$backing" --backing-vol-format "$bfmt" >/dev/null
else
  virsh -q -c "$uri" vol-create-as "$pool" "$vol" "$cap" --format qcow2 >/dev/null
fi
echo CREATED
`, { label: `create volume ${pool}/${volume}` });
    const out = result.stdout;
    if (!out.startsWith('EXISTS')) return;
    const existing = parseVolumeXml(out.slice('EXISTS'.length).trim(), pool);
    const wantBacking = spec.backing?.volume;
    const hasBacking = existing.backingPath === undefined ? undefined : posix.basename(existing.backingPath);
    if (existing.format !== 'qcow2' || hasBacking !== wantBacking) {
      throw new NodeError(this.node, `volume ${pool}/${volume} already exists as ${existing.format}${hasBacking === undefined ? '' : ` backed by ${existing.backingPath ?? ''}`}, not as qcow2${wantBacking === undefined ? '' : ` backed by ${wantBacking}`}`, {
        hint: 'Delete the volume first if it is safe to lose its content.',
      });
    }
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
    assertVirshName(this.node, 'pool', pool);
    this.assertVolumeName(volume);
    await this.runner.runScript(sh`uri=${this.uri}
pool=${pool}
vol=${volume}
virsh -q -c "$uri" pool-refresh "$pool" >/dev/null 2>&1 || exit 0
path=$(virsh -q -c "$uri" vol-path --pool "$pool" "$vol" 2>/dev/null) || exit 0
out=$(virsh -q -c "$uri" vol-delete --pool "$pool" "$vol" 2>&1) || { case $out in *"not found"*) ;; *) echo "$out" >&2; exit 1 ;; esac; }
rm -f -- "$path.sha256"
`, { label: `delete volume ${pool}/${volume}` });
  }

  async defineDomain(name: string, xml: string): Promise<void> {
    assertVirshName(this.node, 'domain', name);
    const parsed = this.parse(() => parseDomainXml(xml), 'domain XML');
    if (parsed.name !== name) throw new NodeError(this.node, `domain XML is for ${JSON.stringify(parsed.name)}, not ${JSON.stringify(name)}`);
    const uuid = parsed.uuid === undefined ? await this.domains.uuid(name) : undefined;
    await this.domains.define(uuid === undefined ? xml : withUuid(xml, 'domain', uuid));
  }

  async undefineDomain(name: string): Promise<void> {
    const state = await this.domains.state(name);
    if (state === 'absent') return;
    if (state !== 'stopped') await this.domains.destroy(name);
    await this.domains.undefine(name);
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

  async close(): Promise<void> {
    await Promise.allSettled([this.domains.close(), this.runner.close()]);
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
