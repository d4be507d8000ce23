#!/usr/bin/env bash
# End-to-end check of the test environment (what the README promises):
# two nodes, SSH + both libvirt URIs, an isolated libvirt network with a DHCP
# host entry, a dir pool, a qcow2 overlay, the test guest booting on node A,
# the echo service reached from inside node A's netns, isolation between the
# nodes and the host, sshd stop/start, ACPI shutdown, and a clean teardown.
#
# Usage: scripts/testenv/selftest.sh [INDEX_A [INDEX_B]]    (root; default 201 202)
# Ends with "N passed, N failed". Takes ~30 s (one TCG boot).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IA=${1:-201} IB=${2:-202}
W=$(mktemp -d /var/tmp/qvdt-selftest-XXXXXX)
A=st$IA B=st$IB DOM=qvdt-selftest-$$ NET=qvdtst POOL=qvdtst
pass=0 fail=0
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
ko() { echo "FAIL - $*"; fail=$((fail + 1)); }
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else ko "$d"; fi; }
cleanup() {
  "$HERE/node-down.sh" "$A" "$W/$A" --purge >/dev/null 2>&1
  "$HERE/node-down.sh" "$B" "$W/$B" --purge >/dev/null 2>&1
  rm -rf "$W"
}
trap cleanup EXIT

"$HERE/../setup-system.sh" >&2 || exit 1
"$HERE/start-libvirt.sh" >&2 || exit 1
IMG=$("$HERE/build-test-image.sh" | tail -1) || exit 1
t=$(date +%s.%N)
JA=$("$HERE/node-up.sh" "$A" "$IA" "$W/$A" | tail -1) || { ko "node-up $A"; exit 1; }
JB=$("$HERE/node-up.sh" "$B" "$IB" "$W/$B" | tail -1) || { ko "node-up $B"; exit 1; }
ok "two nodes up in $(echo "$(date +%s.%N) - $t" | bc) s"
j() { jq -r ".$2" <<<"$1"; }
UA=$(j "$JA" libvirtUri) UB=$(j "$JB" libvirtUri) SA=$(j "$JA" storageDir) ADDR=$(j "$JA" address)
SSHA=(ssh -F /dev/null -i "$(j "$JA" privateKey)" -o UserKnownHostsFile="$(j "$JA" knownHosts)"
  -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 "root@$ADDR")

check "ssh into node A with its key and known_hosts" "${SSHA[@]}" true
check "ssh host key fingerprint matches JSON" \
  bash -c "ssh-keygen -lf <(ssh-keyscan -t ed25519 $ADDR 2>/dev/null) | grep -qF '$(j "$JA" hostKeyFingerprint)'"
check "qemu+libssh URI works" virsh -c "$UA" list --all
check "qemu+ssh URI (command= wrapper) works" virsh -c "$(j "$JA" libvirtSshUri)" list --all

cp "$(j "$IMG" disk)" "$SA/base.qcow2"
cat >"$W/net.xml" <<EOF
<network><name>$NET</name><bridge name='qvdtstbr0'/>
  <ip address='10.214.$IA.1' netmask='255.255.255.0'><dhcp>
    <range start='10.214.$IA.100' end='10.214.$IA.199'/>
    <host mac='52:54:00:21:00:10' ip='10.214.$IA.10'/>
  </dhcp></ip></network>
EOF
cat >"$W/dom.xml" <<EOF
<domain type='qemu'>
  <name>$DOM</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>$(j "$IMG" kernel)</kernel><initrd>$(j "$IMG" initrd)</initrd>
    <cmdline>console=ttyS0</cmdline></os>
  <features><acpi/><tcg><tb-cache unit='MiB'>64</tb-cache></tcg></features>
  <on_poweroff>destroy</on_poweroff>
  <devices>
    <disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>
      <source pool='$POOL' volume='$DOM.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <interface type='network'><source network='$NET'/>
      <mac address='52:54:00:21:00:10'/><model type='virtio'/></interface>
    <serial type='file'><source path='/var/log/libvirt/qemu/$DOM.serial.log'/><target port='0'/></serial>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
scp -q -F /dev/null -i "$(j "$JA" privateKey)" -o UserKnownHostsFile="$(j "$JA" knownHosts)" \
  -o BatchMode=yes "$W/net.xml" "$W/dom.xml" "root@$ADDR:$SA/" && ok "scp (sftp) into node A" || ko "scp into node A"
check "network (isolated, dhcp host), pool, overlay, define over SSH" "${SSHA[@]}" \
  "virsh -q -c qemu:///system 'net-define $SA/net.xml; net-start $NET; pool-define-as $POOL dir --target $SA; pool-build $POOL; pool-start $POOL; vol-create-as $POOL $DOM.qcow2 64M --format qcow2 --backing-vol base.qcow2 --backing-vol-format qcow2; define $SA/dom.xml' && qemu-img info $SA/$DOM.qcow2 | grep -q 'backing file: $SA/base.qcow2'"
