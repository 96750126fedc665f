#!/usr/bin/env bash
# benches/tcp_throughput.sh — bulk TCP throughput on loopback, netkit vs OpenBSD nc.
#
# What: BYTES bytes of /dev/zero go through a sender into a listener that
# writes to /dev/null, over 127.0.0.1:
#   nc -> nc         head -c N /dev/zero | nc -N 127.0.0.1 P       /  nc -l 127.0.0.1 P >/dev/null
#   netkit -> netkit head -c N /dev/zero | netkit tcp connect 127.0.0.1 P
#                                           /  netkit tcp listen --no-shutdown --bind 127.0.0.1 P >/dev/null
#   nc -> netkit, netkit -> nc   the mixed pairs, to tell the sending side from the receiving one
#   pipe             head -c N /dev/zero | cat >/dev/null   (the ceiling: no socket at all)
# Both listeners get stdin from /dev/null. `nc -l` does not half-close at
# stdin EOF (only with -N), so netkit's listener gets --no-shutdown to do
# the same; netkit's default (half-close at once) is exercised in the
# correctness pass below.
# The configurations are interleaved within each repetition, so machine
# noise hits them alike; medians are reported. Peak RSS of each side comes
# from /usr/bin/time -f %M.
# Before timing, a correctness pass sends VERIFY_BYTES of random data
# through each pair into a file and compares it with cmp.
#
# Targets: netkit->netkit GB/s / nc->nc GB/s >= 1.0; netkit peak RSS < 16 MiB on each side.
#
# Run:   bash benches/tcp_throughput.sh
# Knobs: BYTES (default 2147483648), REPS (3), VERIFY_BYTES (min(BYTES, 64 MiB)),
#        TIMEOUT (seconds per run; default 5 + BYTES/250 MB/s), NETKIT (binary path).
# GB/s here is 10^9 bytes per second.

source "$(dirname "$0")/tcp_lib.sh"

BYTES=${BYTES:-2147483648}
REPS=${REPS:-3}
VERIFY_BYTES=${VERIFY_BYTES:-$((BYTES < 67108864 ? BYTES : 67108864))}
TIMEOUT=${TIMEOUT:-$((5 + BYTES / 250000000))}
VERIFY_TIMEOUT=20

ensure_netkit
need nc netcat-openbsd
need ss iproute2
[[ -x /usr/bin/time ]] || need /usr/bin/time time
GNU_TIME=/usr/bin/time

# --- the sides: commands with PORT for the port (word-split, so no spaces in paths) ---
LISTEN_NC="nc -l 127.0.0.1 PORT"
LISTEN_NETKIT="$NETKIT tcp listen --no-shutdown --bind 127.0.0.1 PORT"
# netkit's listener as a user would type it: it half-closes when its stdin (here /dev/null) ends.
LISTEN_NETKIT_DEFAULT="$NETKIT tcp listen --bind 127.0.0.1 PORT"
SEND_NC="nc -N 127.0.0.1 PORT"
SEND_NETKIT="$NETKIT tcp connect 127.0.0.1 PORT"

# name | listener | sender
CONFIGS=(
    "nc->nc|$LISTEN_NC|$SEND_NC"
    "netkit->netkit|$LISTEN_NETKIT|$SEND_NETKIT"
    "nc->netkit|$LISTEN_NETKIT|$SEND_NC"
    "netkit->nc|$LISTEN_NC|$SEND_NETKIT"
)

last_line() { [[ -s $1 ]] && tail -n 1 "$1" || echo nan; }

