#!/usr/bin/env bash
# benches/ws_fanout.sh — one message to 1,000 chat clients, then 10,000 idle clients' memory.
#
# Part 1, fan-out: `netkit ws listen --chat --max-clients 20000 --bind
# 127.0.0.1 P` with CLIENTS (1000) clients in one python3 process
# (benches/ws_fanout.py), named c0..c999 (?name=cI). Once their join notices
# have settled, c0 sends MESSAGES messages one after another; for each, the
# time from just before the send until the last of the other 999 clients has
# it (and until the first). Two client harnesses:
#   raw         non-blocking sockets in a selectors loop, handshake by hand,
#               a receipt is the marker bytes in a client's stream, timed by
#               the kernel's receive timestamp of that read (SO_TIMESTAMPNS),
#               so it is when the data reached the client's socket, however
#               long the harness takes to look at 999 sockets (that time,
#               "seen", is printed too)
#   websockets  python `websockets` asyncio clients, as a user would write
#               them (a receipt is the message handed over by the library,
#               which costs it tens of microseconds per message per client,
#               so the last receipt is mostly the harness)
# Side by side: a python `websockets` chat server (ws_fanout.py server: the
# same traffic, "<name> text" to every other client plus join/leave notices,
# through websockets.broadcast). websocat has no broadcast mode, so it is not
# in this one. Servers and harnesses are interleaved within each repetition;
# each run is a fresh server. Reported: the median over runs of each run's
# median "last receipt" time, the worst message, lost messages, and the
# server's RSS with the clients connected.
#
# Part 2, memory: IDLE_CLIENTS (10000) raw clients connect (IDLE_BATCH at a
# time) to `netkit ws listen --max-clients 20000` and stay idle; then
# netkit's VmRSS and VmHWM from /proc/PID/status. `ulimit -n` is raised to
# the hard limit (20000 here) for netkit and the clients. The idle server
# is in its default mode, not --chat: in a chat room every join is announced
# to everyone already there, so 10,000 joins are 50 million notices, which
# is a join storm, not idleness (IDLE_CHAT=1 adds a --chat run anyway,
# draining the notices, with how long the joins took). A python websockets
# server that just reads (ws_fanout.py server --plain) gets the same 10,000
# clients for comparison (PY_IDLE=0 skips it).
#
# Targets: netkit --chat, raw harness: median last receipt < 50 ms with
# 1,000 clients and nothing lost; netkit RSS < 128 MiB with 10,000 idle
# clients.
#
# Run:   bash benches/ws_fanout.sh
# Knobs: CLIENTS (1000), MESSAGES (20), REPS (3), IDLE_CLIENTS (10000),
#        IDLE_BATCH (500), IDLE_CHAT (0), PY_IDLE (1), PARTS ("fanout idle"),
#        NETKIT.

source "$(dirname "$0")/ws_lib.sh"

CLIENTS=${CLIENTS:-1000}
MESSAGES=${MESSAGES:-20}
REPS=${REPS:-3}
IDLE_CLIENTS=${IDLE_CLIENTS:-10000}
IDLE_BATCH=${IDLE_BATCH:-500}
IDLE_CHAT=${IDLE_CHAT:-0}
PY_IDLE=${PY_IDLE:-1}
PARTS=${PARTS:-"fanout idle"}

ensure_netkit
need_python_websockets
need ss iproute2

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if ((NOFILE < IDLE_CLIENTS + 64)); then
    echo "warning: ulimit -n is $NOFILE (hard limit $(ulimit -Hn)); $IDLE_CLIENTS clients need about $((IDLE_CLIENTS + 64)) per process" >&2
fi

start_server() { # start_server KIND PORT: sets SPID. KIND: chat | plain | python | python-plain
    case $1 in
    chat) "$NETKIT" -q ws listen --chat --max-clients 20000 --bind 127.0.0.1 "$2" </dev/null >/dev/null 2>"$BENCH_TMP/server.err" & ;;
    plain) "$NETKIT" -q ws listen --max-clients 20000 --bind 127.0.0.1 "$2" </dev/null >/dev/null 2>"$BENCH_TMP/server.err" & ;;
    python) python3 benches/ws_fanout.py server --port "$2" </dev/null >/dev/null 2>"$BENCH_TMP/server.err" & ;;
    python-plain) python3 benches/ws_fanout.py server --plain --port "$2" </dev/null >/dev/null 2>"$BENCH_TMP/server.err" & ;;
    esac
    SPID=$!
    track "$SPID"
    wait_listening "$2"
}

