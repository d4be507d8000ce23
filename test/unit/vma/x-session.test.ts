import { beforeEach, describe, expect, it, vi } from 'vitest';
import { renderNxOptions } from '../../../src/vma/render-nx-options.js';
import type { SessionFiles, SessionPaths } from '../../../src/vma/session-files.js';
import type { Provisioner } from '../../../src/vma/session-user.js';
import { unixLogin } from '../../../src/vma/unix-login.js';
import type { XStartParams } from '../../../src/vma/vma-api.js';
import { VmaError } from '../../../src/vma/vma-error.js';
import { silentLog } from '../../../src/vma/vma-log.js';
import { XSession } from '../../../src/vma/x-session.js';
import { FakeProcessRunner, type FakeProcess } from './fake-process-runner.js';

const C1 = '11111111111111111111111111111111';
const C2 = '22222222222222222222222222222222';
const C3 = '33333333333333333333333333333333';
const paths: SessionPaths = { dir: '/run/qvd-session', authFile: '/run/qvd-session/xauthority', optionsFile: '/run/qvd-session/nx-options', nxRoot: '/run/qvd-session/nx' };

const WAITING = "Info: Waiting for connection from any host on socket 'tcp:*:4100'.";
const STARTED = "Session: Session started at 'Thu Nov 26 00:45:00 2026'.";
const SUSPENDING = "Session: Suspending session at 'Thu Nov 26 00:45:12 2026'.";
const SUSPENDED = "Session: Session suspended at 'Thu Nov 26 00:45:12 2026'.";
const RESUMING = "Session: Resuming session at 'Thu Nov 26 00:45:17 2026'.";
const RESUMED = "Session: Session resumed at 'Thu Nov 26 00:46:42 2026'.";

