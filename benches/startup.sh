#!/usr/bin/env bash
# benches/startup.sh — process start-up time: `netkit --version` vs `nc -h` and `true`.
#
# What: hyperfine -N (no shell, so the number is the process itself) runs
#   netkit --version      the whole binary: dynamic loading, clap, exit
#   nc -h                 OpenBSD nc printing its usage (a small C tool, for reference)
#   true                  the floor: exec and exit of a minimal program
# in ROUNDS hyperfine sessions with the order rotated, RUNS times each per
# round after WARMUP warm-up runs, and prints medians over all runs and the ratios.
#
# Target: netkit --version median < 5 ms.
#
# Run:   bash benches/startup.sh
# Knobs: RUNS (100 per round), WARMUP (10), ROUNDS (3), NETKIT (binary path).

source "$(dirname "$0")/tcp_lib.sh"

RUNS=${RUNS:-100}
WARMUP=${WARMUP:-10}
ROUNDS=${ROUNDS:-3}

ensure_netkit
need hyperfine hyperfine
need nc netcat-openbsd

echo "# startup: $ROUNDS rounds of $RUNS runs (+$WARMUP warm-up) each, hyperfine -N"
echo "# netkit: $NETKIT ($(stat -c %s "$NETKIT") bytes, $("$NETKIT" --version)); $(nproc) cores"

# hyperfine runs one command's runs back to back; on a noisy machine a burst of
# load then lands on one command only. So it is run ROUNDS times, rotating the
# order, and the medians are taken over every run of every round.
# -i: nc -h exits non-zero on some builds.
for ((round = 1; round <= ROUNDS; round++)); do
    cmds=(-n "netkit --version" "$NETKIT --version" -n "nc -h" "nc -h" -n "true" "$(command -v true)")
    shift_by=$(((round - 1) % 3 * 3))
    order=("${cmds[@]:shift_by}" "${cmds[@]:0:shift_by}")
    echo "## round $round/$ROUNDS"
    hyperfine -N -i --warmup "$WARMUP" --runs "$RUNS" --style basic \
        --export-json "$BENCH_TMP/startup.$round.json" "${order[@]}" 2>&1 |
        grep -E '^Benchmark|Time \(mean|Range' || true
done
echo

python3 - "$BENCH_TMP"/startup.*.json <<'EOF'
import json, statistics, sys
times = {}
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
med = {k: statistics.median(v) * 1000 for k, v in times.items()}
for name in ("netkit --version", "nc -h", "true"):
    t = times[name]
    print(f"median {name + ':':<18} {med[name]:7.3f} ms   (mean {statistics.mean(t) * 1000:.3f}, min {min(t) * 1000:.3f}, {len(t)} runs)")
print(f"ratio netkit / nc -h (median): {med['netkit --version'] / med['nc -h']:.2f}")
print(f"ratio netkit / true  (median): {med['netkit --version'] / med['true']:.2f}")
ms = med["netkit --version"]
print(f"target netkit --version < 5 ms: {'PASS' if ms < 5 else 'FAIL'} ({ms:.3f} ms)")
EOF
