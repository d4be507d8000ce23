import type { Kysely } from 'kysely';

/**
 * The cluster settings the last apply wrote (a JSON object of flat
 * `section.key` → value), so that plan can show a settings change and
 * apply can bump the serial that makes every `qvd serve` reload the spec.
 * Null on a store no apply has written them to yet. Portable DDL.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('meta').addColumn('settings', 'text').execute();
}
