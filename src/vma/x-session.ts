import { parseAgentLine } from './agent-log-event.js';
import type { ProcessExit, ProcessRunner, SpawnedProcess } from './process-runner.js';
import type { SessionFiles, SessionPaths } from './session-files.js';
import type { Provisioner, SessionUser } from './session-user.js';
import { unixLogin } from './unix-login.js';
import { NX_DISPLAY, type XStartParams, type XState, type XStateResult } from './vma-api.js';
import { VmaError } from './vma-error.js';
import type { VmaLog } from './vma-log.js';

export interface XSessionOptions {
  readonly runner: ProcessRunner;
  readonly provisioner: Provisioner;
  readonly files: SessionFiles;
  /** The desktop: started on the session's display once a client first attached. */
  readonly sessionCommand: readonly string[];
  readonly log: VmaLog;
  readonly nxagent?: string;
  readonly display?: number;
  /** How long processes get between SIGTERM and SIGKILL. */
  readonly killGraceMs?: number;
  readonly restartDelayMs?: number;
  /** nxagent deaths tolerated before any client attached, per x_start. */
  readonly maxAgentRestarts?: number;
  readonly now?: () => Date;
}

const PATH = '/usr/local/bin:/usr/bin:/bin';

/**
 * The one X session of the guest, driven by x_start / x_suspend / x_stop and
 * by what nxagent reports on stderr.
 *
 * Every x_start carries a fresh cookie. What it does depends on the state:
 * none yet -> provision and start nxagent; an agent that never had a client
 * -> restart it with the new cookie (no application exists yet); a session
 * with applications -> suspend it if a client is attached (takeover), then
 * rewrite the options and X authority files and SIGHUP the agent, which
 * re-reads them and listens again so the next client resumes the session.
 */
export class XSession {
  private state: XState = 'stopped';
  private since: Date;
  private desired: XStartParams | undefined;
  private appliedCookie: string | undefined;
  private user: SessionUser | undefined;
  private paths: SessionPaths | undefined;
  private agent: SpawnedProcess | undefined;
  /** The current agent has had a client: the desktop runs and must be kept. */
  private agentHadClient = false;
  private desktop: SpawnedProcess | undefined;
  private restarts = 0;
  private restartRequested = false;
  private resumeWanted = false;
  private lastError: string | undefined;
  private lastAgentError: string | undefined;
  /** Bumped by stop(): asynchronous work started before gives up. */
  private generation = 0;
  private stopping: Promise<void> | undefined;
  private readonly display: number;
  private readonly now: () => Date;

  constructor(private readonly o: XSessionOptions) {
    this.display = o.display ?? NX_DISPLAY;
    this.now = o.now ?? (() => new Date());
    this.since = this.now();
  }

