#!/usr/bin/env bash
# Long-poll delivery latency of `netkit poll --long --changes`: a small
# python3 long-poll server (HTTP/1.1 keep-alive; the ETag is the cursor: a
# request with If-None-Match: "N" is held until event N+1 exists) publishes
# EVENTS events PERIOD_MS apart, each carrying its publish time. A reader on
# netkit's stdout timestamps each line as it arrives; the difference is the
# delivery latency (server wake-up + response + netkit + pipe + reader).
# Prints p50, p90, p99 and max over the events. Target: p50 <= 5 ms.
#
# Beside it, the shell way: curl in a loop carrying the ETag back by hand
# (a process per request). Each event is checked to arrive exactly once, in
# order, for both.
#
#   benches/poll_longpoll.sh        EVENTS=100 PERIOD_MS=100

source "$(dirname "${BASH_SOURCE[0]}")/poll_lib.sh"

EVENTS=${EVENTS:-100}
PERIOD_MS=${PERIOD_MS:-100}
CURL=${CURL:-$(command -v curl || true)}

poll_setup
cat >"$WORK/lp.py" <<'PY'
#!/usr/bin/env python3
"""Helpers for benches/poll_longpoll.sh.

  poll_longpoll.py serve PORTFILE EVENTS PERIOD_MS
      A long-poll server on 127.0.0.1 (HTTP/1.1, keep-alive) whose ETag is the
      cursor: a request with If-None-Match: "N" is held until event N+1 exists
      and answered with that event and ETag "N+1"; none means event 1. Once
      the first request arrives, it publishes EVENTS events PERIOD_MS apart,
      each body "SEQ PUBLISH_TIME_NS\\n" (CLOCK_REALTIME). Writes its port to
      PORTFILE; exits a few seconds after the last event.

  poll_longpoll.py measure EVENTS
      Reads event lines on stdin and writes one delivery latency (ms) per
      event to stdout: arrival time minus publish time. Checks each event
      arrives exactly once, in order.
"""
import http.server
import sys
import threading
import time


def serve(portfile, count, period):
    events = []
    cv = threading.Condition()
    started = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            started.set()
            tag = self.headers.get("If-None-Match", "").strip().lstrip("W/").strip('"')
            cursor = int(tag) if tag.isdigit() else 0
            with cv:
                ok = cv.wait_for(lambda: len(events) > cursor, timeout=30)
                body = events[cursor] if ok else None
            if body is None:
                self.send_response(304)
                self.send_header("ETag", f'"{cursor}"')
                self.end_headers()
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("ETag", f'"{cursor + 1}"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True

    srv = Server(("127.0.0.1", 0), Handler)
    srv.socket.setsockopt(__import__("socket").IPPROTO_TCP, __import__("socket").TCP_NODELAY, 1)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    __import__("os").rename(portfile + ".tmp", portfile)

    started.wait(60)
    time.sleep(0.2)
    next_at = time.monotonic()
    for seq in range(1, count + 1):
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))
        with cv:
            events.append(f"{seq} {time.time_ns()}\n")
            cv.notify_all()
    time.sleep(3)
    srv.shutdown()


def measure(count):
    expected = 1
    for line in sys.stdin.buffer:
        now = time.time_ns()
        seq, sent = line.split()
        seq = int(seq)
        if seq != expected:
            sys.exit(f"event {seq} arrived where {expected} was due")
        expected += 1
        print(f"{(now - int(sent)) / 1e6:.4f}", flush=True)
    if expected != count + 1:
        sys.exit(f"{expected - 1} events arrived, not {count}")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) / 1000)
    elif sys.argv[1] == "measure":
        measure(int(sys.argv[2]))
    else:
        sys.exit(__doc__)
PY

# run LABEL CMD...: serves EVENTS events to CMD (which gets the URL as its
# last argument) and writes the latencies to $WORK/LABEL.lat.
run() {
    local label=$1 i
    shift
    rm -f "$WORK/port"
    python3 "$WORK/lp.py" serve "$WORK/port" "$EVENTS" "$PERIOD_MS" &
    local server=$!
    track "$server"
    for ((i = 0; i < 500; i++)); do
        [[ -s $WORK/port ]] && break
        sleep 0.01
    done
    [[ -s $WORK/port ]] || die "the long-poll server did not start"
    local url="http://127.0.0.1:$(cat "$WORK/port")/events"
    "$@" "$url" | python3 "$WORK/lp.py" measure "$EVENTS" >"$WORK/$label.lat" \
        || die "$label: events lost, repeated or out of order"
    wait "$server" 2>/dev/null || true
}

# The shell way: curl, carrying the ETag back by hand.
curl_long() {
    local url=$1 etag="" i
    for ((i = 0; i < EVENTS; i++)); do
        "$CURL" -s -D "$WORK/headers" ${etag:+-H "If-None-Match: $etag"} "$url"
        etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$WORK/headers" | tr -d '\r')
    done
}

netkit_long() {
    "$NETKIT" poll --long --changes -c "$EVENTS" "$1" 2>/dev/null
}

# pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE.
pct() {
    sort -g "$1" | awk -v p="$2" '{ a[NR] = $1 } END {
        r = int(p / 100 * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; printf "%.3f", a[r] }'
}

report() {
    printf '  %-14s p50 %7s ms   p90 %7s ms   p99 %7s ms   max %7s ms\n' "$1" \
        "$(pct "$WORK/$2.lat" 50)" "$(pct "$WORK/$2.lat" 90)" "$(pct "$WORK/$2.lat" 99)" "$(pct "$WORK/$2.lat" 100)"
}

run netkit netkit_long
[[ -n $CURL ]] && run curl curl_long

echo "poll_longpoll: delivery latency of $EVENTS events published ${PERIOD_MS} ms apart (publish -> line on stdout)"
report "netkit --long" netkit
[[ -n $CURL ]] && report "curl loop" curl
p50=$(pct "$WORK/netkit.lat" 50)
echo "  target netkit p50 <= 5 ms: $(verdict "$p50" '<=' 5)"
