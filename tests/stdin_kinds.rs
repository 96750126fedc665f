//! The four kinds of stdin netkit must bridge into its event loop (epoll
//! refuses some of them): a pipe, a regular file, /dev/null and a terminal,
//! for both `tcp connect` and `tcp listen`. In each case every byte arrives
//! and EOF half-closes the connection.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::mpsc;

use common::*;

fn text_payload() -> Vec<u8> {
    // A few KiB of lines, so that more than one read may be needed.
    (0..200)
        .flat_map(|i| format!("line {i:03} of the payload\n").into_bytes())
        .collect()
}

/// A server that reads until EOF, then answers `reply` and closes.
fn eof_then_reply(reply: &'static [u8]) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    serve_once(move |mut s| {
        let got = read_all(&mut s);
        s.write_all(reply).unwrap();
        got
    })
}

// ---------------------------------------------------------------------------
// tcp connect

#[test]
fn connect_with_stdin_from_a_pipe() {
    let data = text_payload();
    let (port, server) = eof_then_reply(b"pipe ok\n");
    let (code, out, err) =
        run_with_input(&["tcp", "connect", "127.0.0.1", &port.to_string()], &data);
    assert_eq!(code, 0, "stderr: {err}");
    assert_same_bytes("server got", &data, &server.join().unwrap());
    assert_eq!(out, b"pipe ok\n");
}