check "dnsmasq runs inside node A's netns" bash -c "ip netns pids $(j "$JA" netns) | xargs -r ps -o comm= -p | grep -q dnsmasq"

LOG="$W/$A/libvirt/log/qemu/$DOM.serial.log"
t0=$(date +%s.%N)
check "virsh start (libssh URI)" virsh -c "$UA" start "$DOM"
tb="" tr=""
for _ in $(seq 1 1200); do
  [[ -z $tb ]] && grep -q QVD-TEST-BOOTED "$LOG" 2>/dev/null && tb=$(date +%s.%N)
  grep -q QVD-TEST-READY "$LOG" 2>/dev/null && { tr=$(date +%s.%N); break; }
  sleep 0.05
done
[[ -n $tb ]] && ok "guest printed QVD-TEST-BOOTED $(echo "$tb - $t0" | bc) s after virsh start" || ko "guest booted"
[[ -n $tr ]] && ok "guest ready $(echo "$tr - $t0" | bc) s after virsh start" || ko "guest ready"
check "guest got the DHCP host address" grep -q "QVD-TEST-IP 10.214.$IA.10" "$LOG"
check "guest mounted its disk" grep -q "QVD-TEST-DISK $(j "$IMG" imageId)" "$LOG"
echo=$(ip netns exec "$(j "$JA" netns)" socat -T3 - "TCP:10.214.$IA.10:4100" <<<"qvd-echo-$$" 2>&1)
[[ $echo == "qvd-echo-$$" ]] && ok "echo on guest:4100 from node A's netns" || ko "echo: '$echo'"
check "HTTP on guest:3030 from node A's netns" bash -c \
  "ip netns exec $(j "$JA" netns) bash -c 'exec 3<>/dev/tcp/10.214.$IA.10/3030; printf \"GET / HTTP/1.0\r\n\r\n\" >&3; timeout 3 cat <&3' | grep -q '\"ip\":\"10.214.$IA.10\"'"
pss=$(awk '/^Pss:/ {s+=$2} END {print int(s/1024)}' /proc/"$(cat "$W/$A/libvirt/run/qemu/$DOM.pid")"/smaps_rollup 2>/dev/null)
ok "qemu PSS ${pss:-?} MiB"

check "domain invisible on node B" bash -c "! virsh -c '$UB' list --all --name | grep -qx '$DOM'"
check "domain invisible on the host's qemu:///system" bash -c "! virsh -c qemu:///system list --all --name | grep -qx '$DOM'"
check "network invisible on the host" bash -c "! virsh -c qemu:///system net-list --all --name | grep -qx '$NET'"
check "node B cannot reach node A" bash -c "! ip netns exec $(j "$JB" netns) timeout 2 bash -c 'exec 3<>/dev/tcp/$ADDR/22'"
check "node B's key is refused by node A" bash -c "! ssh -F /dev/null -i '$(j "$JB" privateKey)' -o UserKnownHostsFile='$(j "$JA" knownHosts)' -o BatchMode=yes root@$ADDR true"

"$HERE/node-stop-sshd.sh" "$A" "$W/$A" >/dev/null 2>&1
check "sshd stopped: libvirt URI fails" bash -c "! virsh -c '$UA' list"
check "guest keeps running with sshd down" bash -c "ip netns exec $(j "$JA" netns) socat -T3 - TCP:10.214.$IA.10:4100 <<<x | grep -qx x"
"$HERE/node-start-sshd.sh" "$A" "$W/$A" >/dev/null 2>&1
check "sshd back: libvirt URI works" virsh -c "$UA" list

t0=$(date +%s.%N)
virsh -q -c "$UA" shutdown "$DOM" >/dev/null 2>&1
st=""
for _ in $(seq 1 300); do st=$(virsh -q -c "$UA" domstate "$DOM" 2>/dev/null); [[ $st == "shut off" ]] && break; sleep 0.1; done
[[ $st == "shut off" ]] && ok "ACPI shutdown in $(echo "$(date +%s.%N) - $t0" | bc) s" || ko "ACPI shutdown (state: $st)"
virsh -q -c "$UA" start "$DOM" >/dev/null 2>&1

NSA=$(j "$JA" netns)
"$HERE/node-down.sh" "$A" "$W/$A" >/dev/null 2>&1 && ok "node-down A (with a running guest)" || ko "node-down A"
check "node A netns gone" bash -c "! ip netns list | grep -qw $NSA"
check "node A veth gone" bash -c "! ip link show qvdh$IA"
pat="$W/${A%?}[${A: -1}]" # a regex that does not match its own command line
check "no process left from node A" bash -c "! grep -ls '$pat' /proc/[0-9]*/cmdline"
check "node-down A again (idempotent)" "$HERE/node-down.sh" "$A" "$W/$A"
"$HERE/node-down.sh" "$B" "$W/$B" >/dev/null 2>&1 && ok "node-down B" || ko "node-down B"

echo "$pass passed, $fail failed"
((fail == 0))
