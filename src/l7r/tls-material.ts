import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const CERT_FILE = 'l7r-cert.pem';
export const KEY_FILE = 'l7r-key.pem';

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
  /** SHA-256 of the certificate, `AA:BB:...`: what users compare when their client asks them to accept it. */
  readonly fingerprint: string;
  /** Whether this call made the pair (false: it was already there). */
  readonly generated: boolean;
}

export interface TlsMaterialOptions {
  readonly commonName?: string;
  /** subjectAltName entries, e.g. `DNS:vdi.example.org`, `IP:10.0.0.1`. */
  readonly altNames?: readonly string[];
  readonly days?: number;
}

/**
 * The L7R's certificate when the settings say `generate`: a self-signed
 * P-256 pair kept in `dir` (key 0600) and reused on every later start, so the
 * fingerprint users accepted once stays valid. Made with the `openssl` CLI in
 * a private temp directory and renamed into place under a lock directory, so
 * a crash or a second process never leaves a half-written, mismatched or
 * world-readable pair.
 */
export async function ensureTlsMaterial(dir: string, options: TlsMaterialOptions = {}): Promise<TlsMaterial> {
  const certPath = join(dir, CERT_FILE);
  const keyPath = join(dir, KEY_FILE);
  const existing = await readPair(certPath, keyPath);
  if (existing !== undefined) return { ...existing, fingerprint: fingerprintOf(existing.cert), generated: false };

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const release = await lock(join(dir, '.generate.lock'));
  const work = await mkdtemp(join(dir, '.gen-'));
  try {
    const raced = await readPair(certPath, keyPath);
    if (raced !== undefined) return { ...raced, fingerprint: fingerprintOf(raced.cert), generated: false };
    const args = [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-days', String(options.days ?? 3650),
      '-subj', `/CN=${(options.commonName ?? 'qvd').replace(/[/\\]/g, '')}`,
      '-keyout', join(work, KEY_FILE), '-out', join(work, CERT_FILE),
    ];
    if (options.altNames !== undefined && options.altNames.length > 0) args.push('-addext', `subjectAltName=${options.altNames.join(',')}`);
    try {
      await run('openssl', args, { timeout: 30_000 });
    } catch (error) {
      throw new Error(`cannot generate the L7R certificate with openssl (is the openssl package installed?): ${(error as Error).message}`, { cause: error });
    }
    await chmod(join(work, KEY_FILE), 0o600);
    await rename(join(work, KEY_FILE), keyPath);
    await rename(join(work, CERT_FILE), certPath);
  } finally {
    await rm(work, { recursive: true, force: true });
    await release();
  }
  const made = await readPair(certPath, keyPath);
  if (made === undefined) throw new Error(`the L7R certificate in ${dir} vanished right after it was generated`);
  return { ...made, fingerprint: fingerprintOf(made.cert), generated: true };
}

/** A directory as a lock (mkdir is atomic); one left by a crashed process is taken over after a minute. */
async function lock(path: string): Promise<() => Promise<void>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await mkdir(path);
      return () => rm(path, { recursive: true, force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (Date.now() > deadline) {
        await rm(path, { recursive: true, force: true });
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function readPair(certPath: string, keyPath: string): Promise<{ cert: string; key: string } | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(certPath, 'utf8'), readFile(keyPath, 'utf8')]);
    return { cert, key };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** `AA:BB:...` (uppercase hex pairs), as browsers and the original client show it. */
export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}
