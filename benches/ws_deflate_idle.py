#!/usr/bin/env python3
"""Memory of `netkit ws listen` with N idle clients that negotiated
permessage-deflate (issue 16: 10,000 stay under 128 MiB). Not a test; prints
numbers, the last line one JSON object.

Starts `netkit --json ws listen --echo --bind 127.0.0.1 --max-clients N+1 0`,
opens N TCP connections from this one process, each sends an Upgrade request
offering `permessage-deflate; client_max_window_bits` (as browsers do) and
reads the 101 (which must agree to permessage-deflate). With --send, each
client then sends one compressed text message (context takeover on the
client's side, as browsers keep it) and reads its compressed echo, so that
both of the server's contexts have been used once. Then the server's VmRSS
and VmHWM are read from /proc.

Run:   python3 benches/ws_deflate_idle.py [--clients 10000] [--send] [--netkit PATH]
"""

import argparse
import base64
import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import zlib


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, n + 100))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) // 1024
    return out


def read_until(sock, marker):
    buf = b""
    while marker not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed during the handshake")
        buf += chunk
    return buf


def masked_frame(opcode_byte, payload):
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([opcode_byte])
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--send", action="store_true")
    ap.add_argument("--plain", action="store_true", help="offer no compression (for comparison)")
    ap.add_argument("--netkit", default="target/release/netkit")
    args = ap.parse_args()
    raise_nofile(args.clients)
    server = subprocess.Popen(
        [args.netkit, "--json", "ws", "listen", "--echo", "--bind", "127.0.0.1",
         "--max-clients", str(args.clients + 1), "0"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    port = json.loads(server.stdout.readline())["port"]
    # The server reports every client: keep its stdout drained.
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
    base = status(server.pid)
    socks = []
    start = time.time()
    text = b'{"type":"message","text":"hello from an idle client","n":12345}'
    for i in range(args.clients):
        s = socket.create_connection(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {key}\r\n"
            + ("" if args.plain else
               "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
            + "\r\n"
        ).encode())
        head = read_until(s, b"\r\n\r\n")
        if args.plain:
            pass
        elif b"permessage-deflate" not in head:
            sys.exit(f"client {i}: no permessage-deflate in {head!r}")
        if args.send:
            z = zlib.compressobj(wbits=-15)
            data = z.compress(text) + z.flush(zlib.Z_SYNC_FLUSH)
            assert data.endswith(b"\x00\x00\xff\xff")
            s.sendall(masked_frame(0x81, text) if args.plain else masked_frame(0xC1, data[:-4]))
            echo = s.recv(4096)
            if not echo or echo[0] != (0x81 if args.plain else 0xC1):
                sys.exit(f"client {i}: echo {echo!r}")
        socks.append(s)
    took = time.time() - start
    time.sleep(1)
    mem = status(server.pid)
    result = {
        "clients": len(socks),
        "sent_one_message": args.send,
        "setup_s": round(took, 1),
        "rss_before_mib": base.get("VmRSS"),
        "rss_mib": mem.get("VmRSS"),
        "peak_rss_mib": mem.get("VmHWM"),
    }
    print(f"{len(socks)} clients with permessage-deflate"
          f"{' (each sent one message)' if args.send else ''}: server RSS "
          f"{mem.get('VmRSS')} MiB (peak {mem.get('VmHWM')} MiB)", file=sys.stderr)
    print(json.dumps(result))
    for s in socks:
        s.close()
    server.terminate()
    server.wait()


if __name__ == "__main__":
    main()
