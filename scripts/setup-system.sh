#!/usr/bin/env bash
# Install every Debian package the project (build, unit and integration tests,
# scripts/testenv/*) needs. Idempotent: when all packages are already
# installed it does nothing (no `apt-get update`), so reruns take ~0.1 s.
#
# Usage: sudo scripts/setup-system.sh            (must run as root)
#        QVD_EXTRA_PACKAGES="foo bar" scripts/setup-system.sh
set -euo pipefail

# --- The list. Add packages here (one group per line, keep comments). ------
QVD_SYSTEM_PACKAGES=(
  # libvirt + qemu (software emulation; no hardware virtualisation needed)
  libvirt-daemon-system libvirt-clients libvirt-dev libvirt-daemon-driver-qemu
  qemu-system-x86 qemu-utils
  # libvirt networks: dnsmasq for DHCP, iptables for the isolation rules
  dnsmasq-base iptables
  # SSH into test nodes (server inside each node, client on the host)
  openssh-server openssh-client
  # test guest image (busybox init, ext4 image made without mounting)
  busybox-static e2fsprogs
  # test nodes: network + mount namespaces, veth, bridges
  iproute2 util-linux procps socat jq
  # native npm modules (@unraid/libvirt, better-sqlite3) build from source
  g++ make python3 pkg-config
  # cluster store (PostgreSQL 15) for the store and serve tests
  postgresql
  # LDAP auth tests: a throwaway slapd of their own
  slapd ldap-utils
  # NX delivery: the agent (in the guest image), the client proxy, a display
  # for the client in tests, screenshots to check pixels
  nxagent nxproxy xvfb xauth x11-apps x11-xserver-utils imagemagick
  # the desktop guest image is built from Debian packages
  debootstrap
  # certificates, scripts
  openssl curl ca-certificates
)
# Later: postgresql slapd nxagent nxproxy xvfb xauth ... (append above).
# shellcheck disable=SC2206
QVD_SYSTEM_PACKAGES+=(${QVD_EXTRA_PACKAGES:-})

if [[ $(id -u) -ne 0 ]]; then
  echo "setup-system.sh: must run as root" >&2
  exit 1
fi

missing=()
for p in "${QVD_SYSTEM_PACKAGES[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ $st == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup-system.sh: all ${#QVD_SYSTEM_PACKAGES[@]} packages already installed"
  exit 0
fi

echo "setup-system.sh: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=900 update
# Install the whole list (not only the missing ones) so apt resolves them together.
apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends "${QVD_SYSTEM_PACKAGES[@]}"
echo "setup-system.sh: done"
