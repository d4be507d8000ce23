#!/usr/bin/env bash
# Tear down a test node made by node-up.sh: destroy its running domains and
# networks, stop every process inside its network namespace (libvirtd,
# virtlogd, dnsmasq, qemu, sshd and sessions, anything started with
# `ip netns exec`), drop its mount namespace and its netns + veth.
# Idempotent; works on half-made nodes. Keeps STATEDIR (logs, keys, defined
# domains) unless --purge is given.
#
# Usage: scripts/testenv/node-down.sh NAME STATEDIR [--purge]    (root)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -eq 2 || ( $# -eq 3 && $3 == --purge ) ]] || die "usage: node-down.sh NAME STATEDIR [--purge]"
need_root
node_vars "$1" "$2"
if netns_exists && [[ -s $QVD_NS_DIR/$NAME.statedir && $(<"$QVD_NS_DIR/$NAME.statedir") != "$STATEDIR" ]]; then
  die "node $NAME is up with STATEDIR $(<"$QVD_NS_DIR/$NAME.statedir"), not $STATEDIR"
fi
set +e # best effort from here on: do every step

# The host end of the veth is deleted with the netns; only wait for it (and
# only if it is really ours: its peer is eth0 in our netns).
own_veth=""
if netns_exists && [[ -n $HOST_VETH && -e /sys/class/net/$HOST_VETH/ifindex ]]; then
  peer=$(ip -n "$NETNS" -o link show eth0 2>/dev/null | sed -n 's/.*eth0@if\([0-9]*\).*/\1/p')
  [[ -n $peer && $peer == "$(</sys/class/net/"$HOST_VETH"/ifindex)" ]] && own_veth=$HOST_VETH
fi

# 1. Orderly: destroy domains and networks while libvirtd still runs (so it
#    restores file ownership, removes bridges, stops dnsmasq).
if netns_exists && mntns_exists && pid_alive "$LIBVIRTD_PID"; then
  V() { timeout 30 nsenter --net="/run/netns/$NETNS" --mount="$MNTNS" -- virsh -q -c qemu:///system "$@"; }
  for d in $(V list --name 2>/dev/null); do V destroy "$d" >/dev/null 2>&1; done
  for n in $(V net-list --name 2>/dev/null); do V net-destroy "$n" >/dev/null 2>&1; done
fi

# 2. Daemons by pid file.
stop_sshd
pid_alive "$LIBVIRTD_PID" && kill_wait 10 "$(<"$LIBVIRTD_PID")"
pid_alive "$VIRTLOGD_PID" && kill_wait 5 "$(<"$VIRTLOGD_PID")"
rm -f "$LIBVIRTD_PID" "$VIRTLOGD_PID"

# 3. Everything else still inside the node's netns (qemu, dnsmasq, sessions,
#    processes started with `ip netns exec`), and in its mount namespace.
pids=()
if netns_exists; then
  mapfile -t pids < <(ip netns pids "$NETNS" 2>/dev/null)
fi
if mntns_exists; then
  ino=$(stat -L -c %i "$MNTNS" 2>/dev/null)
  if [[ -n $ino ]]; then
    for p in /proc/[0-9]*; do
      [[ $(readlink "$p/ns/mnt" 2>/dev/null) == "mnt:[$ino]" ]] && pids+=("${p#/proc/}")
    done
  fi
fi
((${#pids[@]})) && kill_wait 5 "${pids[@]}"

# 4. Mount namespace (its bind mounts vanish with it) and network.
if [[ -e $MNTNS ]]; then
  umount "$MNTNS" 2>/dev/null || umount -l "$MNTNS" 2>/dev/null
  rm -f "$MNTNS"
fi
rm -f "$QVD_NS_DIR/$NAME.statedir"
netns_exists && ip netns del "$NETNS"
if [[ -n $own_veth ]]; then
  for _ in $(seq 1 50); do ip link show "$own_veth" >/dev/null 2>&1 || break; sleep 0.1; done
  ip link del "$own_veth" 2>/dev/null
fi
rm -f "$STATEDIR/node.json"
# Last node gone: drop node-up's safety routes and the private bind mount
# (under node-up's lock, so as not to race a node being made).
exec 8>/run/qvd-testenv.lock
flock -w 60 8
if ! compgen -G "/run/netns/qvdt-*" >/dev/null; then
  ip route del unreachable 10.213.0.0/16 2>/dev/null
  ip route del unreachable 10.214.0.0/16 2>/dev/null
fi
if ! compgen -G "$QVD_NS_DIR/*.mnt" >/dev/null && findmnt -n "$QVD_NS_DIR" >/dev/null 2>&1; then
  umount "$QVD_NS_DIR" 2>/dev/null
fi
flock -u 8

if [[ ${3:-} == --purge ]]; then
  rm -rf "$STATEDIR"
fi
fail=0
netns_exists && { log "netns $NETNS still exists"; fail=1; }
[[ -n $own_veth ]] && ip link show "$own_veth" >/dev/null 2>&1 && { log "veth $own_veth still exists"; fail=1; }
[[ -e $MNTNS ]] && { log "$MNTNS still exists"; fail=1; }
((fail == 0)) && log "node $NAME is down"
exit "$fail"
