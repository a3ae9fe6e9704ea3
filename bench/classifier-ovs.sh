#!/bin/bash
# Classifier miss cost with 1k/10k/100k rules in table 0, in Open vSwitch 3.1 (userspace
# datapath, afxdp ports) and in xvsd, with the same rules and the same generator traffic
# in one sitting, on the peer scripts' benchmark topology (../shared/peers).
#
# The rules are xvs-bench's (bench/src/rules.rs, `XVS_CLS_DUMP=SHAPE:N` of the
# classifier bench): by default the security-group shape (in_port, ip/tcp/udp, tp_dst
# port-range pieces, nw_src CIDRs, one priority) plus `priority=0,actions=output:2`.
# The generator sends UDP 10.88.0.1:9 -> 10.88.0.2:10000..10000+FLOWS-1 into port 1
# for SECONDS_PER_RUN seconds. Printed per size and switch: the rules' load time,
# packets, upcalls and their average cost (OVS: dpif-netdev/pmd-perf-show's us per
# upcall; xvs: pmd-stats' us per upcall), megaflows (and OVS's distinct masks) after
# the run; for OVS also a second run with megaflows disabled (every flow an upcall, so
# that the average is over FLOWS upcalls); then the raw `upcall/show`,
# `dpif-netdev/pmd-stats-show` and `pmd-perf-show` of OVS and `xvsctl pmd-stats` (all
# kept in $OUT).
#
# usage: sudo bench/classifier-ovs.sh
# env:   SIZES ("1000 10000 100000") SHAPE (sg|mixed|l2pop) FLOWS (10000)
#        SECONDS_PER_RUN (5) XVS (1: also measure xvsd; 0: OVS only) XDP_MODE (native)
#        GEN_CPU (0) SW_CPU (1) XVS_PEERS (../shared/peers) OUT (/run/xvs-bench/classifier)
# Cleans up on exit (generator, xvsd, OVS, topology), also on Ctrl-C.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${XVS_PEERS:-$ROOT/../shared/peers}
[ -x "$PEERS/topo.sh" ] || { echo "peer scripts not found in $PEERS (set XVS_PEERS)" >&2; exit 1; }
SIZES=${SIZES:-"1000 10000 100000"}
SHAPE=${SHAPE:-sg}
FLOWS=${FLOWS:-10000}
SECS=${SECONDS_PER_RUN:-5}
XVS=${XVS:-1}
XDP_MODE=${XDP_MODE:-native}
OUT=${OUT:-/run/xvs-bench/classifier}
export GEN_CPU=${GEN_CPU:-0} SW_CPU=${SW_CPU:-1}

. "$ROOT/scripts/setup.sh"
set +e
. "$PEERS/lib.sh"
OVS="$PEERS/ovs.sh"
XVSD=$ROOT/target/release/xvsd
XVSCTL=$ROOT/target/release/xvsctl
SOCK=$OUT/xvsd.sock
XVSD_PID=
mkdir -p "$OUT"

