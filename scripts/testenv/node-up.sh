#!/usr/bin/env bash
# Bring up an isolated test node: its own network namespace (veth to the host,
# node address 10.213.INDEX.2/30, host side 10.213.INDEX.1/30), its own mount
# namespace with a private libvirt state (bind-mounted from STATEDIR), its own
# system-mode libvirtd + virtlogd and its own sshd on ADDRESS:22.
#
# Usage: scripts/testenv/node-up.sh NAME INDEX STATEDIR      (root)
#   NAME      [A-Za-z0-9_-]{1,40}; netns is "qvdt-NAME"
#   INDEX     1..254, unique among running nodes (addresses, veth "qvdhINDEX")
#   STATEDIR  created if missing; every parent must be traversable by
#             libvirt-qemu (e.g. under /var/tmp or /tmp; not under a 0700 dir)
# Last stdout line: the node as JSON (also written to STATEDIR/node.json).
# Rerunning on a node that is up just prints the JSON again. A failed start
# tears down what it made (node-down.sh). Running node-up.sh again after
# node-down.sh with the same STATEDIR keeps defined domains/networks/pools
# (like a reboot); use a fresh STATEDIR for a fresh node.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"

[[ $# -eq 3 ]] || die "usage: node-up.sh NAME INDEX STATEDIR"
need_root
node_vars "$1" "$3"
OLD_HOST_VETH=$HOST_VETH # from STATEDIR/node.env of an earlier run, if any
set_index "$2"

print_json() {
  local fp json
  fp=$(ssh-keygen -lf "$SSHDIR/ssh_host_ed25519_key.pub" | awk '{print $2}')
  local uri="qemu+libssh://root@$ADDRESS:22/system?keyfile=$KEY&known_hosts=$KNOWN_HOSTS&known_hosts_verify=auto&sshauth=privkey"
  local sshuri="qemu+ssh://root@$ADDRESS/system?keyfile=$KEY&no_tty=1&command=$CLIENTDIR/ssh"
  json=$(printf '{"name":"%s","index":%d,"address":"%s","hostAddress":"%s","sshPort":22,"sshUser":"root","privateKey":"%s","knownHosts":"%s","hostKeyFingerprint":"%s","libvirtUri":"%s","libvirtSshUri":"%s","storageDir":"%s","stateDir":"%s","netns":"%s"}' \
    "$NAME" "$INDEX" "$ADDRESS" "$HOST_ADDRESS" "$KEY" "$KNOWN_HOSTS" "$fp" "$uri" "$sshuri" "$STORAGE" "$STATEDIR" "$NETNS")
  echo "$json" >"$STATEDIR/node.json"
  echo "$json"
}

# Already up and healthy? Then only print.
if [[ -f $STATEDIR/node.env ]] && netns_exists && mntns_exists && pid_alive "$LIBVIRTD_PID" && pid_alive "$SSHD_PID"; then
  (source "$STATEDIR/node.env"; [[ $INDEX == "$2" ]]) || die "node $NAME is up with another INDEX"
  print_json
  exit 0
fi

# Same NAME up with another STATEDIR? Refuse (node-down would kill it).
if netns_exists && [[ -s $QVD_NS_DIR/$NAME.statedir && $(<"$QVD_NS_DIR/$NAME.statedir") != "$STATEDIR" ]]; then
  die "node $NAME is up with STATEDIR $(<"$QVD_NS_DIR/$NAME.statedir")"
fi

# Half-up leftovers (or a node that was not taken down): clean first.
if netns_exists || mntns_exists || { [[ -n $OLD_HOST_VETH ]] && ip link show "$OLD_HOST_VETH" >/dev/null 2>&1; }; then
  log "cleaning leftovers of node $NAME first"
  "$HERE/node-down.sh" "$NAME" "$STATEDIR" >&2
fi
index_free() {
  if ip link show "$HOST_VETH" >/dev/null 2>&1 || ip -o addr show | grep -q " $HOST_ADDRESS/"; then
    die "$HOST_VETH / $HOST_ADDRESS already in use on the host (INDEX $INDEX taken by another node?)"
  fi
}
index_free

cleanup_on_error() {
  local rc=$?
  trap - ERR EXIT
  if ((rc != 0)); then
    log "failed (exit $rc); tearing down node $NAME"
    { [[ -e /proc/$$/fd/8 ]] && flock -u 8; } 2>/dev/null || true # node-down takes the same lock
    "$HERE/node-down.sh" "$NAME" "$STATEDIR" >&2 || true
  fi
  exit "$rc"
}
trap cleanup_on_error EXIT

# ---------------------------------------------------------------- state dir
mkdir -p "$STATEDIR" "$RUNDIR" "$LOGDIR" "$SSHDIR" "$CLIENTDIR" "$STORAGE" \
  "$STATEDIR/libvirt"
chmod 0755 "$STATEDIR" "$STORAGE" "$STATEDIR/libvirt"
chmod 0700 "$CLIENTDIR" "$SSHDIR"
cat >"$STATEDIR/node.env" <<EOF
INDEX=$INDEX
ADDRESS=$ADDRESS
HOST_ADDRESS=$HOST_ADDRESS
HOST_VETH=$HOST_VETH
EOF

# qemu runs as libvirt-qemu and opens images in STATEDIR/storage by their real
# path. Temp dirs (mktemp -d: 0700) below /tmp or /var/tmp get o+x; anything
# else must already be traversable.
d=$(dirname "$STATEDIR")
while [[ $d == /tmp/* || $d == /var/tmp/* ]]; do
  if [[ $(stat -c %A "$d") != *x ]]; then
    log "chmod o+x $d (so that qemu can reach $STORAGE)"
    chmod o+x "$d"
  fi
  d=$(dirname "$d")
done
qemu_user=$(sed -n 's/^[[:space:]]*user[[:space:]]*=[[:space:]]*"\(.*\)".*/\1/p' /etc/libvirt/qemu.conf | tail -1)
qemu_user=${qemu_user:-libvirt-qemu}
if id "$qemu_user" >/dev/null 2>&1 &&
  ! setpriv --reuid="$qemu_user" --regid="$(id -g "$qemu_user")" --clear-groups test -x "$STORAGE"; then
  die "$STORAGE is not traversable by $qemu_user: a parent of STATEDIR lacks o+x (use e.g. /var/tmp/...)"
fi

# --------------------------------------------------- private libvirt state
if [[ ! -d $L_ETC ]]; then
  # Configuration only: never the host's domains, networks, pools, secrets.
  mkdir -p "$L_ETC.tmp"
  cp -a /etc/libvirt/. "$L_ETC.tmp/"
  rm -rf "$L_ETC.tmp/qemu" "$L_ETC.tmp/storage" "$L_ETC.tmp/secrets" \
    "$L_ETC.tmp/nodedev" "$L_ETC.tmp/lxc"
  mkdir -p "$L_ETC.tmp/qemu/networks/autostart" "$L_ETC.tmp/storage/autostart"
  chmod 0700 "$L_ETC.tmp/qemu" 2>/dev/null || true
  # No cgroups for the node's guests (the host's cgroup tree is not the
  # node's; two daemons would create the same machine/<dom> names).
  sed -i -E '/^[[:space:]]*cgroup_controllers[[:space:]]*=/d' "$L_ETC.tmp/qemu.conf"
  printf '\n# qvd testenv node %s\ncgroup_controllers = [ ]\n' "$NAME" >>"$L_ETC.tmp/qemu.conf"
  sed -i -E '/^[[:space:]]*log_outputs[[:space:]]*=/d' "$L_ETC.tmp/libvirtd.conf"
  printf '\n# qvd testenv node %s\nlog_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n' "$NAME" >>"$L_ETC.tmp/libvirtd.conf"
  mv "$L_ETC.tmp" "$L_ETC"
fi
mkdir -p "$L_LIB" "$L_RUN" "$L_LOG/qemu" "$L_CACHE/qemu/capabilities"
chmod 0755 "$L_LIB" "$L_RUN" "$L_LOG"
chmod 0711 "$L_CACHE" "$L_CACHE/qemu"
# Same skeleton (owners, modes) as the host's /var/lib/libvirt, no contents.
for d in /var/lib/libvirt/*/; do
  d=${d%/}
  b=$(basename "$d")
  if [[ ! -d $L_LIB/$b ]]; then
    mkdir -p "$L_LIB/$b"
    chown "$(stat -c %u:%g "$d")" "$L_LIB/$b"
    chmod "$(stat -c %a "$d")" "$L_LIB/$b"
  fi
done
# Reuse the host daemon's QEMU capability cache (same binaries): saves ~8 s
# of probing at the node's libvirtd start. libvirt revalidates it anyway.
cp -n /var/cache/libvirt/qemu/capabilities/*.xml "$L_CACHE/qemu/capabilities/" 2>/dev/null || true
rm -f "$L_RUN"/*.pid "$L_RUN"/*-sock "$L_RUN"/*-sock-ro "$L_RUN"/*-admin-sock

# ------------------------------------------------------------- ssh keys/config
[[ -f $KEY ]] || ssh-keygen -q -t ed25519 -N '' -C "qvd-testenv-client-$NAME" -f "$KEY"
[[ -f $SSHDIR/ssh_host_ed25519_key ]] ||
  ssh-keygen -q -t ed25519 -N '' -C "qvd-testenv-host-$NAME" -f "$SSHDIR/ssh_host_ed25519_key"
cp "$KEY.pub" "$SSHDIR/authorized_keys"
echo "$ADDRESS $(cut -d' ' -f1,2 "$SSHDIR/ssh_host_ed25519_key.pub")" >"$KNOWN_HOSTS"
cat >"$SSHD_CONFIG" <<EOF
# sshd of qvd test node $NAME (runs inside netns $NETNS + its mount namespace)
Port 22
ListenAddress $ADDRESS
HostKey $SSHDIR/ssh_host_ed25519_key
PidFile $SSHD_PID
AuthorizedKeysFile $SSHDIR/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
X11Forwarding no
MaxStartups 200:30:400
MaxSessions 100
Subsystem sftp internal-sftp
# Debian's bash sources ~/.bashrc even for a non-interactive command when it
# was started by sshd (SSH_CLIENT set) as a top-level shell (SHLVL < 2 after
# its own increment). The nodes share the host's /root, so every SSH command
# (qvd's, Ansible's, scp's, libvirt's remote helper) would pay for whatever the
# host's .bashrc does (pyenv init on the development machines: 0.15-0.35 s a
# command), which no real node does. With SHLVL=1 bash counts itself as nested
# and skips it; interactive logins still read their profile as usual.
SetEnv SHLVL=1
EOF
# OpenSSH client wrapper for libvirt's qemu+ssh:// (command=...): host key
# checked against our known_hosts, nothing written to ~/.ssh.
cat >"$CLIENTDIR/ssh" <<EOF
#!/bin/sh
exec ssh -F /dev/null -o UserKnownHostsFile=$KNOWN_HOSTS -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes -o IdentitiesOnly=yes "\$@"
EOF
chmod 0755 "$CLIENTDIR/ssh"

# ------------------------------------------------------------------ network
# Serialise the host-wide part (routes, the private bind of $QVD_NS_DIR,
# namespace creation) between concurrent node-up.sh runs.
exec 8>/run/qvd-testenv.lock
flock 8
index_free # again, under the lock
ip netns add "$NETNS"
ip link add "$HOST_VETH" type veth peer name eth0 netns "$NETNS"
ip addr add "$HOST_ADDRESS/30" dev "$HOST_VETH"
ip link set "$HOST_VETH" up
ip -n "$NETNS" link set lo up
ip -n "$NETNS" addr add "$ADDRESS/30" dev eth0
ip -n "$NETNS" link set eth0 up
# No default route in the node: it can reach only the host side of its veth.
# Safety net on the host: the host HAS a default route, so a stray connection
# from the host to a node-internal address (e.g. a guest at 10.214.x.y) would
# leave the machine. These make 10.213/16 and 10.214/16 fail locally instead
# (the /30 of each veth is more specific and still works).
ip route replace unreachable 10.213.0.0/16
ip route replace unreachable 10.214.0.0/16

# ----------------------------------------------------------- mount namespace
mkdir -p "$QVD_NS_DIR"
if ! findmnt -n "$QVD_NS_DIR" >/dev/null 2>&1; then
  mount --bind "$QVD_NS_DIR" "$QVD_NS_DIR"
fi
mount --make-private "$QVD_NS_DIR"
: >"$MNTNS"
echo "$STATEDIR" >"$QVD_NS_DIR/$NAME.statedir"
mkdir -p /run/libvirt /var/cache/libvirt /var/log/libvirt /var/lib/libvirt
# unshare binds the new namespace to $MNTNS (persistent, no holder process).
# Inside: a sysfs of the node's netns, the private libvirt dirs, and drop the
# copies of other nodes' namespace files (they would keep those alive).
nsenter --net="/run/netns/$NETNS" -- \
  unshare --mount="$MNTNS" --propagation private -- /bin/sh -ec "
    umount -R -l /run/netns 2>/dev/null || true
    umount -R -l $QVD_NS_DIR 2>/dev/null || true
    mount -t sysfs sysfs /sys
    mount --bind $L_ETC /etc/libvirt
    mount --bind $L_LIB /var/lib/libvirt
    mount --bind $L_RUN /run/libvirt
    mount --bind $L_LOG /var/log/libvirt
    mount --bind $L_CACHE /var/cache/libvirt
  "

flock -u 8

# -------------------------------------------------------------- daemons
node_exec /usr/sbin/virtlogd -d -p /run/libvirt/virtlogd.pid
node_exec /usr/sbin/libvirtd -d -p /run/libvirt/libvirtd.pid
ok=0
for _ in $(seq 1 300); do
  if [[ -S $L_RUN/libvirt-sock ]] && node_exec virsh -q -c qemu:///system uri >/dev/null 2>&1; then ok=1; break; fi
  sleep 0.1
done
((ok)) || die "libvirtd of node $NAME not ready (see $L_LOG/libvirtd.log)"

start_sshd
ssh -F /dev/null -i "$KEY" -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile="$KNOWN_HOSTS" \
  -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o ConnectTimeout=10 \
  "root@$ADDRESS" true || die "ssh into node $NAME failed (see $LOGDIR/sshd.log)"

trap - EXIT
print_json