stop_server() {
    kill -INT "$SPID" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
}

field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); v=d.get(sys.argv[2]); print("nan" if v is None else v)' "$1" "$2"; }

echo "# ws_fanout: $CLIENTS chat clients x $MESSAGES messages, $REPS repetitions; then $IDLE_CLIENTS idle clients; 127.0.0.1"
echo "# netkit: $NETKIT ($("$NETKIT" --version)); python websockets $(python3 -c 'import websockets; print(websockets.__version__)'); ulimit -n $NOFILE; $(nproc) cores"
echo

declare -A FAILS=()

# --- part 1: fan-out ------------------------------------------------------------
if [[ " $PARTS " == *" fanout "* ]]; then
echo "## fan-out: one message from c0 to the other $((CLIENTS - 1)) clients"
CONFIGS=("netkit --chat|chat|raw" "python websockets|python|raw" "netkit --chat|chat|websockets" "python websockets|python|websockets")
declare -A LAST=() WORST=() FIRST=() LOST=() RSS=()
for ((rep = 1; rep <= REPS; rep++)); do
    for cfg in "${CONFIGS[@]}"; do
        IFS='|' read -r label kind lib <<<"$cfg"
        key="$label, $lib clients"
        port=$(free_port)
        start_server "$kind" "$port"
        if out=$(timeout 600 python3 benches/ws_fanout.py fanout --port "$port" --clients "$CLIENTS" \
            --messages "$MESSAGES" --lib "$lib" --pid "$SPID" 2>"$BENCH_TMP/client.err"); then
            json=$(tail -n 1 <<<"$out")
            last=$(field "$json" last_ms_median) worst=$(field "$json" last_ms_max) first=$(field "$json" first_ms_median)
            lost=$(field "$json" lost) rss=$(field "$json" server_rss_kib) seen=$(field "$json" seen_last_ms_median)
            LAST[$key]+="$last " WORST[$key]+="$worst " FIRST[$key]+="$first " RSS[$key]+="$rss "
            LOST[$key]=$((${LOST[$key]:-0} + lost))
            printf 'rep %d/%d  %-42s last %8.2f ms (worst %8.2f)  first %7.2f ms  lost %s  server RSS %s KiB  (harness saw the last at %s ms)\n' \
                "$rep" "$REPS" "$key" "$last" "$worst" "$first" "$lost" "$rss" "$seen"
        else
            FAILS[$key]+="rep $rep: $(tail -n 3 "$BENCH_TMP/client.err" | tr '\n' ' ' | cut -c1-300) server: $(tr '\n' ' ' <"$BENCH_TMP/server.err" | cut -c1-200)"$'\n'
            printf 'rep %d/%d  %-42s FAILED (see below)\n' "$rep" "$REPS" "$key"
        fi
        stop_server
    done
done
echo
declare -A MLAST=()
printf '%-42s %14s %12s %14s %6s %16s\n' "server, harness" "last ms (med)" "worst ms" "first ms (med)" "lost" "server RSS MiB"
for cfg in "${CONFIGS[@]}"; do
    IFS='|' read -r label kind lib <<<"$cfg"
    key="$label, $lib clients"
    MLAST[$key]=$(med_of "${LAST[$key]:-}")
    worst=$(tr ' ' '\n' <<<"${WORST[$key]:-}" | awk 'NF' | sort -g | tail -n 1)
    printf '%-42s %14s %12s %14s %6s %16s\n' "$key" "${MLAST[$key]}" "${worst:-nan}" "$(med_of "${FIRST[$key]:-}")" \
        "${LOST[$key]:-nan}" "$(awk -v k="$(med_of "${RSS[$key]:-}")" 'BEGIN{ if (k=="nan") print "nan"; else printf "%.1f", k/1024 }')"
