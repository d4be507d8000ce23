import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CERT_FILE } from '../../../src/l7r/tls-material.js';
import { deriveVmaSecret } from '../../../src/spec/vma-secrets.js';
import { openStore } from '../../../src/state/open-store.js';
import { VmaClient } from '../../../src/vma/vma-client.js';
import type { TestNode } from '../../support/testenv.js';
import { ALICE_HASH, clusterSpecHead, QVD_BIN } from '../serve/serve-harness.js';
import { countColour, freeDisplay, netnsSpawn, type NetnsProcess } from '../vma/desktop-vm.js';

const run = promisify(execFile);

/** Every user of these specs has this password (ALICE_HASH). */
export const DESKTOP_PASSWORD = 'secret';

export interface DesktopImageFiles {
  readonly disk: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly sha256: string;
  readonly cmdline: string;
}

export interface DesktopSpecOptions {
  readonly nodes: readonly TestNode[];
  readonly image: DesktopImageFiles;
  /** Distinct per spec: network name, bridge and subnet prefix (`10.214.N`). */
  readonly net: { readonly name: string; readonly bridge: string; readonly prefix: string };
  readonly database: string;
  readonly hkd: string;
  readonly users: readonly string[];
  readonly vms: readonly { readonly name: string; readonly user: string; readonly node: string; readonly ip: string }[];
}

/** A spec with the desktop image (direct boot: the VMs get agent secrets) on the test nodes. */
export function desktopSpecYaml(o: DesktopSpecOptions): string {
  return `${clusterSpecHead(o)}images:
  - name: desktop
    source: ${o.image.disk}
    sha256: ${o.image.sha256}
    memory_mb: 384
    vcpus: 1
    home_size_mb: 64
    boot: { kernel: ${o.image.kernel}, initrd: ${o.image.initrd}, cmdline: "${o.image.cmdline}" }
users:
${o.users.map((u) => `  - login: ${u}\n    password: { hash: "${ALICE_HASH}" }`).join('\n')}
vms:
${o.vms.map((v) => `  - { name: ${v.name}, user: ${v.user}, image: desktop, node: ${v.node}, ip: ${v.ip} }`).join('\n')}
`;
}

/** SHA-256 of the certificate serve generated beside the spec, as `--fingerprint` takes it. */
export async function l7rFingerprint(specDir: string): Promise<string> {
  const pem = await readFile(join(specDir, '.qvd', 'tls', CERT_FILE), 'utf8');
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** The agent secret serve and apply use for `vm`, from the store's key. */
export async function vmaSecretOf(sqlitePath: string, vm: string): Promise<string> {
  const store = await openStore({ kind: 'sqlite', path: sqlitePath });
  try {
    return deriveVmaSecret(await store.vmaKey(), vm);
  } finally {
    await store.close();
  }
}

/**
 * A user's screen on the host: Xvfb with its own X authority, `-noreset` so
 * that a screenshot client leaving does not reset the server under nxproxy.
 */
export class UserDisplay {
  display = 0;
  dir = '';
  private xvfb: ChildProcess | undefined;

  get authFile(): string {
    return join(this.dir, 'xauthority');
  }

  get env(): Record<string, string> {
    return { DISPLAY: `:${this.display}`, XAUTHORITY: this.authFile };
  }

  async start(from = 700): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'qvd-user-display-'));
    this.display = await freeDisplay(from);
    await run('xauth', ['-f', this.authFile, 'add', `:${this.display}`, 'MIT-MAGIC-COOKIE-1', randomBytes(16).toString('hex')]);
    this.xvfb = spawn('Xvfb', [`:${this.display}`, '-auth', this.authFile, '-screen', '0', '1024x768x24', '-noreset', '-nolisten', 'tcp'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(`/tmp/.X11-unix/X${this.display}`); i++) await new Promise((r) => setTimeout(r, 50));
  }

  /**
   * Lets the user's own local programs in without the X cookie, as a GNOME
   * login does (GDM adds `si:localuser`): the original QVD client relies on
   * it, since its cookie-less nxproxy forwards the remote's X credentials
   * unchanged.
   */
  async allowLocalUser(): Promise<void> {
    const { stdout } = await run('id', ['-un']);
    await run('xhost', [`+si:localuser:${stdout.trim()}`], { env: { ...process.env, ...this.env } });
  }

  async screenshot(out: string): Promise<void> {
    await run('import', ['-window', 'root', '-display', `:${this.display}`, out], { env: { ...process.env, ...this.env } });
  }

  /** Screenshots until `colour` covers at least `minFraction` of the screen; the last count either way. */
  async waitForColour(colour: string, out: string, timeoutMs: number, minFraction: number): Promise<{ count: number; total: number; histogram: string; ms: number }> {
    const t0 = Date.now();
    for (;;) {
      await this.screenshot(out);
      const c = await countColour(out, colour);
      if (c.count >= c.total * minFraction || Date.now() - t0 > timeoutMs) return { ...c, ms: Date.now() - t0 };
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  async stop(): Promise<void> {
    if (this.xvfb !== undefined && this.xvfb.exitCode === null) {
      this.xvfb.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 200));
      if (this.xvfb.exitCode === null) this.xvfb.kill('SIGKILL');
    }
    if (this.dir !== '') await rm(this.dir, { recursive: true, force: true });
  }
}

