import { readFileSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { InvalidInputError } from '../errors.js';
import type { Diagnostic } from '../spec/diagnostic.js';
import type { DesiredState } from '../spec/desired-state.js';
import { loadSpec } from '../spec/load-spec.js';
import { resolve } from '../spec/resolve.js';
import { attachPositions } from '../spec/source-positions.js';
import { openStore } from '../state/open-store.js';
import type { Store, StoreSnapshot } from '../state/store.js';
import { storeConfigOf } from './store-location.js';

export interface OpenedSpec {
  readonly file: string;
  readonly desired: DesiredState;
  readonly warnings: readonly Diagnostic[];
}

export interface OpenedSpecWithStore extends OpenedSpec {
  readonly store: Store;
  readonly snapshot: StoreSnapshot;
}

/**
 * Spec file → DesiredState, or InvalidInputError with every diagnostic, each
 * with its file:line:column. With `withStore`, the store the spec names is
 * opened and its snapshot used, so placements and IPs stay where they were.
 */
export async function openSpec(file: string, opts: { withStore: true; env?: NodeJS.ProcessEnv }): Promise<OpenedSpecWithStore>;
export async function openSpec(file: string, opts: { withStore: false; env?: NodeJS.ProcessEnv }): Promise<OpenedSpec>;
export async function openSpec(file: string, opts: { withStore: boolean; env?: NodeJS.ProcessEnv }): Promise<OpenedSpec | OpenedSpecWithStore> {
  const path = resolvePath(file);
  const env = opts.env ?? process.env;
  const loaded = await loadSpec(path);
  const fail = (diagnostics: readonly Diagnostic[]): never => {
    const positioned = attachPositions(loaded.text, path, diagnostics);
    const errors = positioned.filter((d) => d.severity === 'error').length;
    throw new InvalidInputError(`${file}: ${errors} error(s); nothing was changed`, positioned);
  };
  if (loaded.document === undefined) return fail(loaded.diagnostics);
  let store: Store | undefined;
  let snapshot: StoreSnapshot | undefined;
  if (opts.withStore) {
    // Where the store lives comes from the settings alone, before the rest is resolved.
    store = await openStore(storeConfigOf(loaded.document.settings?.database, dirname(path), env));
    snapshot = await store.snapshot();
  }
  const resolved = await resolve(loaded.document, snapshot, { specDir: dirname(path), specText: loaded.text, env, readFile: (p) => readFileSync(p, 'utf8') });
  const diagnostics = [...loaded.diagnostics, ...resolved.diagnostics];
  if (resolved.desired === undefined || diagnostics.some((d) => d.severity === 'error')) {
    await store?.close();
    return fail(diagnostics);
  }
  const warnings = diagnostics.length === 0 ? [] : attachPositions(loaded.text, path, diagnostics);
  return store === undefined || snapshot === undefined
    ? { file: path, desired: resolved.desired, warnings }
    : { file: path, desired: resolved.desired, warnings, store, snapshot };
}
