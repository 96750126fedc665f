//! `netkit tcp connect` against real peers on loopback: socat, OpenBSD nc and
//! std servers written here. Byte-exact transfers, half-close, the pipe
//! options, every error exit code, SIGINT, a closed stdout and IPv6.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::*;

const REQUEST: &[u8] = b"GET / HTTP/1.0\r\n\r\n";
const REPLY: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from the server\n";

fn port_s(port: u16) -> String {
    port.to_string()
}

// ---------------------------------------------------------------------------
// 64 MiB byte-exact, both directions

/// Fails with how far a transfer got when netkit had to be killed.
fn assert_finished(code: Option<i32>, got: usize, want: usize, err: &str) {
    assert!(
        code.is_some(),
        "netkit did not finish within {TIMEOUT:?} and was killed: the receiver had \
         {got} of {want} bytes (a stalled transfer); stderr: {err}"
    );
}

#[test]
fn sends_64_mib_exactly_to_socat_listener() {
    if !require_peer("socat") {
        return;
    }
    let data = random_bytes(64 * MIB, 1);
    let file = TempFile::with("to-socat", &data);
    let (mut socat, port, _log) = socat_listener(
        &["-u", "TCP-LISTEN:0,bind=127.0.0.1", "STDOUT"],
        Stdio::piped(),
        Stdio::null(),
    );
    let received = socat.stdout_bytes();
    let (code, out, err) = start(
        &["tcp", "connect", "127.0.0.1", &port_s(port)],
        file.stdio(),
    )
    .finish(TIMEOUT);
    socat.wait(TIMEOUT);
    let received = received.join();
    assert_finished(code, received.len(), data.len(), &err);
    assert_eq!(code, Some(0), "netkit exit; stderr: {err}");
    assert_no_error(&err);
    assert!(out.is_empty(), "socat -u sends nothing back");
    assert_same_bytes("socat received", &data, &received);
}

#[test]
fn receives_64_mib_exactly_from_socat_listener() {
    if !require_peer("socat") {
        return;
    }
    let data = random_bytes(64 * MIB, 2);
    let file = TempFile::with("from-socat", &data);
    let open = format!("OPEN:{}", file.path.display());
    let (mut socat, port, _log) = socat_listener(
        &["-u", &open, "TCP-LISTEN:0,bind=127.0.0.1"],
        Stdio::null(),
        Stdio::null(),
    );
    let (code, out, err) = start(
        &["tcp", "connect", "127.0.0.1", &port_s(port)],
        Stdio::null(),
    )
    .finish(TIMEOUT);
    assert_finished(code, out.len(), data.len(), &err);
    assert_eq!(code, Some(0), "netkit exit; stderr: {err}");
    assert_no_error(&err);
    assert_same_bytes("netkit stdout", &data, &out);
    assert!(socat.wait(TIMEOUT).success());
}

#[test]
fn sends_64_mib_exactly_to_nc_listener_from_a_pipe() {
    if !require_peer("nc") {
        return;
    }
    let data = random_bytes(64 * MIB, 3);
    // -d: nc does not read its stdin, so it never half-closes toward netkit.
    let (mut nc, port, _log) = nc_listener(&["-d"], Stdio::piped(), Stdio::null());
    let received = nc.stdout_bytes();
    let mut run = start(
        &["tcp", "connect", "127.0.0.1", &port_s(port)],
        Stdio::piped(),
    );
    let writer = feed(run.proc.take_stdin(), data.clone());
    let (code, out, err) = run.finish(TIMEOUT);
    writer.join().unwrap();
    nc.wait(TIMEOUT);
    let received = received.join();
    assert_finished(code, received.len(), data.len(), &err);
    assert_eq!(code, Some(0), "netkit exit; stderr: {err}");
    assert_no_error(&err);
    assert!(out.is_empty());
    assert_same_bytes("nc received", &data, &received);
}

