//! `netkit poll --long`: every 2xx response is news, so its body goes to
//! stdout (status lines to stderr), each event exactly once across 304 and
//! 204 answers and ETag cursors; the hold time is offered to the server as
//! `Prefer: wait=N` (RFC 7240).
//!
//! The peer is a scripted long-poll server written here (std `TcpListener`,
//! a thread per connection, keep-alive): its ETag is the event cursor; a
//! request is held until an event past its cursor exists, or the server's
//! own hold runs out, then answered 304 to a conditional request and 204 to
//! an unconditional one. Everything on 127.0.0.1, port 0.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

#[derive(Default)]
struct Log {
    events: Mutex<Vec<String>>,
    cv: Condvar,
    /// Every request's headers, in arrival order.
    requests: Mutex<Vec<Vec<(String, String)>>>,
    closed: AtomicBool,
}

struct Server {
    log: Arc<Log>,
    port: u16,
}

impl Server {
    /// `hold`: how long the server holds a request before 304/204.
    fn start(hold: Duration) -> Server {
        let (listener, port) = local_listener();
        let log = Arc::new(Log::default());
        let l = log.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                if l.closed.load(Ordering::SeqCst) {
                    return;
                }
                let l = l.clone();
                thread::spawn(move || serve(stream, &l, hold));
            }
        });
        Server { log, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    fn publish(&self, body: &str) {
        self.log.events.lock().unwrap().push(body.to_string());
        self.log.cv.notify_all();
    }

    fn requests(&self) -> Vec<Vec<(String, String)>> {
        self.log.requests.lock().unwrap().clone()
    }

    fn wait_requests(&self, n: usize) {
        let deadline = Instant::now() + TIMEOUT;
        while self.requests().len() < n {
            assert!(Instant::now() < deadline, "fewer than {n} requests came");
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.log.closed.store(true, Ordering::SeqCst);
        self.log.cv.notify_all();
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn serve(stream: TcpStream, log: &Log, hold: Duration) {
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut headers = Vec::new();
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        log.requests.lock().unwrap().push(headers.clone());
        let inm = header(&headers, "if-none-match");
        let cursor = inm
            .map(|v| v.trim_matches('"').parse::<usize>().unwrap_or(0))
            .unwrap_or(0);
        let deadline = Instant::now() + hold;
        let mut events = log.events.lock().unwrap();
        let response = loop {
            if events.len() > cursor {
                // Everything past the cursor at once, like a chat log.
                let body: String = events[cursor..].concat();
                break format!(
                    "HTTP/1.1 200 OK\r\nETag: \"{}\"\r\nContent-Length: {}\r\n\r\n{body}",
                    events.len(),
                    body.len()
                );
            }
            let now = Instant::now();
            if now >= deadline || log.closed.load(Ordering::SeqCst) {
                break match inm {
                    Some(_) => format!("HTTP/1.1 304 Not Modified\r\nETag: \"{cursor}\"\r\n\r\n"),
                    None => format!("HTTP/1.1 204 No Content\r\nETag: \"{cursor}\"\r\n\r\n"),
                };
            }
            events = log.cv.wait_timeout(events, deadline - now).unwrap().0;
        };
        drop(events);
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

struct Watch {
    proc: Proc,
    out: Lines,
    err: Collector,
}

fn watch(args: &[&str]) -> Watch {
    let mut cmd = netkit();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let out = proc.stdout_lines();
    let err = proc.stderr_bytes();
    Watch { proc, out, err }
}

/// Ctrl-C, then (exit code, all of stdout, all of stderr).
fn stop(mut w: Watch) -> (i32, String, String) {
    w.proc.signal("INT");
    let status = w.proc.wait(TIMEOUT);
    w.out.rest(TIMEOUT);
    (code(status), w.out.all(), w.err.text())
}

#[test]
fn each_2xx_body_goes_to_stdout_once_even_when_equal_to_the_last() {
    let server = Server::start(TIMEOUT);
    let mut w = watch(&["poll", "--long", &server.url()]);
    server.wait_requests(1);
    server.publish("tick\n");
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("tick\n"));
    server.wait_requests(2);
    // The same body again is a new event, not "unchanged".
    server.publish("tick\n");
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("tick\n"));
    server.wait_requests(3);
    server.publish("tock\n");
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("tock\n"));
    server.wait_requests(4);
    let (code, out, err) = stop(w);
    assert_eq!(code, 130, "stderr: {err}");
    assert_eq!(out, "tick\ntick\ntock\n", "stderr: {err}");
    // The status lines went to stderr, one per response.
    assert_eq!(err.matches(" 200 ").count(), 3, "stderr: {err}");
    let inm: Vec<Option<String>> = server
        .requests()
        .iter()
        .take(4)
        .map(|h| header(h, "if-none-match").map(str::to_string))
        .collect();
    let tag = |t: &str| Some(format!("\"{t}\""));
    assert_eq!(inm, [None, tag("1"), tag("2"), tag("3")]);
}

#[test]
fn events_survive_204_and_304_and_arrive_once_in_order() {
    // The server gives up on a held request after 100 ms: the first
    // (unconditional) request gets 204, held conditional ones 304.
    let server = Server::start(Duration::from_millis(100));
    let mut w = watch(&["poll", "--long", &server.url()]);
    server.wait_requests(3);
    server.publish("one\n");
    server.publish("two\n");
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("one\n"));
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("two\n"));
    let n = server.requests().len();
    server.wait_requests(n + 3); // held, answered 304, asked again
    server.publish("three\n");
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("three\n"));
    let n = server.requests().len();
    server.wait_requests(n + 2);
    let (code, out, err) = stop(w);
    assert_eq!(code, 130, "stderr: {err}");
    assert_eq!(out, "one\ntwo\nthree\n", "each event once; stderr: {err}");
    assert!(err.contains(" 204 "), "the first answer was 204: {err}");
    assert!(err.contains(" 304 "), "held ones end in 304: {err}");
    assert!(err.contains("0 errors"), "{err}");
}

