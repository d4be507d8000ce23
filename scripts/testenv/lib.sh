# shellcheck shell=bash
# Shared helpers for scripts/testenv/node-*.sh. Source it; do not run it.

# Where the persistent mount-namespace files live (a private bind mount, so
# that `unshare --mount=FILE` may bind an nsfs file there).
QVD_NS_DIR=/run/qvd-testenv

die() { echo "$(basename "$0"): $*" >&2; exit 1; }
log() { echo "$(basename "$0"): $*" >&2; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root"; }

# node_vars NAME STATEDIR: sets every path/name derived from them.
node_vars() {
  NAME=$1
  [[ $NAME =~ ^[A-Za-z0-9_-]{1,40}$ ]] || die "bad node name '$NAME' (use [A-Za-z0-9_-], max 40)"
  [[ -n ${2:-} ]] || die "STATEDIR missing"
  STATEDIR=$(realpath -m -- "$2")
  [[ $STATEDIR =~ ^/[A-Za-z0-9_./-]+$ ]] || die "STATEDIR '$STATEDIR' must match [A-Za-z0-9_./-] (it goes into URIs and JSON)"
  NETNS="qvdt-$NAME"
  MNTNS="$QVD_NS_DIR/$NAME.mnt"
  RUNDIR="$STATEDIR/run"           # pid files of sshd
  LOGDIR="$STATEDIR/logs"
  SSHDIR="$STATEDIR/ssh"           # sshd config, host key, authorized_keys
  CLIENTDIR="$STATEDIR/client"     # client key pair, known_hosts, ssh wrapper
  STORAGE="$STATEDIR/storage"
  L_ETC="$STATEDIR/libvirt/etc"    # -> /etc/libvirt       inside the node
  L_LIB="$STATEDIR/libvirt/lib"    # -> /var/lib/libvirt
  L_RUN="$STATEDIR/libvirt/run"    # -> /run/libvirt
  L_LOG="$STATEDIR/libvirt/log"    # -> /var/log/libvirt
  L_CACHE="$STATEDIR/libvirt/cache" # -> /var/cache/libvirt
  LIBVIRTD_PID="$L_RUN/libvirtd.pid" # host path of /run/libvirt/libvirtd.pid
  VIRTLOGD_PID="$L_RUN/virtlogd.pid"
  SSHD_PID="$RUNDIR/sshd.pid"
  SSHD_CONFIG="$SSHDIR/sshd_config"
  KEY="$CLIENTDIR/id_ed25519"
  KNOWN_HOSTS="$CLIENTDIR/known_hosts"
  # INDEX/ADDRESS/HOST_VETH come from node.env once node-up.sh wrote it.
  INDEX="" ADDRESS="" HOST_ADDRESS="" HOST_VETH=""
  if [[ -f $STATEDIR/node.env ]]; then
    # shellcheck disable=SC1091
    source "$STATEDIR/node.env"
  fi
}

set_index() {
  INDEX=$1
  [[ $INDEX =~ ^[0-9]+$ ]] && ((INDEX >= 1 && INDEX <= 254)) || die "INDEX must be 1..254"
  ADDRESS="10.213.$INDEX.2"
  HOST_ADDRESS="10.213.$INDEX.1"
  HOST_VETH="qvdh$INDEX"
}

# proc_alive PID: exists and is not a zombie. (On these machines PID 1 does
# not reap orphans, so a dead daemon stays a zombie and `kill -0` succeeds.)
proc_alive() {
  local s
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [[ ${s%% *} != Z ]]
}

# pid_alive PIDFILE
pid_alive() {
  [[ -s $1 ]] || return 1
  proc_alive "$(<"$1")"
}

netns_exists() { [[ -e /run/netns/$NETNS ]]; }
mntns_exists() { [[ -e $MNTNS ]] && findmnt -n "$MNTNS" >/dev/null 2>&1; }

# Run a command inside the node (its network + mount namespace).
node_exec() {
  nsenter --net="/run/netns/$NETNS" --mount="$MNTNS" -- "$@"
}

# kill_wait SIGNAL_TIMEOUT_SECONDS PID...: TERM, wait, then KILL.
kill_wait() {
  local t=$1; shift
  local pids=() p
  for p in "$@"; do proc_alive "$p" && pids+=("$p"); done
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local i
  for ((i = 0; i < t * 10; i++)); do
    local left=()
    for p in "${pids[@]}"; do proc_alive "$p" && left+=("$p"); done
    ((${#left[@]})) || return 0
    sleep 0.1
  done
  kill -KILL "${left[@]}" 2>/dev/null || true
  sleep 0.2
}

# descendants PID: all descendant pids (children first level first).
descendants() {
  local kids k
  kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
  for k in $kids; do
    echo "$k"
    descendants "$k"
  done
}

# wait_tcp ADDR PORT SECONDS
wait_tcp() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

start_sshd() {
  mkdir -p /run/sshd && chmod 0755 /run/sshd
  mkdir -p "$RUNDIR" "$LOGDIR"
  if pid_alive "$SSHD_PID"; then return 0; fi
  rm -f "$SSHD_PID"
  node_exec /usr/sbin/sshd -f "$SSHD_CONFIG" -E "$LOGDIR/sshd.log" ||
    die "sshd of node $NAME failed to start: $(tail -2 "$LOGDIR/sshd.log" | tr '\n' ' ')"
  wait_tcp "$ADDRESS" 22 10 || die "sshd of node $NAME not listening on $ADDRESS:22 (see $LOGDIR/sshd.log)"
}

stop_sshd() {
  local pid kids
  pid_alive "$SSHD_PID" || { rm -f "$SSHD_PID"; return 0; }
  pid=$(<"$SSHD_PID")
  kids=$(descendants "$pid")
  # listener first (no new connections), then the per-connection processes
  # shellcheck disable=SC2086
  kill_wait 5 "$pid"
  # shellcheck disable=SC2086
  kill_wait 5 $kids
  rm -f "$SSHD_PID"
}
