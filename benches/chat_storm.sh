#!/usr/bin/env bash
# benches/chat_storm.sh — 10,000 clients join `tcp listen --chat` and `ws listen --chat`.
#
# What: `netkit tcp listen --chat --max-clients N` and `netkit ws listen
# --chat --max-clients N` (stdin /dev/null, output to /dev/null), each joined
# by N clients from one python3 process (benches/chat_storm.py, a selectors
# loop that connects BATCH at a time and reads everything it is sent). For
# each server it prints the time until every client had its welcome, the
# server's VmRSS and VmHWM once the notices settled, and the bytes of
# welcome and join notices the clients received in all (quadratic if every
# join were told to everyone separately: 10,000 joins x 10,000 clients).
# Set BASELINE=/path/to/other/netkit to run an older build side by side.
#
# Targets: all N join within 10 s; RSS < 64 MiB after the storm; notice
# bytes far below N^2/2 notices.
#
# Run:   bash benches/chat_storm.sh
# Knobs: CLIENTS (10000), BATCH (500), REPS (1), BASELINE (unset), NETKIT.

source "$(dirname "$0")/tcp_lib.sh"

CLIENTS=${CLIENTS:-10000}
BATCH=${BATCH:-500}
REPS=${REPS:-1}
BASELINE=${BASELINE:-}

ensure_netkit
need python3
need ss iproute2
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# storm BINARY LABEL PROTO
storm() {
    local bin=$1 label=$2 proto=$3 port spid
    port=$(free_port)
    case $proto in
    tcp) "$bin" tcp listen --chat --max-clients "$((CLIENTS + 10))" --bind 127.0.0.1 "$port" </dev/null >/dev/null 2>&1 & ;;
    ws) "$bin" ws listen --chat --max-clients "$((CLIENTS + 10))" --bind 127.0.0.1 "$port" </dev/null >/dev/null 2>&1 & ;;
    esac
    spid=$!
    track "$spid"
    wait_listening "$port"
    python3 benches/chat_storm.py --port "$port" --proto "$proto" --clients "$CLIENTS" \
        --batch "$BATCH" --server-pid "$spid" --label "$label" | head -n 1 | sed 's/^/  /'
    kill -INT "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
}

echo "# chat_storm: $CLIENTS clients join, $BATCH at a time; $(nproc) cores; ulimit -n $(ulimit -n)"
for ((rep = 1; rep <= REPS; rep++)); do
    for proto in tcp ws; do
        storm "$NETKIT" "netkit $proto --chat" "$proto"
        [[ -n $BASELINE ]] && storm "$BASELINE" "baseline $proto --chat" "$proto"
    done
done
