#!/bin/bash
# Soak: run xvsd for a long time at the generator's maximum rate while flows churn
# (thousands of flow-mods per second) and a port is added and removed over and over,
# then check that nothing leaked and every packet is accounted for.
#
#   sudo scripts/soak.sh [SECONDS]          (default 600)
#
# Topology and traffic: the team's peer scripts (../shared/peers, or XVS_PEERS):
# generator netns -> xvsp0 -> xvsd -> xvsp1 -> sink netns, FLOWS UDP flows (100).
# Checks, printed at the end:
#   - xvsd is still running and answering;
#   - resident memory at start (after warm-up) and end;
#   - flow-mods applied;
#   - packets in = packets out + counted drops (by reason), from xvsd's counters, once
#     traffic has stopped;
#   - no leaked UMEM frames: free + on kernel rings = all frames of the worker;
#   - flow-install latency (add-flow round trip) while the worker is saturated.
# No `set -e`: the peer scripts' helpers (topo_down, gen_stop) run commands that may
# fail on purpose; the steps that must work are checked one by one.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS=${XVS_PEERS:-$ROOT/../shared/peers}
DURATION=${1:-600}
FLOWS=${FLOWS:-100}
[ -x "$PEERS/topo.sh" ] || { echo "peer scripts not found in $PEERS (set XVS_PEERS)" >&2; exit 1; }
. "$ROOT/scripts/setup.sh" || exit 1
set +e  # setup.sh turns -e on
"$PEERS/build-libxdp.sh" >/dev/null || exit 1
(cd "$ROOT" && cargo build --release -p xvs --bins -q) || exit 1
export GEN_CPU=${GEN_CPU:-0} SW_CPU=${SW_CPU:-1}
. "$PEERS/lib.sh"
XVSD=$ROOT/target/release/xvsd
SOCK=/run/xvs-soak/xvsd.sock
OUT=/run/xvs-soak
mkdir -p "$OUT"
rm -f "$OUT/flowmods" "$OUT/portcycles" "$OUT/install-latency.txt"
C() { "$ROOT/target/release/xvsctl" --socket "$SOCK" "$@"; }
XVSD_PID= CHURN_PID= PORTS_PID=
EXTRA_NS=xvssoakx
cleanup() {
    [ -n "$CHURN_PID" ] && kill "$CHURN_PID" 2>/dev/null
    [ -n "$PORTS_PID" ] && kill "$PORTS_PID" 2>/dev/null
    gen_stop
    [ -n "$XVSD_PID" ] && { kill "$XVSD_PID" 2>/dev/null; wait "$XVSD_PID" 2>/dev/null || true; }
    ip netns del "$EXTRA_NS" 2>/dev/null || true
    ip link del xvssoak0 2>/dev/null || true
    topo_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_tools || exit 1
topo_up
ip link show "$SW_IN" >/dev/null && ip link show "$SW_OUT" >/dev/null || { echo "topology did not come up" >&2; exit 1; }
taskset -c "$SW_CPU" "$XVSD" --socket "$SOCK" --cpus "$SW_CPU" --no-state >"$OUT/xvsd.log" 2>&1 &
XVSD_PID=$!
for _ in $(seq 50); do C version >/dev/null 2>&1 && break; sleep 0.1; done
C add-br br0 fail_mode=secure || exit 1
C add-port br0 "$SW_IN" ofport=1 || exit 1
C add-port br0 "$SW_OUT" ofport=2 || exit 1
C add-flow br0 "priority=1,in_port=1,actions=output:2" || exit 1

# Churn: 1000 flows in (one of them drops a generator flow), then out, ten times a second.
python3 - "$OUT/churn.txt" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        f.write("cookie=0x5,priority=%d,udp,tp_dst=%d,actions=drop\n" % (5 + i % 3, 10000 + i * 7))
EOF
(
    n=0
    while true; do
        C add-flows br0 "$OUT/churn.txt" >/dev/null
        C del-flows br0 "cookie=0x5/-1"
        n=$((n + 2000))
        echo "$n" >"$OUT/flowmods"
        sleep 0.1   # ~20,000 flow-mods/s: churn, not a control-plane DoS
    done
) &
CHURN_PID=$!

# Port churn: a third port comes and goes.
(
    ip netns add "$EXTRA_NS"
    while true; do
        ip link add xvssoak0 type veth peer name eth0 netns "$EXTRA_NS" 2>/dev/null
        ip link set xvssoak0 up; ip -n "$EXTRA_NS" link set eth0 up
        C add-port br0 xvssoak0 ofport=3 >/dev/null 2>&1
        sleep 5
        C del-port br0 xvssoak0 >/dev/null 2>&1
        ip link del xvssoak0 2>/dev/null
        echo $(( $(cat "$OUT/portcycles" 2>/dev/null || echo 0) + 1 )) >"$OUT/portcycles"
        sleep 5
    done
) &
PORTS_PID=$!

gen_start "$FLOWS"
sleep 10
rss0=$(awk '/VmRSS/{print $2}' /proc/$XVSD_PID/status)
sink0=$(sink_count)
t0=$(date +%s)
while [ $(( $(date +%s) - t0 )) -lt "$DURATION" ]; do
    sleep 30
    kill -0 "$XVSD_PID" || { echo "xvsd died"; tail -20 "$OUT/xvsd.log"; exit 1; }
    echo "[$(( $(date +%s) - t0 ))s] rss=$(awk '/VmRSS/{print $2}' /proc/$XVSD_PID/status) kB flowmods=$(cat "$OUT/flowmods" 2>/dev/null) port_cycles=$(cat "$OUT/portcycles" 2>/dev/null)"
done
sink1=$(sink_count)
elapsed=$(( $(date +%s) - t0 ))
kill "$CHURN_PID" "$PORTS_PID" 2>/dev/null; wait "$CHURN_PID" "$PORTS_PID" 2>/dev/null || true
CHURN_PID= PORTS_PID=
# Flow-install latency with the worker saturated (the generator still runs): one
# add-flow request at a time, from sending it to xvsd's reply (which comes once the
# new pipeline is published to the workers), then its removal.
python3 - "$SOCK" >"$OUT/install-latency.txt" <<'EOF'
import json, socket, sys, time
def call(args):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    t = time.perf_counter()
    s.sendall((json.dumps({"args": args}) + "\n").encode())
    r = b""
    while not r.endswith(b"\n"):
        c = s.recv(65536)
        if not c: break
        r += c
    dt = time.perf_counter() - t
    s.close()
    assert json.loads(r)["ok"], r
    return dt
lat = []
for i in range(500):
    f = "cookie=0x77,priority=50,udp,tp_dst=%d,actions=drop" % (40000 + i)
    lat.append(call(["add-flow", "br0", f]))
    call(["del-flows", "--strict", "br0", "priority=50,udp,tp_dst=%d" % (40000 + i)])
lat.sort()
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1e6
print(f"flow-install latency under load (500 add-flow): median {q(0.5):.0f} us, p99 {q(0.99):.0f} us, max {lat[-1]*1e6:.0f} us")
EOF
gen_stop
C del-port br0 xvssoak0 >/dev/null 2>&1 || true
sleep 2
rss1=$(awk '/VmRSS/{print $2}' /proc/$XVSD_PID/status)
C pmd-stats >"$OUT/pmd-stats.txt"
C dump-ports br0 >"$OUT/dump-ports.txt"
cat "$OUT/pmd-stats.txt" "$OUT/dump-ports.txt"
python3 - "$OUT" "$elapsed" "$rss0" "$rss1" "$sink0" "$sink1" <<'EOF'
import re, sys
out, elapsed, rss0, rss1, s0, s1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
pmd = open(out + "/pmd-stats.txt").read()
ports = open(out + "/dump-ports.txt").read()
rx = sum(int(x) for x in re.findall(r"rx pkts=(\d+)", ports))
tx = sum(int(x) for x in re.findall(r"tx pkts=(\d+)", ports))
drops = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", pmd.split("drops:")[1].splitlines()[0])) if "drops: none" not in pmd else {}
received = int(re.search(r"packets received: (\d+)", pmd).group(1))
free, held, total = map(int, re.search(r"umem frames: (\d+) free, (\d+) on kernel rings, (\d+) total", pmd).groups())
flowmods = open(out + "/flowmods").read().strip()
cycles = open(out + "/portcycles").read().strip()
print("\n== soak summary ==")
print(f"duration: {elapsed} s, flow-mods applied: {flowmods}, port add/remove cycles: {cycles}")
print(f"packets: received by xvsd {received}, sent {tx}, at sink during the run {s1 - s0} ({(s1 - s0) / elapsed / 1e6:.3f} Mpps)")
print(f"drops by reason: {drops or 'none'}")
print(f"RSS: {rss0} kB after warm-up, {rss1} kB at the end")
print(f"UMEM: {free} free + {held} on kernel rings = {free + held} of {total}")
print(open(out + "/install-latency.txt").read().strip() or "flow-install latency: not measured")
ok = True
if received != tx + sum(drops.values()):
    print(f"MISMATCH: received {received} != sent {tx} + drops {sum(drops.values())}"); ok = False
if free + held != total:
    print("LEAK: UMEM frames missing"); ok = False
if rss1 > rss0 * 1.2 + 4096:
    print("RSS grew by more than 20%"); ok = False
print("soak: " + ("OK" if ok else "FAILED"))
sys.exit(0 if ok else 1)
EOF
