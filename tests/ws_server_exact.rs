//! `netkit ws listen` under hostile clients (issue 10, "Exact in every
//! pipeline"): a ping flood that never reads, handshakes trickled a byte at
//! a time, clients that never read their echo; names in the chat; peer text
//! that reaches a terminal. Raw std sockets on loopback, port 0; memory is
//! read from /proc/PID/status (VmRSS).

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::ws::WsListen as Server;
use common::{client, netkit, Events, Proc, TIMEOUT};

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

const MIB: usize = 1 << 20;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A masked, final client frame.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    common::ws::client_frame(0x80 | opcode, payload)
}

/// A server frame: (opcode, payload); `None` at EOF.
fn read_frame(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    match s.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return None,
        Err(e) => panic!("reading a frame header: {e}"),
    }
    assert_eq!(h[1] & 0x80, 0, "masked server frame");
    let n = match h[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; n];
    s.read_exact(&mut payload).unwrap();
    Some((h[0] & 0x0f, payload))
}

fn upgrade_request(port: u16, path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Reads a response head byte by byte (nothing of the frames after it).
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(0) => panic!(
                "EOF in a response head: {:?}",
                String::from_utf8_lossy(&head)
            ),
            Ok(_) => head.push(b[0]),
            Err(e) => panic!("reading a response head: {e}"),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A raw client upgraded on `path`.
fn raw_ws(port: u16, path: &str) -> TcpStream {
    let mut s = client(addr(port));
    s.write_all(upgrade_request(port, path).as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "upgrade refused: {head}");
    s
}

/// The next text message, skipping pings and pongs.
fn next_text(s: &mut TcpStream) -> String {
    loop {
        match read_frame(s) {
            Some((OP_TEXT, p)) => return String::from_utf8(p).unwrap(),
            Some((OP_PING | OP_PONG, _)) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Sends a text message and reads its echo.
fn echo_round_trip(s: &mut TcpStream, text: &str) {
    s.write_all(&client_frame(OP_TEXT, text.as_bytes()))
        .unwrap();
    assert_eq!(next_text(s), text);
}

impl Server {
    /// Resident memory of the server, in bytes.
    fn rss(&self) -> usize {
        rss_of(self.proc.id())
    }
}

fn rss_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap_or_else(|| panic!("no VmRSS in {status}"));
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("bad {line:?}"));
    kib * 1024
}

/// `n` pings of 125 bytes, masked, in one buffer.
fn pings(n: usize) -> Vec<u8> {
    let one = client_frame(OP_PING, &[b'p'; 125]);
    one.repeat(n)
}

// ---------------------------------------------------------------------------
// 1. Pong flood

/// A client that writes pings without end (and never reads) until the
/// returned flag is set; the counter says how many bytes it wrote.
fn ping_flood(port: u16) -> (Arc<AtomicBool>, Arc<AtomicUsize>, thread::JoinHandle<()>) {
    let mut flood = raw_ws(port, "/");
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicUsize::new(0));
    let h = {
        let (stop, sent) = (stop.clone(), sent.clone());
        thread::spawn(move || {
            let batch = pings(1024);
            while !stop.load(Ordering::SeqCst) && flood.write_all(&batch).is_ok() {
                sent.fetch_add(batch.len(), Ordering::SeqCst);
            }
        })
    };
    (stop, sent, h)
}

#[test]
fn a_ping_flood_that_never_reads_keeps_memory_bounded() {
    let server = Server::start(&["--echo"]);
    let mut other = raw_ws(server.port, "/");
    echo_round_trip(&mut other, "before");
    let base = server.rss();
    // 131-byte pings, each asking for a 127-byte pong, written while the
    // other client talks.
    let (stop, sent, flood) = ping_flood(server.port);
    let deadline = Instant::now() + TIMEOUT;
    let mut rounds = 0;
    while sent.load(Ordering::SeqCst) < 24 * MIB {
        assert!(
            Instant::now() < deadline,
            "the server stopped reading the flood"
        );
        echo_round_trip(&mut other, &format!("during {rounds}"));
        rounds += 1;
    }
    let grown = server.rss().saturating_sub(base);
    stop.store(true, Ordering::SeqCst);
    eprintln!(
        "{} MiB of pings: RSS {} KiB before, grew by {} KiB; {rounds} echoes meanwhile",
        sent.load(Ordering::SeqCst) / MIB,
        base / 1024,
        grown / 1024
    );
    assert!(
        grown < 4 * MIB,
        "a ping flood grew the server by {grown} bytes"
    );
    echo_round_trip(&mut other, "after");
    drop(other);
    let _ = flood.join();
}

#[test]
fn ws_connect_under_a_ping_flood_keeps_memory_bounded() {
    let (l, port) = common::local_listener();
    let mut cmd = netkit();
    cmd.args(["ws", "connect", &format!("ws://127.0.0.1:{port}/")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut proc = Proc::spawn(&mut cmd);
    let _stdin = proc.take_stdin();
    let mut s = common::accept(&l);
    let head = read_request_head(&mut s);
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or_else(|| panic!("no key in {head}"))
        .to_string();
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        accept_for(&key)
    );
    s.write_all(response.as_bytes()).unwrap();
    // Server pings (unmasked), never reading the pongs. netkit may stop
    // reading (back-pressure): then the write times out, which is fine.
    let mut ping = vec![0x89, 125];
    ping.extend_from_slice(&[b'p'; 125]);
    let batch = ping.repeat(8192);
    let base = rss_of(proc.id());
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut sent = 0;
    while sent < 24 * MIB {
        match s.write(&batch) {
            Ok(k) => sent += k,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => panic!("flooding after {sent} bytes: {e}"),
        }
    }
    let grown = rss_of(proc.id()).saturating_sub(base);
    eprintln!(
        "ws connect: {} MiB of pings, RSS {} KiB before, grew by {} KiB",
        sent / MIB,
        base / 1024,
        grown / 1024
    );
    assert!(proc.running(), "ws connect died under the flood");
    assert!(
        grown < 4 * MIB,
        "a ping flood grew ws connect by {grown} bytes"
    );
}

#[test]
fn pings_from_a_client_already_past_max_queue_close_it_with_1008() {
    let mut server = Server::start(&["--echo", "--max-queue", "64KiB"]);
    let mut flood = raw_ws(server.port, "/");
    // One message may always be in flight: its echo fills the socket and
    // the queue behind it, which the client does not read.
    let big = "x".repeat(16 * MIB);
    flood
        .write_all(&client_frame(OP_TEXT, big.as_bytes()))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let mut w = flood.try_clone().unwrap();
        let stop = stop.clone();
        thread::spawn(move || {
            let batch = pings(64);
            while !stop.load(Ordering::SeqCst) && w.write_all(&batch).is_ok() {}
        })
    };
    let line = server
        .stderr
        .wait_for(TIMEOUT, "a 1008", |l| l.contains("1008"));
    assert!(
        line.contains("fell behind; closing it with 1008"),
        "stderr: {line}"
    );
    // The echo (already in the socket queue), maybe pongs, then Close 1008.
    let mut pongs = 0;
    loop {
        match read_frame(&mut flood) {
            Some((OP_TEXT, p)) => {
                eprintln!("echo of {} bytes", p.len());
                assert_eq!(p.len(), big.len())
            }
            Some((OP_PONG, _)) => pongs += 1,
            Some((OP_CLOSE, body)) => {
                assert_eq!(&body[..2], &1008u16.to_be_bytes(), "{body:?}");
                break;
            }
            other => panic!("after {pongs} pongs: {other:?}"),
        }
    }
    stop.store(true, Ordering::SeqCst);
    flood.shutdown(std::net::Shutdown::Both).unwrap();
    writer.join().unwrap();
    let _ = server.stdin.take();
}

// ---------------------------------------------------------------------------
// 3. Handshake timeout, and many hostile clients at once

/// Raises this process's descriptor limit to its hard limit; returns it.
fn raise_fd_limit() -> usize {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur as usize
    }
}

