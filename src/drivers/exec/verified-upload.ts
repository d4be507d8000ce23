import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { NodeError } from '../../errors.js';
import type { CommandRunner, UploadProgress } from './command-runner.js';
import { raw, sh } from './ssh/shell-quote.js';

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

/** Files qvd writes next to volumes that are not volumes themselves (`.qvd-tmp-`: a volume being made, see create-volumes-script.ts). */
export function isQvdSidecarName(name: string): boolean {
  return name.endsWith('.sha256') || isQvdTemporaryName(name);
}

/** A file being uploaded or copied into place (observe reports those as leftovers). */
export function isQvdTemporaryName(name: string): boolean {
  return name.startsWith('.qvd-upload-') || name.startsWith('.qvd-tmp-');
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
  const [result] = await verifiedUploads(runner, [request]);
  if (result === undefined || !result.ok) throw result?.error ?? new NodeError(runner.node, `no outcome for ${request.remotePath}`);
  return result.outcome;
}

export type VerifiedUploadResult = { readonly ok: true; readonly outcome: UploadOutcome } | { readonly ok: false; readonly error: Error };

/**
 * verifiedUpload for several files in the same round trips: one check for
 * all, the transfers side by side, one verify for all. Each file succeeds or
 * fails on its own. `afterUpload` (shell the caller wrote, e.g. a pool
 * refresh) runs at the end of the verify step when a file was put in place.
 */
