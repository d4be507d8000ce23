import { randomBytes } from 'node:crypto';
import type { ObserveScope } from '../node-driver.js';

/**
 * The bash script behind `observe()`: ONE remote command that prints every
 * fact, the network, the pool, every volume and every managed domain,
 * each section introduced by a marker line
 *     @@qvd:<token>:<kind>:<name>@@
 * (token random per call, so no content can forge a marker). libvirt is
 * asked through virsh, each process running a `;`-separated batch over one
 * libvirtd connection (chunked to stay under the kernel's 128 KiB limit for
 * one argument). The first lists everything, then dumps the objects the spec
 * expects on the node (`d:NAME` / `v:NAME` arguments after the sixth), still
 * after the listing and the pool refresh; only what is listed but was not
 * expected (or not where expected) is dumped by a second virsh. So a node
 * that matches its spec is read with one virsh process. An expected dump
 * counts only for an object the listing has: the script names those in its
 * `guess-ok` section, and the others (`dom-guess`, `vol-guess`) are ignored.
 *
 * Values arrive as positional arguments ($1..), never spliced into the text.
 * Names that virsh's own command parser could misread are not dumped but
 * reported (`unsafe-name` sections).
 */
export const observeScript = String.raw`
export LC_ALL=C LANG=C
T=$1 uri=$2 net=$3 pool=$4 dir=$5 prefix=$6
shift 6
mark() { printf '\n@@qvd:%s:%s:%s@@\n' "$T" "$1" "$2"; }
# In a virsh batch the marker is printed by virsh's own echo; the quoted newlines keep it on its own line.
# It lands in $m (printf -v): a command substitution per object would fork hundreds of subshells.
vmark() { printf -v m "echo '\n@@qvd:%s:%s:%s@@\n';" "$T" "$1" "$2"; }
safe() { [[ $1 =~ ^[A-Za-z0-9._+:@-]+$ ]]; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf -- "$tmp"' EXIT
errf=$tmp/virsh-stderr

# libvirt's lists first, in the background: the facts below are mostly waiting for processes too.
b=
add() { vmark "$1" "$2"; b=$b$m$3; }
add version '' "version --daemon;"
add net-info "$net" "net-info $net;"
add net-xml "$net" "net-dumpxml --inactive $net;"
add pool-refresh "$pool" "pool-refresh $pool;"
add pool-info "$pool" "pool-info $pool;"
add pool-xml "$pool" "pool-dumpxml --inactive $pool;"
add vol-list "$pool" "vol-list $pool;"
add domains-all '' "list --all --name;"
add domains-running '' "list --state-running --name;"
add domains-paused '' "list --state-paused --name;"
add domains-shutoff '' "list --state-shutoff --name;"
# What the spec expects ($7 domains, then volumes), dumped in the same call: after the listing, so after the refresh.
# A volume goes by its expected path when that is safe in a batch, else by pool and name.
nd=0
if [ $# -gt 0 ]; then nd=$1; shift; fi
declare -A gdom=() gpath=() gname=()
for x in "$@"; do
  if safe "$x"; then
    if [ "$nd" -gt 0 ]; then
      case $x in "$prefix"*) add dom-guess "$x" "dumpxml --inactive $x;"; gdom[$x]=1 ;; esac
    elif [[ $dir/$x =~ ^/[A-Za-z0-9._+:@/-]+$ ]]; then add vol-guess "$x" "vol-dumpxml $dir/$x;"; gpath[$x]=1
    else add vol-guess "$x" "vol-dumpxml --pool $pool $x;"; gname[$x]=1
    fi
  fi
  nd=$((nd-1))
done
have_virsh=
if command -v virsh >/dev/null 2>&1; then
  have_virsh=1
  virsh -q -c "$uri" "$b" >"$tmp/first" 2>>"$errf" </dev/null &
fi

mark fact hostname; cat /proc/sys/kernel/hostname 2>/dev/null || hostname 2>/dev/null
mark fact cpu-virt; if grep -Eqw 'vmx|svm' /proc/cpuinfo 2>/dev/null; then echo yes; else echo no; fi
mark fact dev-kvm; if [ -c /dev/kvm ]; then echo yes; else echo no; fi
# bash's command -v names a file even when it is not executable: check that it runs.
mark fact qemu-img; p=$(command -v qemu-img) && qemu-img --version >/dev/null 2>&1 && echo "$p"; true
mark fact virsh; command -v virsh || true
d=$dir
while [ -n "$d" ] && [ "$d" != / ] && [ ! -e "$d" ]; do d=$(dirname -- "$d"); done
mark fact free-bytes; df -P -B1 -- "$d" 2>/dev/null | awk 'NR==2 {print $4}'
qu=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' /etc/libvirt/qemu.conf 2>/dev/null | tail -n 1)
if [ -z "$qu" ]; then for u in libvirt-qemu qemu; do if id -u "$u" >/dev/null 2>&1; then qu=$u; break; fi; done; fi
mark fact storage-traversable
if [ -z "$qu" ] || [ "$qu" = root ]; then echo yes
elif ! command -v runuser >/dev/null 2>&1; then echo unknown
elif runuser -u "$qu" -- test -x "$d" 2>/dev/null; then echo yes
else echo no
fi

if [ -z "$have_virsh" ]; then mark end; exit 0; fi
wait
first=
IFS= read -r -d '' first <"$tmp/first" || true
printf '%s\n' "$first"

# Walk the listings at the head of the first batch's output for the names to dump
# (newline-separated lists: names never hold one, see safe); the dumps after them are not walked.
set -f
section= doms= vols=
while IFS= read -r line; do
  case $line in
    "@@qvd:$T:dom-guess:"*|"@@qvd:$T:vol-guess:"*) break ;;
    "@@qvd:$T:"*) section=$line; continue ;;
  esac
  [ -n "$line" ] || continue
  case $section in
    *:domains-all:*) doms=$doms$line$'\n' ;;
    *:vol-list:*) vols=$vols$line$'\n' ;;
  esac
done <"$tmp/first"
set +f

b= n=0 ok=
flush() { if [ -n "$b" ]; then virsh -q -c "$uri" "$b" 2>>"$errf" </dev/null; printf '\n'; fi; b= n=0; }
# Lines of vol-list are "NAME PATH"; a lookup by path costs virsh one call less than by pool and name.
while read -r v p; do
  [ -n "$v" ] || continue
  case $v in *.sha256|.qvd-upload-*|.qvd-tmp-*) continue ;; esac
  if ! safe "$v"; then mark unsafe-name volume; printf '%s\n' "$v"; continue; fi
  if [[ -v gname[$v] ]] || { [[ -v gpath[$v] ]] && [ "$p" = "$dir/$v" ]; }; then ok=$ok'v:'$v$'\n'; continue; fi
  if [[ $p =~ ^/[A-Za-z0-9._+:@/-]+$ ]]; then add vol "$v" "vol-dumpxml $p;"; else add vol "$v" "vol-dumpxml --pool $pool $v;"; fi
  n=$((n+1))
  if [ "$n" -ge 200 ]; then flush; fi
done <<<"$vols"
while IFS= read -r dom; do
  [ -n "$dom" ] || continue
  case $dom in "$prefix"*) ;; *) continue ;; esac
  if ! safe "$dom"; then mark unsafe-name domain; printf '%s\n' "$dom"; continue; fi
  if [[ -v gdom[$dom] ]]; then ok=$ok'd:'$dom$'\n'; continue; fi
  add dom "$dom" "dumpxml --inactive $dom;"; n=$((n+1))
  if [ "$n" -ge 200 ]; then flush; fi
done <<<"$doms"
flush
mark guess-ok; printf '%s' "$ok"

# Builtins only (the section is named after the file): a process per sidecar adds up.
if cd -- "$dir" 2>/dev/null; then
  for f in *.sha256; do
    [ -f "$f" ] || continue
    mark sidecar "$f"
    IFS= read -r -n 200 line <"$f" || true
    printf '%s\n' "$line"
  done
  # Temporary files of uploads and volume copies that never finished (the writer was killed); their age by the node's clock.
  for f in .qvd-upload-* .qvd-tmp-*; do
    [ -f "$f" ] || continue
    mark leftover "$f"
    stat -c %Y -- "$f" 2>/dev/null
  done
  mark clock ''; printf '%(%s)T\n' -1
  cd / || true
fi
mark virsh-stderr; cat -- "$errf"
mark end
`;

