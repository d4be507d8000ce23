#!/usr/bin/env bash
# Stage 1 of the desktop image: a Debian root filesystem made only from
# Debian packages (debootstrap --variant=minbase + packages.txt), then
# brought up to date from the same Debian sources apt uses on this machine,
# then stripped of caches and documentation. No qvd file goes in here: the
# caller (scripts/build-desktop-image.sh) caches this tree by a hash of this
# script, the package list, the suite and the sources, and adds qvd's files
# to a copy of it.
#
# Usage: build-rootfs.sh DEST SUITE MIRROR SOURCES_FILE PACKAGES_FILE   (root)
#   DEST          directory to create (must not exist); the tree is DEST itself
#   SUITE         e.g. bookworm
#   MIRROR        Debian mirror for debootstrap, e.g. http://deb.debian.org/debian
#   SOURCES_FILE  one-line-style apt sources for the upgrade step (may be empty)
#   PACKAGES_FILE package names, one a line, '#' comments
set -euo pipefail
DEST=$1 SUITE=$2 MIRROR=$3 SOURCES=$4 PACKAGES=$5
log() { echo "build-rootfs.sh: $*" >&2; }
[[ ! -e $DEST ]] || { log "$DEST exists"; exit 1; }

include=$(sed -e 's/#.*//' "$PACKAGES" | tr -s ' \t\n' '\n' | grep -v '^$' | paste -sd, -)
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

log "debootstrap $SUITE from $MIRROR with $include"
# debootstrap prints its progress on stdout; keep our stdout for the caller.
debootstrap --variant=minbase --keyring="$keyring" --include="$include" \
  "$SUITE" "$DEST" "$MIRROR" >&2

# Security and point updates: the same Debian suites this machine's apt uses.
# Inside the chroot apt needs proc and the host's resolver; both are undone
# before the tree is used.
if [[ -s $SOURCES ]]; then
  cp "$SOURCES" "$DEST/etc/apt/sources.list"
  cp /etc/resolv.conf "$DEST/etc/resolv.conf"
  mount -t proc proc "$DEST/proc"
  trap 'umount "$DEST/proc" 2>/dev/null || true' EXIT
  # policy-rc.d: no service may start inside the chroot during upgrades.
  printf '#!/bin/sh\nexit 101\n' >"$DEST/usr/sbin/policy-rc.d"
  chmod 0755 "$DEST/usr/sbin/policy-rc.d"
  chroot "$DEST" /usr/bin/apt-get -q update >&2
  DEBIAN_FRONTEND=noninteractive chroot "$DEST" /usr/bin/apt-get -q -y \
    -o Dpkg::Options::=--force-confold dist-upgrade >&2
  rm -f "$DEST/usr/sbin/policy-rc.d"
  umount "$DEST/proc"
  trap - EXIT
  : >"$DEST/etc/resolv.conf"
fi

# What does not belong in a guest disk: package caches and lists, docs,
# man pages, locales other than C (Node works without them).
chroot "$DEST" /usr/bin/apt-get clean
rm -rf "$DEST"/var/lib/apt/lists/* "$DEST"/var/cache/apt/*.bin "$DEST"/var/cache/debconf/*-old \
  "$DEST"/usr/share/doc/* "$DEST"/usr/share/man/* "$DEST"/usr/share/info/* \
  "$DEST"/usr/share/locale/* "$DEST"/var/log/*.log "$DEST"/var/log/apt/* "$DEST"/tmp/*
# The package manifest travels with the image (what exactly is inside).
chroot "$DEST" /usr/bin/dpkg-query -W -f='${Package}=${Version}\n' | LC_ALL=C sort >"$DEST/.qvd-packages"
log "done: $(du -sh "$DEST" | cut -f1)"
