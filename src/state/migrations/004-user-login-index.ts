import type { Kysely } from 'kysely';

/**
 * Every login looks its user up by (login, tenant): without this index that
 * was a scan of all users, per connect. Portable DDL.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('users_login_tenant').on('users').columns(['login', 'tenant']).execute();
}
