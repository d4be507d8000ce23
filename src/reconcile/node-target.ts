import type { DomainConfig, ObservedNetwork } from '../drivers/observed-state.js';
import type { DesiredImage, DesiredNode, DesiredState, DesiredVm } from '../spec/desired-state.js';
import { cmdlineWithSecret } from './vma-cmdline.js';
import { vmsOnNode } from './vms-by-node.js';
import { domainName, homeVolume, imageInitrdVolume, imageKernelVolume, imageVolume, overlayVolume, POOL_NAME, serialLogPath } from './naming.js';

const MiB = 1024 * 1024;

export interface ImageFileTarget {
  readonly volume: string;
  readonly image: string;
  readonly source: string;
  readonly sha256?: string;
  readonly format: 'qcow2' | 'raw';
}

export interface VolumeTarget {
  readonly vm: string;
  readonly role: 'root' | 'home';
  readonly volume: string;
  readonly capacityBytes?: number;
  readonly backing?: { readonly volume: string; readonly format: string };
}

export interface DomainTarget {
  readonly vm: DesiredVm;
  readonly domain: string;
  readonly config: DomainConfig;
}

/** What one node should hold, derived from the desired state alone (pure). */
export interface NodeTarget {
  readonly node: DesiredNode;
  readonly network: ObservedNetwork;
  readonly pool: { readonly name: string; readonly path: string };
  readonly imageFiles: readonly ImageFileTarget[];
  readonly volumes: readonly VolumeTarget[];
  readonly domains: readonly DomainTarget[];
}

/** `vms`: the VMs to put on the node (default: those the spec places there; none for destroy). */
export function nodeTarget(desired: DesiredState, node: DesiredNode, hardwareVirt: boolean, vms: readonly DesiredVm[] = vmsOnNode(desired.vms, node.name)): NodeTarget {
  const net = desired.settings.network;
  const images = new Map(desired.images.map((i) => [i.key, i]));
  const used = new Map<string, DesiredImage>();
  for (const vm of vms) {
    const img = images.get(vm.image);
    if (img !== undefined) used.set(img.key, img);
  }
  const imageFiles: ImageFileTarget[] = [];
  for (const img of [...used.values()].sort((a, b) => a.key.localeCompare(b.key))) {
    imageFiles.push({ volume: imageVolume(img.key), image: img.key, source: img.source, sha256: img.sha256, format: 'qcow2' });
    if (img.boot !== undefined) {
      imageFiles.push({ volume: imageKernelVolume(img.key), image: img.key, source: img.boot.kernel, format: 'raw' });
      if (img.boot.initrd !== undefined) imageFiles.push({ volume: imageInitrdVolume(img.key), image: img.key, source: img.boot.initrd, format: 'raw' });
    }
  }
  const volumes: VolumeTarget[] = [];
  const domains: DomainTarget[] = [];
  for (const vm of vms) {
    const img = images.get(vm.image);
    if (img === undefined) continue;
    volumes.push({ vm: vm.name, role: 'root', volume: overlayVolume(vm.name), backing: { volume: imageVolume(img.key), format: 'qcow2' } });
    volumes.push({ vm: vm.name, role: 'home', volume: homeVolume(vm.name), capacityBytes: img.homeSizeMb * MiB });
    domains.push({ vm, domain: domainName(vm.name), config: domainConfig(vm, img, node, net.name, hardwareVirt, desired.vmaSecrets?.[vm.name]) });
  }
  return {
    node,
    network: {
      name: net.name,
      active: true,
      autostart: true,
      bridge: net.bridge,
      address: net.gateway,
      prefix: net.prefix,
      dhcpRange: { start: net.dhcpStart, end: net.dhcpEnd },
      // MACs are lower-case hex with colons: code-unit order is their order, and far cheaper than localeCompare.
      hosts: vms.map((v) => ({ mac: v.mac, ip: v.ip, name: v.name })).sort((a, b) => (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0)),
      forward: false,
    },
    pool: { name: POOL_NAME, path: node.storageDir },
    imageFiles,
    volumes,
    domains,
  };
}

/**
 * `vmaSecret`: the VM's agent secret (desired.vmaSecrets), put on the kernel
 * command line; apply and the HKD both render through here, so they agree.
 */
function domainConfig(vm: DesiredVm, img: DesiredImage, node: DesiredNode, network: string, hardwareVirt: boolean, vmaSecret: string | undefined): DomainConfig {
  const boot = img.boot;
  return {
    type: hardwareVirt ? 'kvm' : 'qemu',
    memoryMiB: img.memoryMb,
    vcpus: img.vcpus,
    disks: [
      { target: 'vda', pool: POOL_NAME, volume: overlayVolume(vm.name), format: 'qcow2' },
      { target: 'vdb', pool: POOL_NAME, volume: homeVolume(vm.name), format: 'qcow2' },
    ],
    nics: [{ mac: vm.mac, network }],
    ...(boot === undefined
      ? {}
      : {
          kernel: `${node.storageDir}/${imageKernelVolume(img.key)}`,
          ...(boot.initrd === undefined ? {} : { initrd: `${node.storageDir}/${imageInitrdVolume(img.key)}` }),
          cmdline: cmdlineWithSecret(boot.cmdline, img.vma ? vmaSecret : undefined),
        }),
    serialLog: serialLogPath(node.storageDir, vm.name),
  };
}
