/**
 * A private OpenSSH server on 127.0.0.1 for integration tests: its own
 * config, host key, client key and authorized_keys in a temp dir, on a free
 * port. Nothing of the machine's own sshd or root's ~/.ssh is touched.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestSshServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: 'root';
  /** OpenSSH private key (PEM text) accepted by the server. */
  readonly privateKey: string;
  /** Path of the same key, for tools that want a file (libvirt's keyfile=). */
  readonly privateKeyPath: string;
  /** `SHA256:<base64>` of the server's host key, as `ssh-keygen -l` prints it. */
  readonly hostKeyFingerprint: string;
  /** The host key's public line (`ssh-ed25519 AAAA...`). */
  readonly hostPublicKey: string;
  readonly dir: string;
  /** Kill sshd (and with it every session it serves) and remove the temp dir. */
  stop(): Promise<void>;
  /** Kill sshd but keep the dir, so `restart()` brings the same server back (reconnect tests). */
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** Client connections sshd serves right now (one child of the listener each). */
  connections(): number;
}

export async function startSshServer(options: { extraConfig?: string } = {}): Promise<TestSshServer> {
  const dir = mkdtempSync(join(tmpdir(), 'qvd-sshd-'));
  // sshd insists on this directory for privilege separation.
  mkdirSync('/run/sshd', { recursive: true });
  const hostKeyPath = join(dir, 'host_ed25519');
  const clientKeyPath = join(dir, 'client_ed25519');
  keygen(hostKeyPath);
  keygen(clientKeyPath);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(`${clientKeyPath}.pub`));
  const hostPublicKey = readFileSync(`${hostKeyPath}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');

  let port = 0;
  let child: ChildProcess | undefined;
  const stderr: string[] = [];

  const configPath = join(dir, 'sshd_config');
  const writeConfig = (): void => {
    writeFileSync(configPath, [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKeyPath}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      // Tests open many channels on one connection and many connections at once.
      'MaxSessions 32',
      'MaxStartups 100:30:200',
      'Subsystem sftp internal-sftp',
      options.extraConfig ?? '',
    ].join('\n') + '\n');
  };

  const launchOnPort = async (): Promise<void> => {
    const proc = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr.push(chunk); });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const ready = await Promise.race([waitForBanner(port, 5000).then(() => true), exited.then(() => false)]);
    if (!ready) {
      proc.kill('SIGKILL');
      throw new Error(`sshd did not start on port ${port}: ${stderr.join('').slice(-2000)}`);
    }
    child = proc;
  };

  const launch = async (): Promise<void> => {
    // A freshly freed port can be taken by someone else before sshd binds it: retry with another.
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      port = await freePort();
      writeConfig();
      try {
        await launchOnPort();
        return;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null) return;
    // Sessions are served by sshd's children, which outlive the listener: end them too.
    const sessions = proc.pid === undefined ? [] : descendantsOf(proc.pid);
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    for (const pid of sessions) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
    await exited;
  };

  await launch();
  return {
    host: '127.0.0.1',
    get port() { return port; },
    user: 'root',
    privateKey: readFileSync(clientKeyPath, 'utf8'),
    privateKeyPath: clientKeyPath,
    hostKeyFingerprint: fingerprintOf(hostPublicKey),
    hostPublicKey,
    dir,
    kill,
    connections() {
      const pid = child?.pid;
      return pid === undefined ? 0 : childrenOf(pid).length;
    },
    async restart() {
      await kill();
      // Same port, so clients that reconnect find the server where it was.
      let lastError: unknown;
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          await launchOnPort();
          return;
        } catch (error) {
          lastError = error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw lastError;
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `SHA256:<base64 without padding>` of a public key line, as OpenSSH prints it. */
export function fingerprintOf(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** A fresh ed25519 key pair at `path` and `path.pub`. */
export function keygen(path: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'qvd-test', '-f', path], { stdio: 'ignore' });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something on the port speaks SSH (another service there would not). */
async function waitForBanner(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.setTimeout(500);
      socket.once('data', (data) => { socket.destroy(); resolve(data.toString('latin1').startsWith('SSH-')); });
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => { socket.destroy(); resolve(false); });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no SSH banner on 127.0.0.1:${port}`);
}

function childrenOf(parent: number): number[] {
  return processTree().get(parent) ?? [];
}

/** Every process below `root`, read from /proc (no `ps` tree parsing). */
function descendantsOf(root: number): number[] {
  const children = processTree();
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    for (const child of children.get(pid) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

function processTree(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // The command name is in parentheses and may contain spaces: the ppid is the 2nd field after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  return children;
}
