#!/usr/bin/env bash
# netkit http vs curl: one 1 GiB file from a local nginx to /dev/null,
# side by side in one run. Prints the median wall time and peak RSS of each
# tool and the ratios. Targets: netkit wall time <= curl's; netkit peak RSS
# <= 16 MiB (the body streams through a fixed buffer, never gathered).
#
#   benches/http_download.sh            RUNS=5 SIZE_MIB=1024 by default

source "$(dirname "${BASH_SOURCE[0]}")/http_lib.sh"

RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-1024}

bench_setup
head -c $((SIZE_MIB * 1024 * 1024)) /dev/zero >"$WORK/www/big.bin"
start_nginx
URL="http://127.0.0.1:$NGINX_PORT/big.bin"

# Warm up (page cache, nginx) and check both tools fetch the whole file.
[[ $("$NETKIT" http "$URL" | wc -c) -eq $((SIZE_MIB * 1024 * 1024)) ]] || die "netkit fetched a wrong size"
[[ $("$CURL" -s "$URL" | wc -c) -eq $((SIZE_MIB * 1024 * 1024)) ]] || die "curl fetched a wrong size"

for i in $(seq 1 "$RUNS"); do
    timed_run netkit "$NETKIT" http -o /dev/null "$URL"
    timed_run curl "$CURL" -s -o /dev/null "$URL"
done

nk_wall=$(median <"$WORK/netkit.wall")
cu_wall=$(median <"$WORK/curl.wall")
nk_rss=$(median <"$WORK/netkit.rss")
cu_rss=$(median <"$WORK/curl.rss")
nk_rss_max=$(sort -g "$WORK/netkit.rss" | tail -n 1)
wall_ratio=$(ratio "$nk_wall" "$cu_wall")

echo "http_download: ${SIZE_MIB} MiB from nginx on 127.0.0.1 to /dev/null, $RUNS runs each"
printf '  %-8s wall median %8.3f s  (%7.0f MiB/s)   peak RSS median %6d KiB\n' \
    netkit "$nk_wall" "$(awk -v s="$nk_wall" -v m="$SIZE_MIB" 'BEGIN{print m/s}')" "$nk_rss"
printf '  %-8s wall median %8.3f s  (%7.0f MiB/s)   peak RSS median %6d KiB\n' \
    curl "$cu_wall" "$(awk -v s="$cu_wall" -v m="$SIZE_MIB" 'BEGIN{print m/s}')" "$cu_rss"
echo "  wall time ratio netkit/curl: $wall_ratio  (target <= 1.0: $(verdict "$wall_ratio" '<=' 1.0))"
echo "  netkit peak RSS (max of runs): $nk_rss_max KiB  (target <= 16384 KiB: $(verdict "$nk_rss_max" '<=' 16384))"
echo "  RSS ratio netkit/curl: $(ratio "$nk_rss" "$cu_rss")"
