//! `netkit http`, exactly: huge durations, cumulative `-L` timings, the
//! progress ETA with an absurd Content-Length, and interim-response floods.
//!
//! The peer is a scripted HTTP/1.1 server written here: one raw response per
//! request number (the last one repeats), then the connection closes.
//! Everything is on 127.0.0.1, port 0; no test asserts on a duration's size,
//! only on how the reported durations relate.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use common::*;

/// What the server does on a connection: it gets the stream after the
/// request head has been read, and the request's number (0-based).
type Serve = dyn Fn(&mut TcpStream, usize) + Send + Sync;

struct Scripted {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    /// Answers request N with `script[N]` (the last entry repeats), then closes.
    fn start(script: Vec<String>) -> Scripted {
        Scripted::with(move |s, n| {
            let _ = s.write_all(script[n.min(script.len() - 1)].as_bytes());
        })
    }

    fn with(serve: impl Fn(&mut TcpStream, usize) + Send + Sync + 'static) -> Scripted {
        let serve: Arc<Serve> = Arc::new(serve);
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let st = stop.clone();
        let thread = thread::spawn(move || {
            let mut conns = Vec::new();
            while !st.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = l.accept() else {
                    thread::sleep(Duration::from_millis(2));
                    continue;
                };
                let (serve, served) = (serve.clone(), served.clone());
                conns.push(thread::spawn(move || {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(TIMEOUT)).unwrap();
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match s.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    serve(&mut s, n);
                }));
            }
            drop(conns);
        });
        Scripted {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn http(args: &[&str]) -> (i32, Vec<u8>, String) {
    let mut full = vec!["http"];
    full.extend_from_slice(args);
    run(&full, Stdio::null())
}

fn assert_no_panic(err: &str) {
    assert!(!err.contains("panicked"), "a panic: {err}");
}

// ---------------------------------------------------------------------------
// Huge durations

fn assert_too_large(code: i32, err: &str) {
    assert_eq!(code, 2, "stderr: {err}");
    assert_one_error_line(err);
    assert!(err.contains("at most 100 years"), "{err}");
}

#[test]
fn huge_and_odd_durations_are_usage_errors() {
    for flag in [
        "--connect-timeout=1e20",
        "--connect-timeout=99999999999999s",
        "--max-time=99999999999999s",
        "--max-time=18446744073709551615",
        "--connect-timeout=101years",
    ] {
        let (code, _, err) = http(&[flag, "http://127.0.0.1:1/"]);
        assert_too_large(code, &err);
    }
    for flag in [
        "--connect-timeout=inf",
        "--connect-timeout=NaN",
        "--connect-timeout=-1",
        "--max-time=-0.5",
    ] {
        let (code, _, err) = http(&[flag, "http://127.0.0.1:1/"]);
        assert_eq!(code, 2, "{flag}: {err}");
        assert_one_error_line(&err);
    }
}

#[test]
fn the_largest_durations_run_without_a_panic() {
    let server = Scripted::start(vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n".to_string()
    ]);
    let (code, out, err) = http(&[
        "--connect-timeout",
        "100years",
        "--max-time",
        "100years",
        &server.url("/"),
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, b"ok\n");
    assert_no_panic(&err);
}

#[test]
fn udp_recv_with_the_largest_timeout_runs() {
    let mut cmd = netkit();
    cmd.args([
        "--json",
        "udp",
        "recv",
        "--bind",
        "127.0.0.1",
        "--timeout",
        "100years",
        "-c",
        "1",
        "0",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let (mut proc, _events, stderr, _, port) = spawn_listening(&mut cmd);
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(b"hi\n", ("127.0.0.1", port)).unwrap();
    let status = proc.wait(TIMEOUT);
    let err = stderr.text();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_no_panic(&err);
}

// ---------------------------------------------------------------------------
// -L timings are for the whole operation, as curl's

fn secs(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key:?} in {v}"))
}

#[test]
fn redirect_timings_are_cumulative_like_curl() {
    let server = Scripted::with(|s, n| {
        // A little server time on each, so every phase is measurable.
        thread::sleep(Duration::from_millis(20));
        let r = match n {
            0 => "HTTP/1.1 302 Found\r\nLocation: /two\r\nContent-Length: 0\r\n\r\n",
            1 => "HTTP/1.1 301 Moved\r\nLocation: /three\r\nContent-Length: 0\r\n\r\n",
            _ => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree",
        };
        let _ = s.write_all(r.as_bytes());
    });
    let (code, out, err) = run(
        &["--json", "http", "-L", &server.url("/one")],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let text = String::from_utf8_lossy(&out);
    let report = text
        .lines()
        .map(parse_event)
        .find(|e| e["event"] == "http_response")
        .unwrap_or_else(|| panic!("no http_response: {text}"));
    assert_eq!(report["num_redirects"], 2, "{report}");
    let total = secs(&report, "time_total");
    let redirect = secs(&report, "time_redirect");
    assert!(redirect >= 0.040, "two redirects of 20 ms each: {report}");
    assert!(
        total >= redirect + 0.020,
        "time_total covers the redirects and the last request: {report}"
    );
    // Each phase is curl's: summed over the transfers, each from its own
    // start, so they keep their order and none passes the total.
    let order = [
        "time_namelookup",
        "time_connect",
        "time_appconnect",
        "time_pretransfer",
        "time_starttransfer",
        "time_total",
    ];
    for w in order.windows(2) {
        assert!(
            secs(&report, w[0]) <= secs(&report, w[1]),
            "{} > {}: {report}",
            w[0],
            w[1]
        );
    }
    assert!(
        secs(&report, "time_starttransfer") >= 0.060,
        "three waits of 20 ms before the first bytes: {report}"
    );
    assert!(secs(&report, "time_connect") > 0.0, "{report}");
}

/// `850 µs`, `12.3 ms`, `1.20 s` in seconds.
fn human_secs(text: &str) -> f64 {
    let (n, unit) = text.trim().split_once(' ').unwrap_or((text, ""));
    let n: f64 = n
        .parse()
        .unwrap_or_else(|_| panic!("not a duration: {text:?}"));
    match unit {
        "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        _ => panic!("unit of {text:?}"),
    }
}

#[test]
fn redirect_timing_report_on_stderr_adds_up() {
    let server = Scripted::with(|s, n| {
        thread::sleep(Duration::from_millis(20));
        let r = match n {
            0 => "HTTP/1.1 302 Found\r\nLocation: /two\r\nContent-Length: 0\r\n\r\n",
            1 => "HTTP/1.1 302 Found\r\nLocation: /three\r\nContent-Length: 0\r\n\r\n",
            _ => "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree",
        };
        let _ = s.write_all(r.as_bytes());
    });
    let (code, out, err) = http(&["-L", "--timing", &server.url("/one")]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, b"three");
    // "... after 2 redirects (41.2 ms)" and "  Total   62.0 ms"
    let redirect = err
        .split_once("after 2 redirects (")
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(d, _)| human_secs(d))
        .unwrap_or_else(|| panic!("no redirect time: {err}"));
    let total = err
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Total"))
        .map(human_secs)
        .unwrap_or_else(|| panic!("no Total line: {err}"));
    assert!(redirect >= 0.040, "{err}");
    assert!(
        total >= redirect + 0.020,
        "the total covers the redirects: {err}"
    );
}

// ---------------------------------------------------------------------------
// The -o progress bar with an absurd Content-Length

/// Runs `argv` with a pseudo-terminal as stderr (so progress is drawn),
/// prints what the terminal got on stdout, exits with the child's status.
const STDERR_PTY: &str = r#"
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stderr=slave)
os.close(slave)
got = b""
while True:
    try:
        d = os.read(master, 4096)
    except OSError:
        break
    if not d:
        break
    got += d
rc = p.wait()
sys.stdout.buffer.write(got)
sys.exit(rc if rc >= 0 else 128 - rc)
"#;

#[test]
fn progress_eta_with_a_huge_content_length_does_not_panic() {
    if !require_peer("python3") {
        return;
    }
    let server = Scripted::with(|s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n");
        // Under 1 B/s by the second byte: an ETA past u64 seconds.
        for wait in [250, 2600] {
            thread::sleep(Duration::from_millis(wait));
            if s.write_all(b"x").is_err() {
                return;
            }
        }
    });
    let dir = std::env::temp_dir().join(format!("netkit-eta-{}", std::process::id()));
    let file = dir.with_extension("out");
    let url = server.url("/");
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-c")
        .arg(STDERR_PTY)
        .arg(env!("CARGO_BIN_EXE_netkit"))
        .args(["http", "-o", file.to_str().unwrap(), &url])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let out = proc.stdout_bytes();
    let status = proc.wait(TIMEOUT);
    let tty = String::from_utf8_lossy(&out.join()).into_owned();
    let _ = std::fs::remove_file(&file);
    assert!(!tty.contains("panicked"), "a panic: {tty}");
    assert!(
        tty.contains("2 B of 16384 PiB"),
        "progress was drawn: {tty}"
    );
    assert!(
        tty.contains("ETA -") && !tty.contains("h 0") && !tty.contains("ETA 1"),
        "an ETA past 100 years is unknown: {tty}"
    );
    assert_eq!(code(status), 6, "the body ended early: {tty}");
}