#[test]
fn receives_64_mib_exactly_from_nc_listener() {
    if !require_peer("nc") {
        return;
    }
    let data = random_bytes(64 * MIB, 4);
    let file = TempFile::with("from-nc", &data);
    let (mut nc, port, _log) = nc_listener(&["-N"], Stdio::null(), file.stdio());
    let (code, out, err) = start(
        &["tcp", "connect", "--recv-only", "127.0.0.1", &port_s(port)],
        Stdio::null(),
    )
    .finish(TIMEOUT);
    assert_finished(code, out.len(), data.len(), &err);
    assert_eq!(code, Some(0), "netkit exit; stderr: {err}");
    assert_no_error(&err);
    assert_same_bytes("netkit stdout", &data, &out);
    nc.wait(TIMEOUT);
}

// ---------------------------------------------------------------------------
// Half-close

#[test]
fn half_close_gets_the_whole_reply_from_std_server() {
    let (port, server) = serve_once(|mut s| {
        let request = read_all(&mut s);
        s.write_all(REPLY).unwrap();
        request
    });
    let (code, out, err) = run_with_input(&["tcp", "connect", "127.0.0.1", &port_s(port)], REQUEST);
    assert_eq!(code, 0, "stderr: {err}");
    assert_no_error(&err);
    assert_same_bytes("reply on stdout", REPLY, &out);
    assert_same_bytes("request at the server", REQUEST, &server.join().unwrap());
}

#[test]
fn half_close_gets_the_whole_reply_from_socat_server() {
    if !require_peer("socat") {
        return;
    }
    // `wc -c` reads the request to EOF (which needs netkit's half-close),
    // then answers with its length.
    let (mut socat, port, _log) = socat_listener(
        &["-t", "20", "TCP-LISTEN:0,bind=127.0.0.1", "SYSTEM:wc -c"],
        Stdio::null(),
        Stdio::null(),
    );
    let (code, out, err) = run_with_input(&["tcp", "connect", "127.0.0.1", &port_s(port)], REQUEST);
    assert_eq!(code, 0, "stderr: {err}");
    assert_no_error(&err);
    assert_eq!(String::from_utf8_lossy(&out), "18\n");
    socat.wait(TIMEOUT);
}

#[test]
fn no_shutdown_keeps_the_write_side_open_and_exits_when_peer_closes() {
    let (port, server) = serve_once(|mut s| {
        let request = read_n(&mut s, REQUEST.len());
        // With --no-shutdown, stdin EOF must not reach us as a FIN.
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let mut b = [0u8; 64];
        let after = std::io::Read::read(&mut s, &mut b);
        s.write_all(REPLY).unwrap();
        (request, after.map_err(|e| e.kind()))
    });
    let (code, out, err) = run_with_input(
        &[
            "tcp",
            "connect",
            "--no-shutdown",
            "127.0.0.1",
            &port_s(port),
        ],
        REQUEST,
    );
    let (request, after) = server.join().unwrap();
    assert_same_bytes("request", REQUEST, &request);
    match after {
        Err(std::io::ErrorKind::WouldBlock) | Err(std::io::ErrorKind::TimedOut) => {}
        Ok(0) => panic!("--no-shutdown: the server got EOF (netkit half-closed)"),
        other => panic!("--no-shutdown: unexpected read after the request: {other:?}"),
    }
    assert_eq!(code, 0, "stderr: {err}");
    assert_no_error(&err);
    assert_same_bytes("reply", REPLY, &out);
}

// ---------------------------------------------------------------------------
// Peer closes first

