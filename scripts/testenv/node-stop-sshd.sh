#!/usr/bin/env bash
# Stop the sshd of a test node (to simulate a node failure and recovery).
# Kills the listener and every open SSH connection of that node; libvirtd and guests keep running.
# Usage: scripts/testenv/node-stop-sshd.sh NAME STATEDIR    (root)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
[[ $# -eq 2 ]] || die "usage: node-stop-sshd.sh NAME STATEDIR"
need_root
node_vars "$1" "$2"
[[ -n $INDEX ]] || die "no node.env in $STATEDIR (node-up.sh not run?)"

stop_sshd
log "sshd of node $NAME stopped"
