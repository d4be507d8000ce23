import type { Client, ClientChannel, SFTPWrapper } from 'ssh2';
import { maxOutputBytes } from '../run-limits.js';

/** The ssh2 callback APIs the runner needs, as promises. */

export function openExec(client: Client, command: string): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (error, channel) => (error ? reject(error) : resolve(channel)));
    } catch (error) {
      // ssh2 throws synchronously when the socket is already gone.
      reject(error as Error);
    }
  });
}

export function openSftp(client: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => {
    try {
      client.sftp((error, sftp) => (error ? reject(error) : resolve(sftp)));
    } catch (error) {
      reject(error as Error);
    }
  });
}

export interface ChannelOutcome {
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  overflow: boolean;
}

export function collect(channel: ClientChannel, stdin: string | Buffer | undefined, timeoutMs: number): Promise<ChannelOutcome> {
  return new Promise((resolve) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let size = 0;
    let exitCode: number | undefined;
    let signal: string | undefined;
    let timedOut = false;
    let overflow = false;
    const stop = (): void => {
      channel.close();
    };
    const take = (into: Buffer[]) => (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxOutputBytes) {
        if (!overflow) stop();
        overflow = true;
        return;
      }
      into.push(chunk);
    };
    channel.on('data', take(stdout));
    channel.stderr.on('data', take(stderr));
    channel.on('exit', (code: number | null, signalName?: string) => {
      if (typeof code === 'number') exitCode = code;
      if (typeof signalName === 'string') signal = signalName;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timeoutMs);
    channel.on('close', () => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8'), exitCode, signal, timedOut, overflow });
    });
    channel.end(stdin ?? '');
  });
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
