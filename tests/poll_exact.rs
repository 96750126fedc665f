//! `netkit poll`, exactly: exit codes when no poll succeeded, a summary
//! whose numbers add up, long-poll 204/304, and huge durations.
//!
//! The peer is a scripted HTTP/1.1 server written here: one raw response per
//! request number (the last one repeats), `Connection: close` after each, so
//! nothing depends on timing. Everything is on 127.0.0.1, port 0.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Answers request N with `script[N-1]` (the last entry repeats), then
/// closes the connection.
struct Scripted {
    port: u16,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

/// A response with a body and `Connection: close`.
fn resp(status: &str, headers: &str, body: &str) -> String {
    let bodiless = status.starts_with("204") || status.starts_with("304");
    let length = if bodiless {
        String::new()
    } else {
        format!("Content-Length: {}\r\n", body.len())
    };
    format!("HTTP/1.1 {status}\r\n{headers}{length}Connection: close\r\n\r\n{body}")
}

impl Scripted {
    fn start(script: Vec<String>) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (st, sv) = (stop.clone(), served.clone());
        let thread = thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = l.accept() else {
                    thread::sleep(Duration::from_millis(2));
                    continue;
                };
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match s.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let n = sv.fetch_add(1, Ordering::SeqCst);
                let r = &script[n.min(script.len() - 1)];
                let _ = s.write_all(r.as_bytes());
            }
        });
        Scripted {
            port,
            stop,
            served,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = self.served.load(Ordering::SeqCst);
    }
}

fn poll(args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["poll"];
    full.extend_from_slice(args);
    let (code, out, err) = run(&full, Stdio::null());
    (code, String::from_utf8_lossy(&out).into_owned(), err)
}

fn poll_json(args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut full = vec!["--json", "poll"];
    full.extend_from_slice(args);
    let (code, out, err) = run(&full, Stdio::null());
    let events = String::from_utf8_lossy(&out)
        .lines()
        .map(parse_event)
        .collect();
    (code, events, err)
}

/// `netkit poll ARGS URL` against a [`Scripted`] server playing `script`,
/// which must exit 0: its stderr.
fn poll_scripted(script: Vec<String>, args: &[&str]) -> String {
    let server = Scripted::start(script);
    let url = server.url();
    let (code, _, err) = poll(&[args, &[url.as_str()]].concat());
    assert_eq!(code, 0, "stderr: {err}");
    err
}

/// [`poll_scripted`] with `--json`: its events.
fn poll_json_scripted(script: Vec<String>, args: &[&str]) -> Vec<Value> {
    let server = Scripted::start(script);
    let url = server.url();
    let (code, events, err) = poll_json(&[args, &[url.as_str()]].concat());
    assert_eq!(code, 0, "stderr: {err}");
    events
}

fn summary(events: &[Value]) -> Value {
    let s: Vec<&Value> = events.iter().filter(|e| e["event"] == "summary").collect();
    assert_eq!(s.len(), 1, "one summary: {events:?}");
    s[0].clone()
}

fn outcomes(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "poll_result")
        .map(|e| e["outcome"].as_str().unwrap().to_string())
        .collect()
}

fn assert_no_panic(err: &str) {
    assert!(!err.contains("panicked"), "a panic: {err}");
}

// ---------------------------------------------------------------------------
// Exit codes when no poll succeeded

#[test]
fn every_poll_refused_exits_4() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let (code, out, err) = poll(&["-n", "20ms", "--backoff-max", "40ms", "-c", "3", &url]);
    assert_eq!(code, 4, "stdout: {out}; stderr: {err}");
    assert_eq!(out.lines().count(), 3, "three poll lines: {out}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("netkit: ") && last.contains("refused"),
        "the last line is the failure: {err}"
    );
    assert!(
        err.contains("uptime 0.0%; nothing new: n/a"),
        "the summary before it: {err}"
    );
    assert_no_panic(&err);
}

