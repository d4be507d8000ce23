import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'ldapts';

const run = promisify(execFile);

/** Debian's OpenLDAP server (package `slapd`, see scripts/setup-system.sh). */
export const SLAPD = '/usr/sbin/slapd';
export const SLAPADD = '/usr/sbin/slapadd';
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';

export interface RunningSlapd {
  /** `ldap://127.0.0.1:PORT` */
  readonly url: string;
  /** `dc=qvd,dc=test`; users live under `ou=people`. */
  readonly baseDn: string;
  readonly rootDn: string;
  readonly rootPassword: string;
  /** Add `uid=<uid>,ou=people,<baseDn>` with this password. */
  addUser(uid: string, password: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A private OpenLDAP server for one test file: its own cn=config (made with
 * `slapadd -n0` from an LDIF: mdb database, suffix dc=qvd,dc=test, a root DN
 * with a random password), its own data directory in a temp dir, listening
 * on 127.0.0.1 and a free port only. The system's slapd instance, its config
 * and port 389 are never touched. Throws (never skips) when slapd is missing.
 */
export async function startSlapd(): Promise<RunningSlapd> {
  if (!existsSync(SLAPD) || !existsSync(SLAPADD)) {
    throw new Error(`OpenLDAP's slapd not found at ${SLAPD}: install the Debian package \`slapd\` (DEBIAN_FRONTEND=noninteractive apt-get install slapd ldap-utils, or scripts/setup-system.sh)`);
  }
  const baseDn = 'dc=qvd,dc=test';
  const rootDn = `cn=admin,${baseDn}`;
  const rootPassword = randomBytes(12).toString('hex');
  const dir = await mkdtemp(join(tmpdir(), 'qvd-slapd-'));
  const configDir = join(dir, 'slapd.d');
  const dataDir = join(dir, 'data');
  await mkdir(configDir, { mode: 0o700 });
  await mkdir(dataDir, { mode: 0o700 });

  const configLdif = [
    'dn: cn=config',
    'objectClass: olcGlobal',
    'cn: config',
    `olcPidFile: ${join(dir, 'slapd.pid')}`,
    `olcArgsFile: ${join(dir, 'slapd.args')}`,
    '',
    'dn: cn=module{0},cn=config',
    'objectClass: olcModuleList',
    'cn: module{0}',
    `olcModulePath: ${MODULE_DIR}`,
    'olcModuleLoad: back_mdb',
    '',
    'dn: cn=schema,cn=config',
    'objectClass: olcSchemaConfig',
    'cn: schema',
    '',
    `include: file://${SCHEMA_DIR}/core.ldif`,
    '',
    `include: file://${SCHEMA_DIR}/cosine.ldif`,
    '',
    `include: file://${SCHEMA_DIR}/inetorgperson.ldif`,
    '',
    'dn: olcDatabase={-1}frontend,cn=config',
    'objectClass: olcDatabaseConfig',
    'objectClass: olcFrontendConfig',
    'olcDatabase: {-1}frontend',
    '',
    'dn: olcDatabase={0}config,cn=config',
    'objectClass: olcDatabaseConfig',
    'olcDatabase: {0}config',
    'olcAccess: {0}to * by * none',
    '',
    'dn: olcDatabase={1}mdb,cn=config',
    'objectClass: olcDatabaseConfig',
    'objectClass: olcMdbConfig',
    'olcDatabase: {1}mdb',
    `olcSuffix: ${baseDn}`,
    `olcRootDN: ${rootDn}`,
    `olcRootPW: ${rootPassword}`,
    `olcDbDirectory: ${dataDir}`,
    'olcDbMaxSize: 67108864',
    // Passwords: usable for binds, readable by nobody; the rest readable (the L7R tells unknown users from wrong passwords by a base search).
    'olcAccess: {0}to attrs=userPassword by anonymous auth by self write by * none',
    'olcAccess: {1}to * by * read',
    '',
  ].join('\n');
  const baseLdif = [
    `dn: ${baseDn}`,
    'objectClass: dcObject',
    'objectClass: organization',
    'dc: qvd',
    'o: qvd test',
    '',
    `dn: ou=people,${baseDn}`,
    'objectClass: organizationalUnit',
    'ou: people',
    '',
  ].join('\n');
  await writeFile(join(dir, 'config.ldif'), configLdif);
  await writeFile(join(dir, 'base.ldif'), baseLdif);
  try {
    await run(SLAPADD, ['-n', '0', '-F', configDir, '-l', join(dir, 'config.ldif')], { timeout: 30_000 });
    await run(SLAPADD, ['-n', '1', '-F', configDir, '-l', join(dir, 'base.ldif')], { timeout: 30_000 });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`slapadd could not build the test directory: ${(error as { stderr?: string }).stderr ?? String(error)}`);
  }

  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  // -d keeps slapd in the foreground, so it is our child and dies with us.
  const child: ChildProcess = spawn(SLAPD, ['-h', `${url}/`, '-F', configDir, '-d', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, child, () => stderr);
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url,
    baseDn,
    rootDn,
    rootPassword,
    async addUser(uid, password) {
      const client = new Client({ url, timeout: 5000, connectTimeout: 5000 });
      try {
        await client.bind(rootDn, rootPassword);
        await client.add(`uid=${uid},ou=people,${baseDn}`, {
          objectClass: ['inetOrgPerson'],
          uid,
          cn: uid,
          sn: uid,
          userPassword: password,
        });
      } finally {
        await client.unbind();
      }
    },
    stop,
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`slapd exited at start (code ${child.exitCode}): ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`slapd did not listen on 127.0.0.1:${port} within 15 s: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
