# benches/tcp_lib.sh — helpers shared by tcp_*.sh, startup.sh and ws_lib.sh (sourced, not run).
#
# Gives: $NETKIT (the binary; built with `cargo build --release` if missing),
# free_port, wait_listening PORT, median, a scratch dir $BENCH_TMP, and a
# cleanup trap that kills every background process registered with
# `track PID`: its process group when it leads one, else it and its children
# (e.g. /usr/bin/time and the tool it runs).

set -euo pipefail

# Run from the repository root whatever the caller's directory.
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NETKIT=${NETKIT:-target/release/netkit}

ensure_netkit() {
    if [[ ! -x $NETKIT ]]; then
        echo "# building release binary ($NETKIT missing)" >&2
        cargo build --release >&2
    fi
    [[ -x $NETKIT ]] || { echo "error: $NETKIT not found after build" >&2; exit 2; }
}

need() { # need CMD [DEBIAN-PACKAGE]: install with apt-get when missing
    command -v "$1" >/dev/null 2>&1 && return 0
    if [[ -n ${2:-} ]] && command -v apt-get >/dev/null 2>&1; then
        echo "# installing $2 for $1" >&2
        { apt-get install -y "$2" || { apt-get update && apt-get install -y "$2"; }; } >/dev/null 2>&1 || true
    fi
    command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required" >&2; exit 2; }
}

# A free TCP port on 127.0.0.1 (the OS picks it; we close it again at once).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until something listens on 127.0.0.1:PORT, without connecting (a
# single-client listener would take the probe as its client). Up to 10 s.
wait_listening() {
    local port=$1 i
    for ((i = 0; i < 1000; i++)); do
        if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then return 0; fi
        sleep 0.01
    done
    echo "error: nothing listens on port $port after 10 s" >&2
    return 1
}

# median of the numbers on stdin (one per line); prints "nan" when empty.
median() {
    sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}}'
}

# Division that survives "nan" and zero.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a=="nan" || b=="nan" || b==0) print "nan"; else printf "%.2f\n", a/b }'; }

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/netkit-bench.XXXXXX")
BENCH_PIDS=()

track() { BENCH_PIDS+=("$@"); }

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM $(pgrep -P "$pid" 2>/dev/null) "$pid" 2>/dev/null || true
    done
    sleep 0.1
    for pid in "${BENCH_PIDS[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL $(pgrep -P "$pid" 2>/dev/null) "$pid" 2>/dev/null || true
    done
    rm -rf "$BENCH_TMP"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