#[test]
fn every_poll_refused_in_json_exits_4_with_nulls() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let (code, events, err) = poll_json(&["-n", "20ms", "--backoff-max", "40ms", "-c", "3", &url]);
    assert_eq!(code, 4, "stderr: {err}; {events:?}");
    let s = summary(&events);
    assert_eq!(s["requests"], 3, "{s}");
    assert_eq!(s["errors"], 3, "{s}");
    assert_eq!(s["new"], 0, "{s}");
    assert_eq!(s["uptime_pct"], 0.0, "{s}");
    assert!(s["nothing_new_pct"].is_null(), "{s}");
    let last = events.last().unwrap();
    assert_eq!(
        last["event"], "error",
        "the failure ends the run: {events:?}"
    );
    assert_eq!(last["exit"], 4, "{last}");
}

#[test]
fn tcp_probe_every_poll_refused_exits_4() {
    let url = format!("tcp://127.0.0.1:{}", free_port());
    let (code, out, err) = poll(&["-n", "20ms", "--backoff-max", "40ms", "-c", "3", &url]);
    assert_eq!(code, 4, "stdout: {out}; stderr: {err}");
}

#[test]
fn unknown_host_exits_3() {
    let (code, out, err) = poll(&["-n", "20ms", "-c", "2", "http://nonexistent.invalid/"]);
    assert_eq!(code, 3, "stdout: {out}; stderr: {err}");
    assert!(err.contains("nonexistent.invalid"), "{err}");
    assert_no_panic(&err);
}

#[test]
fn one_success_among_failures_exits_0() {
    let script = vec![
        resp("503 Service Unavailable", "", ""),
        resp("200 OK", "", "up\n"),
    ];
    poll_scripted(script, &["-n", "20ms", "--backoff-max", "40ms", "-c", "2"]);
}

#[test]
fn max_time_with_no_success_exits_with_the_last_failure() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let (code, _, err) = poll(&["-n", "20ms", "--backoff-max", "40ms", "-m", "300ms", &url]);
    assert_eq!(code, 4, "stderr: {err}");
}

#[test]
fn a_condition_not_met_stays_exit_1() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let (code, _, err) = poll(&[
        "--until-ok",
        "-n",
        "20ms",
        "--backoff-max",
        "40ms",
        "-c",
        "2",
        &url,
    ]);
    assert_eq!(code, 1, "stderr: {err}");
}

// ---------------------------------------------------------------------------
// The summary adds up

#[test]
fn summary_counts_the_first_new_poll() {
    let script = vec![
        resp("200 OK", "", "a\n"),
        resp("200 OK", "", "a\n"),
        resp("200 OK", "", "b\n"),
        resp("503 Service Unavailable", "", ""),
    ];
    let args = ["-n", "20ms", "--backoff-max", "40ms", "-c", "4"];
    let events = poll_json_scripted(script.clone(), &args);
    assert_eq!(outcomes(&events), ["new", "unchanged", "changed", "error"]);
    let s = summary(&events);
    assert_eq!(s["requests"], 4, "{s}");
    assert_eq!(s["new"], 1, "{s}");
    assert_eq!(s["changed"], 1, "{s}");
    assert_eq!(s["unchanged"], 1, "{s}");
    assert_eq!(s["errors"], 1, "{s}");
    assert_eq!(s["uptime_pct"], 75.0, "{s}");
    assert_eq!(s["nothing_new_pct"], 33.3, "{s}");

    let err = poll_scripted(script, &args);
    assert!(
        err.contains(": 1 new, 1 changed, 1 unchanged, 1 errors; "),
        "summary line: {err}"
    );
    assert!(
        err.contains("uptime 75.0%; 33.3% of successful polls brought nothing new"),
        "{err}"
    );
}

