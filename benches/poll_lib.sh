#!/usr/bin/env bash
# Shared by benches/poll_*.sh (source it; running it does nothing): the
# netkit binary, a scratch directory cleaned up on exit, a throw-away nginx
# on 127.0.0.1, medians and percentiles.
#
# Environment: NETKIT (default target/release/netkit, built when unset),
# NGINX (default nginx on PATH or /usr/sbin/nginx).

set -euo pipefail

POLL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}

die() { echo "$(basename "$0"): $*" >&2; exit 1; }

poll_setup() {
    command -v python3 >/dev/null || die "python3 not found"
    if [[ -z ${NETKIT:-} ]]; then
        (cd "$POLL_ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
        NETKIT=$POLL_ROOT/target/release/netkit
    fi
    [[ -x $NETKIT ]] || die "netkit not found at $NETKIT"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/netkit-poll-bench.XXXXXX")
    mkdir -p "$WORK/www" "$WORK/tmp"
    PIDS=()
    trap poll_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# track PID: killed on exit.
track() { PIDS+=("$@"); }

poll_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "${WORK:?}"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nginx: serves $WORK/www on 127.0.0.1:$NGINX_PORT; foreground, one
# process, no access log, keep-alive for as many requests as a bench makes.
start_nginx() {
    [[ -x $NGINX ]] || die "nginx not found (install nginx-light)"
    local attempt i
    for attempt in 1 2 3 4 5; do
        NGINX_PORT=$(free_port)
        cat >"$WORK/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path $WORK/tmp/body;
    proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi;
    uwsgi_temp_path $WORK/tmp/uwsgi;
    scgi_temp_path $WORK/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $WORK/www;
    }
}
CONF
        "$NGINX" -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/error.log" </dev/null >/dev/null 2>&1 &
        NGINX_PID=$!
        for ((i = 0; i < 250; i++)); do
            kill -0 "$NGINX_PID" 2>/dev/null || break
            if (exec 3<>"/dev/tcp/127.0.0.1/$NGINX_PORT") 2>/dev/null; then
                track "$NGINX_PID"
                return 0
            fi
            sleep 0.02
        done
        kill "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
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

# verdict VALUE OP LIMIT: "ok" or "MISSED"
verdict() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
    ok = (op == "<=") ? (v <= l) : (v >= l); print ok ? "ok" : "MISSED" }'; }
