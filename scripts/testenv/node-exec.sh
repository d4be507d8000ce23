#!/usr/bin/env bash
# Run a command inside a test node (its network + mount namespace), without
# SSH: sees the node's libvirtd, /etc/libvirt, addresses and bridges.
# Usage: scripts/testenv/node-exec.sh NAME STATEDIR CMD [ARG...]    (root)
#   e.g. scripts/testenv/node-exec.sh n1 /var/tmp/qvd-n1 virsh -c qemu:///system list --all
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
[[ $# -ge 3 ]] || die "usage: node-exec.sh NAME STATEDIR CMD [ARG...]"
need_root
node_vars "$1" "$2"
shift 2
netns_exists && mntns_exists || die "node $NAME is not up"
exec nsenter --net="/run/netns/$NETNS" --mount="$MNTNS" -- "$@"