export async function verifiedUploads(runner: CommandRunner, requests: readonly VerifiedUploadRequest[], options: { afterUpload?: string } = {}): Promise<VerifiedUploadResult[]> {
  const results: (VerifiedUploadResult | undefined)[] = requests.map((r) => invalidRequest(runner.node, r));
  const valid = requests.flatMap((r, i) => (results[i] === undefined ? [{ index: i, request: r, expected: r.sha256.toLowerCase() }] : []));
  if (valid.length === 0) return results as VerifiedUploadResult[];
  const timeoutMs = Math.max(...valid.map((v) => v.request.timeoutMs ?? 60 * 60_000));
  const token = randomBytes(8).toString('hex');

  const check = await runner.runScript(
    sh`T=${token}
one() {
  local target=$1 sidecar=$2 expected=$3 actual
  printf '\\n@@qvd:%s:check:%s@@\\n' "$T" "$4"
  if [ ! -d "$(dirname "$target")" ]; then echo no-dir; return; fi
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
    return
  fi
  echo absent
}
${raw(valid.map((v) => sh`one ${v.request.remotePath} ${checksumSidecarPath(v.request.remotePath)} ${v.expected} ${String(v.index)}`).join('\n'))}
`,
    { timeoutMs, label: valid.length === 1 ? `check ${valid[0]?.request.remotePath ?? ''}` : `check ${valid.length} files` },
  );
  const states = sectionsByIndex(check.stdout, token, 'check');
  const toSend: { index: number; request: VerifiedUploadRequest; expected: string; temporary: string }[] = [];
  for (const v of valid) {
    const state = states.get(v.index) ?? 'no answer';
    const { remotePath } = v.request;
    if (state === 'no-dir') results[v.index] = fail(runner.node, `cannot upload to ${remotePath}: directory ${posix.dirname(remotePath)} does not exist`);
    else if (state === 'present') results[v.index] = { ok: true, outcome: 'already-present' };
    else if (state.startsWith('different') && v.request.replace !== true) {
      results[v.index] = fail(runner.node, `${remotePath} already exists with other content (sha256 ${state.slice('different '.length) || 'unknown'}, wanted ${v.expected})`, {
        hint: 'An image is never replaced in place: overlays backed by it would be corrupted. Give the new image another name (tag), or delete the old volume first.',
      });
    } else if (state === 'absent' || state.startsWith('different')) {
      toSend.push({ ...v, temporary: posix.join(posix.dirname(remotePath), `.qvd-upload-${randomBytes(6).toString('hex')}-${posix.basename(remotePath)}`) });
    } else results[v.index] = fail(runner.node, `unexpected answer while checking ${remotePath}: ${state}`);
  }
  if (toSend.length === 0) return results as VerifiedUploadResult[];

  // The runner bounds how many channels run at once.
  const sent = await Promise.all(toSend.map((u) => runner.upload(u.request.localPath, u.temporary, u.request.onProgress).then(() => undefined, (e: unknown) => (e instanceof Error ? e : new Error(String(e))))));
  const arrived = toSend.filter((u, i) => {
    const error = sent[i];
    if (error !== undefined) results[u.index] = { ok: false, error };
    return error === undefined;
  });
  try {
    if (arrived.length > 0) {
      const verify = await runner.runScript(
        sh`T=${token}
moved=0
one() {
  local tmp=$1 target=$2 sidecar=$3 expected=$4 actual
  printf '\\n@@qvd:%s:verify:%s@@\\n' "$T" "$5"
  actual=$(sha256sum "$tmp" | cut -d' ' -f1)
  if [ "$actual" != "$expected" ]; then rm -f "$tmp"; echo "mismatch $actual"; return; fi
  chmod 0644 "$tmp"
  # The old sidecar goes first: a crash between the two renames leaves a file without a sidecar (re-hashed next time), never a stale sidecar.
  rm -f "$sidecar"
  mv -f "$tmp" "$target"
  printf '%s  %s\\n' "$expected" "$(basename "$target")" > "$sidecar.tmp"
  mv -f "$sidecar.tmp" "$sidecar"
  moved=1
  echo ok
}
${raw(arrived.map((u) => sh`one ${u.temporary} ${u.request.remotePath} ${checksumSidecarPath(u.request.remotePath)} ${u.expected} ${String(u.index)}`).join('\n'))}
${raw(options.afterUpload === undefined ? '' : `if [ "$moved" = 1 ]; then\n${options.afterUpload}\nfi`)}
`,
        { timeoutMs, label: arrived.length === 1 ? `verify upload of ${arrived[0]?.request.remotePath ?? ''}` : `verify ${arrived.length} uploads` },
      );
      const verdicts = sectionsByIndex(verify.stdout, token, 'verify');
      for (const u of arrived) {
        const verdict = verdicts.get(u.index) ?? 'no answer';
        if (verdict === 'ok') results[u.index] = { ok: true, outcome: 'uploaded' };
        else if (verdict.startsWith('mismatch')) {
          results[u.index] = fail(runner.node, `checksum mismatch after uploading ${u.request.localPath}: expected sha256 ${u.expected}, the node computed ${verdict.slice('mismatch '.length)}`, {
            hint: 'Either the local file does not match the sha256 in the spec (recompute it with sha256sum), or the transfer was corrupted (retry).',
          });
        } else results[u.index] = fail(runner.node, `unexpected answer while verifying ${u.request.remotePath}: ${verdict}`);
      }
    }
  } catch (error) {
    for (const u of arrived) results[u.index] = { ok: false, error: error as Error };
  } finally {
    const left = toSend.filter((u) => results[u.index]?.ok !== true).map((u) => u.temporary);
    if (left.length > 0) await runner.run(['rm', '-f', '--', ...left], { timeoutMs: 30_000 }).catch(() => undefined);
  }
  return results as VerifiedUploadResult[];
}

function invalidRequest(node: string, r: VerifiedUploadRequest): VerifiedUploadResult | undefined {
  if (!/^[0-9a-f]{64}$/.test(r.sha256.toLowerCase())) return fail(node, `not a sha256 checksum: ${r.sha256}`);
  if (!posix.isAbsolute(r.remotePath)) return fail(node, `upload target must be an absolute path: ${r.remotePath}`);
  return undefined;
}

function fail(node: string, message: string, options: { hint?: string } = {}): VerifiedUploadResult {
  return { ok: false, error: new NodeError(node, message, options) };
}

/** The one-line answer per file (by request index) between `@@qvd:<token>:<kind>:<index>@@` lines. */
function sectionsByIndex(output: string, token: string, kind: string): Map<number, string> {
  const out = new Map<number, string>();
  const marker = new RegExp(`^@@qvd:${token}:${kind}:(\\d+)@@$`);
  let current: number | undefined;
  for (const line of output.split('\n')) {
    const m = marker.exec(line);
    if (m !== null) current = Number(m[1]);
    else if (current !== undefined && line.trim() !== '' && !out.has(current)) out.set(current, line.trim());
  }
  return out;
}
