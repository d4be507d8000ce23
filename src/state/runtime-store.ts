import type { ImageRecord, NodeRecord, UserRecord, VmRecord } from './store.js';

export type VmState = 'stopped' | 'starting' | 'running' | 'stopping' | 'zombie' | 'debugging';
export type VmCommand = 'start' | 'stop';
export type UserState = 'disconnected' | 'connecting' | 'connected';
export type NodeState = 'stopped' | 'starting' | 'running' | 'stopping' | 'lost';

/** The one L7R connection that holds a VM (one session per VM). */
export interface VmSession {
  readonly id: string;
  /** Node of the L7R holding the tunnel: takeover requests are sent to that node's channel. */
  readonly node: string;
  readonly pid: number;
  readonly host: string;
  /** Set when another connection asked this session to end. */
  readonly takeoverBy: string | null;
}

/** What serve knows about a VM beyond its record. */
export interface VmRuntime {
  /** Stable, never reused: the wire protocol's `id=N`. */
  readonly id: number;
  readonly vm: string;
  readonly state: VmState;
  readonly command: VmCommand | null;
  readonly commandAt: string | null;
  /** Where it runs, or is asked to start; null when stopped. */
  readonly node: string | null;
  readonly userState: UserState;
  readonly userStateAt: string;
  readonly session: VmSession | null;
  /**
   * Unused columns, kept for the schema's sake: NX cookies are made per
   * connect and never stored; VMA secrets are derived (spec/vma-secrets.ts).
   */
  readonly nxCookie: string | null;
  readonly vmaSecret: string | null;
  readonly startedAt: string | null;
  readonly readyAt: string | null;
  readonly vmaOkAt: string | null;
  readonly healthOkAt: string | null;
  readonly vmaFailures: number;
  readonly startFailures: number;
  readonly stateReason: string;
  readonly stateAt: string;
}

export interface VmView {
  readonly record: VmRecord;
  readonly runtime: VmRuntime;
  readonly image: ImageRecord | undefined;
}

/**
 * The compare half of a compare-and-set: every field given must hold for the
 * update to happen. `undefined` means "any".
 */
export interface VmExpect {
  readonly state?: VmState | readonly VmState[];
  readonly command?: VmCommand | null;
  readonly node?: string | null;
  readonly sessionId?: string | null;
  readonly sessionTakeover?: string | null;
}

/** The set half; `reason` goes into the event log and `state_reason`. */
export interface VmPatch {
  readonly state?: VmState;
  readonly command?: VmCommand | null;
  readonly node?: string | null;
  readonly userState?: UserState;
  /** A new session (all its columns), or null to clear it. */
  readonly session?: VmSession | null;
  readonly sessionTakeover?: string | null;
  readonly nxCookie?: string | null;
  readonly vmaSecret?: string | null;
  readonly startedAt?: string | null;
  readonly readyAt?: string | null;
  readonly vmaOkAt?: string | null;
  readonly healthOkAt?: string | null;
  readonly vmaFailures?: number | 'increment';
  readonly startFailures?: number | 'increment';
}

export interface VmEvent {
  readonly id: string;
  readonly at: string;
  readonly vmId: number;
  readonly vm: string;
  readonly node: string | null;
  readonly from: VmState;
  readonly to: VmState;
  readonly command: VmCommand | null;
  readonly userState: UserState;
  readonly reason: string;
  /** Which process did it, e.g. `serve n1 pid 4242 (hkd)`. */
  readonly actor: string;
}

export interface NodeRuntime {
  readonly node: string;
  readonly state: NodeState;
  readonly stateReason: string;
  readonly stateAt: string;
  readonly heartbeatAt: string | null;
  readonly servePid: number | null;
  readonly serveHost: string | null;
  /** `host:port` of the node's L7R, for relaying a tunnel there. */
  readonly l7rAddress: string | null;
  readonly runningVms: number;
  readonly freeMemoryMb: number;
  readonly freeVcpus: number;
}

export interface NodeView {
  readonly record: NodeRecord;
  readonly runtime: NodeRuntime | undefined;
}

export interface Heartbeat {
  readonly state: NodeState;
  readonly reason: string;
  readonly pid: number;
  readonly host: string;
  readonly l7rAddress: string | null;
  readonly runningVms: number;
  readonly freeMemoryMb: number;
  readonly freeVcpus: number;
}

/**
 * The runtime half of the state, shared by every `qvd serve` (HKD and L7R).
 * Every VM transition is a compare-and-set in one short transaction: no lock
 * is ever held across I/O, and two processes can never both win the same
 * transition (so a VM is never started twice).
 */
export interface RuntimeStore {
  readonly dialect: 'sqlite' | 'postgres';
  readonly location: string;
  /** Written into every event this store records. */
  readonly actor: string;

  /**
   * Give every VM record a runtime row and a stable id, and retire the rows
   * whose record is gone (only once they are stopped). Cheap when nothing changed.
   */
  syncVms(): Promise<{ readonly added: number; readonly retired: number }>;
  /** The record serial (bumped by each apply). */
  serial(): Promise<number>;

  vm(id: number): Promise<VmView | undefined>;
  vmByName(name: string): Promise<VmView | undefined>;
  vmBySession(sessionId: string): Promise<VmView | undefined>;
  vmsOfUser(userKey: string): Promise<VmView[]>;
  /** VMs placed on, assigned to or (by name) observed on this node. */
  vmsForNode(node: string, observedNames: readonly string[]): Promise<VmView[]>;

  user(login: string, tenant: string): Promise<UserRecord | undefined>;
  userByKey(key: string): Promise<UserRecord | undefined>;
  nodes(): Promise<NodeView[]>;

  /** Compare-and-set; true when this call made the change (and logged it). */
  transitionVm(id: number, expect: VmExpect, patch: VmPatch, reason: string): Promise<boolean>;

  /**
   * The result of a VMA health check of a running VM: ok sets `vma_ok_at`
   * and clears `vma_failures`, a failure counts one more. Not a transition
   * (no event): the HKD decides from the counter (decide-vm.ts).
   */
  recordVmaHealth(id: number, ok: boolean): Promise<void>;

  /** Upsert this node's runtime row with a fresh heartbeat. */
  heartbeat(node: string, beat: Heartbeat): Promise<void>;
  setNodeState(node: string, state: NodeState, reason: string): Promise<void>;
  /**
   * Mark the node `lost` when its heartbeat is older than `olderThan` (ISO),
   * and reset its VMs to `stopped` (node cleared) so they can start
   * elsewhere. Returns the VMs reset, or undefined when this call did not
   * mark it (fresh heartbeat, or another process was first).
   */
  markNodeLost(node: string, olderThan: string, reason: string): Promise<readonly string[] | undefined>;

  events(filter?: { readonly vmId?: number; readonly limit?: number }): Promise<VmEvent[]>;

  saveToken(tokenHash: string, userKey: string, expiresAt: string): Promise<void>;
  /** The user of a live (not expired, not revoked) token. */
  tokenUser(tokenHash: string, now: string): Promise<string | undefined>;
  revokeToken(tokenHash: string): Promise<boolean>;
  revokeUserTokens(userKey: string): Promise<number>;

  close(): Promise<void>;
}