#[test]
fn connect_with_stdin_from_a_regular_file() {
    let data = random_bytes(MIB / 4 + 17, 21);
    let file = TempFile::with("stdin-file", &data);
    let (port, server) = eof_then_reply(b"file ok\n");
    let (code, out, err) = run(
        &["tcp", "connect", "127.0.0.1", &port.to_string()],
        file.stdio(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_same_bytes("server got", &data, &server.join().unwrap());
    assert_eq!(out, b"file ok\n");
}

#[test]
fn connect_with_an_empty_regular_file() {
    let file = TempFile::with("stdin-empty", b"");
    let (port, server) = eof_then_reply(b"empty ok\n");
    let (code, out, err) = run(
        &["tcp", "connect", "127.0.0.1", &port.to_string()],
        file.stdio(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(server.join().unwrap().is_empty());
    assert_eq!(out, b"empty ok\n");
}

#[test]
fn connect_with_stdin_from_dev_null() {
    let (port, server) = eof_then_reply(b"null ok\n");
    let (code, out, err) = run(
        &["tcp", "connect", "127.0.0.1", &port.to_string()],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(server.join().unwrap().is_empty());
    assert_eq!(out, b"null ok\n");
}

#[test]
fn connect_with_stdin_from_a_terminal() {
    if !require_peer("python3") {
        return;
    }
    let (ready_tx, ready_rx) = mpsc::channel();
    let (port, server) = serve_once(move |mut s| {
        let line = read_line(&mut s);
        ready_tx.send(()).unwrap();
        // Ctrl-D on an empty line: EOF, which must half-close.
        let rest = read_all(&mut s);
        s.write_all(b"tty ok\n").unwrap();
        (line, rest)
    });
    let mut helper = spawn_with_tty(
        &["tcp", "connect", "127.0.0.1", &port.to_string()],
        "typed on a terminal\n",
    );
    let mut go = helper.take_stdin();
    let out = helper.stdout_bytes();
    let err = helper.stderr_bytes();
    ready_rx
        .recv_timeout(TIMEOUT)
        .expect("the typed line never reached the server");
    go.write_all(b"d").unwrap();
    drop(go);
    let status = helper.wait(TIMEOUT);
    let (line, rest) = server.join().unwrap();
    let err = err.text();
    assert_eq!(line, "typed on a terminal\n");
    assert!(rest.is_empty(), "after the line: {rest:?}");
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_no_error(&err);
    assert_eq!(out.join(), b"tty ok\n");
}

// ---------------------------------------------------------------------------
// tcp listen

/// One client: reads what netkit's stdin sent up to netkit's half-close,
/// then sends `reply` and closes. Returns what it read.
fn listen_client(port: u16, reply: &[u8]) -> Vec<u8> {
    let mut c = client(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let got = read_all(&mut c);
    c.write_all(reply).unwrap();
    drop(c);
    got
}

#[test]
fn listen_with_stdin_from_a_pipe() {
    let data = text_payload();
    let mut l = HumanListener::start(&[], Stdio::piped(), Stdio::piped());
    let writer = feed(l.proc.take_stdin(), data.clone());
    let out = l.proc.stdout_bytes();
    let got = listen_client(l.port, b"client bye\n");
    writer.join().unwrap();
    let status = l.proc.wait(TIMEOUT);
    assert_eq!(code(status), 0, "stderr: {}", l.stderr.all());
    assert_same_bytes("client got", &data, &got);
    assert_eq!(out.join(), b"client bye\n");
}

#[test]
fn listen_with_stdin_from_a_regular_file() {
    let data = random_bytes(MIB / 4 + 5, 22);
    let file = TempFile::with("listen-stdin-file", &data);
    let mut l = HumanListener::start(&[], file.stdio(), Stdio::piped());
    let out = l.proc.stdout_bytes();
    let got = listen_client(l.port, b"client bye\n");
    let status = l.proc.wait(TIMEOUT);
    assert_eq!(code(status), 0, "stderr: {}", l.stderr.all());
    assert_same_bytes("client got", &data, &got);
    assert_eq!(out.join(), b"client bye\n");
}

#[test]
fn listen_with_stdin_from_dev_null() {
    let mut l = HumanListener::start(&[], Stdio::null(), Stdio::piped());
    let out = l.proc.stdout_bytes();
    let got = listen_client(l.port, b"client bye\n");
    let status = l.proc.wait(TIMEOUT);
    assert_eq!(code(status), 0, "stderr: {}", l.stderr.all());
    assert!(got.is_empty(), "{got:?}");
    assert_eq!(out.join(), b"client bye\n");
}

#[test]
fn listen_with_stdin_from_a_terminal() {
    if !require_peer("python3") {
        return;
    }
    let mut helper = spawn_with_tty(&["tcp", "listen", "0"], "typed on a terminal\n");
    let mut go = helper.take_stdin();
    let out = helper.stdout_bytes();
    let mut err = helper.stderr_lines();
    let first = err.next_line(TIMEOUT).expect("a listening line");
    let port = listening_port(&first);
    let mut c: TcpStream = client(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(read_line(&mut c), "typed on a terminal\n");
    go.write_all(b"d").unwrap();
    drop(go);
    // Ctrl-D: netkit half-closes, the client sees EOF.
    assert_eof(&mut c, "client after Ctrl-D on netkit's terminal");
    c.write_all(b"client bye\n").unwrap();
    drop(c);
    let status = helper.wait(TIMEOUT);
    let rest = err.rest(TIMEOUT).concat();
    assert_eq!(code(status), 0, "stderr: {rest}");
    assert_no_error(&rest);
    assert_eq!(out.join(), b"client bye\n");
}

#[test]
fn keep_open_with_stdin_from_a_regular_file() {
    // -k sends stdin to every client; a file is read by a helper thread.
    let data = b"to every client\n".to_vec();
    let file = TempFile::with("keep-open-file", &data);
    let mut l = JsonListener::start(&["-k"], file.stdio());
    let (mut c, _) = l.connect_and_wait();
    // The file may have been read before the client came; -k then has
    // nobody to send it to, so only check that the server stays up and
    // serves the client.
    c.write_all(b"hi\n").unwrap();
    let d = l.events.wait("data", |_| true);
    assert_eq!(payload(&d), b"hi\n");
    assert!(l.proc.running(), "stdin EOF must not end -k");
}
