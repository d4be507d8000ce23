import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Debian's PostgreSQL 15 (package `postgresql`, see scripts/setup-system.sh). */
export const POSTGRES_BIN = '/usr/lib/postgresql/15/bin';

export interface RunningPostgres {
  /** Superuser `postgres`, trust auth, database `postgres`. */
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * Start a throwaway PostgreSQL 15 server in a fresh temp dir on a free port.
 * It throws, with the reason and the server log, when it cannot: tests that
 * use it fail rather than skip, so a missing server is never mistaken for a pass.
 */
export async function startPostgres(): Promise<RunningPostgres> {
  if (!existsSync(join(POSTGRES_BIN, 'pg_ctl'))) {
    throw new Error(
      `PostgreSQL 15 not found in ${POSTGRES_BIN}: install the Debian package \`postgresql\` ` +
        '(apt-get install postgresql, or scripts/setup-system.sh)',
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'qvd-pg-'));
  const data = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  const log = join(dir, 'server.log');
  await mkdir(socketDir);
  // initdb and postgres refuse to run as root: run them as the `postgres` user.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    await chown(dir, uid, gid);
    await chown(socketDir, uid, gid);
  }
  const pgCommand = (bin: string, args: readonly string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(POSTGRES_BIN, bin), ...args]] : [join(POSTGRES_BIN, bin), [...args]];
  const exec = async (bin: string, args: readonly string[]): Promise<void> => {
    const [file, argv] = pgCommand(bin, args);
    await run(file, argv, { timeout: 60_000 });
  };

  let started = false;
  const stopSync = (): void => {
    if (!started) return;
    started = false;
    try {
      const [file, argv] = pgCommand('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      execFileSync(file, argv, { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  };
  // A test run that dies (or forgets stop) must not leave a server behind.
  process.once('exit', stopSync);

  try {
    await exec('initdb', ['-D', data, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '-U', 'postgres']);
    const port = await freePort();
    await exec('pg_ctl', [
      '-D', data,
      '-l', log,
      '-w',
      '-o', `-p ${port} -k ${socketDir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ]);
    started = true;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      async stop(): Promise<void> {
        process.removeListener('exit', stopSync);
        if (started) {
          started = false;
          await exec('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
        }
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    stopSync();
    process.removeListener('exit', stopSync);
    const serverLog = await readFile(log, 'utf8').catch(() => '(no server log)');
    await rm(dir, { recursive: true, force: true });
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`could not start PostgreSQL: ${reason}\n--- server log ---\n${serverLog}`, { cause: error });
  }
}

/** A port nobody listens on right now (bind port 0 and let the kernel pick). */
function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolvePort(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}
