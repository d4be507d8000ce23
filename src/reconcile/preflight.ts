import type { ObservedNode } from '../drivers/observed-state.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { Change } from './change.js';

/**
 * Per-node checks that make a plan unsafe to apply, phrased so the operator
 * knows what to fix. Each names its node. Pure: facts come from observe.
 */
export function preflight(o: ObservedNode, changes: readonly Change[], uploadBytes: number): Diagnostic[] {
  const node = o.node;
  const f = o.facts;
  const out: Diagnostic[] = [];
  const err = (summary: string, detail: string): void => void out.push({ severity: 'error', node, summary: `node ${node}: ${summary}`, detail });
  if (!f.qemuImg) err('qemu-img is not installed', 'Install it on the node (Debian: apt-get install qemu-utils); qvd creates disk overlays with it.');
  if (f.storageDirUsable === false) {
    err(
      'the storage directory cannot be traversed by the user qemu runs as',
      'Every directory on the way to the storage dir must be executable by libvirt-qemu (chmod o+x on each parent), or qemu gets "permission denied" when it opens the disks qvd creates.',
    );
  }
  for (const p of f.problems ?? []) err(p, 'Reported by the node while observing it.');
  if (!f.hardwareVirt) {
    out.push({
      severity: 'warning',
      node,
      summary: `node ${node}: no usable hardware virtualisation (KVM): VMs run under software emulation, several times slower`,
      detail: 'Enable VT-x/AMD-V in the firmware and load kvm_intel or kvm_amd to get type=kvm domains.',
    });
  }
  const needs = uploadBytes + changes.filter((c) => c.kind === 'volume' && c.action === 'create' && c.role === 'home').length * 256 * 1024;
  if (f.freeDiskBytes !== undefined && needs > f.freeDiskBytes) {
    err(`not enough free disk in the storage directory: ${mib(needs)} MiB needed, ${mib(f.freeDiskBytes)} MiB free`, 'Free space on the node or point storage_dir at a larger filesystem.');
  }
  return out;
}

const mib = (b: number): number => Math.ceil(b / (1024 * 1024));
