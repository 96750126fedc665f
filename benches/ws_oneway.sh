#!/usr/bin/env bash
# benches/ws_oneway.sh — 1,000,000 lines one way over a WebSocket: netkit vs websocat.
#
# What: LINES lines (52 bytes each, `seq -f`) go through a client that sends
# a text message per stdin line into a server that prints a line per
# message, counted at the far end with `wc -l`, over 127.0.0.1:
#   netkit->netkit      cat F | netkit ws connect ws://127.0.0.1:P/
#                              /  netkit ws listen --bind 127.0.0.1 P | wc -l
#   websocat->websocat  cat F | websocat -t -u ws://127.0.0.1:P/
#                              /  websocat -t -u --oneshot ws-l:127.0.0.1:P - | wc -l
#   websocat->netkit, netkit->websocat   the mixed pairs (which side is slow)
# Timed from the start of `cat | client` until `wc -l` has its count: the
# websocat server exits by itself after its one client (--oneshot); netkit's
# server serves on, so it gets SIGINT as soon as the client has exited (the
# client exits only after the server answered its Close, i.e. after the
# server has read every message before it).
# websocat sends each line with its `\n` and prints messages as they are;
# netkit sends a line without its `\n` and prints a message plus `\n`. So the
# far end's output is the input again, except websocat->netkit, where every
# line is followed by an empty one: that pair counts non-empty lines
# (`grep -c .`). websocat's --linemode-strip-newlines is no way out: it turns
# "a\nb\n" read at once into the messages "a", "\n", "b\n".
# Known websocat behaviour seen here (websocat 1.14): its server now and then
# loses the last few thousand lines of a run (it stops writing when the
# connection ends; its log says "Received WebSocket close message", "Forward
# finished"), so websocat->websocat runs are timed whether complete or not
# and the summary counts the complete ones. With -u its server sends Close
# at once (its stdout->ws direction is off); websocat's client ignores that
# and keeps sending, netkit's client stops sending as RFC 6455 says, so the
# netkit->websocat pair delivers only what got through before; it is shown,
# but it measures nothing. (Without -u, websocat's server closes when its
# own stdin ends, and answers no Close while its stdin is open.)
# Before timing, a correctness pass sends VERIFY_LINES lines through each
# pair into a file and compares it with the input (cmp). Every timed run
# must deliver all LINES lines, or it counts as failed (with the count) and
# is left out of the medians.
# A run that does not finish within TIMEOUT seconds is reported as stalled.
# Peak RSS of each side comes from /usr/bin/time -f %M.
#
# Target: netkit->netkit wall time / websocat->websocat wall time <= 1.0
# (netkit at least as fast), all lines delivered.
#
# Run:   bash benches/ws_oneway.sh
# Knobs: LINES (1000000), VERIFY_LINES (100000), REPS (3), TIMEOUT (60),
#        COMPRESS (0: netkit's client offers no permessage-deflate),
#        NETKIT, WEBSOCAT (binary paths).

source "$(dirname "$0")/ws_lib.sh"

LINES=${LINES:-1000000}
VERIFY_LINES=${VERIFY_LINES:-100000}
REPS=${REPS:-3}
TIMEOUT=${TIMEOUT:-60}

ensure_netkit
find_websocat
need python3
need ss iproute2
[[ -x /usr/bin/time ]] || need /usr/bin/time time
GNU_TIME=/usr/bin/time

# name | server (PORT = the port; "netkit" servers are stopped with SIGINT) | client
SERVE_NETKIT="$NETKIT -q ws listen --bind 127.0.0.1 PORT"
SERVE_WEBSOCAT="$WEBSOCAT -t -u --oneshot ws-l:127.0.0.1:PORT -"
# websocat compresses nothing, so netkit's client does not offer
# permessage-deflate here (like for like); COMPRESS=1 lets it (default on in
# netkit; benches/ws_deflate.sh measures what compression costs).
if [[ ${COMPRESS:-0} == 1 ]]; then NO_COMPRESS=""; else NO_COMPRESS="--no-compress"; fi
# One way: the server answers nothing, so the client waits for no answers at
# stdin EOF (--linger 0; the default 300ms quiet time is for request/reply
# servers), as websocat -u does not either.
SEND_NETKIT="$NETKIT -q ws connect $NO_COMPRESS --linger 0 ws://127.0.0.1:PORT/"
SEND_WEBSOCAT="$WEBSOCAT -t -u ws://127.0.0.1:PORT/"
# The 4th field: "nonempty" when the far end's output has an empty line after
# each line (websocat sends "line\n", netkit's server prints it plus "\n"), so
# only non-empty lines are counted and compared.
CONFIGS=(
    "netkit->netkit|$SERVE_NETKIT|$SEND_NETKIT|"
    "websocat->websocat|$SERVE_WEBSOCAT|$SEND_WEBSOCAT|"
    "websocat->netkit|$SERVE_NETKIT|$SEND_WEBSOCAT|nonempty"
    "netkit->websocat|$SERVE_WEBSOCAT|$SEND_NETKIT|"
)

last_line() { [[ -s $1 ]] && tail -n 1 "$1" || echo nan; }

