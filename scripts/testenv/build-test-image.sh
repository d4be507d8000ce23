#!/usr/bin/env bash
# Build the tiny test guest (Debian kernel + busybox initramfs + small qcow2
# data disk) from Debian packages only, into a cache directory outside the
# repo keyed by a hash of its inputs (this script's text + kernel package and
# version + busybox version):
#     CACHE_ROOT/image-<hash>/{vmlinuz,initrd.img,disk.qcow2,image.json}
# If that directory exists, nothing is built.
#
# Usage: scripts/testenv/build-test-image.sh [CACHE_ROOT]      (root)
#   CACHE_ROOT  default $QVD_TEST_CACHE or /var/cache/qvd-test
#   env QVD_TEST_KERNEL_PKG  kernel package (default: what linux-image-amd64 depends on)
# Last stdout line: {"dir","kernel","initrd","disk","sha256","imageId","kernelPackage"}
#
# Guest behaviour (serial console ttyS0; kernel cmdline console=ttyS0):
#   QVD-TEST-BOOTED               modules loaded, init running
#   QVD-TEST-DISK <id>            /dev/vda mounted read-only, content of /qvd-image-id
#                                 (QVD-TEST-DISK none when there is no /dev/vda)
#   QVD-TEST-IP <ip>              DHCP lease on eth0 (QVD-TEST-IP none on failure)
#   QVD-TEST-READY                services listening:
#     tcp/4100  echo (busybox nc -ll -e cat)
#     tcp/3030  HTTP (busybox httpd): GET / -> {"qvdTestGuest":true,"ip":..,"imageId":..}
#   ACPI power button (virsh shutdown) -> QVD-TEST-SHUTDOWN, then power off.
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
CACHE_ROOT=${1:-${QVD_TEST_CACHE:-/var/cache/qvd-test}}
[[ $(id -u) -eq 0 ]] || { echo "build-test-image.sh: must run as root" >&2; exit 1; }
log() { echo "build-test-image.sh: $*" >&2; }

# Modules, in load order (virtio per real-components.md, then ext4 and its
# deps, then the ACPI power button for `virsh shutdown`).
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk crc16 mbcache crc32c_generic jbd2 ext4 button evdev"

# Resolve the kernel package + version. apt-cache takes ~1.4 s here (no
# pkgcache), so the answer is remembered per state of the apt lists.
lists_stamp=$(ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null | sha256sum | cut -c1-16)
resolve_file="$CACHE_ROOT/.kernel-$lists_stamp-${QVD_TEST_KERNEL_PKG:-default}"
kpkg="" kver=""
resolve_kernel() {
  if [[ -n ${QVD_TEST_KERNEL_PKG:-} ]]; then
    kpkg=$QVD_TEST_KERNEL_PKG
    kver=$(apt-cache show --no-all-versions "$kpkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
  else
    # "Depends: linux-image-6.1.0-NN-amd64 (= VERSION)"
    read -r kpkg kver < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
      sed -n -E 's/^Depends:.*(linux-image-[0-9][^ ,]*) \(= ([^)]+)\).*/\1 \2/p' | head -1) || true
  fi
  [[ -n $kpkg && -n $kver ]]
}
if [[ -s $resolve_file ]]; then
  read -r kpkg kver <"$resolve_file"
elif resolve_kernel || {
  log "kernel package not found in apt lists; running apt-get update"
  apt-get -o DPkg::Lock::Timeout=900 update >&2 && resolve_kernel
}; then
  mkdir -p "$CACHE_ROOT" && chmod 0755 "$CACHE_ROOT"
  rm -f "$CACHE_ROOT"/.kernel-*-"${QVD_TEST_KERNEL_PKG:-default}"
  echo "$kpkg $kver" >"$resolve_file"
else
  log "cannot resolve a linux-image-*-amd64 package (set QVD_TEST_KERNEL_PKG?)"
  exit 1
fi
bbver=$(dpkg-query -W -f='${Version}' busybox-static)
hash=$( { cat "$SCRIPT"; echo "kernel=$kpkg=$kver busybox=$bbver"; } | sha256sum | cut -c1-16)
DIR="$CACHE_ROOT/image-$hash"

print_result() {
  local sha
  sha=$(cut -d' ' -f1 "$DIR/disk.qcow2.sha256")
  printf '{"dir":"%s","kernel":"%s","initrd":"%s","disk":"%s","sha256":"%s","imageId":"%s","kernelPackage":"%s"}\n' \
    "$DIR" "$DIR/vmlinuz" "$DIR/initrd.img" "$DIR/disk.qcow2" "$sha" "$(cat "$DIR/qvd-image-id")" "$kpkg=$kver"
}

if [[ -f $DIR/image.json ]]; then
  print_result
  exit 0
fi

mkdir -p "$CACHE_ROOT"
chmod 0755 "$CACHE_ROOT"
exec 9>"$CACHE_ROOT/.lock"
flock 9 # concurrent builders wait for each other
if [[ -f $DIR/image.json ]]; then
  print_result
  exit 0
fi

T=$(mktemp -d "$CACHE_ROOT/.build-XXXXXX")
trap 'rm -rf "$T"' EXIT
chmod 0755 "$T"
log "building $DIR (kernel $kpkg=$kver)"

