import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DomainConfig } from '../../../src/drivers/observed-state.js';
import { renderDomainXml } from '../../../src/reconcile/render-domain-xml.js';
import { renderNetworkXml } from '../../../src/reconcile/render-network-xml.js';
import { VmaClient } from '../../../src/vma/vma-client.js';
import type { TestNode } from '../../support/testenv.js';
import { REPO } from '../../support/testenv.js';

const run = promisify(execFile);

export interface DesktopImage {
  readonly disk: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly cmdline: string;
}

/** The colour the image's test desktop paints its root window with (images/desktop/rootfs/etc/qvd/test-colour). */
export const DESKTOP_COLOUR = '#12AB34';

/** Runs a command inside the node (its network and its libvirt). */
export async function nodeExec(node: TestNode, argv: readonly string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run('bash', [join(REPO, 'scripts/testenv/node-exec.sh'), node.name, node.stateDir, ...argv], { timeout: timeoutMs, maxBuffer: 16 << 20 });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string };
    throw new Error(`node-exec ${argv.join(' ')}: ${err.message}\n${err.stderr ?? ''}`);
  }
}

export const virsh = (node: TestNode, commands: string): Promise<string> => nodeExec(node, ['virsh', '-q', '-c', 'qemu:///system', commands]);

/** A process started inside the node's network namespace, ended with SIGTERM then SIGKILL. */
export class NetnsProcess {
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (c: Buffer) => this.push(c));
    child.stderr?.on('data', (c: Buffer) => this.push(c));
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
  }
  private push(c: Buffer): void {
    this.output.push(c.toString());
    if (this.output.length > 400) this.output.splice(0, 100);
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exited;
    clearTimeout(t);
  }
}

