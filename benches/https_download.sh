#!/usr/bin/env bash
# netkit http vs curl over TLS: one 1 GiB file from a local nginx with a
# self-signed certificate (made here with openssl; both tools trust it with
# --cacert; CA:FALSE because rustls, like browsers, refuses a CA certificate
# as the server's own), to /dev/null, side by side in one run. Prints medians, the
# ratio and the negotiated TLS parameters. Target: netkit <= 1.2 x curl.
#
#   benches/https_download.sh           RUNS=5 SIZE_MIB=1024 by default

source "$(dirname "${BASH_SOURCE[0]}")/http_lib.sh"

RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-1024}

command -v openssl >/dev/null || die "openssl not found"
bench_setup
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -addext 'basicConstraints=critical,CA:FALSE' -addext 'keyUsage=digitalSignature' \
    -addext 'extendedKeyUsage=serverAuth' \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null || die "openssl req failed"
head -c $((SIZE_MIB * 1024 * 1024)) /dev/zero >"$WORK/www/big.bin"
start_nginx "$WORK/cert.pem" "$WORK/key.pem"
URL="https://127.0.0.1:$NGINX_PORT/big.bin"
CA="$WORK/cert.pem"

[[ $("$NETKIT" http --cacert "$CA" "$URL" | wc -c) -eq $((SIZE_MIB * 1024 * 1024)) ]] || die "netkit fetched a wrong size"
[[ $("$CURL" -s --cacert "$CA" "$URL" | wc -c) -eq $((SIZE_MIB * 1024 * 1024)) ]] || die "curl fetched a wrong size"
nk_tls=$("$NETKIT" -v http --cacert "$CA" -o /dev/null "$URL" 2>&1 | sed -n 's/^\* TLS: //p' | head -n 1)
cu_tls=$("$CURL" -sv --cacert "$CA" -o /dev/null "$URL" 2>&1 | sed -n 's/^\* SSL connection using //p' | head -n 1)

for i in $(seq 1 "$RUNS"); do
    timed_run netkit "$NETKIT" http --cacert "$CA" -o /dev/null "$URL"
    timed_run curl "$CURL" -s --cacert "$CA" -o /dev/null "$URL"
done

nk_wall=$(median <"$WORK/netkit.wall")
cu_wall=$(median <"$WORK/curl.wall")
nk_rss=$(median <"$WORK/netkit.rss")
cu_rss=$(median <"$WORK/curl.rss")
r=$(ratio "$nk_wall" "$cu_wall")

echo "https_download: ${SIZE_MIB} MiB over TLS from nginx on 127.0.0.1 to /dev/null, $RUNS runs each"
echo "  netkit TLS: ${nk_tls:-?}"
echo "  curl TLS:   ${cu_tls:-?}"
printf '  %-8s wall median %8.3f s  (%7.0f MiB/s)   peak RSS median %6d KiB\n' \
    netkit "$nk_wall" "$(awk -v s="$nk_wall" -v m="$SIZE_MIB" 'BEGIN{print m/s}')" "$nk_rss"
printf '  %-8s wall median %8.3f s  (%7.0f MiB/s)   peak RSS median %6d KiB\n' \
    curl "$cu_wall" "$(awk -v s="$cu_wall" -v m="$SIZE_MIB" 'BEGIN{print m/s}')" "$cu_rss"
echo "  wall time ratio netkit/curl: $r  (target <= 1.2: $(verdict "$r" '<=' 1.2))"
