// Timed child processes for bench:apply: wall time measured here, CPU time
// (user+sys of the whole child tree, local side only) from GNU time when present.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

export interface Timed {
  readonly ms: number;
  /** user+sys seconds of the local process tree (GNU time), when available. */
  readonly cpuS: number | undefined;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Each stdout line with the ms since start at which it arrived. */
  readonly lines: readonly { readonly at: number; readonly text: string }[];
}

const GNU_TIME = '/usr/bin/time';
const haveGnuTime = existsSync(GNU_TIME) && spawnSync(GNU_TIME, ['-f', '%e', 'true'], { stdio: 'ignore' }).status === 0;
let seq = 0;

export interface RunOpts {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string;
  readonly timeoutMs?: number;
}

export async function timed(cmd: string, args: readonly string[], opts: RunOpts = {}): Promise<Timed> {
  const cpuFile = join(tmpdir(), `qvd-bench-apply-time-${process.pid}-${seq++}`);
  const [file, argv] = haveGnuTime ? [GNU_TIME, ['-f', '%U %S', '-o', cpuFile, cmd, ...args]] : [cmd, [...args]];
  const started = performance.now();
  const child = spawn(file, argv, {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: '1', ...opts.env },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const lines: { at: number; text: string }[] = [];
  child.stdout?.on('data', (b: Buffer) => {
    const at = performance.now() - started;
    const s = b.toString();
    stdout += s;
    const parts = (partial + s).split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) lines.push({ at, text });
  });
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  if (opts.input !== undefined) child.stdin?.end(opts.input);
  const timeoutMs = opts.timeoutMs ?? 1_800_000;
  const { code, ms } = await new Promise<{ code: number | null; ms: number }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no exit after ${timeoutMs} ms\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (c) => {
      clearTimeout(timer);
      resolve({ code: c, ms: performance.now() - started });
    });
  });
  if (partial !== '') lines.push({ at: ms, text: partial });
  let cpuS: number | undefined;
  if (haveGnuTime) {
    const t = await readFile(cpuFile, 'utf8').catch(() => '');
    // GNU time prefixes "Command exited with non-zero status N" when it fails.
    const m = /(\d+\.\d+) (\d+\.\d+)\s*$/.exec(t);
    if (m !== null) cpuS = Number(m[1]) + Number(m[2]);
    await rm(cpuFile, { force: true });
    // GNU time's own line on failure must not hide the child's stderr: nothing to strip (it writes to -o).
  }
  return { ms, cpuS, code, stdout, stderr, lines };
}

/** Like timed(), but a non-zero exit is an error carrying the output. */
export async function mustRun(what: string, cmd: string, args: readonly string[], opts: RunOpts = {}): Promise<Timed> {
  const r = await timed(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${String(r.code)}):\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`);
  return r;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

export function loadNow(): string {
  const r = spawnSync('uptime', [], { encoding: 'utf8' });
  return (r.stdout ?? '').trim();
}