// ---------------------------------------------------------------------------
// A server that never stops sending 100 Continue

#[test]
fn endless_interim_responses_are_a_protocol_error() {
    let server = Scripted::with(|s, _| {
        for _ in 0..100_000 {
            if s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err() {
                return;
            }
        }
    });
    let (code, out, err) = http(&["--max-time", "20s", &server.url("/")]);
    assert_eq!(code, 6, "stderr: {err}");
    assert!(out.is_empty());
    assert_one_error_line(&err);
    assert!(
        err.contains("more than 16 interim (1xx) responses"),
        "{err}"
    );
}

#[test]
fn chunk_size_with_unicode_space_is_a_protocol_error() {
    let server = Scripted::start(vec![
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\u{a0}5\r\nhello\r\n0\r\n\r\n"
            .to_string(),
    ]);
    let (code, _, err) = http(&[&server.url("/")]);
    assert_eq!(code, 6, "stderr: {err}");
    assert_one_error_line(&err);
}

// ---------------------------------------------------------------------------
// Names are looked up off the loop thread

#[test]
fn a_host_name_is_resolved_and_reported_in_the_timings() {
    let server = Scripted::start(vec![
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string()
    ]);
    let url = format!("http://localhost:{}/a", server.port);
    let (code, out, err) = run(&["--json", "http", "-4", &url], Stdio::null());
    assert_eq!(code, 0, "stderr: {err}");
    let text = String::from_utf8_lossy(&out);
    let report = text
        .lines()
        .map(parse_event)
        .find(|e| e["event"] == "http_response")
        .unwrap_or_else(|| panic!("no http_response: {text}"));
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(report["remote_ip"], "127.0.0.1", "{report}");
    assert!(secs(&report, "time_namelookup") > 0.0, "{report}");
    assert!(
        secs(&report, "time_namelookup") <= secs(&report, "time_connect"),
        "{report}"
    );
}

#[test]
fn a_slow_resolver_is_bounded_by_the_connect_timeout() {
    let Some(lib) = slow_resolver_shim() else {
        return;
    };
    let (code, err, took) = with_slow_resolver(
        &lib,
        4000,
        &["http", "--connect-timeout", "300ms", "http://localhost:1/"],
    );
    assert_eq!(code, 5, "stderr: {err}");
    assert_eq!(
        err,
        "netkit: resolve localhost: name resolution timed out after 300ms\n"
    );
    assert!(
        took < Duration::from_millis(3000),
        "waited for the resolver: {took:?}"
    );
}

#[test]
fn a_slow_resolver_does_not_freeze_the_poll_timers() {
    let Some(lib) = slow_resolver_shim() else {
        return;
    };
    let (code, err, took) = with_slow_resolver(
        &lib,
        4000,
        &["poll", "-n", "50ms", "-m", "500ms", "http://localhost:1/"],
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(code == 0, "stderr: {err}");
    assert!(
        took < Duration::from_millis(3000),
        "--max-time waited for the resolver: {took:?}; {err}"
    );
}