  status(): XStateResult {
    const home = this.o.provisioner.homeInfo();
    return {
      state: this.state,
      since: this.since.toISOString(),
      display: this.display,
      agentRestarts: this.restarts,
      ...(this.user === undefined ? {} : { user: this.user.name }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      ...(home === undefined ? {} : { home }),
    };
  }

  start(params: XStartParams): XStateResult {
    if (this.state === 'stopping') throw new VmaError('conflict', 'the X session is stopping; retry in a moment');
    // The account may still be in the making: the pending login counts too.
    const owner = this.user?.name ?? (this.desired === undefined ? undefined : unixLogin(this.desired.user));
    if (this.state !== 'stopped' && owner !== undefined && unixLogin(params.user) !== owner) {
      throw new VmaError('conflict', `an X session of ${owner} is active; stop it first`);
    }
    this.desired = params;
    switch (this.state) {
      case 'stopped':
        this.lastError = undefined;
        this.restarts = 0;
        this.set('starting');
        {
          // Answer "starting" (accepted); provisioning follows at once.
          const accepted = this.status();
          void this.launch(this.generation);
          return accepted;
        }
      case 'starting':
      case 'provisioning':
        // The launch in progress writes the newest parameters when it gets there.
        break;
      case 'listening':
        this.adoptNewCookie();
        break;
      case 'connected':
        // Takeover: the attached client is dropped (the agent suspends), then
        // the session resumes for the new one.
        this.resumeWanted = true;
        this.o.log.info('x_start while connected: suspending for the new client');
        this.agent?.kill('SIGHUP');
        break;
      case 'suspending':
        this.resumeWanted = true;
        break;
      case 'suspended':
        void this.resume(this.generation);
        break;
    }
    return this.status();
  }

  suspend(): XStateResult {
    if (this.state === 'connected') this.agent?.kill('SIGHUP');
    return this.status();
  }

  /** Ends the session and every process of its user; resolves when stopped. */
  stop(): Promise<void> {
    if (this.state === 'stopped') return Promise.resolve();
    if (this.stopping !== undefined) return this.stopping;
    this.generation++;
    this.set('stopping');
    const run = async (): Promise<void> => {
      const { agent, desktop, user } = this;
      desktop?.kill('SIGTERM', true);
      agent?.kill('SIGTERM');
      const all = Promise.all([agent?.exited, desktop?.exited]);
      const grace = this.o.killGraceMs ?? 5000;
      // A first SIGTERM only suspends an agent that waits for a client to
      // resume; the second one ends it. Whatever still runs then is killed.
      if (!(await within(all, Math.min(1500, grace / 2)))) agent?.kill('SIGTERM');
      if (!(await within(all, grace))) {
        agent?.kill('SIGKILL');
        desktop?.kill('SIGKILL', true);
      }
      if (user !== undefined) await this.o.runner.run('pkill', ['-KILL', '-U', String(user.uid)]);
      await within(all, this.o.killGraceMs ?? 5000);
      this.agent = undefined;
      this.desktop = undefined;
      this.user = undefined;
      this.paths = undefined;
      this.desired = undefined;
      this.appliedCookie = undefined;
      this.agentHadClient = false;
      this.resumeWanted = false;
      this.restartRequested = false;
      this.stopping = undefined;
      this.set('stopped');
    };
    this.stopping = run();
    return this.stopping;
  }

  private set(state: XState): void {
    if (state === this.state) return;
    this.o.log.info(`x_state ${this.state} -> ${state}`, { from: this.state, to: state });
    this.state = state;
    this.since = this.now();
  }

  private fail(message: string): void {
    this.lastError = message;
    this.o.log.error(message);
    void this.stop();
  }

  private async launch(gen: number): Promise<void> {
    try {
      this.set('provisioning');
      const login = this.desired?.user;
      if (login === undefined) return;
      const user = await this.o.provisioner.provision(login);
      if (gen !== this.generation) return;
      this.user = user;
      await this.spawnAgent(gen);
    } catch (e) {
      if (gen === this.generation) this.fail(`x_start failed: ${(e as Error).message}`);
    }
  }

  private async spawnAgent(gen: number): Promise<void> {
    const { user, desired } = this;
    if (user === undefined || desired === undefined) return;
    const paths = await this.o.files.write(user, desired);
    if (gen !== this.generation) return;
    this.paths = paths;
    this.appliedCookie = desired.cookie;
    this.agentHadClient = false;
    this.lastAgentError = undefined;
    const d = `:${this.display}`;
    let self: SpawnedProcess | undefined;
    self = this.o.runner.spawn(this.o.nxagent ?? 'nxagent', ['-auth', paths.authFile, '-nolisten', 'tcp', d, '-display', `nx/nx,options=${paths.optionsFile}${d}`], {
      uid: user.uid,
      gid: user.gid,
      cwd: user.home,
      env: { ...userEnv(user), NX_ROOT: paths.nxRoot },
      onLine: (line, stream) => {
        if (self !== undefined && self === this.agent) this.onAgentLine(line, stream);
      },
    });
    this.agent = self;
    const spawned = self;
    this.o.log.info('nxagent started', { pid: spawned.pid, user: user.name });
    void spawned.exited.then((exit) => this.onAgentExit(spawned, exit, gen));
  }

  private onAgentLine(line: string, stream: 'stdout' | 'stderr'): void {
    const event = parseAgentLine(line);
    if (event !== undefined || /^(Warning|Error|Loop: PANIC)/.test(line)) this.o.log.info(`nxagent: ${line}`, { stream });
    if (event === undefined) return;
    switch (event.kind) {
      case 'listening':
        if (this.state === 'starting' || this.state === 'provisioning' || this.state === 'suspended') this.set('listening');
        // An x_start may have come while the agent was getting ready.
        if (this.state === 'listening') this.adoptNewCookie();
        break;
      case 'started':
      case 'resumed':
        this.set('connected');
        this.agentHadClient = true;
        this.restarts = 0;
        if (this.desktop === undefined) this.startDesktop();
        break;
      case 'suspending':
        if (this.state !== 'stopping') this.set('suspending');
        break;
      case 'suspended':
        if (this.state === 'stopping') break;
        this.set('suspended');
        if (this.resumeWanted) void this.resume(this.generation);
        break;
      case 'terminating':
        if (this.stopping === undefined) this.set('stopping');
        break;
      case 'error':
        this.lastAgentError = event.message;
        break;
      case 'starting':
      case 'resuming':
      case 'terminated':
        break;
    }
  }

  /** A listening agent must wait for the newest cookie, not the one it was given. */
  private adoptNewCookie(): void {
    const cookie = this.desired?.cookie;
    if (cookie === undefined || cookie === this.appliedCookie || this.agent === undefined) return;
    if (!this.agentHadClient) {
      // Nothing runs on its display yet: a restart is the simplest way.
      this.restartRequested = true;
      this.set('starting');
      this.agent.kill('SIGTERM');
    } else {
      // Waiting for a resume: SIGHUP aborts the wait (-> suspended), then
      // resume() applies the new cookie.
      this.resumeWanted = true;
      this.agent.kill('SIGHUP');
    }
  }

  private async resume(gen: number): Promise<void> {
    const { user, desired, agent } = this;
    if (user === undefined || desired === undefined || agent === undefined) return;
    this.resumeWanted = false;
    try {
      this.paths = await this.o.files.write(user, desired);
      if (gen !== this.generation || agent !== this.agent) return;
      this.appliedCookie = desired.cookie;
      this.o.log.info('resuming the suspended session for a new client');
      agent.kill('SIGHUP');
    } catch (e) {
      if (gen === this.generation) this.fail(`resume failed: ${(e as Error).message}`);
    }
  }

  private onAgentExit(agent: SpawnedProcess, exit: ProcessExit, gen: number): void {
    if (agent !== this.agent || gen !== this.generation || this.stopping !== undefined) return;
    this.agent = undefined;
    const how = describeExit(exit);
    if (this.restartRequested) {
      this.restartRequested = false;
      void this.spawnAgent(gen).catch((e: unknown) => this.fail(`restarting nxagent failed: ${(e as Error).message}`));
      return;
    }
    if (!this.agentHadClient) {
      // The failed-X-connection trap: one bad connection at session start
      // kills the agent. Nothing runs on its display yet, so start it again.
      this.restarts++;
      const why = this.lastAgentError === undefined ? '' : `: ${this.lastAgentError}`;
      if (this.restarts > (this.o.maxAgentRestarts ?? 5)) {
        this.fail(`nxagent exited ${this.restarts} times before a client attached (${how})${why}`);
        return;
      }
      this.o.log.warn(`nxagent exited before a client attached (${how})${why}; restarting`, { restarts: this.restarts });
      this.set('starting');
      setTimeout(() => {
        if (gen === this.generation) void this.spawnAgent(gen).catch((e: unknown) => this.fail(`restarting nxagent failed: ${(e as Error).message}`));
      }, this.o.restartDelayMs ?? 500);
      return;
    }
    if (exit.code !== 0) this.lastError = `nxagent exited (${how})${this.lastAgentError === undefined ? '' : `: ${this.lastAgentError}`}`;
    this.o.log.info(`nxagent ended the session (${how})`);
    void this.stop();
  }

  private startDesktop(): void {
    const { user, paths } = this;
    const [command, ...args] = this.o.sessionCommand;
    if (user === undefined || paths === undefined || command === undefined) return;
    const desktop = this.o.runner.spawn(command, args, {
      uid: user.uid,
      gid: user.gid,
      cwd: user.home,
      env: { ...userEnv(user), DISPLAY: `:${this.display}`, XAUTHORITY: paths.authFile },
      group: true,
      onLine: (line) => this.o.log.info(`session: ${line}`),
    });
    this.desktop = desktop;
    this.o.log.info('desktop session started', { pid: desktop.pid, command: this.o.sessionCommand });
    const gen = this.generation;
    void desktop.exited.then((exit) => {
      if (desktop !== this.desktop || gen !== this.generation || this.stopping !== undefined) return;
      // Like xinit: the session is over when its program ends.
      this.o.log.info(`desktop session ended (${describeExit(exit)}): stopping the X session`);
      void this.stop();
    });
  }
}

function userEnv(user: SessionUser): Record<string, string> {
  return { HOME: user.home, USER: user.name, LOGNAME: user.name, SHELL: '/bin/sh', PATH, LANG: 'C.UTF-8' };
}

function describeExit(exit: ProcessExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `exit code ${exit.code ?? '?'}`;
}

/** True when `p` settled within `ms`; the timer never outlives the wait. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
