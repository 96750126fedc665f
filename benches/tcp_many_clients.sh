#!/usr/bin/env bash
# benches/tcp_many_clients.sh — 10,000 idle clients on `netkit tcp listen -k`, then one line to all.
#
# What: `netkit --json tcp listen -k --max-clients N --bind 127.0.0.1 PORT`
# (stdin is a FIFO) and one python3 process (benches/many_clients.py, a
# selectors loop) that opens N non-blocking connections. The script checks
# that netkit reports N `connected` events, reads netkit's VmRSS and VmHWM
# from /proc/PID/status with all N clients idle, then LINES times writes one
# line into the FIFO and measures the time until every client has received
# it whole (also: the first client). Each repetition is a fresh server.
# Side by side, ncat (`ncat -l -k -m N`, stdin broadcast to all clients, the
# nearest peer tool) and netkit serve PEER_CLIENTS clients each, and the
# broadcast times and RSS are compared at that count. (ncat listens with a
# backlog of 10 and loses bursts, so both get their clients 8 at a time, and
# its count is kept small.)
# Note: netkit's default --max-clients is 1000; the flag is raised to N.
#
# Targets: all N accepted and all N receive every line; netkit RSS < 64 MiB
# with N idle clients.
#
# Run:   bash benches/tcp_many_clients.sh
# Knobs: CLIENTS (10000), REPS (3), LINES (5 per repetition), PEER_CLIENTS (100;
#        0 skips the ncat comparison), BATCH (connects started at once, 1000;
#        0 = all 10,000 in one burst), NETKIT (binary path).
# The client opens its connections BATCH at a time and lets the server empty
# its accept queue in between: a burst beyond the listen backlog makes the
# kernel drop handshakes (syncookies), and an idle client whose handshake was
# dropped is never accepted. The kernel's ListenOverflows count is printed
# when it moves.
# Needs file descriptors: the script raises `ulimit -n` to the hard limit
# (20000 here) for itself, netkit and the python client.

source "$(dirname "$0")/tcp_lib.sh"

CLIENTS=${CLIENTS:-10000}
REPS=${REPS:-3}
LINES=${LINES:-5}
PEER_CLIENTS=${PEER_CLIENTS:-100}
BATCH=${BATCH:-1000}

ensure_netkit
need python3
need ss iproute2
((PEER_CLIENTS > 0)) && need ncat ncat

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if ((NOFILE < CLIENTS + 64)); then
    echo "warning: ulimit -n is $NOFILE (hard limit $(ulimit -Hn)); $CLIENTS clients need about $((CLIENTS + 64)) per process" >&2
fi

RESULTS=$BENCH_TMP/results.ndjson
: >"$RESULTS"

# serve KIND COUNT LABEL BATCH: one server, one client swarm; appends a JSON line to $RESULTS.
serve() {
    local kind=$1 count=$2 label=$3 batch=$4 port fifo=$BENCH_TMP/stdin.fifo events=$BENCH_TMP/events.ndjson spid status=0
    port=$(free_port)
    rm -f "$fifo" "$events"
    mkfifo "$fifo"
    # Hold the FIFO open read-write: the server never sees EOF on stdin, and
    # the python client can open it for writing without blocking.
    exec 3<>"$fifo"
    case $kind in
    netkit)
        "$NETKIT" --json tcp listen -k --max-clients "$count" --bind 127.0.0.1 "$port" \
            <"$fifo" >"$events" 2>"$BENCH_TMP/server.err" &
        ;;
    ncat)
        ncat -l -k -m "$count" 127.0.0.1 "$port" <"$fifo" >/dev/null 2>"$BENCH_TMP/server.err" &
        ;;
    esac
    spid=$!
    track "$spid"
    wait_listening "$port"
    local extra=()
    [[ $kind == netkit ]] && extra=(--events "$events")
    # Do not wait the full minute when ncat misses clients.
    [[ $kind == ncat ]] && extra+=(--timeout 5 --settle 5)
    python3 benches/many_clients.py --port "$port" --clients "$count" --fifo "$fifo" \
        --server-pid "$spid" --lines "$LINES" --batch "$batch" --label "$label" "${extra[@]}" >"$BENCH_TMP/client.out" || status=$?
    grep -v '^{' "$BENCH_TMP/client.out" | sed 's/^/  /'
    if ((status != 0)); then
        echo "  $label: client failed with status $status"
    else
        tail -n 1 "$BENCH_TMP/client.out" >>"$RESULTS"
    fi
    # Clients are closed by now; stop the server: netkit the way a user would
    # (Ctrl-C, a graceful close), ncat with SIGTERM (it ignores SIGINT here).
    if [[ $kind == netkit ]]; then kill -INT "$spid" 2>/dev/null || true; else kill -TERM "$spid" 2>/dev/null || true; fi
    local i
    for ((i = 0; i < 500; i++)); do kill -0 "$spid" 2>/dev/null || break; sleep 0.01; done
    if kill -0 "$spid" 2>/dev/null; then
        echo "  $label: still running 5 s after the stop signal; killed"
        kill -KILL "$spid" 2>/dev/null || true
    fi
    local sstatus=0
    wait "$spid" 2>/dev/null || sstatus=$?
    if [[ $kind == netkit ]]; then
        local closed
        closed=$(grep -c '"event":"closed"' "$events" || true)
        echo "  $label: exit status $sstatus after SIGINT (130 expected); $closed closed events"
        if grep -q '"event":"error"\|"event":"rejected"' "$events"; then
            echo "  $label: errors or rejections in its events:"
            grep '"event":"error"\|"event":"rejected"' "$events" | head -3 | sed 's/^/    /'
        fi
    fi
    [[ -s $BENCH_TMP/server.err ]] && head -n 3 "$BENCH_TMP/server.err" | sed "s/^/  $label stderr: /"
    exec 3>&-
}

