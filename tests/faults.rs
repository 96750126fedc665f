//! Faults on the wire (issue 10): netkit talks to a real peer through the
//! loopback fault proxy of `tests/common/fault.rs`, which delivers bytes one
//! at a time, stalls, reads slowly, resets mid-stream or half-closes early.
//! Every case either arrives exactly (compared byte for byte) or ends with
//! its documented non-zero exit; none may exit 0 having delivered less than
//! was sent.
//!
//! Volumes: 64 MiB each way for TCP pass-through and stalls, less where the
//! fault makes every byte expensive (one byte per write: 64 KiB; slow reads:
//! 8 MiB). The big cases take a lock so that no two of them share the two
//! cores at once.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::fault::{Fault, FaultProxy};
use common::*;

/// Held by the cases that move tens of megabytes.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

const LONG: Duration = Duration::from_secs(120);
const NONE: Duration = Duration::ZERO;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ===========================================================================
// TCP: netkit tcp connect <-> proxy <-> a std server

/// What the std server saw: the bytes it received, and whether reading and
/// writing both ended cleanly (EOF read, everything written).
struct ServerSide {
    got: Vec<u8>,
    read_clean: bool,
    wrote_all: bool,
}

/// A one-connection server that sends `data` (then FIN) while it reads
/// everything the client sends.
fn tcp_server(data: Vec<u8>) -> (SocketAddr, JoinHandle<ServerSide>) {
    let (l, port) = local_listener();
    let h = thread::spawn(move || {
        let s = accept(&l);
        s.set_read_timeout(Some(LONG)).unwrap();
        s.set_write_timeout(Some(LONG)).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = thread::spawn(move || {
            let ok = w.write_all(&data).is_ok();
            let _ = w.shutdown(Shutdown::Write);
            ok
        });
        let mut r = s;
        let mut got = Vec::new();
        let read_clean = r.read_to_end(&mut got).is_ok();
        let wrote_all = writer.join().unwrap();
        ServerSide {
            got,
            read_clean,
            wrote_all,
        }
    });
    (SocketAddr::from(([127, 0, 0, 1], port)), h)
}

struct TcpCase {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    server: ServerSide,
    proxy: FaultProxy,
}

/// `netkit tcp connect` through a proxy with `up` (toward the server) and
/// `down` (toward netkit) faults; `up_data` is netkit's stdin (a pipe),
/// `down_data` what the server sends.
fn tcp_case(up: Fault, down: Fault, up_data: &[u8], down_data: &[u8]) -> TcpCase {
    let (upstream, server) = tcp_server(down_data.to_vec());
    let proxy = FaultProxy::start(upstream, up, down);
    let port = proxy.port.to_string();
    let (code, stdout, stderr) = run_fed(&["tcp", "connect", "127.0.0.1", &port], up_data, LONG);
    TcpCase {
        code,
        stdout,
        stderr,
        server: server.join().unwrap(),
        proxy,
    }
}

/// Both directions arrived exactly and netkit exited 0.
fn assert_exact(c: &TcpCase, up_data: &[u8], down_data: &[u8]) {
    assert_eq!(c.code, Some(0), "stderr: {}", c.stderr);
    assert_no_error(&c.stderr);
    assert_same_bytes("server received", up_data, &c.server.got);
    assert_same_bytes("netkit printed", down_data, &c.stdout);
    assert!(c.server.read_clean && c.server.wrote_all);
}

/// A reset: exit 4 with one error line, and what did arrive is a prefix.
fn assert_reset(c: &TcpCase, up_data: &[u8], down_data: &[u8]) {
    assert_eq!(
        c.code,
        Some(4),
        "a reset must exit 4; stderr: {:?}; netkit printed {} of {} bytes, the server got {} of {}",
        c.stderr,
        c.stdout.len(),
        down_data.len(),
        c.server.got.len(),
        up_data.len()
    );
    assert_one_error_line(&c.stderr);
    assert_eq!(c.proxy.resets(), 1);
    assert!(c.stdout.len() < down_data.len() || c.server.got.len() < up_data.len());
    assert!(down_data.starts_with(&c.stdout), "stdout is not a prefix");
    assert!(up_data.starts_with(&c.server.got), "upload is not a prefix");
}

#[test]
fn tcp_64mib_each_way_clean() {
    let _g = heavy();
    let (a, b) = (random_bytes(64 * MIB, 1), random_bytes(64 * MIB, 2));
    let c = tcp_case(Fault::Pass, Fault::Pass, &a, &b);
    assert_exact(&c, &a, &b);
}

#[test]
fn tcp_64mib_each_way_with_stalls() {
    let _g = heavy();
    let (a, b) = (random_bytes(64 * MIB, 3), random_bytes(64 * MIB, 4));
    let stall = Fault::Stall {
        every: 16 * MIB as u64,
        pause: ms(300),
    };
    let c = tcp_case(stall, stall, &a, &b);
    assert_exact(&c, &a, &b);
}

#[test]
fn tcp_slow_reads_both_ways() {
    // 8 MiB each way read in 16 KiB chunks with 1 ms pauses: netkit meets a
    // full socket buffer in both directions and must neither drop nor spin.
    let _g = heavy();
    let (a, b) = (random_bytes(8 * MIB, 5), random_bytes(8 * MIB, 6));
    let slow = Fault::SlowRead {
        chunk: 16 * 1024,
        pause: ms(1),
    };
    let c = tcp_case(slow, slow, &a, &b);
    assert_exact(&c, &a, &b);
}