#[test]
fn peer_closing_first_ends_netkit_at_stdin_eof_with_everything_printed() {
    let data = random_bytes(MIB + 123, 5);
    let sent = data.clone();
    let (port, server) = serve_once(move |mut s| {
        s.write_all(&sent).unwrap();
        // Close without reading: netkit's stdin is still open.
    });
    let mut cmd = netkit();
    cmd.args(["tcp", "connect", "127.0.0.1", &port_s(port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd);
    let stdin = p.take_stdin();
    let out = p.stdout_bytes();
    let err = p.stderr_bytes();
    server.join().unwrap();
    // The FIN may be a half-close: netkit waits for stdin's end.
    drop(stdin);
    let status = p.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_no_error(&err);
    assert_same_bytes("stdout", &data, &out.join());
}

// ---------------------------------------------------------------------------
// The peer's FIN is a half-close: stdin keeps flowing until it ends

/// `netkit tcp connect [EXTRA...] 127.0.0.1 PORT` with stdin piped: the
/// process, its stdin, stdout and stderr.
fn spawn_connect(port: u16, extra: &[&str]) -> (Proc, ChildStdin, Collector, Collector) {
    let mut cmd = netkit();
    cmd.args(["tcp", "connect"])
        .args(extra)
        .args(["127.0.0.1", &port_s(port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd);
    let stdin = p.take_stdin();
    let out = p.stdout_bytes();
    let err = p.stderr_bytes();
    (p, stdin, out, err)
}

/// `(echo one; <pause>; echo two) | netkit tcp connect` to a listener that
/// half-closed at once (its stdin is /dev/null) and prints what it gets on
/// the `lines` of its stdout: the listener must get both lines, and netkit
/// must exit 0. The pause is longer than the 1 s "stdin idle" rule netkit
/// used to apply after the peer's FIN (it proves no such timer fires).
fn one_pause_two(port: u16, got: &mut Lines) {
    let (mut p, mut stdin, out, err) = spawn_connect(port, &[]);
    stdin.write_all(b"one\n").unwrap();
    assert_eq!(
        got.next_line(TIMEOUT).as_deref(),
        Some("one\n"),
        "the listener printed something else first"
    );
    thread::sleep(Duration::from_millis(1500));
    // netkit may have left already (the bug): the write's error is moot,
    // the listener's output below says what arrived.
    let _ = stdin.write_all(b"two\n");
    drop(stdin);
    let status = p.wait(TIMEOUT);
    let err = err.text();
    let rest = got.rest(TIMEOUT).concat();
    assert_eq!(format!("one\n{rest}"), "one\ntwo\n", "netkit stderr: {err}");
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_no_error(&err);
    assert!(out.join().is_empty());
}

#[test]
fn after_a_netkit_listeners_fin_stdin_keeps_flowing_until_it_ends() {
    let mut l = HumanListener::start(&[], Stdio::null(), Stdio::piped());
    let mut got = l.proc.stdout_lines();
    one_pause_two(l.port, &mut got);
    let status = l.proc.wait(TIMEOUT);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 0, "listener stderr: {err}");
}

#[test]
fn after_an_nc_listeners_fin_stdin_keeps_flowing_until_it_ends() {
    if !require_peer("nc") {
        return;
    }
    // -N: nc half-closes at its stdin's EOF (/dev/null: at once).
    let (mut nc, port, _log) = nc_listener(&["-N"], Stdio::piped(), Stdio::null());
    let mut got = nc.stdout_lines();
    one_pause_two(port, &mut got);
    nc.wait(TIMEOUT);
}

#[test]
fn a_reset_after_the_peers_fin_exits_4_naming_the_undelivered_bytes() {
    let (read_tx, read_rx) = mpsc::channel();
    let (port, server) = serve_once(move |mut s| {
        shut_write(&s); // FIN: netkit keeps sending stdin
        let line = read_line(&mut s);
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s); // RST: the peer is really gone
        read_tx.send(()).unwrap();
        line
    });
    let (mut p, mut stdin, out, err) = spawn_connect(port, &[]);
    stdin.write_all(b"one\n").unwrap();
    read_rx
        .recv_timeout(TIMEOUT)
        .expect("the server never got the first line");
    let _ = stdin.write_all(b"two\n");
    drop(stdin);
    let status = p.wait(TIMEOUT);
    assert_eq!(server.join().unwrap(), "one\n");
    let err = err.text();
    assert_eq!(code(status), 4, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(
        err.ends_with(&format!(
            "127.0.0.1:{port}: connection reset by peer; 4 bytes of stdin not delivered\n"
        )),
        "{err}"
    );
    assert!(out.join().is_empty());
}

#[test]
fn bytes_sent_to_a_peer_that_had_closed_completely_are_reported_not_delivered() {
    // The peer closes completely; its FIN looks like a half-close. What
    // netkit sends afterwards is answered with a reset, yet the write
    // succeeds locally and stdin ends right after: an exit 0 there would
    // tell a script the bytes were delivered.
    let (port, server) = serve_once(|mut s| {
        s.write_all(b"bye\n").unwrap();
        drop(s);
    });
    let mut cmd = netkit();
    cmd.args(["tcp", "connect", "127.0.0.1", &port_s(port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd);
    let mut stdin = p.take_stdin();
    let mut got = p.stdout_lines();
    let err = p.stderr_bytes();
    server.join().unwrap();
    assert_eq!(got.next_line(TIMEOUT).as_deref(), Some("bye\n"));
    let _ = stdin.write_all(b"lost\n");
    drop(stdin);
    let status = p.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 4, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(
        err.ends_with("connection reset by peer; 5 bytes of stdin not delivered\n"),
        "{err}"
    );
}

#[test]
fn quit_after_ends_the_session_after_stdin_eof_though_the_peer_never_closes() {
    // 0: at once, yet only once the peer has acknowledged every byte.
    for (dur, len) in [("300ms", 6), ("0", 4 * MIB)] {
        let data = random_bytes(len, 21);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (port, server) = serve_once(move |mut s| {
            // Up to netkit's FIN, then hold the connection open (no FIN of
            // its own) until netkit has exited.
            let got = read_all(&mut s);
            let _ = release_rx.recv_timeout(TIMEOUT);
            got
        });
        let (code, out, err) = run_with_input(
            &[
                "tcp",
                "connect",
                "--quit-after",
                dur,
                "127.0.0.1",
                &port_s(port),
            ],
            &data,
        );
        release_tx.send(()).unwrap();
        assert_same_bytes("server received", &data, &server.join().unwrap());
        assert_eq!(code, 0, "--quit-after {dur}: stderr: {err}");
        assert_no_error(&err);
        assert!(out.is_empty());
    }
}

#[test]
fn on_a_terminal_the_peers_fin_ends_the_session_at_once() {
    if !require_peer("python3") {
        return;
    }
    let (port, server) = serve_once(|mut s| {
        s.write_all(b"bye\n").unwrap();
        shut_write(&s);
        read_all(&mut s)
    });
    // Nothing is typed and no Ctrl-D comes: only the FIN can end netkit.
    let mut helper = spawn_with_tty(&["tcp", "connect", "127.0.0.1", &port_s(port)], "");
    let go = helper.take_stdin();
    let out = helper.stdout_bytes();
    let err = helper.stderr_bytes();
    drop(go);
    let status = helper.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_no_error(&err);
    assert_eq!(out.join(), b"bye\n");
    assert!(server.join().unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// --send-only, --recv-only, --hex, -v, --json

#[test]
fn send_only_sends_stdin_and_discards_what_the_peer_sends() {
    let (port, server) = serve_once(|mut s| {
        s.write_all(b"220 banner that must not reach stdout\r\n")
            .unwrap();
        read_all(&mut s)
    });
    let payload = random_bytes(100_000, 6);
    let (code, out, err) = run_with_input(
        &["tcp", "connect", "--send-only", "127.0.0.1", &port_s(port)],
        &payload,
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_no_error(&err);
    assert!(
        out.is_empty(),
        "--send-only printed {:?}",
        String::from_utf8_lossy(&out)
    );
    assert_same_bytes("server received", &payload, &server.join().unwrap());
}

#[test]
fn send_only_does_not_reset_a_peer_that_talks_late() {
    use socket2::{Domain, Socket, Type};
    // A server with a small receive window that answers after a while
    // (think of a slow SMTP banner). netkit has handed all of stdin to the
    // kernel, but not all of it has reached the server yet. If netkit has
    // already closed its socket, the late answer is met with a RST that
    // throws away the bytes still in netkit's send buffer.
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(2048).unwrap();
    sock.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sock.listen(8).unwrap();
    let port = sock.local_addr().unwrap().as_socket().unwrap().port();
    let listener: std::net::TcpListener = sock.into();
    let server = thread::spawn(move || {
        let mut s = accept(&listener);
        thread::sleep(Duration::from_millis(500));
        let _ = s.write_all(b"220 late banner\r\n");
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut got)
            .map(|_| got.clone())
            .map_err(|e| format!("{e} after {} bytes", got.len()))
    });
    let payload = random_bytes(8 * 1024, 61);
    let (code, out, err) = run_with_input(
        &["tcp", "connect", "--send-only", "127.0.0.1", &port_s(port)],
        &payload,
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.is_empty());
    let got = server
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("the server did not get all of netkit's stdin: {e}"));
    assert_same_bytes("server received", &payload, &got);
}

#[test]
fn recv_only_does_not_read_stdin_or_half_close() {
    let (port, server) = serve_once(|mut s| {
        // Nothing may arrive, not even a FIN, although netkit's stdin has
        // data and then EOF.
        let mut b = [0u8; 64];
        s.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        let got = std::io::Read::read(&mut s, &mut b).map_err(|e| e.kind());
        s.write_all(REPLY).unwrap();
        got
    });
    let (code, out, err) = run_with_input(
        &["tcp", "connect", "--recv-only", "127.0.0.1", &port_s(port)],
        b"stdin data that must not be sent\n",
    );
    match server.join().unwrap() {
        Err(std::io::ErrorKind::WouldBlock) | Err(std::io::ErrorKind::TimedOut) => {}
        Ok(0) => panic!("--recv-only half-closed the connection"),
        other => panic!("--recv-only sent something: {other:?}"),
    }
    assert_eq!(code, 0, "stderr: {err}");
    assert_no_error(&err);
    assert_same_bytes("stdout", REPLY, &out);
}

/// Rebuilds the bytes of one direction from `--hex` lines, checking the
/// layout of every line on the way.
fn hex_bytes(stderr: &str, marker: char) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in stderr.lines().filter(|l| l.starts_with(marker)) {
        assert!(line.len() > 62, "short hex line: {line:?}");
        assert_eq!(&line[1..2], " ", "{line:?}");
        let offset = usize::from_str_radix(&line[2..10], 16)
            .unwrap_or_else(|_| panic!("bad offset in {line:?}"));
        assert_eq!(offset, bytes.len(), "offset does not continue: {line:?}");
        assert_eq!(&line[10..12], "  ", "{line:?}");
        let cols = &line[12..61];
        let mut row = Vec::new();
        for col in 0..16 {
            let at = col * 3 + usize::from(col > 7);
            let cell = &cols[at..at + 2];
            if cell == "  " {
                continue;
            }
            assert!(row.len() == col, "hex cells not contiguous in {line:?}");
            row.push(u8::from_str_radix(cell, 16).unwrap_or_else(|_| panic!("{line:?}")));
        }
        assert_eq!(&line[61..63], " |", "{line:?}");
        let ascii: String = row
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        assert_eq!(&line[63..], format!("{ascii}|"), "{line:?}");
        bytes.extend_from_slice(&row);
    }
    bytes
}

#[test]
fn hex_dumps_both_directions_on_stderr_and_keeps_stdout_clean() {
    let (port, server) = serve_once(|mut s| {
        read_all(&mut s);
        s.write_all(REPLY).unwrap();
    });
    let (code, out, err) = run_with_input(
        &["tcp", "connect", "--hex", "127.0.0.1", &port_s(port)],
        REQUEST,
    );
    server.join().unwrap();
    assert_eq!(code, 0, "stderr: {err}");
    assert_same_bytes("stdout", REPLY, &out);
    assert!(
        err.lines().any(|l| l
            == "> 00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 30 0d 0a  |GET / HTTP/1.0..|"),
        "no exact first sent row in:\n{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with(
            "< 00000000  48 54 54 50 2f 31 2e 30  20 32 30 30 20 4f 4b 0d  |HTTP/1.0 200 OK.|"
        )),
        "no exact first received row in:\n{err}"
    );
    assert_same_bytes("sent per --hex", REQUEST, &hex_bytes(&err, '>'));
    assert_same_bytes("received per --hex", REPLY, &hex_bytes(&err, '<'));
    for line in err.lines() {
        assert!(
            line.starts_with("> ") || line.starts_with("< "),
            "unexpected stderr line with --hex: {line:?}"
        );
    }
}

#[test]
fn verbose_reports_connection_and_byte_counts() {
    let (port, server) = serve_once(|mut s| {
        read_all(&mut s);
        s.write_all(b"12345").unwrap();
    });
    let (code, out, err) = run_with_input(
        &["-v", "tcp", "connect", "127.0.0.1", &port_s(port)],
        REQUEST,
    );
    server.join().unwrap();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, b"12345");
    assert_no_error(&err);
    let target = format!("-> 127.0.0.1:{port}");
    assert!(
        err.lines()
            .any(|l| l.contains("connected") && l.contains(&target)),
        "no `connected ... {target}` line:\n{err}"
    );
    assert!(
        err.contains("sent 18 B") && err.contains("received 5 B"),
        "no byte counts:\n{err}"
    );
}

#[test]
fn json_connect_reports_connected_data_and_closed() {
    let (port, server) = serve_once(|mut s| {
        let got = read_all(&mut s);
        s.write_all("héllo\n".as_bytes()).unwrap();
        got
    });
    let (code, out, err) = run_with_input(
        &["--json", "tcp", "connect", "127.0.0.1", &port_s(port)],
        b"ping\n",
    );
    assert_eq!(server.join().unwrap(), b"ping\n");
    assert_eq!(code, 0, "stderr: {err}");
    assert_no_error(&err);
    let text = String::from_utf8(out).expect("JSON output is UTF-8");
    let events: Vec<_> = text.lines().map(parse_event).collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"connected"), "{text}");
    assert_eq!(names.last(), Some(&"closed"), "{text}");
    let connected = &events[0];
    assert_eq!(
        connected["remote"],
        format!("127.0.0.1:{port}"),
        "{connected}"
    );
    assert!(
        connected["local"]
            .as_str()
            .is_some_and(|l| l.starts_with("127.0.0.1:")),
        "{connected}"
    );
    assert!(connected["time_connect"].is_number(), "{connected}");
    let data: Vec<u8> = events
        .iter()
        .filter(|e| e["event"] == "data")
        .flat_map(payload)
        .collect();
    assert_eq!(String::from_utf8_lossy(&data), "héllo\n");
    let closed = events.last().unwrap();
    assert_eq!(closed["by"], "peer", "{closed}");
    assert_eq!(closed["sent"], 5, "{closed}");
    assert_eq!(closed["received"], 7, "{closed}");
    assert_eq!(closed["remote"], format!("127.0.0.1:{port}"), "{closed}");
    assert!(closed["duration"].is_number(), "{closed}");
}

