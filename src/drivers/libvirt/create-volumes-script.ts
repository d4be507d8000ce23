import { posix } from 'node:path';
import type { NamedVolumeSpec } from '../node-driver.js';
import { raw, sh } from '../exec/ssh/shell-quote.js';
import { splitSections } from './observe-output.js';

/** Copies at once: each is a few short processes. */
const parallel = 4;

/**
 * The bash script that makes a whole batch of volumes in ONE round trip,
 * straight in the pool's directory (what `vol-create-as` does, minus one
 * libvirt call per volume), then runs a single `pool-refresh` so that libvirt
 * lists them all.
 *
 * `qemu-img create` makes byte-identical files for the same size, backing
 * file and backing format, so it runs once per such kind (a template, in a
 * private directory) and each volume is a copy of its kind's template: a
 * process that starts in a millisecond instead of QEMU's block layer per
 * volume. Each copy goes to a temporary name and is then hard-linked to its
 * own (`ln -T` fails when the name exists), so a volume is either absent or
 * complete, and a file that appeared meanwhile is never truncated. Each one
 * reports on its own, between marker lines as in observe:
 *     ok      made
 *     exists  already there; body = `qemu-img info --output=json` (the caller checks it is what was asked)
 *     fail    body = the error
 * then `refresh-failed` (body = the error) if the refresh failed, and `end`.
 * Every value is a quoted word of the script (the `sh` tag).
 */
export function createVolumesScript(token: string, uri: string, pool: string, dir: string, volumes: readonly NamedVolumeSpec[]): string {
  const calls = volumes.map((v) => sh`start ${v.volume} ${v.capacityBytes === undefined ? '' : String(v.capacityBytes)} ${v.backing?.volume ?? ''} ${v.backing?.format ?? ''}`).join('\n');
  return sh`T=${token} uri=${uri} pool=${pool} dir=${dir} parallel=${String(parallel)}
# Volumes belong to one VM each: 0600, as libvirt makes them.
umask 077
out=$(mktemp -d) || exit 1
trap 'rm -rf -- "$out"' EXIT
mark() { printf '\\n@@qvd:%s:%s:%s@@\\n' "$T" "$1" "$2"; }
existing() { mark exists "$1"; qemu-img info -U --output=json -- "$2" 2>&1; }
declare -A template
# template KEY SIZE BACKING FORMAT: the file, or "!" and the file holding qemu-img's complaint.
make_template() {
  local f=$out/template.\${#template[@]} args=(-q -f qcow2)
  # The backing format is always explicit: QEMU must not probe it.
  if [ -n "$3" ]; then args+=(-F "$4" -b "$dir/$3"); fi
  args+=(-- "$f")
  if [ -n "$2" ]; then args+=("$2"); fi
  if qemu-img create "\${args[@]}" >"$f.err" 2>&1; then template[$1]=$f; else template[$1]=!$f.err; fi
}
one() {
  local v=$1 t=$2 path=$dir/$1 tmp msg
  if [ -e "$path" ]; then existing "$v" "$path"; return; fi
  if [[ $t == !* ]]; then mark fail "$v"; cat -- "\${t#!}"; return; fi
  # A name observe skips (isQvdSidecarName).
  tmp=$dir/.qvd-tmp-$$-$v
  if msg=$(cp --sparse=always -- "$t" "$tmp" 2>&1) && msg=$(ln -T -- "$tmp" "$path" 2>&1); then
    rm -f -- "$tmp"
    : >"$out/made.$v"
    mark ok "$v"
    return
  fi
  rm -f -- "$tmp"
  if [ -e "$path" ]; then existing "$v" "$path"; return; fi
  mark fail "$v"
  printf '%s\\n' "$msg"
}
# Each volume reports into its own file: concurrent writers would interleave on stdout.
running=0
start() {
  local key="$2|$3|$4"
  if [ -z "\${template[$key]+made}" ]; then make_template "$key" "$2" "$3" "$4"; fi
  one "$1" "\${template[$key]}" >"$out/report.$1" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then wait -n; running=$((running - 1)); fi
}
${raw(calls)}
wait
cat -- "$out"/report.* 2>/dev/null
if compgen -G "$out/made.*" >/dev/null && ! msg=$(virsh -q -c "$uri" pool-refresh "$pool" 2>&1); then
  mark refresh-failed ''
  printf '%s\\n' "$msg"
fi
mark end ''
`;
}

export type VolumeResult =
  | { readonly status: 'made' }
  | { readonly status: 'exists'; readonly format: string; readonly backing: string | undefined }
  | { readonly status: 'failed'; readonly error: string };

export interface CreateVolumesOutput {
  /** Per volume name; a name without an entry got no answer (output cut short). */
  readonly results: ReadonlyMap<string, VolumeResult>;
  /** The volumes were made but libvirt does not list them yet. */
  readonly refreshError: string | undefined;
  readonly complete: boolean;
}

export function parseCreateVolumesOutput(output: string, token: string): CreateVolumesOutput {
  const results = new Map<string, VolumeResult>();
  let refreshError: string | undefined;
  let complete = false;
  for (const section of splitSections(output, token)) {
    switch (section.kind) {
      case 'ok':
        results.set(section.name, { status: 'made' });
        break;
      case 'exists':
        results.set(section.name, existingVolume(section.body));
        break;
      case 'fail':
        results.set(section.name, { status: 'failed', error: section.body || 'qemu-img failed without a message' });
        break;
      case 'refresh-failed':
        refreshError = section.body || 'pool-refresh failed without a message';
        break;
      case 'end':
        complete = true;
        break;
    }
  }
  return { results, refreshError, complete };
}

function existingVolume(info: string): VolumeResult {
  try {
    const parsed = JSON.parse(info) as { format?: unknown; 'backing-filename'?: unknown };
    const backing = typeof parsed['backing-filename'] === 'string' ? posix.basename(parsed['backing-filename']) : undefined;
    return { status: 'exists', format: typeof parsed.format === 'string' ? parsed.format : 'unknown', backing };
  } catch {
    return { status: 'failed', error: `exists, but qemu-img cannot read it: ${info.trim()}` };
  }
}
