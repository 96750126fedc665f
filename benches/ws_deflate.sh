#!/usr/bin/env bash
# benches/ws_deflate.sh — permessage-deflate (issue 16): its cost and its gain.
#
# 1. One way, 1,000,000 lines (52 bytes each, `seq -f`, as ws_oneway.sh)
#    netkit ws connect -> netkit ws listen | wc -l, with compression (the
#    default) and with --no-compress on both sides; median of REPS runs.
#    Target: the compressed rate is at least half the uncompressed one.
# 2. A 10 MiB JSON message echoed by `netkit ws listen --echo` to a raw
#    Python client that negotiates permessage-deflate: bytes of netkit's
#    echo on the wire (frame header included) over the message's size.
#    Two data sets: an API-log style array of records (generated, seeded)
#    and Autobahn's data1.json (kosoku's copy) repeated to 10 MiB.
#    Target: at most 15 %.
# 3. Autobahn 12.* and 13.* in full, both roles (NETKIT_AUTOBAHN_FULL=1
#    cargo test --test autobahn compression): skipped unless FULL=1 (it
#    takes 10-20 minutes on 2 cores).
#
# Run:   bash benches/ws_deflate.sh
# Knobs: LINES (1000000), REPS (3), NETKIT (target/release/netkit), FULL.

set -euo pipefail
cd "$(dirname "$0")/.."

LINES=${LINES:-1000000}
REPS=${REPS:-3}
NETKIT=${NETKIT:-target/release/netkit}
[[ -x $NETKIT ]] || cargo build --release --quiet
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

seq -f "line %.0f of the one-way websocket benchmark, padded...." 1 "$LINES" | cut -c1-52 > "$WORK/lines"

