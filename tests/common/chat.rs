//! The `netkit ws listen --chat` harness shared by tests/chat.rs and
//! tests/chat_redis.rs: the server, raw HTTP requests to it (exact bytes
//! over std sockets), and `netkit ws connect` clients of its room.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{ChildStdin, Stdio};

use super::{netkit, spawn_listening, Collector, Events, Lines, Proc, TIMEOUT};

/// A chat server on 127.0.0.1, stopped with SIGINT on drop.
pub struct ChatServer {
    pub proc: Proc,
    pub port: u16,
    _events: Events,
    err: Option<Collector>,
}

impl ChatServer {
    /// `netkit --json ws listen --chat ARGS 0`, once it listens.
    pub fn start(args: &[&str]) -> ChatServer {
        let mut cmd = netkit();
        cmd.args(["--json", "ws", "listen", "--chat"])
            .args(args)
            .arg("0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (proc, events, err, _, port) = spawn_listening(&mut cmd);
        ChatServer {
            proc,
            port,
            _events: events,
            err: Some(err),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops it: its stderr.
    pub fn stop(&mut self) -> String {
        self.proc.signal("INT");
        let _ = self.proc.wait_or_kill(TIMEOUT);
        self.err.take().map(|c| c.text()).unwrap_or_default()
    }
}

impl Drop for ChatServer {
    fn drop(&mut self) {
        if self.proc.running() {
            self.proc.signal("INT");
            let _ = self.proc.wait_or_kill(TIMEOUT);
        }
    }
}

/// One request on a fresh connection (`Connection: close`): the whole answer.
pub fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

pub fn get(port: u16, target: &str, headers: &str) -> String {
    http(
        port,
        &format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n"),
    )
}

pub fn post(port: u16, name: &str, text: &str) -> String {
    http(
        port,
        &format!(
            "POST /messages?name={name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        ),
    )
}

pub fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// A `netkit ws connect` reading stdin lines and printing messages.
pub fn ws_client(port: u16, name: &str) -> (Proc, ChildStdin, Lines) {
    let (p, stdin, out, _) = ws_client_welcomed(port, name);
    (p, stdin, out)
}

/// [`ws_client`], and its welcome line.
pub fn ws_client_welcomed(port: u16, name: &str) -> (Proc, ChildStdin, Lines, String) {
    let mut cmd = netkit();
    cmd.args([
        "ws",
        "connect",
        &format!("ws://127.0.0.1:{port}/?name={name}"),
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut p = Proc::spawn(&mut cmd);
    let stdin = p.take_stdin();
    let mut out = p.stdout_lines();
    let w = out.next_line(TIMEOUT).expect("a welcome");
    assert!(w.starts_with(&format!("*** welcome, {name}")), "{w}");
    (p, stdin, out, w)
}

/// The next `n` chat lines (`<name> text`), notices skipped.
pub fn chat_lines(lines: &mut Lines, n: usize, what: &str) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let l = lines
            .next_line(TIMEOUT)
            .unwrap_or_else(|| panic!("{what}: EOF after {got:?}"));
        if l.starts_with('<') {
            got.push(l);
        }
    }
    got
}
