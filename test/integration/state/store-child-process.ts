import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StoreConfig } from '../../../src/state/open-store.js';
import type { LockHolder } from '../../../src/state/store.js';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const childSource = fileURLToPath(new URL('./store-child.ts', import.meta.url));
let built: Promise<string> | undefined;
let buildDir: string | undefined;

/**
 * Transpile the child and every source file it reaches into a temp dir, once
 * per test file. Node 20 cannot run TypeScript, and loading the compiler in
 * every child (a loader hook) costs a second or more per process.
 */
function buildChild(): Promise<string> {
  built ??= (async () => {
    const ts = (await import('typescript')).default;
    const out = await mkdtemp(join(tmpdir(), 'qvd-store-child-'));
    buildDir = out;
    // Bare imports (kysely, pg, better-sqlite3) resolve through this link.
    await symlink(join(repo, 'node_modules'), join(out, 'node_modules'));
    const seen = new Set<string>();
    const queue = [childSource];
    for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
      if (seen.has(file)) continue;
      seen.add(file);
      const source = await readFile(file, 'utf8');
      const { outputText } = ts.transpileModule(source, {
        fileName: file,
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      });
      const target = join(out, relative(repo, file)).replace(/\.ts$/, '.js');
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, outputText);
      for (const imported of ts.preProcessFile(source).importedFiles) {
        if (imported.fileName.startsWith('.')) queue.push(resolve(dirname(file), imported.fileName.replace(/\.js$/, '.ts')));
      }
    }
    return join(out, relative(repo, childSource)).replace(/\.ts$/, '.js');
  })();
  return built;
}

/** Remove the transpiled child (call in afterAll; the node_modules link goes, not its target). */
export async function removeChildBuild(): Promise<void> {
  if (buildDir !== undefined) await rm(buildDir, { recursive: true, force: true });
  buildDir = undefined;
  built = undefined;
}

interface Child {
  readonly pid: number;
  readonly firstLine: Promise<string>;
  readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  readonly stderr: () => string;
  readonly stdin: NodeJS.WritableStream;
  kill(): void;
}

async function startChild(args: readonly string[]): Promise<Child> {
  const proc = spawn(process.execPath, [await buildChild(), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const firstLine = new Promise<string>((resolveLine, reject) => {
    proc.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const end = stdout.indexOf('\n');
      if (end >= 0) resolveLine(stdout.slice(0, end));
    });
    void exited.then(([code, signal]) => reject(new Error(`store child exited (${code ?? signal}) before answering:\n${stderr}`)));
  });
  firstLine.catch(() => undefined);
  return { pid: proc.pid ?? -1, firstLine, exited, stderr: () => stderr, stdin: proc.stdin, kill: () => proc.kill('SIGKILL') };
}

/** Another process holding the apply lock through the real store. */
export interface LockHolderProcess {
  readonly pid: number;
  readonly holder: LockHolder;
  /** Ask it to release the lock and exit; resolves once it has. */
  release(): Promise<void>;
  /** SIGKILL, as a crashed apply: its lock row stays behind. */
  kill(): Promise<void>;
}

/** Start a child that takes the lock at once; rejects with its stderr when it cannot. */
export async function spawnLockHolder(config: StoreConfig, operation = 'child-apply'): Promise<LockHolderProcess> {
  const child = await startChild([JSON.stringify(config), 'hold', operation]);
  const holder = JSON.parse(await child.firstLine) as LockHolder;
  return {
    pid: child.pid,
    holder,
    async release(): Promise<void> {
      child.stdin.end('release\n');
      const [code] = await child.exited;
      if (code !== 0) throw new Error(`store child failed (${code}):\n${child.stderr()}`);
    },
    async kill(): Promise<void> {
      child.kill();
      await child.exited;
    },
  };
}

/** Open (and so migrate) the state in another process; returns the serial it saw. */
export async function openInChild(config: StoreConfig): Promise<number> {
  const child = await startChild([JSON.stringify(config), 'open']);
  const { serial } = JSON.parse(await child.firstLine) as { serial: number };
  const [code] = await child.exited;
  if (code !== 0) throw new Error(`store child failed (${code}):\n${child.stderr()}`);
  return serial;
}
