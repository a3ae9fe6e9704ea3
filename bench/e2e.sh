#!/bin/bash
# End-to-end throughput: generator netns --veth--> switch --veth--> sink netns,
# 64-byte UDP frames, Mpps counted at the sink. Measures xvsd and Open vSwitch 3.1
# (userspace datapath, afxdp ports) with the same generator, sink, CPUs and flows in
# one sitting, using the team's peer scripts (../shared/peers), and prints medians and
# the xvs/OVS ratio.
#
# usage: sudo bench/e2e.sh [SCENARIO...]      scenarios: p2p p2p-10k neutron-patch ceiling
#                                             vxlan-encap vxlan-decap (default: the first four)
# env:   SECONDS_PER_RUN (10) RUNS (3) GEN_CPU (0) SW_CPU (1) XVS_PEERS (../shared/peers)
#        FLOWS ("1 10000": the flow counts the vxlan scenarios run with)
#
#   p2p       in_port=1,actions=output:2                           1 flow
#   p2p-10k   p2p + priority=10,udp,tp_dst=5000,actions=drop       10000 flows (UDP dst ports)
#   neutron-patch  br-int (mod_vlan_vid:100) -> patch -> br-tun (tables 0 -> 2 -> 20:
#             strip_vlan, set_tunnel, output) -> the uplink; the agent's br-tun shape
#             without encapsulation (xvs has no tunnel ports yet), same flows in OVS
#   ceiling   the bare AF_XDP copy-mode forwarder (no switch logic)
#   vxlan-encap  native VXLAN encapsulation: generator -> SW_IN (VM port on br-int, tag 100,
#             mod_vlan_vid) -> patch -> br-tun (strip_vlan, set_tunnel:0x64, output vxlan0)
#             -> tnl_push -> br-phy (LOCAL holds 10.89.0.1/24) -> SW_OUT (uplink) -> sink
#             counts the 110-byte (+FCS) VXLAN frames; the next hop 10.89.0.2 = the sink's
#             MAC is set statically (xvsctl tnl-neigh-set / ovs-appctl tnl/neigh/set)
#   vxlan-decap  VXLAN decapsulation: xvs-pktgen --vxlan sends VNI 100 packets from
#             10.89.0.2 to br-phy's MAC and 10.89.0.1 (inner: the usual 64-byte frame, the
#             flows vary the inner UDP port) -> SW_IN (uplink on br-phy: in_port=1,NORMAL)
#             -> tnl_pop -> br-tun (in_port=vxlan0,tun_id=0x64: mod_vlan_vid:100, patch)
#             -> br-int (strip_vlan) -> SW_OUT (VM port) -> sink counts the inner frames
#             Both vxlan scenarios run xvs and OVS alternately run by run (xvs, OVS, xvs,
#             ...), each run on a fresh topology and switch, with the same generator
#             (xvs-pktgen --mode xdp), frames, flows and tunnel ports; they print per-run
#             Mpps and xvs/OVS ratios, then median/min/max of each, and cycles/packet from
#             xvsd's pmd-stats and OVS's pmd-stats-show (medians over the runs).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PEERS=${XVS_PEERS:-$ROOT/../shared/peers}
[ -x "$PEERS/topo.sh" ] || { echo "peer scripts not found in $PEERS (set XVS_PEERS)" >&2; exit 1; }
export SECONDS_PER_RUN=${SECONDS_PER_RUN:-10} RUNS=${RUNS:-3} GEN_CPU=${GEN_CPU:-0} SW_CPU=${SW_CPU:-1}
SCENARIOS=${*:-p2p p2p-10k neutron-patch ceiling}

. "$ROOT/scripts/setup.sh"
"$PEERS/build-libxdp.sh" >/dev/null
(cd "$ROOT" && cargo build --release -p xvs --bins -q && cargo build --release -p xvs-tools --bin xvs-pktgen -q)
XVSD=$ROOT/target/release/xvsd
XVSCTL=$ROOT/target/release/xvsctl
PKTGEN=$ROOT/target/release/xvs-pktgen
SOCK=/run/xvs-bench/xvsd.sock
OUT=/run/xvs-bench
mkdir -p "$OUT"
XVSD_PID=

