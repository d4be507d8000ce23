#!/usr/bin/env bash
# Build the qvd desktop guest: a Debian root filesystem (debootstrap from the
# Debian mirror apt uses here, packages in images/desktop/packages.txt) with
# the VMA bundle at /opt/qvd/vma.js and a shell script as PID 1, plus a
# Debian kernel and a busybox initramfs for direct kernel boot.
#
# Cached outside the repo, keyed by a hash of every input (this script,
# images/desktop/*, the resolved kernel and busybox versions, the Debian
# sources, the VMA bundle):
#     CACHE_ROOT/desktop-<hash>/{disk.qcow2,vmlinuz,initrd.img,image.json,packages.txt}
# The debootstrap stage alone (~70 s) is cached as CACHE_ROOT/desktop-rootfs-<hash>/
# so that a VMA change rebuilds in seconds.
#
# Usage: scripts/build-desktop-image.sh [CACHE_ROOT]        (root; Debian 12 host)
#   CACHE_ROOT  default $QVD_TEST_CACHE or /var/cache/qvd-test
#   env QVD_DEBIAN_MIRROR   mirror for debootstrap (default: the one apt uses)
#   env QVD_TEST_KERNEL_PKG kernel package (default: what linux-image-amd64 depends on)
# Needs: debootstrap qemu-utils e2fsprogs busybox-static (and node_modules/esbuild).
# Last stdout line: {"dir","disk","kernel","initrd","sha256","imageId","kernelPackage","vmaSha256","cmdline"}
#
# Boot: kernel cmdline `console=ttyS0 quiet qvd.vma_secret=<secret>`, vda =
# (an overlay of) disk.qcow2, vdb = the VM's home disk (formatted on first use).
set -euo pipefail

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(dirname "$(dirname "$SCRIPT")")
IMG=$REPO/images/desktop
CACHE_ROOT=${1:-${QVD_TEST_CACHE:-/var/cache/qvd-test}}
[[ $(id -u) -eq 0 ]] || { echo "build-desktop-image.sh: must run as root" >&2; exit 1; }
log() { echo "build-desktop-image.sh: $*" >&2; }
for tool in debootstrap qemu-img mke2fs; do
  command -v "$tool" >/dev/null || { log "$tool missing (apt-get install debootstrap qemu-utils e2fsprogs)"; exit 1; }
done
[[ -x /bin/busybox ]] && dpkg-query -W busybox-static >/dev/null 2>&1 || { log "busybox-static missing"; exit 1; }
ESBUILD=$REPO/node_modules/.bin/esbuild
[[ -x $ESBUILD ]] || { log "$ESBUILD missing (npm install)"; exit 1; }

# Modules for the initramfs, in load order: virtio (real-components.md), the
# virtio RNG (used when the domain has one), ext4 and its dependencies, the
# ACPI power button and evdev for acpid.
MODULES="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk virtio-rng crc16 mbcache crc32c_generic jbd2 ext4 button evdev"

mkdir -p "$CACHE_ROOT"
chmod 0755 "$CACHE_ROOT"

# ------------------------------------------------ Debian suite and sources
. /etc/os-release
SUITE=${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}
# The Debian entries of apt's configuration (deb822 .sources and one-line
# lists), as one-line sources: third-party repositories are left out.
debian_sources() {
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [[ -f $f ]] || continue
      awk 'function flush() { if (types ~ /(^| )deb( |$)/) { n = split(uris, u, " "); m = split(suites, s, " ");
             for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print "deb " u[i] " " s[j] " " comps }
             types = uris = suites = comps = "" }
           /^[ \t]*$/ { flush(); next }
           /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
           /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
           /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
           /^Components:/ { sub(/^Components:[ \t]*/, ""); comps = $0 }
           END { flush() }' "$f"
    done
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
      sed -E -e 's/#.*//' -e 's/\[[^]]*\]//' | awk '$1 == "deb" { $1 = $1; print }'
  } | awk -v suite="$SUITE" '$2 ~ /\/debian(-security)?\/?$/ && ($3 == suite || index($3, suite "-") == 1)' | LC_ALL=C sort -u
}
SOURCES_TEXT=$(debian_sources)
MIRROR=${QVD_DEBIAN_MIRROR:-$(awk -v suite="$SUITE" '$3 == suite && $2 !~ /security/ { print $2; exit }' <<<"$SOURCES_TEXT")}
[[ -n $MIRROR ]] || { log "no Debian mirror for $SUITE in apt's sources; set QVD_DEBIAN_MIRROR"; exit 1; }

