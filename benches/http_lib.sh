#!/usr/bin/env bash
# Shared by benches/http_download.sh, http_sequential.sh and https_download.sh
# (source it; running it does nothing): a throw-away nginx on 127.0.0.1,
# wall-clock timing, peak RSS via /usr/bin/time, medians and ratios.
#
# Environment: NETKIT (default target/release/netkit, built with
# `cargo build --release` if missing), CURL (default curl on PATH), NGINX (default nginx on PATH or
# /usr/sbin/nginx), RUNS (repetitions per tool, default per script).

set -euo pipefail

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CURL=${CURL:-$(command -v curl || echo /usr/bin/curl)}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
GNU_TIME=/usr/bin/time

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

bench_setup() {
    [[ -x $CURL ]] || die "curl not found (install curl)"
    [[ -x $NGINX ]] || die "nginx not found (install nginx-light)"
    if [[ ! -x $GNU_TIME ]] && command -v apt-get >/dev/null 2>&1; then
        echo "# installing the time package for /usr/bin/time" >&2
        { apt-get install -y time || { apt-get update && apt-get install -y time; }; } >/dev/null 2>&1 || true
    fi
    [[ -x $GNU_TIME ]] || die "/usr/bin/time not found (apt-get install time)"
    NETKIT=${NETKIT:-$BENCH_ROOT/target/release/netkit}
    if [[ ! -x $NETKIT ]]; then
        echo "# building release binary ($NETKIT missing)" >&2
        (cd "$BENCH_ROOT" && cargo build --release >&2) || die "cargo build --release failed"
    fi
    [[ -x $NETKIT ]] || die "netkit not found at $NETKIT"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/netkit-bench.XXXXXX")
    mkdir -p "$WORK/www" "$WORK/tmp"
    NGINX_PID=
    trap bench_cleanup EXIT INT TERM
}

bench_cleanup() {
    if [[ -n ${NGINX_PID:-} ]]; then
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    rm -rf "${WORK:?}"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
        || echo $((20000 + RANDOM % 40000))
}

# start_nginx [CERT KEY]: serves $WORK/www on 127.0.0.1:$NGINX_PORT (TLS when
# a certificate is given). Foreground, single process, no access log.
start_nginx() {
    local ssl="" ssl_conf=""
    if [[ $# -eq 2 ]]; then
        ssl=" ssl"
        ssl_conf="ssl_certificate $1; ssl_certificate_key $2; ssl_protocols TLSv1.2 TLSv1.3;"
    fi
    local attempt
    for attempt in 1 2 3 4 5; do
        NGINX_PORT=$(free_port)
        cat >"$WORK/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGINX_PORT$ssl;
        server_name localhost;
        root $WORK/www;
        $ssl_conf
    }
}
CONF
        "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/error.log" </dev/null >/dev/null 2>&1 &
        NGINX_PID=$!
        local i
        for i in $(seq 1 200); do
            if ! kill -0 "$NGINX_PID" 2>/dev/null; then
                break
            fi
            if (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null; then
                return 0
            fi
            sleep 0.02
        done
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=
    done
    cat "$WORK/error.log" >&2 || true
    die "nginx did not start"
}

now_ns() { date +%s%N; }

# median of the numbers on stdin
median() {
    sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "nan"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# timed_run LABEL CMD...: runs CMD once; appends wall seconds to
# $WORK/LABEL.wall and peak RSS (KiB) to $WORK/LABEL.rss. Fails the bench if
# CMD fails.
timed_run() {
    local label=$1
    shift
    local t0 t1 status=0
    t0=$(now_ns)
    "$GNU_TIME" -f '%M' -o "$WORK/rss.tmp" "$@" || status=$?
    t1=$(now_ns)
    [[ $status -eq 0 ]] || die "$label run failed (exit $status): $*"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }' >>"$WORK/$label.wall"
    tail -n 1 "$WORK/rss.tmp" >>"$WORK/$label.rss"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "nan" }'; }

# verdict VALUE OP LIMIT: "ok" or "MISSED"
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    ok = (op == "<=") ? (v <= l) : (v >= l); print ok ? "ok" : "MISSED" }'; }
