import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Semaphore } from '../drivers/exec/semaphore.js';
import type { NodeDriver } from '../drivers/node-driver.js';
import type { ObservedDomain } from '../drivers/observed-state.js';
import { domainName, DOMAIN_PREFIX, POOL_NAME, vmOfDomain } from '../reconcile/naming.js';
import type { DesiredNode, DesiredState } from '../spec/desired-state.js';
import { decodeNodeMessage, encodeNodeMessage, nodeChannel, VM_CHANNEL, type Notifier } from '../state/notifier.js';
import { isProcessAlive } from '../state/process-alive.js';
import type { NodeState, RuntimeStore, VmExpect, VmPatch, VmState, VmView } from '../state/runtime-store.js';
import { decideVm, stopPhases, type StopPhase, type VmAction } from './decide-vm.js';
import { ensureVmObjects } from './ensure-vm-objects.js';
import { noHkdMetrics, type HkdMetrics } from './hkd-metrics.js';
import { NodeObserver } from './node-observer.js';
import { nodeUsage, type NodeUsage } from './node-usage.js';
import type { ReadinessProbe } from './readiness-probe.js';
import type { VmaControl, VmaTarget } from './vma-control.js';
import { VmaWatch } from './vma-watch.js';

export interface HkdOptions {
  /** The node this HKD runs on; it only ever touches this node's libvirt. */
  readonly node: string;
  /** The current desired state (serve reloads it when an apply moved the store). */
  readonly desired: () => Promise<DesiredState>;
  readonly driver: NodeDriver;
  readonly runtime: RuntimeStore;
  readonly notifier: Notifier;
  readonly logger: Logger;
  readonly probe: ReadinessProbe;
  /**
   * The agents of VMs whose image runs one (desired.vmaSecrets): health
   * pings, client-gone detection, and the first stop phase (poweroff).
   * Absent: every VM is treated as agentless (stops begin with ACPI).
   */
  readonly vma?: VmaControl;
  /** How often the X session of a VM with a connected user is checked (default 5 s). */
  readonly sessionCheckMs?: number;
  readonly metrics?: HkdMetrics;
  readonly host?: string;
  readonly pid?: number;
  /** Published in the heartbeat so other nodes' L7Rs can relay here (asked at each heartbeat: the L7R may move). */
  readonly l7rAddress?: () => string | null;
  readonly isProcessAlive?: (pid: number) => boolean;
  readonly now?: () => number;
  /** Pass period when nothing is in transition (notifications cut it short). */
  readonly idlePassMs?: number;
  /** Pass period while something is starting or stopping. */
  readonly busyPassMs?: number;
  /** How often a starting VM's readiness is probed. */
  readonly probeIntervalMs?: number;
}

/**
 * The house-keeping loop of one node. Each pass reads libvirt (observe) and
 * the store, and for every VM concerned decides (decideVm, pure) and acts.
 * Long operations (start, stop) run as tasks, at most max_parallel_ops at
 * once; a VM with a task in flight is left alone by the passes until it ends.
 * Every store change is a compare-and-set, so another process acting on the
 * same VM meanwhile makes ours a no-op rather than a conflict.
 */
export class Hkd {
  readonly node: string;
  readonly #o: HkdOptions;
  readonly #log: Logger;
  readonly #metrics: HkdMetrics;
  #observer: NodeObserver;
  readonly #host: string;
  readonly #pid: number;
  readonly #alive: (pid: number) => boolean;
  readonly #now: () => number;
  readonly #abort = new AbortController();
  readonly #inflight = new Map<number, Promise<void>>();
  /** When this process last finished an operation on a VM: older observations must not judge it. */
  readonly #lastOpEnd = new Map<number, number>();
  readonly #warnedUnknown = new Set<string>();
  #ops: Semaphore | undefined;
  #opsSize = 0;
  #state: NodeState = 'starting';
  #usage: NodeUsage = { runningVms: 0, freeMemoryMb: 0, freeVcpus: 0 };
  #serial = -1;
  #wakeUp: (() => void) | undefined;
  #woken = false;
  #loop: Promise<void> | undefined;
  #beatTimer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #started = false;
  readonly #watch: VmaWatch | undefined;