cleanup() {
    gen_stop
    if [ -n "$XVSD_PID" ]; then kill "$XVSD_PID" 2>/dev/null; wait "$XVSD_PID" 2>/dev/null; fi
    "$OVS" stop >/dev/null 2>&1
    topo_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$PEERS/build-libxdp.sh" >/dev/null || die "build-libxdp.sh failed"
log "building xvsd, xvsctl and the rule generator"
(cd "$ROOT" && cargo build --release -q -p xvs -p xvs-tools --bins) || die "cargo build failed"
for n in $SIZES; do
    f=$OUT/rules-$SHAPE-$n.txt
    (cd "$ROOT" && XVS_CLS_DUMP=$SHAPE:$n cargo bench -q -p xvs-bench --bench classifier 2>/dev/null) >"$f" \
        || die "generating rules $SHAPE:$n"
    [ "$(wc -l <"$f")" -gt "$n" ] || die "rule file $f is short"
done
build_tools
topo_up


# Distinct megaflow masks in `ovs-appctl dpctl/dump-flows` output: per flow, the
# fields present and, for each sub-field, its mask ("*" when exact).
cat >"$OUT/masks.py" <<'PY'
import re, sys
masks = set()
for line in sys.stdin:
    line = line.split(" packets:")[0]
    sig = []
    for name, body in re.findall(r"([a-z_0-9]+)\(([^()]*)\)", line):
        subs = []
        for kv in body.split(","):
            k, _, v = kv.partition("=")
            subs.append(k + ":" + (v.split("/", 1)[1] if "/" in v else "*"))
        sig.append(name + "(" + ",".join(subs) + ")")
    if sig:
        masks.add(tuple(sig))
print(len(masks))
PY

run_traffic() { # label
    local a b
    a=$(sink_count)
    gen_start "$FLOWS"
    sleep "$SECS"
    gen_stop
    sleep 0.5
    b=$(sink_count)
    echo $((b - a)) >"$OUT/$1.sink"
}

RESULTS=()

run_ovs() { # N
    local n=$1 f=$OUT/rules-$SHAPE-$1.txt t0 t1 pre=$OUT/ovs-$SHAPE-$1
    "$OVS" start >/dev/null 2>&1 || die "ovs.sh start failed"
    "$OVS" vsctl set Open_vSwitch . other_config:pmd-perf-metrics=true
    "$OVS" vsctl add-br br0 -- set bridge br0 datapath_type=netdev fail_mode=secure
    local i=1 p
    for p in "$SW_IN" "$SW_OUT"; do
        "$OVS" vsctl add-port br0 "$p" -- set interface "$p" type=afxdp ofport_request=$i \
            options:xdp-mode="$XDP_MODE" options:use-need-wakeup=true
        [ "$("$OVS" vsctl get interface "$p" error)" = "[]" ] || die "OVS port $p: $("$OVS" vsctl get interface "$p" error)"
        i=$((i + 1))
    done
    "$OVS" ofctl del-flows br0
    t0=$(date +%s.%N)
    "$OVS" ofctl add-flows br0 "$f" || die "ovs-ofctl add-flows $f failed"
    t1=$(date +%s.%N)
    local loaded; loaded=$("$OVS" ofctl dump-aggregate br0 | grep -o 'flow_count=[0-9]*' | cut -d= -f2)
    sleep 1
    "$OVS" appctl dpif-netdev/pmd-stats-clear >/dev/null
    run_traffic "ovs-$n"
    "$OVS" appctl upcall/show >"$pre.upcall-show.txt" 2>&1
    "$OVS" appctl dpif-netdev/pmd-stats-show >"$pre.pmd-stats.txt" 2>&1
    "$OVS" appctl dpif-netdev/pmd-perf-show >"$pre.pmd-perf.txt" 2>&1
    "$OVS" appctl dpctl/dump-flows >"$pre.dump-flows.txt" 2>&1
    local rx upc us mf masks upc2 us2
    rx=$(awk -F: '/packets received/{gsub(/ /,"",$2); s+=$2} END{print s+0}' "$pre.pmd-stats.txt")
    upc=$(awk -F: '/miss with success upcall/{gsub(/ /,"",$2); s+=$2} END{print s+0}' "$pre.pmd-stats.txt")
    # pmd-perf-show: "  - Upcalls:   N  (  0.0 %, X us/upcall)"
    us=$(grep -m1 'Upcalls:' "$pre.pmd-perf.txt" | grep -o '[0-9.]* us/upcall' | awk '{print $1}')
    mf=$(grep -c 'actions:' "$pre.dump-flows.txt")
    masks=$(python3 "$OUT/masks.py" <"$pre.dump-flows.txt")
    # Every packet an upcall: megaflows off (exact-match datapath flows), so that the
    # per-upcall cost is averaged over FLOWS upcalls instead of a handful.
    "$OVS" appctl upcall/disable-megaflows >/dev/null
    "$OVS" appctl dpctl/del-flows >/dev/null
    sleep 1
    "$OVS" appctl dpif-netdev/pmd-stats-clear >/dev/null
    run_traffic "ovs-$n-exact"
    "$OVS" appctl dpif-netdev/pmd-perf-show >"$pre.exact.pmd-perf.txt" 2>&1
    "$OVS" appctl dpif-netdev/pmd-stats-show >"$pre.exact.pmd-stats.txt" 2>&1
    "$OVS" appctl upcall/enable-megaflows >/dev/null
    upc2=$(awk -F: '/miss with success upcall/{gsub(/ /,"",$2); s+=$2} END{print s+0}' "$pre.exact.pmd-stats.txt")
    us2=$(grep -m1 'Upcalls:' "$pre.exact.pmd-perf.txt" | grep -o '[0-9.]* us/upcall' | awk '{print $1}')
    RESULTS+=("$(printf '%-7s %-4s %7s %7.2f %10s %10s %8s %10s %12s %10s %8s' "$n" ovs "$loaded" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$(cat "$OUT/ovs-$n.sink")" "$rx" "$upc" "${us:--}" \
        "$mf/$masks" "$upc2" "${us2:--}")")
    {
        echo "=== OVS, $n rules ($SHAPE), $FLOWS flows, ${SECS}s: ovs-appctl upcall/show"
        cat "$pre.upcall-show.txt"
        echo "=== dpif-netdev/pmd-stats-show"
        cat "$pre.pmd-stats.txt"
        echo "=== dpif-netdev/pmd-perf-show (head)"
        head -28 "$pre.pmd-perf.txt"
        echo "=== with upcall/disable-megaflows: dpif-netdev/pmd-stats-show"
        cat "$pre.exact.pmd-stats.txt"
        echo "=== with upcall/disable-megaflows: dpif-netdev/pmd-perf-show (head)"
        head -28 "$pre.exact.pmd-perf.txt"
    } >>"$OUT/report.txt"
    "$OVS" stop >/dev/null 2>&1
}

run_xvs() { # N
    local n=$1 f=$OUT/rules-$SHAPE-$1.txt t0 t1 pre=$OUT/xvs-$SHAPE-$1
    rm -f "$SOCK"
    taskset -c "$SW_CPU" "$XVSD" --socket "$SOCK" --cpus "$SW_CPU" --no-state >"$pre.xvsd.log" 2>&1 &
    XVSD_PID=$!
    local i
    for i in $(seq 100); do [ -S "$SOCK" ] && "$XVSCTL" --socket "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
    local c="$XVSCTL --socket $SOCK"
    $c add-br br0 fail_mode=secure || die "xvsctl add-br failed (see $pre.xvsd.log)"
    $c add-port br0 "$SW_IN" ofport=1 || die "xvsctl add-port $SW_IN failed"
    $c add-port br0 "$SW_OUT" ofport=2 || die "xvsctl add-port $SW_OUT failed"
    t0=$(date +%s.%N)
    $c add-flows br0 "$f" >/dev/null || die "xvsctl add-flows $f failed"
    t1=$(date +%s.%N)
    local loaded; loaded=$($c dump-flows br0 | grep -c 'actions=')
    sleep 1
    local before; before=$($c pmd-stats)
    run_traffic "xvs-$n"
    $c pmd-stats >"$pre.pmd-stats.txt"
    $c dump-megaflows >"$pre.megaflows.txt"
    local mf upc us rx upc0
    mf=$(awk -F: '/  megaflows:/{s+=$2} END{print s+0}' "$pre.pmd-stats.txt")
    # "misses (upcalls): N (avg X us per upcall)", cumulative: subtract the idle reading.
    upc=$(grep -o 'misses (upcalls): [0-9]*' "$pre.pmd-stats.txt" | awk '{s+=$3} END{print s+0}')
    upc0=$(echo "$before" | grep -o 'misses (upcalls): [0-9]*' | awk '{s+=$3} END{print s+0}')
    us=$(grep -o 'avg [0-9.]* us per upcall' "$pre.pmd-stats.txt" | head -1 | awk '{print $2}')
    rx=$(awk -F: '/packets received/{s+=$2} END{print s+0}' "$pre.pmd-stats.txt")
    RESULTS+=("$(printf '%-7s %-4s %7s %7.2f %10s %10s %8s %10s %12s %10s %8s' "$n" xvs "$loaded" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$(cat "$OUT/xvs-$n.sink")" "$rx" "$((upc - upc0))" "${us:--}" \
        "$mf/-" - -)")
    {
        echo "=== xvs, $n rules ($SHAPE), $FLOWS flows, ${SECS}s: xvsctl pmd-stats"
        cat "$pre.pmd-stats.txt"
    } >>"$OUT/report.txt"
    kill "$XVSD_PID"; wait "$XVSD_PID" 2>/dev/null; XVSD_PID=
}

: >"$OUT/report.txt"
for n in $SIZES; do
    log "$n rules ($SHAPE): Open vSwitch"
    run_ovs "$n"
    if [ "$XVS" = 1 ]; then
        log "$n rules ($SHAPE): xvsd"
        run_xvs "$n"
    fi
done

cat "$OUT/report.txt"
echo
echo "classifier miss cost: $SHAPE rules in table 0 + priority=0,actions=output:2; $FLOWS generator flows (UDP dst ports), ${SECS}s each"
printf '%-7s %-4s %7s %7s %10s %10s %8s %10s %12s %10s %8s\n' rules sw loaded load_s sink_pkts pmd_rx upcalls us/upcall mflows/masks exact:upc us/upcall
printf '%s\n' "${RESULTS[@]}"
echo "(upcalls: OVS 'miss with success upcall' (pmd-stats-show), us/upcall from pmd-perf-show; xvs: misses and"
echo " 'us per upcall' of xvsctl pmd-stats. mflows = datapath flows after the run, masks = distinct OVS masks."
echo " exact: a second OVS run with upcall/disable-megaflows, where every flow is an upcall. xvs's per-upcall"
echo " cost over many upcalls: cargo bench -p xvs-bench --bench classifier -- upcall_gen. Raw output in $OUT.)"
