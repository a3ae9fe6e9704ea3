#!/bin/bash
# Run a lab: a Neutron-style deployment in network namespaces read from a TOML file
# (labs/*.toml; each host a namespace with its own xvsd, VMs as namespaces), real pings
# and TCP, then print what each switch did. Needs root. Everything it creates is removed
# at the end. Without a file it runs xvs-lab's built-in default (labs/default.toml: two
# compute hosts and a network node, a VXLAN and a GRE network over br-phy underlays).
# Usage: scripts/lab.sh [FILE] [--keep] [--burst N] [--cleanup] [--dry-run]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo build --release --workspace --bins
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    exec target/release/xvs-lab "$@"
fi
case " $* " in
*" --cleanup "*) exec target/release/xvs-lab "$@" ;;
esac
exec target/release/xvs-lab "$@"
