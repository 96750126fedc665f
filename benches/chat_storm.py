#!/usr/bin/env python3
"""Join-storm client for benches/chat_storm.sh (not a test; prints numbers).

Opens --clients connections to a chat server on 127.0.0.1:--port from this one
process (a selectors loop), --batch at a time, and reads everything each
client is sent. A tcp client (`--proto tcp`) has joined when its first line
(the welcome) arrived; a WebSocket client (`--proto ws`) sends an upgrade
request and has joined when the welcome frame follows the 101. It reports
the time from the first connect until every client had its welcome, the
server's VmRSS and VmHWM (from /proc/PID/status) once the notices settled,
and the bytes all clients received in total (the notice traffic: quadratic
when every join is told to everyone separately). The last line is one JSON
object.
"""

import argparse
import json
import os
import selectors
import socket
import sys
import time

from benchlib import proc_mem, raise_nofile


class Client:
    __slots__ = ("sock", "head", "joined", "received")

    def __init__(self, sock):
        self.sock = sock
        self.head = b""
        self.joined = False
        self.received = 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--proto", choices=["tcp", "ws"], required=True)
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    raise_nofile()

    sel = selectors.DefaultSelector()
    clients = []
    joined = 0
    total = 0
    buf = bytearray(1 << 16)
    request = (
        f"GET /?x=1 HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()

    def pump(wait):
        nonlocal joined, total
        for key, _ in sel.select(wait):
            c = key.data
            try:
                n = c.sock.recv_into(buf)
            except BlockingIOError:
                continue
            except OSError:
                n = 0
            if n == 0:
                sel.unregister(c.sock)
                continue
            total += n
            c.received += n
            if not c.joined:
                c.head += bytes(buf[:n])
                if b"welcome" in c.head:
                    c.joined = True
                    joined += 1
                    c.head = b""
                elif len(c.head) > 4096:
                    c.head = c.head[-512:]

    start = time.monotonic()
    deadline = start + args.timeout
    opened = 0
    while opened < args.clients and time.monotonic() < deadline:
        for _ in range(min(args.batch, args.clients - opened)):
            s = socket.socket()
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", args.port))
                if args.proto == "ws":
                    s.sendall(request)
            except OSError as e:
                print(f"connect failed: {e}", file=sys.stderr)
                s.close()
                continue
            s.setblocking(False)
            c = Client(s)
            clients.append(c)
            sel.register(s, selectors.EVENT_READ, c)
            opened += 1
        # Let the server take this batch before the next (the listen backlog).
        batch_end = time.monotonic() + 1.0
        while joined < opened and time.monotonic() < batch_end:
            pump(0.05)
    while joined < args.clients and time.monotonic() < deadline:
        pump(0.1)
    join_s = time.monotonic() - start
    all_joined = joined
    settle_end = time.monotonic() + args.settle
    while time.monotonic() < settle_end:
        pump(0.05)
    mem = proc_mem(args.server_pid)
    bytes_join = total
    for c in clients:
        try:
            c.sock.close()
        except OSError:
            pass
    result = {
        "label": args.label,
        "proto": args.proto,
        "clients": args.clients,
        "joined": all_joined,
        "join_s": round(join_s, 3),
        "rss_kib": mem["VmRSS"],
        "hwm_kib": mem["VmHWM"],
        "bytes": bytes_join,
    }
    print(
        f"{args.label}: {all_joined}/{args.clients} joined in {join_s:.2f} s; "
        f"server RSS {mem['VmRSS']} KiB (peak {mem['VmHWM']} KiB); "
        f"{bytes_join / 1048576:.1f} MiB of notices received in all"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
