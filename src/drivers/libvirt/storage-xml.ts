import type { ObservedVolume } from '../observed-state.js';
import { toBytes } from './size-units.js';
import { attr, child, childText, parseXml, text, XmlParseError } from './xml-tree.js';

export interface PoolDefinition {
  readonly name: string;
  readonly type: string;
  readonly path: string;
}

export function parsePoolXml(xml: string): PoolDefinition {
  const pool = parseXml(xml, 'pool');
  const name = childText(pool, 'name');
  if (name === undefined || name === '') throw new XmlParseError('pool XML has no <name>');
  return { name, type: attr(pool, 'type') ?? '', path: childText(child(pool, 'target'), 'path') ?? '' };
}

/** A volume as vol-dumpxml shows it; the checksum is added from its sidecar by the caller. */
export function parseVolumeXml(xml: string, pool: string): ObservedVolume {
  const volume = parseXml(xml, 'volume');
  const name = childText(volume, 'name');
  if (name === undefined || name === '') throw new XmlParseError('volume XML has no <name>');
  const target = child(volume, 'target');
  const capacity = child(volume, 'capacity');
  const backing = child(volume, 'backingStore');
  const result: { -readonly [K in keyof ObservedVolume]: ObservedVolume[K] } = {
    pool,
    name,
    path: childText(target, 'path') ?? '',
    format: attr(child(target, 'format'), 'type') ?? 'raw',
    capacityBytes: toBytes(text(capacity), attr(capacity, 'unit'), 'bytes') ?? 0,
  };
  const backingPath = childText(backing, 'path');
  if (backingPath !== undefined && backingPath !== '') {
    result.backingPath = backingPath;
    const backingFormat = attr(child(backing, 'format'), 'type');
    if (backingFormat !== undefined) result.backingFormat = backingFormat;
  }
  return result;
}