# run_pair LISTEN SEND SOURCE-CMD OUT TIMEOUT: one transfer, SOURCE-CMD | SEND -> LISTEN > OUT. Sets RUN_SECS,
# RUN_OK (1/0), RUN_WHY, RUN_LRSS, RUN_SRSS (KiB).
run_pair() {
    local listen=$1 send=$2 source=$3 out=$4 limit=$5 port lpid t0 t1 lst=0 st
    port=$(free_port)
    rm -f "$BENCH_TMP"/l.rss "$BENCH_TMP"/s.rss
    # /usr/bin/time runs the tool itself (no shell in between), so %M is the tool's own peak RSS.
    timeout -k 2 "$limit" $GNU_TIME -f %M -o "$BENCH_TMP/l.rss" \
        ${listen//PORT/$port} </dev/null >"$out" 2>"$BENCH_TMP/l.err" &
    lpid=$!
    track "$lpid"
    wait_listening "$port"
    t0=$EPOCHREALTIME
    set +e
    $source | timeout -k 2 "$limit" $GNU_TIME -f %M -o "$BENCH_TMP/s.rss" \
        ${send//PORT/$port} >/dev/null 2>"$BENCH_TMP/s.err"
    st=("${PIPESTATUS[@]}")
    wait "$lpid"
    lst=$?
    set -e
    t1=$EPOCHREALTIME
    RUN_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", b-a}')
    RUN_LRSS=$(last_line "$BENCH_TMP/l.rss")
    RUN_SRSS=$(last_line "$BENCH_TMP/s.rss")
    RUN_OK=1 RUN_WHY=""
    if [[ ${st[1]} == 124 || ${st[1]} == 137 || $lst == 124 || $lst == 137 ]]; then
        RUN_OK=0 RUN_WHY="timed out after ${limit}s (stalled?)"
    elif [[ ${st[0]} != 0 || ${st[1]} != 0 || $lst != 0 ]]; then
        RUN_OK=0 RUN_WHY="exit status: source=${st[0]} sender=${st[1]} listener=$lst"
    fi
    if ((!RUN_OK)); then
        RUN_WHY+="; sender stderr: $(tr '\n' ' ' <"$BENCH_TMP/s.err" | cut -c1-200); listener stderr: $(tr '\n' ' ' <"$BENCH_TMP/l.err" | cut -c1-200)"
    fi
}

echo "# tcp_throughput: $BYTES bytes per run, $REPS repetitions, loopback 127.0.0.1"
echo "# netkit: $NETKIT ($("$NETKIT" --version)); nc: OpenBSD netcat ($(dpkg-query -W -f '${Version}' netcat-openbsd 2>/dev/null || echo '?')); $(nproc) cores"
echo

# --- correctness pass: random bytes, compared with cmp ------------------------
echo "## correctness: $VERIFY_BYTES random bytes through each pair (received file compared with cmp)"
head -c "$VERIFY_BYTES" /dev/urandom >"$BENCH_TMP/verify.bin"
VERIFY_FAILED=0
for cfg in "${CONFIGS[@]}" "netkit->netkit (listener default: half-close at stdin EOF)|$LISTEN_NETKIT_DEFAULT|$SEND_NETKIT"; do
    IFS='|' read -r name listen send <<<"$cfg"
    run_pair "$listen" "$send" "cat $BENCH_TMP/verify.bin" "$BENCH_TMP/received.bin" "$VERIFY_TIMEOUT"
    got=$(stat -c %s "$BENCH_TMP/received.bin")
    if ((RUN_OK)) && cmp -s "$BENCH_TMP/verify.bin" "$BENCH_TMP/received.bin"; then
        printf '  %-60s ok (%s bytes)\n' "$name" "$got"
    else
        VERIFY_FAILED=1
        printf '  %-60s FAILED: received %s of %s bytes%s\n' "$name" "$got" "$VERIFY_BYTES" \
            "$( ((RUN_OK)) && echo '' || echo "; $RUN_WHY")"
    fi
done
rm -f "$BENCH_TMP/verify.bin" "$BENCH_TMP/received.bin"
echo

# --- timed runs -----------------------------------------------------------------
declare -A SECS=() LRSS=() SRSS=() FAILS=() SKIP=()
for ((rep = 1; rep <= REPS; rep++)); do
    # The pipe alone: the ceiling for any tool fed by `head`.
    t0=$EPOCHREALTIME
    head -c "$BYTES" /dev/zero | cat >/dev/null
    t1=$EPOCHREALTIME
    SECS[pipe]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", b-a}') "
    printf 'rep %d/%d  %-16s %8.3f s\n' "$rep" "$REPS" pipe "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"

    for cfg in "${CONFIGS[@]}"; do
        IFS='|' read -r name listen send <<<"$cfg"
        if [[ -n ${SKIP[$name]:-} ]]; then
            printf 'rep %d/%d  %-16s skipped (failed before)\n' "$rep" "$REPS" "$name"
            continue
        fi
        run_pair "$listen" "$send" "head -c $BYTES /dev/zero" /dev/null "$TIMEOUT"
        if ((RUN_OK)); then
            SECS[$name]+="$RUN_SECS "
            LRSS[$name]+="$RUN_LRSS "
            SRSS[$name]+="$RUN_SRSS "
            printf 'rep %d/%d  %-16s %8.3f s  %6.2f GB/s  rss listen %s KiB, send %s KiB\n' "$rep" "$REPS" "$name" \
                "$RUN_SECS" "$(awk -v n="$BYTES" -v s="$RUN_SECS" 'BEGIN{print n/s/1e9}')" "$RUN_LRSS" "$RUN_SRSS"
        else
            FAILS[$name]="${FAILS[$name]:-}rep $rep: $RUN_WHY"$'\n'
            SKIP[$name]=1
            printf 'rep %d/%d  %-16s FAILED: %s\n' "$rep" "$REPS" "$name" "$RUN_WHY"
        fi
    done
done
echo

# --- summary ----------------------------------------------------------------------
med_of() { tr ' ' '\n' <<<"${1:-}" | awk 'NF' | median; }
gbps() { awk -v n="$BYTES" -v s="$1" 'BEGIN{ if (s=="nan") print "nan"; else printf "%.2f", n/s/1e9 }'; }
mib() { awk -v k="$1" 'BEGIN{ if (k=="nan") print "nan"; else printf "%.1f", k/1024 }'; }

declare -A GB=()
printf '%-16s %10s %10s %5s %16s %14s\n' "pair" "median s" "GB/s" "runs" "listen RSS MiB" "send RSS MiB"
for name in pipe "nc->nc" "netkit->netkit" "nc->netkit" "netkit->nc"; do
    s=$(med_of "${SECS[$name]:-}")
    GB[$name]=$(gbps "$s")
    n=$(tr ' ' '\n' <<<"${SECS[$name]:-}" | awk 'NF{n++} END{print n+0}')
    if [[ $name == pipe ]]; then l=- w=-; else l=$(mib "$(med_of "${LRSS[$name]:-}")"); w=$(mib "$(med_of "${SRSS[$name]:-}")"); fi
    printf '%-16s %10s %10s %5s %16s %14s\n' "$name" "$s" "${GB[$name]}" "$n/$REPS" "$l" "$w"
done
echo
r=$(ratio "${GB[netkit->netkit]}" "${GB[nc->nc]}")
echo "ratio netkit->netkit / nc->nc (GB/s):      $r   (target >= 1.0)"
echo "ratio nc->netkit / nc->nc (receive side):  $(ratio "${GB[nc->netkit]}" "${GB[nc->nc]}")"
echo "ratio netkit->nc / nc->nc (send side):     $(ratio "${GB[netkit->nc]}" "${GB[nc->nc]}")"
echo "ratio netkit->netkit / pipe alone:         $(ratio "${GB[netkit->netkit]}" "${GB[pipe]}")"

verdict=FAIL
if [[ $r != nan ]] && awk -v r="$r" 'BEGIN{exit !(r >= 1.0)}'; then verdict=PASS; fi
echo "throughput target: $verdict"
rss_verdict=PASS
for name in "netkit->netkit" "nc->netkit" "netkit->nc"; do
    for k in ${LRSS[$name]:-} ${SRSS[$name]:-}; do
        [[ $k == nan ]] && continue
        ((k >= 16384)) && rss_verdict=FAIL
    done
done
[[ -z "${LRSS[netkit->netkit]:-}${LRSS[nc->netkit]:-}${SRSS[netkit->nc]:-}" ]] && rss_verdict="n/a (no successful netkit run)"
echo "RSS target (netkit < 16 MiB each side): $rss_verdict"
if ((${#FAILS[@]})); then
    echo
    echo "failed runs:"
    for name in "${!FAILS[@]}"; do printf '  %s: %s' "$name" "${FAILS[$name]}"; done
fi
((VERIFY_FAILED)) && echo "correctness pass: FAILED (see above)" || echo "correctness pass: ok"
