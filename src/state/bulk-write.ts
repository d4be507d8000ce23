import type { Kysely } from 'kysely';
import type { Database } from './database-schema.js';

/** A record table and its primary key column (a RecordCodec fits). */
export interface KeyedTable {
  readonly table: 'users' | 'vms' | 'nodes' | 'images';
  readonly key: string;
}

/**
 * The record tables seen as plain rows: the bulk path is the same for all
 * four, and spelling it out per table would repeat it four times. Row types
 * are checked where rows are made (record-codecs.ts).
 */
type LooseDatabase = Record<string, Record<string, unknown>>;

/**
 * Bound parameters per statement: SQLite allows 32766, PostgreSQL 65535.
 * Larger statements gain nothing measurable and cost memory.
 */
const PARAMS_PER_STATEMENT = 10_000;

/** Insert or replace rows, many per statement: one statement per row is 10-50x slower through kysely. */
export async function upsertRows(
  db: Kysely<Database>,
  target: KeyedTable,
  rows: readonly Record<string, unknown>[],
): Promise<void> {
  const first = rows[0];
  if (first === undefined) return;
  const loose = db as unknown as Kysely<LooseDatabase>;
  const columns = Object.keys(first);
  const updated = columns.filter((c) => c !== target.key);
  const perStatement = Math.max(1, Math.floor(PARAMS_PER_STATEMENT / columns.length));
  for (let i = 0; i < rows.length; i += perStatement) {
    await loose
      .insertInto(target.table)
      .values(rows.slice(i, i + perStatement))
      .onConflict((oc) =>
        oc.column(target.key).doUpdateSet((eb) => Object.fromEntries(updated.map((c) => [c, eb.ref(`excluded.${c}`)]))),
      )
      .execute();
  }
}

export async function deleteKeys(db: Kysely<Database>, target: KeyedTable, keys: readonly string[]): Promise<void> {
  const loose = db as unknown as Kysely<LooseDatabase>;
  for (let i = 0; i < keys.length; i += PARAMS_PER_STATEMENT) {
    await loose
      .deleteFrom(target.table)
      .where(target.key, 'in', keys.slice(i, i + PARAMS_PER_STATEMENT))
      .execute();
  }
}
