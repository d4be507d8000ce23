#!/usr/bin/env bash
# The main job on the embedded default, on a fresh Debian 12 machine, as root:
# this machine is the one node (node-a in examples/qvd.yaml, `local: true`),
# the store is SQLite beside the spec. Installs what is needed, builds the
# desktop image, applies examples/qvd.yaml, starts `qvd serve` and shows how
# to connect. Ctrl-C stops serve (the VMs keep running; `qvd destroy` removes
# everything).
#
#   sudo bash scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SPEC=examples/qvd.yaml

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "System packages (libvirt, qemu, sshd, NX, ...)"
bash scripts/setup-system.sh
if [[ -z "${npm_config_nodedir:-}" && -d /usr/include/node ]]; then export npm_config_nodedir=/usr; fi

say "npm dependencies and build"
npm ci --no-audit --no-fund
npm run build

say "libvirt daemons (no systemd needed)"
bash scripts/testenv/start-libvirt.sh

say "Desktop image (Debian + nxagent + the qvd agent; cached after the first build)"
image=$(bash scripts/build-desktop-image.sh | tail -n 1)
field() { node -e 'process.stdout.write(String(JSON.parse(process.argv[1])[process.argv[2]]))' "$image" "$1"; }
mkdir -p examples/images
for name in desktop office; do
  ln -sf "$(field disk)" "examples/images/$name.qcow2"
  printf '%s  %s.qcow2\n' "$(field sha256)" "$name" > "examples/images/$name.qcow2.sha256"
done
ln -sf "$(field kernel)" examples/images/desktop.vmlinuz
ln -sf "$(field initrd)" examples/images/desktop.initrd

say "qvd validate"
bin/qvd validate -f "$SPEC"

say "qvd apply (node-b is blocked in the example: only this machine is touched)"
bin/qvd apply -f "$SPEC" --auto-approve

say "qvd plan again: nothing left to do"
bin/qvd plan -f "$SPEC" --detailed-exitcode

# 8443 may be taken on a shared machine: use it when free, else any free port.
port=$(node -e '
  const net = require("net");
  const try_ = (p) => { const s = net.createServer().once("error", () => try_(0)).listen(p, "127.0.0.1", () => { const a = s.address().port; s.close(() => console.log(a)); }); };
  try_(8443);')
log=examples/.qvd/serve.log
mkdir -p examples/.qvd
say "qvd serve --node node-a (L7R on 127.0.0.1:$port, log in $log)"
# Node flags as in contrib/systemd/qvd-serve.service (docs/serve.md, "Node flags").
node --initial-old-space-size=64 bin/qvd serve -f "$SPEC" --node node-a --listen "127.0.0.1:$port" > "$log" 2>&1 &
serve=$!
trap 'kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null; exit 0' INT TERM
for _ in $(seq 1 100); do
  grep -q 'L7R listening' "$log" 2>/dev/null && break
  kill -0 $serve 2>/dev/null || { cat "$log"; echo "qvd serve exited" >&2; exit 1; }
  sleep 0.2
done
fp=$(grep -o '"fingerprint":"[^"]*"' "$log" | head -n 1 | cut -d'"' -f4)

say "Your VMs, as alice sees them (qvd connect --list)"
QVD_PASSWORD=secret bin/qvd connect --host 127.0.0.1 --port "$port" --user alice --fingerprint "$fp" --list

cat <<TXT

qvd is serving. To see alice's desktop, on a machine with an X display:

  QVD_PASSWORD=secret $ROOT/bin/qvd connect --host 127.0.0.1 --port $port \\
      --user alice --vm alice-desk --fingerprint $fp

(the original QVD clients work too: host 127.0.0.1, port $port, user alice,
password secret). The L7R certificate fingerprint is $fp.
Ctrl-C stops qvd serve; \`bin/qvd destroy -f $SPEC --auto-approve\` removes
everything qvd made.
TXT
wait $serve