#[test]
fn tcp_one_byte_at_a_time_both_ways() {
    // 64 KiB, not 64 MiB: each byte costs a write and a read on each side.
    let (a, b) = (random_bytes(64 * 1024, 7), random_bytes(64 * 1024, 8));
    let one = Fault::OneByte { pause: NONE };
    let c = tcp_case(one, one, &a, &b);
    assert_exact(&c, &a, &b);
}

#[test]
fn tcp_reset_mid_download_exits_4() {
    let _g = heavy();
    let (a, b) = (random_bytes(64 * MIB, 9), random_bytes(64 * MIB, 10));
    let c = tcp_case(
        Fault::Pass,
        Fault::Reset {
            after: 8 * MIB as u64,
        },
        &a,
        &b,
    );
    assert_reset(&c, &a, &b);
}

#[test]
fn tcp_reset_mid_upload_exits_4() {
    let _g = heavy();
    let (a, b) = (random_bytes(64 * MIB, 11), random_bytes(64 * MIB, 12));
    let c = tcp_case(
        Fault::Reset {
            after: 8 * MIB as u64,
        },
        Fault::Pass,
        &a,
        &b,
    );
    assert_reset(&c, &a, &b);
}

#[test]
fn tcp_reset_mid_upload_only_exits_4() {
    // netkit only sends (the server says nothing): the reset must still
    // surface as exit 4, not be mistaken for the end of the session.
    let _g = heavy();
    let a = random_bytes(64 * MIB, 13);
    let c = tcp_case(
        Fault::Reset {
            after: 8 * MIB as u64,
        },
        Fault::Pass,
        &a,
        b"",
    );
    assert_reset(&c, &a, b"");
}

#[test]
fn tcp_early_half_close_from_the_server_side_keeps_the_upload_going() {
    // The server's direction ends (FIN) after 1 MiB: netkit prints exactly
    // that MiB, keeps sending all of stdin, and exits 0 (a FIN is a clean
    // end of that direction, indistinguishable from the server's own).
    let _g = heavy();
    let (a, b) = (random_bytes(16 * MIB, 14), random_bytes(16 * MIB, 15));
    let c = tcp_case(Fault::Pass, Fault::HalfClose { after: MIB as u64 }, &a, &b);
    assert_eq!(c.code, Some(0), "stderr: {}", c.stderr);
    assert_same_bytes("netkit printed", &b[..MIB], &c.stdout);
    assert_same_bytes("server received", &a, &c.server.got);
}

/// Both ends are netkit: `tcp connect` (stdin `a`) through the proxy to a
/// single-client `tcp listen` (stdin `b`). Returns, for connect then
/// listen: (exit code, stdout, stderr).
type Ends = [(Option<i32>, Vec<u8>, String); 2];

