#!/usr/bin/env bash
# netkit http vs curl: 200 sequential runs (a new process and connection
# each) fetching a small file from a local nginx. Start-up, connect and
# teardown cost, side by side in one run. Prints the median total of each
# tool over ROUNDS rounds and the ratio. Target: netkit <= curl.
#
#   benches/http_sequential.sh          COUNT=200 ROUNDS=3 by default

source "$(dirname "${BASH_SOURCE[0]}")/http_lib.sh"

COUNT=${COUNT:-200}
ROUNDS=${ROUNDS:-3}

bench_setup
printf 'small file served by nginx\n' >"$WORK/www/small.txt"
start_nginx
URL="http://127.0.0.1:$NGINX_PORT/small.txt"

[[ $("$NETKIT" http "$URL") == "small file served by nginx" ]] || die "netkit fetched the wrong body"
[[ $("$CURL" -s "$URL") == "small file served by nginx" ]] || die "curl fetched the wrong body"

loop() {
    local i
    for ((i = 0; i < COUNT; i++)); do
        "$@" >/dev/null || die "run failed: $*"
    done
}

for r in $(seq 1 "$ROUNDS"); do
    t0=$(now_ns); loop "$NETKIT" http "$URL"; t1=$(now_ns)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }' >>"$WORK/netkit.total"
    t0=$(now_ns); loop "$CURL" -s "$URL"; t1=$(now_ns)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }' >>"$WORK/curl.total"
done

nk=$(median <"$WORK/netkit.total")
cu=$(median <"$WORK/curl.total")
r=$(ratio "$nk" "$cu")
echo "http_sequential: $COUNT sequential fetches of a small file from nginx, median of $ROUNDS rounds"
printf '  %-8s total %7.3f s  (%6.2f ms per run)\n' netkit "$nk" "$(awk -v t="$nk" -v n="$COUNT" 'BEGIN{print t*1000/n}')"
printf '  %-8s total %7.3f s  (%6.2f ms per run)\n' curl "$cu" "$(awk -v t="$cu" -v n="$COUNT" 'BEGIN{print t*1000/n}')"
echo "  total time ratio netkit/curl: $r  (target <= 1.0: $(verdict "$r" '<=' 1.0))"
