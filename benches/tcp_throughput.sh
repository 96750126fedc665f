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

echo "# tcp_throughput: $BYTES bytes per run, $REPS repetitions, loopback 127.0.0.1"
echo "# netkit: $NETKIT ($("$NETKIT" --version)); nc: OpenBSD netcat ($(dpkg-query -W -f '${Version}' netcat-openbsd 2>/dev/null || echo '?')); $(nproc) cores"
echo

# --- correctness pass: random bytes, compared with cmp ------------------------
verify_pairs 60 "$VERIFY_TIMEOUT" "$VERIFY_BYTES" "${CONFIGS[@]}" "netkit->netkit (listener default: half-close at stdin EOF)|$LISTEN_NETKIT_DEFAULT|$SEND_NETKIT"

# --- timed runs -----------------------------------------------------------------
declare -A SECS=() LRSS=() SRSS=() FAILS=() SKIP=()
for ((rep = 1; rep <= REPS; rep++)); do
    # The pipe alone: the ceiling for any tool fed by `head`.
    t0=$EPOCHREALTIME
    head -c "$BYTES" /dev/zero | cat >/dev/null
    t1=$EPOCHREALTIME
    SECS[pipe]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", b-a}') "
    printf 'rep %d/%d  %-16s %8.3f s\n' "$rep" "$REPS" pipe "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')"

    time_pairs "$rep" "${CONFIGS[@]}"
done
echo

# --- summary ----------------------------------------------------------------------
declare -A GB=()
pair_table pipe "nc->nc" "netkit->netkit" "nc->netkit" "netkit->nc"
echo
r=$(ratio "${GB[netkit->netkit]}" "${GB[nc->nc]}")
echo "ratio netkit->netkit / nc->nc (GB/s):      $r   (target >= 1.0)"
echo "ratio nc->netkit / nc->nc (receive side):  $(ratio "${GB[nc->netkit]}" "${GB[nc->nc]}")"
echo "ratio netkit->nc / nc->nc (send side):     $(ratio "${GB[netkit->nc]}" "${GB[nc->nc]}")"
echo "ratio netkit->netkit / pipe alone:         $(ratio "${GB[netkit->netkit]}" "${GB[pipe]}")"

throughput_verdict "$r"
rss_verdict=PASS
for name in "netkit->netkit" "nc->netkit" "netkit->nc"; do
    for k in ${LRSS[$name]:-} ${SRSS[$name]:-}; do
        [[ $k == nan ]] && continue
        ((k >= 16384)) && rss_verdict=FAIL
    done
done
[[ -z "${LRSS[netkit->netkit]:-}${LRSS[nc->netkit]:-}${SRSS[netkit->nc]:-}" ]] && rss_verdict="n/a (no successful netkit run)"
echo "RSS target (netkit < 16 MiB each side): $rss_verdict"
report_failures
