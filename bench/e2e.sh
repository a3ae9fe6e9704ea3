#!/bin/bash
# End-to-end throughput: generator netns --veth--> switch --veth--> sink netns,
# 64-byte UDP frames, Mpps counted at the sink. Measures xvsd and Open vSwitch 3.1
# (userspace datapath, afxdp ports) with the same generator, sink, CPUs and flows in
# one sitting, using the team's peer scripts (../shared/peers), and prints medians and
# the xvs/OVS ratio.
#
# usage: sudo bench/e2e.sh [SCENARIO...]      scenarios: p2p p2p-10k neutron-patch ceiling (default: all)
# env:   SECONDS_PER_RUN (10) RUNS (3) GEN_CPU (0) SW_CPU (1) XVS_PEERS (../shared/peers)
#
#   p2p       in_port=1,actions=output:2                           1 flow
#   p2p-10k   p2p + priority=10,udp,tp_dst=5000,actions=drop       10000 flows (UDP dst ports)
#   neutron-patch  br-int (mod_vlan_vid:100) -> patch -> br-tun (tables 0 -> 2 -> 20:
#             strip_vlan, set_tunnel, output) -> the uplink; the agent's br-tun shape
#             without encapsulation (xvs has no tunnel ports yet), same flows in OVS
#   ceiling   the bare AF_XDP copy-mode forwarder (no switch logic)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${XVS_PEERS:-$ROOT/../shared/peers}
[ -x "$PEERS/topo.sh" ] || { echo "peer scripts not found in $PEERS (set XVS_PEERS)" >&2; exit 1; }
export SECONDS_PER_RUN=${SECONDS_PER_RUN:-10} RUNS=${RUNS:-3} GEN_CPU=${GEN_CPU:-0} SW_CPU=${SW_CPU:-1}
SCENARIOS=${*:-p2p p2p-10k neutron-patch ceiling}

. "$ROOT/scripts/setup.sh"
"$PEERS/build-libxdp.sh" >/dev/null
(cd "$ROOT" && cargo build --release -p xvs --bins -q)
XVSD=$ROOT/target/release/xvsd
XVSCTL=$ROOT/target/release/xvsctl
SOCK=/run/xvs-bench/xvsd.sock
OUT=/run/xvs-bench
mkdir -p "$OUT"
XVSD_PID=

cleanup() {
    if [ -n "$XVSD_PID" ]; then kill "$XVSD_PID" 2>/dev/null; wait "$XVSD_PID" 2>/dev/null || true; fi
    "$PEERS/topo.sh" down >/dev/null 2>&1 || true
    "$PEERS/ovs.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

median() { grep -o 'median=[0-9.]*' | cut -d= -f2; }

run_xvs() { # FLOWS EXTRA_FLOW...
    local flows=$1; shift
    eval "$("$PEERS/topo.sh" up 2>/dev/null | tail -1)"
    taskset -c "$SW_CPU" "$XVSD" --socket "$SOCK" --cpus "$SW_CPU" --no-state >"$OUT/xvsd.log" 2>&1 &
    XVSD_PID=$!
    for _ in $(seq 50); do [ -S "$SOCK" ] && "$XVSCTL" --socket "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
    local c="$XVSCTL --socket $SOCK"
    $c add-br br0 fail_mode=secure
    $c add-port br0 "$SW_IN" ofport=1
    $c add-port br0 "$SW_OUT" ofport=2
    $c add-flow br0 "priority=1,in_port=1,actions=output:2"
    local f
    for f in "$@"; do $c add-flow br0 "$f"; done
    "$PEERS/measure.sh" "$flows" "$SECONDS_PER_RUN" "$RUNS" 2>"$OUT/xvs-measure.log" | tee "$OUT/xvs-result.txt" | median
    $c pmd-stats >"$OUT/xvs-pmd-stats.txt"
    $c dump-megaflows | head -5 >>"$OUT/xvs-pmd-stats.txt"
    kill "$XVSD_PID"; wait "$XVSD_PID" 2>/dev/null || true; XVSD_PID=
    "$PEERS/topo.sh" down >/dev/null 2>&1
}

# Neutron's br-int -> patch -> br-tun, in OVS and in xvs. $1: "xvs" or "ovs".
neutron_flows() {
    local sink_mac=$1
    INT_FLOWS="table=0,priority=10,in_port=1,actions=mod_vlan_vid:100,output:2"
    TUN_FLOWS="table=0,priority=1,in_port=1,actions=resubmit(,2)
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)
table=20,priority=2,dl_vlan=100,dl_dst=$sink_mac,actions=strip_vlan,set_tunnel:0x64,output:2"
}