// ---------------------------------------------------------------------------
// Bad input and failures: exit code and exactly one `netkit: ` line

#[test]
fn unknown_host_exits_3() {
    let (code, out, err) = run(&["tcp", "connect", "nosuch.invalid", "80"], Stdio::null());
    assert_eq!(code, 3, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("nosuch.invalid"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn port_zero_is_a_usage_error() {
    let (code, out, err) = run(&["tcp", "connect", "127.0.0.1", "0"], Stdio::null());
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(out.is_empty());
}

#[test]
fn port_65536_is_a_usage_error() {
    let (code, out, err) = run(&["tcp", "connect", "127.0.0.1", "65536"], Stdio::null());
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("65536"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn port_abc_is_a_usage_error() {
    let (code, out, err) = run(&["tcp", "connect", "127.0.0.1", "abc"], Stdio::null());
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("abc"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn a_literal_address_of_the_other_family_is_a_usage_error() {
    for (flag, host, named) in [
        ("-4", "::1", "IPv6"),
        ("-4", "[::1]", "IPv6"),
        ("-6", "127.0.0.1", "IPv4"),
    ] {
        let (code, out, err) = start(&["tcp", "connect", flag, host, "80"], Stdio::null())
            .finish(Duration::from_secs(10));
        assert_eq!(code, Some(2), "{flag} {host}: stderr: {err}");
        assert_one_error_line(&err);
        assert!(
            err.contains(named) && err.contains(flag),
            "{flag} {host}: {err}"
        );
        assert!(out.is_empty());
    }
}

/// The longest duration the parser takes (longer is a usage error, tested
/// with the parser): the timers must still not overflow an `Instant`.
const HUGE: &str = "100years";

#[test]
fn huge_durations_are_no_deadline_not_a_panic() {
    for flag in ["--connect-timeout", "--idle-timeout", "--quit-after"] {
        let (port, server) = serve_once(|mut s| read_all(&mut s));
        let (code, out, err) = run_with_input(
            &["tcp", "connect", flag, HUGE, "127.0.0.1", &port_s(port)],
            b"x",
        );
        assert!(!err.contains("panicked"), "{flag}: {err}");
        assert!(out.is_empty());
        assert_eq!(code, 0, "{flag}: {err}");
        assert_no_error(&err);
        assert_eq!(server.join().unwrap(), b"x");
    }
}

#[test]
fn refused_exits_4() {
    let port = free_port();
    let (code, out, err) = run(
        &["tcp", "connect", "127.0.0.1", &port_s(port)],
        Stdio::null(),
    );
    assert_eq!(code, 4, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn json_mode_failure_is_an_error_event_plus_one_stderr_line() {
    let port = free_port();
    let (code, out, err) = run(
        &["--json", "tcp", "connect", "127.0.0.1", &port_s(port)],
        Stdio::null(),
    );
    assert_eq!(code, 4, "stderr: {err}");
    assert_one_error_line(&err);
    let text = String::from_utf8(out).unwrap();
    let events: Vec<_> = text.lines().map(parse_event).collect();
    let last = events
        .last()
        .unwrap_or_else(|| panic!("no events: {text:?}"));
    assert_eq!(last["event"], "error", "{text}");
    assert_eq!(last["exit"], 4, "{text}");
    assert!(
        last["what"]
            .as_str()
            .is_some_and(|w| w.contains(&format!("127.0.0.1:{port}"))),
        "{text}"
    );
}

#[test]
fn connect_timeout_exits_5() {
    use socket2::{Domain, Socket, Type};
    // A listener with backlog 0 that never accepts: once its accept queue
    // is full, further SYNs are dropped and connects hang.
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    let mut full = false;
    for _ in 0..64 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(s) => fillers.push(s),
            Err(_) => {
                full = true;
                break;
            }
        }
    }
    assert!(
        full,
        "could not fill the backlog of {addr} with {} connections",
        fillers.len()
    );
    let (code, out, err) = run(
        &[
            "tcp",
            "connect",
            "--connect-timeout",
            "1s",
            "127.0.0.1",
            &port_s(addr.port()),
        ],
        Stdio::null(),
    );
    assert_eq!(code, 5, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("timed out"), "{err}");
    assert!(out.is_empty());
    drop(fillers);
}

#[test]
fn idle_timeout_with_a_silent_server_exits_5() {
    let (port, server) = serve_once(|mut s| read_all(&mut s));
    let mut cmd = netkit();
    cmd.args([
        "tcp",
        "connect",
        "--idle-timeout",
        "500ms",
        "127.0.0.1",
        &port_s(port),
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd);
    let stdin = p.take_stdin();
    let out = p.stdout_bytes();
    let err = p.stderr_bytes();
    let status = p.wait(TIMEOUT);
    drop(stdin);
    let err = err.text();
    assert_eq!(code(status), 5, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("idle"), "{err}");
    assert!(out.join().is_empty());
    assert!(server.join().unwrap().is_empty());
}

#[test]
fn reset_by_peer_mid_transfer_exits_4() {
    let data = random_bytes(64 * 1024, 7);
    let sent = data.clone();
    let (port, server) = serve_once(move |mut s| {
        s.write_all(&sent).unwrap();
        socket2::SockRef::from(&s)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(s); // RST
    });
    let mut cmd = netkit();
    cmd.args(["tcp", "connect", "127.0.0.1", &port_s(port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd);
    let stdin = p.take_stdin();
    let out = p.stdout_bytes();
    let err = p.stderr_bytes();
    let status = p.wait(TIMEOUT);
    drop(stdin);
    server.join().unwrap();
    let err = err.text();
    assert_eq!(code(status), 4, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("reset"), "{err}");
    let out = out.join();
    assert!(
        data.starts_with(&out),
        "stdout is not a prefix of what was sent ({} bytes)",
        out.len()
    );
}

// ---------------------------------------------------------------------------
// SIGINT and a closed stdout

#[test]
fn sigint_closes_gracefully_and_exits_130() {
    let (tx, rx) = mpsc::channel();
    let (port, server) = serve_once(move |mut s| {
        tx.send(()).unwrap();
        read_all(&mut s)
    });
    let mut cmd = netkit();
    cmd.args(["tcp", "connect", "127.0.0.1", &port_s(port)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd);
    let mut stdin = p.take_stdin();
    let out = p.stdout_bytes();
    let err = p.stderr_bytes();
    rx.recv_timeout(TIMEOUT).expect("netkit never connected");
    stdin.write_all(b"before ^C\n").unwrap();
    // Give the line a moment to travel; the assertion below does not
    // depend on it (the server reads until EOF either way).
    thread::sleep(Duration::from_millis(200));
    p.signal("INT");
    let status = p.wait(TIMEOUT);
    drop(stdin);
    let got = server.join().unwrap();
    let err = err.text();
    assert_eq!(code(status), 130, "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.join().is_empty());
    assert_eq!(got, b"before ^C\n", "the server reads the line, then EOF");
}

#[test]
fn closed_stdout_ends_quietly_with_0() {
    let (port, server) = serve_once(|mut s| {
        let chunk = random_bytes(64 * 1024, 8);
        for _ in 0..256 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let mut cmd = netkit();
    cmd.args(["tcp", "connect", "127.0.0.1", &port_s(port)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd);
    let err = p.stderr_bytes();
    let mut stdout = p.child.stdout.take().unwrap();
    let mut first = [0u8; 10];
    std::io::Read::read_exact(&mut stdout, &mut first).expect("10 bytes on stdout");
    assert_eq!(&first, &random_bytes(10, 8)[..]);
    drop(stdout); // like `| head -c 10`
    let status = p.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_eq!(err, "", "stderr must stay empty when stdout closes");
    server.join().unwrap();
}

// ---------------------------------------------------------------------------
// IPv6

#[test]
fn connects_to_ipv6_loopback() {
    let Some((listener, port)) = ipv6_loopback() else {
        return;
    };
    let server = thread::spawn(move || {
        let mut s = accept(&listener);
        let peer = s.peer_addr().unwrap();
        let got = read_all(&mut s);
        s.write_all(b"v6 reply\n").unwrap();
        (got, peer)
    });
    let (code, out, err) = run_with_input(&["tcp", "connect", "::1", &port_s(port)], b"v6 hello\n");
    let (got, peer) = server.join().unwrap();
    assert_eq!(code, 0, "stderr: {err}");
    assert_no_error(&err);
    assert_eq!(got, b"v6 hello\n");
    assert!(peer.is_ipv6(), "{peer}");
    assert_eq!(out, b"v6 reply\n");
}

#[test]
fn connects_to_bracketed_ipv6_with_dash_6() {
    let Some((listener, port)) = ipv6_loopback() else {
        return;
    };
    let server = thread::spawn(move || {
        let mut s = accept(&listener);
        read_all(&mut s);
        s.write_all(b"ok\n").unwrap();
    });
    let (code, out, err) = run_with_input(&["tcp", "connect", "-6", "[::1]", &port_s(port)], b"x");
    server.join().unwrap();
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, b"ok\n");
}
