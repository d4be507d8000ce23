import type { Client, ConnectConfig } from 'ssh2';
import { NodeError } from '../../../errors.js';
import { CommandFailedError, describeCommand, describeScript } from '../command-failed-error.js';
import { defaultCommandTimeoutMs, type CommandResult, type CommandRunner, type RunOptions, type ScriptOptions, type UploadProgress } from '../command-runner.js';
import { commandLocale, maxOutputBytes, wrapScript } from '../run-limits.js';
import { Semaphore } from '../semaphore.js';
import { collect, openExec, openSftp, withTimeout } from './ssh-channel.js';
import { hostKeyFromBlob, normaliseFingerprint, sameFingerprint, type HostKey } from './host-key.js';
import { quoteArgv } from './shell-quote.js';
import { sshConnectError, type SshTarget } from './ssh-connect-error.js';
import { trace } from '../../../trace.js';

export interface SshRunnerOptions {
  readonly node: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Private key text (OpenSSH or PEM). */
  readonly privateKey?: string | Buffer;
  /** ssh-agent socket, used when no key is given. */
  readonly agent?: string;
  /** Where the key came from, shown in authentication errors. */
  readonly keySource?: string;
  /** `SHA256:<base64>` the server's host key must have. */
  readonly hostKeyFingerprint?: string;
  /** Without a fingerprint, accept the first key seen (and report it) instead of refusing. */
  readonly trustOnFirstUse?: boolean;
  readonly connectTimeoutMs?: number;
  readonly keepaliveIntervalMs?: number;
  /** Channels open at once on the one connection; sshd's MaxSessions defaults to 10. */
  readonly maxChannels?: number;
}

/** What the connection verified about the server, for the caller to record or to pin elsewhere (libvirt's known_hosts). */
export interface VerifiedHost {
  readonly hostKey: HostKey;
  /** True when the key was accepted only because trustOnFirstUse was set. */
  readonly trustedOnFirstUse: boolean;
}

/**
 * Runs commands on a node over ONE pooled SSH connection: opened on first
 * use, kept alive, shared by concurrent commands (bounded by maxChannels),
 * reopened once when it turns out to have dropped.
 */
export class SshRunner implements CommandRunner {
  readonly node: string;
  private readonly options: SshRunnerOptions;
  private readonly target: SshTarget;
  private readonly channels: Semaphore;
  /** The connection in use: being opened, or open (then also in `live`). */
  private connecting: Promise<Client> | undefined;
  /** The client of `connecting` while its handshake runs: close() cuts it short. */
  private handshaking: Client | undefined;
  private live: Client | undefined;
  private verified: VerifiedHost | undefined;
  private closed = false;

  constructor(options: SshRunnerOptions) {
    this.options = options;
    this.node = options.node;
    this.target = { node: options.node, host: options.host, port: options.port, user: options.user, keySource: options.keySource ?? (options.privateKey !== undefined ? 'inline key' : 'ssh-agent') };
    this.channels = new Semaphore(options.maxChannels ?? 8);
  }

  /** Connects (if not yet) and tells which host key was verified. */
  async connect(): Promise<VerifiedHost> {
    await this.client();
    if (this.verified === undefined) throw new NodeError(this.node, 'SSH connection is up but no host key was verified');
    return this.verified;
  }

  /** Opens the connection in the background; a failure is left for the first command (which then tries once more). */
  prepare(): void {
    if (this.closed || this.connecting !== undefined) return;
    this.client().catch(() => undefined);
  }

  get verifiedHost(): VerifiedHost | undefined {
    return this.verified;
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return this.exec(argv, options.stdin, options.timeoutMs, options.okExitCodes, describeCommand(argv));
  }

  runScript(script: string, options: ScriptOptions = {}): Promise<CommandResult> {
    return this.exec(['bash', '-s', '--', ...(options.args ?? [])], wrapScript(script), options.timeoutMs, options.okExitCodes, options.label ?? describeScript(script));
  }