GEN_PID=
cleanup() {
    if [ -n "$GEN_PID" ]; then kill -INT "$GEN_PID" 2>/dev/null; wait "$GEN_PID" 2>/dev/null || true; fi
    if [ -n "$XVSD_PID" ]; then kill "$XVSD_PID" 2>/dev/null; wait "$XVSD_PID" 2>/dev/null || true; fi
    for d in br-int br-tun br-phy; do ip link del "$d" 2>/dev/null || true; done
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

# ---------------------------------------------------------------- VXLAN (native tunneling)
TUN_LOCAL=10.89.0.1
TUN_REMOTE=10.89.0.2
VNI=100

# The same flows in xvs and OVS. $1: encap|decap. Ports: br-int 1 = VM port (tag 100),
# 2 = patch-tun; br-tun 1 = patch-int, 2 = vxlan0; br-phy 1 = the uplink.
tunnel_flows() {
    if [ "$1" = encap ]; then
        INT_FLOWS="table=0,priority=10,in_port=1,actions=mod_vlan_vid:100,output:2"
        TUN_FLOWS="table=0,priority=1,in_port=1,actions=resubmit(,2)
table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)
table=20,priority=2,dl_vlan=100,dl_dst=$SINK_MAC,actions=strip_vlan,set_tunnel:0x64,output:2"
        PHY_FLOWS="priority=1,in_port=LOCAL,actions=output:1"
    else
        INT_FLOWS="table=0,priority=10,in_port=2,dl_vlan=100,actions=strip_vlan,output:1"
        TUN_FLOWS="table=0,priority=1,in_port=2,actions=resubmit(,4)
table=4,priority=1,tun_id=0x64,actions=mod_vlan_vid:100,output:1"
        # NORMAL floods to LOCAL (nothing learned there), where the tunnel terminates.
        PHY_FLOWS="priority=1,in_port=1,actions=NORMAL"
    fi
}

# br-phy's kernel netdev (either switch's): the tunnel source address, up, no IPv6.
# xvs reads routes from the kernel (connected route); OVS gets its route with
# ovs/route/add below, so there the address has no kernel route (as in the peers).
underlay_addr() { # noprefixroute|""
    for _ in $(seq 50); do ip link show br-phy >/dev/null 2>&1 && break; sleep 0.1; done
    sysctl -qw net.ipv6.conf.br-phy.disable_ipv6=1 2>/dev/null || true
    ip addr add "$TUN_LOCAL/24" dev br-phy $1
    ip link set br-phy up
}

setup_xvs_tunnel() { # encap|decap VM_PORT UPLINK
    local dir=$1 vm=$2 up=$3
    taskset -c "$SW_CPU" "$XVSD" --socket "$SOCK" --cpus "$SW_CPU" --no-state >"$OUT/xvsd.log" 2>&1 &
    XVSD_PID=$!
    for _ in $(seq 50); do [ -S "$SOCK" ] && "$XVSCTL" --socket "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
    local c="$XVSCTL --socket $SOCK"
    $c add-br br-int fail_mode=secure
    $c add-br br-tun fail_mode=secure
    $c add-br br-phy fail_mode=secure
    $c add-port br-int "$vm" ofport=1 tag=100
    $c add-port br-int patch-tun type=patch options:peer=patch-int ofport=2
    $c add-port br-tun patch-int type=patch options:peer=patch-tun ofport=1
    $c add-port br-tun vxlan0 type=vxlan ofport=2 options:remote_ip=$TUN_REMOTE \
        options:local_ip=$TUN_LOCAL options:key=flow options:dst_port=4789
    $c add-port br-phy "$up" ofport=1
    underlay_addr ""
    $c tnl-neigh-set br-phy $TUN_REMOTE "$SINK_MAC" >/dev/null
    echo "$INT_FLOWS" | $c add-flows br-int - >/dev/null
    echo "$TUN_FLOWS" | $c add-flows br-tun - >/dev/null
    echo "$PHY_FLOWS" | $c add-flows br-phy - >/dev/null
    # The route and br-phy's address come from the kernel: wait until xvsd has them.
    for _ in $(seq 50); do $c tnl-route-show 2>/dev/null | grep -q "${TUN_LOCAL%.*}" && break; sleep 0.1; done
}

