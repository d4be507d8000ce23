import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { ConnectError } from './connect-error.js';
import type { ClientSession, SessionEnd } from './connect-options.js';

export interface NxTunnelOptions {
  /** The L7R connection, already switched to the raw NX stream (paused). */
  readonly stream: Duplex;
  /** Bytes of the NX stream that arrived with the 101 head. */
  readonly initial: Buffer;
  readonly cookie: string | undefined;
  readonly display: string;
  readonly nxproxyPath: string;
  /** How long nxproxy may take to connect to the local port. */
  readonly acceptTimeoutMs?: number;
  readonly onProgress?: (message: string) => void;
}

/** First display number tried: 4040 is where the original client listens. */
const FIRST_DISPLAY = 40;
const LAST_DISPLAY = 299;
const KILL_GRACE_MS = 5000;

/**
 * Runs nxproxy in client mode against a local port that this process
 * forwards into the TLS stream, like the original client (nxproxy connects
 * to 4000+N). The cookie goes to nxproxy in a 0600 options file, not on its
 * command line where other local users could read it; the port accepts one
 * connection and is closed right after.
 */
export async function startNxTunnel(o: NxTunnelOptions): Promise<ClientSession> {
  const dir = await mkdtemp(join(tmpdir(), 'qvd-nx-'));
  await chmod(dir, 0o700);
  let server: Server | undefined;
  try {
    const { server: s, display } = await listenFree();
    server = s;
    const port = 4000 + display;
    const optionsFile = join(dir, 'options');
    const options = ['nx/nx', `connect=127.0.0.1`, `port=${port}`, ...(o.cookie === undefined ? [] : [`cookie=${o.cookie}`])].join(',');
    await writeFile(optionsFile, `${options}:${display}\n`, { mode: 0o600 });

    const child = spawn(o.nxproxyPath, ['-S', `nx/nx,options=${optionsFile}:${display}`], {
      env: { ...process.env, DISPLAY: o.display, NX_ROOT: dir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderrTail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => {
      stderrTail = (stderrTail + c).slice(-4000);
    });
    const exited = new Promise<number | null>((resolve) => {
      child.on('error', (e) => {
        stderrTail += `\n${e.message}`;
        resolve(127);
      });
      child.on('exit', (code, signal) => resolve(code ?? (signal === null ? null : 128)));
    });
    o.onProgress?.(`nxproxy started (pid ${child.pid ?? '?'}) on display ${o.display}, tunnel port ${port}`);

    const local = await acceptOne(s, exited, o.acceptTimeoutMs ?? 30_000).catch((e: unknown) => {
      child.kill('SIGKILL');
      const why = lastLines(stderrTail);
      throw e instanceof ConnectError && e.kind === 'nxproxy' ? new ConnectError('nxproxy', `${e.message}${why === '' ? '' : `: ${why}`}`, false, { hint: 'is nxproxy installed and DISPLAY right?' }) : e;
    });
    s.close();
    // Once the session is up, nxproxy writes its messages to the session's errors file instead of stderr.
    const log = async (): Promise<string> => `${stderrTail}${(await readFile(join(dir, `S-${display}`, 'errors'), 'utf8').catch(() => '')).slice(-4000)}`;
    return pipeSession(o, local, child, exited, port, log, () => rm(dir, { recursive: true, force: true }));
  } catch (e) {
    server?.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

function pipeSession(
  o: NxTunnelOptions,
  local: Socket,
  child: ReturnType<typeof spawn>,
  exited: Promise<number | null>,
  port: number,
  log: () => Promise<string>,
  cleanup: () => Promise<void>,
): ClientSession {
  let fromServer = o.initial.length;
  let toServer = 0;
  let reason: SessionEnd['reason'] | undefined;
  local.setNoDelay(true);
  local.setKeepAlive(true, 30_000);
  if (o.initial.length > 0) local.write(o.initial);
  o.stream.on('data', (c: Buffer) => (fromServer += c.length));
  local.on('data', (c: Buffer) => (toServer += c.length));
  o.stream.pipe(local);
  local.pipe(o.stream);
  o.stream.resume();

  local.on('error', () => local.destroy());

  const stopProxy = async (): Promise<number | null> => {
    const grace = (ms: number) => Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), ms).unref())]);
    if (!(await grace(KILL_GRACE_MS))) {
      child.kill('SIGTERM');
      // nxproxy may ignore SIGTERM for a long time.
      if (!(await grace(KILL_GRACE_MS))) child.kill('SIGKILL');
    }
    return exited;
  };

  // Who hung up first decides the reason: each side's end-of-stream (or
  // close, or nxproxy's exit) is seen before the other's, which follows
  // through the pipe.
  const ended = (s: Duplex, also?: Promise<unknown>): Promise<void> =>
    new Promise((resolve) => {
      // The server may hang up while nxproxy is still starting: its events were emitted before anyone listened.
      if (s.destroyed || s.readableEnded) resolve();
      s.once('end', () => resolve());
      s.once('close', () => resolve());
      s.once('error', () => resolve());
      void also?.then(() => resolve());
    });
  const closed = (async (): Promise<SessionEnd> => {
    const first = await Promise.race([ended(local, exited).then(() => 'nxproxy' as const), ended(o.stream).then(() => 'stream' as const)]);
    reason ??= first === 'nxproxy' ? 'nxproxy-exited' : 'server-closed';
    if (first === 'nxproxy') o.stream.destroy();
    local.destroy();
    const code = await stopProxy();
    o.stream.destroy();
    await cleanup();
    return { reason, nxproxyExitCode: code, nxproxyLog: await log(), bytesFromServer: fromServer, bytesToServer: toServer };
  })();

  return {
    localPort: port,
    nxproxyPid: child.pid ?? -1,
    closed,
    async close() {
      reason ??= 'closed';
      o.stream.destroy();
      child.kill('SIGTERM');
      return closed;
    },
  };
}

async function listenFree(): Promise<{ server: Server; display: number }> {
  for (let display = FIRST_DISPLAY; display <= LAST_DISPLAY; display++) {
    const server = createServer({ pauseOnConnect: true });
    const ok = await new Promise<boolean>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' || e.code === 'EACCES' ? resolve(false) : reject(e)));
      server.listen({ port: 4000 + display, host: '127.0.0.1', exclusive: true }, () => resolve(true));
    });
    if (ok) return { server, display };
  }
  throw new ConnectError('nxproxy', `no free local port between ${4000 + FIRST_DISPLAY} and ${4000 + LAST_DISPLAY}`, false);
}

function acceptOne(server: Server, exited: Promise<number | null>, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new ConnectError('nxproxy', `nxproxy did not connect within ${timeoutMs} ms`, false)), timeoutMs);
    server.once('connection', (socket: Socket) => {
      clearTimeout(timer);
      resolve(socket);
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new ConnectError('nxproxy', `nxproxy exited (code ${code ?? '?'}) before connecting`, false));
    });
  });
}

/**
 * The last `max` lines of an nxproxy log that say what went wrong (its
 * errors, warnings and the reason it gives for a session that never became
 * usable), without its banner and progress lines.
 */
export function nxproxyComplaints(text: string, max: number): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(Error|Loop: PANIC|Warning)|ENOENT|not found|before reaching a usable state|refusing access/i.test(l))
    .slice(-max);
}

function lastLines(text: string): string {
  return nxproxyComplaints(text, 3).join(' / ');
}