  constructor(options: HkdOptions) {
    this.#o = options;
    this.node = options.node;
    this.#log = options.logger.child({ component: 'hkd', node: options.node });
    this.#metrics = options.metrics ?? noHkdMetrics;
    this.#host = options.host ?? hostname();
    this.#pid = options.pid ?? process.pid;
    this.#alive = options.isProcessAlive ?? isProcessAlive;
    this.#now = options.now ?? Date.now;
    this.#observer = new NodeObserver(options.driver, { network: '', pool: POOL_NAME, storageDir: '', domainPrefix: DOMAIN_PREFIX }, this.#now);
    this.#watch =
      options.vma === undefined
        ? undefined
        : new VmaWatch({ vma: options.vma, runtime: options.runtime, notifier: options.notifier, logger: this.#log, now: this.#now, ...(options.sessionCheckMs === undefined ? {} : { sessionCheckMs: options.sessionCheckMs }) });
  }

  /** Listen for wake-ups, announce the node, and start the loop and the heartbeat. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const desired = await this.#o.desired();
    this.#myNode(desired);
    this.#observer = new NodeObserver(this.#o.driver, this.#scope(desired), this.#now);
    this.#unlisten = await this.#o.notifier.listen(nodeChannel(this.node), (payload) => {
      if (decodeNodeMessage(payload)?.kind === 'wake') this.wake();
    });
    await this.#heartbeat();
    // Resolve once the first pass has run: the node is then `running` (if
    // libvirt answered) and a start request right after is not refused.
    let firstPass!: () => void;
    const first = new Promise<void>((resolve) => (firstPass = resolve));
    this.#loop = this.#run(firstPass);
    this.#scheduleHeartbeat();
    await first;
  }

  /** Run a pass soon (a notification, or a test). */
  wake(): void {
    this.#woken = true;
    this.#wakeUp?.();
  }

  /**
   * Stop the loop, let operations in flight end (bounded), and mark the node
   * stopped. VMs keep running: restarting serve must not cut desktops.
   */
  async stop(drainMs = 10_000): Promise<void> {
    if (!this.#started) return;
    this.#abort.abort();
    this.wake();
    if (this.#beatTimer !== undefined) clearTimeout(this.#beatTimer);
    await this.#loop?.catch(() => undefined);
    await Promise.race([Promise.allSettled([...this.#inflight.values()]), sleep(drainMs, undefined, { ref: false })]);
    await this.#unlisten?.().catch(() => undefined);
    this.#state = 'stopped';
    await this.#o.runtime.setNodeState(this.node, 'stopped', 'serve stopped').catch((e: Error) => this.#log.warn({ err: e }, 'could not mark the node stopped'));
    this.#started = false;
  }

  /** Operations in flight, for tests and the shutdown log. */
  get inflight(): number {
    return this.#inflight.size;
  }

  /** One reconcile pass; returns how long to wait before the next. */
  async pass(): Promise<number> {
    const desired = await this.#o.desired();
    const timers = desired.settings.hkd;
    const me = this.#myNode(desired);
    this.#resizeOps(timers.maxParallelOps);
    let obs;
    try {
      obs = await this.#observer.observe(0);
    } catch (error) {
      this.#metrics.failure('observe');
      throw error;
    }
    this.#usage = nodeUsage(obs.node, me.capacity);
    const serial = await this.#o.runtime.serial();
    if (serial !== this.#serial) {
      const synced = await this.#o.runtime.syncVms();
      if (synced.added + synced.retired > 0) this.#log.info(synced, 'VM runtimes synced with the records');
      this.#serial = serial;
    }
    const domains = new Map<string, ObservedDomain>();
    for (const d of obs.node.domains) {
      const vm = d.managedVm ?? vmOfDomain(d.name);
      if (vm !== undefined) domains.set(vm, d);
    }
    const views = await this.#o.runtime.vmsForNode(this.node, [...domains.keys()]);
    const known = new Set(views.map((v) => v.record.name));
    for (const name of domains.keys()) {
      if (!known.has(name) && !this.#warnedUnknown.has(name)) {
        this.#warnedUnknown.add(name);
        this.#log.warn({ vm: name }, 'a qvd domain runs here for a VM the store does not know; left to apply');
      }
    }
    let transitions = this.#inflight.size > 0;
    for (const view of views) {
      const id = view.runtime.id;
      if ((this.#lastOpEnd.get(id) ?? -Infinity) >= obs.startedAt) {
        transitions = true;
        continue;
      }
      const action = decideVm({
        view,
        domain: domains.get(view.record.name),
        busy: this.#inflight.has(id),
        node: this.node,
        host: this.#host,
        nowMs: this.#now(),
        timers,
        isProcessAlive: this.#alive,
        hasVma: this.#vmaTarget(desired, view) !== undefined,
      });
      if (action.kind === 'none') continue;
      transitions = true;
      try {
        await this.#act(view, action, desired);
      } catch (error) {
        this.#log.error({ err: error, vm: view.record.name, action: action.kind }, 'reconcile failed');
      }
    }
    this.#watchAgents(views, domains, desired);
    if (this.#state === 'starting') {
      this.#state = 'running';
      await this.#heartbeat();
    }
    return transitions ? (this.#o.busyPassMs ?? 1000) : (this.#o.idlePassMs ?? 5000);
  }

  async #run(firstPass: () => void): Promise<void> {
    let failures = 0;
    while (!this.#abort.signal.aborted) {
      this.#woken = false;
      let next = 0;
      try {
        next = await this.pass();
        failures = 0;
      } catch (error) {
        failures++;
        this.#metrics.failure('pass');
        this.#log.error({ err: error }, 'HKD pass failed');
        next = Math.min(30_000, 1000 * 2 ** Math.min(failures, 5));
      }
      firstPass();
      if (this.#abort.signal.aborted) break;
      if (this.#woken) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, next);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#wakeUp = done;
      });
      this.#wakeUp = undefined;
    }
  }

  async #act(view: VmView, action: Exclude<VmAction, { kind: 'none' }>, desired: DesiredState): Promise<void> {
    const r = view.runtime;
    const name = view.record.name;
    switch (action.kind) {
      case 'claim-start':
        if (await this.#cas(view, { state: 'stopped', command: 'start', node: this.node }, { state: 'starting', command: null, startedAt: null, readyAt: null, vmaOkAt: null, vmaFailures: 0 }, `start claimed by the HKD of ${this.node}`)) {
          this.#task(view, () => this.#startTask(view, desired));
        }
        return;
      case 'start':
        this.#task(view, () => this.#startTask(view, desired));
        return;
      case 'await-ready':
        this.#task(view, () => this.#awaitReady(view, desired));
        return;
      case 'fail-start':
        this.#task(view, () => this.#failStart(view, action.reason));
        return;
      case 'begin-stop':
        if (await this.#cas(view, { state: r.state, node: this.node }, { state: 'stopping', command: null }, action.reason)) {
          this.#task(view, () => this.#stopTask(view, stopPhases(0, desired.settings.hkd.stopTimeout, this.#vmaTarget(desired, view) !== undefined), desired));
        }
        return;
      case 'continue-stop': {
        const phases = r.state === 'zombie' ? (['destroy'] as StopPhase[]) : stopPhases(this.#now() - Date.parse(r.stateAt), desired.settings.hkd.stopTimeout, this.#vmaTarget(desired, view) !== undefined);
        this.#task(view, () => this.#stopTask(view, phases, desired));
        return;
      }
      case 'finish-stop':
        await this.#finishStop(view, r.state, action.reason);
        if (r.state === 'running') this.#metrics.failure('zombie');
        this.#metrics.vmStopped('gone');
        return;
      case 'adopt':
        await this.#cas(view, { state: 'stopped', command: null, node: r.node }, { state: 'running', node: this.node, startedAt: this.#iso(), readyAt: this.#iso() }, `adopted: the domain runs on ${this.node} (started outside serve)`);
        return;
      case 'destroy-stray':
        this.#task(view, async () => {
          this.#log.warn({ vm: name, reason: action.reason }, 'destroying a stray copy of a VM on this node');
          await this.#uses(() => this.#o.driver.stopDomain(domainName(name), false));
        });
        return;
      case 'request-start':
        if (await this.#cas(view, { state: 'stopped', command: null, node: null }, { command: 'start', node: this.node }, action.reason)) this.wake();
        return;
      case 'drop-command':
        await this.#cas(view, { state: 'stopped', command: r.command }, { command: null }, action.reason);
        return;
      case 'clear-session':
        if (r.session !== null) await this.#cas(view, { sessionId: r.session.id }, { session: null, userState: 'disconnected' }, action.reason);
        return;
    }
  }

  async #startTask(view: VmView, desired: DesiredState): Promise<void> {
    const name = view.record.name;
    try {
      const steps = await this.#uses(async () => {
        const current = await this.#o.desired();
        const obs = await this.#observer.observe(0);
        const dom = obs.node.domains.find((d) => d.name === domainName(name));
        if (dom?.power === 'running') return ['already running'];
        if (!current.images.some((i) => i.key === view.record.image)) throw new Error(`image ${view.record.image} is not in the spec this serve loaded (restart serve after changing images)`);
        const done = await ensureVmObjects(this.#o.driver, { desired: current, node: this.#myNode(current), vm: view.record, observed: obs.node, freshOverlay: !view.record.persistent });
        await this.#o.driver.startDomain(domainName(name));
        return [...done, `start domain ${domainName(name)}`];
      });
      this.#log.info({ vm: name, steps }, 'domain started');
      await this.#cas(view, { state: 'starting', node: this.node }, { startedAt: this.#iso() }, `domain started on ${this.node}; waiting for the desktop`);
      await this.#awaitReady(view, desired);
    } catch (error) {
      if (this.#abort.signal.aborted) return;
      await this.#failStart(view, `start failed: ${messageOf(error)}`);
    }
  }

  async #awaitReady(view: VmView, desired: DesiredState): Promise<void> {
    const timers = desired.settings.hkd;
    const deadline = Date.parse(view.runtime.stateAt) + timers.startTimeout * 1000;
    const requested = Date.parse(view.runtime.commandAt ?? view.runtime.stateAt);
    const agent = this.#vmaTarget(desired, view);
    const target = { vm: view.record.name, ip: view.record.ip, ...(agent === undefined ? {} : { vmaSecret: agent.secret }) };
    const why = agent === undefined ? `ready: the desktop port of ${view.record.ip} answers` : `ready: the VMA of ${view.record.ip} answers`;
    while (!this.#abort.signal.aborted) {
      if (await this.#o.probe.ready(target, this.#abort.signal)) {
        const ok = await this.#cas(view, { state: 'starting', node: this.node }, { state: 'running', readyAt: this.#iso(), ...(agent === undefined ? {} : { vmaOkAt: this.#iso(), vmaFailures: 0 }) }, why);
        if (ok) {
          const seconds = (this.#now() - requested) / 1000;
          this.#metrics.vmStarted('ok', seconds);
          this.#log.info({ vm: view.record.name, seconds }, 'VM running');
        }
        return;
      }
      if (this.#now() >= deadline) {
        await this.#failStart(view, `not ready within start_timeout (${timers.startTimeout}s)`);
        return;
      }
      await sleep(this.#o.probeIntervalMs ?? 1000, undefined, { signal: this.#abort.signal }).catch(() => undefined);
    }
  }

  async #failStart(view: VmView, reason: string): Promise<void> {
    this.#log.warn({ vm: view.record.name, reason }, 'VM start failed');
    await this.#uses(() => this.#o.driver.stopDomain(domainName(view.record.name), false)).catch(() => undefined);
    const ok = await this.#cas(view, { state: 'starting', node: this.node }, { state: 'stopped', node: null, command: null, readyAt: null, startFailures: 'increment' }, reason);
    if (ok) {
      this.#metrics.vmStarted('failed', (this.#now() - Date.parse(view.runtime.commandAt ?? view.runtime.stateAt)) / 1000);
      this.#metrics.failure('start');
    }
  }

  /** Each phase acts, then waits up to stop_timeout for the domain to be gone. */
  async #stopTask(view: VmView, phases: readonly StopPhase[], desired: DesiredState): Promise<void> {
    const timers = desired.settings.hkd;
    const name = view.record.name;
    const domain = domainName(name);
    const agent = this.#vmaTarget(desired, view);
    for (const phase of phases) {
      if (this.#abort.signal.aborted) return;
      try {
        if (phase === 'vma') {
          if (agent === undefined) continue;
          await this.#o.vma?.poweroff(agent);
        } else await this.#uses(() => this.#o.driver.stopDomain(domain, phase === 'acpi'));
      } catch (error) {
        this.#log.warn({ vm: name, phase, err: error }, 'stop step failed');
        // An agent that cannot be asked will not power the guest off: no use waiting for it.
        if (phase === 'vma') continue;
      }
      const limitMs = phase === 'destroy' ? Math.max(30_000, timers.stopTimeout * 1000) : timers.stopTimeout * 1000;
      if (await this.#waitGone(domain, limitMs)) {
        const current = await this.#o.runtime.vm(view.runtime.id);
        const state: VmState = current?.runtime.state === 'zombie' ? 'zombie' : 'stopping';
        await this.#finishStop(view, state, `stopped (${phase === 'acpi' ? 'ACPI shutdown' : phase === 'vma' ? 'VMA poweroff' : 'destroyed'})`);
        this.#metrics.vmStopped(phase);
        return;
      }
    }
    if (this.#abort.signal.aborted) return;
    this.#metrics.failure('stop');
    await this.#cas(view, { state: 'stopping', node: this.node }, { state: 'zombie' }, 'zombie: the domain survived destroy; retrying');
  }

  async #waitGone(domain: string, limitMs: number): Promise<boolean> {
    const until = this.#now() + limitMs;
    while (!this.#abort.signal.aborted) {
      const obs = await this.#observer.observe(500).catch(() => undefined);
      const d = obs?.node.domains.find((x) => x.name === domain);
      if (obs !== undefined && (d === undefined || (d.power !== 'running' && d.power !== 'paused'))) return true;
      if (this.#now() >= until) return false;
      await sleep(1000, undefined, { signal: this.#abort.signal }).catch(() => undefined);
    }
    return false;
  }

  async #finishStop(view: VmView, from: VmState, reason: string): Promise<void> {
    const current = await this.#o.runtime.vm(view.runtime.id);
    const ok = await this.#cas(view, { state: from, node: this.node }, { state: 'stopped', node: null, command: null, session: null, userState: 'disconnected', readyAt: null }, reason);
    const session = current?.runtime.session;
    // The tunnel of a session on a stopped VM leads nowhere: have its L7R close it.
    if (ok && session !== null && session !== undefined) {
      await this.#o.notifier.notify(nodeChannel(session.node), encodeNodeMessage({ kind: 'takeover', session: session.id, by: 'vm-stopped' })).catch(() => undefined);
    }
  }

  /** The VM's agent, when its image runs one and this HKD talks to agents. */
  #vmaTarget(desired: DesiredState, view: VmView): VmaTarget | undefined {
    if (this.#o.vma === undefined) return undefined;
    const secret = desired.vmaSecrets?.[view.record.name];
    return secret === undefined ? undefined : { vm: view.record.name, ip: view.record.ip, secret };
  }

  /** Health and session checks of the running VMs' agents (vma-watch.ts); never blocks the pass. */
  #watchAgents(views: readonly VmView[], domains: ReadonlyMap<string, ObservedDomain>, desired: DesiredState): void {
    const watch = this.#watch;
    if (watch === undefined) return;
    const watched = new Set<number>();
    for (const view of views) {
      const r = view.runtime;
      const up = domains.get(view.record.name)?.power === 'running';
      const agent = this.#vmaTarget(desired, view);
      if (r.state !== 'running' || r.node !== this.node || !up || agent === undefined || this.#inflight.has(r.id)) continue;
      watched.add(r.id);
      watch.visit(view, agent, desired.settings.hkd);
    }
    for (const id of watch.known) if (!watched.has(id)) watch.forget(id);
  }

  async #cas(view: VmView, expect: VmExpect, patch: VmPatch, reason: string): Promise<boolean> {
    const ok = await this.#o.runtime.transitionVm(view.runtime.id, expect, patch, reason);
    if (ok) {
      this.#log.info({ vm: view.record.name, id: view.runtime.id, to: patch.state, command: patch.command, reason }, 'VM transition');
      await this.#o.notifier.notify(VM_CHANNEL, String(view.runtime.id)).catch(() => undefined);
    } else {
      this.#log.debug({ vm: view.record.name, expect, reason }, 'transition skipped: the VM moved meanwhile');
    }
    return ok;
  }

  #task(view: VmView, fn: () => Promise<void>): void {
    const id = view.runtime.id;
    const p = fn()
      .catch((error: unknown) => this.#log.error({ err: error, vm: view.record.name }, 'VM operation failed'))
      .finally(() => {
        this.#inflight.delete(id);
        this.#lastOpEnd.set(id, this.#now());
        this.wake();
      });
    this.#inflight.set(id, p);
  }

  #uses<T>(fn: () => Promise<T>): Promise<T> {
    return (this.#ops ?? new Semaphore(1)).use(fn);
  }

  #resizeOps(size: number): void {
    // A new bound applies to operations queued from now on.
    if (this.#ops === undefined || this.#opsSize !== size) {
      this.#ops = new Semaphore(Math.max(1, size));
      this.#opsSize = size;
    }
  }

  #scheduleHeartbeat(): void {
    if (this.#abort.signal.aborted) return;
    void this.#o
      .desired()
      .then((d) => d.settings.hkd.heartbeat * 1000)
      .catch(() => 10_000)
      .then((ms) => {
        if (this.#abort.signal.aborted) return;
        this.#beatTimer = setTimeout(() => {
          void this.#heartbeat()
            .then(() => this.#markLostNodes())
            .catch((e: unknown) => this.#log.error({ err: e }, 'heartbeat failed'))
            .finally(() => this.#scheduleHeartbeat());
        }, ms);
      });
  }

  async #heartbeat(): Promise<void> {
    const before = (await this.#o.runtime.nodes()).find((n) => n.record.name === this.node)?.runtime;
    if (before?.state === 'lost') this.#log.warn({ since: before.stateAt }, 'this node had been marked lost by another serve; its VMs were reset, rejoining');
    await this.#o.runtime.heartbeat(this.node, {
      state: this.#state,
      reason: this.#state === 'running' ? 'serving' : this.#state,
      pid: this.#pid,
      host: this.#host,
      l7rAddress: this.#o.l7rAddress?.() ?? null,
      ...this.#usage,
    });
  }

  /** Any serve may declare another node lost: the first to see its heartbeat too old does. */
  async #markLostNodes(): Promise<void> {
    const timers = (await this.#o.desired()).settings.hkd;
    const now = this.#now();
    const cutoff = new Date(now - timers.nodeLost * 1000).toISOString();
    for (const n of await this.#o.runtime.nodes()) {
      const rt = n.runtime;
      if (n.record.name === this.node || rt === undefined) continue;
      if (rt.state !== 'running' && rt.state !== 'starting' && rt.state !== 'stopping') continue;
      if (rt.heartbeatAt !== null && rt.heartbeatAt >= cutoff) continue;
      const reset = await this.#o.runtime.markNodeLost(n.record.name, cutoff, `no heartbeat since ${rt.heartbeatAt ?? 'ever'} (node_lost ${timers.nodeLost}s), seen by ${this.node}`);
      if (reset === undefined) continue;
      this.#log.warn({ lost: n.record.name, vms: reset }, 'node marked lost; its VMs were reset to stopped');
      await this.#o.notifier.notify(VM_CHANNEL, 'node-lost').catch(() => undefined);
    }
  }

  #myNode(desired: DesiredState): DesiredNode {
    const me = desired.nodes.find((n) => n.name === this.node);
    if (me === undefined) throw new Error(`node ${this.node} is not in the spec`);
    return me;
  }

  #scope(desired: DesiredState) {
    return { network: desired.settings.network.name, pool: POOL_NAME, storageDir: this.#myNode(desired).storageDir, domainPrefix: DOMAIN_PREFIX };
  }

  #iso(): string {
    return new Date(this.#now()).toISOString();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