#[test]
fn tcp_summary_counts_up_polls() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://127.0.0.1:{}", l.local_addr().unwrap().port());
    let (code, events, err) = poll_json(&["-n", "20ms", "-c", "2", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let s = summary(&events);
    assert_eq!(s["up"], 2, "{s}");
    assert_eq!(s["requests"], 2, "{s}");
}

// ---------------------------------------------------------------------------
// Long polling: 204 and 304 bring nothing new

#[test]
fn long_poll_304_and_204_are_not_changes() {
    let script = vec![
        resp("200 OK", "ETag: \"1\"\r\n", "event 1\n"),
        resp("304 Not Modified", "ETag: \"1\"\r\n", ""),
        resp("204 No Content", "", ""),
        resp("304 Not Modified", "ETag: \"1\"\r\n", ""),
    ];
    let events = poll_json_scripted(script, &["--long", "-c", "4"]);
    assert_eq!(
        outcomes(&events),
        ["new", "not_modified", "not_modified", "not_modified"]
    );
    let s = summary(&events);
    assert_eq!(s["changed"], 0, "{s}");
    assert_eq!(s["unchanged"], 3, "{s}");
    assert_eq!(s["new"], 1, "{s}");
}

/// `--changes` bodies are events: the same bytes for people, a `body`
/// event in JSON (they were missing there).
#[test]
fn changes_bodies_are_body_events_in_json() {
    let script = vec![
        resp("200 OK", "", "one\n"),
        resp("200 OK", "", "one\n"),
        resp("200 OK", "", "two\n"),
    ];
    let events = poll_json_scripted(script, &["--changes", "-n", "10ms", "-c", "3"]);
    let bodies: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "body")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["one\n", "two\n"], "{events:#?}");
}

#[test]
fn long_poll_until_change_ignores_204() {
    let script = vec![
        resp("200 OK", "", "event 1\n"),
        resp("204 No Content", "", ""),
        resp("204 No Content", "", ""),
        resp("200 OK", "", "event 2\n"),
    ];
    let events = poll_json_scripted(script, &["--long", "--until-change", "-c", "6"]);
    assert_eq!(
        outcomes(&events),
        ["new", "not_modified", "not_modified", "changed"]
    );
}

// ---------------------------------------------------------------------------
// Huge durations: a usage error or a run, never a panic

/// A usage error: exit 2, one line that names the limit.
fn assert_too_large(code: i32, err: &str) {
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(err);
    assert!(err.contains("at most 100 years"), "{err}");
}

#[test]
fn huge_interval_with_jitter_is_a_usage_error() {
    let (code, _, err) = poll(&["-n", "1e15", "--jitter", "50", "http://127.0.0.1:1/"]);
    assert_too_large(code, &err);
    let (code, _, err) = poll(&["-m", "99999999999999s", "http://127.0.0.1:1/"]);
    assert_too_large(code, &err);
    let (code, _, err) = poll(&["--hold-timeout", "1e20", "http://127.0.0.1:1/"]);
    assert_too_large(code, &err);
}

#[test]
fn the_largest_durations_run_without_a_panic() {
    let err = poll_scripted(
        vec![resp("200 OK", "", "x\n")],
        &[
            "-n",
            "99years",
            "--jitter",
            "100",
            "--hold-timeout",
            "99years",
            "--connect-timeout",
            "99years",
            "--backoff-max",
            "99years",
            "-m",
            "99years",
            "-c",
            "1",
        ],
    );
    assert_no_panic(&err);
}

#[test]
fn every_poll_with_an_untrusted_certificate_exits_7() {
    let dir = std::env::temp_dir().join(format!("netkit-poll-exact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = make_pki(&dir, &["localhost", "127.0.0.1"]);
    let mut cmd = netkit();
    cmd.args(["--json", "ws", "listen", "--tls-cert"])
        .arg(&pki.cert)
        .arg("--tls-key")
        .arg(&pki.key)
        .args(["--bind", "127.0.0.1", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (_server, _events, _stderr, _, port) = spawn_listening(&mut cmd);
    let url = format!("https://127.0.0.1:{port}/");
    let (code, out, err) = poll(&["-n", "20ms", "--backoff-max", "40ms", "-c", "2", &url]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, 7, "stdout: {out}; stderr: {err}");
    assert!(
        err.lines().last().unwrap_or_default().contains("TLS"),
        "{err}"
    );
}
