import { dirname, join, resolve as resolvePath } from 'node:path';
import { InvalidInputError } from '../errors.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { DesiredNode, DesiredState } from '../spec/desired-state.js';
import { readSpec } from '../spec/read-spec.js';
import { resolveNode } from '../spec/resolve-nodes.js';
import type { SpecDocument } from '../spec/spec-document.js';
import { withVmaSecrets } from '../spec/vma-secrets.js';
import type { Store, StoreSnapshot } from '../state/store.js';
import { storeConfigOf } from './store-location.js';
import { trace, traced } from '../trace.js';

export interface OpenedSpec {
  readonly file: string;
  readonly desired: DesiredState;
  readonly warnings: readonly Diagnostic[];
}

export interface OpenedSpecWithStore extends OpenedSpec {
  readonly store: Store;
  readonly snapshot: StoreSnapshot;
}

/** Scratch files of qvd beside the spec (the SQLite store by default, checksums, known_hosts). */
export const workDirOf = (specFile: string): string => join(dirname(resolvePath(specFile)), '.qvd');

/**
 * Spec file → DesiredState, or InvalidInputError carrying every diagnostic
 * with its file:line:column. With `withStore`, the store the spec names is
 * opened and its snapshot used, so placements and IPs stay where they were,
 * and the VMs' agent secrets are derived from its key.
 */
export interface OpenSpecOptions {
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Told the spec's nodes as soon as the document is schema-valid, before the
   * store opens and the rest is checked: to start connecting to them early.
   * The spec may still turn out invalid.
   */
  readonly onNodes?: (nodes: readonly DesiredNode[], document: SpecDocument) => void;
}

export async function openSpec(file: string, opts: OpenSpecOptions & { withStore: true }): Promise<OpenedSpecWithStore>;
export async function openSpec(file: string, opts: OpenSpecOptions & { withStore: false }): Promise<OpenedSpec>;
export async function openSpec(file: string, opts: OpenSpecOptions & { withStore: boolean }): Promise<OpenedSpec | OpenedSpecWithStore> {
  const path = resolvePath(file);
  const env = opts.env ?? process.env;
  let store: Store | undefined;
  let snapshot: StoreSnapshot | undefined;
  try {
    const read = await readSpec(path, {
      env,
      checksumCachePath: join(workDirOf(path), 'checksums.json'),
      ...(opts.withStore
        ? {
            snapshotFor: async (document) => {
              // The store's code (kysely, SQLite) loads only for commands that use it: not for validate.
              trace('spec: parsed and schema-valid');
              opts.onNodes?.(document.nodes.map((n) => resolveNode(n, dirname(path))), document);
              const { openStore } = await import('../state/open-store.js');
              trace('store: code loaded');
              store = await traced('store: open + migrate', () => openStore(storeConfigOf(document.settings?.database, dirname(path), env)));
              snapshot = await traced('store: snapshot', () => (store as Store).snapshot());
              return snapshot;
            },
          }
        : {}),
    });
    if (read.desired === undefined) {
      const errors = read.diagnostics.filter((d) => d.severity === 'error').length;
      throw new InvalidInputError(`${file}: ${errors} error(s); nothing was changed`, read.diagnostics);
    }
    const warnings = read.diagnostics;
    if (store === undefined || snapshot === undefined) return { file: path, desired: read.desired, warnings };
    // Every command that renders domains opens the store: its key gives each
    // VM the same agent secret in plan, apply and serve (no false drift).
    trace('spec: resolved');
    const desired = withVmaSecrets(read.desired, await traced('store: vma key', () => (store as Store).vmaKey()));
    return { file: path, desired, warnings, store, snapshot };
  } catch (e) {
    await (store as Store | undefined)?.close();
    throw e;
  }
}
