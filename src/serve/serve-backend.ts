import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { NX_PORT } from '../hkd/readiness-probe.js';
import { sha256 } from '../sha256.js';
import type { VmaControl } from '../hkd/vma-control.js';
import { PrepareError, type AuthenticatedUser, type L7rBackend, type L7rUserRecord, type L7rVm, type RelayedSession, type VmEndpoint } from '../l7r/l7r-backend.js';
import { newSlaveKey } from '../l7r/slave-key.js';
import type { DesiredSettings } from '../spec/desired-state.js';
import { decodeNodeMessage, encodeNodeMessage, nodeChannel, VM_CHANNEL, type Notifier } from '../state/notifier.js';
import { isProcessAlive } from '../state/process-alive.js';
import type { RuntimeStore, VmRuntime, VmView } from '../state/runtime-store.js';
import { chooseNode } from './choose-node.js';
import { startDesktopSession } from './start-desktop-session.js';

/** The reference's takeover limits: ask again every 2 s, for up to 30 s. */
export interface TakeoverLimits {
  readonly retryMs: number;
  readonly giveUpMs: number;
}
export const TAKEOVER_LIMITS: TakeoverLimits = { retryMs: 2000, giveUpMs: 30_000 };

export interface ServeBackendOptions {
  readonly node: string;
  readonly runtime: RuntimeStore;
  readonly notifier: Notifier;
  /** Current settings (timers, token TTL); serve reloads them with the spec. */
  readonly settings: () => Promise<DesiredSettings>;
  readonly logger: Logger;
  readonly host?: string;
  readonly pid?: number;
  readonly isProcessAlive?: (pid: number) => boolean;
  readonly now?: () => number;
  readonly random?: () => number;
  /** How often a waiting prepareVm reads the VM again when no notification came. */
  readonly pollMs?: number;
  readonly takeover?: Partial<TakeoverLimits>;
  readonly metrics?: { prepared(result: 'ok' | 'failed', seconds: number): void };
  /**
   * The agents of VMs whose image runs one: with both of these, each
   * connect starts its X session through the VMA with a fresh NX cookie.
   */
  readonly vma?: VmaControl;
  /** The VM's agent secret (desired.vmaSecrets), undefined for a VM without agent. */
  readonly vmaSecret?: (vm: string) => Promise<string | undefined>;
  /**
   * x_start → `listening` (default 60 s: the original allows 10 s, but a
   * first start formats the home disk, and TCG guests are slow).
   */
  readonly sessionStartMs?: number;
  /** The VMs' NX port (4100); another only for benchmarks that stand in for VMs on one host. */
  readonly nxPort?: number;
}

/**
 * The L7R's view of the cluster, on the runtime store. Starting a VM is
 * "set command=start for a node by compare-and-set, wake that node's HKD,
 * wait for state=running": of any number of concurrent requests for one VM,
 * on any number of nodes, exactly one sets the command; the others wait on
 * the same start.
 */
export class ServeBackend implements L7rBackend {
  readonly node: string;
  readonly #o: ServeBackendOptions;
  readonly #log: Logger;
  readonly #host: string;
  readonly #pid: number;
  readonly #alive: (pid: number) => boolean;
  readonly #now: () => number;
  readonly #takeover: TakeoverLimits;
  readonly #takeoverHandlers = new Map<string, Set<() => void>>();
  /** Sessions this process handed out and not yet ended, with their VM's id (so ending one needs no lookup). */
  readonly #issued = new Map<string, number>();
  /** Asked to end before the L7R subscribed (between prepareVm's return and onTakeover). */
  readonly #endRequested = new Set<string>();
  readonly #vmWaiters = new Set<() => void>();
  readonly #unlisten: (() => Promise<void>)[] = [];
  #serving = true;

