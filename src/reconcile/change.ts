import type { DomainConfig, ObservedNetwork } from '../drivers/observed-state.js';
import { SETTINGS_KEY, type RecordWrite } from '../state/store.js';

/**
 * What a change does to its object. `update-restart` changes the definition
 * of a running VM: it takes effect at its next boot. `replace` destroys and
 * re-creates, and always says which attribute forced it.
 */
export type Action = 'create' | 'update' | 'update-restart' | 'replace' | 'delete';

export interface AttributeChange {
  readonly name: string;
  readonly before?: unknown;
  readonly after?: unknown;
  /** This attribute is why the object is replaced rather than updated. */
  readonly forcesReplacement?: boolean;
}

interface ChangeBase {
  readonly action: Action;
  /** Node the change runs on; store-only changes have none. */
  readonly node?: string;
  readonly attributes: readonly AttributeChange[];
  /** Why this change is needed, in words (drift, spec change, orphan...). */
  readonly reason: string;
}

export interface NetworkChange extends ChangeBase {
  readonly kind: 'network';
  readonly node: string;
  readonly name: string;
  readonly desired?: ObservedNetwork;
}

export interface PoolChange extends ChangeBase {
  readonly kind: 'pool';
  readonly node: string;
  readonly name: string;
  readonly path: string;
}

/** A file uploaded into the pool: a base image, or a kernel/initrd for direct boot. */
export interface ImageFileChange extends ChangeBase {
  readonly kind: 'image-file';
  readonly node: string;
  readonly pool: string;
  readonly volume: string;
  readonly image: string;
  readonly source?: string;
  readonly sha256?: string;
}

export interface VolumeChange extends ChangeBase {
  readonly kind: 'volume';
  readonly node: string;
  readonly pool: string;
  readonly volume: string;
  readonly vm: string;
  /**
   * `log`: the VM's serial console file, removed with its VM. `leftover`: a
   * temporary file of qvd's own that an interrupted upload or copy left
   * behind (`vm` is empty).
   */
  readonly role: 'root' | 'home' | 'log' | 'leftover';
  readonly capacityBytes?: number;
  readonly backing?: { readonly volume: string; readonly format: string };
}

export interface DomainChange extends ChangeBase {
  readonly kind: 'domain';
  readonly node: string;
  readonly domain: string;
  readonly vm: string;
  readonly config?: DomainConfig;
  readonly xml?: string;
}

export interface PowerChange extends ChangeBase {
  readonly kind: 'power';
  readonly node: string;
  readonly domain: string;
  readonly vm: string;
  /** `start` for `power: running`, `stop` for `power: stopped` or before a delete. */
  readonly to: 'start' | 'stop';
}

/** A record in the store that `serve` reads (users, VMs, nodes, images). */
export interface RecordChange extends ChangeBase {
  readonly kind: 'record';
  readonly write: RecordWrite;
}

export type Change = NetworkChange | PoolChange | ImageFileChange | VolumeChange | DomainChange | PowerChange | RecordChange;
export type ChangeKind = Change['kind'];

/** A short stable label, e.g. `domain qvd-alice on node1`. */
export function changeAddress(c: Change): string {
  switch (c.kind) {
    case 'network':
      return `network ${c.name} on ${c.node}`;
    case 'pool':
      return `pool ${c.name} on ${c.node}`;
    case 'image-file':
      return `image ${c.volume} on ${c.node}`;
    case 'volume':
      return `volume ${c.volume} on ${c.node}`;
    case 'domain':
      return `domain ${c.domain} on ${c.node}`;
    case 'power':
      return `${c.to} ${c.domain} on ${c.node}`;
    case 'record':
      return `${c.write.kind} ${c.write.op === 'delete' ? c.write.key : recordKey(c.write)}`;
  }
}

function recordKey(w: RecordWrite & { op: 'upsert' }): string {
  switch (w.kind) {
    case 'user':
    case 'image':
      return w.record.key;
    case 'vm':
    case 'node':
      return w.record.name;
    case 'settings':
      return SETTINGS_KEY;
  }
}
