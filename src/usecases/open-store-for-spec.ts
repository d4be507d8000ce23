import { dirname, resolve } from 'node:path';
import { InvalidInputError } from '../errors.js';
import { attachPositions } from '../spec/source-positions.js';
import { loadSpec } from '../spec/load-spec.js';
import { openStore } from '../state/open-store.js';
import type { Store } from '../state/store.js';
import { storeConfigOf } from './store-location.js';

/** The store a spec names, without resolving the rest (for state and status commands). */
export async function openStoreForSpec(file: string): Promise<Store> {
  const path = resolve(file);
  const loaded = await loadSpec(path);
  if (loaded.document === undefined) throw new InvalidInputError(`${file}: cannot be read; nothing was changed`, attachPositions(loaded.text, path, loaded.diagnostics));
  return openStore(storeConfigOf(loaded.document.settings?.database, dirname(path)));
}
