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
verify_pairs 20 "$VERIFY_TIMEOUT" "$VERIFY_BYTES" "${CONFIGS[@]}"

# --- timed runs -----------------------------------------------------------------
declare -A SECS=() LRSS=() SRSS=() FAILS=() SKIP=()
for ((rep = 1; rep <= REPS; rep++)); do
    time_pairs "$rep" "${CONFIGS[@]}"
done
echo

# --- summary ----------------------------------------------------------------------
declare -A GB=()
pair_table "ncat->ncat" "netkit->netkit" "ncat->netkit" "netkit->ncat"
echo
r=$(ratio "${GB[netkit->netkit]}" "${GB[ncat->ncat]}")
echo "ratio netkit->netkit / ncat->ncat (GB/s):      $r   (target >= 1.0)"
echo "ratio ncat->netkit / ncat->ncat (receive side): $(ratio "${GB[ncat->netkit]}" "${GB[ncat->ncat]}")"
echo "ratio netkit->ncat / ncat->ncat (send side):    $(ratio "${GB[netkit->ncat]}" "${GB[ncat->ncat]}")"
throughput_verdict "$r"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
report_failures
