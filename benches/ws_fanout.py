#!/usr/bin/env python3
"""Client swarms for benches/ws_fanout.sh (not a test; prints numbers).

  fanout  --port P --clients N --messages M [--lib raw|websockets]
      Opens N WebSocket clients in this one process (path /?name=cI), lets the
      join notices settle, then M times: client c0 sends "fanout-K!" and the
      time from just before the send until each other client has the message
      is taken; the fan-out time of a message is the last receipt (and the
      first is reported too). --lib raw: non-blocking sockets in a selectors
      loop, handshake by hand, receipt = the marker bytes seen in the stream
      (server frames are unmasked, so the text is there as is), timed by the
      kernel's receive timestamp of that read (SO_TIMESTAMPNS, CLOCK_REALTIME,
      against time.time_ns() just before the send), so the harness's own
      pace does not count; when the harness itself got there is reported too. --lib websockets: python `websockets` asyncio clients
      (receipt = the message delivered by the library; includes its per-message
      cost, about N times a few tens of microseconds).
  idle    --port P --clients N [--pid PID]
      Opens N raw clients (handshake only; they read whatever comes), then
      reads VmRSS/VmHWM of PID from /proc and reports them.
  server  --port P [--plain]
      A python `websockets` chat reference server: "<name> text" to every
      other client, join and leave notices (the same traffic as
      `netkit ws listen --chat`), via websockets.broadcast. --plain: no
      notices and no relaying (messages are read and dropped), for the
      idle-memory comparison with `netkit ws listen`.

The last line of output is one JSON object with the numbers.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import selectors
import socket
import statistics
import sys
import time

from benchlib import proc_mem, raise_nofile

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def masked_text(payload):
    mask = os.urandom(4)
    n = len(payload)
    assert n < 126
    return bytes([0x81, 0x80 | n]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# raw clients


# Linux: kernel receive timestamps (struct timespec, CLOCK_REALTIME) on each read.
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
CMSG_LEN = socket.CMSG_SPACE(16)


def kernel_stamp(ancdata):
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= 16:
            sec = int.from_bytes(data[:8], sys.byteorder)
            nsec = int.from_bytes(data[8:16], sys.byteorder)
            return sec * 1_000_000_000 + nsec
    return None


class Raw:
    __slots__ = ("sock", "key", "head", "up", "tail", "got", "kgot")

    def __init__(self, sock, key):
        self.sock = sock
        self.key = key
        self.head = b""
        self.up = False
        self.tail = b""
        self.got = None
        self.kgot = None


def raw_connect(port, n, batch, name_prefix="c", deadline_s=120):
    """N upgraded raw clients, BATCH handshakes in flight at a time."""
    sel = selectors.DefaultSelector()
    clients = []
    deadline = time.monotonic() + deadline_s
    i = 0
    while i < n:
        pending = []
        for _ in range(min(batch, n - i)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            key = base64.b64encode(os.urandom(16))
            c = Raw(s, key)
            c.head = (
                b"GET /?name=" + f"{name_prefix}{i}".encode() + b" HTTP/1.1\r\nHost: 127.0.0.1:"
                + str(port).encode() + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            sel.register(s, selectors.EVENT_WRITE, c)
            pending.append(c)
            clients.append(c)
            i += 1
        left = len(pending)
        while left:
            if time.monotonic() > deadline:
                raise SystemExit(f"handshakes not done in {deadline_s}s: {len(clients) - left} of {n}")
            for k, ev in sel.select(timeout=1):
                c = k.data
                if ev & selectors.EVENT_WRITE and not c.up and c.head.startswith(b"GET"):
                    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise SystemExit(f"connect failed: {os.strerror(err)}")
                    c.sock.send(c.head)
                    c.head = b""
                    sel.modify(c.sock, selectors.EVENT_READ, c)
                    continue
                data = c.sock.recv(65536)
                if not data:
                    raise SystemExit(f"server closed a client during its handshake: {c.head[:200]!r}")
                if c.up:
                    continue
                c.head += data
                end = c.head.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head, rest = c.head[: end + 4], c.head[end + 4:]
                if not head.startswith(b"HTTP/1.1 101"):
                    raise SystemExit(f"upgrade refused: {head[:200]!r}")
                want = base64.b64encode(hashlib.sha1(c.key + GUID).digest())
                if want not in head:
                    raise SystemExit("wrong Sec-WebSocket-Accept")
                c.up = True
                c.tail = rest[-64:]
                left -= 1
    return sel, clients


def drain(sel, quiet):
    """Reads everything until nothing arrives for QUIET seconds; bytes read."""
    total = 0
    last = time.monotonic()
    while time.monotonic() - last < quiet:
        for k, _ in sel.select(timeout=quiet / 4):
            data = k.data.sock.recv(1 << 20)
            if not data:
                raise SystemExit("server closed a client")
            total += len(data)
            k.data.tail = (k.data.tail + data)[-64:]
            last = time.monotonic()
    return total


def fanout_raw(args):
    t_conn = time.monotonic()
    sel, clients = raw_connect(args.port, args.clients, args.batch, deadline_s=args.deadline)
    connect_s = time.monotonic() - t_conn
    settled = drain(sel, args.settle)
    log(f"# {len(clients)} raw clients up in {connect_s:.2f}s; join notices: {settled} bytes")
    sender, others = clients[0], clients[1:]
    sel.unregister(sender.sock)
    for c in others:
        c.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    clock = time.perf_counter
    lasts, firsts, klasts, kfirsts, lost = [], [], [], [], 0
    for k in range(args.messages):
        marker = b"fanout-%06d!" % k
        for c in others:
            c.got = None
            c.kgot = None
            c.tail = b""
        frame = masked_text(marker)
        waiting = len(others)
        k0 = time.time_ns()
        t0 = clock()
        sender.sock.send(frame)
        deadline = time.monotonic() + 10
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                c = key.data
                data, anc, _, _ = c.sock.recvmsg(1 << 20, CMSG_LEN)
                if not data:
                    raise SystemExit("server closed a client")
                if c.got is None and marker in c.tail + data:
                    c.got = clock()
                    c.kgot = kernel_stamp(anc)
                    waiting -= 1
                c.tail = (c.tail + data)[-len(marker):]
        lost += waiting
        times = [c.got - t0 for c in others if c.got is not None]
        ktimes = [(c.kgot - k0) / 1e6 for c in others if c.kgot is not None]
        if times:
            lasts.append(max(times) * 1000)
            firsts.append(min(times) * 1000)
        if ktimes:
            klasts.append(max(ktimes))
            kfirsts.append(min(ktimes))
        log(f"message {k}: kernel first {min(ktimes, default=float('nan')):.2f} ms, "
            f"last {max(ktimes, default=float('nan')):.2f} ms; seen by the harness first "
            f"{min(times, default=float('nan')) * 1000:.2f} ms, last "
            f"{max(times, default=float('nan')) * 1000:.2f} ms; {len(times)} of {len(others)} reached")
        # Let stragglers (the sender's own socket is not read) settle.
        drain(sel, 0.05)
    mem = proc_mem(args.pid)
    return {
        "lib": "raw",
        "clients": len(clients),
        "connect_s": round(connect_s, 3),
        "messages": args.messages,
        # Kernel receive timestamps: when the data reached each client's socket.
        "last_ms_median": round(statistics.median(klasts), 3) if klasts else None,
        "last_ms_max": round(max(klasts), 3) if klasts else None,
        "first_ms_median": round(statistics.median(kfirsts), 3) if kfirsts else None,
        # When this harness got to each client's message.
        "seen_last_ms_median": round(statistics.median(lasts), 3) if lasts else None,
        "seen_first_ms_median": round(statistics.median(firsts), 3) if firsts else None,
        "lost": lost,
        "server_rss_kib": mem["VmRSS"],
        "server_hwm_kib": mem["VmHWM"],
    }


# ---------------------------------------------------------------------------
# websockets-library clients


async def fanout_websockets_async(args):
    from websockets.asyncio.client import connect

    url = f"ws://127.0.0.1:{args.port}"
    clock = time.perf_counter
    state = {"marker": None, "t0": 0.0, "times": [], "need": 0, "done": None, "last_rx": clock()}

    async def reader(ws):
        async for m in ws:
            state["last_rx"] = clock()
            mk = state["marker"]
            if mk is not None and isinstance(m, str) and m.endswith(mk):
                state["times"].append(clock() - state["t0"])
                if len(state["times"]) == state["need"]:
                    state["done"].set()

    t_conn = time.monotonic()
    clients = []
    for start in range(0, args.clients, args.batch):
        batch = [
            connect(f"{url}/?name=c{i}", compression=None, ping_interval=None, max_queue=None,
                    open_timeout=60)
            for i in range(start, min(args.clients, start + args.batch))
        ]
        clients += await asyncio.gather(*batch)
    connect_s = time.monotonic() - t_conn
    tasks = [asyncio.create_task(reader(ws)) for ws in clients[1:]]
    while clock() - state["last_rx"] < args.settle:
        await asyncio.sleep(args.settle / 4)
    log(f"# {len(clients)} websockets clients up in {connect_s:.2f}s")
    sender = clients[0]
    lasts, firsts, lost = [], [], 0
    for k in range(args.messages):
        marker = "fanout-%06d!" % k
        state.update(marker=marker, times=[], need=len(clients) - 1, done=asyncio.Event())
        state["t0"] = clock()
        await sender.send(marker)
        try:
            await asyncio.wait_for(state["done"].wait(), 10)
        except asyncio.TimeoutError:
            pass
        times = state["times"]
        lost += state["need"] - len(times)
        if times:
            lasts.append(max(times) * 1000)
            firsts.append(min(times) * 1000)
            log(f"message {k}: first {min(times) * 1000:.2f} ms, last {max(times) * 1000:.2f} ms, "
                f"{len(times)} of {state['need']} reached")
        await asyncio.sleep(0.05)
    mem = proc_mem(args.pid)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
    return {
        "lib": "websockets",
        "clients": len(clients),
        "connect_s": round(connect_s, 3),
        "messages": args.messages,
        "last_ms_median": round(statistics.median(lasts), 3) if lasts else None,
        "last_ms_max": round(max(lasts), 3) if lasts else None,
        "first_ms_median": round(statistics.median(firsts), 3) if firsts else None,
        "lost": lost,
        "server_rss_kib": mem["VmRSS"],
        "server_hwm_kib": mem["VmHWM"],
    }


# ---------------------------------------------------------------------------


def idle(args):
    t = time.monotonic()
    sel, clients = raw_connect(args.port, args.clients, args.batch, deadline_s=args.deadline)
    connect_s = time.monotonic() - t
    received = drain(sel, args.settle)
    mem = proc_mem(args.pid)
    log(f"# {len(clients)} idle clients up in {connect_s:.2f}s; server VmRSS {mem['VmRSS']} KiB")
    return {
        "clients": sum(1 for c in clients if c.up),
        "connect_s": round(connect_s, 3),
        "received_bytes": received,
        "server_rss_kib": mem["VmRSS"],
        "server_hwm_kib": mem["VmHWM"],
    }


async def reference_server(port, plain):
    from urllib.parse import parse_qs, urlsplit

    from websockets.asyncio.server import broadcast, serve

    clients = {}
    counter = [0]

    async def quiet(ws):
        async for _ in ws:
            pass

    async def handler(ws):
        counter[0] += 1
        q = parse_qs(urlsplit(ws.request.path).query)
        name = q.get("name", [f"user{counter[0]}"])[0]
        broadcast(list(clients), f"*** {name} joined")
        clients[ws] = name
        try:
            async for m in ws:
                broadcast([c for c in clients if c is not ws], f"<{name}> {m}")
        finally:
            clients.pop(ws, None)
            broadcast(list(clients), f"*** {name} left")

    async with serve(quiet if plain else handler, "127.0.0.1", port, compression=None, ping_interval=None,
                     max_queue=None, backlog=4096):
        print(json.dumps({"listening": port}), flush=True)
        await asyncio.Future()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["fanout", "idle", "server"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--lib", choices=["raw", "websockets"], default="raw")
    ap.add_argument("--batch", type=int, default=250)
    ap.add_argument("--settle", type=float, default=0.5, help="seconds of quiet that end a drain")
    ap.add_argument("--pid", type=int, default=0, help="server PID for /proc memory")
    ap.add_argument("--deadline", type=float, default=120, help="seconds for all handshakes")
    ap.add_argument("--plain", action="store_true", help="server: no notices, no relaying")
    args = ap.parse_args()
    nofile = raise_nofile()
    if args.mode != "server" and nofile < args.clients + 32:
        log(f"warning: RLIMIT_NOFILE is {nofile}; {args.clients} clients need more")
    if args.mode == "server":
        asyncio.run(reference_server(args.port, args.plain))
        return 0
    if args.mode == "idle":
        result = idle(args)
    elif args.lib == "raw":
        result = fanout_raw(args)
    else:
        result = asyncio.run(fanout_websockets_async(args))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
