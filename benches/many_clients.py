#!/usr/bin/env python3
"""Idle-client swarm for benches/tcp_many_clients.sh (not a test; prints timings).

Opens --clients non-blocking TCP connections to 127.0.0.1:--port from this one
process (a selectors loop), waits until the server has accepted all of them,
reads the server's memory from /proc/PID/status, then --lines times writes one
line into the server's stdin FIFO and measures how long it takes until every
client has received that whole line. The last line of output is one JSON
object with the numbers; the lines before it are for people.

Accepted clients are counted by the server's own account when --events names
its NDJSON output (netkit --json: `connected` events), otherwise with
`ss -tn state established ( sport = :PORT )` (one line per accepted socket).
"""

import argparse
import errno
import json
import os
import selectors
import socket
import subprocess
import sys
import time

from benchlib import proc_mem, raise_nofile


def cpu_ns(pid):
    """CPU time used so far by pid (all its threads), from /proc/PID/schedstat."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def count_accepted(args):
    if args.events:
        n = 0
        try:
            with open(args.events, "rb") as f:
                for line in f:
                    if b'"event":"connected"' in line:
                        n += 1
        except OSError:
            pass
        return n
    res = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( sport = :{args.port} )"],
        capture_output=True,
        text=True,
        check=False,
    )
    return sum(1 for l in res.stdout.splitlines() if l.strip())


def listen_queue(port):
    """Connections waiting in the server's accept queue (Recv-Q of the listening socket)."""
    res = subprocess.run(
        ["ss", "-Hltn", f"( sport = :{port} )"], capture_output=True, text=True, check=False
    )
    fields = res.stdout.split()
    return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0


def listen_overflows():
    """The kernel's TcpExt ListenOverflows counter (connections dropped at a full accept queue)."""
    try:
        with open("/proc/net/netstat") as f:
            rows = [l.split() for l in f if l.startswith("TcpExt:")]
        return int(rows[1][rows[0].index("ListenOverflows")])
    except (OSError, ValueError, IndexError):
        return None


def connect_batch(args, sel, count, failures):
    """Starts `count` connects and waits for them to finish; returns the connected sockets."""
    socks = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(("127.0.0.1", args.port))
        if err not in (0, errno.EINPROGRESS):
            name = errno.errorcode.get(err, str(err))
            failures[name] = failures.get(name, 0) + 1
            s.close()
            continue
        sel.register(s, selectors.EVENT_WRITE)
        socks.append(s)
    pending = len(socks)
    deadline = time.monotonic() + args.timeout
    done = set()
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            sel.unregister(s)
            pending -= 1
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                name = errno.errorcode.get(err, str(err))
                failures[name] = failures.get(name, 0) + 1
                s.close()
            else:
                done.add(s)
    if pending:
        failures["connect timeout"] = failures.get("connect timeout", 0) + pending
        for s in socks:
            if s not in done:
                sel.unregister(s)
                s.close()
    return [s for s in socks if s in done]


def connect_all(args, sel):
    """Opens --clients connections, --batch at a time (0: all at once). Between
    batches it waits (up to 2 s) for the server to empty its accept queue: a
    burst larger than the listen backlog makes the kernel drop handshakes
    (syncookies), and a client that never sends is then never accepted.
    Returns (sockets, failures)."""
    socks, failures = [], {}
    batch = args.batch if args.batch > 0 else args.clients
    left = args.clients
    while left > 0:
        n = min(batch, left)
        socks += connect_batch(args, sel, n, failures)
        left -= n
        if left > 0:
            until = time.monotonic() + 2
            while listen_queue(args.port) > 0 and time.monotonic() < until:
                time.sleep(0.005)
    return socks, failures


