#!/usr/bin/env bash
# benches/udp_recv_rate.sh — UDP receive rate on loopback, netkit vs socat.
#
# What: a small C blaster (compiled here with gcc, sendmmsg(2) 256 at a time
# on a connected socket) sends COUNT datagrams of SIZE bytes, as fast as it
# can, to 127.0.0.1:PORT. On the other end, one receiver at a time:
#   netkit   netkit -v udp recv --raw --bind 127.0.0.1 PORT > FILE
#   socat    socat -u UDP-RECV:PORT,bind=127.0.0.1 OPEN:FILE,creat,trunc
#   socat+buf  the same with rcvbuf=8388608 (netkit asks the kernel for an
#            8 MiB receive buffer, capped at net.core.rmem_max; this row
#            shows how much of the difference is the buffer alone)
# Both write the payloads to a file, so both pay for one write path; the
# datagrams received are FILE's size / SIZE. When the blaster is done, the
# script waits until the receiver's socket queue is empty (/proc/net/udp),
# reads the kernel's drop counter for that socket there, then ends the
# receiver (netkit with SIGINT, after which it prints its summary and exits
# 130; socat with SIGTERM). Idle timeouts (netkit --timeout, socat -T) are
# not used: on a loaded machine the blaster can start late and end a run
# before the first datagram.
#
# Reported per receiver (medians over ROUNDS, receivers interleaved and their
# order rotated each round so machine noise hits them alike):
#   received   datagrams that reached the file
#   rate       received / seconds from the first datagram sent until the
#              receiver's queue was empty (datagrams per second)
#   drops      the kernel's drop counter for the receiver's socket
#              (for netkit also the count netkit itself reports in its
#              summary, from SO_RXQ_OVFL; the two must agree)
# and the ratio netkit rate / socat rate (target >= 1.0).
#
# Run:   bash benches/udp_recv_rate.sh
# Knobs: COUNT (1000000), SIZE (64), ROUNDS (3), NETKIT (binary path),
#        SOCAT_BUF (1: also run socat with rcvbuf=8 MiB; 0 to skip).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

COUNT=${COUNT:-1000000}
SIZE=${SIZE:-64}
ROUNDS=${ROUNDS:-3}
SOCAT_BUF=${SOCAT_BUF:-1}
NETKIT=${NETKIT:-target/release/netkit}

if [[ ! -x $NETKIT ]]; then
    echo "# building release binary ($NETKIT missing)" >&2
    cargo build --release >&2
fi
for tool in gcc socat python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 2; }
done
[[ -r /proc/net/udp ]] || { echo "error: /proc/net/udp is required" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/netkit-udp-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
# A private copy, so a rebuild during the run cannot swap the binary.
cp "$NETKIT" "$TMP/netkit"
NETKIT=$TMP/netkit
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the blaster -------------------------------------------------------------
cat > "$TMP/blast.c" <<'EOF'
/* blast HOST PORT COUNT SIZE: COUNT datagrams of SIZE bytes, sendmmsg 256 at
   a time on a connected socket; prints "sent seconds". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define BATCH 256

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: blast HOST PORT COUNT SIZE\n");
        return 2;
    }
    long count = atol(argv[3]);
    size_t size = (size_t)atol(argv[4]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) { perror("socket"); return 1; }
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) { fprintf(stderr, "bad host\n"); return 2; }
    if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("connect"); return 1; }
    char *payload = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++) payload[i] = 'a' + i % 26;
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = payload;
        iov[i].iov_len = size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long sent = 0;
    while (sent < count) {
        unsigned n = count - sent < BATCH ? (unsigned)(count - sent) : BATCH;
        int r = sendmmsg(fd, msgs, n, 0);
        if (r < 0) {
            /* A stray ICMP error or a full device queue: try again. */
            if (errno == EINTR || errno == ECONNREFUSED || errno == ENOBUFS || errno == EAGAIN) continue;
            perror("sendmmsg");
            return 1;
        }
        sent += r;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%ld %.6f\n", sent, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
EOF
gcc -O2 -o "$TMP/blast" "$TMP/blast.c"

