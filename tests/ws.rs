//! Integration tests for `netkit ws connect | listen`: the WebSocket client
//! and server, run as the real binary on loopback.
//!
//! Peers: raw std sockets written here (to see every byte of a handshake or
//! a frame, and to break the protocol on purpose), Python `websockets`
//! (client and server), `websocat` (both sides), and netkit itself. A peer
//! that is missing fails the test under `CI=true` and skips it otherwise.
//! Ports are chosen by the system (port 0) except for websocat's listener,
//! which cannot report one (a just-freed port, retried).

mod common;

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use sha1::{Digest, Sha1};

use common::ws::{python, python_websockets, websocat_server, PyServer, Tty, WsListen as Server};
use common::{
    assert_one_error_line, client, code, feed, listening_port, make_pki, netkit, parse_event,
    random_bytes, require_peer, serve_once, Collector, Events, Lines, Proc, TempFile, MIB, TIMEOUT,
};

/// For the long runs (hundreds of thousands of messages through a debug build).
const LONG: Duration = Duration::from_secs(120);

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

// ---------------------------------------------------------------------------
// Encoding helpers

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| panic!("bad base64 {text:?}: {e}"))
}

/// `base64(SHA-1(key + GUID))`, computed here independently of netkit.
fn accept_for(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    b64(&h.finalize())
}

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

static SEED: AtomicU64 = AtomicU64::new(1);

/// Fresh pseudo-random bytes (distinct across calls in this process).
fn fresh<const N: usize>() -> [u8; N] {
    let seed = SEED.fetch_add(1, Ordering::SeqCst) ^ (u64::from(std::process::id()) << 20);
    let mut out = [0u8; N];
    out.copy_from_slice(&random_bytes(N, seed));
    out
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------------------
// Raw frames

/// One frame: `mask` makes it a client frame.
fn frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    let n = payload.len();
    if n < 126 {
        out.push(m | n as u8);
    } else if n <= 0xFFFF {
        out.push(m | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(m | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A masked, final client frame.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame(true, opcode, payload, Some(fresh::<4>()))
}

fn close_body(code: u16, reason: &str) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(reason.as_bytes());
    b
}

#[derive(Debug, Clone)]
struct Frame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    /// Unmasked.
    payload: Vec<u8>,
}

impl Frame {
    fn text(&self) -> String {
        String::from_utf8(self.payload.clone())
            .unwrap_or_else(|_| panic!("frame payload is not UTF-8: {self:?}"))
    }

    fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, OP_CLOSE, "not a Close frame: {self:?}");
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    fn close_reason(&self) -> String {
        assert_eq!(self.opcode, OP_CLOSE, "not a Close frame: {self:?}");
        String::from_utf8_lossy(self.payload.get(2..).unwrap_or_default()).into_owned()
    }

    fn describe(&self) -> String {
        let body = if self.opcode == OP_CLOSE {
            format!("code {:?} {:?}", self.close_code(), self.close_reason())
        } else if self.payload.len() <= 64 {
            format!("{:?}", String::from_utf8_lossy(&self.payload))
        } else {
            format!("{} bytes", self.payload.len())
        };
        format!(
            "opcode {:#x} fin {} masked {} {body}",
            self.opcode, self.fin, self.masked
        )
    }
}

fn read_exact_or_panic(s: &mut TcpStream, buf: &mut [u8], what: &str) {
    s.read_exact(buf)
        .unwrap_or_else(|e| panic!("reading {what}: {e}"));
}

/// The next frame; `None` when the peer closed TCP (EOF or reset) before
/// the first byte of one.
fn read_frame(s: &mut TcpStream) -> Option<Frame> {
    let mut h = [0u8; 2];
    loop {
        match s.read(&mut h[..1]) {
            Ok(0) => return None,
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return None,
            Err(e) => panic!("reading a frame header: {e}"),
        }
    }
    read_exact_or_panic(s, &mut h[1..], "a frame header");
    let fin = h[0] & 0x80 != 0;
    let rsv = (h[0] >> 4) & 0x7;
    let opcode = h[0] & 0x0F;
    let masked = h[1] & 0x80 != 0;
    let len = match h[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            read_exact_or_panic(s, &mut b, "a 16-bit length");
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            read_exact_or_panic(s, &mut b, "a 64-bit length");
            u64::from_be_bytes(b)
        }
        n => u64::from(n),
    };
    assert!(len <= 256 * MIB as u64, "absurd frame length {len}");
    let mut mask = [0u8; 4];
    if masked {
        read_exact_or_panic(s, &mut mask, "a mask");
    }
    let mut payload = vec![0u8; len as usize];
    read_exact_or_panic(s, &mut payload, "a frame payload");
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Some(Frame {
        fin,
        rsv,
        opcode,
        masked,
        payload,
    })
}

fn expect_frame(s: &mut TcpStream, what: &str) -> Frame {
    read_frame(s).unwrap_or_else(|| panic!("TCP closed while waiting for {what}"))
}

/// Asserts the peer closed TCP (EOF, or a reset) and sent nothing more.
fn expect_tcp_closed(s: &mut TcpStream, what: &str) {
    if let Some(f) = read_frame(s) {
        panic!(
            "{what}: expected TCP to close, got a frame: {}",
            f.describe()
        );
    }
}

/// A text frame from a server: final, unmasked, reserved bits clear.
fn expect_server_text(s: &mut TcpStream, what: &str) -> String {
    let f = expect_frame(s, what);
    assert_eq!(
        (f.opcode, f.fin, f.masked, f.rsv),
        (OP_TEXT, true, false, 0),
        "{what}: expected an unmasked final text frame, got {}",
        f.describe()
    );
    f.text()
}

/// A Close frame from a server; returns (code, reason).
fn expect_server_close(s: &mut TcpStream, what: &str) -> (Option<u16>, String) {
    let f = expect_frame(s, what);
    assert_eq!(
        (f.opcode, f.masked),
        (OP_CLOSE, false),
        "{what}: expected an unmasked Close frame, got {}",
        f.describe()
    );
    (f.close_code(), f.close_reason())
}

/// A Close frame from a client (masked); returns (code, reason).
fn expect_client_close(s: &mut TcpStream, what: &str) -> (Option<u16>, String) {
    let f = expect_frame(s, what);
    assert_eq!(
        (f.opcode, f.masked, f.fin),
        (OP_CLOSE, true, true),
        "{what}: expected a masked Close frame, got {}",
        f.describe()
    );
    (f.close_code(), f.close_reason())
}

fn send(s: &mut TcpStream, bytes: &[u8]) {
    s.write_all(bytes)
        .unwrap_or_else(|e| panic!("writing {} bytes: {e}", bytes.len()));
}

// ---------------------------------------------------------------------------
// Raw HTTP heads

/// Reads an HTTP head byte by byte (nothing after it is consumed).
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) => panic!(
                "EOF inside an HTTP head: {:?}",
                String::from_utf8_lossy(&head)
            ),
            Ok(_) => head.push(b[0]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "reading an HTTP head: {e}; so far {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
        assert!(head.len() < 64 * 1024, "HTTP head over 64 KiB");
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Every value of a header field (case-insensitive name).
fn headers<'a>(head: &'a str, name: &str) -> Vec<&'a str> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// The one value of a header field.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    let all = headers(head, name);
    assert!(
        all.len() <= 1,
        "{name} appears {} times in {head:?}",
        all.len()
    );
    all.first().copied()
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

fn status_of(head: &str) -> u16 {
    let line = head.split("\r\n").next().unwrap_or("");
    assert!(line.starts_with("HTTP/1.1 "), "bad status line {line:?}");
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {line:?}"))
}

fn upgrade_request(port: u16, path: &str, key: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A raw client upgraded on `path` (extra request lines in `extra`): the
/// stream and the 101 head, whose accept value is checked.
fn raw_ws_with(port: u16, path: &str, extra: &str) -> (TcpStream, String) {
    let mut s = client(addr(port));
    let key = b64(&fresh::<16>());
    send(&mut s, upgrade_request(port, path, &key, extra).as_bytes());
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 101, "upgrade of {path} refused: {head}");
    assert_eq!(
        header(&head, "sec-websocket-accept"),
        Some(accept_for(&key).as_str()),
        "{head}"
    );
    (s, head)
}

fn raw_ws(port: u16, path: &str) -> TcpStream {
    raw_ws_with(port, path, "").0
}

