#!/usr/bin/env python3
"""Writes the hand-made seed inputs under fuzz/corpus/<target>/seed-*.

Each input is in the format the targets read (see src/lib.rs): an optional
flags byte, then `n` and `n` chunk sizes (`\\x00`: fed whole), then the bytes.
Run from anywhere: python3 fuzz/make_seeds.py
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
WHOLE = b"\x00"
# Three reads: 1, 5 and 17 bytes, cycled.
SPLIT = bytes([3, 0, 4, 16])
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(opcode, payload, fin=True, mask=None):
    out = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        out += bytes([bit | n])
    elif n <= 0xFFFF:
        out += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        out += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask:
        out += mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return out


def close(code, reason=b""):
    return struct.pack(">H", code) + reason


def crlf(text):
    return text.replace("\n", "\r\n").encode()


SEEDS = {
    "http_response": {
        "content-length": WHOLE + crlf("HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 5\n\n") + b"hello",
        "chunked-trailers": WHOLE
        + crlf("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5;ext=1\nhello\n1\n \n5\nworld\n0\nX-Sum: 42\n\n"),
        "chunked-split": SPLIT + crlf("HTTP/1.1 200 OK\ntransfer-encoding: chunked\n\nA\n0123456789\n0\n\n"),
        "close-delimited": WHOLE + crlf("HTTP/1.0 200 OK\nServer: x\n\n") + b"until the end",
        "interim": WHOLE
        + crlf("HTTP/1.1 100 Continue\n\nHTTP/1.1 103 Early Hints\nLink: </a>\n\nHTTP/1.1 201 Created\nContent-Length: 2\n\n")
        + b"ok",
        "no-body": WHOLE
        + crlf("HTTP/1.1 204 No Content\nContent-Length: 10\n\nHTTP/1.1 304 Not Modified\nETag: \"x\"\n\n"),
        "keep-alive": SPLIT
        + crlf("HTTP/1.1 200 OK\nContent-Length: 1\n\na")
        + crlf("HTTP/1.1 404 Not Found\nContent-Length: 0, 0\nConnection: close\n\n"),
        "short-body": WHOLE + crlf("HTTP/1.1 200 OK\nContent-Length: 10\n\n") + b"abc",
    },
    "ws_frame": {
        # flags: bit 0 = we are the server (frames masked).
        "client-text": b"\x00" + WHOLE + frame(0x1, b"Hello"),
        "server-masked": b"\x01" + WHOLE + frame(0x1, b"Hello", mask=MASK),
        "fragments-ping": b"\x00"
        + SPLIT
        + frame(0x1, "κό".encode(), fin=False)
        + frame(0x9, b"ping!")
        + frame(0x0, "σμε".encode())
        + frame(0x8, close(1000, b"bye")),
        "binary-126": b"\x01" + WHOLE + frame(0x2, bytes(range(256)) * 2, mask=MASK),
        "too-big": b"\x02" + WHOLE + frame(0x2, b"x" * 40),
        "bad-utf8": b"\x00" + WHOLE + frame(0x1, b"\xce\xba\xe1\xbd\xb9\xf4\x90\x80\x80more"),
    },
    "ws_frame_roundtrip": {
        # op byte: kind = (op & 7) % 5 (text, binary, ping, pong, close); bit 3
        # or 4: 16-bit length form, both: 64-bit form; bit 5: pings between
        # fragments. Then a length byte (two for the 16-bit form), payload
        # bytes, and for messages a byte of cut count and 2-byte cut points.
        "text-fragments": b"\x01" + WHOLE + bytes([0x20, 12]) + "héllo wörld!".encode()[:12] + bytes([3, 0, 2, 0, 5, 0, 9]),
        "binary-and-ping": b"\x00" + SPLIT + bytes([1, 4]) + b"\x00\x01\x02\x03" + bytes([0]) + bytes([2, 3]) + b"abc",
        "long-forms": b"\x03" + WHOLE + bytes([0x09, 0x01, 0x00]) + b"0123456789" + bytes([0, 0x19, 5]) + b"abcde" + bytes([1]),
        "close": b"\x00" + WHOLE + bytes([3, 2]) + b"pp" + bytes([4, 3]) + b"bye" + bytes([0]),
    },
    "ws_handshake_server": {
        "upgrade": WHOLE
        + crlf(
            "GET /chat?name=ann HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: keep-alive, Upgrade\n"
            f"Sec-WebSocket-Key: {KEY}\nSec-WebSocket-Version: 13\nSec-WebSocket-Protocol: chat, superchat\n\n"
        ),
        "upgrade-split": SPLIT
        + crlf(f"GET / HTTP/1.1\nHost: h\nUpgrade: WebSocket\nConnection: Upgrade\nSec-WebSocket-Key: {KEY}\nSec-WebSocket-Version: 13\n\n")
        + frame(0x1, b"hi", mask=MASK),
        "post": WHOLE + crlf(f"POST / HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: {KEY}\nSec-WebSocket-Version: 13\n\n"),
        "plain-get": WHOLE + crlf("GET /index.html HTTP/1.1\nHost: h\nAccept: */*\n\n"),
        "old-version": WHOLE + crlf(f"GET / HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Key: {KEY}\nSec-WebSocket-Version: 8\n\n"),
    },
    "ws_handshake_client": {
        "101": WHOLE + crlf(f"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: {ACCEPT}\n\n"),
        "101-protocol-frame": SPLIT
        + crlf(
            f"HTTP/1.1 101 Switching Protocols\nupgrade: WebSocket\nconnection: upgrade\nsec-websocket-accept: {ACCEPT}\n"
            "Sec-WebSocket-Protocol: superchat\n\n"
        )
        + frame(0x1, b"Hello"),
        "wrong-accept": WHOLE
        + crlf("HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"),
        "refused": WHOLE + crlf("HTTP/1.1 426 Upgrade Required\nSec-WebSocket-Version: 13\nContent-Length: 3\n\n") + b"no\n",
        "interim": WHOLE
        + crlf(f"HTTP/1.1 100 Continue\n\nHTTP/1.1 101 Switching Protocols\nUpgrade: websocket\nConnection: Upgrade\nSec-WebSocket-Accept: {ACCEPT}\n\n"),
    },
    "ws_session": {
        # flags: bit 0 = server, bit 1 = we close first.
        "client-conversation": b"\x00" + SPLIT + frame(0x1, b"hello") + frame(0x9, b"p") + frame(0xA, b"q") + frame(0x8, close(1000, b"bye")),
        "server-masked": b"\x01" + WHOLE + frame(0x2, b"\x00\x01\x02", mask=MASK) + frame(0x9, b"ping", mask=MASK) + frame(0x8, b"", mask=MASK),
        "we-close-first": b"\x02" + WHOLE + frame(0x9, b"late") + frame(0x8, close(1001)),
        "protocol-error": b"\x01" + WHOLE + frame(0x1, b"x"),
        "after-close": b"\x00" + WHOLE + frame(0x8, close(4000, b"app")) + frame(0x1, b"ignored"),
    },
    "utf8": {
        "ascii": WHOLE + b"hello, world",
        "greek-split": SPLIT + "κόσμε ☃ 𝄞 music".encode(),
        "surrogate": WHOLE + b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
        "overlong": bytes([2, 0, 1]) + b"ok \xc0\x80 \xe0\x80\x80",
        "above-max": WHOLE + b"\xf4\x90\x80\x80",
        "incomplete": bytes([1, 0]) + "snow ☃".encode()[:-1],
    },
}


def main():
    for target, seeds in SEEDS.items():
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, f"seed-{name}"), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