# ------------------------------------------------------------ kernel version
# apt-cache is slow here (~1.4 s), so the answer is remembered per state of the lists.
lists_stamp=$(ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null | sha256sum | cut -c1-16)
resolve_file="$CACHE_ROOT/.desktop-kernel-$lists_stamp-${QVD_TEST_KERNEL_PKG:-default}"
kpkg="" kver=""
resolve_kernel() {
  if [[ -n ${QVD_TEST_KERNEL_PKG:-} ]]; then
    kpkg=$QVD_TEST_KERNEL_PKG
    kver=$(apt-cache show --no-all-versions "$kpkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}')
  else
    read -r kpkg kver < <(apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
      sed -n -E 's/^Depends:.*(linux-image-[0-9][^ ,]*) \(= ([^)]+)\).*/\1 \2/p' | head -1) || true
  fi
  [[ -n $kpkg && -n $kver ]]
}
if [[ -s $resolve_file ]]; then
  read -r kpkg kver <"$resolve_file"
elif resolve_kernel || { log "kernel package not in apt lists; apt-get update"; apt-get -o DPkg::Lock::Timeout=900 update >&2 && resolve_kernel; }; then
  rm -f "$CACHE_ROOT"/.desktop-kernel-*-"${QVD_TEST_KERNEL_PKG:-default}"
  echo "$kpkg $kver" >"$resolve_file"
else
  log "cannot resolve a linux-image-*-amd64 package (set QVD_TEST_KERNEL_PKG?)"
  exit 1
fi
bbver=$(dpkg-query -W -f='${Version}' busybox-static)

# ---------------------------------------------------------------- VMA bundle
# One CommonJS file for the guest's Node 18, no node_modules in the image.
BUNDLE_DIR=$(mktemp -d "$CACHE_ROOT/.vma-XXXXXX")
trap 'rm -rf "$BUNDLE_DIR"' EXIT
vma_version=$(cd "$REPO" && node -p 'require("./package.json").version')
"$ESBUILD" "$REPO/src/vma/main.ts" --bundle --platform=node --target=node18 --format=cjs \
  --define:QVD_VMA_VERSION="\"$vma_version\"" --legal-comments=none --log-level=warning \
  --outfile="$BUNDLE_DIR/vma.js" >&2
vma_sha=$(sha256sum "$BUNDLE_DIR/vma.js" | cut -d' ' -f1)

# -------------------------------------------------------------- cache keys
rootfs_hash=$( { cat "$IMG/build-rootfs.sh" "$IMG/packages.txt"; echo "suite=$SUITE mirror=$MIRROR"; echo "$SOURCES_TEXT"; } | sha256sum | cut -c1-16)
ROOTFS=$CACHE_ROOT/desktop-rootfs-$rootfs_hash
hash=$( {
  cat "$SCRIPT"
  (cd "$IMG" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  (cd "$IMG" && find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n %a')
  echo "rootfs=$rootfs_hash kernel=$kpkg=$kver busybox=$bbver vma=$vma_sha modules=$MODULES"
} | sha256sum | cut -c1-16)
DIR=$CACHE_ROOT/desktop-$hash

print_result() {
  printf '{"dir":"%s","disk":"%s","kernel":"%s","initrd":"%s","sha256":"%s","imageId":"%s","kernelPackage":"%s","vmaSha256":"%s","cmdline":"console=ttyS0 quiet"}\n' \
    "$DIR" "$DIR/disk.qcow2" "$DIR/vmlinuz" "$DIR/initrd.img" "$(cut -d' ' -f1 "$DIR/disk.qcow2.sha256")" \
    "qvd-desktop-$hash" "$kpkg=$kver" "$vma_sha"
}
if [[ -f $DIR/image.json ]]; then
  print_result
  exit 0
fi

exec 9>"$CACHE_ROOT/.desktop.lock"
flock 9 # concurrent builders wait for each other
if [[ -f $DIR/image.json ]]; then
  print_result
  exit 0
fi
started=$SECONDS

# ------------------------------------------------------ stage 1: root fs
if [[ ! -f $ROOTFS/.qvd-packages ]]; then
  rm -rf "$ROOTFS" "$ROOTFS.tmp"
  printf '%s\n' "$SOURCES_TEXT" >"$BUNDLE_DIR/sources.list"
  bash "$IMG/build-rootfs.sh" "$ROOTFS.tmp" "$SUITE" "$MIRROR" "$BUNDLE_DIR/sources.list" "$IMG/packages.txt"
  mv "$ROOTFS.tmp" "$ROOTFS"
fi

T=$(mktemp -d "$CACHE_ROOT/.desktop-build-XXXXXX")
trap 'rm -rf "$BUNDLE_DIR" "$T"' EXIT
chmod 0755 "$T"
log "building $DIR (kernel $kpkg=$kver)"

# ------------------------------------------------- stage 2: qvd's files
R=$T/root
cp -a "$ROOTFS" "$R"
cp -a "$IMG/rootfs/." "$R/"
chown -R root:root "$R/usr/sbin/qvd-init" "$R/etc/qvd" "$R/etc/acpi" "$R/etc/hosts" "$R/etc/hostname"
install -D -m 0644 "$BUNDLE_DIR/vma.js" "$R/opt/qvd/vma.js"
echo "qvd-desktop-$hash" >"$R/etc/qvd/image-id"
mv "$R/.qvd-packages" "$T/packages.txt"
# No identity baked into the image: every VM is its own machine.
: >"$R/etc/machine-id"
rm -f "$R"/etc/ssh/ssh_host_* 2>/dev/null || true
rm -rf "$R/home"/* "$R/tmp"/*

# ----------------------------------------------------------------- kernel
# The unpacked kernel package is kept per version: stage 2 is then offline.
# Only the modules of the initramfs are kept (the package unpacks to ~400 MB).
KDIR=$CACHE_ROOT/desktop-kernel-$kpkg-$kver-$(echo "$MODULES" | sha256sum | cut -c1-8)
if [[ ! -f $KDIR/vmlinuz ]]; then
  rm -rf "$KDIR.tmp"
  mkdir -p "$KDIR.tmp"
  (cd "$KDIR.tmp" && apt-get -o DPkg::Lock::Timeout=900 download "$kpkg=$kver" 2>&1 | grep -v unsandboxed >&2) || true
  deb=$(ls "$KDIR.tmp"/*.deb 2>/dev/null | head -1)
  [[ -f $deb ]] || { log "apt-get download $kpkg=$kver failed"; exit 1; }
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$KDIR.tmp" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/*'
  rm -f "$deb"
  mv "$KDIR.tmp"/boot/vmlinuz-* "$KDIR.tmp/vmlinuz"
  keep=" $MODULES "
  find "$KDIR.tmp/lib/modules" -name '*.ko' | while read -r f; do
    m=$(basename "$f" .ko)
    [[ $keep == *" $m "* ]] || rm -f "$f"
  done
  rm -rf "$KDIR"
  mv "$KDIR.tmp" "$KDIR"
fi
OUT=$T/out
mkdir "$OUT"
cp "$KDIR/vmlinuz" "$OUT/vmlinuz"

# -------------------------------------------------------------- initramfs
I=$T/initramfs
mkdir -p "$I"/{bin,dev,proc,sys,newroot,etc,lib/modules}
cp /bin/busybox "$I/bin/busybox"
for a in $("$I/bin/busybox" --list); do [[ $a == busybox ]] || ln -s busybox "$I/bin/$a"; done
ln -s bin "$I/sbin"
mknod -m 600 "$I/dev/console" c 5 1
mknod -m 666 "$I/dev/null" c 1 3
for m in $MODULES; do
  f=$(find "$KDIR/lib/modules" -name "$m.ko" | head -1)
  [[ -n $f ]] || { log "module $m.ko not in $kpkg"; exit 1; }
  for d in $(grep -a -o -m1 'depends=[a-z0-9_,-]*' "$f" | head -1 | cut -d= -f2 | tr ',' ' '); do
    [[ -f $I/lib/modules/$d.ko ]] || { log "module $m needs $d first"; exit 1; }
  done
  cp "$f" "$I/lib/modules/$m.ko"
done
echo "$MODULES" >"$I/etc/modules"
install -m 0755 "$IMG/initramfs-init" "$I/init"
(cd "$I" && find . | LC_ALL=C sort | "$I/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -9 -n >"$OUT/initrd.img"

# ------------------------------------------------------------------- disk
# Fixed UUID, hash seed and time: the same inputs give the same filesystem layout.
uuid=$(echo "$hash" | sha256sum | sed -E 's/^(.{8})(.{4})(.{4})(.{4})(.{12}).*/\1-\2-\3-\4-\5/')
E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -t ext4 -F -L qvd-root -U "$uuid" -E "hash_seed=$uuid" \
  -d "$R" "$T/disk.raw" 1G >&2
qemu-img convert -c -f raw -O qcow2 "$T/disk.raw" "$OUT/disk.qcow2"
rm -f "$T/disk.raw"
(cd "$OUT" && sha256sum disk.qcow2 >disk.qcow2.sha256)
cp "$T/packages.txt" "$OUT/packages.txt"

chmod 0755 "$OUT"
chmod 0644 "$OUT"/*
mv "$OUT" "$DIR"
# image.json last: its presence marks a complete image.
print_result >"$DIR/image.json.tmp"
chmod 0644 "$DIR/image.json.tmp"
mv "$DIR/image.json.tmp" "$DIR/image.json"
log "built $DIR in $((SECONDS - started)) s ($(du -h "$DIR/disk.qcow2" | cut -f1) qcow2)"
# Older builds go after a day (a test run that started before this build may
# still be copying its image).
find "$CACHE_ROOT" -maxdepth 1 -mindepth 1 -type d -name 'desktop-*' -mtime +0 \
  ! -path "$DIR" ! -path "$ROOTFS" ! -path "$KDIR" -exec rm -rf {} + 2>/dev/null || true
print_result
