#!/bin/bash
# Run every cargo-fuzz target of fuzz/ for a fixed time budget each.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]      (default 60)
# Builds with libFuzzer through cargo-fuzz on the stable toolchain (no sanitizer, which
# needs nightly; Rust code is memory-safe and panics are what we hunt). Prints the
# executions per target; a crash leaves its input in fuzz/artifacts/TARGET/ and makes
# the script fail. Crashes found become regression tests (see the targets' corpora).
# Needs root (the control target creates a UMEM).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
if ! command -v cargo-fuzz >/dev/null; then
    echo "fuzz: installing cargo-fuzz (cargo install, a few minutes on a fresh machine)..." >&2
    cargo install cargo-fuzz --locked -q
fi
echo "fuzz: building the targets..." >&2
cd fuzz
cargo fuzz build --sanitizer none -O >/dev/null 2>&1 || cargo fuzz build --sanitizer none -O
status=0
for t in $(cargo fuzz list); do
    mkdir -p "corpus/$t"
    # Seed corpora checked into fuzz/seeds/ (e.g. former crashes) run first.
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    log=$(mktemp)
    if cargo fuzz run --sanitizer none -O "$t" "corpus/$t" "${seeds[@]}" -- -max_total_time="$SECS" >"$log" 2>&1; then
        echo "fuzz $t: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$log" | tail -1), no crash"
    else
        echo "fuzz $t: FAILED"; tail -30 "$log"; status=1
    fi
    rm -f "$log"
done
exit $status
