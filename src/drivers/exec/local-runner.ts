import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { NodeError } from '../../errors.js';
import { CommandFailedError, describeCommand, describeScript } from './command-failed-error.js';
import { defaultCommandTimeoutMs, type CommandResult, type CommandRunner, type RunOptions, type ScriptOptions, type UploadProgress } from './command-runner.js';
import { commandLocale, maxOutputBytes, wrapScript } from './run-limits.js';

/** Runs commands on the machine qvd itself runs on (`local: true` nodes). No shell is involved. */
export class LocalRunner implements CommandRunner {
  constructor(readonly node: string) {}

  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.spawn(argv, options.stdin, options.timeoutMs, options.okExitCodes, describeCommand(argv));
  }

  runScript(script: string, options: ScriptOptions = {}): Promise<CommandResult> {
    return this.spawn(['bash', '-s', '--', ...(options.args ?? [])], wrapScript(script), options.timeoutMs, options.okExitCodes, options.label ?? describeScript(script));
  }

  async upload(localPath: string, remotePath: string, onProgress?: UploadProgress): Promise<void> {
    const total = (await stat(localPath)).size;
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sent += chunk.length;
        onProgress?.(sent, total);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(createReadStream(localPath), counter, createWriteStream(remotePath, { mode: 0o644 }));
    } catch (error) {
      throw new NodeError(this.node, `copying ${localPath} to ${remotePath} failed: ${(error as Error).message}`, { cause: error });
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between commands.
  }

  private spawn(argv: readonly string[], stdin: string | Buffer | undefined, timeoutMs = defaultCommandTimeoutMs, okExitCodes: readonly number[] = [0], label: string): Promise<CommandResult> {
    const [program, ...args] = argv;
    if (program === undefined) return Promise.reject(new Error('empty argv'));
    return new Promise((resolve, reject) => {
      // Its own process group, so a timeout kills what a script started too, not only bash.
      const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...commandLocale }, detached: true });
      const killGroup = (): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let size = 0;
      let timedOut = false;
      let overflow = false;
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxOutputBytes) {
          overflow = true;
          killGroup();
          return;
        }
        into.push(chunk);
      };
      child.stdout.on('data', collect(stdout));
      child.stderr.on('data', collect(stderr));
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup();
      }, timeoutMs);
      child.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const hint = error.code === 'ENOENT' ? `install ${program} on this machine` : undefined;
        reject(new NodeError(this.node, `cannot run ${program}: ${error.message}`, hint === undefined ? { cause: error } : { hint, cause: error }));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        const result = { stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), exitCode: code ?? -1 };
        if (timedOut || overflow || signal !== null || !okExitCodes.includes(result.exitCode)) {
          const reason = timedOut ? `timed out after ${timeoutMs} ms` : overflow ? `printed more than ${maxOutputBytes} bytes` : signal !== null ? `was killed by ${signal}` : undefined;
          reject(new CommandFailedError(this.node, { command: label, ...result, ...(reason === undefined ? {} : { reason }) }));
          return;
        }
        resolve(result);
      });
      // A command that exits without reading its input must not turn into an EPIPE crash.
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin ?? '');
    });
  }
}
