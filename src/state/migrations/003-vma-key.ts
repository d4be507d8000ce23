import type { Kysely } from 'kysely';

/**
 * The store's key for the VMs' agent (VMA) secrets: one random value, made
 * by the first process that needs it (Store.vmaKey), from which each VM's
 * secret is derived (spec/vma-secrets.ts). Null until then. Portable DDL.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('meta').addColumn('vma_key', 'text').execute();
}