setup_ovs_tunnel() { # encap|decap VM_PORT UPLINK
    local dir=$1 vm=$2 up=$3 O="$PEERS/ovs.sh"
    "$O" start >/dev/null 2>&1
    afx() { "$O" vsctl add-port "$1" "$2" -- set interface "$2" type=afxdp ofport_request="$3" options:xdp-mode=native options:use-need-wakeup=true; }
    local br
    for br in br-int br-tun br-phy; do
        "$O" vsctl add-br $br -- set bridge $br datapath_type=netdev fail_mode=secure
    done
    afx br-int "$vm" 1
    "$O" vsctl set port "$vm" tag=100
    "$O" vsctl add-port br-int patch-tun -- set interface patch-tun type=patch options:peer=patch-int ofport_request=2
    "$O" vsctl add-port br-tun patch-int -- set interface patch-int type=patch options:peer=patch-tun ofport_request=1
    "$O" vsctl add-port br-tun vxlan0 -- set interface vxlan0 type=vxlan ofport_request=2 \
        options:remote_ip=$TUN_REMOTE options:local_ip=$TUN_LOCAL options:key=flow options:dst_port=4789
    afx br-phy "$up" 1
    underlay_addr noprefixroute
    "$O" appctl ovs/route/add $TUN_REMOTE/32 br-phy >/dev/null
    "$O" appctl tnl/neigh/set br-phy $TUN_REMOTE "$SINK_MAC" >/dev/null
    for br in br-int br-tun br-phy; do "$O" ofctl del-flows $br; done
    echo "$INT_FLOWS" | "$O" ofctl add-flows br-int -
    echo "$TUN_FLOWS" | "$O" ofctl add-flows br-tun -
    echo "$PHY_FLOWS" | "$O" ofctl add-flows br-phy -
    sleep 1
}

# One measurement: xvs-pktgen (XDP live frames) in the generator namespace, 2 s
# warm-up, sink count over SECONDS_PER_RUN. Prints Mpps.
measure_pktgen() { # FLOWS [xvs-pktgen tx args...]
    local flows=$1 a b t0 t1; shift
    ip netns exec "$GEN_NS" taskset -c "$GEN_CPU" "$PKTGEN" tx --mode xdp --cpu "$GEN_CPU" --dev g0 \
        --src-mac "$GEN_MAC" --dst-mac "$SINK_MAC" --src-ip "$GEN_IP" --dst-ip "$SINK_IP" \
        --src-port 9 --dst-port 10000 --flows "$flows" --size 60 "$@" >"$OUT/pktgen.log" 2>&1 &
    GEN_PID=$!
    sleep 2
    kill -0 "$GEN_PID" 2>/dev/null || { cat "$OUT/pktgen.log" >&2; echo "generator failed" >&2; return 1; }
    a=$("$PEERS/topo.sh" count); t0=$(date +%s.%N)
    sleep "$SECONDS_PER_RUN"
    b=$("$PEERS/topo.sh" count); t1=$(date +%s.%N)
    kill -INT "$GEN_PID" 2>/dev/null; wait "$GEN_PID" 2>/dev/null || true; GEN_PID=
    awk -v a="$a" -v b="$b" -v t0="$t0" -v t1="$t1" 'BEGIN{printf "%.3f", (b-a)/(t1-t0)/1e6}'
}

# One run of one switch: fresh topology and switch, one measurement, counters saved.
# Prints "MPPS CYCLES_PER_PACKET".
run_tunnel_once() { # xvs|ovs encap|decap FLOWS TAG
    local sw=$1 dir=$2 flows=$3 tag=$4 vm up mpps cyc phy_mac
    eval "$("$PEERS/topo.sh" up 2>/dev/null | tail -1)"
    if [ "$dir" = encap ]; then vm=$SW_IN up=$SW_OUT; else vm=$SW_OUT up=$SW_IN; fi
    tunnel_flows "$dir"
    if [ "$sw" = xvs ]; then setup_xvs_tunnel "$dir" "$vm" "$up"; else setup_ovs_tunnel "$dir" "$vm" "$up"; fi
    local gen_args=()
    if [ "$dir" = decap ]; then
        phy_mac=$(cat /sys/class/net/br-phy/address)
        gen_args=(--vxlan "$VNI,$TUN_REMOTE,$TUN_LOCAL,$phy_mac")
    fi
    mpps=$(measure_pktgen "$flows" "${gen_args[@]}")
    if [ "$sw" = xvs ]; then
        local c="$XVSCTL --socket $SOCK"
        { $c pmd-stats; $c dump-megaflows | head -5; $c tnl-neigh-show; } >"$OUT/$tag-xvs.txt" 2>&1 || true
        cyc=$(grep -o '[0-9]* cycles ([0-9.]* ns) per packet' "$OUT/$tag-xvs.txt" | head -1 | awk '{print $1}')
        kill "$XVSD_PID"; wait "$XVSD_PID" 2>/dev/null || true; XVSD_PID=
    else
        local O="$PEERS/ovs.sh"
        { "$O" appctl dpif-netdev/pmd-stats-show; "$O" appctl dpctl/dump-flows; } >"$OUT/$tag-ovs.txt" 2>&1 || true
        cyc=$(grep -o 'avg processing cycles per packet: [0-9.]*' "$OUT/$tag-ovs.txt" | head -1 | awk '{print $NF}')
        "$O" stop >/dev/null 2>&1 || true
    fi
    for d in br-int br-tun br-phy; do ip link del "$d" 2>/dev/null || true; done
    "$PEERS/topo.sh" down >/dev/null 2>&1
    echo "$mpps ${cyc:--}"
}

