#!/usr/bin/env bash
# Memory of a long `netkit poll` run: POLLS polls as fast as they go
# (--long: the next request leaves when the response arrives) against a
# local nginx, reading VmRSS from /proc/PID/status at checkpoints while the
# loop runs. Bodies are hashed as they stream and latencies go to a
# fixed-size histogram, so RSS must stay flat. Three runs:
#   304      --long, conditional polls (ETag; nginx answers 304)
#   200      --long --no-conditional --changes, a BODY_KIB KiB body every
#            time (hashed, compared, and held for --changes)
#   -n 1ms   regular polling at the smallest practical interval (304s);
#            about 0.1 ms a poll slower, so it takes ~2 min for 100k
#            (INTERVAL_RUN=0 skips it)
# Target: flat (growth from the 10k checkpoint to the end within 256 KiB,
# i.e. no per-poll growth). The peak (VmHWM) is printed too.
#
#   benches/poll_memory.sh          POLLS=100000 BODY_KIB=16 INTERVAL_RUN=1

source "$(dirname "${BASH_SOURCE[0]}")/poll_lib.sh"

POLLS=${POLLS:-100000}
BODY_KIB=${BODY_KIB:-16}
INTERVAL_RUN=${INTERVAL_RUN:-1}

poll_setup
printf 'small status\n' >"$WORK/www/status.txt"
head -c $((BODY_KIB * 1024)) /dev/urandom >"$WORK/www/body.bin"
start_nginx

# Reads netkit's poll lines, samples VmRSS at the checkpoints, then stops
# netkit with SIGINT. Prints "N:KiB ..." then "SECONDS PEAK_KIB".
cat >"$WORK/sample.py" <<'PY'
import os, signal, sys, time
pid, polls = int(sys.argv[1]), int(sys.argv[2])
marks = sorted({m for m in (1000, 10_000, 25_000, 50_000, 75_000, polls) if m <= polls})
def rss(field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
out, n, t0 = [], 0, time.monotonic()
for line in sys.stdin.buffer:
    if b"  #" not in line:
        continue
    n += 1
    if n == marks[0]:
        out.append(f"{n}:{rss()}")
        marks.pop(0)
        if not marks:
            break
elapsed = time.monotonic() - t0
peak = rss("VmHWM")
os.kill(pid, signal.SIGINT)
print(" ".join(out))
print(f"{elapsed:.2f} {peak}")
PY

# measure LABEL ARGS...: one run; leaves the samples in $WORK/LABEL.
measure() {
    local label=$1
    shift
    rm -f "$WORK/fifo"
    mkfifo "$WORK/fifo"
    # --changes sends the poll lines to stderr: take them from there.
    if [[ " $* " == *" --changes "* ]]; then
        "$NETKIT" poll "$@" 2>"$WORK/fifo" >/dev/null &
    else
        "$NETKIT" poll "$@" >"$WORK/fifo" 2>/dev/null &
    fi
    local pid=$!
    track "$pid"
    python3 "$WORK/sample.py" "$pid" "$POLLS" <"$WORK/fifo" >"$WORK/$label"
    wait "$pid" 2>/dev/null || true
}

row() {
    local label=$1 samples secs peak first=0 last=0 at10k=0 s n kib
    samples=$(head -n 1 "$WORK/$label")
    read -r secs peak < <(tail -n 1 "$WORK/$label")
    printf '  %-34s' "$2"
    for s in $samples; do
        n=${s%%:*} kib=${s##*:}
        printf ' %7s' "$kib"
        ((first == 0)) && first=$kib
        ((n == 10000)) && at10k=$kib
        last=$kib
    done
    printf '   %+7d   %7s   %5.0f/s\n' $((last - at10k)) "$peak" "$(awk -v n="$POLLS" -v s="$secs" 'BEGIN { print n / s }')"
    echo $((last - at10k)) >>"$WORK/growth"
}

measure cond --long "http://127.0.0.1:$NGINX_PORT/status.txt"
measure body --long --no-conditional --changes "http://127.0.0.1:$NGINX_PORT/body.bin"
((INTERVAL_RUN)) && measure interval -n 1ms "http://127.0.0.1:$NGINX_PORT/status.txt"

header=$(head -n 1 "$WORK/cond" | tr ' ' '\n' | awk -F: '{ printf " %7s", ($1 >= 1000 ? $1 / 1000 "k" : $1) }')
echo "poll_memory: VmRSS (KiB) of netkit poll against nginx, sampled by poll count"
printf '  %-34s%s   %7s   %7s   %s\n' "polls" "$header" "10k->end" "peak" "polls"
row cond "--long, 304 Not Modified"
row body "--long, 200 + ${BODY_KIB} KiB, --changes"
((INTERVAL_RUN)) && row interval "-n 1ms, 304 Not Modified"
worst=$(sort -g "$WORK/growth" | tail -n 1)
echo "  target flat (growth after 10k polls <= 256 KiB): $(verdict "$worst" '<=' 256)"
