#!/usr/bin/env bash
# benches/tls_throughput.sh — bulk TLS throughput on loopback, netkit vs ncat --ssl.
#
# What: BYTES bytes of /dev/zero go through a TLS sender into a TLS listener
# that writes to /dev/null, over 127.0.0.1:
#   ncat -> ncat       head -c N /dev/zero | ncat --ssl 127.0.0.1 P
#                        /  ncat -l --no-shutdown --ssl-cert C --ssl-key K 127.0.0.1 P >/dev/null
#   netkit -> netkit   head -c N /dev/zero | netkit tcp connect --tls --cacert C --sni localhost 127.0.0.1 P
#                        /  netkit tcp listen --no-shutdown --tls-cert C --tls-key K --bind 127.0.0.1 P >/dev/null
#   ncat -> netkit, netkit -> ncat   the mixed pairs, to tell the sending side from the receiving one
# Both listeners get stdin from /dev/null and --no-shutdown: ncat's listener
# ends the session at its stdin's EOF otherwise (its client then fails with
# "Input/output error"), and netkit's would send close_notify at once, which
# is no part of what is measured. The certificate is an EC P-256 one made
# here with openssl (CA:FALSE, SAN localhost and 127.0.0.1); both tools
# negotiate TLS 1.3 with AES-256-GCM (printed below).
# The configurations are interleaved within each repetition, so machine
# noise hits them alike; medians are reported. Peak RSS of each side comes
# from /usr/bin/time -f %M.
# Before timing, a correctness pass sends VERIFY_BYTES of random data
# through each pair into a file and compares it with cmp.
#
# Target: netkit->netkit GB/s / ncat->ncat GB/s >= 1.0.
#
# Run:   bash benches/tls_throughput.sh
# Knobs: BYTES (default 1073741824), REPS (5), VERIFY_BYTES (min(BYTES, 64 MiB)),
#        TIMEOUT (seconds per run; default 10 + BYTES/50 MB/s), NETKIT (binary path).
# GB/s here is 10^9 bytes per second.

source "$(dirname "$0")/tcp_lib.sh"

BYTES=${BYTES:-1073741824}
REPS=${REPS:-5}
VERIFY_BYTES=${VERIFY_BYTES:-$((BYTES < 67108864 ? BYTES : 67108864))}
TIMEOUT=${TIMEOUT:-$((10 + BYTES / 50000000))}
VERIFY_TIMEOUT=30

ensure_netkit
need ncat ncat
need openssl openssl
need ss iproute2
[[ -x /usr/bin/time ]] || need /usr/bin/time time
GNU_TIME=/usr/bin/time

CERT=$BENCH_TMP/cert.pem
KEY=$BENCH_TMP/key.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -addext 'basicConstraints=critical,CA:FALSE' -addext 'keyUsage=digitalSignature' \
    -addext 'extendedKeyUsage=serverAuth' \
    -keyout "$KEY" -out "$CERT" 2>/dev/null || { echo "error: openssl req failed" >&2; exit 2; }

# --- the sides: commands with PORT for the port (word-split; $BENCH_TMP has no spaces) ---
LISTEN_NCAT="ncat -l --no-shutdown --ssl-cert $CERT --ssl-key $KEY 127.0.0.1 PORT"
LISTEN_NETKIT="$NETKIT tcp listen --no-shutdown --tls-cert $CERT --tls-key $KEY --bind 127.0.0.1 PORT"
SEND_NCAT="ncat --ssl 127.0.0.1 PORT"
SEND_NETKIT="$NETKIT tcp connect --tls --cacert $CERT --sni localhost 127.0.0.1 PORT"

# name | listener | sender
CONFIGS=(
    "ncat->ncat|$LISTEN_NCAT|$SEND_NCAT"
    "netkit->netkit|$LISTEN_NETKIT|$SEND_NETKIT"
    "ncat->netkit|$LISTEN_NETKIT|$SEND_NCAT"
    "netkit->ncat|$LISTEN_NCAT|$SEND_NETKIT"
)

last_line() { [[ -s $1 ]] && tail -n 1 "$1" || echo nan; }

