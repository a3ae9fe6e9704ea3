#!/bin/bash
# Run the default lab: a Neutron-style deployment in network namespaces (two compute
# hosts and a network node, each an xvsd, VMs on VLAN tenant networks, a router on the
# network node), real pings and a burst of generated traffic, then print what each
# switch did. Needs root. Everything it creates is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo build --release --workspace --bins
exec target/release/xvs-lab "$@"