/** `qvd connect` as a user runs it (the CLI, password in QVD_PASSWORD), on a UserDisplay. */
export class ConnectProcess {
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  readonly startedAt = Date.now();
  private readonly listeners = new Set<() => void>();

  private constructor(readonly child: ChildProcess) {
    const push = (c: Buffer): void => {
      this.output.push(c.toString());
      for (const l of this.listeners) l();
    };
    child.stdout?.on('data', push);
    child.stderr?.on('data', push);
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  static spawn(o: { host: string; port: number; user: string; vm: string; fingerprint: string; display: UserDisplay; extra?: readonly string[] }): ConnectProcess {
    const args = [QVD_BIN, 'connect', '--host', o.host, '--port', String(o.port), '--user', o.user, '--vm', o.vm, '--fingerprint', o.fingerprint, '--display', `:${o.display.display}`, ...(o.extra ?? [])];
    return new ConnectProcess(spawn(process.execPath, args, { env: { ...process.env, ...o.display.env, QVD_PASSWORD: DESKTOP_PASSWORD }, stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  get text(): string {
    return this.output.join('');
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the match once the output has it; rejects when the process ends first or on timeout. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      const check = (): void => {
        const m = pattern.exec(this.text);
        if (m !== null) {
          done();
          resolve(m);
        } else if (!this.running) {
          done();
          reject(new Error(`qvd connect exited (${String(this.child.exitCode ?? this.child.signalCode)}) before ${pattern}:\n${this.text}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${pattern} from qvd connect:\n${this.text}`));
      }, timeoutMs);
      this.listeners.add(check);
      void this.exited.then(check);
      check();
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number | null> {
    if (!this.running) return this.child.exitCode;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }
}

/**
 * The agent of a VM seen from the host: a socat relay inside the node's
 * namespace (the host itself never connects to guest addresses).
 */
export class VmaRelay {
  private relay: NetnsProcess | undefined;
  private dir = '';

  constructor(
    readonly node: TestNode,
    readonly ip: string,
    readonly secret: string,
  ) {}

  async client(timeoutMs = 5000): Promise<VmaClient> {
    if (this.relay === undefined || !this.relay.running) {
      this.dir ||= await mkdtemp(join(tmpdir(), 'qvd-vma-relay-'));
      const sock = join(this.dir, 'vma.sock');
      await rm(sock, { force: true });
      this.relay = netnsSpawn(this.node, 'vma-relay', ['socat', `UNIX-LISTEN:${sock},fork,mode=600`, `TCP:${this.ip}:3030,connect-timeout=5`]);
      for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    }
    return new VmaClient({ socketPath: join(this.dir, 'vma.sock'), secret: this.secret, timeoutMs });
  }

  async stop(): Promise<void> {
    await this.relay?.stop();
    if (this.dir !== '') await rm(this.dir, { recursive: true, force: true });
  }
}
