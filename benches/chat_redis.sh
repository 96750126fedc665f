#!/usr/bin/env bash
# The chat room on three netkit servers sharing one Redis (`ws listen --chat
# --redis`) against one server alone, measured with `netkit bench` (which
# spreads its clients and publishers over the URLs it is given):
#   1. latency: 100 WebSocket clients, 1000 messages at 50/s, on one server
#      and on the three; target: the three's p99 within 2 ms of the one's;
#   2. throughput: 10,000 messages at 5,000/s through the room (30 WebSocket
#      clients over the three servers, one publisher per server); target:
#      nothing lost or duplicated, and the rate kept.
# Needs redis-server (Debian's, started here on a free loopback port with a
# temporary directory). Extra arguments go to every `netkit bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
    echo "chat_redis.sh: redis-server is missing (apt-get install redis-server)" >&2
    exit 2
fi
cargo build --release --quiet
nk=./target/release/netkit
tmp=$(mktemp -d)
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" > /dev/null &
pids+=($!)
$nk -q poll -n 50ms --until-ok -m 10s "tcp://127.0.0.1:$rport" > /dev/null

# chat NAME [ARGS...]: starts a chat server, prints its URL once it takes messages.
chat() {
    local name=$1
    shift
    $nk --json ws listen --chat --bind 127.0.0.1 --max-clients 60000 --history 100000 "$@" 0 \
        < /dev/null > "$tmp/$name.json" 2> /dev/null &
    pids+=($!)
    until [ -s "$tmp/$name.json" ]; do sleep 0.05; done
    local port
    port=$(head -n 1 "$tmp/$name.json" | sed -n 's/.*"port":\([0-9]*\).*/\1/p')
    $nk -q http --retry 20 --retry-delay 100ms -d up "http://127.0.0.1:$port/messages?name=bench" > /dev/null
    echo "http://127.0.0.1:$port/"
}

one=$(chat one)
three=()
for i in 1 2 3; do
    three+=("$(chat "redis$i" --redis "redis://127.0.0.1:$rport" --room bench)")
done

# run LABEL BENCH-ARGS...: one bench, its table row and its JSON result.
run() {
    local label=$1
    shift
    echo "== $label" >&2
    $nk --json bench "$@" | tee "$tmp/$label.ndjson" |
        python3 -c 'import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print("%-10s %5d clients %6d messages  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms  lost %d  dup %d" % (
        r["transport"], r["clients"], r["messages"], r["latency_p50"] * 1e3,
        r["latency_p99"] * 1e3, r["latency_max"] * 1e3, r["lost"], r["duplicated"]))' >&2
}

latency=(--transport ws --clients 100 --messages 1000 --rate 50)
run one "${latency[@]}" "$one" "$@"
run three "${latency[@]}" "${three[@]}" "$@"
started=$(date +%s.%N)
run throughput --transport ws --clients 30 --messages 10000 --rate 5000 "${three[@]}" "$@"
ended=$(date +%s.%N)

python3 - "$tmp" "$started" "$ended" <<'PY'
import json, sys
tmp, started, ended = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
r = {k: json.loads(open(f"{tmp}/{k}.ndjson").readline()) for k in ("one", "three", "throughput")}
d = (r["three"]["latency_p99"] - r["one"]["latency_p99"]) * 1e3
print(f"WebSocket p99: one server {r['one']['latency_p99'] * 1e3:.2f} ms, three on Redis "
      f"{r['three']['latency_p99'] * 1e3:.2f} ms: {d:+.2f} ms (target within 2 ms: "
      f"{'met' if d <= 2 else 'MISSED'})")
t = r["throughput"]
ok = t["lost"] == 0 and t["duplicated"] == 0
print(f"5,000 messages/s through the room: {t['messages']} messages to {t['clients']} clients "
      f"in {ended - started:.1f} s (bench included), lost {t['lost']}, duplicated "
      f"{t['duplicated']}, p99 {t['latency_p99'] * 1e3:.1f} ms "
      f"({'met' if ok else 'MISSED'})")
PY
