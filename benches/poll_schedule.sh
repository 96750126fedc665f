#!/usr/bin/env bash
# netkit poll's schedule: COUNT polls at -n INTERVAL against a local nginx,
# timed from the outside (process start to exit).
#
# Polls are scheduled from their start times, with the first one at t=0, so
# COUNT polls end at (COUNT-1) x INTERVAL plus the last poll's latency:
# 4.95 s + ~0.3 ms for 100 x 50 ms. The target is COUNT x INTERVAL ± 2 %
# (5.0 s ± 0.1 s). Also printed: when the last poll started and the largest
# drift of any poll from its slot (from the JSON events: ts - latency, ms
# resolution). Beside it, the shell habit it replaces - curl, then sleep, in
# a loop - which drifts by the cost of every request and process start.
# Medians over ROUNDS rounds.
#
#   benches/poll_schedule.sh        COUNT=100 INTERVAL_MS=50 ROUNDS=3

source "$(dirname "${BASH_SOURCE[0]}")/poll_lib.sh"

COUNT=${COUNT:-100}
INTERVAL_MS=${INTERVAL_MS:-50}
ROUNDS=${ROUNDS:-3}
CURL=${CURL:-$(command -v curl || true)}

poll_setup
printf 'status: ok\n' >"$WORK/www/status.txt"
start_nginx
URL="http://127.0.0.1:$NGINX_PORT/status.txt"

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'; }

# schedule FILE: "LAST_START_S MAX_DRIFT_MS MEDIAN_DRIFT_MS" from the poll_result events.
schedule() {
    python3 - "$1" "$INTERVAL_MS" "$COUNT" <<'PY'
import json, sys, datetime
path, interval, count = sys.argv[1], float(sys.argv[2]) / 1000, int(sys.argv[3])
starts, summary = [], None
for line in open(path):
    e = json.loads(line)
    if e["event"] == "poll_result":
        ts = datetime.datetime.fromisoformat(e["ts"].replace("Z", "+00:00")).timestamp()
        starts.append(ts - e["latency"])
    elif e["event"] == "summary":
        summary = e
assert len(starts) == count, f"{len(starts)} polls, not {count}"
assert summary and summary["errors"] == 0, f"errors: {summary}"
drifts = sorted(abs(s - starts[0] - i * interval) for i, s in enumerate(starts))
print(f"{starts[-1] - starts[0]:.4f} {drifts[-1] * 1000:.1f} {drifts[len(drifts) // 2] * 1000:.1f}")
PY
}

for ((r = 1; r <= ROUNDS; r++)); do
    t0=$(now_ns)
    "$NETKIT" --json poll -n "${INTERVAL_MS}ms" -c "$COUNT" "$URL" >"$WORK/run.json"
    t1=$(now_ns)
    secs "$t0" "$t1" >>"$WORK/netkit.wall"
    read -r last drift mdrift < <(schedule "$WORK/run.json")
    echo "$last" >>"$WORK/netkit.last"
    echo "$drift" >>"$WORK/netkit.drift"
    echo "$mdrift" >>"$WORK/netkit.mdrift"

    if [[ -n $CURL ]]; then
        sleep_s=$(awk -v ms="$INTERVAL_MS" 'BEGIN { printf "%.3f", ms / 1000 }')
        t0=$(now_ns)
        for ((i = 1; i <= COUNT; i++)); do
            "$CURL" -s -o /dev/null "$URL"
            ((i < COUNT)) && sleep "$sleep_s"
        done
        t1=$(now_ns)
        secs "$t0" "$t1" >>"$WORK/curl.wall"
    fi
done

target=$(awk -v n="$COUNT" -v ms="$INTERVAL_MS" 'BEGIN { printf "%.4f", n * ms / 1000 }')
ideal=$(awk -v n="$COUNT" -v ms="$INTERVAL_MS" 'BEGIN { printf "%.4f", (n - 1) * ms / 1000 }')
err() { awk -v v="$1" -v t="$2" 'BEGIN { printf "%+.2f", (v - t) * 100 / t }'; }

nk=$(median <"$WORK/netkit.wall")
last=$(median <"$WORK/netkit.last")
drift=$(sort -g "$WORK/netkit.drift" | tail -n 1)
mdrift=$(median <"$WORK/netkit.mdrift")
nk_err=$(err "$nk" "$target")
abs_err=$(awk -v e="$nk_err" 'BEGIN { print (e < 0 ? -e : e) }')

echo "poll_schedule: $COUNT polls at -n ${INTERVAL_MS}ms against nginx, median of $ROUNDS rounds"
printf '  %-12s wall %6.3f s  error vs %.2f s: %s %%  (vs the ideal %.2f s + last latency: %s %%)\n' \
    "netkit poll" "$nk" "$target" "$nk_err" "$ideal" "$(err "$nk" "$ideal")"
printf '  %-12s last poll started at %.3f s (ideal %.3f s); drift of a poll from its slot:\n' \
    "" "$last" "$ideal"
printf '  %-12s median %s ms, largest %s ms (a late poll is not followed by later ones)\n' "" "$mdrift" "$drift"
if [[ -f $WORK/curl.wall ]]; then
    cu=$(median <"$WORK/curl.wall")
    printf '  %-12s wall %6.3f s  error vs %.2f s: %s %%\n' "curl + sleep" "$cu" "$target" "$(err "$cu" "$target")"
fi
printf '  target %.2f s ± 2 %%: %s\n' "$target" "$(verdict "$abs_err" '<=' 2)"
