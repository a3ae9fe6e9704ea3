#!/bin/bash
# Prepare a fresh machine for xvs: Debian packages (only those missing), bpffs, and a
# build of the workspace. Sourced by lab.sh and test.sh; needs root.
set -euo pipefail

XVS_PKGS="clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config make gcc libc6-dev m4
 iproute2 ethtool tcpdump tshark iputils-ping procps python3 openvswitch-switch"

xvs_die() { echo "error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || xvs_die "run as root (AF_XDP, XDP programs and network namespaces need it)"

xvs_install_packages() {
    local missing=() p
    for p in $XVS_PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # Debian starts Open vSwitch's system daemons on install; xvs never uses them.
    if command -v systemctl >/dev/null && systemctl is-active -q openvswitch-switch 2>/dev/null; then
        systemctl stop openvswitch-switch >/dev/null 2>&1 || true
    fi
}

xvs_prepare_host() {
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
    ulimit -l unlimited 2>/dev/null || true
    command -v cargo >/dev/null || xvs_die "cargo not found: install Rust (rustup) first"
}

xvs_install_packages
xvs_prepare_host
