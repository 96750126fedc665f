# benches/ws_lib.sh — helpers shared by the WebSocket benchmarks (sourced, not run).
#
# Everything in tcp_lib.sh ($NETKIT, need, free_port, wait_listening, median,
# ratio, $BENCH_TMP, track and the cleanup trap), plus $WEBSOCAT (websocat on
# PATH or in ~/.cargo/bin), need_python_websockets, med_of and secs_between.

source "$(dirname "${BASH_SOURCE[0]}")/tcp_lib.sh"

# websocat: on PATH, or where `cargo install websocat` puts it.
find_websocat() {
    WEBSOCAT=${WEBSOCAT:-$(command -v websocat || true)}
    [[ -z $WEBSOCAT && -x $HOME/.cargo/bin/websocat ]] && WEBSOCAT=$HOME/.cargo/bin/websocat
    [[ -n $WEBSOCAT ]] || { echo "error: websocat is required (cargo install websocat)" >&2; exit 2; }
}

need_python_websockets() {
    need python3
    python3 -c 'import websockets.asyncio.client' 2>/dev/null ||
        { echo "error: the python3 websockets package is required (pip install websockets)" >&2; exit 2; }
}

# median of space-separated words.
med_of() { tr ' ' '\n' <<<"${1:-}" | awk 'NF' | median; }

secs_between() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.6f", b-a}'; }
