#!/bin/bash
# Run every test of xvs: unit and property tests, the flow-syntax fixtures, and the
# functional tests (real AF_XDP on veth pairs in network namespaces). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo build --workspace --bins
# Functional tests start one xvsd each; two at a time suit a 2-core machine.
cargo test --workspace -- --test-threads=2 "$@"