# --- helpers -----------------------------------------------------------------
free_udp_port() {
    python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# udp_counters PORT: "rx_queue_bytes drops" of the socket on 127.0.0.1:PORT,
# or nothing when no such socket exists.
udp_counters() {
    local hex
    hex=$(printf '0100007F:%04X' "$1")
    local line
    line=$(awk -v a="$hex" '$2 == a { split($5, q, ":"); print q[2], $NF; exit }' /proc/net/udp)
    [[ -n $line ]] || return 0
    echo "$((16#${line%% *})) ${line##* }"
}

now() { date +%s.%N; }

# wait_bound PORT: until a socket is bound there (up to 10 s).
wait_bound() {
    local i
    for ((i = 0; i < 1000; i++)); do
        [[ -n $(udp_counters "$1") ]] && return 0
        sleep 0.01
    done
    echo "error: nothing bound to 127.0.0.1:$1 after 10 s" >&2
    return 1
}

# wait_drained PORT: until the socket's queue is empty (up to 60 s).
wait_drained() {
    local i c
    for ((i = 0; i < 6000; i++)); do
        c=$(udp_counters "$1")
        [[ -z $c || ${c%% *} == 0 ]] && return 0
        sleep 0.01
    done
    echo "error: the receiver on port $1 never drained its queue" >&2
    return 1
}

median() {
    sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'
}

# blast PORT: runs the blaster; sets SENT and T_START.
blast() {
    T_START=$(now)
    local secs
    read -r SENT secs < <("$TMP/blast" 127.0.0.1 "$1" "$COUNT" "$SIZE")
    [[ ${DEBUG:-0} == 1 ]] && echo "# blast to $1: sent ${SENT:-?} in ${secs:-?} s, started $T_START, done $(now)" >&2
    return 0
}

# --- one run of each receiver: sets RES="received rate kernel_drops own_drops" --
run_netkit() {
    local out=$TMP/netkit.out log=$TMP/netkit.log port="" pid t_end kd own rc i
    "$NETKIT" -v udp recv --raw --bind 127.0.0.1 0 > "$out" 2> "$log" &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < 1000; i++)); do
        port=$(sed -n 's/^\* listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log" 2>/dev/null || true)
        [[ -n $port ]] && break
        sleep 0.01
    done
    [[ -n $port ]] || { echo "error: netkit did not start: $(cat "$log")" >&2; exit 1; }
    blast "$port"
    wait_drained "$port"
    t_end=$(now)
    sleep 0.2
    kd=$(udp_counters "$port" | cut -d' ' -f2)
    kill -INT "$pid"
    rc=0
    wait "$pid" || rc=$?
    [[ $rc == 130 ]] || { echo "error: netkit exited $rc, not 130 (SIGINT): $(cat "$log")" >&2; exit 1; }
    own=$(grep -o '[0-9]* dropped by the kernel' "$log" | cut -d' ' -f1)
    local got=$(( $(stat -c %s "$out") / SIZE ))
    local said
    said=$(grep -o 'received [0-9]*' "$log" | cut -d' ' -f2)
    [[ $said == "$got" ]] || echo "warning: netkit says it received $said, the file holds $got" >&2
    rm -f "$out"
    RES="$got $(awk -v n="$got" -v a="$T_START" -v b="$t_end" 'BEGIN{printf "%.0f", n/(b-a)}') ${kd:-nan} ${own:-nan}"
}

run_socat() { # run_socat [EXTRA-OPTIONS]
    local out=$TMP/socat.out port pid t_end kd
    port=$(free_udp_port)
    socat -u "UDP-RECV:$port,bind=127.0.0.1${1:-}" "OPEN:$out,creat,trunc" 2> "$TMP/socat.log" &
    pid=$!
    PIDS+=("$pid")
    wait_bound "$port"
    blast "$port"
    wait_drained "$port"
    t_end=$(now)
    sleep 0.2
    kd=$(udp_counters "$port" | cut -d' ' -f2)
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    local got=$(( $(stat -c %s "$out") / SIZE ))
    rm -f "$out"
    RES="$got $(awk -v n="$got" -v a="$T_START" -v b="$t_end" 'BEGIN{printf "%.0f", n/(b-a)}') ${kd:-nan} -"
}

# --- the rounds --------------------------------------------------------------
receivers=(netkit socat)
[[ $SOCAT_BUF == 1 ]] && receivers+=(socat+buf)
declare -A RATES RECEIVED DROPS OWN BLAST

echo "# $COUNT datagrams of $SIZE bytes to 127.0.0.1, $ROUNDS rounds; $(nproc) CPUs;" \
     "rmem_max $(cat /proc/sys/net/core/rmem_max), rmem_default $(cat /proc/sys/net/core/rmem_default)"
printf '%-6s %-10s %10s %10s %8s %12s %12s %12s\n' \
    round receiver sent received lost rate/s kernel-drops netkit-says
for ((r = 1; r <= ROUNDS; r++)); do
    n=${#receivers[@]}
    for ((k = 0; k < n; k++)); do
        who=${receivers[(k + r - 1) % n]}
        case $who in
            netkit) run_netkit ;;
            socat) run_socat ;;
            socat+buf) run_socat ",rcvbuf=8388608" ;;
        esac
        read -r got rate kd own <<< "$RES"
        lost=$(awk -v s="$COUNT" -v g="$got" 'BEGIN{printf "%.1f%%", 100*(s-g)/s}')
        printf '%-6s %-10s %10s %10s %8s %12s %12s %12s\n' "$r" "$who" "$COUNT" "$got" "$lost" "$rate" "$kd" "$own"
        RATES[$who]+="$rate "
        RECEIVED[$who]+="$got "
        DROPS[$who]+="$kd "
        OWN[$who]+="$own "
        if [[ $who == netkit && $own != nan && $kd != nan && $own != "$kd" ]]; then
            echo "warning: netkit reported $own drops, the kernel counted $kd" >&2
        fi
    done
done

echo
echo "# medians over $ROUNDS rounds"
printf '%-10s %12s %12s %12s\n' receiver received rate/s kernel-drops
for who in "${receivers[@]}"; do
    printf '%-10s %12s %12s %12s\n' "$who" \
        "$(tr ' ' '\n' <<< "${RECEIVED[$who]}" | grep . | median)" \
        "$(tr ' ' '\n' <<< "${RATES[$who]}" | grep . | median)" \
        "$(tr ' ' '\n' <<< "${DROPS[$who]}" | grep . | median)"
done
nk=$(tr ' ' '\n' <<< "${RATES[netkit]}" | grep . | median)
so=$(tr ' ' '\n' <<< "${RATES[socat]}" | grep . | median)
echo
echo "ratio netkit/socat (rate): $(awk -v a="$nk" -v b="$so" 'BEGIN{ if (b==0) print "nan"; else printf "%.2f", a/b }')  (target >= 1.0)"
if [[ $SOCAT_BUF == 1 ]]; then
    sb=$(tr ' ' '\n' <<< "${RATES[socat+buf]}" | grep . | median)
    echo "ratio netkit/socat+buf (rate): $(awk -v a="$nk" -v b="$sb" 'BEGIN{ if (b==0) print "nan"; else printf "%.2f", a/b }')"
fi
