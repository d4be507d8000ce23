import { sql, type Kysely } from 'kysely';

/**
 * The desired-state records, the apply lock, observations and the journal.
 *
 * Typed as Kysely<any> on purpose: a migration describes the schema as it was
 * at this point in history, not as database-schema.ts says it is today.
 * Only portable DDL: the same statements run on SQLite and PostgreSQL.
 *
 * No foreign keys between the record tables: they mirror what apply has
 * converged, which is legitimately inconsistent after a partly failed apply
 * (a VM whose node failed keeps its record while its image is removed), and a
 * constraint would then reject the whole write and lose what did succeed.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('meta')
    .addColumn('id', 'integer', (c) => c.primaryKey().check(sql`id = 1`))
    .addColumn('serial', 'integer', (c) => c.notNull())
    .execute();
  await db.insertInto('meta').values({ id: 1, serial: 0 }).execute();

  await db.schema
    .createTable('lock')
    .addColumn('slot', 'integer', (c) => c.primaryKey().check(sql`slot = 1`))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('since', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('users')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('login', 'text', (c) => c.notNull())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('blocked', 'boolean', (c) => c.notNull())
    .addColumn('properties', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('vms')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('user_key', 'text', (c) => c.notNull())
    .addColumn('image_key', 'text', (c) => c.notNull())
    .addColumn('node', 'text', (c) => c.notNull())
    .addColumn('node_pinned', 'boolean', (c) => c.notNull())
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('mac', 'text', (c) => c.notNull())
    .addColumn('power', 'text', (c) => c.notNull())
    .addColumn('persistent', 'boolean', (c) => c.notNull())
    .addColumn('blocked', 'boolean', (c) => c.notNull())
    .addColumn('properties', 'text', (c) => c.notNull())
    .execute();
  // The runtime (serve) asks "which VMs run on this node" and "which VMs does
  // this user have" on every pass and every login.
  await db.schema.createIndex('vms_node').on('vms').column('node').execute();
  await db.schema.createIndex('vms_user_key').on('vms').column('user_key').execute();

  await db.schema
    .createTable('nodes')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('blocked', 'boolean', (c) => c.notNull())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('max_vms', 'integer', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('images')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('memory_mb', 'integer', (c) => c.notNull())
    .addColumn('vcpus', 'integer', (c) => c.notNull())
    .addColumn('home_size_mb', 'integer', (c) => c.notNull())
    .addColumn('application', 'boolean', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('observed')
    .addColumn('node', 'text', (c) => c.primaryKey())
    .addColumn('json', 'text', (c) => c.notNull())
    .addColumn('at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('journal')
    .addColumn('apply_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('node', 'text')
    .addColumn('step', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('ord', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('journal_pk', ['apply_id', 'seq'])
    .execute();
  await db.schema.createIndex('journal_ord').on('journal').column('ord').execute();
}
