//! `netkit udp send | recv` against real peers on loopback: std sockets
//! written here, socat, OpenBSD `nc -u` and netkit itself. Every datagram is
//! checked on its own (boundaries, exact payloads, sources), plus the
//! documented exit codes, the JSON events and the summary.
//!
//! Everything runs on 127.0.0.1, ::1 or a multicast group joined on the
//! loopback interface, on ports the system chose. Nothing asserts on timings;
//! short waits only ever check that something does *not* arrive.

mod common;

use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use socket2::{Domain, Protocol, Socket, Type};

use common::*;

/// How long to listen for a datagram that must *not* come.
const QUIET: Duration = Duration::from_millis(300);

/// The largest UDP payload over IPv4 (65,535 - 20 - 8) and over IPv6 (65,535 - 8).
const MAX_V4: usize = 65_507;
const MAX_V6: usize = 65_527;

// ---------------------------------------------------------------------------
// Helpers: std sockets

/// A std UDP socket bound to `addr` with a large receive buffer (so a burst
/// of big datagrams is not dropped while the test thread is descheduled) and
/// a generous read deadline.
fn udp_socket(addr: SocketAddr) -> UdpSocket {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .expect("udp socket");
    let _ = s.set_recv_buffer_size(4 << 20);
    s.bind(&addr.into())
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    let s = UdpSocket::from(s);
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// A receiver on 127.0.0.1, port chosen by the system.
fn rx_v4() -> UdpSocket {
    udp_socket("127.0.0.1:0".parse().unwrap())
}

/// A receiver on ::1, or `None` (with a printed reason) where IPv6 is missing.
fn rx_v6() -> Option<UdpSocket> {
    match UdpSocket::bind("[::1]:0") {
        Ok(s) => {
            drop(s);
            Some(udp_socket("[::1]:0".parse().unwrap()))
        }
        Err(e) => {
            eprintln!("skipping: cannot bind [::1]: {e}");
            None
        }
    }
}

fn port_of(s: &UdpSocket) -> u16 {
    s.local_addr().unwrap().port()
}

/// `recv_from` that retries on EINTR. Linux fails a socket read that has a
/// receive timeout with EINTR when the calling process is stopped and
/// continued, which has nothing to do with netkit.
fn recv_from_retrying(
    s: &UdpSocket,
    buf: &mut [u8],
    limit: Duration,
) -> io::Result<(usize, SocketAddr)> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match s.recv_from(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                s.set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            }
            other => return other,
        }
    }
}

/// One datagram with its source; fails the test after [`TIMEOUT`].
fn recv_one(s: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 70_000];
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    match recv_from_retrying(s, &mut buf, TIMEOUT) {
        Ok((n, from)) => {
            buf.truncate(n);
            (buf, from)
        }
        Err(e) => panic!(
            "no datagram on {} within {TIMEOUT:?}: {e}",
            s.local_addr().unwrap()
        ),
    }
}

/// `n` datagrams, each with its source.
fn recv_n(s: &UdpSocket, n: usize) -> Vec<(Vec<u8>, SocketAddr)> {
    (0..n).map(|_| recv_one(s)).collect()
}

/// Just the payloads of `n` datagrams.
fn payloads(s: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
    recv_n(s, n).into_iter().map(|(p, _)| p).collect()
}

/// Asserts no further datagram arrives for a short while.
fn assert_no_more(s: &UdpSocket, what: &str) {
    s.set_read_timeout(Some(QUIET)).unwrap();
    let mut buf = vec![0u8; 70_000];
    match recv_from_retrying(s, &mut buf, QUIET) {
        Ok((n, from)) => panic!(
            "{what}: unexpected extra datagram of {n} bytes from {from}: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        Err(e) => panic!("{what}: {e}"),
    }
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
}

/// A UDP port on 127.0.0.1 where nothing listens (bound, then released).
fn free_udp_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    port_of(&s)
}

/// A std echo server on 127.0.0.1 that answers each datagram with
/// `answer(payload)`, `count` times, then returns what it received.
fn std_echo(
    count: usize,
    answer: impl Fn(&[u8]) -> Vec<u8> + Send + 'static,
) -> (u16, thread::JoinHandle<Vec<Vec<u8>>>) {
    let s = rx_v4();
    let port = port_of(&s);
    let h = thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..count {
            let (p, from) = recv_one(&s);
            s.send_to(&answer(&p), from).unwrap();
            got.push(p);
        }
        got
    });
    (port, h)
}

fn s(port: u16) -> String {
    port.to_string()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs `netkit udp send ARGS` with `input` on a stdin pipe.
fn send_with_input(args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    let mut all = vec!["udp", "send"];
    all.extend_from_slice(args);
    run_with_input(&all, input)
}

/// Runs `netkit udp send ARGS` with stdin from /dev/null.
fn send(args: &[&str]) -> (i32, Vec<u8>, String) {
    let mut all = vec!["udp", "send"];
    all.extend_from_slice(args);
    run(&all, Stdio::null())
}

/// Parses NDJSON stdout into events.
fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8(out.to_vec())
        .expect("JSON output is UTF-8")
        .lines()
        .map(parse_event)
        .collect()
}

fn named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events.iter().filter(|v| v["event"] == name).collect()
}

/// Checks a `datagram` event: source, length, and `text` (UTF-8) or base64
/// `bytes` (anything else), exactly.
fn assert_datagram(v: &Value, from: SocketAddr, expected: &[u8]) {
    assert_eq!(v["event"], "datagram", "{v}");
    assert_eq!(v["from"], from.to_string(), "source in {v}");
    assert_eq!(v["length"], expected.len(), "length in {v}");
    match std::str::from_utf8(expected) {
        Ok(text) => {
            assert_eq!(v["text"], text, "text in {v}");
            assert!(v.get("bytes").is_none(), "UTF-8 payload as bytes: {v}");
        }
        Err(_) => {
            assert_eq!(v["bytes"], b64(expected), "bytes in {v}");
            assert!(v.get("text").is_none(), "binary payload as text: {v}");
        }
    }
    assert_eq!(payload(v), expected, "{v}");
}

/// What the human sink prints for one binary datagram (after the header):
/// the hex rows, each indented by two spaces.
fn hex_rows(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, row) in bytes.chunks(16).enumerate() {
        out.push_str(&format!("  {:08x}  ", i * 16));
        for col in 0..16 {
            match row.get(col) {
                Some(b) => out.push_str(&format!("{b:02x} ")),
                None => out.push_str("   "),
            }
            if col == 7 {
                out.push(' ');
            }
        }
        out.push_str(" |");
        for &b in row {
            out.push(if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            });
        }
        out.push_str("|\n");
    }
    out
}

// ---------------------------------------------------------------------------
// Helpers: netkit receivers

/// A running `netkit --json udp recv ARGS`, its port learned from the
/// `listening` event.
struct JsonRecv {
    proc: Proc,
    port: u16,
    listening: Value,
    events: Events,
    stderr: Collector,
}

impl JsonRecv {
    /// `netkit --json udp recv ARGS` (`verb` is `recv` or `listen`).
    fn start_verb(verb: &str, args: &[&str]) -> JsonRecv {
        let mut cmd = netkit();
        cmd.args(["--json", "udp", verb])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (proc, events, stderr, listening, port) = spawn_listening(&mut cmd);
        let addr: SocketAddr = listening["addr"]
            .as_str()
            .unwrap_or_else(|| panic!("no addr in {listening}"))
            .parse()
            .unwrap_or_else(|e| panic!("addr in {listening}: {e}"));
        assert_eq!(addr.port(), port, "{listening}");
        JsonRecv {
            proc,
            port,
            listening,
            events,
            stderr,
        }
    }

