import type { DesiredImage, DesiredNode } from './desired-state.js';
import { errorAt, type Diagnostic } from './diagnostic.js';
import type { SpecDocument } from './spec-document.js';
import { imageKeyFromRef } from './spec-keys.js';

/**
 * What the spec itself makes impossible: VMs fixed on a node beyond its
 * limits, and images too big for the nodes. (VMs qvd places itself are
 * kept within limits by place-vms.ts, which reports when it cannot.)
 */
export function checkCapacity(document: SpecDocument, nodes: readonly DesiredNode[], images: readonly DesiredImage[]): Diagnostic[] {
  const out: Diagnostic[] = [];
  const imageByKey = new Map(images.map((m) => [m.key, m]));
  const nodeIndex = new Map(nodes.map((n, i) => [n.name, i]));
  const fixedCount = new Array<number>(nodes.length).fill(0);
  const runningMemory = new Array<number>(nodes.length).fill(0);

  (document.vms ?? []).forEach((vm, i) => {
    if (vm.node === undefined) return;
    const n = nodeIndex.get(vm.node);
    const node = n === undefined ? undefined : nodes[n];
    if (n === undefined || node === undefined) return;
    fixedCount[n] = (fixedCount[n] ?? 0) + 1;
    const image = imageByKey.get(imageKeyFromRef(vm.image));
    if (image === undefined) return;
    if ((vm.power ?? 'on-demand') === 'running') runningMemory[n] = (runningMemory[n] ?? 0) + image.memoryMb;
    const owner = (): string => `vms[${i}] ${JSON.stringify(vm.name)}`;
    if (image.vcpus > node.capacity.vcpus) {
      out.push(errorAt(['vms', i, 'node'], `${owner()}: image ${JSON.stringify(image.key)} needs ${image.vcpus} vcpus but node ${JSON.stringify(node.name)} allows ${node.capacity.vcpus}`));
    }
    if (image.memoryMb > node.capacity.memoryMb) {
      out.push(errorAt(['vms', i, 'node'], `${owner()}: image ${JSON.stringify(image.key)} needs ${image.memoryMb} MiB but node ${JSON.stringify(node.name)} has ${node.capacity.memoryMb} MiB`));
    }
  });

  nodes.forEach((node, n) => {
    const spec = document.nodes[n];
    const owner = (): string => `nodes[${n}] ${JSON.stringify(node.name)}`;
    const count = fixedCount[n] ?? 0;
    if (count > node.capacity.maxVms) {
      out.push(
        errorAt(
          spec?.capacity?.max_vms === undefined ? ['nodes', n] : ['nodes', n, 'capacity', 'max_vms'],
          `${owner()}: ${count} ${count === 1 ? 'VM is' : 'VMs are'} fixed on it but max_vms is ${node.capacity.maxVms}`,
          'Raise capacity.max_vms, or remove `node` from some of its VMs so qvd can place them elsewhere.',
        ),
      );
    }
    const memory = runningMemory[n] ?? 0;
    if (memory > node.capacity.memoryMb) {
      out.push(
        errorAt(
          spec?.capacity?.memory_mb === undefined ? ['nodes', n] : ['nodes', n, 'capacity', 'memory_mb'],
          `${owner()}: the running VMs fixed on it need ${memory} MiB but memory_mb is ${node.capacity.memoryMb}`,
          'VMs with power: running hold their memory all the time. Raise capacity.memory_mb, or make some of them on-demand.',
        ),
      );
    }
  });

  const widest = Math.max(0, ...nodes.map((n) => n.capacity.vcpus));
  const largest = Math.max(0, ...nodes.map((n) => n.capacity.memoryMb));
  images.forEach((image, m) => {
    if (image.vcpus > widest) {
      out.push(errorAt(['images', m, 'vcpus'], `images[${m}] ${JSON.stringify(image.key)}: needs ${image.vcpus} vcpus but no node allows more than ${widest}`));
    }
    if (image.memoryMb > largest) {
      out.push(errorAt(['images', m, 'memory_mb'], `images[${m}] ${JSON.stringify(image.key)}: needs ${image.memoryMb} MiB but no node has more than ${largest} MiB`));
    }
  });
  return out;
}
