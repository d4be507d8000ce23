import { heredoc, raw, sh } from '../exec/ssh/shell-quote.js';
import { splitSections } from './observe-output.js';

/** Domains per virsh process: its batch is one argument, which the kernel caps at 128 KiB. */
const perVirsh = 200;

/**
 * The bash script that defines a whole batch of domains in ONE round trip:
 * every XML is written to a private temporary directory (quoted
 * here-documents), then virsh defines them as a `;` batch over one libvirtd
 * connection. virsh runs every command of a batch whatever the previous one
 * did; each define's output lands in its own section (`def:<index>`), and
 * its errors in the shared stderr, where libvirt names the file
 * (`Failed to define domain from DIR/<index>.xml`).
 */
export function defineDomainsScript(token: string, uri: string, xmls: readonly string[]): string {
  const files = xmls.map((xml, i) => sh`cat >"$t/${String(i)}.xml" ${heredoc(xml)}`).join('');
  return sh`T=${token} uri=${uri} n=${String(xmls.length)} per=${String(perVirsh)}
mark() { printf '\\n@@qvd:%s:%s:%s@@\\n' "$T" "$1" "$2"; }
t=$(mktemp -d) || exit 1
trap 'rm -rf -- "$t"' EXIT
${raw(files)}b= nl=$'\\n'
for ((i = 0; i < n; i++)); do
  # virsh's own echo prints the marker; the quoted newlines keep it on its own line.
  b="$b echo '$nl@@qvd:$T:def:$i@@$nl'; define $t/$i.xml;"
  if (((i + 1) % per == 0 || i + 1 == n)); then
    virsh -c "$uri" "$b" 2>>"$t/err" </dev/null
    printf '\\n'
    b=
  fi
done
mark stderr ''
cat -- "$t/err" 2>/dev/null
mark end ''
`;
}

export type DefineResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

/** One result per XML, in order; `complete` is false when the output was cut short. */
export function parseDefineDomainsOutput(output: string, token: string, count: number): { readonly results: DefineResult[]; readonly complete: boolean } {
  const sections = splitSections(output, token);
  const defined = new Set<number>();
  let stderr = '';
  let complete = false;
  for (const s of sections) {
    if (s.kind === 'def' && /\bdefined from\b/.test(s.body)) defined.add(Number(s.name));
    else if (s.kind === 'stderr') stderr = s.body;
    else if (s.kind === 'end') complete = true;
  }
  const errors = errorsByFile(stderr);
  const results: DefineResult[] = [];
  for (let i = 0; i < count; i++) {
    if (defined.has(i)) results.push({ ok: true });
    else results.push({ ok: false, error: errors.get(i) ?? (complete ? 'virsh define failed without a message' : 'no answer from the node (output cut short)') });
  }
  return { results, complete };
}

/**
 * virsh reports a failed define as
 *     error: Failed to define domain from DIR/3.xml
 *     error: <libvirt's reason, one or more lines>
 */
function errorsByFile(stderr: string): Map<number, string> {
  const out = new Map<number, string>();
  let current: number | undefined;
  for (const line of stderr.split('\n')) {
    const head = /Failed to define domain from \S*\/(\d+)\.xml/.exec(line);
    if (head !== null) {
      current = Number(head[1]);
      continue;
    }
    if (current === undefined || line.trim() === '') continue;
    const reason = line.replace(/^error: /, '');
    out.set(current, out.has(current) ? `${out.get(current) ?? ''}; ${reason}` : reason);
  }
  return out;
}
