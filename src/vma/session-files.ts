import { chmod, chown, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcessRunner } from './process-runner.js';
import { renderNxOptions } from './render-nx-options.js';
import type { SessionUser } from './session-user.js';
import { NX_DISPLAY, type XStartParams } from './vma-api.js';

/** Where one session's private files are. */
export interface SessionPaths {
  readonly dir: string;
  /** X authority of display :100: nxagent's `-auth`, and the session's XAUTHORITY. */
  readonly authFile: string;
  /** nxagent's `options=` file. */
  readonly optionsFile: string;
  /** NX_ROOT: nxagent keeps its C-100 directory (errors, stats) there and needs it to exist. */
  readonly nxRoot: string;
}

/** Writes what nxagent reads for the cookie; called for every new connection. */
export interface SessionFiles {
  write(user: SessionUser, params: XStartParams): Promise<SessionPaths>;
}

/**
 * Files on a tmpfs (`/run/qvd-session`), owned by the user, mode 0600: the
 * cookie is the only thing that keeps others off the NX port, so it never
 * lands on a disk nor in a command line another user can read.
 *
 * The X authority entry is rewritten with each connection's cookie too:
 * nxagent presents it to the client's nxproxy when it resumes, and the
 * proxy refuses a resume whose cookie differs from its own (checked here
 * with nxagent 3.5.99.26).
 */
export class TmpfsSessionFiles implements SessionFiles {
  constructor(
    private readonly runner: ProcessRunner,
    private readonly baseDir = '/run/qvd-session',
    private readonly display = NX_DISPLAY,
  ) {}

  async write(user: SessionUser, params: XStartParams): Promise<SessionPaths> {
    const dir = this.baseDir;
    const paths: SessionPaths = { dir, authFile: join(dir, 'xauthority'), optionsFile: join(dir, 'nx-options'), nxRoot: join(dir, 'nx') };
    for (const d of [dir, paths.nxRoot]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
      await chown(d, user.uid, user.gid);
      await chmod(d, 0o700);
    }
    // Replace, never truncate in place: nxagent may be reading the old one.
    const tmp = `${paths.optionsFile}.new`;
    await writeFile(tmp, renderNxOptions(params, this.display), { mode: 0o600 });
    await chown(tmp, user.uid, user.gid);
    await rename(tmp, paths.optionsFile);
    const r = await this.runner.run('xauth', ['-q', '-f', paths.authFile, 'add', `:${this.display}`, 'MIT-MAGIC-COOKIE-1', params.cookie], { uid: user.uid, gid: user.gid, env: { HOME: user.home }, timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`xauth add failed (${r.code}): ${r.stderr.trim()}`);
    return paths;
  }
}