/// Reads what a refused client gets until EOF (or a reset: a trickler that
/// wrote after the server closed gets one after the answer).
fn read_to_eof(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "reading to EOF: {e}; got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn a_trickled_handshake_gets_408_after_handshake_timeout() {
    let mut server = Server::start(&["--echo", "--handshake-timeout", "1s"]);
    let mut slow = client(addr(server.port));
    let local = slow.local_addr().unwrap().to_string();
    let started = Instant::now();
    let request = upgrade_request(server.port, "/");
    // One byte now and then: never a complete head within the second.
    for b in request.as_bytes()[..5].iter() {
        slow.write_all(&[*b]).unwrap();
        thread::sleep(Duration::from_millis(150));
    }
    let ev = server.events.wait("rejected", |_| true);
    assert_eq!(ev["remote"], local, "{ev}");
    assert!(
        ev["reason"]
            .as_str()
            .unwrap()
            .contains("--handshake-timeout 1s"),
        "{ev}"
    );
    let got = read_to_eof(&mut slow);
    let waited = started.elapsed();
    assert!(
        got.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{got:?}"
    );
    assert!(got.contains("Connection: close\r\n"), "{got:?}");
    assert!(waited >= Duration::from_millis(900), "cut after {waited:?}");
    // The server goes on.
    let mut other = raw_ws(server.port, "/");
    echo_round_trip(&mut other, "still here");
}