    /// `netkit --json udp recv --bind 127.0.0.1 0 ARGS`.
    fn start(args: &[&str]) -> JsonRecv {
        let mut all = vec!["--bind", "127.0.0.1", "0"];
        all.extend_from_slice(args);
        JsonRecv::start_verb("recv", &all)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The next event, which must be a `datagram`.
    fn datagram(&mut self) -> Value {
        match self.events.next(TIMEOUT) {
            Some(v) if v["event"] == "datagram" => v,
            Some(v) => panic!("expected a datagram event, got {v}"),
            None => panic!(
                "EOF before a datagram event; events so far:\n{}",
                self.events.dump()
            ),
        }
    }

    /// Waits for the exit; returns the code, the remaining events and stderr.
    fn finish(mut self) -> (i32, Vec<Value>, String) {
        let status = self.proc.wait(TIMEOUT);
        let rest = self.events.rest();
        (code(status), rest, self.stderr.text())
    }
}

/// A running human-mode `netkit udp recv ARGS`, its port learned from the
/// `* listening on ...` line on stderr.
struct HumanRecv {
    proc: Proc,
    port: u16,
    stdout: Collector,
    stderr: Lines,
}

impl HumanRecv {
    fn start(args: &[&str]) -> HumanRecv {
        let mut cmd = netkit();
        cmd.args(["udp", "recv", "--bind", "127.0.0.1", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (mut proc, stderr, _, port) = spawn_announced(&mut cmd, "udp recv");
        let stdout = proc.stdout_bytes();
        HumanRecv {
            proc,
            port,
            stdout,
            stderr,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Waits for the exit; returns the code, stdout and the rest of stderr.
    fn finish(mut self) -> (i32, Vec<u8>, String) {
        let status = self.proc.wait(TIMEOUT);
        let err = self.stderr.rest(TIMEOUT).concat();
        (code(status), self.stdout.join(), err)
    }
}

/// A std sender on 127.0.0.1.
fn tx_v4() -> UdpSocket {
    udp_socket("127.0.0.1:0".parse().unwrap())
}

// ===========================================================================
// udp send: one argument, one line, one chunk = one datagram

#[test]
fn send_each_message_argument_is_one_datagram() {
    let rx = rx_v4();
    let messages = ["hello", "two words", "héllo ☃", "x"];
    let mut args = vec!["127.0.0.1".to_string(), s(port_of(&rx))];
    args.extend(messages.iter().map(|m| m.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = send(&args);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(err, "", "a plain send says nothing");
    let got = recv_n(&rx, messages.len());
    for ((p, _), m) in got.iter().zip(messages) {
        assert_eq!(p, m.as_bytes());
    }
    let source = got[0].1;
    assert!(
        got.iter().all(|(_, from)| *from == source),
        "all datagrams from one socket: {got:?}"
    );
    assert_eq!(source.ip(), Ipv4Addr::LOCALHOST);
    assert_no_more(&rx, "after 4 messages");
}

#[test]
fn send_stdin_lines_empty_line_and_unterminated_last_line() {
    let rx = rx_v4();
    let (code, out, err) = send_with_input(
        &["127.0.0.1", &s(port_of(&rx))],
        b"first line\n\nthird\tline\nlast without newline",
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.is_empty());
    assert_no_error(&err);
    let got = payloads(&rx, 4);
    assert_eq!(
        got,
        vec![
            b"first line".to_vec(),
            b"".to_vec(),
            b"third\tline".to_vec(),
            b"last without newline".to_vec()
        ],
        "the empty line is a zero-length datagram; the newline is stripped"
    );
    assert_no_more(&rx, "after 4 lines");
}

#[test]
fn send_stdin_lines_from_a_regular_file() {
    let rx = rx_v4();
    let file = TempFile::with("udp-lines", b"one\ntwo\nthree\n");
    let (code, _out, err) = run(
        &["udp", "send", "127.0.0.1", &s(port_of(&rx))],
        file.stdio(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        payloads(&rx, 3),
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    assert_no_more(&rx, "after 3 lines");
}

#[test]
fn send_with_stdin_at_eof_sends_nothing_and_exits_0() {
    let rx = rx_v4();
    let (code, out, err) = send(&["127.0.0.1", &s(port_of(&rx))]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.is_empty());
    assert_no_error(&err);
    assert_no_more(&rx, "stdin was /dev/null");
}

#[test]
fn send_many_lines_keep_their_boundaries() {
    let rx = rx_v4();
    let lines: Vec<String> = (0..200)
        .map(|i| format!("line {i} {}", "=".repeat(i)))
        .collect();
    let mut input = lines.join("\n").into_bytes();
    input.push(b'\n');
    let (code, _out, err) = send_with_input(&["127.0.0.1", &s(port_of(&rx))], &input);
    assert_eq!(code, 0, "stderr: {err}");
    let got = payloads(&rx, lines.len());
    for (p, l) in got.iter().zip(&lines) {
        assert_eq!(p, l.as_bytes());
    }
    assert_no_more(&rx, "after 200 lines");
}

#[test]
fn send_raw_sends_stdin_in_chunks_up_to_the_limit() {
    // A regular file as stdin: the chunks are cut by the datagram limit only.
    let data = random_bytes(150_000, 7);
    let file = TempFile::with("udp-raw", &data);
    let rx = rx_v4();
    let (code, out, err) = run(
        &["udp", "send", "--raw", "127.0.0.1", &s(port_of(&rx))],
        file.stdio(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.is_empty());
    let mut joined = Vec::new();
    let mut sizes = Vec::new();
    while joined.len() < data.len() {
        let (p, _) = recv_one(&rx);
        assert!(!p.is_empty(), "--raw sent an empty datagram");
        assert!(p.len() <= MAX_V4, "chunk of {} bytes", p.len());
        sizes.push(p.len());
        joined.extend_from_slice(&p);
    }
    assert_same_bytes("--raw chunks joined", &data, &joined);
    assert!(
        sizes.len() >= 3,
        "150,000 bytes need 3 datagrams: {sizes:?}"
    );
    assert_no_more(&rx, "after the raw chunks");
}

#[test]
fn send_raw_keeps_newlines_and_binary_bytes_inside_a_chunk() {
    let rx = rx_v4();
    let input = b"line one\nline two\n\x00\xff\r\n".to_vec();
    let (code, _out, err) = send_with_input(&["--raw", "127.0.0.1", &s(port_of(&rx))], &input);
    assert_eq!(code, 0, "stderr: {err}");
    let mut joined = Vec::new();
    while joined.len() < input.len() {
        joined.extend_from_slice(&recv_one(&rx).0);
    }
    assert_eq!(joined, input, "--raw sends stdin as it is");
    assert_no_more(&rx, "after the raw input");
}

#[test]
fn send_hex_messages_are_bytes() {
    let rx = rx_v4();
    let (code, _out, err) = send(&[
        "--hex",
        "127.0.0.1",
        &s(port_of(&rx)),
        "de ad be ef",
        "00ff",
        "0x01:0x02-0A",
        "",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        payloads(&rx, 4),
        vec![
            vec![0xde, 0xad, 0xbe, 0xef],
            vec![0x00, 0xff],
            vec![0x01, 0x02, 0x0a],
            vec![]
        ]
    );
    assert_no_more(&rx, "after 4 hex messages");
}

#[test]
fn send_hex_stdin_lines_are_bytes() {
    let rx = rx_v4();
    let (code, _out, err) = send_with_input(
        &["--hex", "127.0.0.1", &s(port_of(&rx))],
        b"48656c6c6f\n00 01 02 ff\n\ncafe",
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        payloads(&rx, 4),
        vec![
            b"Hello".to_vec(),
            vec![0x00, 0x01, 0x02, 0xff],
            vec![],
            vec![0xca, 0xfe]
        ]
    );
    assert_no_more(&rx, "after 4 hex lines");
}

#[test]
fn send_count_with_interval_repeats_every_message() {
    let rx = rx_v4();
    let (code, _out, err) = send(&[
        "-c",
        "3",
        "-n",
        "20ms",
        "127.0.0.1",
        &s(port_of(&rx)),
        "a",
        "bb",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let got = payloads(&rx, 6);
    assert_eq!(
        got,
        ["a", "bb", "a", "bb", "a", "bb"]
            .iter()
            .map(|m| m.as_bytes().to_vec())
            .collect::<Vec<_>>()
    );
    assert_no_more(&rx, "after -c 3 of 2 messages");
}

#[test]
fn send_count_repeats_stdin_lines() {
    let rx = rx_v4();
    let (code, _out, err) =
        send_with_input(&["--count", "2", "127.0.0.1", &s(port_of(&rx))], b"x\ny\n");
    assert_eq!(code, 0, "stderr: {err}");
    let mut got = payloads(&rx, 4);
    got.sort();
    assert_eq!(
        got,
        vec![b"x".to_vec(), b"x".to_vec(), b"y".to_vec(), b"y".to_vec()]
    );
    assert_no_more(&rx, "after -c 2 of 2 lines");
}

#[test]
fn send_json_reports_each_datagram_sent_and_a_summary() {
    let rx = rx_v4();
    let port = port_of(&rx);
    let (code, out, err) = run(
        &[
            "--json",
            "udp",
            "send",
            "127.0.0.1",
            &s(port),
            "abc",
            "defgh",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(payloads(&rx, 2), vec![b"abc".to_vec(), b"defgh".to_vec()]);
    let events = json_lines(&out);
    let sent = named(&events, "sent");
    assert_eq!(sent.len(), 2, "{events:?}");
    for (v, len) in sent.iter().zip([3, 5]) {
        assert_eq!(v["to"], format!("127.0.0.1:{port}"));
        assert_eq!(v["length"], len);
    }
    let summary = named(&events, "summary");
    assert_eq!(summary.len(), 1, "{events:?}");
    assert_eq!(summary[0]["sent"], 2);
    assert_eq!(summary[0]["bytes_sent"], 8);
    assert_eq!(summary[0]["received"], 0);
}

// ---------------------------------------------------------------------------
// udp send: addresses and sockets

#[test]
fn send_from_source_addr_and_port() {
    let rx = rx_v4();
    let src = free_udp_port();
    let source = format!("127.0.0.1:{src}");
    let (code, _out, err) = send(&["--source", &source, "127.0.0.1", &s(port_of(&rx)), "hi"]);
    assert_eq!(code, 0, "stderr: {err}");
    let (p, from) = recv_one(&rx);
    assert_eq!(p, b"hi");
    assert_eq!(
        from,
        source.parse::<SocketAddr>().unwrap(),
        "the source port"
    );
}

#[test]
fn send_from_source_addr_without_port() {
    let rx = rx_v4();
    let (code, _out, err) = send(&["--source", "127.0.0.1", "127.0.0.1", &s(port_of(&rx)), "hi"]);
    assert_eq!(code, 0, "stderr: {err}");
    let (p, from) = recv_one(&rx);
    assert_eq!(p, b"hi");
    assert_eq!(from.ip(), Ipv4Addr::LOCALHOST);
    assert_ne!(from.port(), 0);
}

#[test]
fn send_source_of_the_other_family_is_a_usage_error() {
    let rx = rx_v4();
    let (code, _out, err) = send(&["--source", "[::1]:0", "127.0.0.1", &s(port_of(&rx)), "hi"]);
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(&err);
    assert_no_more(&rx, "nothing is sent on a usage error");
}

#[test]
fn send_ipv6_to_loopback() {
    let Some(rx) = rx_v6() else { return };
    let port = s(port_of(&rx));
    for host in ["::1", "[::1]"] {
        let (code, _out, err) = send(&["-6", host, &port, "over v6"]);
        assert_eq!(code, 0, "{host}: stderr: {err}");
        let (p, from) = recv_one(&rx);
        assert_eq!(p, b"over v6");
        assert_eq!(from.ip(), Ipv6Addr::LOCALHOST);
    }
}

#[test]
fn send_ipv6_largest_datagram() {
    let Some(rx) = rx_v6() else { return };
    let big = "6".repeat(MAX_V6);
    let (code, _out, err) = send(&["-6", "::1", &s(port_of(&rx)), &big]);
    assert_eq!(code, 0, "65,527 bytes fit an IPv6 datagram; stderr: {err}");
    let (p, _) = recv_one(&rx);
    assert_eq!(p.len(), MAX_V6);
    assert!(p == big.as_bytes());
    let over = "6".repeat(MAX_V6 + 1);
    let (code, _out, err) = send(&["-6", "::1", &s(port_of(&rx)), &over]);
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("65528") && err.contains("65527"), "{err}");
}

#[test]
fn send_with_ttl_and_broadcast_flags_still_delivers() {
    let rx = rx_v4();
    let (code, _out, err) = send(&[
        "--ttl",
        "3",
        "--broadcast",
        "127.0.0.1",
        &s(port_of(&rx)),
        "ttl",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(recv_one(&rx).0, b"ttl");
}

#[test]
fn send_largest_ipv4_datagram_arrives_whole() {
    let rx = rx_v4();
    let big = "4".repeat(MAX_V4);
    let (code, _out, err) = send(&["127.0.0.1", &s(port_of(&rx)), &big]);
    assert_eq!(code, 0, "stderr: {err}");
    let (p, _) = recv_one(&rx);
    assert_eq!(p.len(), MAX_V4);
    assert!(p == big.as_bytes());
}

// ---------------------------------------------------------------------------
// udp send --reply

#[test]
fn send_reply_against_netkit_recv_echo() {
    let echo = JsonRecv::start(&["--echo", "-c", "2"]);
    let port = s(echo.port);
    let (code, out, err) = send(&["--reply", "127.0.0.1", &port, "ping"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("127.0.0.1:{port}  4 B  ping\n"),
        "the reply on stdout: source, length, payload"
    );
    assert_no_error(&err);

    let (code, out, err) = run(
        &[
            "--json",
            "udp",
            "send",
            "--reply",
            "--hex",
            "127.0.0.1",
            &port,
            "00ff",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let events = json_lines(&out);
    let replies = named(&events, "datagram");
    assert_eq!(replies.len(), 1, "{events:?}");
    assert_datagram(replies[0], echo.addr(), &[0x00, 0xff]);

    let (code, rest, err) = echo.finish();
    assert_eq!(code, 0, "echo server: {err}");
    let summary = named(&rest, "summary");
    assert_eq!(summary.len(), 1, "{rest:?}");
    assert_eq!(summary[0]["received"], 2);
    assert_eq!(summary[0]["sent"], 2, "both echoed");
    assert_eq!(summary[0]["bytes_sent"], 6);
}

#[test]
fn send_reply_against_a_std_echo_prints_exact_payloads() {
    // The server answers with something else, so the reply cannot be
    // mistaken for the request.
    let (port, server) = std_echo(1, |p| {
        let mut r = b"re: ".to_vec();
        r.extend_from_slice(p);
        r
    });
    let (code, out, err) = send(&["--reply", "127.0.0.1", &s(port), "question"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("127.0.0.1:{port}  12 B  re: question\n")
    );
    assert_eq!(server.join().unwrap(), vec![b"question".to_vec()]);
}

#[test]
fn send_reply_json_text_and_bytes() {
    let (port, server) = std_echo(2, |p| {
        if p == b"bin" {
            vec![0xff, 0xfe, 0x00, 0x80]
        } else {
            "réponse ☃".as_bytes().to_vec()
        }
    });
    let (code, out, err) = run(
        &[
            "--json",
            "udp",
            "send",
            "--reply",
            "-n",
            "50ms",
            "127.0.0.1",
            &s(port),
            "text",
            "bin",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let events = json_lines(&out);
    let from = SocketAddr::from(([127, 0, 0, 1], port));
    let replies = named(&events, "datagram");
    assert_eq!(replies.len(), 2, "{events:?}");
    assert_datagram(replies[0], from, "réponse ☃".as_bytes());
    assert_datagram(replies[1], from, &[0xff, 0xfe, 0x00, 0x80]);
    let summary = named(&events, "summary");
    assert_eq!(summary.len(), 1, "{events:?}");
    assert_eq!(summary[0]["sent"], 2);
    assert_eq!(summary[0]["received"], 2);
    assert_eq!(summary[0]["bytes_sent"], 7);
    assert_eq!(summary[0]["bytes_received"], 16);
    assert_eq!(
        server.join().unwrap(),
        vec![b"text".to_vec(), b"bin".to_vec()]
    );
}

#[test]
fn send_reply_with_count_waits_for_that_many() {
    let (port, server) = std_echo(3, |p| p.to_ascii_uppercase());
    let (code, out, err) = run(
        &[
            "--json",
            "udp",
            "send",
            "--reply",
            "-c",
            "3",
            "127.0.0.1",
            &s(port),
            "abc",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let events = json_lines(&out);
    let replies = named(&events, "datagram");
    assert_eq!(replies.len(), 3, "{events:?}");
    for r in replies {
        assert_datagram(r, SocketAddr::from(([127, 0, 0, 1], port)), b"ABC");
    }
    assert_eq!(server.join().unwrap().len(), 3);
}

#[test]
fn send_reply_dns_probe_in_hex() {
    // The DNS query from `netkit udp send --help`, answered by a fake server.
    const QUERY: &str = "123401000001000000000000076578616d706c6503636f6d0000010001";
    let query: Vec<u8> = (0..QUERY.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&QUERY[i..i + 2], 16).unwrap())
        .collect();
    let mut answer = query.clone();
    answer[2] = 0x81; // QR=1, RD=1
    answer[3] = 0x80; // RA=1
    answer.extend_from_slice(&[
        0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10, 0, 4, 93, 184, 215, 14,
    ]);
    let reply = answer.clone();
    let (port, server) = std_echo(1, move |_| reply.clone());
    let (code, out, err) = run(
        &[
            "--json",
            "udp",
            "send",
            "--hex",
            "--reply",
            "127.0.0.1",
            &s(port),
            QUERY,
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        server.join().unwrap(),
        vec![query],
        "the query, byte for byte"
    );
    let events = json_lines(&out);
    let replies = named(&events, "datagram");
    assert_eq!(replies.len(), 1, "{events:?}");
    assert_datagram(
        replies[0],
        SocketAddr::from(([127, 0, 0, 1], port)),
        &answer,
    );
}

#[test]
fn send_reply_human_binary_reply_is_a_hex_dump() {
    let reply: Vec<u8> = (0u8..20).collect();
    let r = reply.clone();
    let (port, server) = std_echo(1, move |_| r.clone());
    let (code, out, err) = send(&["--reply", "127.0.0.1", &s(port), "x"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!("127.0.0.1:{port}  20 B  (binary)\n{}", hex_rows(&reply))
    );
    server.join().unwrap();
}

#[test]
fn send_reply_without_answer_exits_5() {
    let rx = rx_v4();
    let (code, out, err) = send(&[
        "--reply",
        "--timeout",
        "300ms",
        "127.0.0.1",
        &s(port_of(&rx)),
        "anyone?",
    ]);
    assert_eq!(code, 5, "stderr: {err}");
    assert!(out.is_empty(), "{:?}", String::from_utf8_lossy(&out));
    assert_one_error_line(&err);
    assert!(
        err.contains(&format!("127.0.0.1:{}", port_of(&rx))),
        "{err}"
    );
    assert_eq!(recv_one(&rx).0, b"anyone?", "the datagram itself was sent");
}

#[test]
fn send_reply_without_answer_json_error_event() {
    let rx = rx_v4();
    let (code, out, err) = run(
        &[
            "--json",
            "udp",
            "send",
            "--reply",
            "--timeout",
            "200ms",
            "127.0.0.1",
            &s(port_of(&rx)),
            "q",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 5, "stderr: {err}");
    let events = json_lines(&out);
    let errors = named(&events, "error");
    assert_eq!(errors.len(), 1, "{events:?}");
    assert_eq!(errors[0]["exit"], 5);
    assert!(named(&events, "datagram").is_empty(), "{events:?}");
}

// ---------------------------------------------------------------------------
// udp send: ICMP port unreachable

#[test]
fn send_to_closed_port_exits_4() {
    let port = free_udp_port();
    let (code, out, err) = send(&["127.0.0.1", &s(port), "hello?"]);
    assert_eq!(
        code, 4,
        "ICMP port unreachable must not be lost; stderr: {err}"
    );
    assert!(out.is_empty());
    assert_one_error_line(&err);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

#[test]
fn send_to_closed_port_with_count_and_interval_exits_4() {
    let port = free_udp_port();
    let (code, _out, err) = send(&["-c", "5", "-n", "50ms", "127.0.0.1", &s(port), "x"]);
    assert_eq!(code, 4, "stderr: {err}");
    assert_one_error_line(&err);
}

#[test]
fn send_reply_to_closed_port_exits_4_not_5() {
    let port = free_udp_port();
    let (code, _out, err) = send(&["--reply", "--timeout", "5s", "127.0.0.1", &s(port), "x"]);
    assert_eq!(code, 4, "refused, not timed out; stderr: {err}");
    assert_one_error_line(&err);
}

#[test]
fn send_to_closed_port_json_error_event() {
    let port = free_udp_port();
    let (code, out, err) = run(
        &["--json", "udp", "send", "127.0.0.1", &s(port), "x"],
        Stdio::null(),
    );
    assert_eq!(code, 4, "stderr: {err}");
    let events = json_lines(&out);
    let errors = named(&events, "error");
    assert_eq!(errors.len(), 1, "{events:?}");
    assert_eq!(errors[0]["exit"], 4);
    assert_one_error_line(&err);
}

#[test]
fn send_stdin_lines_to_closed_port_exits_4() {
    let port = free_udp_port();
    let (code, _out, err) = send_with_input(&["127.0.0.1", &s(port)], b"a\nb\nc\n");
    assert_eq!(code, 4, "stderr: {err}");
    assert_one_error_line(&err);
}

// ---------------------------------------------------------------------------
// udp send: bad input

#[test]
fn send_message_over_the_limit_is_a_usage_error() {
    let rx = rx_v4();
    let over = "o".repeat(MAX_V4 + 1);
    let (code, out, err) = send(&["127.0.0.1", &s(port_of(&rx)), "ok", &over]);
    assert_eq!(code, 2, "stderr: {err}");
    assert!(out.is_empty());
    assert_one_error_line(&err);
    assert!(
        err.contains("65508") && err.contains("65507"),
        "the message says the size and the limit: {err}"
    );
    assert_no_more(&rx, "nothing is sent when an argument is bad");
}

#[test]
fn send_stdin_line_over_the_limit_is_a_usage_error() {
    let rx = rx_v4();
    let mut input = "o".repeat(MAX_V4 + 1).into_bytes();
    input.push(b'\n');
    let (code, _out, err) = send_with_input(&["127.0.0.1", &s(port_of(&rx))], &input);
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("65507"), "{err}");
    assert_no_more(&rx, "the long line is not sent, not even cut");
}

#[test]
fn send_stdin_line_at_the_limit_is_sent() {
    let rx = rx_v4();
    let mut input = "l".repeat(MAX_V4).into_bytes();
    input.push(b'\n');
    let (code, _out, err) = send_with_input(&["127.0.0.1", &s(port_of(&rx))], &input);
    assert_eq!(code, 0, "stderr: {err}");
    let (p, _) = recv_one(&rx);
    assert_eq!(p.len(), MAX_V4);
    assert_no_more(&rx, "one line, one datagram");
}

#[test]
fn send_invalid_hex_is_a_usage_error() {
    let rx = rx_v4();
    for bad in ["zz", "abc", "de ad b"] {
        let (code, out, err) = send(&["--hex", "127.0.0.1", &s(port_of(&rx)), bad]);
        assert_eq!(code, 2, "{bad:?}: stderr: {err}");
        assert!(out.is_empty());
        assert_one_error_line(&err);
        assert!(err.contains("hex"), "{err}");
    }
    assert_no_more(&rx, "nothing is sent");
}

#[test]
fn send_invalid_hex_stdin_line_is_a_usage_error() {
    let rx = rx_v4();
    let (code, _out, err) = send_with_input(
        &["--hex", "127.0.0.1", &s(port_of(&rx))],
        b"0102\nnot hex\n",
    );
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("line 2"), "says which line: {err}");
}

#[test]
fn send_unknown_host_exits_3() {
    let (code, out, err) = send(&["no-such-host.invalid", "9", "x"]);
    assert_eq!(code, 3, "stderr: {err}");
    assert!(out.is_empty());
    assert_one_error_line(&err);
    assert!(err.contains("no-such-host.invalid"), "{err}");
}

#[test]
fn send_bad_port_and_count_are_usage_errors() {
    for args in [
        &["127.0.0.1", "0", "x"][..],
        &["127.0.0.1", "65536", "x"],
        &["127.0.0.1", "port", "x"],
        &["-c", "0", "127.0.0.1", "9", "x"],
        &["-n", "soon", "127.0.0.1", "9", "x"],
        &["--raw", "127.0.0.1", "9", "x"],
    ] {
        let (code, _out, err) = send(args);
        assert_eq!(code, 2, "{args:?}: stderr: {err}");
        assert_one_error_line(&err);
    }
}

// ===========================================================================
// udp recv

#[test]
fn recv_json_one_event_per_datagram_text_and_bytes() {
    let mut nk = JsonRecv::start(&["-c", "4"]);
    let tx = tx_v4();
    let from = tx.local_addr().unwrap();
    let sent: [&[u8]; 4] = [b"hello", "snow ☃".as_bytes(), &[0xff, 0x00, 0xfe], b""];
    for d in sent {
        tx.send_to(d, nk.addr()).unwrap();
    }
    for d in sent {
        let v = nk.datagram();
        assert_datagram(&v, from, d);
    }
    let (code, rest, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    assert_no_error(&err);
    assert_eq!(rest.len(), 1, "only the summary is left: {rest:?}");
    assert_eq!(rest[0]["event"], "summary");
}

#[test]
fn recv_json_summary_counts() {
    let mut nk = JsonRecv::start(&["--count", "3"]);
    let tx = tx_v4();
    for d in [&b"a"[..], &[b'b'; 10], &[b'c'; 100]] {
        tx.send_to(d, nk.addr()).unwrap();
    }
    for _ in 0..3 {
        nk.datagram();
    }
    let (code, rest, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(rest.len(), 1, "{rest:?}");
    let sum = &rest[0];
    assert_eq!(sum["event"], "summary");
    assert_eq!(sum["received"], 3, "{sum}");
    assert_eq!(sum["bytes_received"], 111, "{sum}");
    assert_eq!(sum["sent"], 0, "{sum}");
    assert_eq!(sum["bytes_sent"], 0, "{sum}");
    assert_eq!(sum["drops"], 0, "a kernel drop count, none here: {sum}");
    assert!(sum["elapsed"].as_f64().is_some_and(|e| e >= 0.0), "{sum}");
    assert!(sum["rate"].as_f64().is_some_and(|r| r >= 0.0), "{sum}");
}

#[test]
fn recv_count_exits_0_after_exactly_n() {
    let mut nk = JsonRecv::start(&["-c", "2"]);
    let tx = tx_v4();
    // Five at once: they may all land in one batch, yet only two are reported.
    for i in 0..5 {
        tx.send_to(format!("d{i}").as_bytes(), nk.addr()).unwrap();
    }
    let from = tx.local_addr().unwrap();
    assert_datagram(&nk.datagram(), from, b"d0");
    assert_datagram(&nk.datagram(), from, b"d1");
    let (code, rest, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        named(&rest, "datagram").is_empty(),
        "more than -c: {rest:?}"
    );
    let sum = named(&rest, "summary");
    assert_eq!(sum.len(), 1, "{rest:?}");
    assert_eq!(sum[0]["received"], 2);
    assert_eq!(sum[0]["bytes_received"], 4);
}

#[test]
fn recv_timeout_with_nothing_exits_5() {
    let (code, out, err) = run(
        &[
            "-q",
            "udp",
            "recv",
            "--bind",
            "127.0.0.1",
            "--timeout",
            "300ms",
            "0",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 5, "stderr: {err}");
    assert!(out.is_empty());
    assert_one_error_line(&err);
}

#[test]
fn recv_timeout_json_summary_and_error() {
    let nk = JsonRecv::start(&["--timeout", "300ms"]);
    let (code, rest, err) = nk.finish();
    assert_eq!(code, 5, "stderr: {err}");
    let sum = named(&rest, "summary");
    assert_eq!(sum.len(), 1, "{rest:?}");
    assert_eq!(sum[0]["received"], 0);
    let errors = named(&rest, "error");
    assert_eq!(errors.len(), 1, "{rest:?}");
    assert_eq!(errors[0]["exit"], 5);
    assert_one_error_line(&err);
}

#[test]
fn recv_timeout_after_traffic_without_count_exits_0() {
    let mut nk = JsonRecv::start(&["--timeout", "500ms"]);
    let tx = tx_v4();
    tx.send_to(b"one", nk.addr()).unwrap();
    assert_datagram(&nk.datagram(), tx.local_addr().unwrap(), b"one");
    let (code, rest, err) = nk.finish();
    assert_eq!(
        code, 0,
        "datagrams came, then the line went quiet; stderr: {err}"
    );
    assert_eq!(named(&rest, "summary")[0]["received"], 1);
}

#[test]
fn recv_timeout_short_of_count_exits_5() {
    let mut nk = JsonRecv::start(&["-c", "3", "--timeout", "500ms"]);
    let tx = tx_v4();
    tx.send_to(b"only one", nk.addr()).unwrap();
    nk.datagram();
    let (code, _rest, err) = nk.finish();
    assert_eq!(code, 5, "stderr: {err}");
    assert_one_error_line(&err);
}

#[test]
fn recv_raw_writes_payload_bytes_only() {
    let nk = HumanRecv::start(&["--raw", "-c", "4"]);
    let tx = tx_v4();
    for d in [&b"abc"[..], &[0x00, 0xff, b'\n'], b"", b"end"] {
        tx.send_to(d, nk.addr()).unwrap();
    }
    let (code, out, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, b"abc\x00\xff\nend", "payloads only, as they are");
    assert_no_error(&err);
}

#[test]
fn recv_human_text_line_with_source_and_length() {
    let nk = HumanRecv::start(&["-c", "2"]);
    let tx = tx_v4();
    let from = tx.local_addr().unwrap();
    tx.send_to(b"hello there", nk.addr()).unwrap();
    tx.send_to("tabs\tand ☃".as_bytes(), nk.addr()).unwrap();
    let (code, out, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{from}  11 B  hello there\n{from}  12 B  tabs\tand ☃\n")
    );
    assert_no_error(&err);
}

#[test]
fn recv_human_binary_payload_is_a_hex_dump() {
    let nk = HumanRecv::start(&["-c", "3"]);
    let tx = tx_v4();
    let from = tx.local_addr().unwrap();
    let short = [0xffu8, 0x00];
    let long: Vec<u8> = (0u8..40).map(|b| b.wrapping_mul(7)).collect();
    // Valid UTF-8 with a terminal escape in it: shown as hex, never raw.
    let escape = b"\x1b[31mred\x1b[0m";
    tx.send_to(&short, nk.addr()).unwrap();
    tx.send_to(&long, nk.addr()).unwrap();
    tx.send_to(escape, nk.addr()).unwrap();
    let (code, out, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    let expected = format!(
        "{from}  2 B  (binary)\n{}{from}  40 B  (binary)\n{}{from}  12 B  (binary)\n{}",
        hex_rows(&short),
        hex_rows(&long),
        hex_rows(escape)
    );
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}

#[test]
fn recv_echo_sends_each_datagram_back() {
    let mut nk = JsonRecv::start(&["--echo", "-c", "3"]);
    let tx = tx_v4();
    let sent: [&[u8]; 3] = [b"first", &[0u8, 1, 2, 255], b"third one"];
    for d in sent {
        tx.send_to(d, nk.addr()).unwrap();
        let (back, from) = recv_one(&tx);
        assert_eq!(back, d, "echoed exactly");
        assert_eq!(from, nk.addr(), "from the receiver's port");
    }
    for d in sent {
        assert_datagram(&nk.datagram(), tx.local_addr().unwrap(), d);
    }
    let (code, rest, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    let sum = named(&rest, "summary");
    assert_eq!(sum[0]["sent"], 3);
    assert_eq!(sum[0]["bytes_sent"], 18);
    assert_eq!(sum[0]["received"], 3);
    assert_no_more(&tx, "one echo per datagram");
}

#[test]
fn recv_largest_datagram_arrives_whole() {
    let mut nk = JsonRecv::start(&["-c", "1"]);
    let tx = tx_v4();
    let big = random_bytes(MAX_V4, 11);
    tx.send_to(&big, nk.addr()).unwrap();
    assert_datagram(&nk.datagram(), tx.local_addr().unwrap(), &big);
    assert_eq!(nk.finish().0, 0);
}

#[test]
fn recv_listen_alias() {
    let mut nk = JsonRecv::start_verb("listen", &["--bind", "127.0.0.1", "0", "-c", "1"]);
    let tx = tx_v4();
    tx.send_to(b"via listen", nk.addr()).unwrap();
    assert_datagram(&nk.datagram(), tx.local_addr().unwrap(), b"via listen");
    assert_eq!(nk.finish().0, 0);
}

#[test]
fn recv_default_bind_shows_ipv4_sources_plainly() {
    // Without --bind: every interface (dual-stack); an IPv4 sender is shown
    // as 127.0.0.1:PORT, not as ::ffff:127.0.0.1.
    let mut nk = JsonRecv::start_verb("recv", &["0", "-c", "1"]);
    let tx = tx_v4();
    tx.send_to(b"v4", nk.addr()).unwrap();
    assert_datagram(&nk.datagram(), tx.local_addr().unwrap(), b"v4");
    assert_eq!(nk.finish().0, 0);
}

#[test]
fn recv_ipv6_loopback() {
    let Some(tx) = rx_v6() else { return };
    let mut nk = JsonRecv::start_verb("recv", &["-6", "--bind", "::1", "0", "-c", "1"]);
    assert_eq!(nk.listening["addr"], format!("[::1]:{}", nk.port));
    let to = SocketAddr::from((Ipv6Addr::LOCALHOST, nk.port));
    tx.send_to(b"over v6", to).unwrap();
    assert_datagram(&nk.datagram(), tx.local_addr().unwrap(), b"over v6");
    assert_eq!(nk.finish().0, 0);
}

#[test]
fn recv_verbose_prints_the_summary_on_stderr() {
    let nk = HumanRecv::start(&["-v", "-c", "2"]);
    let tx = tx_v4();
    tx.send_to(b"abc", nk.addr()).unwrap();
    tx.send_to(b"de", nk.addr()).unwrap();
    let (code, out, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 2);
    assert!(
        err.contains("received 2 (5 B)") && err.contains("0 dropped by the kernel"),
        "summary on stderr: {err:?}"
    );
}

#[test]
fn recv_interrupted_prints_the_summary_and_exits_130() {
    let mut cmd = netkit();
    cmd.args(["udp", "recv", "--bind", "127.0.0.1", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let mut out = proc.stdout_lines();
    let mut err = proc.stderr_lines();
    let port = listening_port(&err.next_line(TIMEOUT).expect("listening line"));
    let tx = tx_v4();
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    tx.send_to(b"one", to).unwrap();
    tx.send_to(b"two!", to).unwrap();
    let from = tx.local_addr().unwrap();
    assert_eq!(
        out.next_line(TIMEOUT).unwrap(),
        format!("{from}  3 B  one\n")
    );
    assert_eq!(
        out.next_line(TIMEOUT).unwrap(),
        format!("{from}  4 B  two!\n")
    );
    proc.signal("INT");
    let status = proc.wait(TIMEOUT);
    assert_eq!(code(status), 130);
    let err = err.rest(TIMEOUT).concat();
    assert!(
        err.contains("received 2 (7 B)") && err.contains("0 dropped by the kernel"),
        "the summary on Ctrl-C: {err:?}"
    );
    assert_eq!(out.next_line(TIMEOUT), None, "nothing more on stdout");
}

#[test]
fn recv_interrupted_json_summary_is_last() {
    let mut nk = JsonRecv::start(&[]);
    let tx = tx_v4();
    tx.send_to(b"x", nk.addr()).unwrap();
    nk.datagram();
    nk.proc.signal("INT");
    let (code, rest, err) = nk.finish();
    assert_eq!(code, 130, "stderr: {err}");
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(rest[0]["event"], "summary");
    assert_eq!(rest[0]["received"], 1);
}

// ---------------------------------------------------------------------------
// udp recv: bad input

#[test]
fn recv_multicast_address_that_is_not_multicast_is_a_usage_error() {
    for bad in ["10.1.2.3", "127.0.0.1", "::1"] {
        let (code, out, err) = run(&["udp", "recv", "--multicast", bad, "0"], Stdio::null());
        assert_eq!(code, 2, "{bad}: stderr: {err}");
        assert!(out.is_empty());
        assert_one_error_line(&err);
        assert!(err.contains(bad) && err.contains("multicast"), "{err}");
    }
}

#[test]
fn recv_unknown_multicast_interface_is_a_usage_error() {
    let (code, _out, err) = run(
        &[
            "udp",
            "recv",
            "--multicast",
            "239.255.0.1",
            "--interface",
            "nosuchif0",
            "0",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("nosuchif0"), "{err}");
}

#[test]
fn recv_port_in_use_exits_1() {
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s(port_of(&holder));
    let (code, out, err) = run(
        &["udp", "recv", "--bind", "127.0.0.1", &port],
        Stdio::null(),
    );
    assert_eq!(code, 1, "stderr: {err}");
    assert!(out.is_empty());
    assert_one_error_line(&err);
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains("in use"),
        "{err}"
    );
    drop(holder);
}

#[test]
fn recv_port_in_use_on_every_interface_exits_1() {
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s(port_of(&holder));
    let (code, _out, err) = run(&["udp", "recv", "-4", &port], Stdio::null());
    // Binding 0.0.0.0:PORT while 127.0.0.1:PORT is held fails too.
    assert_eq!(code, 1, "stderr: {err}");
    assert_one_error_line(&err);
    drop(holder);
}

#[test]
fn recv_bad_port_and_flags_are_usage_errors() {
    for args in [
        &["udp", "recv", "65536"][..],
        &["udp", "recv", "-c", "0", "0"],
        &["udp", "recv", "--timeout", "forever", "0"],
        &["udp", "recv", "--interface", "lo", "0"],
        &["udp", "recv", "--bind", "not an ip", "0"],
    ] {
        let (code, _out, err) = run(args, Stdio::null());
        assert_eq!(code, 2, "{args:?}: stderr: {err}");
        assert_one_error_line(&err);
    }
}

// ===========================================================================
// Multicast on the loopback interface

/// Whether the kernel delivers a datagram sent to `group` on the loopback
/// interface to a socket joined there (checked with std sockets only).
/// `Err` says why not.
fn multicast_loopback_v4(group: Ipv4Addr) -> Result<(), String> {
    let rx = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    rx.set_reuse_address(true).unwrap();
    rx.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())
        .map_err(|e| format!("bind: {e}"))?;
    rx.join_multicast_v4(&group, &Ipv4Addr::LOCALHOST)
        .map_err(|e| format!("join {group} on 127.0.0.1: {e}"))?;
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = rx.local_addr().unwrap().as_socket().unwrap().port();
    let tx = mcast_sender_v4();
    tx.send_to(b"probe", SocketAddrV4::new(group, port))
        .map_err(|e| format!("send to {group}:{port} via 127.0.0.1: {e}"))?;
    let rx = UdpSocket::from(rx);
    let mut buf = [0u8; 16];
    match recv_from_retrying(&rx, &mut buf, Duration::from_secs(5)) {
        Ok((5, _)) => Ok(()),
        Ok((n, _)) => Err(format!("probe came back with {n} bytes")),
        Err(e) => Err(format!("the kernel did not loop the probe back: {e}")),
    }
}

/// A sender bound to 127.0.0.1 with IP_MULTICAST_IF = 127.0.0.1 and loop on.
fn mcast_sender_v4() -> UdpSocket {
    let tx = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    tx.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .unwrap();
    tx.set_multicast_if_v4(&Ipv4Addr::LOCALHOST).unwrap();
    tx.set_multicast_loop_v4(true).unwrap();
    tx.set_multicast_ttl_v4(0).unwrap();
    UdpSocket::from(tx)
}

fn loopback_index() -> Option<u32> {
    let name = std::ffi::CString::new("lo").unwrap();
    // SAFETY: a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => None,
        n => Some(n),
    }
}

fn multicast_loopback_v6(group: Ipv6Addr, index: u32) -> Result<(), String> {
    let rx = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    rx.set_reuse_address(true).unwrap();
    rx.set_only_v6(true).unwrap();
    rx.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
        .map_err(|e| format!("bind [::]: {e}"))?;
    rx.join_multicast_v6(&group, index)
        .map_err(|e| format!("join {group} on lo: {e}"))?;
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = rx.local_addr().unwrap().as_socket().unwrap().port();
    let tx = mcast_sender_v6(index);
    tx.send_to(b"probe", SocketAddrV6::new(group, port, 0, index))
        .map_err(|e| format!("send to [{group}%lo]:{port}: {e}"))?;
    let rx = UdpSocket::from(rx);
    let mut buf = [0u8; 16];
    match recv_from_retrying(&rx, &mut buf, Duration::from_secs(5)) {
        Ok((5, _)) => Ok(()),
        Ok((n, _)) => Err(format!("probe came back with {n} bytes")),
        Err(e) => Err(format!("the kernel did not loop the probe back: {e}")),
    }
}

fn mcast_sender_v6(index: u32) -> UdpSocket {
    let tx = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).unwrap();
    tx.set_multicast_if_v6(index).unwrap();
    tx.set_multicast_loop_v6(true).unwrap();
    UdpSocket::from(tx)
}

#[test]
fn recv_multicast_ipv4_group_on_loopback() {
    let group = Ipv4Addr::new(239, 255, 0, 1);
    if let Err(why) = multicast_loopback_v4(group) {
        eprintln!("skipping: IPv4 multicast on the loopback interface does not work here: {why}");
        return;
    }
    for iface in ["127.0.0.1", "lo"] {
        let mut nk = JsonRecv::start_verb(
            "recv",
            &[
                "--multicast",
                "239.255.0.1",
                "--interface",
                iface,
                "0",
                "-c",
                "2",
            ],
        );
        let tx = mcast_sender_v4();
        let to = SocketAddrV4::new(group, nk.port);
        tx.send_to(b"to the group", to).unwrap();
        tx.send_to(&[0xde, 0xad], to).unwrap();
        let from = tx.local_addr().unwrap();
        assert_datagram(&nk.datagram(), from, b"to the group");
        assert_datagram(&nk.datagram(), from, &[0xde, 0xad]);
        let (code, rest, err) = nk.finish();
        assert_eq!(code, 0, "--interface {iface}: stderr: {err}");
        assert_eq!(named(&rest, "summary")[0]["received"], 2);
    }
}

#[test]
fn recv_multicast_ipv6_group_on_loopback() {
    let group: Ipv6Addr = "ff02::1:3".parse().unwrap();
    let Some(index) = loopback_index() else {
        eprintln!("skipping: no `lo` interface");
        return;
    };
    if let Err(why) = multicast_loopback_v6(group, index) {
        eprintln!(
            "skipping: the kernel refuses IPv6 multicast on the loopback interface here \
             ({why}); netkit's IPv6 join is not exercised"
        );
        return;
    }
    let mut nk = JsonRecv::start_verb(
        "recv",
        &[
            "--multicast",
            "ff02::1:3",
            "--interface",
            "lo",
            "0",
            "-c",
            "1",
        ],
    );
    let tx = mcast_sender_v6(index);
    tx.send_to(b"v6 group", SocketAddrV6::new(group, nk.port, 0, index))
        .unwrap();
    let v = nk.datagram();
    assert_eq!(payload(&v), b"v6 group");
    assert_eq!(nk.finish().0, 0);
}

#[test]
fn recv_multicast_ipv6_join_on_loopback_succeeds() {
    // Even where the kernel will not loop IPv6 multicast back on `lo`, the
    // join itself must work: netkit then waits and times out (5), it does
    // not fail to start.
    if rx_v6().is_none() {
        return;
    }
    let nk = JsonRecv::start_verb(
        "recv",
        &[
            "--multicast",
            "ff02::1:3",
            "--interface",
            "lo",
            "0",
            "--timeout",
            "200ms",
        ],
    );
    let (code, _rest, err) = nk.finish();
    assert_eq!(code, 5, "stderr: {err}");
}

// ===========================================================================
// Interop: socat and OpenBSD nc as senders and receivers

/// `socat -d -d -u -x UDP-RECV:PORT,bind=127.0.0.1 -`, ready to receive.
/// socat logs one `received packet with N bytes from AF=2 ADDR` line per
/// datagram, which is how boundaries are checked; stdout is the payloads
/// concatenated.
struct SocatRecv {
    proc: Proc,
    port: u16,
    stderr: Lines,
    stdout: Collector,
}

impl SocatRecv {
    fn start() -> SocatRecv {
        let port = free_udp_port();
        let mut cmd = Command::new("socat");
        cmd.args(["-d", "-d", "-u", "-b", "70000"])
            .arg(format!("UDP-RECV:{port},bind=127.0.0.1"))
            .arg("STDOUT")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd);
        let stdout = proc.stdout_bytes();
        let mut stderr = proc.stderr_lines();
        stderr.wait_for(TIMEOUT, "socat ready", |l| {
            l.contains("starting data transfer loop")
        });
        SocatRecv {
            proc,
            port,
            stderr,
            stdout,
        }
    }

    /// The next `n` datagrams as socat logged them: (length, source).
    fn packets(&mut self, n: usize) -> Vec<(usize, SocketAddr)> {
        (0..n)
            .map(|_| {
                let line = self.stderr.wait_for(TIMEOUT, "a received packet", |l| {
                    l.contains("received packet with")
                });
                // "... N received packet with 5 bytes from AF=2 127.0.0.1:58890"
                let words: Vec<&str> = line.split_whitespace().collect();
                let i = words.iter().position(|w| *w == "with").unwrap();
                let len = words[i + 1].parse().unwrap();
                let from = words.last().unwrap().parse().unwrap();
                (len, from)
            })
            .collect()
    }

    fn stop(mut self) -> Vec<u8> {
        self.proc.signal("TERM");
        self.proc.wait(TIMEOUT);
        self.stdout.join()
    }
}

#[test]
fn send_to_socat_keeps_boundaries() {
    if !require_peer("socat") {
        return;
    }
    let mut socat = SocatRecv::start();
    let (code, _out, err) = send_with_input(
        &["127.0.0.1", &s(socat.port)],
        b"hello\nw o r l d\nthird line here\n",
    );
    assert_eq!(code, 0, "stderr: {err}");
    let packets = socat.packets(3);
    let lengths: Vec<usize> = packets.iter().map(|p| p.0).collect();
    assert_eq!(
        lengths,
        vec![5, 9, 15],
        "one datagram per line: {packets:?}"
    );
    assert!(packets.iter().all(|p| p.1 == packets[0].1), "{packets:?}");
    let (code, _out, err) = send(&["--hex", "127.0.0.1", &s(socat.port), "00ff10", "abcdef01"]);
    assert_eq!(code, 0, "stderr: {err}");
    let lengths: Vec<usize> = socat.packets(2).iter().map(|p| p.0).collect();
    assert_eq!(lengths, vec![3, 4]);
    let out = socat.stop();
    assert_eq!(
        out,
        b"hellow o r l dthird line here\x00\xff\x10\xab\xcd\xef\x01".to_vec()
    );
}

#[test]
fn send_to_nc_listener() {
    if !require_peer("nc") {
        return;
    }
    let (mut nc, port, _log) = spawn_peer_listener(
        Command::new("nc")
            .args(["-u", "-v", "-n", "-l", "127.0.0.1", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
        |line| {
            // "Bound on 127.0.0.1 40123"
            let rest = line.strip_prefix("Bound on ")?;
            rest.split_whitespace().last()?.parse().ok()
        },
    );
    let mut out = nc.stdout_lines();
    let (code, _o, err) = send(&["127.0.0.1", &s(port), "first\n", "second\n"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out.next_line(TIMEOUT).as_deref(), Some("first\n"));
    assert_eq!(out.next_line(TIMEOUT).as_deref(), Some("second\n"));
}

#[test]
fn recv_from_socat_sender_one_event_per_datagram() {
    if !require_peer("socat") {
        return;
    }
    let data = random_bytes(300, 5);
    let file = TempFile::with("socat-300", &data);
    let mut nk = JsonRecv::start(&["-c", "4"]);
    // -b 100 on a regular file: three reads of 100 bytes, three datagrams.
    let status = Command::new("socat")
        .args(["-u", "-b", "100"])
        .arg(format!("OPEN:{}", file.path.display()))
        .arg(format!("UDP-SENDTO:127.0.0.1:{}", nk.port))
        .stdin(Stdio::null())
        .status()
        .expect("run socat");
    assert!(status.success(), "socat: {status}");
    let mut sources = Vec::new();
    for chunk in data.chunks(100) {
        let v = nk.datagram();
        assert_eq!(v["length"], 100, "{v}");
        assert_eq!(payload(&v), chunk);
        sources.push(v["from"].clone());
    }
    assert!(sources.iter().all(|f| *f == sources[0]), "{sources:?}");
    let mut socat = Command::new("socat")
        .args(["-u", "STDIN"])
        .arg(format!("UDP-SENDTO:127.0.0.1:{}", nk.port))
        .stdin(Stdio::piped())
        .spawn()
        .expect("run socat");
    socat
        .stdin
        .take()
        .unwrap()
        .write_all("text from socat ☃".as_bytes())
        .unwrap();
    assert!(wait_timeout(&mut socat, TIMEOUT, "socat").success());
    let v = nk.datagram();
    assert_eq!(v["text"], "text from socat ☃", "{v}");
    let (code, _rest, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
}

#[test]
fn recv_from_nc_sender_one_event_per_datagram() {
    if !require_peer("nc") {
        return;
    }
    let mut nk = JsonRecv::start(&["-c", "2"]);
    for msg in ["hello from nc", "second nc datagram"] {
        let mut nc = Command::new("nc")
            .args(["-u", "-n", "-w", "1", "127.0.0.1", &s(nk.port)])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run nc");
        nc.stdin.take().unwrap().write_all(msg.as_bytes()).unwrap();
        let v = nk.datagram();
        assert_eq!(v["text"], msg, "{v}");
        assert_eq!(v["length"], msg.len());
        wait_timeout(&mut nc, TIMEOUT, "nc");
    }
    let (code, _rest, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
}

#[test]
fn netkit_to_netkit_keeps_every_boundary() {
    let lines: Vec<String> = (0..100)
        .map(|i| {
            if i % 10 == 0 {
                String::new()
            } else {
                format!("{i}:{}", "x".repeat(i * 7))
            }
        })
        .collect();
    let mut nk = JsonRecv::start(&["-c", "100"]);
    let mut input = lines.join("\n").into_bytes();
    input.push(b'\n');
    let (code, _out, err) = send_with_input(&["127.0.0.1", &s(nk.port)], &input);
    assert_eq!(code, 0, "stderr: {err}");
    for l in &lines {
        let v = nk.datagram();
        assert_eq!(v["length"], l.len(), "{v}");
        assert_eq!(v["text"], l.as_str(), "{v}");
    }
    let (code, rest, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(named(&rest, "summary")[0]["received"], 100);
}

// ===========================================================================
// More of udp send: hex lines with separators, streaming stdin, a terminal

#[test]
fn send_hex_stdin_line_with_separators_is_one_datagram() {
    // 50,000 bytes written as `ab ab ab ...`: 149,999 characters on one line,
    // one datagram of 50,000 bytes (well under the limit).
    let rx = rx_v4();
    let mut line = vec!["ab"; 50_000].join(" ").into_bytes();
    line.push(b'\n');
    let (code, _out, err) = send_with_input(&["--hex", "127.0.0.1", &s(port_of(&rx))], &line);
    assert_eq!(code, 0, "stderr: {err}");
    let (p, _) = recv_one(&rx);
    assert_eq!(
        p.len(),
        50_000,
        "one hex line must be one datagram, not cut where the text got long"
    );
    assert!(p.iter().all(|&b| b == 0xab));
    assert_no_more(&rx, "one hex line, one datagram");
}

#[test]
fn send_hex_stdin_line_over_the_limit_with_separators_is_a_usage_error() {
    let rx = rx_v4();
    let mut line = vec!["cd"; MAX_V4 + 1].join(":").into_bytes();
    line.push(b'\n');
    let (code, _out, err) = send_with_input(&["--hex", "127.0.0.1", &s(port_of(&rx))], &line);
    assert_eq!(code, 2, "65,508 bytes in one hex line; stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("65507"), "{err}");
    assert_no_more(&rx, "nothing of the over-long line is sent");
}

#[test]
fn send_stdin_lines_are_sent_as_they_come() {
    let rx = rx_v4();
    let mut cmd = netkit();
    cmd.args(["udp", "send", "127.0.0.1", &s(port_of(&rx))])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let err = proc.stderr_bytes();
    let mut stdin = proc.take_stdin();
    stdin.write_all(b"first\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(recv_one(&rx).0, b"first", "sent before stdin ends");
    stdin.write_all(b"second\nthird, unterminated").unwrap();
    stdin.flush().unwrap();
    assert_eq!(recv_one(&rx).0, b"second");
    assert_no_more(&rx, "an unterminated line waits for its end");
    drop(stdin);
    assert_eq!(recv_one(&rx).0, b"third, unterminated", "sent at EOF");
    assert_eq!(code(proc.wait(TIMEOUT)), 0, "stderr: {}", err.text());
}

#[test]
fn send_raw_sends_each_write_as_it_comes() {
    let rx = rx_v4();
    let mut cmd = netkit();
    cmd.args(["udp", "send", "--raw", "127.0.0.1", &s(port_of(&rx))])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let err = proc.stderr_bytes();
    let mut stdin = proc.take_stdin();
    for chunk in [&b"no newline"[..], b"\x00\x01", b"x\ny\n"] {
        stdin.write_all(chunk).unwrap();
        stdin.flush().unwrap();
        assert_eq!(recv_one(&rx).0, chunk, "each write, as it comes");
    }
    drop(stdin);
    assert_eq!(code(proc.wait(TIMEOUT)), 0, "stderr: {}", err.text());
    assert_no_more(&rx, "EOF sends nothing more");
}

#[test]
fn send_refused_is_reported_while_stdin_is_still_open() {
    let port = free_udp_port();
    let mut cmd = netkit();
    cmd.args(["udp", "send", "127.0.0.1", &s(port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let err = proc.stderr_bytes();
    let mut stdin = proc.take_stdin();
    stdin.write_all(b"anyone there?\n").unwrap();
    stdin.flush().unwrap();
    // stdin stays open: the ICMP error alone must end the run.
    let status = proc.wait(TIMEOUT);
    drop(stdin);
    let err = err.text();
    assert_eq!(code(status), 4, "stderr: {err}");
    assert_one_error_line(&err);
}

#[test]
fn send_lines_typed_in_a_terminal() {
    if !require_peer("python3") {
        return;
    }
    let rx = rx_v4();
    let port = s(port_of(&rx));
    let mut helper = spawn_with_tty(&["udp", "send", "127.0.0.1", &port], "typed line\n");
    let err = helper.stderr_bytes();
    assert_eq!(
        recv_one(&rx).0,
        b"typed line",
        "a terminal line is a datagram"
    );
    // Ctrl-D ends the input.
    let mut go = helper.take_stdin();
    go.write_all(b"d").unwrap();
    drop(go);
    let status = helper.wait(TIMEOUT);
    assert_eq!(code(status), 0, "stderr: {}", err.text());
    assert_no_more(&rx, "one line typed");
}

#[test]
fn send_to_localhost_by_name() {
    let rx = rx_v4();
    let (code, _out, err) = send(&["-4", "localhost", &s(port_of(&rx)), "by name"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(recv_one(&rx).0, b"by name");
}

#[test]
fn send_from_a_source_port_in_use_exits_1() {
    let holder = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rx = rx_v4();
    let source = format!("127.0.0.1:{}", port_of(&holder));
    let (code, _out, err) = send(&["--source", &source, "127.0.0.1", &s(port_of(&rx)), "x"]);
    assert_eq!(code, 1, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains(&source), "{err}");
    assert_no_more(&rx, "nothing sent");
}

#[test]
fn send_to_a_broadcast_address_needs_the_flag() {
    // Refused by the kernel before anything leaves the host.
    let (code, _out, err) = send(&["255.255.255.255", "9", "x"]);
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("--broadcast"), "says what to do: {err}");
}

#[test]
fn send_interrupted_exits_130_with_a_summary() {
    let rx = rx_v4();
    let mut cmd = netkit();
    cmd.args(["udp", "send", "-c", "1000", "-n", "1s", "127.0.0.1"])
        .arg(s(port_of(&rx)))
        .arg("tick")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let out = proc.stdout_bytes();
    let err = proc.stderr_bytes();
    assert_eq!(recv_one(&rx).0, b"tick");
    proc.signal("INT");
    let status = proc.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 130, "stderr: {err}");
    assert!(out.join().is_empty());
    assert!(
        err.contains("sent ") && err.contains("(4 B)"),
        "summary: {err:?}"
    );
}

// ===========================================================================
// More of udp recv: closed stdout, kernel drops, echo to a vanished sender

#[test]
fn recv_closed_stdout_ends_quietly_with_0() {
    let mut cmd = netkit();
    cmd.args(["udp", "recv", "--bind", "127.0.0.1", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let mut err = proc.stderr_lines();
    let port = listening_port(&err.next_line(TIMEOUT).expect("listening line"));
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let tx = tx_v4();
    tx.send_to(b"one", to).unwrap();
    let mut stdout = proc.child.stdout.take().unwrap();
    let mut buf = [0u8; 256];
    let n = io::Read::read(&mut stdout, &mut buf).unwrap();
    assert!(n > 0 && buf[..n].ends_with(b"one\n"));
    drop(stdout); // like `| head -1`
                  // Keep sending until netkit notices (one write may still fit a pipe
                  // buffer that is being torn down).
    let deadline = std::time::Instant::now() + TIMEOUT;
    while proc.running() {
        assert!(std::time::Instant::now() < deadline, "netkit kept running");
        tx.send_to(b"more", to).unwrap();
        thread::sleep(Duration::from_millis(50));
    }
    let status = proc.wait(TIMEOUT);
    let err = err.rest(TIMEOUT).concat();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_eq!(err, "", "quietly");
}

/// (rx_queue bytes, drops) of the UDP socket bound to 127.0.0.1:`port`, from
/// /proc/net/udp.
fn kernel_udp_counters(port: u16) -> Option<(u64, u64)> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&local.as_str()) {
            return None;
        }
        let rx_queue = u64::from_str_radix(f[4].split(':').nth(1)?, 16).ok()?;
        let drops = f.last()?.parse().ok()?;
        Some((rx_queue, drops))
    })
}

#[test]
fn recv_reports_the_kernels_drop_count() {
    if std::fs::metadata("/proc/net/udp").is_err() {
        eprintln!("skipping: no /proc/net/udp to compare with");
        return;
    }
    let mut nk = JsonRecv::start(&[]);
    let to = nk.addr();
    // Stop netkit, overflow its receive buffer, let it go on.
    nk.proc.signal("STOP");
    let tx = tx_v4();
    const FLOOD: usize = 100_000;
    for _ in 0..FLOOD {
        // A full queue drops silently on the receiver's side.
        tx.send_to(&[b'f'; 64], to).unwrap();
    }
    nk.proc.signal("CONT");
    // Wait until netkit has taken everything queued off the socket.
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let (queued, _) = kernel_udp_counters(nk.port).expect("netkit's socket in /proc");
        if queued == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "netkit never drained");
        thread::sleep(Duration::from_millis(20));
    }
    // One more datagram, into an empty queue: it carries the drop count.
    tx.send_to(b"marker", to).unwrap();
    let mut received = 0u64;
    loop {
        let v = nk.datagram();
        received += 1;
        if v["text"] == "marker" {
            break;
        }
        assert_eq!(v["length"], 64, "{v}");
    }
    let (_, kernel_drops) = kernel_udp_counters(nk.port).unwrap();
    assert!(
        kernel_drops > 0,
        "the flood should have overflowed the buffer"
    );
    nk.proc.signal("INT");
    let (code, rest, err) = nk.finish();
    assert_eq!(code, 130, "stderr: {err}");
    let sum = named(&rest, "summary");
    assert_eq!(sum.len(), 1, "{rest:?}");
    assert_eq!(sum[0]["received"], received, "{}", sum[0]);
    assert_eq!(
        sum[0]["drops"], kernel_drops,
        "netkit's drops = the kernel's"
    );
    assert!(
        received + kernel_drops <= FLOOD as u64 + 1,
        "received {received} + dropped {kernel_drops} > sent {}",
        FLOOD + 1
    );
}

#[test]
fn recv_echo_to_a_vanished_sender_keeps_serving() {
    let mut nk = JsonRecv::start(&["--echo", "-c", "3"]);
    for i in 0..2 {
        // The sender is gone before the echo arrives: ICMP comes back.
        let gone = UdpSocket::bind("127.0.0.1:0").unwrap();
        gone.send_to(format!("gone {i}").as_bytes(), nk.addr())
            .unwrap();
        drop(gone);
        nk.datagram();
    }
    let tx = tx_v4();
    tx.send_to(b"still there?", nk.addr()).unwrap();
    assert_eq!(recv_one(&tx).0, b"still there?");
    assert_datagram(&nk.datagram(), tx.local_addr().unwrap(), b"still there?");
    let (code, _rest, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
}

#[test]
fn send_crlf_stdin_lines_lose_the_cr() {
    let rx = rx_v4();
    let (code, _out, err) = send_with_input(
        &["127.0.0.1", &s(port_of(&rx))],
        b"dos line\r\n\r\nlast\r\n",
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        payloads(&rx, 3),
        vec![b"dos line".to_vec(), b"".to_vec(), b"last".to_vec()]
    );
    assert_no_more(&rx, "3 CRLF lines");
}

#[test]
fn send_crlf_stdin_line_at_the_limit_is_sent() {
    // 65,507 bytes of content, then CR LF: the CR is dropped like on any
    // other line, so the datagram is exactly at the limit.
    let rx = rx_v4();
    let mut input = "c".repeat(MAX_V4).into_bytes();
    input.extend_from_slice(b"\r\n");
    let (code, _out, err) = send_with_input(&["127.0.0.1", &s(port_of(&rx))], &input);
    assert_eq!(code, 0, "stderr: {err}");
    let (p, _) = recv_one(&rx);
    assert_eq!(p.len(), MAX_V4);
    assert!(p.iter().all(|&b| b == b'c'), "no CR in the datagram");
}

#[test]
fn recv_human_datagram_with_line_breaks_is_one_line() {
    let nk = HumanRecv::start(&["-c", "2"]);
    let tx = tx_v4();
    let from = tx.local_addr().unwrap();
    tx.send_to(b"one\ntwo\n", nk.addr()).unwrap();
    tx.send_to(b"cr\rlf", nk.addr()).unwrap();
    let (code, out, err) = nk.finish();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("{from}  8 B  one\\ntwo\n{from}  5 B  cr\\rlf\n"),
        "one line per datagram"
    );
}
