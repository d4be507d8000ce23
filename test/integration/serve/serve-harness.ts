import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestEnv, TestNode } from '../../support/testenv.js';
import { REPO, script } from '../../support/testenv.js';

const run = promisify(execFile);
export const QVD_BIN = join(REPO, 'bin/qvd');
/** alice / secret, in the original QVD hash format. */
export const ALICE_HASH = '$qvd-sha256$qvd1234$gF7cemH4TAk9hgXhfRbmGsabY4w5p4fdOGj2A4/hK/w';

export interface SpecOptions {
  readonly nodes: readonly TestNode[];
  readonly image: TestEnv['image'];
  /** Distinct per test file: network name, bridge and subnet. */
  readonly net: { readonly name: string; readonly bridge: string; readonly prefix: string };
  readonly database: string;
  readonly hkd: string;
  readonly vms: string;
  /** settings.l7r as a YAML flow mapping, when the test sets it. */
  readonly l7r?: string;
}

/** The head every test spec shares: settings and the test nodes (from the testenv JSON). */
export function clusterSpecHead(o: Pick<SpecOptions, 'nodes' | 'net' | 'database' | 'hkd' | 'l7r'>): string {
  const nodes = o.nodes
    .map(
      (n) => `  - name: ${n.name}
    address: ${n.address}
    ssh: { user: ${n.sshUser}, port: ${n.sshPort}, private_key: ${n.privateKey}, host_key_fingerprint: "${n.hostKeyFingerprint}" }
    storage_dir: ${n.storageDir}
    capacity: { memory_mb: 4096, vcpus: 4, max_vms: 10 }`,
    )
    .join('\n');
  return `version: 1
settings:
${o.l7r === undefined ? '' : `  l7r: ${o.l7r}\n`}  network: { name: ${o.net.name}, bridge: ${o.net.bridge}, cidr: ${o.net.prefix}.0/24, gateway: ${o.net.prefix}.1, dhcp_range: { start: ${o.net.prefix}.100, end: ${o.net.prefix}.199 } }
  hkd: ${o.hkd}
  database: ${o.database}
nodes:
${nodes}
`;
}

/** A spec for the test nodes, built from the testenv JSON. */
export function specYaml(o: SpecOptions): string {
  return `${clusterSpecHead(o)}images:
  - name: tiny
    source: ${o.image.disk}
    sha256: ${o.image.sha256}
    memory_mb: 128
    vcpus: 1
    home_size_mb: 16
    vma: false    # the test guest has no agent: ready when its port 4100 answers
    boot: { kernel: ${o.image.kernel}, initrd: ${o.image.initrd}, cmdline: console=ttyS0 }
users:
  - login: alice
    password: { hash: "${ALICE_HASH}" }
vms:
${o.vms}
`;
}

export async function qvd(args: readonly string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 300_000): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, [QVD_BIN, ...args], { env, timeout: timeoutMs, maxBuffer: 32 << 20 });
    return stdout;
  } catch (e) {
    const err = e as Error & { stdout?: string; stderr?: string };
    throw new Error(`qvd ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

/** What bin/qvd runs: tsc into dist/, then the bundled CLI (dist/qvd/) made from it. */
export async function build(): Promise<void> {
  await run('npm', ['run', 'build'], { cwd: REPO, timeout: 300_000 });
}

export async function writeSpec(dir: string, yaml: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'qvd.yaml');
  await writeFile(file, yaml);
  return file;
}

/** A `qvd serve` process inside a node's network namespace, as it would run on that node. */
export interface ServeProcess {
  readonly node: TestNode;
  readonly child: ChildProcess;
  readonly port: number;
  readonly adminPort: number;
  readonly log: string;
  readonly lines: Record<string, unknown>[];
  waitFor(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** `specPort`: the spec's settings.l7r names the node's address and this port, so serve runs without --listen. */
export async function startServeIn(node: TestNode, spec: string, dir: string, env: NodeJS.ProcessEnv, extra: readonly string[] = [], specPort?: number): Promise<ServeProcess> {
  const port = specPort ?? (await freePort());
  const adminPort = await freePort();
  const log = join(dir, `serve-${node.name}-${Date.now()}.log`);
  const out = createWriteStream(log);
  const child = spawn('ip', ['netns', 'exec', node.netns, process.execPath, QVD_BIN, 'serve', '-f', spec, '--node', node.name, ...(specPort === undefined ? ['--listen', `${node.address}:${port}`] : []), '--admin-listen', `${node.address}:${adminPort}`, '--drain-timeout', '2', ...extra], {
    env: { ...env, QVD_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const listeners = new Set<() => void>();
  let rest = '';
  child.stdout?.on('data', (d: Buffer) => {
    out.write(d);
    rest += d.toString();
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as Record<string, unknown>);
      } catch {
        lines.push({ msg: p });
      }
    }
    for (const l of listeners) l();
  });
  child.stderr?.on('data', (d: Buffer) => out.write(d));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const proc: ServeProcess = {
    node,
    child,
    port,
    adminPort,
    log,
    lines,
    waitFor(pred, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = lines.find(pred);
          if (hit !== undefined) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(hit);
          } else if (exited) {
            listeners.delete(check);
            clearTimeout(timer);
            reject(new Error(`serve on ${node.name} exited; log ${log}`));
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting in the log of serve on ${node.name} (${log})`));
        }, timeoutMs);
        listeners.add(check);
        void exit.then(check);
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (exited) return;
      child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(killer);
      out.end();
    },
  };
  await proc.waitFor((l) => l['msg'] === 'serve ready', 90_000);
  return proc;
}

/** `virsh domstate` on the node (its own libvirtd), without SSH. */
export async function domState(node: TestNode, domain: string): Promise<string> {
  const out = await script('node-exec.sh', [node.name, node.stateDir, 'virsh', '-c', 'qemu:///system', 'domstate', domain]).catch((e: Error) => e.message);
  return out.trim();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a !== null && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
