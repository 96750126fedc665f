#!/usr/bin/env bash
# benches/http_serve.sh — `netkit http listen --dir` next to nginx (one
# worker process, access_log off, sendfile on) and `python3 -m http.server`,
# in one run:
#
#   1. wrk -t1 -c50 -d${DURATION}s on a 1 KiB file, $ROUNDS rounds with the
#      three servers interleaved (the machine may be shared): median requests/s.
#      Targets: netkit >= 0.8 x nginx, netkit >= 10 x python.
#   2. curl downloads a 1 GiB file (sparse: the page cache serves both
#      servers alike), $RUNS times each: median wall time.
#      Target: netkit <= 1.1 x nginx.
#   3. 10,000 keep-alive connections, each after one request, left idle:
#      netkit's RSS. Target: under 64 MiB.
#
# Run:   bash benches/http_serve.sh            (release build; built if missing)
# Env:   DURATION (wrk seconds, default 10), ROUNDS (default 3), RUNS (default 5), IDLE (default
#        10000), NETKIT, NGINX, CURL (see benches/http_lib.sh).
# Needs: wrk, nginx, curl, python3.

source "$(dirname "$0")/http_lib.sh"

DURATION=${DURATION:-10}
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-10000}

command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
bench_setup

head -c 1024 /dev/urandom >"$WORK/www/1k.bin"
truncate -s 1G "$WORK/www/1g.bin"

start_nginx
NETKIT_PORT=$(free_port)
"$NETKIT" -q http listen --bind 127.0.0.1 --dir "$WORK/www" "$NETKIT_PORT" </dev/null >/dev/null 2>"$WORK/netkit.err" &
NETKIT_PID=$!
PY_PORT=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/www" "$PY_PORT" </dev/null >/dev/null 2>&1 &
PY_PID=$!
trap 'kill $NETKIT_PID $PY_PID 2>/dev/null || true; bench_cleanup' EXIT INT TERM

wait_port() {
    local i
    for i in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.02
    done
    die "nothing listening on port $1"
}
wait_port "$NETKIT_PORT"
wait_port "$PY_PORT"

rps() { # URL -> requests/s
    wrk -t1 -c50 -d"${DURATION}s" "$1" | tee -a "$WORK/wrk.log" | awk '/^Requests\/sec:/ { print $2 }'
}

echo "# http_serve: wrk -t1 -c50 -d${DURATION}s on a 1 KiB file, $ROUNDS interleaved rounds (median req/s)"
for r in $(seq 1 "$ROUNDS"); do
    rps "http://127.0.0.1:$NGINX_PORT/1k.bin" >>"$WORK/nginx.rps"
    rps "http://127.0.0.1:$NETKIT_PORT/1k.bin" >>"$WORK/netkit.rps"
    rps "http://127.0.0.1:$PY_PORT/1k.bin" >>"$WORK/python.rps"
done
nginx_rps=$(median <"$WORK/nginx.rps")
netkit_rps=$(median <"$WORK/netkit.rps")
python_rps=$(median <"$WORK/python.rps")
echo "rounds: nginx $(paste -sd' ' "$WORK/nginx.rps"); netkit $(paste -sd' ' "$WORK/netkit.rps"); python $(paste -sd' ' "$WORK/python.rps")"
if grep -q "Non-2xx" "$WORK/wrk.log"; then
    grep "Non-2xx" "$WORK/wrk.log" >&2
fi
printf '%-8s %12s req/s\n' nginx "$nginx_rps" netkit "$netkit_rps" python "$python_rps"
r_nginx=$(ratio "$netkit_rps" "$nginx_rps")
r_python=$(ratio "$netkit_rps" "$python_rps")
echo "netkit/nginx  $r_nginx (target >= 0.8: $(verdict "$r_nginx" '>=' 0.8))"
echo "netkit/python $r_python (target >= 10: $(verdict "$r_python" '>=' 10))"

echo "# 1 GiB download with curl, $RUNS runs each (median wall seconds)"
for i in $(seq 1 "$RUNS"); do
    timed_run nginx "$CURL" -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/1g.bin"
    timed_run netkit "$CURL" -s -o /dev/null "http://127.0.0.1:$NETKIT_PORT/1g.bin"
done
t_nginx=$(median <"$WORK/nginx.wall")
t_netkit=$(median <"$WORK/netkit.wall")
r_big=$(ratio "$t_netkit" "$t_nginx")
printf '%-8s %8ss\n' nginx "$t_nginx" netkit "$t_netkit"
echo "netkit/nginx  $r_big (target <= 1.1: $(verdict "$r_big" '<=' 1.1))"

echo "# $IDLE idle keep-alive connections on netkit, each after one request"
python3 - "$NETKIT_PORT" "$NETKIT_PID" "$IDLE" <<'PY'
import resource, selectors, socket, sys, time
port, pid, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
def rss():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
before = rss()
req = b"GET /1k.bin HTTP/1.1\r\nHost: x\r\n\r\n"
socks, done = [], 0
sel = selectors.DefaultSelector()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    s.setblocking(False)
    socks.append(s)
    sel.register(s, selectors.EVENT_READ, bytearray())
    # Read answers as they come so the server never waits on us.
    for key, _ in sel.select(timeout=0):
        key.data.extend(key.fileobj.recv(65536))
        if len(key.data) >= 1024 and b"\r\n\r\n" in key.data:
            sel.unregister(key.fileobj)
            done += 1
deadline = time.time() + 60
while done < n and time.time() < deadline:
    for key, _ in sel.select(timeout=1):
        key.data.extend(key.fileobj.recv(65536))
        if len(key.data) >= 1024 and b"\r\n\r\n" in key.data:
            sel.unregister(key.fileobj)
            done += 1
time.sleep(1)
after = rss()
print(f"answered {done}/{n}; netkit RSS {before/1024:.1f} MiB before, {after/1024:.1f} MiB with {n} idle keep-alive connections")
ok = after < 64 * 1024 and done == n
print(f"RSS under 64 MiB: {'ok' if ok else 'MISSED'}")
PY