/// Sends a request expected to be refused: (status, head, body). The
/// server must close the connection after the body.
fn refused(port: u16, request: &str) -> (u16, String, String) {
    let mut s = client(addr(port));
    send(&mut s, request.as_bytes());
    let head = read_head(&mut s);
    let len: usize = header(&head, "content-length")
        .unwrap_or_else(|| panic!("refusal without Content-Length: {head}"))
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    read_exact_or_panic(&mut s, &mut body, "a refusal body");
    expect_tcp_closed(&mut s, "after a refusal");
    (
        status_of(&head),
        head,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Server side: reads the Upgrade request, answers 101 with the right
/// accept value (plus `extra` header lines); returns the request head.
fn accept_upgrade(s: &mut TcpStream, extra: &str) -> String {
    let head = read_head(s);
    let key = header(&head, "sec-websocket-key")
        .unwrap_or_else(|| panic!("no Sec-WebSocket-Key in {head}"))
        .to_string();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_for(&key)
    );
    send(s, response.as_bytes());
    head
}

/// Server side: collects data frames until the client's Close; answers the
/// Close (echoing the code) and closes TCP. Returns (frames, close code).
fn collect_until_close(s: &mut TcpStream) -> (Vec<Frame>, Option<u16>) {
    let mut frames = Vec::new();
    loop {
        let f = expect_frame(s, "the client's frames and Close");
        assert!(f.masked, "unmasked client frame: {}", f.describe());
        assert_eq!(f.rsv, 0, "reserved bits set: {}", f.describe());
        match f.opcode {
            OP_CLOSE => {
                let c = f.close_code();
                let body = c.map(|c| close_body(c, "")).unwrap_or_default();
                send(s, &frame(true, OP_CLOSE, &body, None));
                return (frames, c);
            }
            OP_PING | OP_PONG => {}
            _ => frames.push(f),
        }
    }
}

// ---------------------------------------------------------------------------
// netkit processes

impl Server {
    fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    /// Writes lines to the server's stdin.
    fn say(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin closed");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next `open` event.
    fn opened(&mut self) -> Value {
        self.events.wait("open", |_| true)
    }

    /// The `close` event of client `id`.
    fn closed(&mut self, id: u64) -> Value {
        self.events.wait("close", |v| v["id"] == id)
    }
}

/// `netkit ws listen --bind 127.0.0.1 ARGS 0` in human mode: stdout where
/// asked, stderr read as lines (the first one gives the port).
struct HumanServer {
    proc: Proc,
    port: u16,
    stderr: Lines,
    stdin: Option<ChildStdin>,
}

impl HumanServer {
    fn start(args: &[&str], stdout: Stdio) -> HumanServer {
        let mut cmd = netkit();
        cmd.args(["ws", "listen", "--bind", "127.0.0.1"])
            .args(args)
            .arg("0")
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd);
        let stdin = Some(proc.take_stdin());
        let mut stderr = proc.stderr_lines();
        let first = stderr
            .next_line(TIMEOUT)
            .unwrap_or_else(|| panic!("netkit ws listen printed nothing on stderr"));
        let port = listening_port(&first);
        HumanServer {
            proc,
            port,
            stderr,
            stdin,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    fn say(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin closed");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
}

/// `netkit --json ws connect ARGS` with its stdin a pipe kept open until
/// the test drops it.
struct JsonClient {
    proc: Proc,
    events: Events,
    stderr: Collector,
    stdin: Option<ChildStdin>,
}

impl JsonClient {
    fn start(args: &[&str]) -> JsonClient {
        let mut cmd = netkit();
        cmd.args(["--json", "ws", "connect"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd);
        let stdin = Some(proc.take_stdin());
        let stderr = proc.stderr_bytes();
        let events = Events::new(proc.stdout_lines());
        JsonClient {
            proc,
            events,
            stderr,
            stdin,
        }
    }

    /// Waits for the exit (stdin still open): (code, remaining events, stderr).
    fn finish(mut self) -> (i32, Vec<Value>, String) {
        let status = self.proc.wait(TIMEOUT);
        let rest = self.events.rest();
        drop(self.stdin.take());
        (code(status), rest, self.stderr.text())
    }
}

/// `netkit ws connect ARGS` (human mode) with stdin a pipe kept open, or fed.
fn start_client(args: &[&str]) -> (Proc, ChildStdin, Collector, Collector) {
    let mut cmd = netkit();
    cmd.args(["ws", "connect"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let stdin = proc.take_stdin();
    let out = proc.stdout_bytes();
    let err = proc.stderr_bytes();
    (proc, stdin, out, err)
}

fn events_named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|v| v["event"] == name).collect()
}

fn dump(events: &[Value]) -> String {
    events
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------
// Python websockets

/// A Python websockets server. argv: MODE [SUBPROTOCOLS]. Prints
/// {"port": N} first, then a JSON object per observation.
///   report: per message {"type","len","sha1","text"(short ones)}, then at
///           the close {"binary_total","binary_sha1","close_code","close_reason"}
///   count:  checks message i == "%07d the quick brown fox..." and prints
///           {"count","bad","first_bad","close_code"} at the close
///   send:   sends "hello", a fragmented text, a fragmented binary and 16 MiB
///           of binary ({"big_sha1"} first), then closes with 4000
const PY_SERVER: &str = r#"
import asyncio, hashlib, json, random, sys
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

mode = sys.argv[1]
protocols = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else None

def out(**kw):
    print(json.dumps(kw), flush=True)

def line(i):
    return "%07d the quick brown fox jumps over the lazy dog" % i

async def handler(ws):
    out(event="open", subprotocol=ws.subprotocol, path=ws.request.path)
    if mode == "report":
        total, h = 0, hashlib.sha1()
        try:
            async for m in ws:
                if isinstance(m, str):
                    b = m.encode()
                    out(type="text", len=len(b), sha1=hashlib.sha1(b).hexdigest(),
                        text=m if len(m) <= 100 else None)
                else:
                    total += len(m)
                    h.update(m)
                    out(type="binary", len=len(m), sha1=hashlib.sha1(m).hexdigest())
        except ConnectionClosed:
            pass
        out(event="close", binary_total=total, binary_sha1=h.hexdigest(),
            close_code=ws.close_code, close_reason=ws.close_reason)
    elif mode == "count":
        n, bad, first_bad = 0, 0, None
        try:
            async for m in ws:
                if m != line(n):
                    bad += 1
                    if first_bad is None:
                        first_bad = [n, m[:80]]
                n += 1
        except ConnectionClosed:
            pass
        out(event="close", count=n, bad=bad, first_bad=first_bad, close_code=ws.close_code)
    elif mode == "send":
        big = random.Random(7).randbytes(16 << 20)
        out(big_len=len(big), big_sha1=hashlib.sha1(big).hexdigest())
        await ws.send("hello")
        await ws.send(iter(["frag", "men", "ted"]))
        await ws.send(iter([b"\x00\x01", b"\x02\xff"]))
        await ws.send(big)
        await ws.close(4000, "server done")
        out(event="close", close_code=ws.close_code, close_reason=ws.close_reason)

async def main():
    async with serve(handler, "127.0.0.1", 0, max_size=None, compression=None,
                     ping_interval=None, subprotocols=protocols) as server:
        out(port=server.sockets[0].getsockname()[1])
        await asyncio.Future()

asyncio.run(main())
"#;

/// A Python websockets client. argv: MODE URL [SUBPROTOCOLS].
///   echo:       against an echo server: text, binary, fragmented text and
///               binary, 16 MiB; closes with 4000 "bye"
///   wait_close: waits for the server to close; prints the code and reason
const PY_CLIENT: &str = r#"
import asyncio, json, random, sys
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

mode, url = sys.argv[1], sys.argv[2]
protocols = sys.argv[3].split(",") if len(sys.argv) > 3 and sys.argv[3] else None

def out(**kw):
    print(json.dumps(kw), flush=True)

async def main():
    async with connect(url, subprotocols=protocols, max_size=None, compression=None,
                       ping_interval=None) as ws:
        out(step="open", subprotocol=ws.subprotocol)
        if mode == "echo":
            await ws.send("hello"); r = await ws.recv()
            out(step="text", ok=r == "hello", got=repr(r)[:80])
            await ws.send(b"\x00\x01\xfe\xff"); r = await ws.recv()
            out(step="binary", ok=r == b"\x00\x01\xfe\xff", got=repr(r)[:80])
            await ws.send(iter(["frag", "men", "ted"])); r = await ws.recv()
            out(step="fragmented text", ok=r == "fragmented", got=repr(r)[:80])
            await ws.send(iter([b"ab", b"", b"cd"])); r = await ws.recv()
            out(step="fragmented binary", ok=r == b"abcd", got=repr(r)[:80])
            big = random.Random(3).randbytes(16 << 20)
            await ws.send(big); r = await ws.recv()
            out(step="16 MiB", ok=r == big, got=len(r))
            await ws.close(4000, "bye")
            out(step="closed", code=ws.close_code, reason=ws.close_reason)
        elif mode == "wait_close":
            try:
                m = await ws.recv()
                out(step="message", text=repr(m))
                await ws.recv()
            except ConnectionClosed:
                pass
            out(step="closed", code=ws.close_code, reason=ws.close_reason)

asyncio.run(main())
"#;

/// A running [`PY_SERVER`]: its port and its JSON lines.
impl PyServer {
    fn start(mode: &str, protocols: &str) -> PyServer {
        PyServer::spawn(PY_SERVER, &[mode, protocols])
    }

    fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    fn next(&mut self, limit: Duration) -> Value {
        match self.lines.next_line(limit) {
            Some(l) => serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}")),
            None => panic!("python server ended; lines {:#?}", self.lines.seen),
        }
    }

    fn kill(mut self) -> String {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        self.stderr.text()
    }
}

fn py_lines(lines: &mut Lines) -> Vec<Value> {
    lines
        .rest(TIMEOUT)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The line [`PY_SERVER`]'s count mode expects as message `i`.
fn fox(i: usize) -> String {
    format!("{i:07} the quick brown fox jumps over the lazy dog")
}

fn fox_lines(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n * 52);
    for i in 0..n {
        v.extend_from_slice(fox(i).as_bytes());
        v.push(b'\n');
    }
    v
}

// ---------------------------------------------------------------------------
// Scratch directories and certificates

struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let n = SEED.fetch_add(1, Ordering::SeqCst);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("netkit-ws-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ===========================================================================
// Client handshake

#[test]
fn client_request_head_has_every_field_and_checks_the_101() {
    let mut keys = Vec::new();
    for round in 0..2 {
        let (port, server) = serve_once(|mut s| {
            let head = accept_upgrade(&mut s, "Sec-WebSocket-Protocol: chat.v1\r\n");
            send(&mut s, &frame(true, OP_TEXT, b"hi there", None));
            let close = expect_client_close(&mut s, "the client's Close after -c 1");
            send(&mut s, &frame(true, OP_CLOSE, &close_body(1000, ""), None));
            drop(s);
            (head, close)
        });
        let url = format!("ws://127.0.0.1:{port}/some/path?q=1");
        let mut c = JsonClient::start(&[
            "--origin",
            "http://example.test",
            "-H",
            "X-Token: abc123",
            "-H",
            "X-Second: two",
            "--protocol",
            "chat.v2",
            "--protocol",
            "chat.v1",
            "-c",
            "1",
            &url,
        ]);
        let open = c.events.wait("open", |_| true);
        assert_eq!(open["protocol"], "chat.v1", "{open}");
        assert!(
            open["path"].as_str().unwrap().starts_with("/some/path"),
            "{open}"
        );
        let (code, rest, err) = c.finish();
        let (head, close) = server.join().unwrap();
        assert_eq!(code, 0, "round {round}: stderr {err}\n{}", dump(&rest));
        let messages = events_named(&rest, "message");
        assert_eq!(messages.len(), 1, "{}", dump(&rest));
        assert_eq!(messages[0]["text"], "hi there");
        assert_eq!(close, (Some(1000), String::new()), "the client's Close");

        let request_line = head.split("\r\n").next().unwrap();
        assert_eq!(request_line, "GET /some/path?q=1 HTTP/1.1", "{head}");
        assert_eq!(
            header(&head, "host"),
            Some(format!("127.0.0.1:{port}").as_str()),
            "{head}"
        );
        assert!(
            has_token(header(&head, "upgrade"), "websocket"),
            "Upgrade: {head}"
        );
        assert!(
            headers(&head, "connection")
                .iter()
                .any(|v| has_token(Some(v), "upgrade")),
            "Connection: {head}"
        );
        assert_eq!(header(&head, "sec-websocket-version"), Some("13"), "{head}");
        let key = header(&head, "sec-websocket-key").expect("a key");
        assert_eq!(unb64(key).len(), 16, "key {key:?} is not 16 bytes");
        keys.push(key.to_string());
        assert_eq!(
            header(&head, "origin"),
            Some("http://example.test"),
            "{head}"
        );
        assert_eq!(header(&head, "x-token"), Some("abc123"), "{head}");
        assert_eq!(header(&head, "x-second"), Some("two"), "{head}");
        let offered: Vec<String> = headers(&head, "sec-websocket-protocol")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_string())
            .collect();
        assert_eq!(offered, ["chat.v2", "chat.v1"], "{head}");
    }
    assert_ne!(keys[0], keys[1], "the key must be random per connection");
}

#[test]
fn client_rejects_a_wrong_accept_value() {
    let (port, server) = serve_once(|mut s| {
        read_head(&mut s);
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_for("dGhlIHNhbXBsZSBub25jZQ==")
        );
        send(&mut s, response.as_bytes());
        // netkit must hang up, not carry on.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        rest
    });
    let (mut proc, _stdin, out, err) = start_client(&[&format!("ws://127.0.0.1:{port}/")]);
    let status = proc.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 6, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("Sec-WebSocket-Accept"), "{err}");
    assert!(out.join().is_empty());
    let rest = server.join().unwrap();
    assert!(
        rest.is_empty(),
        "netkit sent frames after a bad handshake: {rest:?}"
    );
}

#[test]
fn client_shows_a_refused_upgrade_with_its_body() {
    let body = format!(
        "access denied: the token is missing\n{}\n",
        "more detail that nobody needs to read in full ".repeat(40)
    );
    let b = body.clone();
    let (port, _server) = serve_once(move |mut s| {
        read_head(&mut s);
        let response = format!(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        );
        send(&mut s, response.as_bytes());
        thread::sleep(Duration::from_millis(200));
    });
    let (mut proc, _stdin, out, err) = start_client(&[&format!("ws://127.0.0.1:{port}/feed")]);
    let status = proc.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 6, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("403"), "status not shown: {err}");
    assert!(
        err.contains("access denied: the token is missing"),
        "the start of the body is not shown: {err}"
    );
    assert!(err.len() < 1000, "the whole body was shown: {err}");
    assert!(out.join().is_empty());
}

#[test]
fn client_rejects_a_subprotocol_it_did_not_offer() {
    let (port, _server) = serve_once(|mut s| {
        accept_upgrade(&mut s, "Sec-WebSocket-Protocol: other\r\n");
        thread::sleep(Duration::from_millis(500));
    });
    let (mut proc, _stdin, _out, err) =
        start_client(&["--protocol", "mine", &format!("ws://127.0.0.1:{port}/")]);
    let status = proc.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 6, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("other"), "{err}");
}

// ===========================================================================
// Server handshake

#[test]
fn server_answers_101_with_the_accept_value() {
    let mut srv = Server::start(&[]);
    let mut s = client(addr(srv.port));
    // The sample nonce of RFC 6455, section 1.3.
    send(
        &mut s,
        upgrade_request(srv.port, "/chat", "dGhlIHNhbXBsZSBub25jZQ==", "").as_bytes(),
    );
    let head = read_head(&mut s);
    assert!(
        head.starts_with("HTTP/1.1 101 "),
        "not a 101 response: {head}"
    );
    assert_eq!(
        header(&head, "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
    assert!(has_token(header(&head, "upgrade"), "websocket"), "{head}");
    assert!(has_token(header(&head, "connection"), "upgrade"), "{head}");
    assert_eq!(header(&head, "sec-websocket-protocol"), None, "{head}");
    assert_eq!(
        header(&head, "sec-websocket-extensions"),
        None,
        "no extension was offered: {head}"
    );
    let open = srv.opened();
    assert_eq!(open["path"], "/chat");
    assert_eq!(open["protocol"], Value::Null);
    assert_eq!(open["clients"], 1);
    assert_eq!(open["remote"], s.local_addr().unwrap().to_string());
    // A client offering permessage-deflate gets it (issue 16), unless the
    // server runs with --no-compress.
    let (_s2, head2) = raw_ws_with(
        srv.port,
        "/",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    );
    assert_eq!(
        header(&head2, "sec-websocket-extensions"),
        Some("permessage-deflate; server_no_context_takeover"),
        "{head2}"
    );
    let plain = Server::start(&["--no-compress"]);
    let (_s3, head3) = raw_ws_with(
        plain.port,
        "/",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
    );
    assert_eq!(header(&head3, "sec-websocket-extensions"), None, "{head3}");
}

#[test]
fn server_refuses_bad_handshakes_with_a_reason() {
    let mut srv = Server::start(&[]);
    let port = srv.port;
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let good = upgrade_request(port, "/", key, "");
    let cases: Vec<(&str, String, &[u16])> = vec![
        (
            "method POST",
            good.replacen("GET", "POST", 1).replacen(
                "\r\n\r\n",
                "\r\nContent-Length: 0\r\n\r\n",
                1,
            ),
            &[400, 405],
        ),
        (
            "HTTP/1.0",
            good.replacen("HTTP/1.1", "HTTP/1.0", 1),
            &[400, 426],
        ),
        (
            "version 8",
            good.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
            &[426],
        ),
        (
            "no version",
            good.replace("Sec-WebSocket-Version: 13\r\n", ""),
            &[400, 426],
        ),
        (
            "no key",
            good.replace(&format!("Sec-WebSocket-Key: {key}\r\n"), ""),
            &[400],
        ),
        ("short key", good.replace(key, &b64(b"only ten b")), &[400]),
        (
            "key not base64",
            good.replace(key, "this is not base64!!!!=="),
            &[400],
        ),
        (
            "no Upgrade header",
            good.replace("Upgrade: websocket\r\n", ""),
            &[400, 426],
        ),
        (
            "no Connection: Upgrade",
            good.replace("Connection: Upgrade\r\n", "Connection: keep-alive\r\n"),
            &[400, 426],
        ),
    ];
    for (what, request, statuses) in cases {
        let (status, head, body) = refused(port, &request);
        assert!(
            statuses.contains(&status),
            "{what}: status {status}, expected one of {statuses:?}: {head}{body}"
        );
        assert!(
            !body.trim().is_empty(),
            "{what}: refusal without a reason: {head}"
        );
        if status == 426 {
            assert_eq!(
                header(&head, "sec-websocket-version"),
                Some("13"),
                "{what}: a 426 names the version: {head}"
            );
        }
        let ev = srv.events.wait("close", |v| v["by"] == "refused");
        assert!(
            ev["reason"].as_str().unwrap().contains(&status.to_string()),
            "{what}: {ev}"
        );
    }
    // Still serving.
    let _s = raw_ws(port, "/");
    srv.opened();
}

#[test]
fn server_path_restriction_answers_404_elsewhere() {
    let mut srv = Server::start(&["--path", "/ws"]);
    let key = b64(&fresh::<16>());
    let (status, head, body) = refused(srv.port, &upgrade_request(srv.port, "/other", &key, ""));
    assert_eq!(status, 404, "{head}{body}");
    assert!(body.contains("/ws"), "the 404 names the path: {body}");
    let (status, ..) = refused(srv.port, &upgrade_request(srv.port, "/", &key, ""));
    assert_eq!(status, 404);
    let _s = raw_ws(srv.port, "/ws?x=1");
    let open = srv.opened();
    assert_eq!(open["path"], "/ws?x=1", "{open}");
}

#[test]
fn server_picks_the_clients_first_supported_subprotocol() {
    let mut srv = Server::start(&["--echo", "--protocol", "b.v1", "--protocol", "c.v1"]);
    // The client prefers c.v1, then b.v1: c.v1 wins.
    let c = JsonClient::start(&[
        "--protocol",
        "a.v1",
        "--protocol",
        "c.v1",
        "--protocol",
        "b.v1",
        "--send",
        "x",
        &srv.url("/"),
    ]);
    let (code, rest, err) = c.finish();
    assert_eq!(code, 0, "{err}");
    let open = events_named(&rest, "open");
    assert_eq!(open[0]["protocol"], "c.v1", "{}", dump(&rest));
    assert_eq!(srv.opened()["protocol"], "c.v1");
    // Raw: the header itself, and no header when nothing matches.
    let (_s, head) = raw_ws_with(srv.port, "/", "Sec-WebSocket-Protocol: b.v1, c.v1\r\n");
    assert_eq!(header(&head, "sec-websocket-protocol"), Some("b.v1"));
    let (_s, head) = raw_ws_with(srv.port, "/", "Sec-WebSocket-Protocol: zzz\r\n");
    assert_eq!(header(&head, "sec-websocket-protocol"), None, "{head}");
    let c = JsonClient::start(&["--protocol", "zzz", "--send", "x", &srv.url("/")]);
    let (code, rest, err) = c.finish();
    assert_eq!(code, 0, "{err}");
    assert_eq!(events_named(&rest, "open")[0]["protocol"], Value::Null);
}

// ===========================================================================
// Protocol violations (cases Autobahn does not cover)

#[test]
fn server_fails_an_unmasked_client_frame_with_1002() {
    let mut srv = Server::start(&[]);
    let mut s = raw_ws(srv.port, "/");
    let id = srv.opened()["id"].as_u64().unwrap();
    send(&mut s, &frame(true, OP_TEXT, b"not masked", None));
    let (code, reason) = expect_server_close(&mut s, "a Close for an unmasked frame");
    assert_eq!(code, Some(1002), "reason {reason:?}");
    expect_tcp_closed(&mut s, "after Close 1002");
    let ev = srv.closed(id);
    assert_eq!(ev["code"], 1002, "{ev}");
    assert_eq!(ev["by"], "error", "{ev}");
    let messages: Vec<&Value> = srv
        .events
        .seen
        .iter()
        .filter(|v| v["event"] == "message")
        .collect();
    assert!(
        messages.is_empty(),
        "the bad frame was delivered: {messages:?}"
    );
}

#[test]
fn server_fails_a_64_bit_length_with_the_top_bit_set() {
    let mut srv = Server::start(&[]);
    let mut s = raw_ws(srv.port, "/");
    let id = srv.opened()["id"].as_u64().unwrap();
    let mut f = vec![0x82, 0x80 | 127];
    f.extend_from_slice(&(0x8000_0000_0000_0001u64).to_be_bytes());
    f.extend_from_slice(&[1, 2, 3, 4]);
    f.extend_from_slice(b"some payload");
    send(&mut s, &f);
    let (code, _) = expect_server_close(&mut s, "a Close for a 64-bit length with the top bit");
    assert_eq!(code, Some(1002));
    expect_tcp_closed(&mut s, "after Close 1002");
    assert_eq!(srv.closed(id)["code"], 1002);
}

#[test]
fn client_fails_a_masked_server_frame_with_1002_and_exits_6() {
    let (port, server) = serve_once(|mut s| {
        accept_upgrade(&mut s, "");
        send(
            &mut s,
            &frame(true, OP_TEXT, b"masked!", Some([1, 2, 3, 4])),
        );
        let close = expect_client_close(&mut s, "the client's Close 1002");
        drop(s);
        close
    });
    let c = JsonClient::start(&[&format!("ws://127.0.0.1:{port}/")]);
    let (code, rest, err) = c.finish();
    let (close_code, _) = server.join().unwrap();
    assert_eq!(close_code, Some(1002));
    assert_eq!(code, 6, "stderr {err}; events {}", dump(&rest));
    assert!(
        events_named(&rest, "message").is_empty(),
        "a masked frame was delivered: {}",
        dump(&rest)
    );
    let close = events_named(&rest, "close");
    assert_eq!(close.len(), 1, "{}", dump(&rest));
    assert_eq!(close[0]["code"], 1002);
    assert_eq!(close[0]["by"], "error");
}

#[test]
fn client_fails_a_64_bit_length_with_the_top_bit_set() {
    let (port, server) = serve_once(|mut s| {
        accept_upgrade(&mut s, "");
        let mut f = vec![0x82, 127];
        f.extend_from_slice(&(0x8000_0000_0000_0000u64).to_be_bytes());
        f.extend_from_slice(b"data");
        send(&mut s, &f);
        let close = expect_client_close(&mut s, "the client's Close 1002");
        drop(s);
        close
    });
    let (mut proc, _stdin, _out, err) = start_client(&[&format!("ws://127.0.0.1:{port}/")]);
    let status = proc.wait(TIMEOUT);
    assert_eq!(server.join().unwrap().0, Some(1002));
    assert_eq!(code(status), 6, "{}", err.text());
}

#[test]
fn client_exits_4_when_the_server_drops_tcp_without_a_close() {
    let (port, _server) = serve_once(|mut s| {
        accept_upgrade(&mut s, "");
        send(&mut s, &frame(true, OP_TEXT, b"last words", None));
        thread::sleep(Duration::from_millis(200));
        drop(s);
    });
    let c = JsonClient::start(&[&format!("ws://127.0.0.1:{port}/")]);
    let (code, rest, err) = c.finish();
    assert_eq!(code, 4, "stderr {err}; events {}", dump(&rest));
    assert_eq!(events_named(&rest, "message")[0]["text"], "last words");
    let close = events_named(&rest, "close");
    assert_eq!(close.len(), 1, "{}", dump(&rest));
    assert_eq!(close[0]["by"], "abnormal", "{}", dump(&rest));
    assert_eq!(close[0]["code"], 1006, "{}", dump(&rest));
    assert!(
        err.lines().any(|l| l.starts_with("netkit: ")),
        "no error line: {err}"
    );
}

// ===========================================================================
// Pipes

#[test]
fn stdin_lines_become_text_messages_then_close_1000() {
    let (port, server) = serve_once(|mut s| {
        accept_upgrade(&mut s, "");
        collect_until_close(&mut s)
    });
    let (mut proc, stdin, out, err) = start_client(&[&format!("ws://127.0.0.1:{port}/")]);
    let w = feed(
        stdin,
        b"one\ntwo words\n\nw\xc3\xb6rld\r\nno newline at the end".to_vec(),
    );
    let status = proc.wait(TIMEOUT);
    w.join().unwrap();
    let (frames, close) = server.join().unwrap();
    assert_eq!(code(status), 0, "{}", err.text());
    let got: Vec<(u8, bool, String)> = frames.iter().map(|f| (f.opcode, f.fin, f.text())).collect();
    let want: Vec<(u8, bool, String)> = ["one", "two words", "", "wörld", "no newline at the end"]
        .iter()
        .map(|t| (OP_TEXT, true, t.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(close, Some(1000));
    assert!(out.join().is_empty());
}

#[test]
fn eof_waits_for_the_peers_close_before_exiting() {
    let (tx, rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (port, server) = serve_once(move |mut s| {
        accept_upgrade(&mut s, "");
        let f = expect_frame(&mut s, "a message");
        let (code, _) = expect_client_close(&mut s, "Close at EOF");
        tx.send(code).unwrap();
        go_rx.recv().unwrap();
        send(&mut s, &frame(true, OP_CLOSE, &close_body(1000, ""), None));
        drop(s);
        f.text()
    });
    let (mut proc, stdin, _out, err) = start_client(&[&format!("ws://127.0.0.1:{port}/")]);
    let w = feed(stdin, b"only line\n".to_vec());
    let code_seen = rx.recv_timeout(TIMEOUT).expect("no Close from the client");
    assert_eq!(code_seen, Some(1000));
    thread::sleep(Duration::from_millis(300));
    assert!(
        proc.running(),
        "netkit exited before the server answered its Close"
    );
    go_tx.send(()).unwrap();
    let status = proc.wait(TIMEOUT);
    w.join().unwrap();
    assert_eq!(server.join().unwrap(), "only line");
    assert_eq!(code(status), 0, "{}", err.text());
}

#[test]
fn binary_sends_stdin_chunks_as_binary_messages() {
    let data = random_bytes(3 * MIB + 12345, 42);
    let (port, server) = serve_once(|mut s| {
        accept_upgrade(&mut s, "");
        collect_until_close(&mut s)
    });
    let (mut proc, stdin, _out, err) =
        start_client(&["--binary", &format!("ws://127.0.0.1:{port}/")]);
    let w = feed(stdin, data.clone());
    let status = proc.wait(TIMEOUT);
    w.join().unwrap();
    let (frames, close) = server.join().unwrap();
    assert_eq!(code(status), 0, "{}", err.text());
    assert_eq!(close, Some(1000));
    assert!(!frames.is_empty());
    for f in &frames {
        assert_eq!(
            (f.opcode, f.fin),
            (OP_BINARY, true),
            "not a binary message: {}",
            f.describe()
        );
    }
    let joined: Vec<u8> = frames.iter().flat_map(|f| f.payload.clone()).collect();
    common::assert_same_bytes("binary stdin", &data, &joined);
}

/// A raw server that sends `frames`, then Close `code` `reason`, reads the
/// client's answer and closes TCP. Returns the client's close code.
fn server_sending(
    frames: Vec<Vec<u8>>,
    code: u16,
    reason: &'static str,
) -> (u16, thread::JoinHandle<Option<u16>>) {
    serve_once(move |mut s| {
        accept_upgrade(&mut s, "");
        for f in &frames {
            send(&mut s, f);
        }
        send(
            &mut s,
            &frame(true, OP_CLOSE, &close_body(code, reason), None),
        );
        let answer = loop {
            let f = expect_frame(&mut s, "the client's Close answer");
            if f.opcode == OP_CLOSE {
                assert!(f.masked);
                break f.close_code();
            }
        };
        drop(s);
        answer
    })
}

#[test]
fn incoming_text_is_a_line_and_binary_is_raw_on_stdout_with_a_newline() {
    let binary: Vec<u8> = vec![0, 1, 2, 0xFF, b'\n', b'x'];
    let (port, server) = server_sending(
        vec![
            frame(true, OP_TEXT, b"hello", None),
            frame(true, OP_BINARY, &binary, None),
            frame(false, OP_TEXT, "w\u{f6}".as_bytes(), None),
            frame(true, OP_CONT, b"rld", None),
            frame(true, OP_TEXT, b"", None),
        ],
        1000,
        "",
    );
    let (mut proc, _stdin, out, err) = start_client(&[&format!("ws://127.0.0.1:{port}/")]);
    let status = proc.wait(TIMEOUT);
    assert_eq!(server.join().unwrap(), Some(1000), "the client echoes 1000");
    assert_eq!(code(status), 0, "{}", err.text());
    let mut want = b"hello\n".to_vec();
    want.extend_from_slice(&binary);
    want.push(b'\n');
    want.extend_from_slice("wörld\n\n".as_bytes());
    assert_eq!(
        String::from_utf8_lossy(&out.join()),
        String::from_utf8_lossy(&want)
    );
}

#[test]
fn json_shows_message_and_close_events() {
    let binary: Vec<u8> = (0..=255u8).collect();
    let (port, server) = server_sending(
        vec![
            frame(true, OP_TEXT, "caf\u{e9} \"quoted\"".as_bytes(), None),
            frame(true, OP_BINARY, &binary, None),
        ],
        4000,
        "bye now",
    );
    let c = JsonClient::start(&[&format!("ws://127.0.0.1:{port}/json")]);
    let (code, rest, err) = c.finish();
    assert_eq!(
        server.join().unwrap(),
        Some(4000),
        "the client echoes the code"
    );
    // An application's close code (3000-4999) is no success.
    assert_eq!(code, 1, "{err}");
    let names: Vec<&str> = rest.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["open", "message", "message", "close", "error"],
        "{}",
        dump(&rest)
    );
    assert_eq!(rest[0]["path"], "/json");
    assert_eq!(rest[0]["remote"], format!("127.0.0.1:{port}"));
    assert_eq!(rest[1]["text"], "café \"quoted\"");
    assert!(rest[1].get("bytes").is_none());
    assert_eq!(unb64(rest[2]["bytes"].as_str().unwrap()), binary);
    assert!(rest[2].get("text").is_none());
    assert_eq!(rest[3]["code"], 4000);
    assert_eq!(rest[3]["reason"], "bye now");
    assert_eq!(rest[3]["by"], "peer");
    for v in &rest {
        parse_event(&v.to_string());
    }
}

#[test]
fn stdin_from_a_regular_file_and_from_dev_null() {
    let file = TempFile::with("ws-lines.txt", b"first\nsecond\n");
    for (what, stdin, want) in [
        ("a regular file", file.stdio(), vec!["first", "second"]),
        ("/dev/null", Stdio::null(), vec![]),
    ] {
        let (port, server) = serve_once(|mut s| {
            accept_upgrade(&mut s, "");
            collect_until_close(&mut s)
        });
        let (code, _out, err) = common::run(
            &["ws", "connect", &format!("ws://127.0.0.1:{port}/")],
            stdin,
        );
        let (frames, close) = server.join().unwrap();
        assert_eq!(code, 0, "{what}: {err}");
        let got: Vec<String> = frames.iter().map(Frame::text).collect();
        assert_eq!(got, want, "{what}");
        assert_eq!(close, Some(1000), "{what}");
    }
}

#[test]
fn no_line_lost_netkit_to_netkit_listener_into_a_file() {
    const N: usize = 200_000;
    let out = TempFile::with("ws-received.txt", b"");
    let mut srv = HumanServer::start(&[], Stdio::from(File::create(&out.path).unwrap()));
    let mut cmd = netkit();
    cmd.args(["ws", "connect", &srv.url("/")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut c = Proc::spawn(&mut cmd);
    let w = feed(c.take_stdin(), fox_lines(N));
    let c_out = c.stdout_bytes();
    let c_err = c.stderr_bytes();
    let status = c.wait(LONG);
    w.join().unwrap();
    assert_eq!(code(status), 0, "client: {}", c_err.text());
    assert!(c_out.join().is_empty());
    srv.stderr
        .wait_for(LONG, "the client's close", |l| l.contains("closed by peer"));
    srv.proc.signal("INT");
    let status = srv.proc.wait(TIMEOUT);
    assert_eq!(code(status), 130, "{:#?}", srv.stderr.seen);
    let text = std::fs::read_to_string(&out.path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), N, "lines received");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(*l, fox(i), "line {i} out of order or altered");
    }
    assert!(text.ends_with('\n'));
}

#[test]
fn no_line_lost_into_a_python_server() {
    if !python_websockets() {
        return;
    }
    const N: usize = 200_000;
    let mut py = PyServer::start("count", "");
    let mut cmd = netkit();
    cmd.args(["ws", "connect", &py.url("/count")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut c = Proc::spawn(&mut cmd);
    let w = feed(c.take_stdin(), fox_lines(N));
    let c_err = c.stderr_bytes();
    let status = c.wait(LONG);
    w.join().unwrap();
    assert_eq!(code(status), 0, "client: {}", c_err.text());
    let open = py.next(TIMEOUT);
    assert_eq!(open["path"], "/count");
    let result = py.next(LONG);
    assert_eq!(result["count"], N as u64, "{result}");
    assert_eq!(result["bad"], 0, "{result}");
    assert_eq!(result["close_code"], 1000, "{result}");
    py.kill();
}

// ===========================================================================
// Scripting

#[test]
fn send_waits_for_as_many_replies_as_sent() {
    let srv = Server::start(&["--echo"]);
    let (mut proc, _stdin, out, err) =
        start_client(&["--send", "one", "--send", "two words", &srv.url("/")]);
    let status = proc.wait(TIMEOUT);
    assert_eq!(code(status), 0, "{}", err.text());
    assert_eq!(String::from_utf8(out.join()).unwrap(), "one\ntwo words\n");
    // -c overrides the number of replies to wait for.
    let (mut proc, _stdin, out, err) =
        start_client(&["--send", "a", "--send", "b", "-c", "1", &srv.url("/")]);
    let status = proc.wait(TIMEOUT);
    assert_eq!(code(status), 0, "{}", err.text());
    assert_eq!(String::from_utf8(out.join()).unwrap(), "a\n");
}

#[test]
fn count_exits_after_n_messages_and_still_sends_stdin() {
    let mut srv = Server::start(&[]);
    let mut c = JsonClient::start(&["-c", "2", &srv.url("/")]);
    // Lines on the client's stdin (kept open) are sent as usual.
    let stdin = c.stdin.as_mut().unwrap();
    stdin.write_all(b"from the client\n").unwrap();
    stdin.flush().unwrap();
    let id = srv.opened()["id"].as_u64().unwrap();
    srv.events.wait("message", |v| v["id"] == id);
    srv.say("first\nsecond\nthird\n");
    let (code, rest, err) = c.finish();
    assert_eq!(code, 0, "{err}");
    let texts: Vec<&str> = events_named(&rest, "message")
        .iter()
        .map(|v| v["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["first", "second"]);
    let close = srv.closed(id);
    assert_eq!(close["code"], 1000, "{close}");
    assert_eq!(close["by"], "peer", "{close}");
    let from_client: Vec<&str> = srv
        .events
        .seen
        .iter()
        .filter(|v| v["event"] == "message")
        .map(|v| v["text"].as_str().unwrap())
        .collect();
    assert_eq!(from_client, ["from the client"]);
}

#[test]
fn echo_sends_every_message_back_without_reading_stdin() {
    let mut srv = Server::start(&[]);
    let mut c = JsonClient::start(&["--echo", "-c", "2", &srv.url("/")]);
    let stdin = c.stdin.as_mut().unwrap();
    stdin.write_all(b"must not be sent\n").unwrap();
    stdin.flush().unwrap();
    let id = srv.opened()["id"].as_u64().unwrap();
    srv.say("ping one\nping two\n");
    let (code, _rest, err) = c.finish();
    assert_eq!(code, 0, "{err}");
    srv.closed(id);
    let texts: Vec<&str> = srv
        .events
        .seen
        .iter()
        .filter(|v| v["event"] == "message")
        .map(|v| v["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["ping one", "ping two"]);
}

#[test]
fn echo_client_keeps_binary_binary() {
    let payload = random_bytes(70_000, 9);
    let p = payload.clone();
    let (port, server) = serve_once(move |mut s| {
        accept_upgrade(&mut s, "");
        send(&mut s, &frame(true, OP_BINARY, &p, None));
        send(&mut s, &frame(true, OP_TEXT, b"txt", None));
        let a = expect_frame(&mut s, "the binary echo");
        let b = expect_frame(&mut s, "the text echo");
        send(&mut s, &frame(true, OP_CLOSE, &close_body(1000, ""), None));
        let _ = expect_client_close(&mut s, "the Close answer");
        (a, b)
    });
    let (mut proc, _stdin, _out, err) =
        start_client(&["--echo", &format!("ws://127.0.0.1:{port}/")]);
    let status = proc.wait(TIMEOUT);
    let (a, b) = server.join().unwrap();
    assert_eq!(code(status), 0, "{}", err.text());
    assert_eq!((a.opcode, a.masked), (OP_BINARY, true));
    common::assert_same_bytes("binary echo", &payload, &a.payload);
    assert_eq!((b.opcode, b.text()), (OP_TEXT, "txt".to_string()));
}

#[test]
fn idle_timeout_exits_5() {
    let (port, server) = serve_once(|mut s| {
        accept_upgrade(&mut s, "");
        let close = expect_client_close(&mut s, "the idle Close");
        send(&mut s, &frame(true, OP_CLOSE, &close_body(1000, ""), None));
        close
    });
    let (mut proc, _stdin, _out, err) = start_client(&[
        "--idle-timeout",
        "300ms",
        &format!("ws://127.0.0.1:{port}/"),
    ]);
    let status = proc.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 5, "{err}");
    assert_eq!(server.join().unwrap().0, Some(1000));
    assert!(err.contains("netkit: "), "{err}");
    assert!(err.contains("idle"), "{err}");
}

#[test]
fn sigint_sends_1001_and_exits_130() {
    let mut srv = Server::start(&[]);
    let mut c = JsonClient::start(&[&srv.url("/")]);
    let id = srv.opened()["id"].as_u64().unwrap();
    c.events.wait("open", |_| true);
    c.proc.signal("INT");
    let close = srv.closed(id);
    assert_eq!(close["code"], 1001, "{close}");
    assert_eq!(close["by"], "peer", "{close}");
    let (code, _rest, err) = c.finish();
    assert_eq!(code, 130, "{err}");
}

// ===========================================================================
// Pings

#[test]
fn client_ping_interval_sends_pings() {
    let (port, server) = serve_once(|mut s| {
        accept_upgrade(&mut s, "");
        let mut pings = Vec::new();
        while pings.len() < 3 {
            let f = expect_frame(&mut s, "a ping");
            assert_eq!(
                (f.opcode, f.masked, f.fin),
                (OP_PING, true, true),
                "{}",
                f.describe()
            );
            assert!(f.payload.len() <= 125);
            send(&mut s, &frame(true, OP_PONG, &f.payload, None));
            pings.push(f.payload);
        }
        send(
            &mut s,
            &frame(true, OP_CLOSE, &close_body(1000, "enough"), None),
        );
        loop {
            let f = expect_frame(&mut s, "the Close answer");
            if f.opcode == OP_CLOSE {
                break;
            }
        }
        pings.len()
    });
    let (mut proc, _stdin, _out, err) = start_client(&[
        "--ping-interval",
        "100ms",
        &format!("ws://127.0.0.1:{port}/"),
    ]);
    let status = proc.wait(TIMEOUT);
    assert_eq!(server.join().unwrap(), 3);
    assert_eq!(code(status), 0, "{}", err.text());
}

#[test]
fn server_ping_interval_pings_every_client() {
    let srv = Server::start(&["--ping-interval", "100ms"]);
    let mut s = raw_ws(srv.port, "/");
    for i in 0..3 {
        let f = expect_frame(&mut s, "a ping");
        assert_eq!(
            (f.opcode, f.masked, f.fin),
            (OP_PING, false, true),
            "frame {i}: {}",
            f.describe()
        );
        send(&mut s, &client_frame(OP_PONG, &f.payload));
    }
    send(&mut s, &client_frame(OP_CLOSE, &close_body(1000, "")));
    loop {
        let f = expect_frame(&mut s, "the Close answer");
        if f.opcode == OP_CLOSE {
            assert_eq!(f.close_code(), Some(1000));
            break;
        }
        assert_eq!(f.opcode, OP_PING, "{}", f.describe());
    }
    expect_tcp_closed(&mut s, "after the close handshake");
}

// ===========================================================================
// Server modes

#[test]
fn server_default_prints_messages_and_sends_stdin_lines_to_every_client() {
    let mut srv = HumanServer::start(&[], Stdio::piped());
    let mut out = srv.proc.stdout_lines();
    let mut a = raw_ws(srv.port, "/");
    let mut b = raw_ws(srv.port, "/");
    send(&mut a, &client_frame(OP_TEXT, b"from a"));
    assert_eq!(out.next_line(TIMEOUT).as_deref(), Some("from a\n"));
    send(&mut b, &client_frame(OP_TEXT, "from b, ünïcode".as_bytes()));
    assert_eq!(out.next_line(TIMEOUT).as_deref(), Some("from b, ünïcode\n"));
    srv.stderr
        .wait_for(TIMEOUT, "the second client", |l| l.contains("client 2"));
    srv.say("to everyone\nagain\n");
    for s in [&mut a, &mut b] {
        assert_eq!(expect_server_text(s, "a stdin line"), "to everyone");
        assert_eq!(expect_server_text(s, "a stdin line"), "again");
    }
    send(&mut a, &client_frame(OP_CLOSE, &close_body(1000, "")));
    assert_eq!(
        expect_server_close(&mut a, "the Close answer").0,
        Some(1000)
    );
    expect_tcp_closed(&mut a, "the server closes TCP first");
}

#[test]
fn server_echo_returns_every_message() {
    let mut srv = Server::start(&["--echo"]);
    let mut s = raw_ws(srv.port, "/");
    let id = srv.opened()["id"].as_u64().unwrap();
    send(&mut s, &client_frame(OP_TEXT, b"abc"));
    assert_eq!(expect_server_text(&mut s, "the echo"), "abc");
    let bin = random_bytes(100_000, 5);
    send(&mut s, &client_frame(OP_BINARY, &bin));
    let f = expect_frame(&mut s, "the binary echo");
    assert_eq!((f.opcode, f.fin, f.masked), (OP_BINARY, true, false));
    assert_eq!(f.payload, bin);
    // Fragments with a ping in between: one message comes back.
    send(&mut s, &frame(false, OP_TEXT, b"frag", Some(fresh())));
    send(&mut s, &client_frame(OP_PING, b"are you there"));
    send(&mut s, &frame(false, OP_CONT, b"men", Some(fresh())));
    send(&mut s, &frame(true, OP_CONT, b"ted", Some(fresh())));
    let pong = expect_frame(&mut s, "the pong");
    assert_eq!((pong.opcode, pong.masked), (OP_PONG, false));
    assert_eq!(pong.payload, b"are you there");
    assert_eq!(
        expect_server_text(&mut s, "the reassembled echo"),
        "fragmented"
    );
    send(&mut s, &client_frame(OP_CLOSE, &close_body(4000, "bye")));
    let (code, _) = expect_server_close(&mut s, "the Close answer");
    assert_eq!(code, Some(4000), "the server echoes the close code");
    expect_tcp_closed(&mut s, "after the close handshake");
    let ev = srv.closed(id);
    assert_eq!(ev["code"], 4000, "{ev}");
    assert_eq!(ev["reason"], "bye", "{ev}");
    assert_eq!(ev["by"], "peer", "{ev}");
}

#[test]
fn server_broker_relays_to_every_other_client() {
    let mut srv = Server::start(&["--broker"]);
    let mut a = raw_ws(srv.port, "/");
    let mut b = raw_ws(srv.port, "/");
    let mut c = raw_ws(srv.port, "/");
    for _ in 0..3 {
        srv.opened();
    }
    send(&mut a, &client_frame(OP_TEXT, b"from a"));
    assert_eq!(expect_server_text(&mut b, "a's message"), "from a");
    assert_eq!(expect_server_text(&mut c, "a's message"), "from a");
    send(&mut b, &client_frame(OP_BINARY, &[1, 2, 3]));
    for s in [&mut a, &mut c] {
        let f = expect_frame(s, "b's binary");
        assert_eq!(
            (f.opcode, f.payload.as_slice()),
            (OP_BINARY, &[1u8, 2, 3][..])
        );
    }
    // a's next frame is c's message, not its own.
    send(&mut c, &client_frame(OP_TEXT, b"from c"));
    assert_eq!(expect_server_text(&mut a, "c's message"), "from c");
    assert_eq!(expect_server_text(&mut b, "c's message"), "from c");
    // The broker prints what it relays, too.
    srv.events.wait("message", |v| v["text"] == "from c");
}

/// The name in `*** welcome, NAME; ...`.
fn welcome_name(text: &str) -> String {
    let rest = text
        .strip_prefix("*** welcome, ")
        .unwrap_or_else(|| panic!("not a welcome: {text:?}"));
    rest.split(';').next().unwrap().to_string()
}

#[test]
fn server_chat_relays_with_names_and_notices() {
    let mut srv = HumanServer::start(&["--chat"], Stdio::piped());
    let mut console = srv.proc.stdout_lines();

    let mut ann = raw_ws(srv.port, "/?name=ann");
    assert_eq!(
        welcome_name(&expect_server_text(&mut ann, "ann's welcome")),
        "ann"
    );
    console.wait_for(TIMEOUT, "ann joined", |l| l.starts_with("*** ann joined"));

    let mut bob = raw_ws(srv.port, "/room?name=bob");
    let w = expect_server_text(&mut bob, "bob's welcome");
    assert_eq!(welcome_name(&w), "bob");
    assert!(w.contains("ann"), "the welcome lists who is here: {w:?}");
    assert_eq!(expect_server_text(&mut ann, "bob joined"), "*** bob joined");
    console.wait_for(TIMEOUT, "bob joined", |l| l.starts_with("*** bob joined"));

    let mut anon = raw_ws(srv.port, "/");
    let w = expect_server_text(&mut anon, "the third welcome");
    let name = welcome_name(&w);
    assert!(
        name.starts_with("user") && name[4..].parse::<u32>().is_ok(),
        "default name {name:?}"
    );
    let joined = format!("*** {name} joined");
    assert_eq!(expect_server_text(&mut ann, "third joined"), joined);
    assert_eq!(expect_server_text(&mut bob, "third joined"), joined);

    send(&mut ann, &client_frame(OP_TEXT, b"hi all"));
    assert_eq!(expect_server_text(&mut bob, "ann's line"), "<ann> hi all");
    assert_eq!(expect_server_text(&mut anon, "ann's line"), "<ann> hi all");
    console.wait_for(TIMEOUT, "<ann> hi all", |l| l == "<ann> hi all\n");

    send(&mut anon, &client_frame(OP_TEXT, b"hello"));
    let line = format!("<{name}> hello");
    assert_eq!(expect_server_text(&mut ann, "anon's line"), line);
    assert_eq!(expect_server_text(&mut bob, "anon's line"), line);
    console.wait_for(TIMEOUT, "anon's line", |l| l.trim_end() == line);

    srv.say("from the console\n");
    for s in [&mut ann, &mut bob, &mut anon] {
        assert_eq!(
            expect_server_text(s, "the console line"),
            "<server> from the console"
        );
    }

    send(&mut bob, &client_frame(OP_CLOSE, &close_body(1000, "")));
    assert_eq!(
        expect_server_close(&mut bob, "bob's Close answer").0,
        Some(1000)
    );
    expect_tcp_closed(&mut bob, "bob's connection");
    assert_eq!(expect_server_text(&mut ann, "bob left"), "*** bob left");
    assert_eq!(expect_server_text(&mut anon, "bob left"), "*** bob left");
    console.wait_for(TIMEOUT, "bob left", |l| l.starts_with("*** bob left"));

    // ann never got her own line: the next thing she gets is anon's.
    send(&mut anon, &client_frame(OP_TEXT, b"still here"));
    assert_eq!(
        expect_server_text(&mut ann, "anon's second line"),
        format!("<{name}> still here")
    );
}

#[test]
fn server_max_clients_refuses_the_extra_one_with_503() {
    let mut srv = Server::start(&["--max-clients", "2"]);
    let _a = raw_ws(srv.port, "/");
    let _b = raw_ws(srv.port, "/");
    srv.opened();
    srv.opened();
    let mut s = client(addr(srv.port));
    let local = s.local_addr().unwrap().to_string();
    send(
        &mut s,
        upgrade_request(srv.port, "/", &b64(&fresh::<16>()), "").as_bytes(),
    );
    let head = read_head(&mut s);
    assert_eq!(status_of(&head), 503, "{head}");
    let ev = srv.events.wait("rejected", |_| true);
    assert_eq!(ev["remote"], local, "{ev}");
    assert!(
        ev["reason"].as_str().unwrap().contains("max-clients"),
        "{ev}"
    );
}

#[test]
fn server_max_message_closes_with_1009() {
    let mut srv = Server::start(&["--max-message", "1KiB"]);
    let mut s = raw_ws(srv.port, "/");
    let id = srv.opened()["id"].as_u64().unwrap();
    send(&mut s, &client_frame(OP_BINARY, &[7u8; 1024]));
    srv.events.wait("message", |v| v["id"] == id);
    send(&mut s, &client_frame(OP_BINARY, &[7u8; 1025]));
    let (code, _) = expect_server_close(&mut s, "Close 1009");
    assert_eq!(code, Some(1009));
    expect_tcp_closed(&mut s, "after Close 1009");
    let ev = srv.closed(id);
    assert_eq!(ev["code"], 1009, "{ev}");
    assert_eq!(ev["by"], "error", "{ev}");
}

#[test]
fn server_closes_a_slow_client_with_1008_and_keeps_serving_the_others() {
    const N: usize = 2048;
    const SIZE: usize = 4096;
    const WINDOW: usize = 16;
    let mut srv = Server::start(&["--broker", "--max-queue", "256KiB"]);
    // The slow client: a tiny receive buffer, and it does not read until
    // the server gives up on it.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr(srv.port).into()).unwrap();
    let mut slow: TcpStream = sock.into();
    slow.set_read_timeout(Some(TIMEOUT)).unwrap();
    slow.set_write_timeout(Some(TIMEOUT)).unwrap();
    let key = b64(&fresh::<16>());
    send(
        &mut slow,
        upgrade_request(srv.port, "/", &key, "").as_bytes(),
    );
    assert_eq!(status_of(&read_head(&mut slow)), 101);
    let slow_id = srv.opened()["id"].as_u64().unwrap();
    let mut flooder = raw_ws(srv.port, "/");
    srv.opened();
    let mut reader = raw_ws(srv.port, "/");
    srv.opened();

    let (tx, rx) = mpsc::channel::<usize>();
    let reading = thread::spawn(move || {
        let mut got = 0;
        while got < N {
            let f = expect_frame(&mut reader, "a relayed message");
            assert_eq!(f.opcode, OP_TEXT, "{}", f.describe());
            let text = f.text();
            let i: usize = text[..6].parse().unwrap();
            assert_eq!(i, got, "out of order");
            assert_eq!(text.len(), SIZE);
            got += 1;
            let _ = tx.send(got);
        }
        got
    });
    // The flood, paced by the fast reader so that only the slow client
    // falls behind.
    let flooding = thread::spawn(move || {
        let mut acked = 0;
        for i in 0..N {
            while i >= acked + WINDOW {
                acked = rx
                    .recv_timeout(TIMEOUT)
                    .unwrap_or_else(|_| panic!("the reader is stuck at {acked} of {N}"));
            }
            let mut msg = format!("{i:06}");
            msg.push_str(&"x".repeat(SIZE - msg.len()));
            send(&mut flooder, &client_frame(OP_TEXT, msg.as_bytes()));
        }
        flooder
    });
    srv.stderr.wait_for(TIMEOUT, "the slow-client notice", |l| {
        l.contains("fell behind") && l.contains("1008")
    });
    // The slow client reads now: whatever was in flight, then Close 1008.
    let close = loop {
        let f = expect_frame(&mut slow, "Close 1008 for the slow client");
        if f.opcode == OP_CLOSE {
            break f;
        }
        assert_eq!(f.opcode, OP_TEXT, "{}", f.describe());
    };
    assert_eq!(close.close_code(), Some(1008), "{}", close.describe());
    send(&mut slow, &client_frame(OP_CLOSE, &close_body(1008, "")));
    expect_tcp_closed(&mut slow, "the slow client's connection");
    let ev = srv.closed(slow_id);
    assert_eq!(ev["code"], 1008, "{ev}");
    let mut flooder = flooding.join().unwrap();
    assert_eq!(reading.join().unwrap(), N, "the fast reader lost messages");
    // The others are still served.
    send(&mut flooder, &client_frame(OP_TEXT, b"after"));
    let mut fresh_reader = raw_ws(srv.port, "/");
    srv.opened();
    send(&mut flooder, &client_frame(OP_TEXT, b"after 2"));
    // "after" may reach the fresh reader too: the server can accept it
    // before it reads that message, on a loaded machine.
    let mut text = expect_server_text(&mut fresh_reader, "a later message");
    if text == "after" {
        text = expect_server_text(&mut fresh_reader, "a later message");
    }
    assert_eq!(text, "after 2");
}

// ===========================================================================
// wss://

#[test]
fn wss_with_cacert_insecure_and_untrusted() {
    let dir = Scratch::new("tls");
    let pki = make_pki(&dir.path, &["127.0.0.1", "localhost"]);
    let cert = pki.cert.to_str().unwrap();
    let key = pki.key.to_str().unwrap();
    let mut srv = Server::start(&["--echo", "--tls-cert", cert, "--tls-key", key]);
    let url = format!("wss://127.0.0.1:{}/secure", srv.port);

    // Verified with --cacert.
    let (mut proc, _stdin, out, err) = start_client(&[
        "--cacert",
        pki.ca.to_str().unwrap(),
        "--send",
        "over tls",
        "--send",
        "twice",
        &url,
    ]);
    let status = proc.wait(TIMEOUT);
    let err_text = err.text();
    assert_eq!(code(status), 0, "{err_text}");
    assert_eq!(String::from_utf8(out.join()).unwrap(), "over tls\ntwice\n");
    assert!(!err_text.contains("netkit:"), "{err_text}");
    assert_eq!(srv.opened()["path"], "/secure");

    // A big message through TLS both ways.
    let big = "y".repeat(3 * MIB);
    let mut input = big.clone().into_bytes();
    input.push(b'\n');
    let (code_big, out_big, err_big) = common::run_with_input(
        &["ws", "connect", "--cacert", pki.ca.to_str().unwrap(), &url],
        &input,
    );
    assert_eq!(code_big, 0, "{err_big}");
    common::assert_same_bytes("3 MiB echoed over TLS", &input, &out_big);

    // -k: not verified, and says so.
    let (mut proc, _stdin, out, err) = start_client(&["-k", "--send", "insecure", &url]);
    let status = proc.wait(TIMEOUT);
    let err_text = err.text();
    assert_eq!(code(status), 0, "{err_text}");
    assert_eq!(String::from_utf8(out.join()).unwrap(), "insecure\n");
    assert!(
        err_text.to_lowercase().contains("insecure")
            || err_text.to_lowercase().contains("not verified"),
        "-k must warn: {err_text:?}"
    );

    // Untrusted: exit 7, one line.
    let (mut proc, _stdin, out, err) = start_client(&["--send", "x", &url]);
    let status = proc.wait(TIMEOUT);
    let err_text = err.text();
    assert_eq!(code(status), 7, "{err_text}");
    assert_one_error_line(&err_text);
    assert!(out.join().is_empty());

    // The server survives a failed TLS handshake.
    let (mut proc, _stdin, out, err) = start_client(&[
        "--cacert",
        pki.ca.to_str().unwrap(),
        "--send",
        "still up",
        &url,
    ]);
    assert_eq!(code(proc.wait(TIMEOUT)), 0, "{}", err.text());
    assert_eq!(String::from_utf8(out.join()).unwrap(), "still up\n");
}

#[test]
fn wss_python_client_with_the_ca() {
    if !python_websockets() {
        return;
    }
    let dir = Scratch::new("tls-py");
    let pki = make_pki(&dir.path, &["127.0.0.1", "localhost"]);
    let srv = Server::start(&[
        "--echo",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let script = r#"
import asyncio, ssl, sys
from websockets.asyncio.client import connect
ctx = ssl.create_default_context(cafile=sys.argv[2])
async def main():
    async with connect(sys.argv[1], ssl=ctx, compression=None) as ws:
        await ws.send("secure hello")
        print(await ws.recv(), flush=True)
asyncio.run(main())
"#;
    let url = format!("wss://127.0.0.1:{}/", srv.port);
    let mut p = python(script, &[&url, pki.ca.to_str().unwrap()]);
    let out = p.stdout_bytes();
    let err = p.stderr_bytes();
    let status = p.wait(TIMEOUT);
    assert!(status.success(), "{}", err.text());
    assert_eq!(out.text(), "secure hello\n");
}

// ===========================================================================
// Interop: Python websockets

#[test]
fn python_client_against_netkit_echo_server() {
    if !python_websockets() {
        return;
    }
    let mut srv = Server::start(&["--echo", "--protocol", "y.v1"]);
    let mut p = python(PY_CLIENT, &["echo", &srv.url("/py"), "x.v1,y.v1"]);
    let err = p.stderr_bytes();
    let mut lines = p.stdout_lines();
    let status = p.wait(LONG);
    let steps = py_lines(&mut lines);
    assert!(status.success(), "python: {}\n{steps:?}", err.text());
    assert_eq!(steps[0]["subprotocol"], "y.v1", "{steps:?}");
    for s in &steps[1..steps.len() - 1] {
        assert_eq!(s["ok"], true, "{s}");
    }
    let last = steps.last().unwrap();
    assert_eq!(last["step"], "closed", "{steps:?}");
    assert_eq!(last["code"], 4000, "netkit echoes the close code: {last}");
    let open = srv.opened();
    assert_eq!(open["protocol"], "y.v1");
    assert_eq!(open["path"], "/py");
    let id = open["id"].as_u64().unwrap();
    let close = srv.closed(id);
    assert_eq!(close["code"], 4000, "{close}");
    assert_eq!(close["reason"], "bye", "{close}");
    assert_eq!(close["by"], "peer", "{close}");
}

#[test]
fn python_client_sees_1001_when_the_server_shuts_down() {
    if !python_websockets() {
        return;
    }
    let mut srv = Server::start(&[]);
    let mut p = python(PY_CLIENT, &["wait_close", &srv.url("/")]);
    let err = p.stderr_bytes();
    let mut lines = p.stdout_lines();
    lines.wait_for(TIMEOUT, "open", |l| l.contains("\"open\""));
    srv.opened();
    srv.proc.signal("INT");
    let status = p.wait(TIMEOUT);
    let steps = py_lines(&mut lines);
    assert!(status.success(), "{}", err.text());
    let last = steps.last().unwrap();
    assert_eq!(last["code"], 1001, "{steps:?}");
    assert_eq!(code(srv.proc.wait(TIMEOUT)), 130);
}

#[test]
fn netkit_client_receives_from_a_python_server() {
    if !python_websockets() {
        return;
    }
    let mut py = PyServer::start("send", "");
    let c = JsonClient::start(&[&py.url("/feed")]);
    let (code, rest, err) = c.finish();
    // The server closes with 4000, an application's code: exit 1.
    assert_eq!(code, 1, "{err}");
    let open = py.next(TIMEOUT);
    assert_eq!(open["path"], "/feed");
    let big = py.next(TIMEOUT);
    let closed = py.next(TIMEOUT);
    let pyerr = py.kill();
    let names: Vec<&str> = rest.iter().map(|v| v["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["open", "message", "message", "message", "message", "close", "error"],
        "python: {pyerr}"
    );
    assert_eq!(rest[1]["text"], "hello");
    assert_eq!(rest[2]["text"], "fragmented");
    assert_eq!(unb64(rest[3]["bytes"].as_str().unwrap()), [0, 1, 2, 0xFF]);
    let bytes = unb64(rest[4]["bytes"].as_str().unwrap());
    assert_eq!(bytes.len() as u64, big["big_len"].as_u64().unwrap());
    assert_eq!(sha1_hex(&bytes), big["big_sha1"].as_str().unwrap());
    assert_eq!(rest[5]["code"], 4000);
    assert_eq!(rest[5]["reason"], "server done");
    assert_eq!(rest[5]["by"], "peer");
    assert_eq!(
        closed["close_code"], 4000,
        "netkit echoes the code: {closed}"
    );
}

#[test]
fn netkit_client_sends_to_a_python_server() {
    if !python_websockets() {
        return;
    }
    // Text: a short line, a 16 MiB line, a last line.
    let mut py = PyServer::start("report", "chat");
    let big = "z".repeat(16 * MIB);
    let mut input = b"small\n".to_vec();
    input.extend_from_slice(big.as_bytes());
    input.extend_from_slice(b"\nlast\n");
    let mut cmd = netkit();
    cmd.args([
        "--json",
        "ws",
        "connect",
        "--protocol",
        "nope",
        "--protocol",
        "chat",
        &py.url("/in"),
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut c = Proc::spawn(&mut cmd);
    let w = feed(c.take_stdin(), input);
    let mut events = Events::new(c.stdout_lines());
    let err = c.stderr_bytes();
    let status = c.wait(LONG);
    w.join().unwrap();
    assert_eq!(code(status), 0, "{}", err.text());
    let rest = events.rest();
    assert_eq!(events_named(&rest, "open")[0]["protocol"], "chat");
    let open = py.next(TIMEOUT);
    assert_eq!(open["subprotocol"], "chat");
    let m1 = py.next(TIMEOUT);
    let m2 = py.next(LONG);
    let m3 = py.next(TIMEOUT);
    let closed = py.next(TIMEOUT);
    assert_eq!(
        (m1["type"].as_str(), m1["text"].as_str()),
        (Some("text"), Some("small"))
    );
    assert_eq!(m2["type"], "text");
    assert_eq!(m2["len"], 16 * MIB as u64);
    assert_eq!(m2["sha1"], sha1_hex(big.as_bytes()));
    assert_eq!(m3["text"], "last");
    assert_eq!(closed["close_code"], 1000, "{closed}");
    py.kill();

    // Binary chunks.
    let mut py = PyServer::start("report", "");
    let data = random_bytes(5 * MIB + 7, 77);
    let (mut c, stdin, _out, err) = start_client(&["--binary", &py.url("/bin")]);
    let w = feed(stdin, data.clone());
    let status = c.wait(LONG);
    w.join().unwrap();
    assert_eq!(code(status), 0, "{}", err.text());
    py.next(TIMEOUT);
    let closed = loop {
        let v = py.next(LONG);
        if v["event"] == "close" {
            break v;
        }
        assert_eq!(v["type"], "binary", "{v}");
    };
    assert_eq!(closed["binary_total"], data.len() as u64);
    assert_eq!(closed["binary_sha1"], sha1_hex(&data));
    assert_eq!(closed["close_code"], 1000);
    py.kill();
}

// ===========================================================================
// Interop: websocat

#[test]
fn websocat_client_against_netkit_server() {
    if !require_peer("websocat") {
        return;
    }
    let mut srv = Server::start(&["--protocol", "chat"]);
    let mut ws = Proc::spawn(
        Command::new("websocat")
            .args([
                "-t",
                "--protocol",
                "chat",
                "--close-status-code",
                "4000",
                "--close-reason",
                "bye",
            ])
            .arg(srv.url("/path"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut ws_in = ws.take_stdin();
    let mut ws_out = ws.stdout_lines();
    let ws_err = ws.stderr_bytes();
    let open = srv.opened();
    assert_eq!(open["protocol"], "chat");
    assert_eq!(open["path"], "/path");
    let id = open["id"].as_u64().unwrap();
    // websocat sends a line as a text message with its `\n` (its
    // --linemode-strip-newlines mangles several lines in one read).
    for line in ["one\n", "two words\n"] {
        ws_in.write_all(line.as_bytes()).unwrap();
        ws_in.flush().unwrap();
        let m = srv.events.wait("message", |v| v["id"] == id);
        assert_eq!(m["text"], line, "{m}");
    }
    srv.say("to websocat\n");
    assert_eq!(ws_out.next_line(TIMEOUT).as_deref(), Some("to websocat\n"));
    drop(ws_in);
    let close = srv.closed(id);
    assert_eq!(close["code"], 4000, "{close}");
    assert_eq!(close["reason"], "bye", "{close}");
    assert_eq!(close["by"], "peer", "{close}");
    let status = ws.wait(TIMEOUT);
    assert!(status.success(), "websocat: {}", ws_err.text());
}

#[test]
fn websocat_binary_16mib_through_netkit_echo() {
    if !require_peer("websocat") {
        return;
    }
    let srv = Server::start(&["--echo"]);
    let data = random_bytes(16 * MIB, 16);
    let mut ws = Proc::spawn(
        Command::new("websocat")
            .args(["-b", "-B", "20000000"])
            .arg(srv.url("/"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let w = feed(ws.take_stdin(), data.clone());
    let out = ws.stdout_bytes();
    let err = ws.stderr_bytes();
    let status = ws.wait(LONG);
    w.join().unwrap();
    assert!(status.success(), "websocat: {}", err.text());
    common::assert_same_bytes("websocat through netkit --echo", &data, &out.join());
}

#[test]
fn netkit_client_against_websocat_mirror() {
    if !require_peer("websocat") {
        return;
    }
    // Text: --send, and a 16 MiB line.
    let (_ws, port) = websocat_server(&["-t", "-B", "33554432"], "mirror:");
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut c, _stdin, out, err) = start_client(&["--send", "hello", "--send", "two words", &url]);
    assert_eq!(code(c.wait(TIMEOUT)), 0, "{}", err.text());
    assert_eq!(String::from_utf8(out.join()).unwrap(), "hello\ntwo words\n");
    let mut big = "q".repeat(16 * MIB).into_bytes();
    big.push(b'\n');
    let (code_big, out, err) = common::run_with_input(&["ws", "connect", &url], &big);
    assert_eq!(code_big, 0, "{err}");
    common::assert_same_bytes("16 MiB through websocat", &big, &out);

    // Binary chunks come back as raw bytes.
    let (_wsb, port) = websocat_server(&["-b", "-B", "33554432"], "mirror:");
    let data = random_bytes(2 * MIB + 3, 3);
    let (code_bin, out, err) = common::run_with_input(
        &[
            "ws",
            "connect",
            "--binary",
            &format!("ws://127.0.0.1:{port}/"),
        ],
        &data,
    );
    assert_eq!(code_bin, 0, "{err}");
    common::assert_same_bytes("binary through websocat", &data, &out);

    // A subprotocol the server picks.
    let (_wsp, port) = websocat_server(&["-t", "--server-protocol", "chat"], "mirror:");
    let c = JsonClient::start(&[
        "--protocol",
        "chat",
        "--send",
        "p",
        &format!("ws://127.0.0.1:{port}/"),
    ]);
    let (code_p, rest, err) = c.finish();
    assert_eq!(code_p, 0, "{err}");
    assert_eq!(events_named(&rest, "open")[0]["protocol"], "chat");
    assert_eq!(events_named(&rest, "message")[0]["text"], "p");
}

// ===========================================================================
// The chat console on a terminal

#[test]
fn tty_chat_sends_typed_lines_shows_messages_and_ctrl_d_closes() {
    if !require_peer("python3") {
        return;
    }
    let mut srv = Server::start(&[]);
    let mut tty = Tty::start(&["ws", "connect", &srv.url("/tty")]);
    tty.screen.wait_for(TIMEOUT, "the connected notice", |l| {
        l.contains("connected to")
    });
    let id = srv.opened()["id"].as_u64().unwrap();
    tty.type_bytes(b"hello tty\r");
    let m = srv.events.wait("message", |v| v["id"] == id);
    assert_eq!(m["text"], "hello tty");
    srv.say("from server\n");
    tty.screen.wait_for(TIMEOUT, "the incoming message", |l| {
        l.contains("< from server")
    });
    tty.type_bytes(b"\x04");
    let close = srv.closed(id);
    assert_eq!(close["code"], 1000, "{close}");
    assert_eq!(close["by"], "peer", "{close}");
    assert_eq!(tty.finish().0, 0);
}

#[test]
fn tty_chat_ctrl_c_closes_1001_and_exits_130() {
    if !require_peer("python3") {
        return;
    }
    let mut srv = Server::start(&[]);
    let mut tty = Tty::start(&["ws", "connect", &srv.url("/")]);
    tty.screen.wait_for(TIMEOUT, "the connected notice", |l| {
        l.contains("connected to")
    });
    let id = srv.opened()["id"].as_u64().unwrap();
    tty.type_bytes(b"half a li");
    tty.type_bytes(b"\x03");
    let close = srv.closed(id);
    assert_eq!(close["code"], 1001, "{close}");
    assert_eq!(close["by"], "peer", "{close}");
    assert_eq!(tty.finish().0, 130);
    let typed: Vec<&Value> = srv
        .events
        .seen
        .iter()
        .filter(|v| v["event"] == "message")
        .collect();
    assert!(typed.is_empty(), "an unfinished line was sent: {typed:?}");
}
