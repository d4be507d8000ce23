import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { POSTGRES_BIN } from './postgres.js';

const run = promisify(execFile);

export interface ClusterPostgres {
  /** URL for a client on `address` (127.0.0.1 or one of the extra addresses). */
  url(address: string): string;
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL 15 that test nodes can reach: it listens on
 * 127.0.0.1 and on the host ends of the nodes' veths (10.213.X.1), the only
 * host addresses a node's namespace can reach, and trusts 10.213.0.0/16.
 * Same rules as startPostgres: fails (never skips) with the server log.
 */
export async function startClusterPostgres(addresses: readonly string[], port: number): Promise<ClusterPostgres> {
  if (!existsSync(join(POSTGRES_BIN, 'pg_ctl'))) throw new Error(`PostgreSQL 15 not found in ${POSTGRES_BIN}: apt-get install postgresql`);
  const dir = await mkdtemp('/tmp/qvd-pgc-');
  const data = join(dir, 'data');
  const sock = join(dir, 'sock');
  const log = join(dir, 'server.log');
  await mkdir(sock);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    await chown(dir, uid, gid);
    await chown(sock, uid, gid);
  }
  const cmd = (bin: string, args: readonly string[]): [string, string[]] => (asRoot ? ['runuser', ['-u', 'postgres', '--', join(POSTGRES_BIN, bin), ...args]] : [join(POSTGRES_BIN, bin), [...args]]);
  const exec = async (bin: string, args: readonly string[]): Promise<void> => {
    const [file, argv] = cmd(bin, args);
    await run(file, argv, { timeout: 60_000 });
  };
  let started = false;
  const stopSync = (): void => {
    if (!started) return;
    started = false;
    try {
      const [file, argv] = cmd('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']);
      execFileSync(file, argv, { stdio: 'ignore' });
    } catch {
      // Already gone.
    }
  };
  process.once('exit', stopSync);
  try {
    await exec('initdb', ['-D', data, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '-U', 'postgres']);
    await appendFile(join(data, 'pg_hba.conf'), 'host all all 10.213.0.0/16 trust\n');
    const listen = ['127.0.0.1', ...addresses].join(',');
    await exec('pg_ctl', ['-D', data, '-l', log, '-w', '-o', `-p ${port} -k ${sock} -c listen_addresses=${listen} -c fsync=off -c max_connections=200`, 'start']);
    started = true;
  } catch (error) {
    stopSync();
    process.removeListener('exit', stopSync);
    const serverLog = await readFile(log, 'utf8').catch(() => '(no server log)');
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start PostgreSQL: ${(error as Error).message}\n--- server log ---\n${serverLog}`, { cause: error });
  }
  return {
    port,
    url: (address) => `postgres://postgres@${address}:${port}/postgres`,
    async stop() {
      process.removeListener('exit', stopSync);
      if (started) {
        started = false;
        await exec('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