/// `ws listen --echo ARGS` over TLS with a fresh certificate in a scratch
/// directory named by `name` (removed by the caller).
fn tls_echo_server(name: &str, args: &[&str]) -> (Server, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("netkit-wsx-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = common::make_pki(&dir, &["127.0.0.1"]);
    let (cert, key) = (pki.cert.to_str().unwrap(), pki.key.to_str().unwrap());
    let mut all = vec!["--echo"];
    all.extend_from_slice(args);
    all.extend(["--tls-cert", cert, "--tls-key", key]);
    (Server::start(&all), dir)
}

#[test]
fn a_stalled_tls_handshake_is_cut_after_handshake_timeout() {
    let (mut server, dir) = tls_echo_server("stall", &["--handshake-timeout", "1s"]);
    // TCP only: the TLS ClientHello never comes.
    let mut silent = client(addr(server.port));
    let local = silent.local_addr().unwrap().to_string();
    let ev = server.events.wait("rejected", |_| true);
    assert_eq!(ev["remote"], local, "{ev}");
    let mut rest = Vec::new();
    silent.read_to_end(&mut rest).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_client_refused_by_max_clients_gets_no_plaintext_503() {
    let (mut server, dir) = tls_echo_server("full", &["--max-clients", "1"]);
    // The one slot: a client still before its TLS handshake.
    let _first = client(addr(server.port));
    let mut second = client(addr(server.port));
    let local = second.local_addr().unwrap().to_string();
    let ev = server.events.wait("rejected", |_| true);
    assert_eq!(ev["remote"], local, "{ev}");
    assert_eq!(ev["reason"], "server full (--max-clients 1)", "{ev}");
    // A TLS client is owed TLS or nothing: closed without a plaintext 503.
    let mut got = Vec::new();
    second.read_to_end(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), "");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A client with a tiny receive buffer (so the server's queue, not the
/// kernel, holds what it does not read), upgraded.
fn non_reader(port: u16) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr(port).into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(upgrade_request(port, "/").as_bytes()).unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "upgrade refused: {head}");
    s
}

#[test]
fn a_thousand_tricklers_and_a_thousand_non_readers_leave_memory_bounded() {
    const ECHO_PER_CLIENT: usize = 128 * 1024;
    const MESSAGE: usize = 4096;
    let fds = raise_fd_limit();
    // Two sockets per client here and there, plus some slack.
    let n = 1000.min(fds.saturating_sub(100) / 2);
    if n < 1000 {
        eprintln!("descriptor limit {fds}: {n} clients of each kind, not 1000");
    }
    let max_clients = (2 * n + 10).to_string();
    let mut server = Server::start(&[
        "--echo",
        "--max-clients",
        &max_clients,
        "--max-queue",
        "16KiB",
        "--handshake-timeout",
        "3s",
    ]);
    let port = server.port;
    let mut other = raw_ws(port, "/");
    echo_round_trip(&mut other, "before");
    let base = server.rss();
    let started = Instant::now();

    // The tricklers: one byte of the request each, now and every 500 ms.
    let request = upgrade_request(port, "/").into_bytes();
    let mut tricklers: Vec<TcpStream> = (0..n).map(|_| client(addr(port))).collect();
    for t in &mut tricklers {
        t.write_all(&request[..1]).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let trickling = {
        let stop = stop.clone();
        let mut writers: Vec<TcpStream> =
            tricklers.iter().map(|t| t.try_clone().unwrap()).collect();
        thread::spawn(move || {
            let mut at = 1;
            while !stop.load(Ordering::SeqCst) && at < request.len() - 1 {
                thread::sleep(Duration::from_millis(500));
                for w in &mut writers {
                    // A trickler already cut off cannot write; fine.
                    let _ = w.write_all(&request[at..at + 1]);
                }
                at += 1;
            }
        })
    };

    // The non-readers: each asks for ECHO_PER_CLIENT bytes of echo and
    // reads none of it; the other client keeps talking meanwhile.
    let message = client_frame(0x2, &[b'e'; MESSAGE]);
    let burst = message.repeat(ECHO_PER_CLIENT / MESSAGE);
    let mut peak = 0;
    let mut non_readers = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = non_reader(port);
        s.write_all(&burst).unwrap();
        non_readers.push(s);
        if i % 100 == 99 {
            echo_round_trip(&mut other, &format!("during {i}"));
            peak = peak.max(server.rss());
        }
    }
    echo_round_trip(&mut other, "all connected");
    let loaded = started.elapsed();
    peak = peak.max(server.rss());

    // The tricklers are cut at 3 s: a 408 each, then EOF.
    for (i, t) in tricklers.iter_mut().enumerate() {
        let got = read_to_eof(t);
        assert!(got.starts_with("HTTP/1.1 408 "), "trickler {i} got {got:?}");
    }
    let cut = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    trickling.join().unwrap();
    echo_round_trip(&mut other, "after");
    peak = peak.max(server.rss());
    eprintln!(
        "{n} tricklers + {n} non-readers ({} KiB of echo each): RSS {} KiB before, \
         peak {} KiB; all connected in {loaded:?}, tricklers cut by {cut:?}",
        ECHO_PER_CLIENT / 1024,
        base / 1024,
        peak / 1024
    );
    assert!(peak < 64 * MIB, "peak RSS {peak} bytes");
    // The bound held because every non-reader went past --max-queue and was
    // dropped (with 1008), not because the kernel absorbed the echo.
    server.proc.signal("INT");
    server.proc.wait(TIMEOUT);
    let behind = server
        .stderr
        .rest(TIMEOUT)
        .iter()
        .filter(|l| l.contains("fell behind; closing it with 1008"))
        .count();
    assert_eq!(behind, n, "non-readers dropped for --max-queue");
    drop(non_readers);
}

// ---------------------------------------------------------------------------
// 4. Chat names

/// Joins `ws listen --chat` as `?name=QUERY`; returns the stream and the
/// welcome line.
fn chat_join(port: u16, query: &str) -> (TcpStream, String) {
    let mut s = raw_ws(port, &format!("/?name={query}"));
    let welcome = next_text(&mut s);
    (s, welcome)
}

#[test]
fn ws_chat_names_are_unique_and_cannot_pose_as_markup() {
    let mut server = Server::start(&["--chat"]);
    let port = server.port;
    let (mut ann, welcome) = chat_join(port, "ann");
    assert_eq!(welcome, "*** welcome, ann; nobody else is here yet");
    let (mut ann2, welcome) = chat_join(port, "ann");
    assert_eq!(welcome, "*** welcome, ann-2; here: ann");
    assert_eq!(next_text(&mut ann), "*** ann-2 joined");
    let (mut admin, welcome) = chat_join(port, "%3Cadmin%3E%20x");
    assert_eq!(welcome, "*** welcome, admin x; here: ann, ann-2");
    assert_eq!(next_text(&mut ann), "*** admin x joined");
    assert_eq!(next_text(&mut ann2), "*** admin x joined");
    admin.write_all(&client_frame(OP_TEXT, b"hello")).unwrap();
    assert_eq!(next_text(&mut ann), "<admin x> hello");
    // ESC and a newline: no escape sequence, no second line.
    let (_esc, welcome) = chat_join(port, "a%1B%5B2Jb%0Ac");
    assert_eq!(welcome, "*** welcome, a[2Jb c; here: ann, ann-2, admin x");
    assert_eq!(next_text(&mut ann), "*** a[2Jb c joined");
    // Nothing left of a name: the guest name. A long one is cut at 32.
    let (_guest, welcome) = chat_join(port, "%3C%3E%07");
    assert!(welcome.starts_with("*** welcome, user5; "), "{welcome}");
    let (_long, welcome) = chat_join(port, &"n".repeat(40));
    assert!(
        welcome.starts_with(&format!("*** welcome, {}; ", "n".repeat(32))),
        "{welcome}"
    );
    let joins: Vec<Value> = (0..6)
        .map(|_| server.events.wait("join", |_| true))
        .collect();
    let names: Vec<&str> = joins.iter().map(|j| j["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "ann",
            "ann-2",
            "admin x",
            "a[2Jb c",
            "user5",
            &"n".repeat(32)
        ]
    );
    // Nobody speaks as the console.
    let (_console, welcome) = chat_join(port, "server");
    assert!(welcome.starts_with("*** welcome, server-2; "), "{welcome}");
    // A name is free again once its owner left.
    drop(ann);
    server.events.wait("leave", |v| v["name"] == "ann");
    let (_again, welcome) = chat_join(port, "ann");
    assert!(welcome.starts_with("*** welcome, ann; "), "{welcome}");
}

#[test]
fn ws_chat_welcome_lists_ten_names_and_counts_the_rest() {
    // It listed everyone: 10,000 joins sent 10,000 welcomes of up to
    // 10,000 names each (quadratic bytes, 475 MiB held).
    let server = Server::start(&["--chat"]);
    let port = server.port;
    let mut here = Vec::new();
    for i in 1..=12 {
        let (s, welcome) = chat_join(port, &format!("p{i}"));
        assert!(
            welcome.starts_with(&format!("*** welcome, p{i}; ")),
            "{welcome}"
        );
        here.push(s);
    }
    let (_late, welcome) = chat_join(port, "late");
    assert_eq!(
        welcome,
        "*** welcome, late; here: p1, p2, p3, p4, p5, p6, p7, p8, p9, p10 and 2 more"
    );
}

/// `n` clients join `PROTO listen --chat` as fast as they can connect;
/// returns how long until every one had its welcome, the server's RSS then
/// (after the notices settled) and the bytes all clients received in all.
fn chat_storm(proto: &str, n: usize) -> (Duration, usize, usize) {
    let max = (n + 10).to_string();
    let mut cmd = netkit();
    cmd.args(["--json", proto, "listen", "--chat", "--max-clients", &max])
        .args(["--bind", "127.0.0.1", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut proc = Proc::spawn(&mut cmd);
    let mut events = Events::new(proc.stdout_lines());
    let first = events.next(TIMEOUT).expect("no listening event");
    let port = first["port"].as_u64().expect("port") as u16;
    let request = upgrade_request(port, "/");
    let started = Instant::now();
    let mut clients: Vec<(TcpStream, Option<Vec<u8>>)> = Vec::with_capacity(n);
    let mut buf = vec![0u8; 64 * 1024];
    let (mut joined, mut total) = (0, 0);
    let mut read_all = |clients: &mut [(TcpStream, Option<Vec<u8>>)]| {
        for (s, head) in clients.iter_mut() {
            loop {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => {
                        total += k;
                        if let Some(h) = head {
                            h.extend_from_slice(&buf[..k]);
                            if h.windows(7).any(|w| w == b"welcome") {
                                *head = None;
                                joined += 1;
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("a client lost its connection: {e}"),
                }
            }
        }
        (joined, total)
    };
    for _ in 0..n {
        let mut s = TcpStream::connect(addr(port)).unwrap();
        if proto == "ws" {
            s.write_all(request.as_bytes()).unwrap();
        }
        s.set_nonblocking(true).unwrap();
        clients.push((s, Some(Vec::new())));
    }
    while read_all(&mut clients).0 < n && started.elapsed() < Duration::from_secs(60) {
        thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_millis(500) {
        read_all(&mut clients);
        thread::sleep(Duration::from_millis(10));
    }
    let (joined, total) = read_all(&mut clients);
    assert_eq!(joined, n, "{proto}: {joined} of {n} joined in {took:?}");
    let rss = rss_of(proc.id());
    proc.signal("INT");
    (took, rss, total)
}

#[test]
fn ten_thousand_chat_joins_take_seconds_and_little_memory_tcp_and_ws() {
    // The welcome listed everyone (ws) and every join was told to everyone
    // separately (both): 10,000 joins did not finish in a minute.
    let fds = raise_fd_limit();
    let n = 10_000.min(fds.saturating_sub(100));
    if n < 10_000 {
        eprintln!("descriptor limit {fds}: {n} clients, not 10,000");
    }
    for proto in ["tcp", "ws"] {
        let (took, rss, total) = chat_storm(proto, n);
        eprintln!(
            "{proto} --chat: {n} joined in {took:?}; RSS {} KiB; {} KiB of welcomes and notices",
            rss / 1024,
            total / 1024
        );
        // The target is 10 s for the release build (benches/chat_storm.sh:
        // about 5 s, bound by the python client); this is a debug build
        // on a shared machine, with the client in the same race.
        assert!(
            took < Duration::from_secs(20),
            "{proto}: joins took {took:?}"
        );
        assert!(rss < 64 * MIB, "{proto}: RSS {rss} bytes after the storm");
        // One notice per joiner to everyone would be n^2/2 notices (~1 GB).
        assert!(
            total < n * 4096,
            "{proto}: {total} bytes of notices for {n} joins"
        );
    }
}

// ---------------------------------------------------------------------------
// 5. Peer text that reaches a terminal

/// `base64(SHA-1(key + GUID))`.
fn accept_for(key: &str) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// A one-connection WebSocket server that upgrades, then closes with
/// `code` and `reason` and waits for the client's Close.
fn closing_server(code: u16, reason: &'static str) -> (u16, thread::JoinHandle<()>) {
    common::serve_once(move |mut s| {
        let head = read_request_head(&mut s);
        let key = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no key in {head}"));
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {}\r\n\r\n",
            accept_for(&key)
        );
        s.write_all(response.as_bytes()).unwrap();
        let mut close = vec![0x88, (2 + reason.len()) as u8];
        close.extend_from_slice(&code.to_be_bytes());
        close.extend_from_slice(reason.as_bytes());
        s.write_all(&close).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    })
}

/// Reads a request head byte by byte.
fn read_request_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn a_close_reason_with_escape_sequences_is_shown_escaped() {
    let (port, server) = closing_server(1000, "bye\x1b[2J\x1b]0;pwned\x07\r!");
    let out = netkit()
        .args(["ws", "connect", &format!("ws://127.0.0.1:{port}/")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    server.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(r"normal closure): bye\x1b[2J\x1b]0;pwned\x07\r!"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\x1b') && !stderr.contains('\r'),
        "{stderr:?}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn ws_listen_shows_a_clients_close_reason_escaped_and_keeps_messages_exact() {
    let mut cmd = netkit();
    cmd.args(["ws", "listen", "--bind", "127.0.0.1", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let _stdin = proc.take_stdin();
    let mut stderr = proc.stderr_lines();
    let out = proc.stdout_bytes();
    let first = stderr.next_line(TIMEOUT).unwrap();
    let port = common::listening_port(&first);
    let mut s = raw_ws(port, "/?x=%1B");
    // The data on stdout stays byte for byte what was sent.
    s.write_all(&client_frame(OP_TEXT, "a\x1b[31mred\ttab\r".as_bytes()))
        .unwrap();
    let mut body = 1000u16.to_be_bytes().to_vec();
    body.extend_from_slice(b"see \x1b[2J");
    s.write_all(&client_frame(OP_CLOSE, &body)).unwrap();
    let line = stderr.wait_for(TIMEOUT, "the close", |l| l.contains("closed by"));
    assert!(
        line.ends_with("normal closure): see \\x1b[2J\n"),
        "{line:?}"
    );
    proc.signal("INT");
    proc.wait(TIMEOUT);
    assert_eq!(out.join(), b"a\x1b[31mred\ttab\r\n");
}

#[test]
fn a_refused_upgrade_body_with_escape_sequences_is_shown_escaped() {
    let (port, server) = common::serve_once(|mut s| {
        read_request_head(&mut s);
        s.write_all(
            b"HTTP/1.1 403 Nope\r\nContent-Length: 9\r\nConnection: close\r\n\r\nno\x1b[1m\x07!\n",
        )
        .unwrap();
    });
    let out = netkit()
        .args(["ws", "connect", &format!("ws://127.0.0.1:{port}/")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    server.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "netkit: handshake with ws://127.0.0.1:{port}/: upgrade refused: 403 Nope: no\\x1b[1m\\x07!\n"
        )
    );
}

#[test]
fn tcp_chat_shows_escape_sequences_escaped_on_the_console() {
    // A tcp chat client cannot choose its name (user1, user2, ... from the
    // shared registry); what it says reaches the server's console escaped.
    let mut l = common::HumanListener::start(&["--chat"], Stdio::piped(), Stdio::piped());
    let _stdin = l.proc.take_stdin();
    let mut console = l.proc.stdout_lines();
    let mut u1 = client(l.addr());
    assert!(common::read_line(&mut u1).contains("you are user1"));
    console.wait_for(TIMEOUT, "the join", |line| line.contains("user1 joined"));
    u1.write_all(b"hi \x1b[2J\x07there\n").unwrap();
    let line = console.wait_for(TIMEOUT, "the chat line", |line| line.starts_with("<user1>"));
    assert_eq!(line, "<user1> hi \\x1b[2J\\x07there\n");
}
