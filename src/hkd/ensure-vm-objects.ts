import type { NodeDriver } from '../drivers/node-driver.js';
import type { ObservedNode } from '../drivers/observed-state.js';
import { applyNodeChange } from '../reconcile/apply-change.js';
import { changeAddress, type Change, type VolumeChange } from '../reconcile/change.js';
import { diffNode } from '../reconcile/diff-node.js';
import { overlayVolume } from '../reconcile/naming.js';
import { nodeTarget } from '../reconcile/node-target.js';
import { vmsOnNode } from '../reconcile/vms-by-node.js';
import type { DesiredNode, DesiredState, DesiredVm } from '../spec/desired-state.js';

export interface EnsureVmInput {
  readonly desired: DesiredState;
  readonly node: DesiredNode;
  readonly vm: DesiredVm;
  readonly observed: ObservedNode;
  /** Recreate the root overlay even when it exists (a non-persistent VM boots from a fresh disk). */
  readonly freshOverlay: boolean;
}

/**
 * The changes that make one VM startable on this node, computed by the same
 * nodeTarget + diffNode that apply uses (so the objects are exactly apply's),
 * then narrowed to what concerns this VM: its network host entry, the pool,
 * its image files, its two volumes and its domain. Nothing of another VM is
 * touched, and nothing is deleted except this VM's own root overlay.
 */
export function vmStartChanges(input: EnsureVmInput): Exclude<Change, { kind: 'record' }>[] {
  const { desired, node, vm, observed } = input;
  const placedHere = vmsOnNode(desired.vms, node.name).filter((v) => v.name !== vm.name);
  const target = nodeTarget(desired, node, observed.facts.hardwareVirt, [vm, ...placedHere]);
  const observedNet = observed.networks.find((n) => n.name === target.network.name);
  // Keep host entries of VMs visiting this node (failover) in the target, so
  // the only network difference that can remain is this VM's own entry.
  const hosts = new Map(target.network.hosts.map((h) => [h.mac, h]));
  for (const h of observedNet?.hosts ?? []) if (!hosts.has(h.mac)) hosts.set(h.mac, h);
  // An existing network keeps its base (bridge, addresses) as the node has it:
  // a base change restarts the network, cutting every guest on it, and that
  // only belongs in a reviewed apply. Only the host list may grow here.
  const base = observedNet === undefined ? target.network : { ...observedNet, active: true, autostart: true };
  const network = { ...base, hosts: [...hosts.values()].sort((a, b) => a.mac.localeCompare(b.mac)) };
  const specVms = new Set(desired.vms.map((v) => v.name));
  const diff = diffNode({ ...target, network }, observed, { purgeHomes: false, destroy: false, specVms });

  const hasOwnHost = observedNet?.hosts.some((h) => h.mac === vm.mac && h.ip === vm.ip) === true;
  const out: Exclude<Change, { kind: 'record' }>[] = [];
  let rootReplaced = false;
  for (const c of diff.changes) {
    switch (c.kind) {
      case 'network':
        // Redefining a live network for drift unrelated to this VM is apply's
        // business (and reviewed in a plan); here only a missing entry counts.
        if (c.action !== 'delete' && (observedNet === undefined || !hasOwnHost)) out.push(c);
        break;
      case 'pool':
        if (c.action !== 'delete') out.push(c);
        break;
      case 'image-file':
        // A replaced image would pull the base out from under running overlays: apply's call.
        if (c.action === 'create' && c.image === vm.image) out.push(c);
        break;
      case 'volume':
        if (c.vm === vm.name && c.action !== 'delete') {
          if (c.role === 'root' && c.action === 'replace') rootReplaced = true;
          out.push(c);
        }
        break;
      case 'domain':
        if (c.vm === vm.name && c.action !== 'delete') out.push(c);
        break;
      case 'power':
        break;
    }
  }
  const overlay = target.volumes.find((v) => v.vm === vm.name && v.role === 'root');
  const overlayExists = observed.volumes.some((v) => v.pool === target.pool.name && v.name === overlayVolume(vm.name));
  if (input.freshOverlay && overlay !== undefined && overlayExists && !rootReplaced) {
    const fresh: VolumeChange = {
      kind: 'volume',
      action: 'replace',
      node: node.name,
      pool: target.pool.name,
      volume: overlay.volume,
      vm: vm.name,
      role: 'root',
      ...(overlay.backing === undefined ? {} : { backing: overlay.backing }),
      attributes: [],
      reason: 'a non-persistent VM starts from a fresh root disk',
    };
    const firstDomain = out.findIndex((c) => c.kind === 'domain');
    out.splice(firstDomain === -1 ? out.length : firstDomain, 0, fresh);
  }
  return out;
}

/** Apply vmStartChanges in order; returns what was done, for the log. */
export async function ensureVmObjects(driver: NodeDriver, input: EnsureVmInput): Promise<string[]> {
  const done: string[] = [];
  for (const c of vmStartChanges(input)) {
    await applyNodeChange(driver, c);
    done.push(`${c.action} ${changeAddress(c)}`);
  }
  return done;
}
