#!/usr/bin/env bash
# benches/ws_roundtrip.sh — echo latency over a WebSocket: netkit vs websocat.
#
# What: one client does COUNT sequential round trips (send a 32-byte text
# message, wait for its echo, time it) against each echo server on 127.0.0.1:
#   netkit     netkit ws listen --echo --bind 127.0.0.1 P
#   websocat   websocat -t ws-l:127.0.0.1:P mirror:
#   python     a python `websockets` echo server (asyncio; a reference point,
#              skipped when the package is missing)
# The client is benches/ws_rtt.py: a thin WebSocket client on a blocking
# socket with TCP_NODELAY (handshake by hand, the masked frame built once,
# the echo read as header + exact payload and compared), so its own cost is
# a few microseconds and the same for every server; what differs between
# the rows is the server. WARMUP round trips come first and are not counted.
# The servers are interleaved within each repetition; each repetition is a
# fresh server process. Reported: the median over repetitions of each run's
# p50, p90, p99 and max, and the ratios netkit/websocat.
#
# Target: netkit p50 and p99 <= websocat's (ratio <= 1.0).
#
# Run:   bash benches/ws_roundtrip.sh
# Knobs: COUNT (10000), WARMUP (500), SIZE (32 bytes), REPS (5),
#        NETKIT, WEBSOCAT (binary paths).

source "$(dirname "$0")/ws_lib.sh"

COUNT=${COUNT:-10000}
WARMUP=${WARMUP:-500}
SIZE=${SIZE:-32}
REPS=${REPS:-5}

ensure_netkit
find_websocat
need python3
need ss iproute2
PYTHON_SERVER=1
python3 -c 'import websockets.asyncio.server' 2>/dev/null || PYTHON_SERVER=0

PY_ECHO='
import asyncio, sys
from websockets.asyncio.server import serve
async def echo(ws):
    async for m in ws:
        await ws.send(m)
async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1]), compression=None, ping_interval=None):
        await asyncio.Future()
asyncio.run(main())'

SERVERS=(netkit websocat)
((PYTHON_SERVER)) && SERVERS+=(python)

start_server() { # start_server NAME PORT: sets SPID
    case $1 in
    netkit) "$NETKIT" -q ws listen --echo --bind 127.0.0.1 "$2" </dev/null >/dev/null 2>"$BENCH_TMP/server.err" & ;;
    websocat) "$WEBSOCAT" -t ws-l:127.0.0.1:"$2" mirror: </dev/null >/dev/null 2>"$BENCH_TMP/server.err" & ;;
    python) python3 -c "$PY_ECHO" "$2" </dev/null >/dev/null 2>"$BENCH_TMP/server.err" & ;;
    esac
    SPID=$!
    track "$SPID"
}

echo "# ws_roundtrip: $COUNT sequential echo round trips of $SIZE bytes per run (after $WARMUP warm-up), $REPS repetitions, 127.0.0.1"
echo "# netkit: $NETKIT ($("$NETKIT" --version)); websocat: $WEBSOCAT ($("$WEBSOCAT" --version)); python websockets: $( ((PYTHON_SERVER)) && python3 -c 'import websockets; print(websockets.__version__)' || echo 'not installed'); $(nproc) cores"
echo "# client: benches/ws_rtt.py (raw socket, TCP_NODELAY)"
echo

declare -A P50=() P90=() P99=() PMAX=() FAILS=()
for ((rep = 1; rep <= REPS; rep++)); do
    for name in "${SERVERS[@]}"; do
        port=$(free_port)
        start_server "$name" "$port"
        wait_listening "$port"
        if out=$(timeout 120 python3 benches/ws_rtt.py --port "$port" --count "$COUNT" --warmup "$WARMUP" --size "$SIZE" 2>"$BENCH_TMP/client.err"); then
            json=$(tail -n 1 <<<"$out")
            read -r p50 p90 p99 pmax < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["p50_us"], d["p90_us"], d["p99_us"], d["max_us"])' "$json")
            P50[$name]+="$p50 " P90[$name]+="$p90 " P99[$name]+="$p99 " PMAX[$name]+="$pmax "
            printf 'rep %d/%d  %-9s p50 %7.1f us  p90 %7.1f us  p99 %7.1f us  max %8.1f us\n' "$rep" "$REPS" "$name" "$p50" "$p90" "$p99" "$pmax"
        else
            FAILS[$name]+="rep $rep: $(tr '\n' ' ' <"$BENCH_TMP/client.err" | cut -c1-300) server: $(tr '\n' ' ' <"$BENCH_TMP/server.err" | cut -c1-200)"$'\n'
            printf 'rep %d/%d  %-9s FAILED (see below)\n' "$rep" "$REPS" "$name"
        fi
        kill "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
    done
done
echo

declare -A M50=() M99=()
printf '%-9s %12s %12s %12s %12s %6s\n' server "p50 us" "p90 us" "p99 us" "max us" runs
for name in "${SERVERS[@]}"; do
    M50[$name]=$(med_of "${P50[$name]:-}")
    M99[$name]=$(med_of "${P99[$name]:-}")
    n=$(tr ' ' '\n' <<<"${P50[$name]:-}" | awk 'NF{n++} END{print n+0}')
    printf '%-9s %12s %12s %12s %12s %6s\n' "$name" "${M50[$name]}" "$(med_of "${P90[$name]:-}")" "${M99[$name]}" "$(med_of "${PMAX[$name]:-}")" "$n/$REPS"
done
echo "(medians over repetitions of each run's percentile)"
echo
r50=$(ratio "${M50[netkit]}" "${M50[websocat]}")
r99=$(ratio "${M99[netkit]}" "${M99[websocat]}")
echo "ratio netkit / websocat: p50 $r50, p99 $r99   (target <= 1.0)"
((PYTHON_SERVER)) && echo "ratio netkit / python websockets: p50 $(ratio "${M50[netkit]}" "${M50[python]}"), p99 $(ratio "${M99[netkit]}" "${M99[python]}")"
verdict=FAIL
if [[ $r50 != nan && $r99 != nan ]] && awk -v a="$r50" -v b="$r99" 'BEGIN{exit !(a <= 1.0 && b <= 1.0)}'; then verdict=PASS; fi
echo "target: $verdict"
if ((${#FAILS[@]})); then
    echo
    echo "failed runs:"
    for name in "${!FAILS[@]}"; do printf '  %s: %s' "$name" "${FAILS[$name]}"; done
fi
