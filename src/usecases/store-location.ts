import { isAbsolute, join } from 'node:path';
import { InvalidInputError } from '../errors.js';
import type { SpecSettings } from '../spec/spec-document.js';
import type { StoreConfig } from '../state/open-store.js';

export const DEFAULT_SQLITE_PATH = '.qvd/state.db';

/**
 * Where the store of a spec lives: SQLite beside the spec by default, or
 * PostgreSQL whose URL (with its password) comes from an environment variable.
 * Read from the raw settings, because resolving the rest needs the store.
 */
export function storeConfigOf(database: SpecSettings['database'], specDir: string, env: NodeJS.ProcessEnv = process.env): StoreConfig {
  if (database?.postgres !== undefined) {
    const name = database.postgres.url_env;
    const url = env[name];
    if (url === undefined || url === '') {
      throw new InvalidInputError(`settings.database.postgres.url_env names ${name}, which is not set`, [], {
        hint: `export ${name}=postgres://USER:PASSWORD@HOST:5432/DB`,
      });
    }
    return { kind: 'postgres', url };
  }
  const p = database?.sqlite ?? DEFAULT_SQLITE_PATH;
  return { kind: 'sqlite', path: isAbsolute(p) ? p : join(specDir, p) };
}