# run_pair LISTEN SEND SOURCE-CMD OUT TIMEOUT: one transfer, SOURCE-CMD | SEND -> LISTEN > OUT. Sets RUN_SECS,
# RUN_OK (1/0), RUN_WHY, RUN_LRSS, RUN_SRSS (KiB).
run_pair() {
    local listen=$1 send=$2 source=$3 out=$4 limit=$5 port lpid t0 t1 lst=0 st
    port=$(free_port)
    rm -f "$BENCH_TMP"/l.rss "$BENCH_TMP"/s.rss
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

echo "# tls_throughput: $BYTES bytes per run, $REPS repetitions, loopback 127.0.0.1"
echo "# netkit: $NETKIT ($("$NETKIT" --version)); $(ncat --version 2>&1 | head -n 1); $(openssl version); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
# What each listener negotiates, as netkit's client reports it (-v).
negotiated() { # negotiated LISTEN: the "* TLS:" line of one small exchange
    local port lpid
    port=$(free_port)
    ${1//PORT/$port} </dev/null >/dev/null 2>&1 &
    lpid=$!
    track "$lpid"
    wait_listening "$port"
    local send=${SEND_NETKIT//PORT/$port}
    echo hello | timeout 10 ${send/ tcp connect/ -v tcp connect} 2>&1 >/dev/null | sed -n 's/^\* TLS: //p' | head -n 1
    kill "$lpid" 2>/dev/null || true
    wait "$lpid" 2>/dev/null || true
}
echo "# ncat's listener negotiates:   $(negotiated "$LISTEN_NCAT")"
echo "# netkit's listener negotiates: $(negotiated "$LISTEN_NETKIT")"
echo

# --- correctness pass: random bytes, compared with cmp ------------------------
echo "## correctness: $VERIFY_BYTES random bytes through each pair (received file compared with cmp)"
head -c "$VERIFY_BYTES" /dev/urandom >"$BENCH_TMP/verify.bin"
VERIFY_FAILED=0
for cfg in "${CONFIGS[@]}"; do
    IFS='|' read -r name listen send <<<"$cfg"
    run_pair "$listen" "$send" "cat $BENCH_TMP/verify.bin" "$BENCH_TMP/received.bin" "$VERIFY_TIMEOUT"
    got=$(stat -c %s "$BENCH_TMP/received.bin")
    if ((RUN_OK)) && cmp -s "$BENCH_TMP/verify.bin" "$BENCH_TMP/received.bin"; then
        printf '  %-20s ok (%s bytes)\n' "$name" "$got"
    else
        VERIFY_FAILED=1
        printf '  %-20s FAILED: received %s of %s bytes%s\n' "$name" "$got" "$VERIFY_BYTES" \
            "$( ((RUN_OK)) && echo '' || echo "; $RUN_WHY")"
    fi
done
rm -f "$BENCH_TMP/verify.bin" "$BENCH_TMP/received.bin"
echo

# --- timed runs -----------------------------------------------------------------
declare -A SECS=() LRSS=() SRSS=() FAILS=() SKIP=()
for ((rep = 1; rep <= REPS; rep++)); do
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
for name in "ncat->ncat" "netkit->netkit" "ncat->netkit" "netkit->ncat"; do
    s=$(med_of "${SECS[$name]:-}")
    GB[$name]=$(gbps "$s")
    n=$(tr ' ' '\n' <<<"${SECS[$name]:-}" | awk 'NF{n++} END{print n+0}')
    l=$(mib "$(med_of "${LRSS[$name]:-}")")
    w=$(mib "$(med_of "${SRSS[$name]:-}")")
    printf '%-16s %10s %10s %5s %16s %14s\n' "$name" "$s" "${GB[$name]}" "$n/$REPS" "$l" "$w"
done
echo
r=$(ratio "${GB[netkit->netkit]}" "${GB[ncat->ncat]}")
echo "ratio netkit->netkit / ncat->ncat (GB/s):      $r   (target >= 1.0)"
echo "ratio ncat->netkit / ncat->ncat (receive side): $(ratio "${GB[ncat->netkit]}" "${GB[ncat->ncat]}")"
echo "ratio netkit->ncat / ncat->ncat (send side):    $(ratio "${GB[netkit->ncat]}" "${GB[ncat->ncat]}")"
verdict=FAIL
if [[ $r != nan ]] && awk -v r="$r" 'BEGIN{exit !(r >= 1.0)}'; then verdict=PASS; fi
echo "throughput target: $verdict"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((${#FAILS[@]})); then
    echo
    echo "failed runs:"
    for name in "${!FAILS[@]}"; do printf '  %s: %s' "$name" "${FAILS[$name]}"; done
fi
((VERIFY_FAILED)) && echo "correctness pass: FAILED (see above)" || echo "correctness pass: ok"
