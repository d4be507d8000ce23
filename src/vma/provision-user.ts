import { chmod, chown, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureHomeMounted } from './provision-home.js';
import type { ProcessRunner } from './process-runner.js';
import type { Provisioner, SessionUser } from './session-user.js';
import { RESERVED_LOGINS, unixLogin } from './unix-login.js';
import type { HomeInfo } from './vma-api.js';

export interface PasswdEntry {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
}

export function parsePasswd(text: string): PasswdEntry[] {
  return text
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => f.length >= 7)
    .map((f) => ({ name: f[0] ?? '', uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '' }));
}

/**
 * The UID for a new account. The root disk is a fresh overlay at every
 * start, so the account is created again each boot while its home survives
 * on the home disk: reusing the home directory's owner keeps the files the
 * user's. Otherwise the first free UID from 1000.
 */
export function pickUid(entries: readonly PasswdEntry[], homeOwner: number | undefined): number {
  const used = new Set(entries.map((e) => e.uid));
  if (homeOwner !== undefined && homeOwner >= 1000 && homeOwner < 60000 && !used.has(homeOwner)) return homeOwner;
  let uid = 1000;
  while (used.has(uid)) uid++;
  return uid;
}

/** Account + home on the real guest: useradd, the home disk, a 0700 home directory. */
export class SystemProvisioner implements Provisioner {
  private home: Promise<HomeInfo> | undefined;
  private homeResult: HomeInfo | undefined;

  constructor(
    private readonly runner: ProcessRunner,
    private readonly homeDevice: string,
    private readonly log: (msg: string) => void,
    private readonly homeRoot = '/home',
    private readonly passwdFile = '/etc/passwd',
  ) {}

  homeInfo(): HomeInfo | undefined {
    return this.homeResult;
  }

  async provision(login: string): Promise<SessionUser> {
    // Once per boot; a failure is retried by the next x_start.
    this.home ??= ensureHomeMounted(this.runner, this.homeDevice, this.homeRoot, this.log).catch((e: unknown) => {
      this.home = undefined;
      throw e;
    });
    this.homeResult = await this.home;

    const name = unixLogin(login);
    if (RESERVED_LOGINS.has(name)) throw new Error(`login ${JSON.stringify(login)} maps to the system account ${name}`);
    const home = join(this.homeRoot, name);
    let entry = parsePasswd(await readFile(this.passwdFile, 'utf8')).find((e) => e.name === name);
    if (entry !== undefined && entry.uid < 1000) throw new Error(`login ${JSON.stringify(login)} maps to the system account ${name}`);
    if (entry === undefined) {
      const owner = await stat(home).then((s) => s.uid, () => undefined);
      const uid = pickUid(parsePasswd(await readFile(this.passwdFile, 'utf8')), owner);
      const r = await this.runner.run('useradd', ['--uid', String(uid), '--user-group', '--no-create-home', '--home-dir', home, '--shell', '/bin/sh', name]);
      if (r.code !== 0) throw new Error(`useradd ${name} failed: ${r.stderr.trim()}`);
      entry = parsePasswd(await readFile(this.passwdFile, 'utf8')).find((e) => e.name === name);
      if (entry === undefined) throw new Error(`useradd ${name} left no passwd entry`);
      this.log(`account ${name} (uid ${entry.uid}) created`);
    }
    const existed = await stat(home).then(() => true, () => false);
    if (!existed) {
      await mkdir(home, { mode: 0o700 });
      await chown(home, entry.uid, entry.gid);
      await chmod(home, 0o700);
      this.log(`home ${home} created`);
    }
    return { name, uid: entry.uid, gid: entry.gid, home };
  }
}