done
echo
echo "ratio netkit / python websockets (last receipt, raw clients):        $(ratio "${MLAST[netkit --chat, raw clients]}" "${MLAST[python websockets, raw clients]}")"
echo "ratio netkit / python websockets (last receipt, websockets clients): $(ratio "${MLAST[netkit --chat, websockets clients]}" "${MLAST[python websockets, websockets clients]}")"
m=${MLAST[netkit --chat, raw clients]}
verdict=FAIL
if [[ $m != nan && ${LOST[netkit --chat, raw clients]:-1} == 0 ]] && awk -v m="$m" 'BEGIN{exit !(m < 50)}'; then verdict=PASS; fi
echo "fan-out target (netkit, raw clients: median last receipt < 50 ms, nothing lost): $verdict"
echo
fi

# --- part 2: idle clients ---------------------------------------------------------
if [[ " $PARTS " == *" idle "* ]]; then
echo "## memory: $IDLE_CLIENTS idle clients"
IDLE=("netkit ws listen|plain")
((IDLE_CHAT)) && IDLE+=("netkit ws listen --chat|chat")
((PY_IDLE)) && IDLE+=("python websockets|python-plain")
declare -A IRSS=()
for cfg in "${IDLE[@]}"; do
    IFS='|' read -r label kind <<<"$cfg"
    port=$(free_port)
    start_server "$kind" "$port"
    before=$(awk '/VmRSS/{print $2}' "/proc/$SPID/status")
    # A chat room announces every join to everyone: 10,000 joins take minutes.
    deadline=$([[ $kind == chat ]] && echo 1200 || echo 300)
    if out=$(timeout $((deadline + 60)) python3 benches/ws_fanout.py idle --port "$port" --clients "$IDLE_CLIENTS" \
        --batch "$IDLE_BATCH" --settle 1 --deadline "$deadline" --pid "$SPID" 2>"$BENCH_TMP/client.err"); then
        json=$(tail -n 1 <<<"$out")
        IRSS[$label]=$(field "$json" server_rss_kib)
        printf '  %-26s %6s clients up in %7.2f s; RSS %7.1f MiB (peak %7.1f MiB; %.1f MiB before; %.1f KiB per client); %s bytes of notices drained\n' \
            "$label" "$(field "$json" clients)" "$(field "$json" connect_s)" \
            "$(awk -v k="${IRSS[$label]}" 'BEGIN{printf "%.1f", k/1024}')" \
            "$(awk -v k="$(field "$json" server_hwm_kib)" 'BEGIN{printf "%.1f", k/1024}')" \
            "$(awk -v k="$before" 'BEGIN{printf "%.1f", k/1024}')" \
            "$(awk -v k="${IRSS[$label]}" -v b="$before" -v n="$IDLE_CLIENTS" 'BEGIN{printf "%.1f", (k-b)/n}')" \
            "$(field "$json" received_bytes)"
    else
        IRSS[$label]=nan
        printf '  %-26s FAILED: %s\n' "$label" "$(tail -n 3 "$BENCH_TMP/client.err" | tr '\n' ' ' | cut -c1-300)"
        if ! kill -0 "$SPID" 2>/dev/null; then
            wait "$SPID"
            printf '  %-26s the server died (status %s); its stderr ends with: %s\n' "" "$?" "$(tail -c 600 "$BENCH_TMP/server.err" | tr '\n' ' ')"
        fi
    fi
    stop_server
done
r=${IRSS[netkit ws listen]}
verdict=FAIL
if [[ $r != nan ]] && awk -v k="$r" 'BEGIN{exit !(k < 128 * 1024)}'; then verdict=PASS; fi
((PY_IDLE)) && echo "ratio netkit / python websockets (RSS with $IDLE_CLIENTS idle clients): $(ratio "$r" "${IRSS[python websockets]}")"
echo "memory target (netkit RSS < 128 MiB with $IDLE_CLIENTS idle clients): $verdict"
fi

if ((${#FAILS[@]})); then
    echo
    echo "failed runs:"
    for key in "${!FAILS[@]}"; do printf '  %s: %s' "$key" "${FAILS[$key]}"; done
fi