#[test]
fn json_mode_keeps_stdout_for_events_not_bodies() {
    let server = Server::start(TIMEOUT);
    server.publish("a\n");
    let mut w = watch(&["--json", "poll", "--long", &server.url()]);
    let line = w.out.next_line(TIMEOUT).unwrap();
    assert!(line.contains("\"poll_result\""), "{line}");
    server.wait_requests(2);
    let (code, out, err) = stop(w);
    assert_eq!(code, 130, "stderr: {err}");
    assert!(
        out.lines().all(|l| l.starts_with('{')),
        "only JSON on stdout: {out}"
    );
}

#[test]
fn the_hold_time_is_offered_as_prefer_wait() {
    for (hold, want) in [
        (None, "wait=59"),
        (Some("10s"), "wait=9"),
        (Some("1500ms"), "wait=1"),
        (Some("200ms"), "wait=1"),
    ] {
        let server = Server::start(TIMEOUT);
        let url = server.url();
        let mut args = vec!["poll", "--long"];
        if let Some(h) = hold {
            args.extend(["--hold-timeout", h]);
        }
        args.push(&url);
        let w = watch(&args);
        server.wait_requests(1);
        let (_, _, err) = stop(w);
        let first = &server.requests()[0];
        assert_eq!(header(first, "prefer"), Some(want), "{hold:?}; {err}");
    }
}

#[test]
fn regular_polling_sends_no_prefer_and_prints_no_bodies() {
    let server = Server::start(Duration::ZERO);
    server.publish("x\n");
    let (code, out, err) = run(
        &["poll", "-c", "2", "-n", "10ms", &server.url()],
        Stdio::null(),
    );
    assert_eq!(code, 0, "{err}");
    let out = String::from_utf8_lossy(&out);
    assert!(!out.lines().any(|l| l == "x"), "no body: {out}");
    assert_eq!(out.lines().count(), 2, "a status line per poll: {out}");
    assert!(server
        .requests()
        .iter()
        .all(|h| header(h, "prefer").is_none()));
}
