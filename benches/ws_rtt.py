#!/usr/bin/env python3
"""Echo round-trip timer for benches/ws_roundtrip.sh (not a test; prints numbers).

A deliberately thin WebSocket client on a blocking socket (TCP_NODELAY), so
that its own cost per round trip is a few microseconds and the same for every
server: it does the opening handshake by hand (checking the accept value),
builds the masked text frame once, then --count times sends it and reads the
echo (the server's frame header, then exactly the payload), timing each
round trip with perf_counter_ns. Every echo is compared with what was sent.
--warmup round trips go first and are not counted. At the end it sends
Close 1000 and reads until the server closes.

The last line of output is one JSON object: count, p50/p90/p99/max/mean in
microseconds.
"""

import argparse
import base64
import hashlib
import json
import os
import socket
import statistics
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"server closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def handshake(s, host, port, path):
    key = base64.b64encode(os.urandom(16))
    s.sendall(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + f"{host}:{port}".encode()
        + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
        + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        c = s.recv(1)
        if not c:
            raise EOFError(f"server closed during the handshake: {head!r}")
        head += c
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit(f"upgrade refused: {head!r}")
    want = base64.b64encode(hashlib.sha1(key + GUID).digest())
    if want not in head:
        raise SystemExit(f"wrong Sec-WebSocket-Accept: {head!r}")


def client_frame(opcode, payload):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def read_frame(s):
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(recv_exact(s, 2), "big")
    elif n == 127:
        n = int.from_bytes(recv_exact(s, 8), "big")
    if b1 & 0x80:
        raise SystemExit("masked frame from the server")
    return b0 & 0x0F, recv_exact(s, n) if n else b""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--path", default="/")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--size", type=int, default=32, help="payload bytes (text)")
    args = ap.parse_args()

    s = socket.create_connection((args.host, args.port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    handshake(s, args.host, args.port, args.path)
    payload = (b"0123456789abcdefghijklmnopqrstuvwxyz" * (args.size // 36 + 1))[: args.size]
    frame = client_frame(0x1, payload)
    clock = time.perf_counter_ns
    samples = []
    for i in range(args.warmup + args.count):
        t0 = clock()
        s.sendall(frame)
        op, got = read_frame(s)
        t1 = clock()
        while op in (0x9, 0xA):  # a ping or pong slipped in: not ours
            op, got = read_frame(s)
            t1 = clock()
        if op != 0x1 or got != payload:
            raise SystemExit(f"round trip {i}: bad echo (opcode {op:#x}, {got[:40]!r})")
        if i >= args.warmup:
            samples.append((t1 - t0) / 1000.0)
    s.sendall(client_frame(0x8, (1000).to_bytes(2, "big")))
    try:
        while True:
            op, _ = read_frame(s)
            if op == 0x8:
                break
        s.settimeout(5)
        while s.recv(4096):
            pass
    except (EOFError, OSError):
        pass
    s.close()

    samples.sort()

    def pct(p):
        return samples[min(len(samples) - 1, int(p / 100.0 * len(samples)))]

    result = {
        "count": len(samples),
        "p50_us": round(pct(50), 1),
        "p90_us": round(pct(90), 1),
        "p99_us": round(pct(99), 1),
        "max_us": round(samples[-1], 1),
        "mean_us": round(statistics.fmean(samples), 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
