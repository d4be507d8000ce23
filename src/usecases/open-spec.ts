import { dirname, join, resolve as resolvePath } from 'node:path';
import { InvalidInputError } from '../errors.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { DesiredState } from '../spec/desired-state.js';
import { readSpec } from '../spec/read-spec.js';
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
export async function openSpec(file: string, opts: { withStore: true; env?: NodeJS.ProcessEnv }): Promise<OpenedSpecWithStore>;
export async function openSpec(file: string, opts: { withStore: false; env?: NodeJS.ProcessEnv }): Promise<OpenedSpec>;
export async function openSpec(file: string, opts: { withStore: boolean; env?: NodeJS.ProcessEnv }): Promise<OpenedSpec | OpenedSpecWithStore> {
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