run_xvs_neutron() {
    eval "$("$PEERS/topo.sh" up 2>/dev/null | tail -1)"
    neutron_flows "$SINK_MAC"
    taskset -c "$SW_CPU" "$XVSD" --socket "$SOCK" --cpus "$SW_CPU" --no-state >"$OUT/xvsd.log" 2>&1 &
    XVSD_PID=$!
    for _ in $(seq 50); do [ -S "$SOCK" ] && "$XVSCTL" --socket "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
    local c="$XVSCTL --socket $SOCK"
    $c add-br br-int fail_mode=secure
    $c add-br br-tun fail_mode=secure
    $c add-port br-int "$SW_IN" ofport=1 tag=100
    $c add-port br-int patch-tun type=patch options:peer=patch-int ofport=2
    $c add-port br-tun patch-int type=patch options:peer=patch-tun ofport=1
    $c add-port br-tun "$SW_OUT" ofport=2
    echo "$INT_FLOWS" | $c add-flows br-int - >/dev/null
    echo "$TUN_FLOWS" | $c add-flows br-tun - >/dev/null
    "$PEERS/measure.sh" 1 "$SECONDS_PER_RUN" "$RUNS" 2>"$OUT/xvs-measure.log" | tee "$OUT/xvs-result.txt" | median
    $c pmd-stats >"$OUT/xvs-pmd-stats.txt"
    $c dump-megaflows | head -5 >>"$OUT/xvs-pmd-stats.txt"
    kill "$XVSD_PID"; wait "$XVSD_PID" 2>/dev/null || true; XVSD_PID=
    "$PEERS/topo.sh" down >/dev/null 2>&1
}

run_ovs_neutron() {
    eval "$("$PEERS/topo.sh" up 2>/dev/null | tail -1)"
    neutron_flows "$SINK_MAC"
    local O="$PEERS/ovs.sh"
    "$O" start >/dev/null 2>&1
    afx() { "$O" vsctl add-port "$1" "$2" -- set interface "$2" type=afxdp ofport_request="$3" options:xdp-mode=native options:use-need-wakeup=true; }
    "$O" vsctl add-br br-int -- set bridge br-int datapath_type=netdev fail_mode=secure
    "$O" vsctl add-br br-tun -- set bridge br-tun datapath_type=netdev fail_mode=secure
    afx br-int "$SW_IN" 1
    "$O" vsctl set port "$SW_IN" tag=100
    "$O" vsctl add-port br-int patch-tun -- set interface patch-tun type=patch options:peer=patch-int ofport_request=2
    "$O" vsctl add-port br-tun patch-int -- set interface patch-int type=patch options:peer=patch-tun ofport_request=1
    afx br-tun "$SW_OUT" 2
    "$O" ofctl del-flows br-int; "$O" ofctl del-flows br-tun
    echo "$INT_FLOWS" | "$O" ofctl add-flows br-int -
    echo "$TUN_FLOWS" | "$O" ofctl add-flows br-tun -
    sleep 1
    "$PEERS/measure.sh" 1 "$SECONDS_PER_RUN" "$RUNS" 2>"$OUT/ovs-neutron-measure.log" | median
    "$O" appctl dpctl/dump-flows >"$OUT/ovs-neutron-flows.txt" 2>&1
    "$O" stop >/dev/null 2>&1
    "$PEERS/topo.sh" down >/dev/null 2>&1
}

run_peer() { # SCENARIO [FLOWS]
    local s=$1
    FLOWS=${2:-} "$PEERS/bench-ovs.sh" "$s" 2>"$OUT/peer-$s.log" | median
}

printf '%-10s %10s %10s %8s\n' scenario xvs_mpps peer_mpps ratio
for s in $SCENARIOS; do
    case $s in
        p2p) x=$(run_xvs 1); o=$(run_peer p2p) ;;
        p2p-10k) x=$(run_xvs 10000 "priority=10,udp,tp_dst=5000,actions=drop"); o=$(run_peer p2p-acl 10000) ;;
        neutron-patch) x=$(run_xvs_neutron); o=$(run_ovs_neutron) ;;
        ceiling) x=-; o=$(run_peer ceiling) ;;
        *) echo "unknown scenario $s" >&2; exit 1 ;;
    esac
    r=$(awk -v x="$x" -v o="$o" 'BEGIN{ if (x == "-" || o == 0) print "-"; else printf "%.3f", x/o }')
    printf '%-10s %10s %10s %8s\n' "$s" "$x" "$o" "$r"
done
echo "(medians of $RUNS runs x ${SECONDS_PER_RUN}s; peer = OVS $(ovs-vswitchd --version | awk 'NR==1{print $NF}') afxdp, or xsk_fwd for ceiling; details in $OUT)"