/** Names qvd passes into a virsh batch must survive virsh's own tokenizer unquoted. */
export function isVirshSafeName(name: string): boolean {
  return /^[A-Za-z0-9._+:@-]+$/.test(name);
}

export function newMarkerToken(): string {
  return randomBytes(8).toString('hex');
}

/**
 * The expected objects are dumped by the first virsh batch, one argument of at
 * most 128 KiB (and they travel in the SSH exec request, also one argument of
 * `bash -c`): this many bytes of batch at most, estimated per object from its
 * marker and command. Those beyond are simply read the second way (listed,
 * then dumped).
 */
const MAX_EXPECTED_BATCH_BYTES = 64 * 1024;

/** Positional arguments of observeScript, in order: the six values, the number of expected domains, the expected domains, the expected volumes. */
export function observeScriptArgs(token: string, nodeLibvirtUri: string, scope: ObserveScope): string[] {
  let budget = MAX_EXPECTED_BATCH_BYTES;
  const take = (names: readonly string[], perName: number): string[] => {
    const out: string[] = [];
    for (const name of names) {
      if (!isVirshSafeName(name)) continue;
      budget -= perName + 2 * name.length;
      if (budget < 0) break;
      out.push(name);
    }
    return out;
  };
  const domains = take(scope.expected?.domains ?? [], 80);
  const volumes = take(scope.expected?.volumes ?? [], 80 + Math.max(scope.storageDir.length, scope.pool.length + 8));
  return [token, nodeLibvirtUri, scope.network, scope.pool, scope.storageDir, scope.domainPrefix, String(domains.length), ...domains, ...volumes];
}
