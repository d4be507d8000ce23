#!/usr/bin/env bash
# Start the sshd of a test node (to simulate a node failure and recovery).
# Starts it again (no-op when running); returns once it accepts TCP connections.
# Usage: scripts/testenv/node-start-sshd.sh NAME STATEDIR    (root)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
[[ $# -eq 2 ]] || die "usage: node-start-sshd.sh NAME STATEDIR"
need_root
node_vars "$1" "$2"
[[ -n $INDEX ]] || die "no node.env in $STATEDIR (node-up.sh not run?)"
netns_exists && mntns_exists || die "node $NAME is not up"
start_sshd
log "sshd of node $NAME listening on $ADDRESS:22"