  async upload(localPath: string, remotePath: string, onProgress?: UploadProgress): Promise<void> {
    await this.channels.use(async () => {
      const sftp = await this.openChannel((client) => openSftp(client));
      try {
        await new Promise<void>((resolve, reject) => {
          sftp.fastPut(localPath, remotePath, {
            mode: 0o644,
            step: (sent: number, _chunk: number, total: number) => onProgress?.(sent, total),
          }, (error) => (error ? reject(error) : resolve()));
        });
      } catch (error) {
        throw new NodeError(this.node, `SFTP upload of ${localPath} to ${remotePath} failed: ${(error as Error).message}`, { cause: error });
      } finally {
        sftp.end();
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = this.connecting;
    this.connecting = undefined;
    this.live = undefined;
    if (pending === undefined) return;
    // Still in its handshake (a connection opened ahead by prepare() that no command used): no need to wait for the node.
    this.handshaking?.destroy();
    const client = await pending.catch(() => undefined);
    if (client === undefined) return;
    await new Promise<void>((resolve) => {
      client.once('close', () => resolve());
      client.end();
      // A dead peer never acknowledges the end; do not wait for it.
      setTimeout(resolve, 1000).unref();
    });
  }

  private async exec(argv: readonly string[], stdin: string | Buffer | undefined, timeoutMs = defaultCommandTimeoutMs, okExitCodes: readonly number[] = [0], label: string): Promise<CommandResult> {
    const env = Object.entries(commandLocale).map(([key, value]) => `${key}=${value}`);
    // The deadline is enforced on the node: without a pty, sshd neither kills a command when its
    // channel closes nor (ssh2 cannot send it once stdin is closed) on a signal request.
    const seconds = (timeoutMs / 1000).toFixed(3);
    const command = quoteArgv(['env', ...env, 'timeout', '-k', '5', `${seconds}s`, ...argv]);
    const started = Date.now();
    const outcome = await this.channels.use(async () => {
      const channel = await this.openChannel((client) => openExec(client, command));
      // Local backstop for a node that stops answering altogether.
      return collect(channel, stdin, timeoutMs + 10_000);
    });
    const result = { stdout: outcome.stdout, stderr: outcome.stderr, exitCode: outcome.exitCode ?? -1 };
    const remoteTimeout = (outcome.exitCode === 124 || outcome.exitCode === 137) && Date.now() - started >= timeoutMs;
    if (outcome.timedOut || remoteTimeout) {
      throw new CommandFailedError(this.node, { command: label, ...result, reason: `timed out after ${timeoutMs} ms (killed)` });
    }
    if (outcome.overflow) {
      throw new CommandFailedError(this.node, { command: label, ...result, reason: `printed more than ${maxOutputBytes} bytes` });
    }
    if (outcome.exitCode === undefined) {
      const reason = outcome.signal !== undefined ? `was killed by SIG${outcome.signal}` : 'lost its SSH channel before it exited (connection dropped?)';
      throw new CommandFailedError(this.node, { command: label, ...result, reason });
    }
    if (!okExitCodes.includes(outcome.exitCode)) throw new CommandFailedError(this.node, { command: label, ...result });
    return result;
  }

  /**
   * Opens a channel on the pooled connection. If that fails, the connection
   * is assumed dead (idle drop, sshd restart) and one fresh connection is
   * tried. Only opening is retried: a command that started is never re-run.
   */
  private async openChannel<T>(open: (client: Client) => Promise<T>): Promise<T> {
    const first = await this.client();
    try {
      return await withTimeout(open(first), this.options.connectTimeoutMs ?? 15_000, 'opening an SSH channel');
    } catch (firstError) {
      if (this.closed) throw new NodeError(this.node, 'SSH runner is closed', { cause: firstError });
      this.discard(first);
      const second = await this.client();
      try {
        return await withTimeout(open(second), this.options.connectTimeoutMs ?? 15_000, 'opening an SSH channel');
      } catch (secondError) {
        this.discard(second);
        throw new NodeError(this.node, `cannot open an SSH channel to ${this.target.host}:${this.target.port}: ${(secondError as Error).message}`, { cause: secondError });
      }
    }
  }

  private discard(client: Client): void {
    this.forget(client);
    client.end();
  }

  /** Synchronous, so the very next command already opens a fresh connection. */
  private forget(client: Client): void {
    if (this.live !== client) return;
    this.live = undefined;
    this.connecting = undefined;
  }

  private client(): Promise<Client> {
    if (this.closed) return Promise.reject(new NodeError(this.node, 'SSH runner is closed'));
    if (this.connecting === undefined) {
      const attempt = this.openConnection();
      this.connecting = attempt;
      attempt.then((client) => {
        if (this.connecting === attempt) this.live = client;
        // Closed by close() while it was being opened.
        else client.end();
      }, () => {
        // A failed attempt must not be cached: the next command tries again.
        if (this.connecting === attempt) this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  private async openConnection(): Promise<Client> {
    // ssh2 takes ~0.1 s to load: commands that never reach a node (validate, --help) do not pay it.
    trace(`node ${this.node}: ssh connect ...`);
    const { Client: SshClient } = await import('ssh2');
    trace(`node ${this.node}: ssh2 loaded`);
    if (this.closed) throw new NodeError(this.node, 'SSH runner is closed');
    return new Promise<Client>((resolve, reject) => {
      const client = new SshClient();
      this.handshaking = client;
      let ready = false;
      let refusal: NodeError | undefined;
      client.on('ready', () => {
        ready = true;
        if (this.handshaking === client) this.handshaking = undefined;
        trace(`node ${this.node}: ssh connect done`);
        resolve(client);
      });
      client.on('error', (error) => {
        if (this.handshaking === client) this.handshaking = undefined;
        if (!ready) reject(refusal ?? sshConnectError(this.target, error));
        // After setup an error always ends with 'close', which forgets the connection.
      });
      client.on('close', () => {
        if (this.handshaking === client) this.handshaking = undefined;
        if (!ready) reject(refusal ?? new NodeError(this.node, `SSH connection to ${this.target.host}:${this.target.port} closed during setup`));
        this.forget(client);
      });
      const config: ConnectConfig = {
        host: this.options.host,
        port: this.options.port,
        username: this.options.user,
        readyTimeout: this.options.connectTimeoutMs ?? 15_000,
        keepaliveInterval: this.options.keepaliveIntervalMs ?? 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (blob: Buffer): boolean => {
          refusal = this.checkHostKey(blob);
          return refusal === undefined;
        },
      };
      if (this.options.privateKey !== undefined) config.privateKey = this.options.privateKey;
      if (this.options.agent !== undefined) config.agent = this.options.agent;
      const methods = authMethods(this.options);
      if (methods.length > 0) config.authHandler = methods;
      client.connect(config);
      // The handshake and every command are small request/response exchanges:
      // with Nagle on, a write that follows an unacknowledged one waits for the
      // peer's delayed ACK (~40 ms), which the SSH handshake hits at least once.
      client.setNoDelay(true);
    });
  }

  /** Returns why the key is refused, or records it as verified. */
  private checkHostKey(blob: Buffer): NodeError | undefined {
    const key = hostKeyFromBlob(blob);
    const expected = this.options.hostKeyFingerprint;
    const where = `${this.target.host}:${this.target.port}`;
    if (expected !== undefined && expected.trim() !== '') {
      if (!sameFingerprint(expected, key.fingerprint)) {
        return new NodeError(this.node, `SSH host key mismatch for ${where}: the spec expects ${normaliseFingerprint(expected)} but the server presented ${key.fingerprint} (${key.type})`, {
          hint: `If the node was reinstalled or its host keys regenerated, check the new key on the node itself (ssh-keygen -lf /etc/ssh/ssh_host_${shortType(key.type)}_key.pub) and put that fingerprint in nodes[].ssh.host_key_fingerprint. Otherwise someone may be intercepting the connection: do not proceed.`,
        });
      }
      this.verified = { hostKey: key, trustedOnFirstUse: false };
      return undefined;
    }
    // On a reconnect, a key learned on first use is pinned: it may not change within a run.
    if (this.verified !== undefined) {
      if (this.verified.hostKey.fingerprint === key.fingerprint) return undefined;
      return new NodeError(this.node, `SSH host key of ${where} changed during the run: first ${this.verified.hostKey.fingerprint}, now ${key.fingerprint}`, {
        hint: 'Pin the right fingerprint in nodes[].ssh.host_key_fingerprint.',
      });
    }
    if (this.options.trustOnFirstUse === true) {
      this.verified = { hostKey: key, trustedOnFirstUse: true };
      return undefined;
    }
    return new NodeError(this.node, `refusing to trust the SSH host key of ${where}: the spec has no host key fingerprint for this node (the server presented ${key.fingerprint}, ${key.type})`, {
      hint: `Check the key on the node (ssh-keygen -lf /etc/ssh/ssh_host_${shortType(key.type)}_key.pub) and set nodes[].ssh.host_key_fingerprint: "${key.fingerprint}", or allow trust on first use explicitly.`,
    });
  }
}

function shortType(type: string): string {
  if (type === 'ssh-ed25519') return 'ed25519';
  if (type.startsWith('ecdsa')) return 'ecdsa';
  if (type.includes('rsa')) return 'rsa';
  return type;
}

/**
 * The methods to offer, in order. Without this list ssh2 starts with "none",
 * which OpenSSH always refuses and answers only after its failed-login delay.
 */
function authMethods(o: { readonly privateKey?: unknown; readonly agent?: unknown }): ('publickey' | 'agent')[] {
  return [...(o.privateKey === undefined ? [] : (['publickey'] as const)), ...(o.agent === undefined ? [] : (['agent'] as const))];
}