echo "# tcp_many_clients: $CLIENTS idle clients (connected $BATCH at a time), $LINES lines per run, $REPS runs; peer comparison at $PEER_CLIENTS clients"
echo "# netkit: $NETKIT ($("$NETKIT" --version)); ulimit -n $NOFILE; $(nproc) cores"
for ((rep = 1; rep <= REPS; rep++)); do
    echo "## run $rep/$REPS"
    serve netkit "$CLIENTS" "netkit@$CLIENTS" "$BATCH"
    if ((PEER_CLIENTS > 0)); then
        # ncat listens with a backlog of 10: connect 8 at a time to both servers.
        serve netkit "$PEER_CLIENTS" "netkit@$PEER_CLIENTS" 8
        serve ncat "$PEER_CLIENTS" "ncat@$PEER_CLIENTS" 8
    fi
done
echo

python3 - "$RESULTS" "$CLIENTS" "$PEER_CLIENTS" <<'EOF'
import json, statistics, sys
path, clients, peer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = {}
for line in open(path):
    r = json.loads(line)
    runs.setdefault(r["label"], []).append(r)

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")

summary = {}
print("line->all, line->1st: median over lines that reached every client; accepted: fewest over runs")
print(f"{'server':<14} {'runs':>4} {'accepted':>13} {'RSS MiB':>8} {'HWM MiB':>8} {'accept s':>9} {'line->all ms':>13} {'line->1st ms':>13} {'got line':>16}")
for label, rs in runs.items():
    n = rs[0]["clients"]
    lines = [l for r in rs for l in r["lines"]]
    got = sum(l["good"] for l in lines)
    want = n * len(lines)
    s = {
        "accepted": min(r["accepted"] for r in rs),
        "rss": med([r["rss_idle_kib"] for r in rs]) / 1024,
        "hwm": med([r["hwm_end_kib"] for r in rs]) / 1024,
        "accept_s": med([r["accept_s"] for r in rs]),
        # Only lines that reached every client count for the timing.
        "last_ms": med([l["last"] for l in lines if l["good"] == n]) * 1000,
        "first_ms": med([l["first"] for l in lines]) * 1000,
        "server_cpu_ms": med([l.get("server_cpu") for l in lines]) * 1000,
        "client_cpu_ms": med([l.get("client_cpu") for l in lines]) * 1000,
        "got": got, "want": want, "n": n,
    }
    summary[label] = s
    print(f"{label:<14} {len(rs):>4} {s['accepted']:>6}/{n:<6} {s['rss']:>8.1f} {s['hwm']:>8.1f} {s['accept_s']:>9.3f} "
          f"{s['last_ms']:>13.1f} {s['first_ms']:>13.2f} {got:>7}/{want:<8}")
print()
nk = summary.get(f"netkit@{clients}")
if nk:
    ok_acc = nk["accepted"] >= clients
    ok_rss = nk["hwm"] < 64
    ok_all = nk["got"] == nk["want"]
    rows = [
        (f"all {clients} accepted (fewest over runs)", f"{'PASS' if ok_acc else 'FAIL'} ({nk['accepted']})"),
        ("netkit peak RSS < 64 MiB (median VmHWM)", f"{'PASS' if ok_rss else 'FAIL'} ({nk['hwm']:.1f} MiB)"),
        ("every client got every line", f"{'PASS' if ok_all else 'FAIL'} ({nk['got']}/{nk['want']})"),
        (f"one line to all {clients} clients, median", f"{nk['last_ms']:.1f} ms"),
        ("  CPU per line, median: netkit / python client", f"{nk['server_cpu_ms']:.1f} ms / {nk['client_cpu_ms']:.1f} ms"),
    ]
    for k, v in rows:
        print(f"{k + ':':<46} {v}")
a, b = summary.get(f"ncat@{peer}"), summary.get(f"netkit@{peer}")
if a and b:
    print(f"at {peer} clients: ncat/netkit line->all time ratio {a['last_ms'] / b['last_ms']:.2f} "
          f"(over lines that reached all clients; ncat reached {a['got']}/{a['want']}, netkit {b['got']}/{b['want']}); "
          f"RSS ncat {a['rss']:.1f} MiB vs netkit {b['rss']:.1f} MiB")
EOF
