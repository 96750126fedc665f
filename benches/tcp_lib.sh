# benches/tcp_lib.sh — helpers shared by tcp_*.sh, startup.sh and ws_lib.sh (sourced, not run).
#
# Gives: $NETKIT (the binary; built with `cargo build --release` if missing),
# free_port, wait_listening PORT, median, a scratch dir $BENCH_TMP, and a
# cleanup trap that kills every background process registered with
# `track PID`: its process group when it leads one, else it and its children
# (e.g. /usr/bin/time and the tool it runs).
# For the sender -> listener pair benches (tcp_throughput.sh,
# tls_throughput.sh): run_pair, verify_pairs, time_pairs, pair_table,
# throughput_verdict and report_failures (see "pair benches" below).

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

# --- pair benches: SOURCE | sender -> listener > OUT -------------------------------
# A configuration is "name|listener command|sender command", the commands
# with PORT for the port (word-split, so no spaces in paths).
# time_pairs fills the associative arrays SECS, LRSS, SRSS (space-separated
# figures per name), FAILS and SKIP, which the caller declares with
# `declare -A SECS=() LRSS=() SRSS=() FAILS=() SKIP=()`; they read BYTES,
# REPS and TIMEOUT.

GNU_TIME=/usr/bin/time

last_line() { [[ -s $1 ]] && tail -n 1 "$1" || echo nan; }

# run_pair LISTEN SEND SOURCE-CMD OUT TIMEOUT: one transfer, SOURCE-CMD | SEND -> LISTEN > OUT. Sets RUN_SECS,
# RUN_OK (1/0), RUN_WHY, RUN_LRSS, RUN_SRSS (KiB).
run_pair() {
    local listen=$1 send=$2 source=$3 out=$4 limit=$5 port lpid t0 t1 lst=0 st
    port=$(free_port)
    rm -f "$BENCH_TMP"/l.rss "$BENCH_TMP"/s.rss
    # /usr/bin/time runs the tool itself (no shell in between), so %M is the tool's own peak RSS.
    timeout -k 2 "$limit" "$GNU_TIME" -f %M -o "$BENCH_TMP/l.rss" \
        ${listen//PORT/$port} </dev/null >"$out" 2>"$BENCH_TMP/l.err" &
    lpid=$!
    track "$lpid"
    wait_listening "$port"
    t0=$EPOCHREALTIME
    set +e
    $source | timeout -k 2 "$limit" "$GNU_TIME" -f %M -o "$BENCH_TMP/s.rss" \
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

# verify_pairs WIDTH TIMEOUT BYTES CFG...: the correctness pass: BYTES random
# bytes through each pair into a file, compared with cmp; one line a pair,
# its name padded to WIDTH. Sets VERIFY_FAILED (1/0).
verify_pairs() {
    local width=$1 limit=$2 bytes=$3 cfg name listen send got
    shift 3
    echo "## correctness: $bytes random bytes through each pair (received file compared with cmp)"
    head -c "$bytes" /dev/urandom >"$BENCH_TMP/verify.bin"
    VERIFY_FAILED=0
    for cfg in "$@"; do
        IFS='|' read -r name listen send <<<"$cfg"
        run_pair "$listen" "$send" "cat $BENCH_TMP/verify.bin" "$BENCH_TMP/received.bin" "$limit"
        got=$(stat -c %s "$BENCH_TMP/received.bin")
        if ((RUN_OK)) && cmp -s "$BENCH_TMP/verify.bin" "$BENCH_TMP/received.bin"; then
            printf '  %-*s ok (%s bytes)\n' "$width" "$name" "$got"
        else
            VERIFY_FAILED=1
            printf '  %-*s FAILED: received %s of %s bytes%s\n' "$width" "$name" "$got" "$bytes" \
                "$( ((RUN_OK)) && echo '' || echo "; $RUN_WHY")"
        fi
    done
    rm -f "$BENCH_TMP/verify.bin" "$BENCH_TMP/received.bin"
    echo
}

# time_pairs REP CFG...: repetition REP of the timed runs, BYTES of /dev/zero
# through each pair; a pair that fails once is skipped from then on.
time_pairs() {
    local rep=$1 cfg name listen send
    shift
    for cfg in "$@"; do
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
}

med_of() { tr ' ' '\n' <<<"${1:-}" | awk 'NF' | median; }
gbps() { awk -v n="$BYTES" -v s="$1" 'BEGIN{ if (s=="nan") print "nan"; else printf "%.2f", n/s/1e9 }'; }
mib() { awk -v k="$1" 'BEGIN{ if (k=="nan") print "nan"; else printf "%.1f", k/1024 }'; }

# pair_table NAME...: the summary, a row a name (median seconds, GB/s, runs,
# median RSS of each side); fills the associative array GB (GB/s per name),
# which the caller declares. A name timed without RSS figures (a plain pipe)
# shows "-" for them.
pair_table() {
    local name s n l w
    printf '%-16s %10s %10s %5s %16s %14s\n' "pair" "median s" "GB/s" "runs" "listen RSS MiB" "send RSS MiB"
    for name in "$@"; do
        s=$(med_of "${SECS[$name]:-}")
        GB[$name]=$(gbps "$s")
        n=$(tr ' ' '\n' <<<"${SECS[$name]:-}" | awk 'NF{n++} END{print n+0}')
        if [[ -n ${SECS[$name]:-} && -z ${LRSS[$name]:-} ]]; then
            l=- w=-
        else
            l=$(mib "$(med_of "${LRSS[$name]:-}")")
            w=$(mib "$(med_of "${SRSS[$name]:-}")")
        fi
        printf '%-16s %10s %10s %5s %16s %14s\n' "$name" "$s" "${GB[$name]}" "$n/$REPS" "$l" "$w"
    done
}

# throughput_verdict RATIO: PASS when RATIO >= 1.0.
throughput_verdict() {
    local verdict=FAIL
    if [[ $1 != nan ]] && awk -v r="$1" 'BEGIN{exit !(r >= 1.0)}'; then verdict=PASS; fi
    echo "throughput target: $verdict"
}

# report_failures: the failed timed runs, then the correctness pass's verdict.
report_failures() {
    local name
    if ((${#FAILS[@]})); then
        echo
        echo "failed runs:"
        for name in "${!FAILS[@]}"; do printf '  %s: %s' "$name" "${FAILS[$name]}"; done
    fi
    if ((VERIFY_FAILED)); then echo "correctness pass: FAILED (see above)"; else echo "correctness pass: ok"; fi
}

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
