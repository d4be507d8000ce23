import type { DesiredNode } from '../spec/desired-state.js';
import type { ObservedNode } from './observed-state.js';

/**
 * Everything qvd does to a node. Each mutation is idempotent: repeating one
 * that already took effect is not an error, so a killed apply can simply be
 * run again.
 */
export interface NodeDriver {
  readonly node: string;
  /** Read the whole managed state of the node in as few round trips as possible. */
  observe(scope: ObserveScope): Promise<ObservedNode>;

  /** Define (or redefine), start and autostart a network from its XML. */
  ensureNetwork(name: string, xml: string): Promise<void>;
  removeNetwork(name: string): Promise<void>;

  /** Create the directory, define, build, start and autostart a dir pool. */
  ensurePool(name: string, path: string): Promise<void>;
  removePool(name: string): Promise<void>;

  /** Upload a local file into a pool as `volume`, verified by sha256 on the node, atomically. */
  uploadImage(pool: string, volume: string, localPath: string, sha256: string, onProgress?: (sentBytes: number, totalBytes: number) => void): Promise<void>;
  /** A qcow2 volume; with `backing`, an overlay on that volume of the same pool. */
  createVolume(pool: string, volume: string, spec: VolumeSpec): Promise<void>;
  resizeVolume(pool: string, volume: string, capacityBytes: number): Promise<void>;
  deleteVolume(pool: string, volume: string): Promise<void>;

  defineDomain(name: string, xml: string): Promise<void>;
  /** Destroys a running domain first. */
  undefineDomain(name: string): Promise<void>;
  startDomain(name: string): Promise<void>;
  /**
   * Graceful (ACPI) when `graceful`, else immediate destroy. A graceful stop
   * returns once the request is sent, unless `options.timeoutMs` is given:
   * then it waits for the domain to be off and destroys it when the guest
   * ignored the request that long. A missing or stopped domain is fine.
   */
  stopDomain(name: string, graceful: boolean, options?: StopDomainOptions): Promise<void>;

  /**
   * Batches: the same as uploadImage / createVolume / defineDomain /
   * deleteVolume / undefineDomain once per item, in one round trip or so
   * instead of one (or several) per item. Every item is attempted and
   * gets its own outcome (same order as given), so a batch that fails part
   * way says what was done; a rejection means no outcome is known for any.
   * Optional: without them, apply makes one call per item.
   */
  uploadImages?(pool: string, images: readonly ImageUpload[]): Promise<readonly BatchOutcome[]>;
  createVolumes?(pool: string, volumes: readonly NamedVolumeSpec[]): Promise<readonly BatchOutcome[]>;
  defineDomains?(domains: readonly DomainDefinition[]): Promise<readonly BatchOutcome[]>;
  deleteVolumes?(pool: string, volumes: readonly string[]): Promise<readonly BatchOutcome[]>;
  undefineDomains?(names: readonly string[]): Promise<readonly BatchOutcome[]>;

  /**
   * Start opening the connection to the node now, without running anything
   * on it, so that it is up by the first real call (the CLI does this while
   * it opens the store and takes the lock). Failures are not reported here:
   * the first call meets them. Optional; never required for correctness.
   */
  prepare?(): void;

  close(): Promise<void>;
}

export interface VolumeSpec {
  /** Without it an overlay takes its backing volume's size. */
  readonly capacityBytes?: number;
  readonly backing?: { readonly volume: string; readonly format: string };
}

export interface NamedVolumeSpec extends VolumeSpec {
  readonly volume: string;
}

export interface ImageUpload {
  readonly volume: string;
  readonly localPath: string;
  readonly sha256: string;
}

export interface DomainDefinition {
  readonly name: string;
  readonly xml: string;
}

/** How one item of a batch ended. */
export type BatchOutcome = { readonly ok: true } | { readonly ok: false; readonly error: Error };

export interface StopDomainOptions {
  /** Make a graceful stop wait this long for the guest, then destroy it. */
  readonly timeoutMs?: number;
}

/** Names of the objects qvd manages on this node, so observe reads only those. */
export interface ObserveScope {
  readonly network: string;
  readonly pool: string;
  readonly storageDir: string;
  /** Domain names start with this prefix. */
  readonly domainPrefix: string;
  /**
   * What the spec puts on the node (domains, and volumes of the pool): a
   * driver may read these in the same round as its listings. Only a hint:
   * what the node actually has is observed either way, these included.
   */
  readonly expected?: { readonly domains: readonly string[]; readonly volumes: readonly string[] };
}

/** Makes the driver for a node; one per apply or plan run. */
export interface DriverFactory {
  forNode(node: DesiredNode): NodeDriver;
}
