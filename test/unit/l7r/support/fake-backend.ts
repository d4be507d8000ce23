import { randomBytes } from 'node:crypto';
import { qvdSha256 } from '../../../../src/spec/password-hash.js';
import { PrepareError, type AuthenticatedUser, type L7rBackend, type L7rUserRecord, type L7rVm, type RelayedSession, type VmEndpoint } from '../../../../src/l7r/l7r-backend.js';
import { newSlaveKey } from '../../../../src/l7r/slave-key.js';

export interface FakeUser {
  readonly login: string;
  readonly tenant: string;
  readonly password?: string;
  readonly passwordHash?: string;
  blocked?: boolean;
  readonly totpSecret?: string;
}

export interface FakeVm {
  readonly id: number;
  readonly owner: string;
  readonly name: string;
  state: string;
  blocked: boolean;
  readonly isApplication: boolean;
}

interface FakeSession {
  readonly id: string;
  readonly vmId: number;
  state: 'connecting' | 'connected' | 'ended';
  takeover: (() => void) | undefined;
}

/**
 * In-memory users, VMs, tokens and sessions. prepareVm sends two progress
 * texts and returns the endpoint given (a local TCP echo server); a second
 * session on a VM takes the first one over, as the real backend must.
 */
export class FakeBackend implements L7rBackend {
  readonly node: string;
  serving = true;
  readonly users = new Map<string, L7rUserRecord>();
  readonly vms: FakeVm[] = [];
  readonly tokens = new Map<string, { user: AuthenticatedUser; expiresAt: number; revoked: boolean }>();
  readonly sessions = new Map<string, FakeSession>();
  readonly events: string[] = [];
  readonly prepareCalls: Array<{ user: string; id: number; params: Record<string, string> }> = [];
  /** Per-VM override of what prepareVm does after its progress messages. */
  prepareDelayMs = 0;
  prepareFailure: Error | undefined;
  /** Handed out as the endpoint's NX cookie (the VM's agent listens with it). */
  nxCookie: string | undefined;
  lastSignal: AbortSignal | undefined;
  stopped: number[] = [];
  /** Set: the VMs run on `relayTo.node`, whose L7R listens at `relayTo.host:port` (prepareVm's endpoint says relay). */
  relayTo: { node: string; host: string; port: number } | undefined;
  /** What attachRelayed was asked (this backend as the VM's node). */
  readonly relayCalls: RelayedSession[] = [];
  /** attachRelayed fails with this (e.g. the desktop session did not start). */
  relayFailure: Error | undefined;

  constructor(
    public endpoint: { host: string; port: number },
    node = 'node-1',
  ) {
    this.node = node;
  }

  addUser(user: FakeUser): this {
    const key = `${user.login}@${user.tenant}`;
    this.users.set(key, {
      key,
      passwordHash: user.passwordHash ?? qvdSha256(user.password ?? ''),
      blocked: user.blocked ?? false,
      ...(user.totpSecret === undefined ? {} : { totpSecret: user.totpSecret }),
    });
    return this;
  }

  addVm(vm: Omit<FakeVm, 'state' | 'blocked' | 'isApplication'> & Partial<FakeVm>): this {
    this.vms.push({ state: 'stopped', blocked: false, isApplication: false, ...vm });
    return this;
  }

  setBlocked(key: string, blocked: boolean): void {
    const user = this.users.get(key);
    if (user !== undefined) this.users.set(key, { ...user, blocked });
  }

  async findUser(login: string, tenant: string): Promise<L7rUserRecord | undefined> {
    return this.users.get(`${login}@${tenant}`);
  }

  async listVms(user: AuthenticatedUser, applicationsOnly: boolean): Promise<L7rVm[]> {
    return this.vms
      .filter((vm) => vm.owner === user.key && (!applicationsOnly || vm.isApplication))
      .map((vm) => ({ id: vm.id, name: vm.name, state: vm.state, blocked: vm.blocked, isApplication: vm.isApplication }));
  }

  async stopVm(user: AuthenticatedUser, id: number): Promise<boolean> {
    const vm = this.vms.find((candidate) => candidate.id === id && candidate.owner === user.key);
    if (vm === undefined) return false;
    this.stopped.push(id);
    return true;
  }

  async prepareVm(
    user: AuthenticatedUser,
    id: number,
    clientParams: Readonly<Record<string, string>>,
    progress: (info: string) => void,
    signal: AbortSignal,
  ): Promise<VmEndpoint> {
    this.prepareCalls.push({ user: user.key, id, params: { ...clientParams } });
    this.lastSignal = signal;
    const vm = this.vms.find((candidate) => candidate.id === id && candidate.owner === user.key);
    if (vm === undefined) throw new PrepareError({ kind: 'not-found' });
    if (vm.blocked) throw new PrepareError({ kind: 'blocked' });
    for (const session of this.sessions.values()) {
      if (session.vmId === id && session.state !== 'ended') {
        this.events.push(`takeover:${session.id}`);
        session.takeover?.();
      }
    }
    progress('Starting virtual machine');
    if (this.prepareDelayMs > 0) await abortableDelay(this.prepareDelayMs, signal);
    progress('Waiting for X session to come up');
    if (this.prepareFailure !== undefined) throw this.prepareFailure;
    vm.state = 'running';
    const sessionId = `s-${id}-${randomBytes(4).toString('hex')}`;
    this.sessions.set(sessionId, { id: sessionId, vmId: id, state: 'connecting', takeover: undefined });
    if (this.relayTo !== undefined) return { host: '192.0.2.1', port: 4100, node: this.relayTo.node, slaveKey: newSlaveKey(), sessionId, relay: { host: this.relayTo.host, port: this.relayTo.port } };
    return { host: this.endpoint.host, port: this.endpoint.port, node: this.node, slaveKey: newSlaveKey(), sessionId, ...(this.nxCookie === undefined ? {} : { nxCookie: this.nxCookie }) };
  }

  async attachRelayed(session: RelayedSession, progress: (info: string) => void): Promise<VmEndpoint> {
    this.relayCalls.push(session);
    progress('starting the desktop session');
    if (this.relayFailure !== undefined) throw this.relayFailure;
    return { host: this.endpoint.host, port: this.endpoint.port, node: this.node, slaveKey: newSlaveKey(), sessionId: session.sessionId, ...(this.nxCookie === undefined ? {} : { nxCookie: this.nxCookie }) };
  }

  async sessionStarted(sessionId: string): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (session !== undefined) session.state = 'connected';
    this.events.push(`started:${sessionId}`);
  }

  async sessionEnded(sessionId: string): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (session !== undefined) session.state = 'ended';
    this.events.push(`ended:${sessionId}`);
  }

  onTakeover(sessionId: string, end: () => void): () => void {
    const session = this.sessions.get(sessionId);
    if (session !== undefined) session.takeover = end;
    return () => {
      if (session !== undefined && session.takeover === end) session.takeover = undefined;
    };
  }

  async createToken(user: AuthenticatedUser): Promise<{ token: string; expiresAt: string }> {
    const token = randomBytes(24).toString('hex');
    const expiresAt = Date.now() + 24 * 3600_000;
    this.tokens.set(token, { user, expiresAt, revoked: false });
    return { token, expiresAt: new Date(expiresAt).toISOString() };
  }

  async userForToken(token: string): Promise<AuthenticatedUser | undefined> {
    const entry = this.tokens.get(token);
    if (entry === undefined || entry.revoked || entry.expiresAt <= Date.now()) return undefined;
    return entry.user;
  }
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });
}