fn tcp_netkit_both_ends(up: Fault, down: Fault, a: &[u8], b: &[u8]) -> (Ends, FaultProxy) {
    let mut l = HumanListener::start(&["--bind", "127.0.0.1"], Stdio::piped(), Stdio::piped());
    let l_writer = feed(l.proc.take_stdin(), b.to_vec());
    let l_out = l.proc.stdout_bytes();
    let proxy = FaultProxy::start(l.addr(), up, down);
    let port = proxy.port.to_string();
    let mut cmd = netkit();
    cmd.args(["tcp", "connect", "127.0.0.1", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut c = Proc::spawn(&mut cmd);
    let c_writer = feed(c.take_stdin(), a.to_vec());
    let c_out = c.stdout_bytes();
    let c_err = c.stderr_bytes();
    let c_code = c.wait_or_kill(LONG).map(code);
    let l_code = l.proc.wait_or_kill(LONG).map(code);
    c_writer.join().unwrap();
    l_writer.join().unwrap();
    let l_err = l.stderr.rest(LONG).concat();
    let ends = [
        (c_code, c_out.join(), c_err.text()),
        (l_code, l_out.join(), l_err),
    ];
    (ends, proxy)
}

#[test]
fn tcp_netkit_to_netkit_one_byte_at_a_time() {
    let (a, b) = (random_bytes(64 * 1024, 16), random_bytes(64 * 1024, 17));
    let one = Fault::OneByte { pause: NONE };
    let ([c, l], _proxy) = tcp_netkit_both_ends(one, one, &a, &b);
    assert_eq!(c.0, Some(0), "connect: {}", c.2);
    assert_eq!(l.0, Some(0), "listen: {}", l.2);
    assert_same_bytes("connect printed", &b, &c.1);
    assert_same_bytes("listen printed", &a, &l.1);
}

#[test]
fn tcp_netkit_to_netkit_reset_mid_stream_both_exit_4() {
    let _g = heavy();
    let (a, b) = (random_bytes(64 * MIB, 18), random_bytes(64 * MIB, 19));
    let ([c, l], proxy) = tcp_netkit_both_ends(
        Fault::Reset {
            after: 8 * MIB as u64,
        },
        Fault::Pass,
        &a,
        &b,
    );
    assert_eq!(proxy.resets(), 1);
    for (what, end, sent) in [("connect", &c, &b), ("listen", &l, &a)] {
        assert_eq!(end.0, Some(4), "{what}: stderr {:?}", end.2);
        let errors: Vec<&str> = end
            .2
            .lines()
            .filter(|x| x.starts_with("netkit: "))
            .collect();
        assert_eq!(errors.len(), 1, "{what}: {:?}", end.2);
        assert!(sent.starts_with(&end.1), "{what}: stdout is not a prefix");
    }
    assert!(l.1.len() < a.len());
}

// ===========================================================================
// The proxy itself

#[test]
fn the_proxy_reset_is_a_reset_on_both_sides() {
    let (l, port) = local_listener();
    let server = thread::spawn(move || {
        let mut s = accept(&l);
        let mut got = Vec::new();
        let r = s.read_to_end(&mut got);
        (got.len(), r.map_err(|e| e.kind()))
    });
    let proxy = FaultProxy::start(
        SocketAddr::from(([127, 0, 0, 1], port)),
        Fault::Reset { after: 10 },
        Fault::Pass,
    );
    let mut c = client(proxy.addr());
    c.write_all(&[7u8; 100]).unwrap();
    let mut b = [0u8; 16];
    let r = c.read(&mut b).map_err(|e| e.kind());
    assert_eq!(r, Err(std::io::ErrorKind::ConnectionReset));
    let (n, r) = server.join().unwrap();
    assert_eq!(n, 10);
    assert_eq!(r, Err(std::io::ErrorKind::ConnectionReset));
}

// ===========================================================================
// HTTP: netkit http URL -o FILE <-> proxy <-> a std server

/// How the server frames the body.
#[derive(Clone, Copy, Debug)]
enum Framing {
    Length,
    Chunked,
    Close,
}

/// The response exactly as the server writes it: the head, then the body
/// encoded for `framing` (chunks of 1000 bytes).
fn http_response(framing: Framing, body: &[u8]) -> Vec<u8> {
    let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n".to_vec();
    match framing {
        Framing::Length => {
            r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            r.extend_from_slice(body);
        }
        Framing::Chunked => {
            r.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for chunk in body.chunks(1000) {
                r.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                r.extend_from_slice(chunk);
                r.extend_from_slice(b"\r\n");
            }
            r.extend_from_slice(b"0\r\n\r\n");
        }
        Framing::Close => {
            r.extend_from_slice(b"Connection: close\r\n\r\n");
            r.extend_from_slice(body);
        }
    }
    r
}

/// A one-connection HTTP server: reads the request head, writes `response`,
/// then closes (its own FIN) and waits for the client to go.
fn http_server(response: Vec<u8>) -> SocketAddr {
    let (l, port) = local_listener();
    thread::spawn(move || {
        let mut s = accept(&l);
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let _ = s.write_all(&response);
        let _ = s.shutdown(Shutdown::Write);
        let _ = s.read_to_end(&mut Vec::new());
    });
    SocketAddr::from(([127, 0, 0, 1], port))
}

struct HttpCase {
    code: Option<i32>,
    file: Vec<u8>,
    stderr: String,
}

/// `netkit http -o FILE` (or `curl` when `curl` is set) through a proxy
/// applying `down` to the response.
fn http_case(framing: Framing, body: &[u8], down: Fault, curl: bool) -> HttpCase {
    let upstream = http_server(http_response(framing, body));
    let proxy = FaultProxy::start(upstream, Fault::Pass, down);
    let out = TempFile::with("body", b"");
    let url = format!("http://127.0.0.1:{}/file", proxy.port);
    let path = out.path.to_str().unwrap().to_string();
    let mut cmd = if curl {
        let mut c = std::process::Command::new("curl");
        c.args(["-sS", "-o", &path, &url]);
        c
    } else {
        let mut c = netkit();
        c.args(["http", "-o", &path, &url]);
        c
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let _stdout = proc.stdout_bytes();
    let err = proc.stderr_bytes();
    let code = proc.wait_or_kill(LONG).map(code);
    HttpCase {
        code,
        file: std::fs::read(&out.path).unwrap_or_default(),
        stderr: err.text(),
    }
}

fn http_exact(framing: Framing, down: Fault, size: usize) {
    let body = random_bytes(size, 20 + size as u64);
    let c = http_case(framing, &body, down, false);
    assert_eq!(c.code, Some(0), "{framing:?}: stderr {}", c.stderr);
    assert_same_bytes(&format!("{framing:?} body"), &body, &c.file);
}

/// The response is cut after the head and half the body (RST or FIN, as
/// `fault` says): netkit must fail; returns the case for more checks.
fn http_cut(framing: Framing, cut: impl Fn(u64) -> Fault, curl: bool) -> HttpCase {
    let body = random_bytes(256 * 1024, 30);
    let response = http_response(framing, &body);
    let head = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let at = (head + (response.len() - head) / 2) as u64;
    let c = http_case(framing, &body, cut(at), curl);
    eprintln!(
        "{framing:?} cut at {at}: exit {:?}, {} of {} bytes, stderr {:?}",
        c.code,
        c.file.len(),
        body.len(),
        c.stderr
    );
    assert!(
        c.file.len() < body.len(),
        "{framing:?}: the whole body arrived"
    );
    assert!(body.starts_with(&c.file), "{framing:?}: not a prefix");
    c
}

#[test]
fn http_one_byte_at_a_time_every_framing() {
    // http_exact names the framing in its failure messages.
    for framing in [Framing::Length, Framing::Chunked, Framing::Close] {
        http_exact(framing, Fault::OneByte { pause: NONE }, 32 * 1024);
    }
}

#[test]
fn http_stalls_and_slow_reads_content_length() {
    let stall = Fault::Stall {
        every: 256 * 1024,
        pause: ms(200),
    };
    http_exact(Framing::Length, stall, 2 * MIB);
    let slow = Fault::SlowRead {
        chunk: 4096,
        pause: ms(1),
    };
    http_exact(Framing::Chunked, slow, 512 * 1024);
}

fn reset_at(after: u64) -> Fault {
    Fault::Reset { after }
}

fn fin_at(after: u64) -> Fault {
    Fault::HalfClose { after }
}

#[test]
fn http_reset_or_fin_mid_body_fails() {
    type Cut = fn(u64) -> Fault;
    let cases: [(Framing, Cut, i32, &str); 5] = [
        // (framing, fault, expected exit code, label)
        (Framing::Length, reset_at, 4, "reset, content-length"),
        (Framing::Chunked, reset_at, 4, "reset, chunked"),
        // The body ends at the server's close, but a reset is not a close: the
        // RST says the body was cut. curl reports error 56 here.
        (Framing::Close, reset_at, 4, "reset, close-delimited"),
        (Framing::Length, fin_at, 6, "FIN, content-length"),
        (Framing::Chunked, fin_at, 6, "FIN, chunked"),
    ];
    for (framing, fault, expected_code, label) in cases {
        // Names the case in the captured output if a check below fails.
        eprintln!("case: {label}");
        let c = http_cut(framing, fault, false);
        assert_eq!(c.code, Some(expected_code), "{label}: stderr {}", c.stderr);
        assert_one_error_line(&c.stderr);
    }
}

#[test]
fn curl_reports_56_on_a_reset_mid_close_delimited_body() {
    // The reference for the reset, close-delimited case above.
    if !require_peer("curl") {
        return;
    }
    let c = http_cut(Framing::Close, reset_at, true);
    assert_eq!(c.code, Some(56), "curl stderr {}", c.stderr);
}

// ===========================================================================
// WebSocket: netkit ws connect <-> proxy <-> netkit ws listen

/// `netkit ws listen --bind 127.0.0.1 ARGS 0` printing messages on stdout.
struct WsServer {
    proc: Proc,
    port: u16,
    stdout: Lines,
    stderr: Lines,
}

impl WsServer {
    fn start(args: &[&str]) -> WsServer {
        let mut cmd = netkit();
        cmd.args(["ws", "listen", "--bind", "127.0.0.1"])
            .args(args)
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut proc, stderr, _, port) = spawn_announced(&mut cmd, "ws listen");
        let stdout = proc.stdout_lines();
        WsServer {
            proc,
            port,
            stdout,
            stderr,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits until the client's connection is reported closed, stops the
    /// server and returns everything it printed on stdout.
    /// With `expect`, first waits for that many lines while the server
    /// runs: they must not wait for its exit.
    fn received(mut self, expect: Option<usize>) -> Vec<String> {
        self.stderr
            .wait_for(LONG, "the client's close", |l| l.contains(" closed "));
        while self.stdout.seen.len() < expect.unwrap_or(0) {
            if self.stdout.next_line(LONG).is_none() {
                break;
            }
        }
        // SIGINT, not SIGKILL: stdout may still hold a buffered tail.
        self.proc.signal("INT");
        let status = self.proc.wait(LONG);
        assert_eq!(code(status), 130, "ws listen after SIGINT");
        let mut lines = std::mem::take(&mut self.stdout.seen);
        lines.extend(self.stdout.rest(LONG));
        lines
    }
}

/// `got` is the first `got.len()` of `sent` (reported briefly if not).
fn assert_prefix(sent: &[String], got: &[String]) {
    assert!(got.len() <= sent.len(), "more received than sent");
    if let Some(i) = sent.iter().zip(got).position(|(a, b)| a != b) {
        panic!(
            "message {i} of {} received differs: sent {:?}, got {:?}",
            got.len(),
            sent[i],
            got[i]
        );
    }
}

/// `n` distinct text messages of varied lengths (0 to 60 bytes after the
/// number), each a line.
fn ws_messages(n: usize) -> Vec<String> {
    let letters = b"abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..n)
        .map(|i| {
            let len = (i * 7919) % 61;
            let tail: String = (0..len)
                .map(|k| letters[(i + k * 31) % letters.len()] as char)
                .collect();
            format!("{i:06} {tail}\n")
        })
        .collect()
}

/// Runs `netkit ws connect` through a proxy to `server` with the messages on
/// stdin: (exit code, stdout, stderr, proxy).
fn ws_client(
    server: SocketAddr,
    up: Fault,
    down: Fault,
    args: &[&str],
    input: &[u8],
) -> (Option<i32>, Vec<u8>, String, FaultProxy) {
    let proxy = FaultProxy::start(server, up, down);
    let url = format!("ws://127.0.0.1:{}/", proxy.port);
    let mut argv = vec!["ws", "connect"];
    argv.extend_from_slice(args);
    argv.push(&url);
    let (code, out, err) = run_fed(&argv, input, LONG);
    (code, out, err, proxy)
}

/// Sends `n` messages through `up`/`down` faults; the server must print
/// exactly them, in order, and the client exit 0.
fn ws_exact(n: usize, up: Fault, down: Fault) {
    let msgs = ws_messages(n);
    let server = WsServer::start(&[]);
    let (code, _out, err, _proxy) =
        ws_client(server.addr(), up, down, &[], msgs.concat().as_bytes());
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_no_error(&err);
    let got = server.received(Some(n));
    assert_prefix(&msgs, &got);
    assert_eq!(got.len(), n, "messages received");
}

#[test]
fn ws_100k_messages_clean() {
    let _g = heavy();
    ws_exact(100_000, Fault::Pass, Fault::Pass);
}

#[test]
fn ws_100k_messages_with_stalls() {
    let _g = heavy();
    let stall = Fault::Stall {
        every: 512 * 1024,
        pause: ms(200),
    };
    ws_exact(100_000, stall, stall);
}

#[test]
fn ws_messages_one_byte_at_a_time() {
    // 2,000 messages (about 70 KB), each byte its own write.
    let one = Fault::OneByte { pause: NONE };
    ws_exact(2_000, one, one);
}

#[test]
fn ws_messages_read_slowly() {
    // 20,000 messages (about 700 KB) read 512 bytes at a time.
    let slow = Fault::SlowRead {
        chunk: 512,
        pause: ms(1),
    };
    ws_exact(20_000, slow, Fault::Pass);
}

#[test]
fn ws_reset_mid_stream_fails() {
    let _g = heavy();
    let msgs = ws_messages(100_000);
    let server = WsServer::start(&[]);
    let (code, _out, err, proxy) = ws_client(
        server.addr(),
        Fault::Reset { after: MIB as u64 },
        Fault::Pass,
        &[],
        msgs.concat().as_bytes(),
    );
    eprintln!("ws reset: exit {code:?}, stderr {err:?}");
    assert_eq!(proxy.resets(), 1);
    // ws connect documents 4 for an abnormal close (1006), a reset included.
    assert_eq!(code, Some(4), "a reset mid-stream; stderr: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("netkit: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(
        errors[0].ends_with("connection reset by peer (1006)"),
        "{err}"
    );
    let got = server.received(None);
    assert!(got.len() < msgs.len());
    assert_prefix(&msgs, &got);
}

#[test]
fn ws_echo_100k_messages() {
    // The echo direction: everything sent comes back, in order.
    let _g = heavy();
    let msgs = ws_messages(100_000);
    let server = WsServer::start(&["--echo"]);
    let (code, out, err, _proxy) = ws_client(
        server.addr(),
        Fault::Pass,
        Fault::Pass,
        &[],
        msgs.concat().as_bytes(),
    );
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_same_bytes("echoes", msgs.concat().as_bytes(), &out);
}

#[test]
fn ws_echo_with_send_and_count_one_byte_at_a_time() {
    let msgs = ws_messages(300);
    let server = WsServer::start(&["--echo"]);
    let mut args = Vec::new();
    for m in &msgs {
        args.push("--send".to_string());
        args.push(m.strip_suffix('\n').unwrap().to_string());
    }
    let n = msgs.len().to_string();
    args.extend(["-c".to_string(), n]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let one = Fault::OneByte { pause: NONE };
    let (code, out, err, _proxy) = ws_client(server.addr(), one, one, &args, b"");
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_same_bytes("echoes", msgs.concat().as_bytes(), &out);
}

#[test]
fn ws_reset_mid_echo_fails() {
    // The reset hits the replies (server to client) after the client has
    // sent everything and its Close: the server's Close never comes, and
    // most echoes were lost, so this is no clean ending.
    let _g = heavy();
    let msgs = ws_messages(100_000);
    let server = WsServer::start(&["--echo"]);
    let (code, out, err, proxy) = ws_client(
        server.addr(),
        Fault::Pass,
        Fault::Reset { after: MIB as u64 },
        &[],
        msgs.concat().as_bytes(),
    );
    assert_eq!(proxy.resets(), 1);
    assert_eq!(code, Some(4), "stderr: {err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("netkit: ")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    let all = msgs.concat();
    assert!(out.len() < all.len() && all.as_bytes().starts_with(&out));
}

#[test]
fn ws_fin_without_close_mid_stream_fails() {
    // The proxy half-closes toward the server after 1 MiB (and drops what
    // the client sends after that): the server sees EOF without a Close and
    // closes TCP too, so the client's Close is never answered. That is an
    // abnormal closure (1006, exit 4), not exit 0.
    let _g = heavy();
    let msgs = ws_messages(100_000);
    let server = WsServer::start(&[]);
    let (code, _out, err, _proxy) = ws_client(
        server.addr(),
        Fault::HalfClose { after: MIB as u64 },
        Fault::Pass,
        &[],
        msgs.concat().as_bytes(),
    );
    assert_eq!(code, Some(4), "stderr: {err}");
    assert!(err.contains("(1006)"), "{err}");
    let got = server.received(None);
    assert!(got.len() < msgs.len());
    assert_prefix(&msgs, &got);
}

#[test]
fn http_to_stdout_one_byte_at_a_time_chunked() {
    // The body on stdout instead of -o: the same exact bytes.
    let body = random_bytes(32 * 1024, 40);
    let upstream = http_server(http_response(Framing::Chunked, &body));
    let proxy = FaultProxy::start(upstream, Fault::Pass, Fault::OneByte { pause: NONE });
    let url = format!("http://127.0.0.1:{}/file", proxy.port);
    let (code, out, err) = run(&["http", &url], Stdio::null());
    assert_eq!(code, 0, "stderr {err}");
    assert_same_bytes("stdout", &body, &out);
}

#[test]
fn http_to_stdout_reset_mid_body_fails() {
    let body = random_bytes(256 * 1024, 41);
    let response = http_response(Framing::Close, &body);
    let upstream = http_server(response);
    let proxy = FaultProxy::start(upstream, Fault::Pass, Fault::Reset { after: 100_000 });
    let url = format!("http://127.0.0.1:{}/file", proxy.port);
    let (code, out, err) = run(&["http", &url], Stdio::null());
    assert_eq!(code, 4, "stderr {err}");
    assert_one_error_line(&err);
    assert!(out.len() < body.len() && body.starts_with(&out));
}

#[test]
fn http_one_byte_per_read_every_framing() {
    // A pause after each byte, so that netkit reads the head, the chunk
    // sizes and the body one byte per read (small bodies: 1,500 bytes).
    let one = Fault::OneByte {
        pause: Duration::from_micros(200),
    };
    for framing in [Framing::Length, Framing::Chunked, Framing::Close] {
        http_exact(framing, one, 1500);
    }
}

#[test]
fn ws_one_byte_per_read_handshake_and_frames() {
    // A pause after each byte: the 101 response and every frame header are
    // read one byte at a time, both ways (200 messages, and their echoes).
    let one = Fault::OneByte {
        pause: Duration::from_micros(200),
    };
    ws_exact(200, one, one);
    let msgs = ws_messages(100);
    let server = WsServer::start(&["--echo"]);
    let mut args = Vec::new();
    for m in &msgs {
        args.push("--send".to_string());
        args.push(m.strip_suffix('\n').unwrap().to_string());
    }
    args.extend(["-c".to_string(), msgs.len().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err, _proxy) = ws_client(server.addr(), one, one, &args, b"");
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_same_bytes("echoes", msgs.concat().as_bytes(), &out);
}

#[test]
fn ws_listen_serves_the_next_client_after_a_reset() {
    let msgs = ws_messages(20_000);
    let server = WsServer::start(&[]);
    let (code, _, err, proxy) = ws_client(
        server.addr(),
        Fault::Reset { after: 100_000 },
        Fault::Pass,
        &[],
        msgs.concat().as_bytes(),
    );
    assert_eq!(proxy.resets(), 1);
    assert_eq!(code, Some(4), "stderr: {err}");
    // The next client, straight to the server.
    let url = format!("ws://127.0.0.1:{}/", server.port);
    let (code, _, err) = run_with_input(&["ws", "connect", &url], b"after\n");
    assert_eq!(code, 0, "{err}");
    let got = server.received(None);
    assert_eq!(got.last().map(String::as_str), Some("after\n"), "{got:?}");
    assert_prefix(&msgs, &got[..got.len() - 1]);
}

#[test]
fn tcp_stall_shorter_than_idle_timeout_is_survived_longer_exits_5() {
    let (a, b) = (random_bytes(256 * 1024, 50), random_bytes(256 * 1024, 51));
    for (pause, want) in [(ms(300), Some(0)), (ms(3000), Some(5))] {
        let (upstream, server) = tcp_server(b.clone());
        let stall = Fault::Stall {
            every: 128 * 1024,
            pause,
        };
        let proxy = FaultProxy::start(upstream, stall, stall);
        let port = proxy.port.to_string();
        let argv = [
            "tcp",
            "connect",
            "--idle-timeout",
            "1500ms",
            "127.0.0.1",
            &port,
        ];
        let (code, out, err) = run_fed(&argv, &a, LONG);
        assert_eq!(code, want, "stall {pause:?}: stderr {err}");
        if want == Some(0) {
            assert_same_bytes("netkit printed", &b, &out);
            assert_same_bytes("server received", &a, &server.join().unwrap().got);
        } else {
            assert_one_error_line(&err);
            assert!(err.contains("idle"), "{err}");
        }
    }
}

#[test]
fn http_max_time_cuts_a_stalled_body_with_5() {
    let body = random_bytes(64 * 1024, 52);
    let upstream = http_server(http_response(Framing::Length, &body));
    let stall = Fault::Stall {
        every: 32 * 1024,
        pause: ms(5000),
    };
    let proxy = FaultProxy::start(upstream, Fault::Pass, stall);
    let url = format!("http://127.0.0.1:{}/file", proxy.port);
    let (code, out, err) = run(&["http", "-m", "1s", &url], Stdio::null());
    assert_eq!(code, 5, "stderr {err}");
    assert_one_error_line(&err);
    assert!(out.len() < body.len() && body.starts_with(&out));
}

#[test]
fn http_fin_inside_the_head_fails_with_6() {
    let body = random_bytes(1000, 53);
    for framing in [Framing::Length, Framing::Chunked, Framing::Close] {
        let upstream = http_server(http_response(framing, &body));
        let proxy = FaultProxy::start(upstream, Fault::Pass, Fault::HalfClose { after: 30 });
        let url = format!("http://127.0.0.1:{}/file", proxy.port);
        let (code, out, err) = run(&["http", &url], Stdio::null());
        assert_eq!(code, 6, "{framing:?}: stderr {err}");
        assert_one_error_line(&err);
        assert!(out.is_empty(), "{framing:?}");
    }
}

// ===========================================================================
// HTTPS: the same faults under TLS (records split, truncation)

/// A fresh CA and server certificate for 127.0.0.1 in a scratch directory.
fn test_pki(name: &str) -> Pki {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("faults-{}-{n}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    make_pki(&dir, &["127.0.0.1", "localhost"])
}

/// A one-connection HTTPS server: reads the request head, writes
/// `response`, sends close_notify, then waits for the client to go.
fn https_server(pki: &Pki, response: Vec<u8>) -> SocketAddr {
    let config = netkit::net::tls::server_config(&pki.cert, &pki.key).expect("server config");
    let (l, port) = local_listener();
    thread::spawn(move || {
        let s = accept(&l);
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, s);
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match tls.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return,
            }
        }
        let _ = tls.write_all(&response);
        tls.conn.send_close_notify();
        let _ = tls.flush();
        let _ = tls.sock.shutdown(Shutdown::Write);
        let _ = tls.sock.read_to_end(&mut Vec::new());
    });
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// `netkit http --cacert CA` through a proxy applying `down`.
fn https_case(framing: Framing, body: &[u8], down: Fault) -> (i32, Vec<u8>, String) {
    let pki = test_pki(&format!("{framing:?}-{}", body.len()));
    let upstream = https_server(&pki, http_response(framing, body));
    let proxy = FaultProxy::start(upstream, Fault::Pass, down);
    let url = format!("https://127.0.0.1:{}/file", proxy.port);
    let ca = pki.ca.to_str().unwrap();
    run(&["http", "--cacert", ca, &url], Stdio::null())
}

#[test]
fn https_one_byte_per_read_every_framing() {
    let one = Fault::OneByte {
        pause: Duration::from_micros(100),
    };
    let body = random_bytes(3000, 60);
    for framing in [Framing::Length, Framing::Chunked, Framing::Close] {
        let (code, out, err) = https_case(framing, &body, one);
        assert_eq!(code, 0, "{framing:?}: stderr {err}");
        assert_same_bytes(&format!("{framing:?} body"), &body, &out);
    }
}

#[test]
fn https_cut_mid_body() {
    // Cut after 64 KiB of TLS bytes (the handshake is a few KiB): a reset
    // exits 4 whatever the framing; a FIN without close_notify exits 6
    // where the framing shows the body is short (see below for the rest).
    let body = random_bytes(256 * 1024, 61);
    for framing in [Framing::Length, Framing::Chunked, Framing::Close] {
        let (code, out, err) = https_case(framing, &body, Fault::Reset { after: 64 * 1024 });
        eprintln!(
            "https {framing:?} reset: exit {code}, {} bytes, {err:?}",
            out.len()
        );
        assert_eq!(code, 4, "{framing:?} reset: stderr {err}");
        assert_one_error_line(&err);
        assert!(out.len() < body.len() && body.starts_with(&out));

        let (code, out, err) = https_case(framing, &body, Fault::HalfClose { after: 64 * 1024 });
        eprintln!(
            "https {framing:?} FIN: exit {code}, {} bytes, {err:?}",
            out.len()
        );
        assert!(out.len() < body.len() && body.starts_with(&out));
        if let Framing::Close = framing {
            // Known and deliberate (src/net/tls.rs: "the HTTP framing
            // decides"): a close-delimited body cut by a FIN without
            // close_notify is taken for the end, as curl does too (curl
            // 7.88 with OpenSSL 3 also exits 0 here). Only TLS could tell.
            assert_eq!(code, 0, "{framing:?} FIN: stderr {err}");
            continue;
        }
        assert_eq!(code, 6, "{framing:?} FIN: stderr {err}");
        assert_one_error_line(&err);
    }
}

// ===========================================================================
// HTTP uploads: netkit http -d @FILE through the proxy

/// A one-connection server that reads a request with a Content-Length body
/// and answers `LENGTH HASH` of what it got (or `None` if the body broke).
fn upload_server() -> (SocketAddr, JoinHandle<Option<Vec<u8>>>) {
    let (l, port) = local_listener();
    let h = thread::spawn(move || {
        let mut s = accept(&l);
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(1) => head.push(b[0]),
                _ => return None,
            }
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("a Content-Length");
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).ok()?;
        let answer = format!("{} {:016x}\n", body.len(), hash(&body));
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        s.write_all(response.as_bytes()).ok()?;
        let _ = s.shutdown(Shutdown::Write);
        let _ = s.read_to_end(&mut Vec::new());
        Some(body)
    });
    (SocketAddr::from(([127, 0, 0, 1], port)), h)
}

fn upload(up: Fault, body: &[u8]) -> (i32, Vec<u8>, String, Option<Vec<u8>>) {
    let (upstream, server) = upload_server();
    let proxy = FaultProxy::start(upstream, up, Fault::Pass);
    let file = TempFile::with("upload", body);
    let data = format!("@{}", file.path.to_str().unwrap());
    let url = format!("http://127.0.0.1:{}/up", proxy.port);
    let (code, out, err) = run(&["http", "--data-binary", &data, &url], Stdio::null());
    (code, out, err, server.join().unwrap())
}

#[test]
fn http_upload_read_slowly_and_stalled_arrives_exactly() {
    let body = random_bytes(4 * MIB, 70);
    let answer = format!("{} {:016x}\n", body.len(), hash(&body));
    for up in [
        Fault::SlowRead {
            chunk: 16 * 1024,
            pause: ms(1),
        },
        Fault::Stall {
            every: MIB as u64,
            pause: ms(300),
        },
    ] {
        let (code, out, err, got) = upload(up, &body);
        assert_eq!(code, 0, "{up:?}: stderr {err}");
        assert_eq!(String::from_utf8_lossy(&out), answer, "{up:?}");
        assert_same_bytes("uploaded", &body, &got.unwrap());
    }
}

#[test]
fn http_upload_reset_mid_body_exits_4() {
    let body = random_bytes(4 * MIB, 71);
    let (code, out, err, got) = upload(Fault::Reset { after: MIB as u64 }, &body);
    assert_eq!(code, 4, "stderr {err}");
    assert_one_error_line(&err);
    assert!(out.is_empty());
    assert!(got.is_none());
}

#[test]
fn ws_echo_to_a_slow_reader_arrives_exactly() {
    // The client reads its echoes slowly (the proxy takes 4 KiB per 1 ms):
    // ws listen --echo queues them (within --max-queue) and loses none.
    let _g = heavy();
    let msgs = ws_messages(50_000);
    let server = WsServer::start(&["--echo"]);
    let slow = Fault::SlowRead {
        chunk: 4096,
        pause: ms(1),
    };
    let (code, out, err, _proxy) = ws_client(
        server.addr(),
        Fault::Pass,
        slow,
        &[],
        msgs.concat().as_bytes(),
    );
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_same_bytes("echoes", msgs.concat().as_bytes(), &out);
}

/// `netkit ws connect --cacert CA wss://...` through a proxy to a
/// `ws listen --tls-cert ... ARGS`: (exit, stdout, stderr, server).
fn wss_case(
    args: &[&str],
    up: Fault,
    down: Fault,
    input: &[u8],
) -> (Option<i32>, Vec<u8>, String, WsServer) {
    let pki = test_pki(&format!("wss-{}", input.len()));
    let (cert, key) = (pki.cert.to_str().unwrap(), pki.key.to_str().unwrap());
    let mut server_args = vec!["--tls-cert", cert, "--tls-key", key];
    server_args.extend_from_slice(args);
    let server = WsServer::start(&server_args);
    let proxy = FaultProxy::start(server.addr(), up, down);
    let url = format!("wss://127.0.0.1:{}/", proxy.port);
    let argv = ["ws", "connect", "--cacert", pki.ca.to_str().unwrap(), &url];
    let (code, out, err) = run_fed(&argv, input, LONG);
    (code, out, err, server)
}

#[test]
fn wss_one_byte_per_read_echoes_exactly() {
    let one = Fault::OneByte {
        pause: Duration::from_micros(100),
    };
    let msgs = ws_messages(100);
    let (code, out, err, _server) = wss_case(&["--echo"], one, one, msgs.concat().as_bytes());
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_same_bytes("echoes", msgs.concat().as_bytes(), &out);
}

#[test]
fn wss_reset_or_fin_mid_stream_fails() {
    // Under TLS a FIN without close_notify (and without a Close frame) and
    // a reset are both abnormal closures: exit 4, what arrived a prefix.
    let msgs = ws_messages(20_000);
    for up in [
        Fault::Reset { after: 100_000 },
        Fault::HalfClose { after: 100_000 },
    ] {
        let (code, _out, err, server) = wss_case(&[], up, Fault::Pass, msgs.concat().as_bytes());
        assert_eq!(code, Some(4), "{up:?}: stderr {err}");
        assert!(err.contains("(1006)"), "{up:?}: {err}");
        let got = server.received(None);
        assert!(got.len() < msgs.len(), "{up:?}");
        assert_prefix(&msgs, &got);
    }
}

// ===========================================================================
// tcp listen --echo (the multi-client server) through the proxy

/// `netkit tcp connect` (stdin `data`) through the proxy to
/// `netkit tcp listen --echo`: (exit, stdout, stderr, server stderr lines).
fn tcp_echo_case(
    up: Fault,
    down: Fault,
    data: &[u8],
) -> (Option<i32>, Vec<u8>, String, HumanListener) {
    let l = HumanListener::start(
        &["--bind", "127.0.0.1", "--echo"],
        Stdio::null(),
        Stdio::null(),
    );
    let proxy = FaultProxy::start(l.addr(), up, down);
    let port = proxy.port.to_string();
    let (code, out, err) = run_fed(&["tcp", "connect", "127.0.0.1", &port], data, LONG);
    (code, out, err, l)
}

#[test]
fn tcp_echo_to_a_slow_reader_is_back_pressure_not_loss() {
    // 8 MiB echoed to a client that reads 16 KiB per 1 ms: the server may
    // hold back (stop reading that client) but must not lose bytes.
    let _g = heavy();
    let data = random_bytes(8 * MIB, 80);
    let slow = Fault::SlowRead {
        chunk: 16 * 1024,
        pause: ms(1),
    };
    let (code, out, err, mut l) = tcp_echo_case(Fault::Pass, slow, &data);
    assert_eq!(code, Some(0), "stderr {err}; server: {:?}", l.stderr.seen);
    assert_same_bytes("echo", &data, &out);
    assert!(l.proc.running(), "the server exited");
}

#[test]
fn tcp_echo_serves_on_after_a_client_reset() {
    let data = random_bytes(4 * MIB, 81);
    let (code, _out, err, l) =
        tcp_echo_case(Fault::Reset { after: MIB as u64 }, Fault::Pass, &data);
    assert_eq!(code, Some(4), "stderr {err}");
    let small = random_bytes(64 * 1024, 82);
    let mut s = client(l.addr());
    s.write_all(&small).unwrap();
    shut_write(&s);
    assert_same_bytes("echo after a reset", &small, &read_all(&mut s));
}
