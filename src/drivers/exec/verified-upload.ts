import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { NodeError } from '../../errors.js';
import type { CommandRunner, UploadProgress } from './command-runner.js';
import { sh } from './ssh/shell-quote.js';

export type UploadOutcome = 'uploaded' | 'already-present';

export interface VerifiedUploadRequest {
  readonly localPath: string;
  readonly remotePath: string;
  readonly sha256: string;
  readonly onProgress?: UploadProgress;
  readonly timeoutMs?: number;
  /**
   * Replace a file that is there with other content. Off by default: an image
   * replaced in place corrupts every overlay backed by it.
   */
  readonly replace?: boolean;
}

/** The checksum file written beside an uploaded file: `<file>.sha256`, in sha256sum's format. */
export function checksumSidecarPath(remotePath: string): string {
  return `${remotePath}.sha256`;
}

/** Files qvd writes next to volumes that are not volumes themselves. */
export function isQvdSidecarName(name: string): boolean {
  return name.endsWith('.sha256') || name.startsWith('.qvd-upload-');
}

/**
 * Puts a local file on the node so that it is either absent or complete and
 * verified, never half-written under its final name:
 *   1. skip when the file is there and its sidecar (or, lacking one, its
 *      content) already has the checksum;
 *   2. upload to a temporary name in the same directory;
 *   3. sha256sum on the node, compare, rename over the final name (atomic
 *      within a directory), then write the sidecar the same way.
 * Round trips: 1 when present, else 3 (check, transfer, verify+rename).
 */
export async function verifiedUpload(runner: CommandRunner, request: VerifiedUploadRequest): Promise<UploadOutcome> {
  const { remotePath } = request;
  const expected = request.sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expected)) throw new NodeError(runner.node, `not a sha256 checksum: ${request.sha256}`);
  if (!posix.isAbsolute(remotePath)) throw new NodeError(runner.node, `upload target must be an absolute path: ${remotePath}`);
  const sidecar = checksumSidecarPath(remotePath);
  const dir = posix.dirname(remotePath);
  const timeoutMs = request.timeoutMs ?? 60 * 60_000;

  const check = await runner.runScript(sh`
target=${remotePath}
sidecar=${sidecar}
expected=${expected}
if [ ! -d "$(dirname "$target")" ]; then echo no-dir; exit 0; fi
if [ -f "$target" ]; then
  if [ -f "$sidecar" ]; then
    read -r actual _ < "$sidecar" || true
  else
    # Present without a sidecar (copied by hand, or an upload killed before the sidecar): hash it once.
    actual=$(sha256sum "$target" | cut -d' ' -f1)
    if [ "$actual" = "$expected" ]; then
      printf '%s  %s\\n' "$expected" "$(basename "$target")" > "$sidecar.tmp" && mv -f "$sidecar.tmp" "$sidecar"
    fi
  fi
  if [ "$actual" = "$expected" ]; then echo present; else echo "different $actual"; fi
  exit 0
fi
echo absent
`, { timeoutMs, label: `check ${remotePath}` });
  const state = check.stdout.trim();
  if (state === 'no-dir') throw new NodeError(runner.node, `cannot upload to ${remotePath}: directory ${dir} does not exist`);
  if (state === 'present') return 'already-present';
  if (state.startsWith('different') && request.replace !== true) {
    throw new NodeError(runner.node, `${remotePath} already exists with other content (sha256 ${state.slice('different '.length) || 'unknown'}, wanted ${expected})`, {
      hint: 'An image is never replaced in place: overlays backed by it would be corrupted. Give the new image another name (tag), or delete the old volume first.',
    });
  }

  const temporary = posix.join(dir, `.qvd-upload-${randomBytes(6).toString('hex')}-${posix.basename(remotePath)}`);
  try {
    await runner.upload(request.localPath, temporary, request.onProgress);
    const verify = await runner.runScript(sh`
tmp=${temporary}
target=${remotePath}
sidecar=${sidecar}
expected=${expected}
actual=$(sha256sum "$tmp" | cut -d' ' -f1)
if [ "$actual" != "$expected" ]; then rm -f "$tmp"; echo "mismatch $actual"; exit 0; fi
chmod 0644 "$tmp"
# The old sidecar goes first: a crash between the two renames leaves a file without a sidecar (re-hashed next time), never a stale sidecar.
rm -f "$sidecar"
mv -f "$tmp" "$target"
printf '%s  %s\\n' "$expected" "$(basename "$target")" > "$sidecar.tmp"
mv -f "$sidecar.tmp" "$sidecar"
echo ok
`, { timeoutMs, label: `verify upload of ${remotePath}` });
    const result = verify.stdout.trim();
    if (result.startsWith('mismatch')) {
      throw new NodeError(runner.node, `checksum mismatch after uploading ${request.localPath}: expected sha256 ${expected}, the node computed ${result.slice('mismatch '.length)}`, {
        hint: 'Either the local file does not match the sha256 in the spec (recompute it with sha256sum), or the transfer was corrupted (retry).',
      });
    }
    if (result !== 'ok') throw new NodeError(runner.node, `unexpected answer while verifying ${remotePath}: ${result}`);
    return 'uploaded';
  } catch (error) {
    await runner.run(['rm', '-f', temporary], { timeoutMs: 30_000 }).catch(() => undefined);
    throw error;
  }
}
