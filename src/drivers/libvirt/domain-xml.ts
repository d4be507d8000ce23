import type { DomainConfig } from '../observed-state.js';
import { bytesPerMiB, toBytes } from './size-units.js';
import { attr, child, childNames, children, childText, parseXml, text, XmlParseError, type XmlElement } from './xml-tree.js';

/** Namespace of qvd's `<metadata>` element: `<qvd:vm xmlns:qvd="..." name="VM"/>`. */
export const qvdVmNamespace = 'https://qvd.dev/xmlns/vm/1';

export interface ParsedDomain {
  readonly name: string;
  readonly uuid?: string;
  readonly managedVm?: string;
  readonly config: DomainConfig;
}

/** Maps a disk's file path back to the pool volume it is, when libvirt shows a path instead of `<source pool volume>`. */
export type VolumeByPath = (path: string) => { readonly pool: string; readonly volume: string } | undefined;

/**
 * Reads a domain's XML (ours, or libvirt's dumpxml of it) into the attributes
 * qvd manages. Everything libvirt adds by itself (machine type, controllers,
 * PCI addresses, uuid, seclabels...) is dropped, so the result compares
 * directly with what the core rendered.
 */
export function parseDomainXml(xml: string, volumeByPath: VolumeByPath = () => undefined): ParsedDomain {
  const domain = parseXml(xml, 'domain');
  const name = childText(domain, 'name');
  if (name === undefined || name === '') throw new XmlParseError('domain XML has no <name>');
  const type = attr(domain, 'type');
  if (type !== 'kvm' && type !== 'qemu') throw new XmlParseError(`domain ${name}: unsupported <domain type='${type ?? ''}'> (qvd manages kvm and qemu domains)`);

  const memory = child(domain, 'memory');
  const memoryBytes = toBytes(text(memory), attr(memory, 'unit'), 'KiB');
  if (memoryBytes === undefined) throw new XmlParseError(`domain ${name}: missing or unreadable <memory>`);
  const vcpus = Number(childText(domain, 'vcpu') ?? '1');

  const os = child(domain, 'os');
  const devices = child(domain, 'devices');
  const serialLog = children(devices, 'serial')
    .filter((serial) => attr(serial, 'type') === 'file')
    .map((serial) => attr(child(serial, 'source'), 'path'))
    .find((path) => path !== undefined);

  const config: Mutable<DomainConfig> = {
    type,
    memoryMiB: memoryBytes / bytesPerMiB,
    vcpus: Number.isFinite(vcpus) ? vcpus : 1,
    disks: children(devices, 'disk')
      .filter((disk) => (attr(disk, 'device') ?? 'disk') === 'disk')
      .map((disk) => parseDisk(disk, volumeByPath)),
    nics: children(devices, 'interface').map((nic) => ({
      mac: (attr(child(nic, 'mac'), 'address') ?? '').toLowerCase(),
      network: attr(child(nic, 'source'), 'network') ?? '',
    })),
  };
  const kernel = childText(os, 'kernel');
  const initrd = childText(os, 'initrd');
  const cmdline = childText(os, 'cmdline');
  if (kernel !== undefined && kernel !== '') config.kernel = kernel;
  if (initrd !== undefined && initrd !== '') config.initrd = initrd;
  if (cmdline !== undefined && cmdline !== '') config.cmdline = cmdline;
  if (serialLog !== undefined) config.serialLog = serialLog;

  const parsed: Mutable<ParsedDomain> = { name, config };
  const uuid = childText(domain, 'uuid');
  if (uuid !== undefined && uuid !== '') parsed.uuid = uuid;
  const managedVm = qvdVmName(child(domain, 'metadata'));
  if (managedVm !== undefined) parsed.managedVm = managedVm;
  return parsed;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function parseDisk(disk: XmlElement, volumeByPath: VolumeByPath): DomainConfig['disks'][number] {
  const source = child(disk, 'source');
  const target = attr(child(disk, 'target'), 'dev') ?? '';
  const format = attr(child(disk, 'driver'), 'type') ?? 'raw';
  const pool = attr(source, 'pool');
  const volume = attr(source, 'volume');
  if (pool !== undefined && volume !== undefined) return { target, pool, volume, format };
  // libvirt keeps type='volume' as written, but a disk defined by path (or rewritten by a tool) shows the file.
  const path = attr(source, 'file') ?? attr(source, 'dev') ?? '';
  const known = path === '' ? undefined : volumeByPath(path);
  return known === undefined ? { target, pool: '', volume: path, format } : { target, pool: known.pool, volume: known.volume, format };
}

/** The VM name in qvd's metadata element, whatever prefix the namespace was bound to. */
function qvdVmName(metadata: XmlElement | undefined): string | undefined {
  if (metadata === undefined) return undefined;
  for (const key of childNames(metadata)) {
    const [prefix, local] = key.includes(':') ? (key.split(':', 2) as [string, string]) : ['', key];
    if (local !== 'vm') continue;
    for (const element of children(metadata, key)) {
      const ns = attr(element, prefix === '' ? 'xmlns' : `xmlns:${prefix}`);
      if (ns === qvdVmNamespace) return attr(element, 'name');
    }
  }
  return undefined;
}