  private constructor(options: ServeBackendOptions) {
    this.#o = options;
    this.node = options.node;
    this.#log = options.logger.child({ component: 'backend', node: options.node });
    this.#host = options.host ?? hostname();
    this.#pid = options.pid ?? process.pid;
    this.#alive = options.isProcessAlive ?? isProcessAlive;
    this.#now = options.now ?? Date.now;
    this.#takeover = { ...TAKEOVER_LIMITS, ...options.takeover };
  }

  /** A backend listening on its node's channel (takeovers) and the VM channel (waits). */
  static async create(options: ServeBackendOptions): Promise<ServeBackend> {
    const b = new ServeBackend(options);
    b.#unlisten.push(
      await options.notifier.listen(nodeChannel(options.node), (payload) => {
        const m = decodeNodeMessage(payload);
        if (m?.kind === 'takeover') b.#endSession(m.session);
      }),
      await options.notifier.listen(VM_CHANNEL, () => b.#wakeWaiters()),
    );
    return b;
  }

  get serving(): boolean {
    return this.#serving;
  }

  /** Refuse new work (drain before shutdown). */
  stopServing(): void {
    this.#serving = false;
  }

  async close(): Promise<void> {
    this.#serving = false;
    for (const u of this.#unlisten.splice(0)) await u().catch(() => undefined);
    this.#wakeWaiters();
  }

  async findUser(login: string, tenant: string): Promise<L7rUserRecord | undefined> {
    const u = await this.#o.runtime.user(login, tenant);
    return u === undefined ? undefined : { key: u.key, passwordHash: u.passwordHash, blocked: u.blocked };
  }

  async listVms(user: AuthenticatedUser, applicationsOnly: boolean): Promise<L7rVm[]> {
    const views = await this.#o.runtime.vmsOfUser(user.key);
    return views
      .filter((v) => !applicationsOnly || v.image?.application === true)
      .map((v) => ({ id: v.runtime.id, name: v.record.name, state: v.runtime.state, blocked: v.record.blocked, isApplication: v.image?.application === true }));
  }

  async stopVm(user: AuthenticatedUser, id: number): Promise<boolean> {
    const view = await this.#o.runtime.vm(id);
    if (view === undefined || view.record.user !== user.key) return false;
    const r = view.runtime;
    const reason = `stop requested by ${user.key} via the L7R on ${this.node}`;
    if ((r.state === 'running' || r.state === 'starting') && r.command === null) {
      if (await this.#transition(id, { state: r.state, command: null }, { command: 'stop' }, reason)) await this.#wakeNode(r.node, id);
    } else if (r.state === 'stopped' && r.command === 'start') {
      // Not claimed by an HKD yet: withdrawing the request is the whole stop.
      await this.#transition(id, { state: 'stopped', command: 'start' }, { command: null, node: null }, `${reason} (start withdrawn)`);
    }
    return true;
  }

  async prepareVm(user: AuthenticatedUser, id: number, clientParams: Readonly<Record<string, string>>, progress: (info: string) => void, signal: AbortSignal): Promise<VmEndpoint> {
    const t0 = this.#now();
    try {
      const endpoint = await this.#prepare(user, id, clientParams, progress, signal);
      this.#o.metrics?.prepared('ok', (this.#now() - t0) / 1000);
      return endpoint;
    } catch (error) {
      this.#o.metrics?.prepared('failed', (this.#now() - t0) / 1000);
      if (!(error instanceof PrepareError)) this.#log.error({ err: error, vm: id }, 'prepareVm failed unexpectedly');
      throw error;
    }
  }

  async sessionStarted(sessionId: string): Promise<void> {
    const id = this.#issued.get(sessionId) ?? (await this.#o.runtime.vmBySession(sessionId))?.runtime.id;
    if (id === undefined) return;
    // Keyed on the session id: a no-op when the session was taken over meanwhile.
    await this.#transition(id, { sessionId }, { userState: 'connected' }, `session ${sessionId} connected`);
  }

  async sessionEnded(sessionId: string): Promise<void> {
    const issued = this.#issued.get(sessionId);
    this.#takeoverHandlers.delete(sessionId);
    this.#issued.delete(sessionId);
    this.#endRequested.delete(sessionId);
    const id = issued ?? (await this.#o.runtime.vmBySession(sessionId))?.runtime.id;
    if (id === undefined) return;
    // Keyed on the session id: a session already taken over is not cleared by its old holder.
    await this.#transition(id, { sessionId }, { session: null, userState: 'disconnected' }, `session ${sessionId} ended`);
  }

  onTakeover(sessionId: string, end: () => void): () => void {
    let set = this.#takeoverHandlers.get(sessionId);
    if (set === undefined) {
      set = new Set();
      this.#takeoverHandlers.set(sessionId, set);
    }
    set.add(end);
    if (this.#endRequested.delete(sessionId)) setImmediate(end);
    return () => {
      const s = this.#takeoverHandlers.get(sessionId);
      s?.delete(end);
      if (s?.size === 0) this.#takeoverHandlers.delete(sessionId);
    };
  }

  async createToken(user: AuthenticatedUser): Promise<{ token: string; expiresAt: string }> {
    const settings = await this.#o.settings();
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(this.#now() + settings.auth.tokenTtl * 1000).toISOString();
    await this.#o.runtime.saveToken(tokenHash(token), user.key, expiresAt);
    return { token, expiresAt };
  }

  async userForToken(token: string): Promise<AuthenticatedUser | undefined> {
    const key = await this.#o.runtime.tokenUser(tokenHash(token), new Date(this.#now()).toISOString());
    if (key === undefined) return undefined;
    const u = await this.#o.runtime.userByKey(key);
    // A user blocked (or removed) since the token was made loses it at once.
    if (u === undefined || u.blocked) return undefined;
    return { key: u.key, login: u.login, tenant: u.tenant };
  }

  /** Revoke one token (admin or logout); true when it was live. */
  revokeToken(token: string): Promise<boolean> {
    return this.#o.runtime.revokeToken(tokenHash(token));
  }

  async #prepare(user: AuthenticatedUser, id: number, clientParams: Readonly<Record<string, string>>, progress: (info: string) => void, signal: AbortSignal): Promise<VmEndpoint> {
    if (!this.#serving) throw unavailable('this node is shutting down');
    const first = await this.#o.runtime.vm(id);
    if (first === undefined || first.record.user !== user.key) throw new PrepareError({ kind: 'not-found' });
    if (first.record.blocked) throw new PrepareError({ kind: 'blocked' });
    if (first.record.power === 'stopped') throw unavailable('the spec keeps it stopped (power: stopped)');
    const settings = await this.#o.settings();
    const deadline = this.#now() + settings.hkd.startTimeout * 1000;
    let last = '';
    const say = (text: string): void => {
      if (text !== last) {
        last = text;
        progress(text);
      }
    };
    // Set once a start we requested, or saw requested, is under way: if the VM
    // is then back at stopped without running, that start failed.
    let watching = false;
    // The first pass works on the view just read: a VM already running costs one read, not two.
    let fresh: VmView | undefined = first;
    for (;;) {
      if (signal.aborted) throw unavailable(`aborted: ${String(signal.reason ?? 'client went away')}`);
      const view = fresh ?? (await this.#o.runtime.vm(id));
      fresh = undefined;
      if (view === undefined) throw new PrepareError({ kind: 'not-found' });
      if (view.record.blocked) throw new PrepareError({ kind: 'blocked' });
      const r = view.runtime;
      if (r.state === 'running' && r.node !== null) {
        const endpoint = await this.#claimSession(user, view, say, signal);
        // VM networks are per node: the L7R of the VM's node starts the desktop session and pipes (attachRelayed there).
        if (endpoint.node !== this.node) return this.#relayed(view, endpoint);
        return this.#startDesktop(user.login, view, endpoint, clientParams, say, signal);
      }
      switch (r.state) {
        case 'stopped':
          if (r.command === 'start') {
            watching = true;
            say(`starting VM on node ${r.node ?? '?'}`);
            break;
          }
          if (watching && !isNodeLoss(r)) throw unavailable(r.stateReason);
          watching = await this.#requestStart(user, view, settings, say);
          continue;
        case 'starting':
          watching = true;
          say(r.startedAt === null ? `starting VM on node ${r.node ?? '?'}` : 'waiting for the desktop');
          break;
        case 'stopping':
          say('waiting for the VM to stop before starting it again');
          break;
        case 'zombie':
          say('waiting for the VM to be cleaned up');
          break;
        case 'debugging':
          throw unavailable('an administrator is debugging the VM');
        case 'running':
          say('waiting for the VM to be assigned a node');
          break;
      }
      if (this.#now() >= deadline) throw unavailable(`the VM did not start within start_timeout (${settings.hkd.startTimeout}s): ${r.stateReason}`);
      await this.#waitVmChange(Math.min(this.#o.pollMs ?? 1000, Math.max(1, deadline - this.#now())), signal);
    }
  }

  /** Returns true when this call set the start command (or someone else just did). */
  async #requestStart(user: AuthenticatedUser, view: VmView, settings: DesiredSettings, say: (t: string) => void): Promise<boolean> {
    const freshAfter = new Date(this.#now() - settings.hkd.nodeLost * 1000).toISOString();
    const choice = chooseNode(
      { name: view.record.name, placedNode: view.record.node, pinned: view.record.nodePinned, memoryMb: view.image?.memoryMb ?? 0, vcpus: view.image?.vcpus ?? 0 },
      await this.#o.runtime.nodes(),
      freshAfter,
      this.#o.random,
    );
    if (choice.kind === 'none') throw unavailable(choice.reason);
    const ok = await this.#transition(
      view.runtime.id,
      { state: 'stopped', command: null, node: null },
      { command: 'start', node: choice.node },
      `start requested by ${user.key} via the L7R on ${this.node}; node ${choice.node}: ${choice.why}`,
    );
    if (ok) {
      this.#log.info({ vm: view.record.name, node: choice.node, why: choice.why }, 'start requested');
      say(`starting VM on node ${choice.node}`);
      await this.#wakeNode(choice.node, view.runtime.id);
    }
    return true;
  }

  /**
   * One session per VM: take the free slot, or ask the holder to end (its
   * L7R closes the tunnel and ends the session) every retryMs, and take it
   * anyway after giveUpMs, or at once when the holder is known dead.
   */
  async #claimSession(user: AuthenticatedUser, running: VmView, say: (t: string) => void, signal: AbortSignal): Promise<VmEndpoint> {
    const sessionId = randomUUID();
    const mine = { id: sessionId, node: this.node, pid: this.#pid, host: this.#host, takeoverBy: null };
    const started = this.#now();
    let lastAsk = -Infinity;
    for (let view: VmView | undefined = running; ; view = await this.#o.runtime.vm(running.runtime.id)) {
      if (signal.aborted) throw unavailable(`aborted: ${String(signal.reason ?? 'client went away')}`);
      if (view === undefined) throw new PrepareError({ kind: 'not-found' });
      const r = view.runtime;
      if (r.state !== 'running' || r.node === null) throw unavailable(`the VM left the running state (${r.state}: ${r.stateReason})`);
      const old = r.session;
      if (old === null) {
        if (await this.#transition(r.id, { state: 'running', node: r.node, sessionId: null }, { session: mine, userState: 'connecting' }, `session ${sessionId} of ${user.key} via ${this.node}`)) {
          return this.#endpoint(view, r, sessionId);
        }
        continue;
      }
      const holderDead = old.host === this.#host && !this.#alive(old.pid);
      const expired = this.#now() - started >= this.#takeover.giveUpMs;
      if (holderDead || expired) {
        const why = holderDead ? `its L7R (pid ${old.pid}) is gone` : `it did not end within ${this.#takeover.giveUpMs / 1000}s`;
        if (await this.#transition(r.id, { sessionId: old.id }, { session: mine, userState: 'connecting' }, `session ${sessionId} took over from ${old.id}: ${why}`)) {
          await this.#askToEnd(old.node, old.id, sessionId);
          return this.#endpoint(view, r, sessionId);
        }
        continue;
      }
      if (this.#now() - lastAsk >= this.#takeover.retryMs) {
        lastAsk = this.#now();
        say('closing the previous session of this VM');
        // Recorded once per holder (for the log and for an L7R that polls);
        // the repeated asks are notifications only, so many contenders do not
        // turn into a storm of writes that wakes every waiter each time.
        if (old.takeoverBy === null) await this.#o.runtime.transitionVm(r.id, { sessionId: old.id, sessionTakeover: null }, { sessionTakeover: sessionId }, `takeover of session ${old.id} requested by ${sessionId}`);
        await this.#askToEnd(old.node, old.id, sessionId);
      }
      await this.#waitVmChange(Math.max(1, this.#takeover.retryMs - (this.#now() - lastAsk)), signal);
    }
  }

  /**
   * With an agent: the session's X server is started for this connection
   * (start-desktop-session.ts) and the endpoint carries its NX cookie. The
   * session is claimed first, so only its holder talks to the agent, and a
   * takeover has already asked the previous tunnel to close. On failure the
   * session is given back here: the L7R only ends sessions it was handed.
   */
  async #startDesktop(login: string, view: VmView, endpoint: VmEndpoint, clientParams: Readonly<Record<string, string>>, say: (t: string) => void, signal: AbortSignal): Promise<VmEndpoint> {
    const secret = this.#o.vma === undefined ? undefined : await this.#o.vmaSecret?.(view.record.name);
    if (this.#o.vma === undefined || secret === undefined) return endpoint;
    try {
      const nxCookie = await startDesktopSession({
        vma: this.#o.vma,
        target: { vm: view.record.name, ip: view.record.ip, secret },
        login,
        clientParams,
        say,
        signal,
        timeoutMs: this.#o.sessionStartMs ?? 60_000,
        now: this.#now,
      });
      return { ...endpoint, nxCookie };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      this.#log.warn({ vm: view.record.name, session: endpoint.sessionId, reason }, 'the desktop session did not start');
      await this.#giveBack(view, endpoint.sessionId, reason);
      throw unavailable(reason);
    }
  }

  /** A session this process claimed but cannot serve: released, so the next connect need not take it over. */
  async #giveBack(view: VmView, sessionId: string, reason: string): Promise<void> {
    this.#issued.delete(sessionId);
    this.#endRequested.delete(sessionId);
    await this.#transition(view.runtime.id, { sessionId }, { session: null, userState: 'disconnected' }, `session ${sessionId} given up: ${reason}`);
  }

  /** Where the L7R of the VM's node listens: its heartbeat says; else the spec's address and the L7R port from the settings. */
  async #relayed(view: VmView, endpoint: VmEndpoint): Promise<VmEndpoint> {
    const node = (await this.#o.runtime.nodes()).find((n) => n.record.name === endpoint.node);
    const published = parseL7rAddress(node?.runtime?.l7rAddress ?? null);
    if (published !== undefined) return { ...endpoint, relay: published };
    if (node === undefined) {
      const reason = `node ${endpoint.node} is not in the spec`;
      await this.#giveBack(view, endpoint.sessionId, reason);
      throw unavailable(reason);
    }
    return { ...endpoint, relay: { host: node.record.address, port: (await this.#o.settings()).l7r.port } };
  }

  /**
   * The VM's node side of a relay: the session must be the one the relaying
   * node holds, on a VM running here, of that user. Then, as for a local
   * connect, the desktop session starts (and a failure gives the session back).
   */
  async attachRelayed(session: RelayedSession, progress: (info: string) => void, signal: AbortSignal): Promise<VmEndpoint> {
    const view = await this.#o.runtime.vm(session.vmId);
    if (view === undefined || view.record.user !== session.userKey) throw new PrepareError({ kind: 'not-found' });
    const r = view.runtime;
    if (r.state !== 'running' || r.node !== this.node) throw unavailable(`the VM is not running on node ${this.node} (${r.state}${r.node === null ? '' : ` on ${r.node}`})`);
    if (r.session?.id !== session.sessionId) throw unavailable('Aborted by contending session');
    const endpoint: VmEndpoint = { host: view.record.ip, port: this.#o.nxPort ?? NX_PORT, node: this.node, slaveKey: newSlaveKey(), sessionId: session.sessionId };
    let last = '';
    const say = (text: string): void => {
      if (text !== last) {
        last = text;
        progress(text);
      }
    };
    return this.#startDesktop(session.login, view, endpoint, session.clientParams, say, signal);
  }

  /** Every change is announced on the VM channel: waiters on any node look again at once. */
  async #transition(...args: Parameters<RuntimeStore['transitionVm']>): Promise<boolean> {
    const ok = await this.#o.runtime.transitionVm(...args);
    if (ok) await this.#o.notifier.notify(VM_CHANNEL, String(args[0])).catch(() => undefined);
    return ok;
  }

  #endpoint(view: VmView, r: VmRuntime, sessionId: string): VmEndpoint {
    this.#issued.set(sessionId, r.id);
    return { host: view.record.ip, port: this.#o.nxPort ?? NX_PORT, node: r.node ?? this.node, slaveKey: newSlaveKey(), sessionId };
  }

  async #askToEnd(node: string, session: string, by: string): Promise<void> {
    await this.#o.notifier.notify(nodeChannel(node), encodeNodeMessage({ kind: 'takeover', session, by })).catch((e: Error) => this.#log.warn({ err: e }, 'takeover notification failed'));
  }

  async #wakeNode(node: string | null, vm: number): Promise<void> {
    if (node === null) return;
    await this.#o.notifier.notify(nodeChannel(node), encodeNodeMessage({ kind: 'wake', vm })).catch((e: Error) => this.#log.warn({ err: e }, 'wake notification failed'));
  }

  #endSession(sessionId: string): void {
    const handlers = this.#takeoverHandlers.get(sessionId);
    if (handlers === undefined) {
      if (this.#issued.has(sessionId)) this.#endRequested.add(sessionId);
      return;
    }
    this.#log.info({ session: sessionId }, 'session asked to end (takeover)');
    for (const h of [...handlers]) {
      try {
        h();
      } catch (error) {
        this.#log.error({ err: error }, 'takeover handler failed');
      }
    }
  }

  #waitVmChange(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#vmWaiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#vmWaiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  #wakeWaiters(): void {
    for (const w of [...this.#vmWaiters]) w();
  }
}

/** Only a hash is stored: a copy of the table gives nobody a working token. */
export function tokenHash(token: string): string {
  return sha256(token, 'hex');
}

/** `host:port` or `[v6]:port` as the HKD publishes it; undefined when absent or unreadable. */
function parseL7rAddress(text: string | null): { host: string; port: number } | undefined {
  const m = text === null ? null : /^(?:\[([^\]]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[3]);
  const host = m[1] ?? m[2] ?? '';
  return port > 0 && port <= 65535 && host !== '' && host !== '0.0.0.0' && host !== '::' ? { host, port } : undefined;
}

function unavailable(reason: string): PrepareError {
  return new PrepareError({ kind: 'unavailable', reason });
}

/** A VM reset because its node was lost is worth another start elsewhere. */
function isNodeLoss(r: VmRuntime): boolean {
  return /^node .+ lost:/.test(r.stateReason);
}
