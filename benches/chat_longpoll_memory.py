#!/usr/bin/env python3
"""Memory of `netkit ws listen --chat` holding N long polls.

Usage: chat_longpoll_memory.py [N]   (default 10000)
Starts the server (target/release/netkit), opens N connections each with a
held `GET /messages?since=0&wait=60s`, reads the server's RSS, then posts
one message and checks every held request is answered 200.
"""
import os
import resource
import socket
import subprocess
import sys
import time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
exe = os.environ.get("NETKIT") or os.path.join(os.path.dirname(__file__), "..", "target", "release", "netkit")
srv = subprocess.Popen([exe, "ws", "listen", "--chat", "--bind", "127.0.0.1",
                        "--max-clients", str(n + 100), "0"],
                       stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
line = srv.stderr.readline().decode()
port = int(line.rsplit(":", 1)[1])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])


before = rss_kib(srv.pid)
socks = []
req = b"GET /messages?since=0&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n"
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(req)
    socks.append(s)
time.sleep(1.0)
held = rss_kib(srv.pid)
post = socket.create_connection(("127.0.0.1", port))
post.sendall(b"POST /messages?name=m HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
answered = 0
for s in socks:
    s.settimeout(30)
    data = s.recv(4096)
    if data.startswith(b"HTTP/1.1 200"):
        answered += 1
print(f"{n} held long polls: RSS {before} KiB idle, {held} KiB holding "
      f"({(held - before) / n * 1024:.0f} bytes each); {answered}/{n} answered 200")
srv.kill()
sys.exit(0 if answered == n and held < 64 * 1024 else 1)