/** Lets the session's pending promises run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

describe('XSession', () => {
  let runner: FakeProcessRunner;
  let written: { cookie: string; options: string }[];
  let provisionError: Error | undefined;
  let session: XSession;
  const params = (cookie: string, extra: Partial<XStartParams> = {}): XStartParams => ({ user: 'alice', cookie, ...extra });

  beforeEach(() => {
    runner = new FakeProcessRunner();
    runner.onSpawn = (p) => {
      // Like the real programs: SIGTERM ends them.
      p.onSignal = (sig, self) => {
        if (sig === 'SIGTERM') self.exit(0);
      };
    };
    written = [];
    provisionError = undefined;
    const provisioner: Provisioner = {
      provision: async (login) => {
        if (provisionError !== undefined) throw provisionError;
        return { name: unixLogin(login), uid: 1000, gid: 1000, home: '/home/alice' };
      },
      homeInfo: () => ({ device: '/dev/vdb', formatted: true }),
    };
    const files: SessionFiles = {
      write: async (_user, p) => {
        written.push({ cookie: p.cookie, options: renderNxOptions(p) });
        return paths;
      },
    };
    session = new XSession({ runner, provisioner, files, sessionCommand: ['/etc/qvd/session', '--test'], log: silentLog, killGraceMs: 40, restartDelayMs: 1, maxAgentRestarts: 2 });
  });

  const startToListening = async (cookie = C1): Promise<FakeProcess> => {
    expect(session.start(params(cookie, { geometry: '800x600' })).state).toBe('starting');
    await settle();
    expect(session.status().state).toBe('provisioning');
    const agent = runner.lastAgent();
    agent.line("Session: Starting session at 'Thu Nov 26 00:44:48 2026'.");
    agent.line(WAITING);
    expect(session.status().state).toBe('listening');
    return agent;
  };

  it('provisions, runs nxagent as the user and reports listening, then connected', async () => {
    const agent = await startToListening();
    expect(agent.args).toEqual(['-auth', paths.authFile, '-nolisten', 'tcp', ':100', '-display', `nx/nx,options=${paths.optionsFile}:100`]);
    expect(agent.options).toMatchObject({ uid: 1000, gid: 1000, cwd: '/home/alice', env: { NX_ROOT: paths.nxRoot, HOME: '/home/alice', USER: 'alice' } });
    expect(written).toEqual([{ cookie: C1, options: `nx/nx,link=lan,geometry=800x600,listen=4100,cookie=${C1}:100\n` }]);
    // The desktop waits for the first client: X clients cannot join before.
    expect(runner.spawned).toHaveLength(1);

    agent.line(STARTED);
    expect(session.status()).toMatchObject({ state: 'connected', user: 'alice', agentRestarts: 0, home: { device: '/dev/vdb', formatted: true } });
    const desktop = runner.spawned[1];
    expect(desktop?.command).toBe('/etc/qvd/session');
    expect(desktop?.args).toEqual(['--test']);
    expect(desktop?.options).toMatchObject({ uid: 1000, gid: 1000, group: true, env: { DISPLAY: ':100', XAUTHORITY: paths.authFile } });
  });

  it('suspends on client loss and resumes for the next x_start with its new cookie', async () => {
    const agent = await startToListening();
    agent.line(STARTED);
    agent.line("Session: Display failure detected at 'Thu Nov 26 00:45:12 2026'.");
    agent.line(SUSPENDING);
    expect(session.status().state).toBe('suspending');
    agent.line(SUSPENDED);
    expect(session.status().state).toBe('suspended');
    expect(agent.signals).toEqual([]);

    session.start(params(C2));
    await settle();
    // New cookie in the files first, then SIGHUP: nxagent re-reads them.
    expect(written.map((w) => w.cookie)).toEqual([C1, C2]);
    expect(agent.signals).toEqual([{ signal: 'SIGHUP', group: false }]);
    agent.line(RESUMING);
    agent.line(WAITING);
    expect(session.status().state).toBe('listening');
    agent.line(RESUMED);
    expect(session.status().state).toBe('connected');
    // The applications survived: no second desktop.
    expect(runner.spawned).toHaveLength(2);
  });

  it('takes a connected session over: suspend, then resume with the new cookie', async () => {
    const agent = await startToListening();
    agent.line(STARTED);
    session.start(params(C2));
    expect(agent.signals.map((s) => s.signal)).toEqual(['SIGHUP']);
    agent.line(SUSPENDING);
    agent.line(SUSPENDED);
    await settle();
    expect(written.at(-1)?.cookie).toBe(C2);
    expect(agent.signals.map((s) => s.signal)).toEqual(['SIGHUP', 'SIGHUP']);
    agent.line(RESUMING);
    agent.line(WAITING);
    expect(session.status().state).toBe('listening');
  });

  it('restarts an agent that never had a client when a newer cookie arrives', async () => {
    const first = await startToListening(C1);
    session.start(params(C2));
    expect(first.signals.map((s) => s.signal)).toEqual(['SIGTERM']);
    await settle();
    const second = runner.lastAgent();
    expect(second).not.toBe(first);
    expect(written.at(-1)?.cookie).toBe(C2);
    second.line(WAITING);
    expect(session.status()).toMatchObject({ state: 'listening', agentRestarts: 0 });
  });

  it('a newer cookie while waiting for a resume: abort the wait, then resume with it', async () => {
    const agent = await startToListening();
    agent.line(STARTED);
    agent.line(SUSPENDED);
    session.start(params(C2));
    await settle();
    agent.line(RESUMING);
    agent.line(WAITING);
    session.start(params(C3));
    expect(agent.signals.map((s) => s.signal)).toEqual(['SIGHUP', 'SIGHUP']);
    agent.line(SUSPENDED);
    await settle();
    expect(written.at(-1)?.cookie).toBe(C3);
    expect(agent.signals.map((s) => s.signal)).toEqual(['SIGHUP', 'SIGHUP', 'SIGHUP']);
  });

  it('restarts nxagent when it dies before any client attached (failed X connection)', async () => {
    const first = await startToListening();
    first.line("Error: Aborting session with 'Unable to open display'.");
    first.exit(1);
    await settle();
    expect(session.status()).toMatchObject({ state: 'starting', agentRestarts: 1 });
    await vi.waitFor(() => expect(runner.agents()).toHaveLength(2));
    const second = runner.lastAgent();
    second.line(WAITING);
    second.line(STARTED);
    expect(session.status()).toMatchObject({ state: 'connected', agentRestarts: 0 });
  });

  it('gives up after too many early deaths and says why', async () => {
    await startToListening();
    for (let i = 0; i < 3; i++) {
      runner.lastAgent().line("Error: Aborting session with 'Unable to open display'.");
      runner.lastAgent().exit(1);
      await settle();
      await vi.waitFor(() => expect(runner.agents().length === i + 2 || session.status().state === 'stopped').toBe(true));
    }
    await vi.waitFor(() => expect(session.status().state).toBe('stopped'));
    expect(session.status().lastError).toMatch(/nxagent exited 3 times before a client attached \(exit code 1\): Aborting session/);
    expect(runner.agents()).toHaveLength(3);
  });

  it('x_stop ends agent and desktop, kills what the user left, and reports stopped', async () => {
    const agent = await startToListening();
    agent.line(STARTED);
    const desktop = runner.spawned[1];
    await session.stop();
    expect(session.status().state).toBe('stopped');
    expect(session.status().user).toBeUndefined();
    expect(agent.signals[0]?.signal).toBe('SIGTERM');
    expect(desktop?.signals[0]).toEqual({ signal: 'SIGTERM', group: true });
    expect(runner.runs).toContainEqual({ command: 'pkill', args: ['-KILL', '-U', '1000'], options: undefined });
  });

  it('escalates to SIGKILL when nxagent ignores SIGTERM', async () => {
    const agent = await startToListening();
    agent.onSignal = () => {};
    agent.line(STARTED);
    await session.stop();
    expect(agent.signals.map((s) => s.signal)).toEqual(['SIGTERM', 'SIGTERM', 'SIGKILL']);
    expect(session.status().state).toBe('stopped');
  });

  it('stops the X session when the desktop program ends (like xinit)', async () => {
    const agent = await startToListening();
    agent.line(STARTED);
    runner.spawned[1]?.exit(0);
    await vi.waitFor(() => expect(session.status().state).toBe('stopped'));
    expect(agent.signals[0]?.signal).toBe('SIGTERM');
  });

  it('reports an agent that crashed during a session and cleans up', async () => {
    const agent = await startToListening();
    agent.line(STARTED);
    agent.exit(null, 'SIGSEGV');
    await vi.waitFor(() => expect(session.status().state).toBe('stopped'));
    expect(session.status().lastError).toBe('nxagent exited (signal SIGSEGV)');
    expect(runner.spawned[1]?.signals[0]).toEqual({ signal: 'SIGTERM', group: true });
  });

  it('refuses another user while a session is active, and x_start while stopping', async () => {
    const agent = await startToListening();
    agent.onSignal = () => {};
    expect(() => session.start({ user: 'mallory', cookie: C2 })).toThrow(VmaError);
    const stopping = session.stop();
    expect(() => session.start(params(C2))).toThrow(/stopping/);
    await stopping;
    expect(session.start({ user: 'mallory', cookie: C2 }).state).toBe('starting');
  });

  it('refuses another user while the first one is still being provisioned', () => {
    session.start(params(C1));
    expect(() => session.start({ user: 'mallory', cookie: C2 })).toThrow(/an X session of alice/);
  });

  it('reports a provisioning failure in x_state', async () => {
    provisionError = new Error('the home disk holds a gpt partition table');
    session.start(params(C1));
    await vi.waitFor(() => expect(session.status().state).toBe('stopped'));
    expect(session.status().lastError).toBe('x_start failed: the home disk holds a gpt partition table');
    expect(runner.agents()).toHaveLength(0);
  });

  it('x_suspend asks a connected agent to suspend and is a no-op otherwise', async () => {
    const agent = await startToListening();
    session.suspend();
    expect(agent.signals).toEqual([]);
    agent.line(STARTED);
    session.suspend();
    expect(agent.signals.map((s) => s.signal)).toEqual(['SIGHUP']);
  });
});
