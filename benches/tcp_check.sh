#!/usr/bin/env bash
# benches/tcp_check.sh — scanning ports 1-10000 on 127.0.0.1: netkit tcp check vs nc -z.
#
# What: hyperfine runs, in alternating rounds,
#   netkit tcp check 127.0.0.1 1-10000      (concurrent non-blocking connects)
#   nc -z 127.0.0.1 1-10000                 (OpenBSD nc: one connect after another)
# with output discarded (-N: no shell in between; -i: both exit non-zero
# when ports are closed or, for nc, none is open). A few listeners are opened
# inside the range first (OPEN_PORTS of them, accepting and closing), and
# before timing the script checks that both tools report the same open ports.
# Prints hyperfine's line per round, the medians over all runs and the ratio
# nc/netkit (> 1 means netkit is faster).
#
# Target: netkit faster than nc -z (ratio > 1).
#
# Run:   bash benches/tcp_check.sh
# Knobs: RANGE (1-10000), RUNS (5 per round), WARMUP (1), ROUNDS (3: hyperfine
#        sessions, alternating which tool goes first), OPEN_PORTS (3), NETKIT (binary path).

source "$(dirname "$0")/tcp_lib.sh"

RANGE=${RANGE:-1-10000}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
ROUNDS=${ROUNDS:-3}
OPEN_PORTS=${OPEN_PORTS:-3}

ensure_netkit
need nc netcat-openbsd
need hyperfine hyperfine
need python3

LO=${RANGE%-*} HI=${RANGE#*-}

# A few open ports inside the range: one python process listening on free
# ports it finds there, accepting and closing whatever connects.
python3 - "$LO" "$HI" "$OPEN_PORTS" >"$BENCH_TMP/open_ports" <<'EOF' &
import random, selectors, socket, sys
lo, hi, want = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
sel, ports = selectors.DefaultSelector(), []
for port in random.sample(range(max(lo, 1024), hi + 1), min(200, hi + 1 - max(lo, 1024))):
    if len(ports) >= want:
        break
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    s.listen(512)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ)
    ports.append(port)
print(" ".join(map(str, sorted(ports))), flush=True)
while True:
    for key, _ in sel.select():
        try:
            conn, _ = key.fileobj.accept()
            conn.close()
        except OSError:
            pass
EOF
track $!
for ((i = 0; i < 500; i++)); do [[ -s $BENCH_TMP/open_ports ]] && break; sleep 0.01; done

echo "# tcp_check: ports $RANGE on 127.0.0.1, $ROUNDS rounds of $RUNS runs (+$WARMUP warm-up) each"
echo "# netkit: $NETKIT ($("$NETKIT" --version)); nc: OpenBSD netcat; $(nproc) cores"
echo "# listeners opened for this run: $(cat "$BENCH_TMP/open_ports")"

# --- correctness: both tools must find the same open ports ---------------------
nk_open=$("$NETKIT" --json tcp check --open 127.0.0.1 "$RANGE" |
    python3 -c 'import json,sys; print(" ".join(sorted((str(e["port"]) for e in map(json.loads, sys.stdin) if e.get("event")=="check" and e.get("state")=="open"), key=int)))' || true)
nc_open=$(nc -zv 127.0.0.1 "$RANGE" 2>&1 | awk '/succeeded/ {print $4}' | sort -n | tr '\n' ' ' | sed 's/ $//' || true)
echo "open ports found by netkit: ${nk_open:-none}"
echo "open ports found by nc -z:  ${nc_open:-none}"
same=yes
[[ $nk_open == "$nc_open" ]] || same=no
for p in $(cat "$BENCH_TMP/open_ports"); do
    [[ " $nk_open " == *" $p "* ]] || { same=no; echo "netkit missed port $p, which this script opened"; }
done
echo "same open ports: $same"
echo

# --- timing ---------------------------------------------------------------------
# hyperfine runs one command's runs back to back; on a noisy machine a burst of
# load then lands on one side only. So it is run ROUNDS times, alternating which
# tool goes first, and the medians are taken over every run of every round.
for ((round = 1; round <= ROUNDS; round++)); do
    nk=(-n netkit "$NETKIT tcp check 127.0.0.1 $RANGE")
    ncz=(-n "nc -z" "nc -z 127.0.0.1 $RANGE")
    if ((round % 2)); then order=("${nk[@]}" "${ncz[@]}"); else order=("${ncz[@]}" "${nk[@]}"); fi
    echo "## round $round/$ROUNDS"
    hyperfine -N -i --warmup "$WARMUP" --runs "$RUNS" --style basic \
        --export-json "$BENCH_TMP/check.$round.json" "${order[@]}" 2>&1 |
        grep -E '^Benchmark|Time \(mean|Range' || true
done
echo

python3 - "$same" "$BENCH_TMP"/check.*.json <<'EOF'
import json, statistics, sys
same, files = sys.argv[1], sys.argv[2:]
times = {}
for f in files:
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
med = {k: statistics.median(v) for k, v in times.items()}
for name in ("netkit", "nc -z"):
    t = times[name]
    print(f"median {name + ':':<8} {med[name] * 1000:8.1f} ms   (min {min(t) * 1000:.1f}, max {max(t) * 1000:.1f}, {len(t)} runs)")
ratio = med["nc -z"] / med["netkit"]
print(f"ratio nc/netkit (median): {ratio:.2f}   (target > 1: netkit faster) -> {'PASS' if ratio > 1 else 'FAIL'}")
print(f"same open ports reported: {same}")
EOF
