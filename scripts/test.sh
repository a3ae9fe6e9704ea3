#!/bin/bash
# Run every test of xvs: unit and property tests, the flow-syntax fixtures, and the
# functional tests (real AF_XDP on veth pairs in network namespaces). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo build --workspace --bins
# Functional tests start one xvsd each; two at a time suit a 2-core machine.
cargo test --workspace -- --test-threads=2 "$@"
# A short fuzzing budget per target (set XVS_FUZZ_SECONDS=0 to skip).
if [ "${XVS_FUZZ_SECONDS:-15}" != 0 ]; then
    scripts/fuzz.sh "${XVS_FUZZ_SECONDS:-15}"
fi
