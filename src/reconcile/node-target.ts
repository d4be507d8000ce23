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
  // What VMs of one image share is worked out once per image: a node holds hundreds of VMs of a few images.
  const perImage = new Map<string, ImageShared>();
  for (const img of used.values()) perImage.set(img.key, imageShared(img, node));
  const volumes: VolumeTarget[] = [];
  const domains: DomainTarget[] = [];
  for (const vm of vms) {
    const img = images.get(vm.image);
    const shared = perImage.get(vm.image);
    if (img === undefined || shared === undefined) continue;
    const root = overlayVolume(vm.name);
    const home = homeVolume(vm.name);
    volumes.push({ vm: vm.name, role: 'root', volume: root, backing: shared.backing });
    volumes.push({ vm: vm.name, role: 'home', volume: home, capacityBytes: shared.homeBytes });
    domains.push({ vm, domain: domainName(vm.name), config: domainConfig(vm, img, shared, node, net.name, hardwareVirt, root, home, desired.vmaSecrets?.[vm.name]) });
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

interface ImageShared {
  readonly backing: { readonly volume: string; readonly format: string };
  readonly homeBytes: number;
  /** Direct kernel boot: the files on this node, and the image's command line. */
  readonly boot?: { readonly kernel: string; readonly initrd?: string; readonly cmdline: string };
}

function imageShared(img: DesiredImage, node: DesiredNode): ImageShared {
  const backing = { volume: imageVolume(img.key), format: 'qcow2' };
  const homeBytes = img.homeSizeMb * MiB;
  const boot = img.boot;
  if (boot === undefined) return { backing, homeBytes };
  const kernel = `${node.storageDir}/${imageKernelVolume(img.key)}`;
  const initrd = boot.initrd === undefined ? {} : { initrd: `${node.storageDir}/${imageInitrdVolume(img.key)}` };
  return { backing, homeBytes, boot: { kernel, ...initrd, cmdline: boot.cmdline } };
}

/**
 * `vmaSecret`: the VM's agent secret (desired.vmaSecrets), put on the kernel
 * command line; apply and the HKD both render through here, so they agree.
 */
function domainConfig(vm: DesiredVm, img: DesiredImage, shared: ImageShared, node: DesiredNode, network: string, hardwareVirt: boolean, root: string, home: string, vmaSecret: string | undefined): DomainConfig {
  const type = hardwareVirt ? ('kvm' as const) : ('qemu' as const);
  const disks = [
    { target: 'vda', pool: POOL_NAME, volume: root, format: 'qcow2' },
    { target: 'vdb', pool: POOL_NAME, volume: home, format: 'qcow2' },
  ];
  const nics = [{ mac: vm.mac, network }];
  const serialLog = serialLogPath(node.storageDir, vm.name);
  const boot = shared.boot;
  // No spreads in the common case: a plan builds one of these per VM.
  if (boot === undefined) return { type, memoryMiB: img.memoryMb, vcpus: img.vcpus, disks, nics, serialLog };
  const { cmdline, ...files } = boot;
  return { type, memoryMiB: img.memoryMb, vcpus: img.vcpus, disks, nics, ...files, cmdline: cmdlineWithSecret(cmdline, img.vma ? vmaSecret : undefined), serialLog };
}
