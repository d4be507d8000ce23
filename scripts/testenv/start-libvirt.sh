#!/usr/bin/env bash
# Start the HOST's virtlogd, virtlockd and libvirtd (system mode) without
# systemd, unless they already run. Idempotent. Never starts (and disables the
# autostart of) libvirt's `default` NAT network.
#
# Usage: scripts/testenv/start-libvirt.sh        (root)
# Afterwards `virsh -c qemu:///system ...` works (socket /run/libvirt/libvirt-sock).
set -euo pipefail

[[ $(id -u) -eq 0 ]] || { echo "start-libvirt.sh: must run as root" >&2; exit 1; }

# Never autostart the `default` network (NAT to the outside world).
rm -f /etc/libvirt/qemu/networks/autostart/default.xml

alive() { # alive PIDFILE: the pid in it is a running process (not a zombie)
  local pid s
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  s=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ ${s%% *} != Z ]]
}

mkdir -p /run/libvirt
alive /run/virtlogd.pid || /usr/sbin/virtlogd -d -p /run/virtlogd.pid
alive /run/virtlockd.pid || /usr/sbin/virtlockd -d -p /run/virtlockd.pid
if ! alive /run/libvirtd.pid; then
  /usr/sbin/libvirtd -d -p /run/libvirtd.pid
fi

for _ in $(seq 1 100); do
  if [[ -S /run/libvirt/libvirt-sock ]] && virsh -q -c qemu:///system version >/dev/null 2>&1; then
    # Make sure QEMU's capabilities are probed and cached (~4-8 s once):
    # node-up.sh copies /var/cache/libvirt/qemu/capabilities into each node.
    virsh -q -c qemu:///system domcapabilities --virttype qemu >/dev/null 2>&1 || true
    echo "start-libvirt.sh: libvirtd ready (pid $(</run/libvirtd.pid))"
    exit 0
  fi
  sleep 0.1
done
echo "start-libvirt.sh: libvirtd did not become ready; see /var/log/libvirt or run /usr/sbin/libvirtd -v" >&2
exit 1