# ----------------------------------------------------------------- kernel
(cd "$T" && apt-get -o DPkg::Lock::Timeout=900 download "$kpkg=$kver" 2>&1 | grep -v 'unsandboxed' >&2) || true
deb=$(ls "$T"/*.deb 2>/dev/null | head -1)
[[ -f $deb ]] || { log "apt-get download $kpkg=$kver failed"; exit 1; }
mkdir "$T/k"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$T/k" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/*'
rm -f "$deb"
OUT="$T/out"
mkdir "$OUT"
cp "$T"/k/boot/vmlinuz-* "$OUT/vmlinuz"

# --------------------------------------------------------------- initramfs
R="$T/root"
mkdir -p "$R"/{bin,dev,proc,sys,tmp,run,mnt,etc/acpi/PWRF,www,lib/modules}
cp /bin/busybox "$R/bin/busybox"
for a in $("$R/bin/busybox" --list); do
  [[ $a == busybox ]] || ln -s busybox "$R/bin/$a"
done
ln -s bin "$R/sbin"
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3
for m in $MODULES; do
  f=$(find "$T/k/lib/modules" -name "$m.ko" | head -1)
  [[ -n $f ]] || { log "module $m.ko not in $kpkg"; exit 1; }
  # every dependency must be earlier in the list
  deps=$(grep -a -o -m1 'depends=[a-z0-9_,-]*' "$f" | head -1 | cut -d= -f2 | tr ',' ' ')
  for d in $deps; do
    [[ -f $R/lib/modules/$d.ko ]] || { log "module $m needs $d first"; exit 1; }
  done
  cp "$f" "$R/lib/modules/$m.ko"
done
echo "$MODULES" >"$R/etc/modules"
echo "qvd-test-image-$hash" >"$T/qvd-image-id"

cat >"$R/etc/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc event script: configure the leased address (and a route if given)
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    for r in $router; do ip route add default via "$r" dev "$interface" 2>/dev/null; break; done
    echo "$ip" >/run/ip ;;
esac
exit 0
EOF
chmod 0755 "$R/etc/udhcpc.script"

cat >"$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo "QVD-TEST-SHUTDOWN" >/dev/console
umount /mnt 2>/dev/null
sync
poweroff -f
EOF
chmod 0755 "$R/etc/acpi/PWRF/00000080"

cat >"$R/init" <<'EOF'
#!/bin/sh
# PID 1 of the qvd test guest (busybox). See build-test-image.sh.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
exec </dev/console >/dev/console 2>&1
for m in $(cat /etc/modules); do
  insmod "/lib/modules/$m.ko" || echo "QVD-TEST-WARN insmod $m failed"
done
echo "QVD-TEST-BOOTED"
hostname qvd-test
ip link set lo up

n=0; while [ ! -b /dev/vda ] && [ $n -lt 10 ]; do sleep 0.1; n=$((n+1)); done
DISK=none
if [ -b /dev/vda ]; then
  if mount -t ext4 -o ro /dev/vda /mnt; then DISK=$(cat /mnt/qvd-image-id 2>/dev/null || echo no-id)
  else DISK=mount-failed; fi
fi
echo "QVD-TEST-DISK $DISK"

# services first, so that they listen when QVD-TEST-IP is printed
(while true; do nc -ll -p 4100 -e cat; sleep 0.2; done) </dev/null >/dev/null 2>&1 &
printf '{"qvdTestGuest":true,"ip":null,"imageId":"%s"}\n' "$DISK" >/www/index.html
httpd -p 3030 -h /www
[ -e /dev/input/event0 ] && acpid -c /etc/acpi -l /run/acpid.log

n=0; while [ ! -e /sys/class/net/eth0 ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n+1)); done
IP=none
if [ -e /sys/class/net/eth0 ]; then
  ip link set eth0 up
  udhcpc -i eth0 -n -q -t 10 -T 1 -s /etc/udhcpc.script >/run/udhcpc.log 2>&1
  [ -s /run/ip ] && IP=$(cat /run/ip)
fi
printf '{"qvdTestGuest":true,"ip":"%s","imageId":"%s"}\n' "$IP" "$DISK" >/www/index.html
echo "QVD-TEST-IP $IP"
echo "QVD-TEST-READY"
while true; do sleep 3600; done
EOF
chmod 0755 "$R/init"

(cd "$R" && find . | LC_ALL=C sort | "$R/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -9 -n >"$OUT/initrd.img"

# ------------------------------------------------------------- data disk
mkdir "$T/disk"
cp "$T/qvd-image-id" "$T/disk/qvd-image-id"
uuid=$(echo "$hash" | sha256sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -t ext4 -F -L qvdtest -U "$uuid" -E "hash_seed=$uuid" \
  -d "$T/disk" "$T/disk.raw" 8M >&2
qemu-img convert -f raw -O qcow2 "$T/disk.raw" "$OUT/disk.qcow2"
(cd "$OUT" && sha256sum disk.qcow2 >disk.qcow2.sha256)
cp "$T/qvd-image-id" "$OUT/qvd-image-id"

chmod 0755 "$OUT"
chmod 0644 "$OUT"/*
mv "$OUT" "$DIR"
# image.json last: its presence marks a complete image
print_result >"$DIR/image.json.tmp"
chmod 0644 "$DIR/image.json.tmp"
mv "$DIR/image.json.tmp" "$DIR/image.json"
log "built $DIR"
print_result
