import { sh } from '../exec/ssh/shell-quote.js';
import { splitSections } from './observe-output.js';

/** Names per virsh process: its batch is one argument, which the kernel caps at 128 KiB. */
const perVirsh = 200;

/**
 * One script that deletes a batch of volumes: their files and sidecars in
 * the pool's directory with a single `rm` (what `vol-delete` does for a dir
 * pool), then one `pool-refresh` so that libvirt forgets them. A missing file
 * is fine. Sections: `left` lists the volumes whose file is still there,
 * `rm` holds rm's complaints, then `end`. Names are checked by the caller
 * (no `/`), so every path stays in the directory.
 */
export function deleteVolumesScript(token: string, uri: string, pool: string, dir: string, volumes: readonly string[]): string {
  return sh`T=${token} uri=${uri} pool=${pool} dir=${dir}
mark() { printf '\\n@@qvd:%s:%s:%s@@\\n' "$T" "$1" "$2"; }
vols=(${volumes})
paths=()
for v in "\${vols[@]}"; do paths+=("$dir/$v" "$dir/$v.sha256"); done
msg=$(rm -f -- "\${paths[@]}" 2>&1)
virsh -q -c "$uri" pool-refresh "$pool" >/dev/null 2>&1 || true
mark left ''
for v in "\${vols[@]}"; do if [ -e "$dir/$v" ]; then printf '%s\\n' "$v"; fi; done
mark rm ''
printf '%s\\n' "$msg"
mark end ''
`;
}

/**
 * One script that undefines a batch of domains: a virsh batch of `destroy`
 * (fails harmlessly on a domain that is off) and `undefine` per domain over
 * one libvirtd connection, then the list of domains still defined. Sections:
 * `left` (names still there), `stderr` (virsh's complaints, which name the
 * domain), `end`. Names must pass assertVirshName (they go into virsh's own
 * parser).
 */
export function undefineDomainsScript(token: string, uri: string, names: readonly string[]): string {
  const batches: string[] = [];
  for (let i = 0; i < names.length; i += perVirsh) batches.push(names.slice(i, i + perVirsh).map((n) => `destroy ${n}; undefine ${n};`).join(' '));
  return sh`T=${token} uri=${uri}
mark() { printf '\\n@@qvd:%s:%s:%s@@\\n' "$T" "$1" "$2"; }
err=$(mktemp) || exit 1
trap 'rm -f -- "$err"' EXIT
for b in ${batches}; do virsh -q -c "$uri" "$b" >/dev/null 2>>"$err" </dev/null; done
mark left ''
virsh -q -c "$uri" list --all --name 2>&1
mark stderr ''
cat -- "$err"
mark end ''
`;
}

export interface RemoveOutput {
  /** Items still there afterwards. */
  readonly left: ReadonlySet<string>;
  /** What the tools said, to explain an item that is left. */
  readonly messages: string;
  readonly complete: boolean;
}

export function parseRemoveOutput(output: string, token: string): RemoveOutput {
  let left = new Set<string>();
  let messages = '';
  let complete = false;
  for (const s of splitSections(output, token)) {
    if (s.kind === 'left') left = new Set(s.body.split('\n').map((l) => l.trim()).filter((l) => l !== ''));
    else if (s.kind === 'rm' || s.kind === 'stderr') messages = s.body;
    else if (s.kind === 'end') complete = true;
  }
  return { left, messages, complete };
}

/** The lines of `messages` about `item` and the reason lines that follow them (virsh: "error: Failed to undefine domain 'x'" + "error: why"). */
export function messagesAbout(messages: string, item: string): string {
  const lines = messages.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (!line.includes(`'${item}'`) && !line.includes(`/${item}'`) && !line.endsWith(`/${item}`)) continue;
    // A destroy of a domain that is off fails by design: not the reason it is left.
    const next = lines[i + 1] ?? '';
    if (/Failed to destroy/.test(line) && /not running/.test(next)) continue;
    out.push(line.replace(/^error: /, ''));
    if (next.startsWith('error: ') && !/Failed to /.test(next)) out.push(next.replace(/^error: /, ''));
  }
  return out.join('; ');
}
