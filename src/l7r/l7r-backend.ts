/**
 * What the L7R needs from the rest of qvd, and nothing more: the protocol
 * server (src/l7r) is written against this, the serve runtime (store + HKD)
 * implements it. Unit tests give the L7R a fake.
 */

/** A user after authentication. `key` is `login@tenant`. */
export interface AuthenticatedUser {
  readonly key: string;
  readonly login: string;
  readonly tenant: string;
}

/** One entry of `/qvd/list_of_vm`, as the original clients expect it. */
export interface L7rVm {
  /** Stable integer id (the wire protocol's `id=N`). */
  readonly id: number;
  readonly name: string;
  /** `stopped`, `starting`, `running`, `stopping`, `zombie`, `debugging`. */
  readonly state: string;
  readonly blocked: boolean;
  readonly isApplication: boolean;
}

/** Where the tunnel goes once the VM is ready. */
export interface VmEndpoint {
  readonly host: string;
  readonly port: number;
  /** The node the VM runs on: when it is not this serve's node, the L7R relays to that node's L7R. */
  readonly node: string;
  /** Per-session secret sent back as X-QVD-Slave-Key. */
  readonly slaveKey: string;
  readonly sessionId: string;
  /**
   * The NX cookie the VM's agent listens with for this connection (32 hex),
   * sent back as X-QVD-NX-Cookie for the client's nxproxy. Absent for a VM
   * without agent (its nxagent, if any, runs without a per-connection cookie).
   */
  readonly nxCookie?: string;
  /**
   * Set when the VM runs on another node (`node`), whose network this one
   * cannot reach: the L7R then relays to that node's L7R at this address,
   * which starts the desktop session and pipes to the VM (see relay-client.ts).
   * `host`/`port` and `nxCookie` are then unused.
   */
  readonly relay?: { readonly host: string; readonly port: number };
}

/** What a relaying L7R asks the L7R of the VM's node to attach to (see relay-route.ts). */
export interface RelayedSession {
  readonly vmId: number;
  /** The session the relaying node claimed; it must still hold the VM. */
  readonly sessionId: string;
  /** The VM owner's key, checked against the VM once more. */
  readonly userKey: string;
  /** For the desktop session (VMA x_start). */
  readonly login: string;
  readonly clientParams: Readonly<Record<string, string>>;
}

export type PrepareFailure = { readonly kind: 'not-found' } | { readonly kind: 'blocked' } | { readonly kind: 'unavailable'; readonly reason: string };

export class PrepareError extends Error {
  constructor(readonly failure: PrepareFailure) {
    super(failure.kind === 'unavailable' ? failure.reason : failure.kind);
  }
}

/** What the L7R needs to know about a user to check a login. */
export interface L7rUserRecord {
  readonly key: string;
  readonly passwordHash: string;
  readonly blocked: boolean;
  /** Base32 (RFC 4648) TOTP secret: when set, the password must end with the current 6-digit code. */
  readonly totpSecret?: string;
}

export interface L7rBackend {
  /** This serve's node name (for relaying and logs). */
  readonly node: string;
  /**
   * Whether this node accepts sessions now (`/qvd/ping` answers 503 when false,
   * list and connect too). A getter may compute it; absent means serving.
   */
  readonly serving?: boolean;
  /** The built-in password check and account state; undefined when no such user. */
  findUser(login: string, tenant: string): Promise<L7rUserRecord | undefined>;
  listVms(user: AuthenticatedUser, applicationsOnly: boolean): Promise<L7rVm[]>;
  /** Ask for the VM to stop; false when the user has no such VM. */
  stopVm(user: AuthenticatedUser, id: number): Promise<boolean>;
  /**
   * Make the VM ready for a session: pick a node, have it started, wait until
   * its NX agent listens. `progress` is called with texts for 102 responses.
   * Any earlier session of the same VM is told to end (takeover).
   * Throws PrepareError.
   */
  prepareVm(user: AuthenticatedUser, id: number, clientParams: Readonly<Record<string, string>>, progress: (info: string) => void, signal: AbortSignal): Promise<VmEndpoint>;
  /** The tunnel is up / has ended (user state connected / disconnected). */
  sessionStarted(sessionId: string): Promise<void>;
  sessionEnded(sessionId: string): Promise<void>;
  /** Called when another connection takes the session over: the L7R must close this tunnel. Returns an unsubscribe. */
  onTakeover(sessionId: string, end: () => void): () => void;
  /**
   * On the VM's node, for a relay from another node's L7R: checks that the
   * VM runs here and that the session is still the one that node claimed,
   * starts the desktop session (progress as for prepareVm) and says where
   * the VM listens. Absent: this node does not answer relays. Throws PrepareError.
   */
  attachRelayed?(session: RelayedSession, progress: (info: string) => void, signal: AbortSignal): Promise<VmEndpoint>;
  /** Bearer tokens: create (24 h by default), resolve, revoke. */
  createToken(user: AuthenticatedUser): Promise<{ readonly token: string; readonly expiresAt: string }>;
  userForToken(token: string): Promise<AuthenticatedUser | undefined>;
}
