#!/usr/bin/env bash
# Polling vs long polling vs WebSocket on netkit's chat server
# (`ws listen --chat`): 100 clients per transport, 1000 messages at 50/s.
# Targets: WebSocket p99 < 5 ms, long polling p99 < 10 ms, polling p50
# near half the interval (1 s: ~500 ms); nothing lost or duplicated.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
./target/release/netkit bench --transport all --clients 100 --messages 1000 --rate 50 \
    --svg target/bench-chat.svg "$@"
echo "chart: target/bench-chat.svg" >&2
