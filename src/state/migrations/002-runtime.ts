import { sql, type Kysely } from 'kysely';

/**
 * What `qvd serve` keeps while it runs: VM runtimes (with their stable ids),
 * node runtimes (heartbeats), bearer tokens and the append-only VM event log.
 *
 * Portable DDL only, as in 001. No foreign keys to the record tables: a VM's
 * record can disappear (apply removed it) while its runtime row must stay,
 * retired, so that its id is never handed to another VM.
 *
 * Times are ISO-8601 text in UTC (`Date#toISOString`): they compare correctly
 * as strings, which is what the "older than" queries rely on.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('vm_runtime')
    // Allocated as max(id) + 1 over every row ever written; rows are retired,
    // never deleted, so an id is never reused.
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('vm', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('command', 'text')
    .addColumn('command_at', 'text')
    .addColumn('node', 'text')
    .addColumn('user_state', 'text', (c) => c.notNull())
    .addColumn('user_state_at', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text')
    .addColumn('session_node', 'text')
    .addColumn('session_pid', 'integer')
    .addColumn('session_host', 'text')
    .addColumn('session_takeover', 'text')
    .addColumn('nx_cookie', 'text')
    .addColumn('vma_secret', 'text')
    .addColumn('started_at', 'text')
    .addColumn('ready_at', 'text')
    .addColumn('vma_ok_at', 'text')
    .addColumn('health_ok_at', 'text')
    .addColumn('vma_failures', 'integer', (c) => c.notNull())
    .addColumn('start_failures', 'integer', (c) => c.notNull())
    .addColumn('state_reason', 'text', (c) => c.notNull())
    .addColumn('state_at', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('retired_at', 'text')
    .execute();
  // One live runtime per VM name; retired rows keep their name for history.
  await db.schema.createIndex('vm_runtime_live_vm').on('vm_runtime').column('vm').unique().where(sql.ref('retired_at'), 'is', null).execute();
  await db.schema.createIndex('vm_runtime_node').on('vm_runtime').column('node').execute();
  await db.schema.createIndex('vm_runtime_session').on('vm_runtime').column('session_id').execute();

  await db.schema
    .createTable('node_runtime')
    .addColumn('node', 'text', (c) => c.primaryKey())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('state_reason', 'text', (c) => c.notNull())
    .addColumn('state_at', 'text', (c) => c.notNull())
    .addColumn('heartbeat_at', 'text')
    .addColumn('serve_pid', 'integer')
    .addColumn('serve_host', 'text')
    .addColumn('l7r_address', 'text')
    .addColumn('running_vms', 'integer', (c) => c.notNull())
    .addColumn('free_memory_mb', 'integer', (c) => c.notNull())
    .addColumn('free_vcpus', 'integer', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('auth_tokens')
    // sha256 (hex) of the token: a leaked table does not give working tokens.
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('revoked_at', 'text')
    .execute();
  await db.schema.createIndex('auth_tokens_user').on('auth_tokens').column('user_key').execute();

  await db.schema
    .createTable('vm_events')
    // Time-ordered text key (timestamp + writer + counter): unique across
    // processes without a sequence, which SQLite and PostgreSQL spell differently.
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('at', 'text', (c) => c.notNull())
    .addColumn('vm_id', 'integer', (c) => c.notNull())
    .addColumn('vm', 'text', (c) => c.notNull())
    .addColumn('node', 'text')
    .addColumn('from_state', 'text', (c) => c.notNull())
    .addColumn('to_state', 'text', (c) => c.notNull())
    .addColumn('command', 'text')
    .addColumn('user_state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('vm_events_vm_id').on('vm_events').columns(['vm_id', 'id']).execute();
}