export function netnsSpawn(node: TestNode, name: string, argv: readonly string[], env: Readonly<Record<string, string>> = {}): NetnsProcess {
  // `ip netns exec` execs the command: the child's pid is the command's.
  const child = spawn('ip', ['netns', 'exec', node.netns, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new NetnsProcess(name, child);
}

export async function netnsRun(node: TestNode, argv: readonly string[], env: Readonly<Record<string, string>> = {}, timeoutMs = 60_000): Promise<string> {
  const { stdout } = await run('ip', ['netns', 'exec', node.netns, 'env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv], { timeout: timeoutMs, maxBuffer: 64 << 20 });
  return stdout;
}

/**
 * One desktop VM on a test node, set up the way qvd's reconcile renders it:
 * an isolated libvirt network with a DHCP host entry, a dir pool, vda = a
 * qcow2 overlay on the image, vdb = the VM's own home qcow2, direct kernel
 * boot with the per-VM secret on the command line, serial console to a file.
 */
export class DesktopVm {
  readonly suffix = randomBytes(3).toString('hex');
  readonly name = `qvd-desk-${this.suffix}`;
  readonly network = `qvdt-d-${this.suffix}`;
  readonly bridge = `qvdd${this.suffix}`;
  readonly pool = `qvdt-d-${this.suffix}`;
  readonly subnet = `10.214.${100 + Math.floor(Math.random() * 150)}`;
  readonly ip = `${this.subnet}.10`;
  readonly mac = `52:54:00:${this.suffix.slice(0, 2)}:${this.suffix.slice(2, 4)}:${this.suffix.slice(4, 6)}`;
  readonly secret = randomBytes(32).toString('hex');
  readonly storageDir: string;
  /** Where the node's libvirt writes the serial console, as seen from the host. */
  readonly serialLog: string;
  private relay: NetnsProcess | undefined;
  private relayDir: string | undefined;
  private defined = false;

  constructor(
    readonly node: TestNode,
    readonly image: DesktopImage,
    readonly memoryMiB = 384,
    readonly homeMiB = 128,
  ) {
    this.storageDir = `${node.storageDir}/desk-${this.suffix}`;
    this.serialLog = join(node.stateDir, 'libvirt/log/qemu', `${this.name}.serial.log`);
  }

  domainConfig(): DomainConfig {
    return {
      type: 'qemu',
      memoryMiB: this.memoryMiB,
      vcpus: 1,
      disks: [
        { target: 'vda', pool: this.pool, volume: 'root.qcow2', format: 'qcow2' },
        { target: 'vdb', pool: this.pool, volume: 'home.qcow2', format: 'qcow2' },
      ],
      nics: [{ mac: this.mac, network: this.network }],
      kernel: `${this.storageDir}/vmlinuz`,
      initrd: `${this.storageDir}/initrd.img`,
      cmdline: `${this.image.cmdline} qvd.vma_secret=${this.secret}`,
      serialLog: `/var/log/libvirt/qemu/${this.name}.serial.log`,
    };
  }

  /** Network, pool, volumes (fresh home), domain; not started. */
  async define(): Promise<void> {
    await mkdir(this.storageDir, { recursive: true, mode: 0o755 });
    await Promise.all([
      copyFile(this.image.disk, `${this.storageDir}/base.qcow2`),
      copyFile(this.image.kernel, `${this.storageDir}/vmlinuz`),
      copyFile(this.image.initrd, `${this.storageDir}/initrd.img`),
    ]);
    const net = renderNetworkXml({
      name: this.network,
      active: true,
      autostart: false,
      bridge: this.bridge,
      address: `${this.subnet}.1`,
      prefix: 24,
      dhcpRange: { start: `${this.subnet}.100`, end: `${this.subnet}.200` },
      hosts: [{ mac: this.mac, ip: this.ip }],
      forward: false,
    });
    const work = await mkdtemp(join(tmpdir(), 'qvd-desk-xml-'));
    try {
      await writeFile(join(work, 'net.xml'), net);
      await writeFile(join(work, 'dom.xml'), renderDomainXml(this.name, this.name, this.domainConfig()));
      await virsh(
        this.node,
        [
          `net-define ${work}/net.xml`,
          `net-start ${this.network}`,
          `pool-define-as ${this.pool} dir --target ${this.storageDir}`,
          `pool-start ${this.pool}`,
          `vol-create-as ${this.pool} home.qcow2 ${this.homeMiB}M --format qcow2`,
          `define ${work}/dom.xml`,
        ].join('; '),
      );
      this.defined = true;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Starts the domain on a fresh root overlay (as every start of a non-persistent VM); the home is kept. */
  async start(): Promise<number> {
    await virsh(this.node, `vol-delete root.qcow2 --pool ${this.pool}`).catch(() => '');
    await virsh(this.node, `pool-refresh ${this.pool}; vol-create-as ${this.pool} root.qcow2 4G --format qcow2 --backing-vol base.qcow2 --backing-vol-format qcow2`);
    await rm(this.serialLog, { force: true });
    const t0 = Date.now();
    await virsh(this.node, `start ${this.name}`);
    return t0;
  }

  async domState(): Promise<string> {
    return (await virsh(this.node, `domstate ${this.name}`)).trim();
  }

  async serial(): Promise<string> {
    return readFile(this.serialLog, 'utf8').catch(() => '');
  }

  /**
   * A VmaClient that reaches the guest from the host through a Unix socket
   * relayed by socat inside the node's namespace (the host itself must
   * never connect to guest addresses).
   */
  async vma(timeoutMs = 8000, secret = this.secret): Promise<VmaClient> {
    if (this.relay === undefined || !this.relay.running) {
      this.relayDir ??= await mkdtemp(join(tmpdir(), 'qvd-vma-relay-'));
      const sock = join(this.relayDir, 'vma.sock');
      await rm(sock, { force: true });
      this.relay = netnsSpawn(this.node, 'vma-relay', ['socat', `UNIX-LISTEN:${sock},fork,mode=600`, `TCP:${this.ip}:3030,connect-timeout=5`]);
      for (let i = 0; i < 50 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
    }
    return new VmaClient({ socketPath: join(this.relayDir ?? '', 'vma.sock'), secret, timeoutMs });
  }

  /** Polls ping until the VMA answers; returns ms since `since`. */
  async waitForVma(since: number, timeoutMs: number): Promise<number> {
    const client = await this.vma(3000);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await client.call('ping');
        return Date.now() - since;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`VMA not answering after ${timeoutMs} ms: ${(e as Error).message}\nserial:\n${(await this.serial()).slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  async waitForState(state: string, timeoutMs: number): Promise<number> {
    const t0 = Date.now();
    for (;;) {
      const s = await this.domState().catch(() => '');
      if (s === state) return Date.now() - t0;
      if (Date.now() - t0 > timeoutMs) throw new Error(`domain ${this.name} is ${s}, not ${state}, after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Reads a file of the home disk from the host once the domain is off (debugfs, no mount). */
  async readHomeFile(path: string): Promise<string> {
    const work = await mkdtemp(join(tmpdir(), 'qvd-home-read-'));
    try {
      await run('qemu-img', ['convert', '-U', '-O', 'raw', `${this.storageDir}/home.qcow2`, `${work}/home.raw`]);
      const { stdout } = await run('debugfs', ['-R', `cat ${path}`, `${work}/home.raw`]);
      return stdout;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** Everything made by define() and start(), whatever state it is in. */
  async destroy(): Promise<void> {
    await this.relay?.stop();
    if (this.relayDir !== undefined) await rm(this.relayDir, { recursive: true, force: true });
    if (this.defined) {
      for (const c of [`destroy ${this.name}`, `undefine ${this.name}`, `net-destroy ${this.network}`, `net-undefine ${this.network}`, `pool-destroy ${this.pool}`, `pool-undefine ${this.pool}`]) {
        await virsh(this.node, c).catch(() => '');
      }
    }
    await rm(this.storageDir, { recursive: true, force: true });
    await rm(this.serialLog, { force: true });
  }
}

/** A free X display number (no lock file, no socket). */
export async function freeDisplay(from = 300): Promise<number> {
  for (let n = from + Math.floor(Math.random() * 200); ; n++) {
    const taken = await Promise.all([stat(`/tmp/.X${n}-lock`).then(() => true, () => false), stat(`/tmp/.X11-unix/X${n}`).then(() => true, () => false)]);
    if (!taken.includes(true)) return n;
  }
}

/** How many pixels of `colour` (#RRGGBB) a PNG has, per ImageMagick's histogram. */
export async function countColour(png: string, colour: string): Promise<{ count: number; total: number; histogram: string }> {
  const { stdout } = await run('convert', [png, '-format', '%c', 'histogram:info:-'], { maxBuffer: 64 << 20 });
  const { stdout: size } = await run('identify', ['-format', '%w %h', png]);
  const [w = 0, h = 0] = size.trim().split(' ').map(Number);
  let count = 0;
  for (const line of stdout.split('\n')) {
    const m = /^\s*(\d+):.*(#[0-9A-F]{6})/i.exec(line);
    if (m?.[2]?.toUpperCase() === colour.toUpperCase()) count += Number(m[1]);
  }
  const top = stdout.trim().split('\n').sort((a, b) => Number(/\d+/.exec(b)?.[0]) - Number(/\d+/.exec(a)?.[0])).slice(0, 3).join(' | ');
  return { count, total: w * h, histogram: top };
}

/**
 * The user's side of NX inside the node's namespace: an Xvfb with its own
 * X authority (nxproxy must find the same local cookie on every resume, or
 * the agent's X connection is refused), and nxproxy connecting to the guest.
 */
export class NxViewer {
  xvfb: NetnsProcess | undefined;
  proxy: NetnsProcess | undefined;
  display = 0;
  dir = '';

  constructor(readonly node: TestNode) {}

  get authFile(): string {
    return join(this.dir, 'xauthority');
  }

  async startX(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'qvd-nxviewer-'));
    this.display = await freeDisplay();
    await run('xauth', ['-f', this.authFile, 'add', `:${this.display}`, 'MIT-MAGIC-COOKIE-1', randomBytes(16).toString('hex')]);
    // -noreset: a screenshot tool disconnecting must not reset the server under nxproxy.
    this.xvfb = netnsSpawn(this.node, 'Xvfb', ['Xvfb', `:${this.display}`, '-auth', this.authFile, '-screen', '0', '1024x768x24', '-noreset', '-nolisten', 'tcp']);
    for (let i = 0; i < 100 && !existsSync(`/tmp/.X11-unix/X${this.display}`); i++) await new Promise((r) => setTimeout(r, 50));
  }

  async connect(host: string, cookie: string): Promise<void> {
    await this.disconnect();
    const nxRoot = join(this.dir, 'nx');
    await mkdir(nxRoot, { recursive: true });
    this.proxy = netnsSpawn(this.node, 'nxproxy', ['nxproxy', '-S', `nx/nx,connect=${host},port=4100,cookie=${cookie}:${this.display}`], {
      DISPLAY: `:${this.display}`,
      XAUTHORITY: this.authFile,
      NX_ROOT: nxRoot,
    });
  }

  /** Ends nxproxy abruptly, as a client that lost its network would. */
  async disconnect(): Promise<void> {
    if (this.proxy?.running === true) {
      this.proxy.child.kill('SIGKILL');
      await this.proxy.exited;
    }
  }

  async screenshot(out: string): Promise<void> {
    await netnsRun(this.node, ['import', '-window', 'root', out], { DISPLAY: `:${this.display}`, XAUTHORITY: this.authFile });
  }

  /** Screenshots until the colour covers at least `minFraction` of the screen. */
  async waitForColour(colour: string, out: string, timeoutMs: number, minFraction = 0.2): Promise<{ count: number; total: number; histogram: string }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.screenshot(out);
      const c = await countColour(out, colour);
      if (c.count >= c.total * minFraction) return c;
      if (Date.now() > deadline) throw new Error(`colour ${colour} on ${c.count} of ${c.total} pixels after ${timeoutMs} ms (top: ${c.histogram})\nnxproxy: ${this.proxy?.output.join('').slice(-2000) ?? ''}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async stop(): Promise<void> {
    await this.proxy?.stop();
    await this.xvfb?.stop();
    if (this.dir !== '') await rm(this.dir, { recursive: true, force: true });
  }
}
