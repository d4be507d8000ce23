import type { Migration, MigrationProvider } from 'kysely';
import * as initial from './migrations/001-initial.js';
import * as runtime from './migrations/002-runtime.js';
import * as vmaKey from './migrations/003-vma-key.js';
import * as userLoginIndex from './migrations/004-user-login-index.js';
import * as settings from './migrations/005-settings.js';

/**
 * Every migration, listed by hand: scanning a directory would break once the
 * code is compiled into dist/ or bundled, and a list makes the order obvious
 * in review. To add one: write `migrations/NNN-what.ts` exporting `up`, then
 * add it below. Never edit or rename a migration that has shipped.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '001-initial': initial,
  '002-runtime': runtime,
  '003-vma-key': vmaKey,
  '004-user-login-index': userLoginIndex,
  '005-settings': settings,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve({ ...migrations }),
};
