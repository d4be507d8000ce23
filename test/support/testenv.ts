import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPTS = join(REPO, 'scripts/testenv');

/** One isolated test node (its own netns, sshd and libvirtd), as node-up.sh prints it. */
export interface TestNode {
  readonly name: string;
  readonly index: number;
  readonly address: string;
  readonly hostAddress: string;
  readonly sshPort: number;
  readonly sshUser: string;
  readonly privateKey: string;
  readonly knownHosts: string;
  readonly hostKeyFingerprint: string;
  readonly libvirtUri: string;
  readonly storageDir: string;
  readonly stateDir: string;
  readonly netns: string;
}

export interface TestImage {
  readonly dir: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly disk: string;
  readonly sha256: string;
}

export interface TestEnv {
  readonly nodes: readonly TestNode[];
  readonly image: TestImage;
}

const lastJson = <T>(stdout: string): T => {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as T;
};

export async function script(name: string, args: readonly string[], timeoutMs = 600_000): Promise<string> {
  try {
    const { stdout } = await run('bash', [join(SCRIPTS, name), ...args], { timeout: timeoutMs, maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    throw new Error(`scripts/testenv/${name} ${args.join(' ')} failed: ${err.message}\n${err.stderr ?? ''}`);
  }
}

export async function startLibvirt(): Promise<void> {
  await script('start-libvirt.sh', []);
}

export async function buildTestImage(): Promise<TestImage> {
  return lastJson<TestImage>(await script('build-test-image.sh', [process.env['QVD_TEST_IMAGE_CACHE'] ?? '/var/cache/qvd-test']));
}

/**
 * Bring up `count` nodes with names and addresses no other run uses: the
 * index is taken from the pid so that two runs on one machine do not collide,
 * and retried on a clash.
 */
export async function nodesUp(count: number, tag: string): Promise<TestNode[]> {
  const base = await mkdtemp('/var/tmp/qvd-testenv-');
  const nodes: TestNode[] = [];
  let index = 20 + (process.pid % 200);
  for (let i = 0; i < count; i++) {
    for (let attempt = 0; ; attempt++) {
      const name = `${tag}${i + 1}`;
      try {
        nodes.push(lastJson<TestNode>(await script('node-up.sh', [name, String(index), join(base, name)])));
        index = 20 + ((index - 20 + 1) % 230);
        break;
      } catch (e) {
        if (attempt >= 5 || !/already in use|taken/.test((e as Error).message)) throw e;
        index = 20 + ((index - 20 + 7) % 230);
      }
    }
  }
  return nodes;
}

export async function nodesDown(nodes: readonly TestNode[]): Promise<void> {
  for (const n of nodes) await script('node-down.sh', [n.name, n.stateDir]).catch((e: Error) => console.error(e.message));
  const bases = new Set(nodes.map((n) => dirname(n.stateDir)));
  for (const b of bases) await rm(b, { recursive: true, force: true });
}
