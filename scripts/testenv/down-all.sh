#!/usr/bin/env bash
# Tear down every test node on this machine (e.g. after an aborted test run):
# each node recorded in /run/qvd-testenv/NAME.statedir, then any remaining
# "qvdt-*" network namespace.
# Usage: scripts/testenv/down-all.sh      (root)
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
need_root
rc=0
for f in "$QVD_NS_DIR"/*.statedir; do
  [[ -e $f ]] || continue
  "$HERE/node-down.sh" "$(basename "$f" .statedir)" "$(<"$f")" || rc=1
done
for ns in /run/netns/qvdt-*; do
  [[ -e $ns ]] || continue
  "$HERE/node-down.sh" "${ns#/run/netns/qvdt-}" /nonexistent/qvdt-orphan || rc=1
done
exit "$rc"