# run_pair SERVER CLIENT INPUT SINK FILTER: one transfer; SINK is "count"
# (wc -l) or a file path; FILTER "nonempty" drops empty lines first. Sets
# RUN_SECS, RUN_OK, RUN_WHY, RUN_LINES (count mode), RUN_SRSS, RUN_CRSS (KiB).
run_pair() {
    local server=$1 send=$2 input=$3 sink=$4 filter=$5 port spid wpid t0 t1 cst sst=0 fifo=$BENCH_TMP/out.fifo
    port=$(free_port)
    rm -f "$fifo" "$BENCH_TMP"/s.rss "$BENCH_TMP"/c.rss "$BENCH_TMP/count"
    mkfifo "$fifo"
    if [[ $sink == count && $filter == nonempty ]]; then
        grep -c . <"$fifo" >"$BENCH_TMP/count" &
    elif [[ $sink == count ]]; then
        wc -l <"$fifo" >"$BENCH_TMP/count" &
    elif [[ $filter == nonempty ]]; then
        { grep -v '^$' <"$fifo" >"$sink" || true; } &
    else
        cat <"$fifo" >"$sink" &
    fi
    wpid=$!
    # /usr/bin/time runs the tool itself, so %M is the tool's own peak RSS and $! its parent.
    $GNU_TIME -f %M -o "$BENCH_TMP/s.rss" ${server//PORT/$port} </dev/null >"$fifo" 2>"$BENCH_TMP/s.err" &
    spid=$!
    track "$spid"
    wait_listening "$port"
    t0=$EPOCHREALTIME
    set +e
    cat "$input" | timeout -k 2 "$TIMEOUT" $GNU_TIME -f %M -o "$BENCH_TMP/c.rss" \
        ${send//PORT/$port} >/dev/null 2>"$BENCH_TMP/c.err"
    cst=${PIPESTATUS[1]}
    if [[ $server == "$SERVE_NETKIT" ]]; then
        # netkit's server keeps serving: SIGINT to the tool (the child of time).
        kill -INT $(pgrep -P "$spid") 2>/dev/null
    else
        # websocat --oneshot exits by itself; give it the same deadline.
        local i
        for ((i = 0; i < TIMEOUT * 10; i++)); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$spid" 2>/dev/null && kill -KILL $(pgrep -P "$spid") 2>/dev/null
    fi
    wait "$spid"
    sst=$?
    wait "$wpid"
    set -e
    t1=$EPOCHREALTIME
    RUN_SECS=$(secs_between "$t0" "$t1")
    RUN_SRSS=$(last_line "$BENCH_TMP/s.rss")
    RUN_CRSS=$(last_line "$BENCH_TMP/c.rss")
    RUN_LINES=$(cat "$BENCH_TMP/count" 2>/dev/null || true)
    RUN_LINES=${RUN_LINES:-0}
    RUN_OK=1 RUN_WHY=""
    if [[ $cst == 124 || $cst == 137 ]]; then
        RUN_OK=0 RUN_WHY="client stalled: no exit within ${TIMEOUT}s"
    elif [[ $cst != 0 ]]; then
        RUN_OK=0 RUN_WHY="client exit status $cst: $(tr '\n' ' ' <"$BENCH_TMP/c.err" | cut -c1-200)"
    fi
    if [[ $server == "$SERVE_NETKIT" && $sst != 130 && $sst != 0 ]]; then
        RUN_OK=0 RUN_WHY+=" server exit status $sst: $(tr '\n' ' ' <"$BENCH_TMP/s.err" | cut -c1-200)"
    fi
}

echo "# ws_oneway: $LINES lines of 52 bytes per run, $REPS repetitions, loopback 127.0.0.1"
echo "# netkit: $NETKIT ($("$NETKIT" --version)); websocat: $WEBSOCAT ($("$WEBSOCAT" --version)); $(nproc) cores"
echo

seq -f 'line %07g the quick brown fox jumps over the lazy dog' 1 "$LINES" >"$BENCH_TMP/lines.txt"
head -n "$VERIFY_LINES" "$BENCH_TMP/lines.txt" >"$BENCH_TMP/verify.txt"

# --- correctness pass -----------------------------------------------------------
echo "## correctness: $VERIFY_LINES lines through each pair, output compared with the input (cmp)"
declare -A BROKEN=()
for cfg in "${CONFIGS[@]}"; do
    IFS='|' read -r name server send filter <<<"$cfg"
    run_pair "$server" "$send" "$BENCH_TMP/verify.txt" "$BENCH_TMP/received.txt" "$filter"
    got=$(wc -l <"$BENCH_TMP/received.txt")
    if ((RUN_OK)) && cmp -s "$BENCH_TMP/verify.txt" "$BENCH_TMP/received.txt"; then
        printf '  %-20s ok (%s lines)\n' "$name" "$got"
    else
        BROKEN[$name]=1
        printf '  %-20s FAILED: %s of %s lines arrived%s\n' "$name" "$got" "$VERIFY_LINES" \
            "$( ((RUN_OK)) && echo ' (content differs or lines lost)' || echo "; $RUN_WHY")"
    fi
done
rm -f "$BENCH_TMP/received.txt"
echo

# --- timed runs -------------------------------------------------------------------
# A run that ends normally is timed even when lines are missing (websocat's
# server loses some now and then, see above); the summary says how many runs
# were complete. Stalled or failed runs are not timed.
declare -A SECS=() SRSS=() CRSS=() COMPLETE=() LEAST=() FAILS=() SKIP=()
for ((rep = 1; rep <= REPS; rep++)); do
    for cfg in "${CONFIGS[@]}"; do
        IFS='|' read -r name server send filter <<<"$cfg"
        if [[ -n ${SKIP[$name]:-} ]]; then
            printf 'rep %d/%d  %-20s skipped (stalled before)\n' "$rep" "$REPS" "$name"
            continue
        fi
        run_pair "$server" "$send" "$BENCH_TMP/lines.txt" count "$filter"
        if ((RUN_OK)); then
            SECS[$name]+="$RUN_SECS "
            SRSS[$name]+="$RUN_SRSS "
            CRSS[$name]+="$RUN_CRSS "
            if [[ $RUN_LINES == "$LINES" ]]; then
                COMPLETE[$name]=$((${COMPLETE[$name]:-0} + 1))
                note=""
            else
                note="  LOST $((LINES - RUN_LINES)) lines"
                FAILS[$name]="${FAILS[$name]:-}rep $rep: only $RUN_LINES of $LINES lines arrived"$'\n'
            fi
            if [[ -z ${LEAST[$name]:-} ]] || ((RUN_LINES < LEAST[$name])); then LEAST[$name]=$RUN_LINES; fi
            printf 'rep %d/%d  %-20s %8.3f s  %9.0f msg/s  rss server %s KiB, client %s KiB  %s lines%s\n' "$rep" "$REPS" "$name" \
                "$RUN_SECS" "$(awk -v n="$LINES" -v s="$RUN_SECS" 'BEGIN{print n/s}')" "$RUN_SRSS" "$RUN_CRSS" "$RUN_LINES" "$note"
        else
            FAILS[$name]="${FAILS[$name]:-}rep $rep: $RUN_WHY (after ${RUN_SECS}s, $RUN_LINES lines counted)"$'\n'
            # A stall costs TIMEOUT each time: do not repeat it.
            [[ $RUN_WHY == *stalled* ]] && SKIP[$name]=1
            printf 'rep %d/%d  %-20s FAILED: %s (%s of %s lines counted)\n' "$rep" "$REPS" "$name" "$RUN_WHY" "$RUN_LINES" "$LINES"
        fi
    done
done
echo

# --- summary ------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN{ if (k=="nan") print "nan"; else printf "%.1f", k/1024 }'; }
declare -A MED=()
printf '%-20s %10s %12s %6s %9s %12s %16s %16s\n' "pair" "median s" "msg/s" "timed" "complete" "fewest lines" "server RSS MiB" "client RSS MiB"
for cfg in "${CONFIGS[@]}"; do
    name=${cfg%%|*}
    s=$(med_of "${SECS[$name]:-}")
    MED[$name]=$s
    n=$(tr ' ' '\n' <<<"${SECS[$name]:-}" | awk 'NF{n++} END{print n+0}')
    rate=$(awk -v n="$LINES" -v s="$s" 'BEGIN{ if (s=="nan") print "nan"; else printf "%.0f", n/s }')
    printf '%-20s %10s %12s %6s %9s %12s %16s %16s\n' "$name" "$s" "$rate" "$n/$REPS" "${COMPLETE[$name]:-0}/$REPS" "${LEAST[$name]:--}" \
        "$(mib "$(med_of "${SRSS[$name]:-}")")" "$(mib "$(med_of "${CRSS[$name]:-}")")"
done
echo
r=$(ratio "${MED[netkit->netkit]}" "${MED[websocat->websocat]}")
echo "ratio netkit->netkit / websocat->websocat (wall time): $r   (target <= 1.0, with every line delivered)"
echo "ratio websocat->netkit / websocat->websocat (netkit as the server): $(ratio "${MED[websocat->netkit]}" "${MED[websocat->websocat]}")"
if ((${COMPLETE[netkit->websocat]:-0} > 0)); then
    echo "ratio netkit->websocat / websocat->websocat (netkit as the client): $(ratio "${MED[netkit->websocat]}" "${MED[websocat->websocat]}")"
else
    echo "ratio netkit->websocat / websocat->websocat: n/a (no complete run; see the note at the top of this script)"
fi
verdict=FAIL
if [[ $r != nan && ${COMPLETE[netkit->netkit]:-0} == "$REPS" ]] && awk -v r="$r" 'BEGIN{exit !(r <= 1.0)}'; then verdict=PASS; fi
echo "target: $verdict"
if ((${#FAILS[@]})); then
    echo
    echo "failed or incomplete runs:"
    for name in "${!FAILS[@]}"; do printf '  %s: %s' "$name" "${FAILS[$name]}"; done
fi
if ((${#BROKEN[@]})); then
    echo "correctness pass: FAILED for: ${!BROKEN[*]}"
else
    echo "correctness pass: ok"
fi