# One run: prints the seconds taken; fails unless every line arrived.
oneway() {
    local flag=$1
    rm -f "$WORK/err"
    /usr/bin/time -o "$WORK/server.cpu" -f "%U %S" \
        "$NETKIT" ws listen --bind 127.0.0.1 $flag 0 < /dev/null > "$WORK/out" 2> "$WORK/err" &
    local spid=$!
    local port=""
    for _ in $(seq 200); do
        port=$(sed -n "s/^\* listening on 127.0.0.1:\([0-9]*\)$/\1/p" "$WORK/err" 2> /dev/null || true)
        [[ -n $port ]] && break
        sleep 0.05
    done
    local t0 t1
    t0=$(date +%s.%N)
    /usr/bin/time -o "$WORK/client.cpu" -f "%U %S" \
        "$NETKIT" -q ws connect $flag --linger 0 "ws://127.0.0.1:$port/" < "$WORK/lines" > /dev/null
    t1=$(date +%s.%N)
    kill -INT "$(pgrep -P $spid)"
    wait $spid || true
    # CPU seconds (user + sys) of each side, for a figure that load on a
    # shared machine does not blur.
    awk '{print $1 + $2}' "$WORK/server.cpu" | tail -1 >> "$WORK/server.cpus"
    awk '{print $1 + $2}' "$WORK/client.cpu" | tail -1 >> "$WORK/client.cpus"
    local got
    got=$(wc -l < "$WORK/out")
    [[ $got == "$LINES" ]] || { echo "only $got of $LINES lines arrived" >&2; return 1; }
    echo "$t1 - $t0" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== one way, $LINES lines of 52 bytes"
for mode in plain deflate; do
    flag=""
    [[ $mode == plain ]] && flag="--no-compress"
    : > "$WORK/times"
    : > "$WORK/server.cpus"
    : > "$WORK/client.cpus"
    for _ in $(seq "$REPS"); do oneway "$flag" >> "$WORK/times"; done
    m=$(median < "$WORK/times")
    rate=$(echo "$LINES / $m" | bc)
    scpu=$(median < "$WORK/server.cpus")
    ccpu=$(median < "$WORK/client.cpus")
    printf '%-8s median %6.2f s  %8d lines/s  CPU: server %.2f s, client %.2f s  (runs: %s)\n' \
        "$mode" "$m" "$rate" "$scpu" "$ccpu" "$(tr '\n' ' ' < "$WORK/times")"
    eval "rate_$mode=$rate"
    # The busier side's CPU time bounds the rate when nothing else runs.
    eval "cpu_$mode=$(echo "if ($scpu > $ccpu) $scpu else $ccpu" | bc)"
done
echo "compressed / uncompressed rate, wall clock: $(echo "scale=2; $rate_deflate / $rate_plain" | bc) (target >= 0.5)"
echo "compressed / uncompressed rate, by the busier side's CPU time: $(echo "scale=2; $cpu_plain / $cpu_deflate" | bc)"

echo "== a 10 MiB JSON message echoed"
python3 - "$NETKIT" <<'EOF'
import base64, json, os, random, socket, subprocess, sys, zlib, glob

netkit = sys.argv[1]
MIB10 = 10 * 1024 * 1024

def api_log():
    random.seed(16)
    paths = ["/api/v1/users", "/api/v1/orders", "/api/v1/items", "/login", "/api/v1/search", "/health"]
    events = ["request", "response", "cache_hit", "cache_miss", "retry"]
    out, size, i = [], 0, 0
    while size < MIB10:
        r = {"id": i, "ts": 1764115200 + i * 3, "user": f"user{i % 500}",
             "event": random.choice(events), "method": random.choice(["GET", "POST"]),
             "path": random.choice(paths), "status": random.choice([200, 200, 200, 201, 304, 404, 500]),
             "latency_ms": random.randint(1, 999), "region": random.choice(["eu-west", "us-east", "ap-south"]),
             "tags": random.sample(["mobile", "web", "beta", "internal", "partner"], 2)}
        s = json.dumps(r, separators=(",", ":"))
        out.append(s); size += len(s) + 1; i += 1
    return ("[" + ",".join(out) + "]").encode()[:MIB10]

def autobahn():
    found = glob.glob(os.path.expanduser("~/.pyenv/versions/*/lib/python3*/site-packages/kosoku/shim/autobahntestsuite/testdata/data1.json"))
    found += glob.glob("/usr/local/lib/python3*/dist-packages/kosoku/shim/autobahntestsuite/testdata/data1.json")
    if not found:
        return None
    d = open(found[0], "rb").read()
    return (d * (MIB10 // len(d) + 1))[:MIB10]

def frame(first, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
    m = (mask * (n // 4 + 1))[:n]
    return head + mask + (int.from_bytes(payload, "big") ^ int.from_bytes(m, "big")).to_bytes(n, "big")

def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(min(1 << 20, n - len(b)))
        if not c:
            raise SystemExit("connection closed")
        b += c
    return bytes(b)

srv = subprocess.Popen([netkit, "--json", "ws", "listen", "--echo", "--bind", "127.0.0.1", "0"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
port = json.loads(srv.stdout.readline())["port"]
for name, data in [("api-log JSON", api_log()), ("Autobahn data1.json x54", autobahn())]:
    if data is None:
        print(f"{name}: skipped (kosoku not installed)")
        continue
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall((f"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    assert b"permessage-deflate" in head, head
    z = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    s.sendall(frame(0xC1, body[:-4]))
    h = recv_exact(s, 2)
    assert h[0] == 0xC1, h
    n = h[1] & 0x7F
    ext = {126: 2, 127: 8}.get(n, 0)
    if ext:
        n = int.from_bytes(recv_exact(s, ext), "big")
    payload = recv_exact(s, n)
    echoed = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
    assert echoed == data, "echo differs"
    wire = 2 + ext + n
    print(f"{name}: {len(data)} bytes, netkit's echo {wire} bytes on the wire = {100 * wire / len(data):.1f} % "
          f"(the client's, zlib level 6: {100 * (len(body) - 4) / len(data):.1f} %)")
    s.close()
srv.terminate()
EOF

if [[ ${FULL:-0} == 1 ]]; then
    echo "== Autobahn 12.* and 13.*, both roles"
    NETKIT_AUTOBAHN_FULL=1 cargo test --test autobahn compression -- --nocapture 2>&1 | grep -E "autobahn|test result"
fi
