#!/usr/bin/env bash
# One message to 10,000 WebSocket clients and 1,000 held long polls at once
# on netkit's chat server (`ws listen --chat`): `netkit bench --mix` keeps
# both groups connected and publishes; each message's last receipt is the
# max latency of its group. Target: the last receipt within 100 ms.
# Knobs: WS (10000), LONG (1000), MESSAGES (5), RATE (2 per second),
# REPS (3). Needs `ulimit -n` above WS + LONG + a few for each process.
set -euo pipefail
cd "$(dirname "$0")/.."
WS=${WS:-10000} LONG=${LONG:-1000} MESSAGES=${MESSAGES:-5} RATE=${RATE:-2} REPS=${REPS:-3}
cargo build --release --quiet
bin=./target/release/netkit
out=$(mktemp)
trap 'kill "$srv" 2>/dev/null || true; rm -f "$out"' EXIT
"$bin" --json ws listen --chat --bind 127.0.0.1 --max-clients 60000 0 >"$out" 2>/dev/null &
srv=$!
until port=$(head -1 "$out" | sed -n 's/.*"port":\([0-9]*\).*/\1/p') && [ -n "$port" ]; do sleep 0.05; done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
maxes=()
for rep in $(seq "$REPS"); do
    json=$("$bin" --json bench "http://127.0.0.1:$port/" --mix "ws=$WS,long-poll=$LONG" \
        --messages "$MESSAGES" --rate "$RATE")
    last=$(printf '%s\n' "$json" | python3 -c '
import json, sys
rs = [json.loads(l) for l in sys.stdin if "bench_result" in l]
for r in rs:
    assert r["lost"] == 0 and r["duplicated"] == 0, r
    print("  %-9s %6d clients  p50 %7.2f ms  max %7.2f ms" % (r["transport"], r["clients"],
          r["latency_p50"] * 1e3, r["latency_max"] * 1e3), file=sys.stderr)
print(max(r["latency_max"] for r in rs) * 1e3)')
    printf "rep %s: last receipt %.1f ms\n" "$rep" "$last" >&2
    maxes+=("$last")
done
median=$(printf '%s\n' "${maxes[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
printf "median last receipt: %.1f ms (target 100 ms)\n" "$median"