# median/min/max of numbers on stdin: "median min max"
stats3() { sort -g | awk '{v[NR]=$1} END{ if (NR == 0) print "- - -"; else printf "%s %s %s\n", v[int((NR+1)/2)], v[1], v[NR] }'; }

# Interleaved xvs/OVS runs of one tunnel scenario; prints per-run lines and a summary.
run_tunnel() { # encap|decap FLOWS
    local dir=$1 flows=$2 r x o xc oc xs=() os=() rs=() xcs=() ocs=()
    local name="vxlan-$dir/$flows"
    for r in $(seq 1 "$RUNS"); do
        read -r x xc < <(run_tunnel_once xvs "$dir" "$flows" "vxlan-$dir-$flows-run$r")
        read -r o oc < <(run_tunnel_once ovs "$dir" "$flows" "vxlan-$dir-$flows-run$r")
        local ratio
        ratio=$(awk -v x="$x" -v o="$o" 'BEGIN{ if (o == 0) print "-"; else printf "%.3f", x/o }')
        printf '  %-20s run %d: xvs %s Mpps (%s cyc/pkt)  OVS %s Mpps (%s cyc/pkt)  ratio %s\n' \
            "$name" "$r" "$x" "$xc" "$o" "$oc" "$ratio" >&2
        xs+=("$x"); os+=("$o"); rs+=("$ratio"); xcs+=("$xc"); ocs+=("$oc")
    done
    local X O R XC OC
    X=$(printf '%s\n' "${xs[@]}" | stats3); O=$(printf '%s\n' "${os[@]}" | stats3)
    R=$(printf '%s\n' "${rs[@]}" | grep -v '^-$' | stats3)
    XC=$(printf '%s\n' "${xcs[@]}" | grep -v '^-$' | stats3 | cut -d' ' -f1)
    OC=$(printf '%s\n' "${ocs[@]}" | grep -v '^-$' | stats3 | cut -d' ' -f1)
    set -- $X; local xm=$1 xmin=$2 xmax=$3
    set -- $O; local om=$1 omin=$2 omax=$3
    set -- $R; local rm=$1 rmin=$2 rmax=$3
    printf '%-20s xvs median=%s min=%s max=%s | OVS median=%s min=%s max=%s | ratio median=%s min=%s max=%s | cyc/pkt xvs=%s OVS=%s\n' \
        "$name" "$xm" "$xmin" "$xmax" "$om" "$omin" "$omax" "$rm" "$rmin" "$rmax" "$XC" "$OC" | tee -a "$OUT/vxlan-summary.txt"
}

run_peer() { # SCENARIO [FLOWS]
    local s=$1
    FLOWS=${2:-} "$PEERS/bench-ovs.sh" "$s" 2>"$OUT/peer-$s.log" | median
}

TUNNEL_FLOWS=${FLOWS:-1 10000}
header=
for s in $SCENARIOS; do
    case $s in
        vxlan-encap | vxlan-decap)
            echo "== $s (flows: $TUNNEL_FLOWS; $RUNS interleaved run pairs x ${SECONDS_PER_RUN}s; load: $(cut -d' ' -f1-3 /proc/loadavg))"
            for f in $TUNNEL_FLOWS; do run_tunnel "${s#vxlan-}" "$f"; done
            continue ;;
    esac
    [ -n "$header" ] || { printf '%-10s %10s %10s %8s\n' scenario xvs_mpps peer_mpps ratio; header=1; }
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