def broadcast(args, sel, socks, line, fifo_fd):
    """Write one line to the server's stdin and wait until every client has it.

    Returns (seconds until the last client had the whole line, seconds until
    the first did, clients that got exactly the line, clients that lost the
    connection, clients that got other bytes)."""
    want = line.encode()
    got = {s: b"" for s in socks}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    waiting = len(socks)
    good = lost = bad = 0
    first = None
    t0 = time.perf_counter()
    os.write(fifo_fd, want)
    deadline = time.monotonic() + args.timeout
    while waiting and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                waiting -= 1
                lost += 1
                continue
            got[s] += data
            if len(got[s]) >= len(want):
                sel.unregister(s)
                waiting -= 1
                if got[s] == want:
                    good += 1
                    if first is None:
                        first = time.perf_counter() - t0
                else:
                    bad += 1
    last = time.perf_counter() - t0
    for s in socks:
        try:
            sel.unregister(s)
        except KeyError:
            pass
    return last, first, good, lost, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--fifo", required=True, help="the server's stdin FIFO")
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--events", help="the server's NDJSON output (count `connected` events)")
    ap.add_argument("--lines", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=1000, help="connects started at once (0: all)")
    ap.add_argument("--settle", type=float, default=3.0, help="give up waiting for accepts after this long without one")
    ap.add_argument("--label", default="server")
    args = ap.parse_args()

    nofile = raise_nofile()
    if nofile < args.clients + 64:
        print(f"warning: fd limit {nofile} is below {args.clients} clients", file=sys.stderr)
    mem_before = proc_mem(args.server_pid)
    sel = selectors.DefaultSelector()

    overflows_before = listen_overflows()
    t0 = time.perf_counter()
    t0m = time.monotonic()
    socks, failures = connect_all(args, sel)
    t_connected = time.perf_counter() - t0
    # The server may still be accepting (or may have refused some): wait for
    # its count to reach every client, or to stop moving for --settle seconds.
    deadline = time.monotonic() + args.timeout
    accepted, still_since = count_accepted(args), time.monotonic()
    while accepted < args.clients and time.monotonic() < deadline:
        if time.monotonic() - still_since > args.settle:
            break
        time.sleep(0.02)
        new = count_accepted(args)
        if new != accepted:
            accepted, still_since = new, time.monotonic()
    t_accepted = still_since - t0m  # when the count last moved
    # Let stragglers settle, then see whether the server closed anybody.
    time.sleep(0.2)
    mem_idle = proc_mem(args.server_pid)
    overflows = listen_overflows()
    if overflows is not None and overflows_before is not None:
        overflows -= overflows_before
    print(
        f"{args.label}: {len(socks)}/{args.clients} connects completed in {t_connected:.3f} s; "
        f"server accepted {accepted} within {t_accepted:.3f} s; "
        f"RSS {mem_idle['VmRSS']} KiB (HWM {mem_idle['VmHWM']} KiB, before clients {mem_before['VmRSS']} KiB)"
        + (f"; connect failures {failures}" if failures else "")
        + (f"; kernel ListenOverflows +{overflows} (handshakes dropped at a full accept queue)" if overflows else "")
    )

    fifo_fd = os.open(args.fifo, os.O_WRONLY)
    lines = []
    for i in range(args.lines):
        line = f"broadcast {i} {'x' * 40}\n"
        server_cpu0, client_cpu0 = cpu_ns(args.server_pid), time.process_time()
        last, first, good, lost, bad = broadcast(args, sel, socks, line, fifo_fd)
        server_cpu1, client_cpu1 = cpu_ns(args.server_pid), time.process_time()
        server_cpu = (server_cpu1 - server_cpu0) / 1e9 if None not in (server_cpu0, server_cpu1) else None
        client_cpu = client_cpu1 - client_cpu0
        lines.append({"last": last, "first": first, "good": good, "lost": lost, "bad": bad,
                      "server_cpu": server_cpu, "client_cpu": client_cpu})
        print(
            f"{args.label}: line {i}: {good}/{len(socks)} clients got it; last after {last * 1000:.1f} ms"
            + (f", first after {first * 1000:.2f} ms" if first is not None else "")
            + (f"; CPU: server {server_cpu * 1000:.1f} ms" if server_cpu is not None else "")
            + f", this client {client_cpu * 1000:.1f} ms"
            + (f"; {lost} connections lost" if lost else "")
            + (f"; {bad} got other bytes" if bad else "")
        )
        time.sleep(0.1)
    os.close(fifo_fd)
    mem_end = proc_mem(args.server_pid)
    for s in socks:
        s.close()
    print(
        json.dumps(
            {
                "label": args.label,
                "clients": args.clients,
                "connected": len(socks),
                "accepted": accepted,
                "connect_s": t_connected,
                "accept_s": t_accepted,
                "rss_idle_kib": mem_idle["VmRSS"],
                "hwm_idle_kib": mem_idle["VmHWM"],
                "rss_end_kib": mem_end["VmRSS"],
                "hwm_end_kib": mem_end["VmHWM"],
                "lines": lines,
                "failures": failures,
                "listen_overflows": overflows,
            }
        )
    )


if __name__ == "__main__":
    main()
