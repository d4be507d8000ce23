import type { Database } from './database-schema.js';

/**
 * The tables of migration 002 as kysely sees them, beside the record tables
 * of database-schema.ts (which the runtime reads: users, vms, nodes, images).
 */
export interface RuntimeDatabase extends Database {
  readonly vm_runtime: VmRuntimeTable;
  readonly node_runtime: NodeRuntimeTable;
  readonly auth_tokens: AuthTokensTable;
  readonly vm_events: VmEventsTable;
}

export interface VmRuntimeTable {
  id: number;
  vm: string;
  state: string;
  command: string | null;
  command_at: string | null;
  node: string | null;
  user_state: string;
  user_state_at: string;
  session_id: string | null;
  session_node: string | null;
  session_pid: number | null;
  session_host: string | null;
  /** The session that asked this one to end; the holder's L7R closes its tunnel. */
  session_takeover: string | null;
  nx_cookie: string | null;
  vma_secret: string | null;
  started_at: string | null;
  ready_at: string | null;
  vma_ok_at: string | null;
  health_ok_at: string | null;
  vma_failures: number;
  start_failures: number;
  state_reason: string;
  state_at: string;
  created_at: string;
  retired_at: string | null;
}

export interface NodeRuntimeTable {
  node: string;
  state: string;
  state_reason: string;
  state_at: string;
  heartbeat_at: string | null;
  serve_pid: number | null;
  serve_host: string | null;
  l7r_address: string | null;
  running_vms: number;
  free_memory_mb: number;
  free_vcpus: number;
}

export interface AuthTokensTable {
  token_hash: string;
  user_key: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

export interface VmEventsTable {
  id: string;
  at: string;
  vm_id: number;
  vm: string;
  node: string | null;
  from_state: string;
  to_state: string;
  command: string | null;
  user_state: string;
  reason: string;
  actor: string;
}
