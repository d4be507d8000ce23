import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { ProcessExit, ProcessRunner, RunAs, RunResult, SpawnOptions, SpawnedProcess } from './process-runner.js';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The real runner: node:child_process, no shell, as another user when asked. */
export class NodeProcessRunner implements ProcessRunner {
  run(command: string, args: readonly string[], options: RunAs & { readonly timeoutMs?: number } = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      const child = spawn(command, args, { ...spawnIds(options), env: { PATH, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 60_000 });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => err.push(c));
      child.on('error', (e) => resolve({ code: 127, stdout: '', stderr: `${command}: ${e.message}` }));
      child.on('close', (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() }));
    });
  }

  spawn(command: string, args: readonly string[], options: SpawnOptions): SpawnedProcess {
    const child = spawn(command, args, { ...spawnIds(options), env: { PATH, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: options.group === true });
    if (options.onLine !== undefined) {
      splitLines(child.stdout, (l) => options.onLine?.(l, 'stdout'));
      splitLines(child.stderr, (l) => options.onLine?.(l, 'stderr'));
    } else {
      child.stdout.resume();
      child.stderr.resume();
    }
    const exited = new Promise<ProcessExit>((resolve) => {
      child.on('error', () => resolve({ code: 127, signal: null }));
      child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    return {
      pid: child.pid ?? -1,
      exited,
      kill(signal, group = false) {
        try {
          if (group && options.group === true && child.pid !== undefined) process.kill(-child.pid, signal);
          else child.kill(signal);
        } catch {
          // Already gone: nothing to signal.
        }
      },
    };
  }
}

function spawnIds(o: RunAs): { uid?: number; gid?: number; cwd?: string } {
  return { ...(o.uid === undefined ? {} : { uid: o.uid }), ...(o.gid === undefined ? {} : { gid: o.gid }), ...(o.cwd === undefined ? {} : { cwd: o.cwd }) };
}

function splitLines(stream: Readable, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) onLine(p.replace(/\r$/, ''));
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
  });
}
