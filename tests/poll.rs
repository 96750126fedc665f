//! `netkit poll`: regular, conditional and long polling, TCP probes,
//! `--until-*` conditions, error backoff and statistics.
//!
//! The peers are HTTP/1.1 servers written here (std `TcpListener` + a thread
//! per connection, keep-alive, scripted per request number so nothing depends
//! on timing), a long-poll server whose ETag is the event cursor, plain TCP
//! listeners, and nginx (real ETag / 304 behaviour). Everything is on
//! 127.0.0.1, port 0; no test asserts on timings.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

// ---------------------------------------------------------------------------
// A scripted HTTP/1.1 server

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Req {
    /// 1-based, in arrival order over all connections.
    n: usize,
    /// 1-based connection number.
    conn: usize,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the server does with the connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// Keep it open for the next request.
    KeepAlive,
    /// Close it right away (FIN), without having said `Connection: close`.
    Fin,
    /// Reset it (RST) a moment later, while the client holds it idle.
    RstLater,
    /// Reset it (RST) right away.
    RstNow,
}

#[derive(Debug, Clone)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send the body chunked, these chunks apart in time.
    chunks: Option<Vec<Vec<u8>>>,
    /// Send these bytes as they are instead of a well-formed response.
    raw: Option<Vec<u8>>,
    /// Wait this long before answering.
    delay: Duration,
    after: After,
}

impl Resp {
    fn new(status: u16, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: body.into(),
            chunks: None,
            raw: None,
            delay: Duration::ZERO,
            after: After::KeepAlive,
        }
    }

    fn ok(body: impl Into<Vec<u8>>) -> Resp {
        Resp::new(200, body)
    }

    fn header(mut self, name: &str, value: &str) -> Resp {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn delay(mut self, d: Duration) -> Resp {
        self.delay = d;
        self
    }

    fn then(mut self, after: After) -> Resp {
        self.after = after;
        self
    }

    /// Bytes sent as they are, then `after`.
    fn raw(bytes: &str, after: After) -> Resp {
        let mut r = Resp::new(0, "").then(after);
        r.raw = Some(bytes.as_bytes().to_vec());
        r
    }

    fn chunked(mut self, chunks: &[&str]) -> Resp {
        self.chunks = Some(chunks.iter().map(|c| c.as_bytes().to_vec()).collect());
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

type HandlerFn = dyn Fn(&Req) -> Resp + Send + Sync;

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Req>>,
    connections: AtomicUsize,
    active: AtomicUsize,
    max_active: AtomicUsize,
}

/// An HTTP/1.1 server on 127.0.0.1 answering each request with
/// `handler(request)`; it records every request and counts connections and
/// the most requests it ever had in hand at once.
struct HttpServer {
    port: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl HttpServer {
    fn start(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> HttpServer {
        let (listener, port) = local_listener();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<HandlerFn> = Arc::new(handler);
        let (sh, st) = (shared.clone(), stop.clone());
        let accept = thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let conn = sh.connections.fetch_add(1, Ordering::SeqCst) + 1;
                        let (sh, h) = (sh.clone(), handler.clone());
                        thread::spawn(move || serve_conn(stream, conn, &sh, &*h));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        HttpServer {
            port,
            shared,
            stop,
            accept: Some(accept),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<Req> {
        self.shared.requests.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    fn max_active(&self) -> usize {
        self.shared.max_active.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests have arrived.
    fn wait_requests(&self, n: usize) {
        let deadline = Instant::now() + TIMEOUT;
        while self.requests().len() < n {
            assert!(
                Instant::now() < deadline,
                "the server got {} requests, not {n}, within {TIMEOUT:?}",
                self.requests().len()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// A request head: method, target, headers.
type Head = (String, String, Vec<(String, String)>);

fn read_head(r: &mut BufReader<TcpStream>) -> Option<Head> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        if line != b"\r\n" && line != b"\n" {
            break;
        }
    }
    let text = String::from_utf8_lossy(&line).trim_end().to_string();
    let mut parts = text.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        let l = String::from_utf8_lossy(&line).trim_end().to_string();
        if l.is_empty() {
            return Some((method, target, headers));
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

fn write_response(w: &mut TcpStream, req: &Req, resp: &Resp) -> io::Result<()> {
    if let Some(raw) = &resp.raw {
        w.write_all(raw)?;
        return w.flush();
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let bodiless = matches!(resp.status, 100..=199 | 204 | 304) || req.method == "HEAD";
    match &resp.chunks {
        Some(chunks) if !bodiless => {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            w.write_all(head.as_bytes())?;
            w.flush()?;
            for c in chunks {
                let mut piece = format!("{:x}\r\n", c.len()).into_bytes();
                piece.extend_from_slice(c);
                piece.extend_from_slice(b"\r\n");
                w.write_all(&piece)?;
                w.flush()?;
                thread::sleep(Duration::from_millis(40));
            }
            w.write_all(b"0\r\n\r\n")?;
        }
        _ => {
            if !bodiless {
                head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
            }
            head.push_str("\r\n");
            let mut all = head.into_bytes();
            if !bodiless {
                all.extend_from_slice(&resp.body);
            }
            w.write_all(&all)?;
        }
    }
    w.flush()
}

fn serve_conn(stream: TcpStream, conn: usize, shared: &Shared, handler: &HandlerFn) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let _ = stream.set_nodelay(true);
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let Some((method, target, headers)) = read_head(&mut reader) else {
            return;
        };
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = {
            let mut all = shared.requests.lock().unwrap();
            let req = Req {
                n: all.len() + 1,
                conn,
                method,
                target,
                headers,
            };
            all.push(req.clone());
            req
        };
        let now = shared.active.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_active.fetch_max(now, Ordering::SeqCst);
        let resp = handler(&req);
        if !resp.delay.is_zero() {
            thread::sleep(resp.delay);
        }
        let written = write_response(&mut writer, &req, &resp);
        shared.active.fetch_sub(1, Ordering::SeqCst);
        if written.is_err() {
            return;
        }
        let said_close = resp
            .headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
        match resp.after {
            _ if said_close => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            After::KeepAlive => {}
            After::Fin => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            After::RstLater | After::RstNow => {
                if resp.after == After::RstLater {
                    thread::sleep(Duration::from_millis(30));
                }
                let _ = socket2::SockRef::from(&writer).set_linger(Some(Duration::ZERO));
                return;
            }
        }
    }
}

/// A resource with strong ETags: `version(n)` gives (tag, body) for request
/// number `n`; a matching If-None-Match is answered 304.
fn etag_server(
    version: impl Fn(usize) -> (&'static str, String) + Send + Sync + 'static,
) -> HttpServer {
    HttpServer::start(move |req| {
        let (tag, body) = version(req.n);
        let etag = format!("\"{tag}\"");
        if req.header("if-none-match") == Some(etag.as_str()) {
            Resp::new(304, "").header("ETag", &etag)
        } else {
            Resp::ok(body).header("ETag", &etag)
        }
    })
}

// ---------------------------------------------------------------------------
// A long-poll server: the ETag is the cursor

/// Events published by the test. A request with `If-None-Match: "N"` is held
/// until event N+1 exists and answered with that event as the body and
/// `ETag: "N+1"`; a request without one gets event 1. A request held longer
/// than the server's own hold limit is answered 304 with its cursor.
struct EventLog {
    events: Mutex<Vec<String>>,
    cv: Condvar,
    closed: AtomicBool,
}

impl EventLog {
    fn publish(&self, body: &str) {
        self.events.lock().unwrap().push(body.to_string());
        self.cv.notify_all();
    }

    fn answer(&self, req: &Req, hold: Duration) -> Resp {
        let cursor = req
            .header("if-none-match")
            .map(|v| {
                v.trim_start_matches("W/")
                    .trim_matches('"')
                    .parse::<usize>()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        let deadline = Instant::now() + hold;
        let mut events = self.events.lock().unwrap();
        loop {
            if events.len() > cursor {
                return Resp::ok(events[cursor].clone())
                    .header("ETag", &format!("\"{}\"", cursor + 1));
            }
            let now = Instant::now();
            if now >= deadline || self.closed.load(Ordering::SeqCst) {
                return Resp::new(304, "").header("ETag", &format!("\"{cursor}\""));
            }
            events = self.cv.wait_timeout(events, deadline - now).unwrap().0;
        }
    }
}

struct LongPollServer {
    log: Arc<EventLog>,
    http: HttpServer,
}

impl LongPollServer {
    /// `hold`: how long the server itself holds a request before a 304.
    fn start(hold: Duration) -> LongPollServer {
        let log = Arc::new(EventLog {
            events: Mutex::new(Vec::new()),
            cv: Condvar::new(),
            closed: AtomicBool::new(false),
        });
        let l = log.clone();
        let http = HttpServer::start(move |req| l.answer(req, hold));
        LongPollServer { log, http }
    }

    fn publish(&self, body: &str) {
        self.log.publish(body);
    }

    fn url(&self) -> String {
        self.http.url("/events")
    }
}

impl Drop for LongPollServer {
    fn drop(&mut self) {
        self.log.closed.store(true, Ordering::SeqCst);
        self.log.cv.notify_all();
    }
}

// ---------------------------------------------------------------------------
// nginx

fn nginx_binary() -> Option<String> {
    if have("nginx") {
        return Some("nginx".into());
    }
    for p in [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ] {
        if Path::new(p).is_file() {
            return Some(p.into());
        }
    }
    // Fails under CI=true, prints why it skips otherwise.
    require_peer("nginx");
    None
}

static NGINX_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// nginx serving a temporary directory on 127.0.0.1 (its own prefix, logs
/// and temp paths), killed and cleaned up on drop.
struct Nginx {
    proc: Option<Proc>,
    port: u16,
    dir: PathBuf,
    root: PathBuf,
}

impl Nginx {
    fn start() -> Option<Nginx> {
        let bin = nginx_binary()?;
        let n = NGINX_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("netkit-poll-nginx-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("www");
        std::fs::create_dir_all(&root).unwrap();
        let d = dir.display();
        for _attempt in 0..5 {
            let port = free_port();
            let conf = format!(
                "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
                 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  \
                 server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
                root.display()
            );
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let mut cmd = Command::new(&bin);
            cmd.arg("-c")
                .arg(&conf_path)
                .arg("-p")
                .arg(&dir)
                .arg("-e")
                .arg(dir.join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut proc = Proc::spawn(&mut cmd);
            let deadline = Instant::now() + TIMEOUT;
            loop {
                if !proc.running() {
                    break; // most likely the port was taken meanwhile: try another
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Nginx {
                        proc: Some(proc),
                        port,
                        dir,
                        root,
                    });
                }
                assert!(Instant::now() < deadline, "nginx did not listen on {port}");
                thread::sleep(Duration::from_millis(20));
            }
        }
        let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        panic!("nginx would not start: {log}");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn write(&self, name: &str, content: &str) {
        std::fs::write(self.root.join(name), content).unwrap();
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        drop(self.proc.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---------------------------------------------------------------------------
// Running netkit poll

/// `netkit --json poll ARGS` to completion: (exit code, events, stderr).
fn poll_json(args: &[&str]) -> (i32, Vec<Value>, String) {
    let mut full = vec!["--json", "poll"];
    full.extend_from_slice(args);
    let (code, out, err) = run(&full, Stdio::null());
    let text = String::from_utf8_lossy(&out).into_owned();
    let events = text.lines().map(parse_event).collect();
    (code, events, err)
}

/// `netkit poll ARGS` (human mode) to completion: (exit code, stdout, stderr).
fn poll_human(args: &[&str]) -> (i32, String, String) {
    let mut full = vec!["poll"];
    full.extend_from_slice(args);
    let (code, out, err) = run(&full, Stdio::null());
    (code, String::from_utf8_lossy(&out).into_owned(), err)
}

fn results(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter(|v| v["event"] == "poll_result")
        .cloned()
        .collect()
}

/// The one summary event, which must be the last event (but for the error
/// that ends a run where no poll succeeded).
fn summary(events: &[Value]) -> Value {
    let all: Vec<&Value> = events.iter().filter(|v| v["event"] == "summary").collect();
    assert_eq!(all.len(), 1, "expected one summary: {}", dump(events));
    let mut last = events.last().unwrap();
    if last["event"] == "error" && events.len() >= 2 {
        last = &events[events.len() - 2];
    }
    assert_eq!(
        last["event"],
        "summary",
        "summary is not last: {}",
        dump(events)
    );
    last.clone()
}

fn dump(events: &[Value]) -> String {
    events
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn outcomes(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| r["outcome"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn statuses(results: &[Value]) -> Vec<Option<u64>> {
    results.iter().map(|r| r["status"].as_u64()).collect()
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key:?} in {v}"))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no integer {key:?} in {v}"))
}

/// Checks the fields every poll_result has and that seq counts 1, 2, 3...
fn check_results(results: &[Value], url: &str) {
    for (i, r) in results.iter().enumerate() {
        assert_eq!(u(r, "seq"), i as u64 + 1, "seq: {r}");
        assert_eq!(r["url"], url, "{r}");
        let outcome = r["outcome"]
            .as_str()
            .unwrap_or_else(|| panic!("no outcome: {r}"));
        assert!(
            ["new", "changed", "unchanged", "not_modified", "up", "error"].contains(&outcome),
            "unknown outcome: {r}"
        );
        assert_eq!(r["changed"], outcome == "changed", "changed flag: {r}");
        assert!(r["size"].is_u64(), "size: {r}");
        assert!(f(r, "latency") >= 0.0, "latency: {r}");
        if outcome == "error" {
            assert!(
                r["error"].as_str().is_some_and(|e| !e.is_empty()),
                "an error without its message: {r}"
            );
            assert!(r["retry_in"].is_number(), "an error without retry_in: {r}");
        } else {
            assert!(r.get("error").is_none(), "error on a success: {r}");
            assert!(r.get("retry_in").is_none(), "retry_in on a success: {r}");
        }
    }
}

/// Checks a summary against the poll results it sums up.
fn check_summary(s: &Value, results: &[Value]) {
    let count = |o: &[&str]| {
        results
            .iter()
            .filter(|r| o.contains(&r["outcome"].as_str().unwrap()))
            .count() as u64
    };
    assert_eq!(u(s, "requests"), results.len() as u64, "requests: {s}");
    assert_eq!(u(s, "changed"), count(&["changed"]), "changed: {s}");
    assert_eq!(
        u(s, "unchanged"),
        count(&["unchanged", "not_modified"]),
        "unchanged: {s}"
    );
    assert_eq!(u(s, "errors"), count(&["error"]), "errors: {s}");
    assert_eq!(u(s, "new"), count(&["new"]), "new: {s}");
    assert_eq!(u(s, "up"), count(&["up"]), "up: {s}");
    let ok: Vec<&Value> = results.iter().filter(|r| r["outcome"] != "error").collect();
    let bytes: u64 = ok.iter().map(|r| u(r, "size")).sum();
    assert_eq!(u(s, "bytes"), bytes, "bytes: {s}");
    if !results.is_empty() {
        let uptime = ok.len() as f64 * 100.0 / results.len() as f64;
        assert!(
            (f(s, "uptime_pct") - uptime).abs() <= 0.051,
            "uptime_pct {uptime}: {s}"
        );
        let lat: Vec<f64> = results.iter().map(|r| f(r, "latency")).collect();
        let min = lat.iter().copied().fold(f64::INFINITY, f64::min);
        let max = lat.iter().copied().fold(0.0, f64::max);
        let (smin, p50, p95, smax) = (
            f(s, "latency_min"),
            f(s, "latency_p50"),
            f(s, "latency_p95"),
            f(s, "latency_max"),
        );
        assert!(
            (smin - min).abs() < 2e-6,
            "latency_min is not the least latency {min}: {s}"
        );
        assert!(
            (smax - max).abs() < 2e-6,
            "latency_max is not the largest latency {max}: {s}"
        );
        assert!(
            smin <= p50 && p50 <= p95 && p95 <= smax,
            "latencies out of order: {s}"
        );
    }
    if results.iter().all(|r| r["outcome"] == "error") {
        assert!(s["nothing_new_pct"].is_null(), "no success: {s}");
    } else {
        assert!(
            f(s, "nothing_new_pct") >= 0.0 && f(s, "nothing_new_pct") <= 100.0,
            "{s}"
        );
    }
    assert!(f(s, "elapsed") >= 0.0, "{s}");
}

/// Checks a human poll line `HH:MM:SS.mmm  #N  STATUS  SIZE  LATENCY  WHAT`
/// and returns WHAT.
fn check_line(line: &str, seq: usize, status: &str) -> String {
    let t: Vec<&str> = line.split_whitespace().collect();
    assert!(t.len() >= 8, "not a poll line: {line:?}");
    let clock = t[0].as_bytes();
    assert!(
        clock.len() == 12
            && clock[2] == b':'
            && clock[5] == b':'
            && clock[8] == b'.'
            && clock
                .iter()
                .enumerate()
                .all(|(i, c)| [2, 5, 8].contains(&i) || c.is_ascii_digit()),
        "no HH:MM:SS.mmm time first: {line:?}"
    );
    assert_eq!(t[1], format!("#{seq}"), "poll number: {line:?}");
    assert_eq!(t[2], status, "status: {line:?}");
    assert!(t[3].parse::<f64>().is_ok(), "size: {line:?}");
    assert!(["B", "KiB", "MiB"].contains(&t[4]), "size unit: {line:?}");
    assert!(t[5].parse::<f64>().is_ok(), "latency: {line:?}");
    assert!(["µs", "ms", "s"].contains(&t[6]), "latency unit: {line:?}");
    t[7..].join(" ")
}

fn poll_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("  #")).collect()
}

/// A netkit poll in progress, stdout read line by line.
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

// ---------------------------------------------------------------------------
// Regular polling: connections

#[test]
fn keep_alive_serves_every_poll_on_one_connection() {
    let server = HttpServer::start(|_| Resp::ok("same body\n"));
    let url = server.url("/status");
    let (code, events, err) = poll_json(&["-n", "50ms", "-c", "5", "-H", "X-Probe: yes", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(rs.len(), 5, "{}", dump(&events));
    check_results(&rs, &url);
    assert_eq!(
        outcomes(&rs),
        ["new", "unchanged", "unchanged", "unchanged", "unchanged"]
    );
    check_summary(&summary(&events), &rs);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 5);
    for r in &reqs {
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/status");
        assert_eq!(r.header("x-probe"), Some("yes"), "-H on every poll: {r:?}");
        assert_eq!(r.conn, 1, "{r:?}");
    }
    assert_eq!(
        server.connections(),
        1,
        "5 polls on a keep-alive server should share one connection"
    );
}

#[test]
fn connection_close_gets_a_new_connection_per_poll() {
    let server = HttpServer::start(|_| Resp::ok("hi\n").header("Connection", "close"));
    let url = server.url("/");
    let (code, events, err) = poll_json(&["-n", "50ms", "-c", "4", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(statuses(&rs), [Some(200); 4], "{}", dump(&events));
    assert_eq!(u(&summary(&events), "errors"), 0);
    assert_eq!(server.connections(), 4);
}

/// The server keeps saying nothing about closing but drops the connection
/// after every response: each poll must still be answered, no error shown.
#[test]
fn dropped_keep_alive_connection_reconnects_transparently() {
    for after in [After::Fin, After::RstLater] {
        let server = HttpServer::start(move |_| Resp::ok("body\n").then(after));
        let url = server.url("/");
        let (code, events, err) = poll_json(&["-n", "100ms", "-c", "5", &url]);
        assert_eq!(code, 0, "{after:?}: stderr: {err}");
        let rs = results(&events);
        check_results(&rs, &url);
        assert_eq!(
            outcomes(&rs),
            ["new", "unchanged", "unchanged", "unchanged", "unchanged"],
            "{after:?}: {}",
            dump(&events)
        );
        let s = summary(&events);
        assert_eq!(u(&s, "errors"), 0, "{after:?}: {s}");
        assert_eq!(server.requests().len(), 5, "{after:?}");
    }
}

#[test]
fn a_slow_response_delays_the_next_poll_and_polls_never_overlap() {
    let server = HttpServer::start(|req| {
        let r = Resp::ok(format!("response {}\n", req.n));
        if req.n == 2 {
            r.delay(Duration::from_millis(600))
        } else {
            r
        }
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["-n", "50ms", "-c", "5", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(rs.len(), 5);
    assert_eq!(u(&summary(&events), "errors"), 0);
    assert_eq!(server.max_active(), 1, "two polls were in flight at once");
    assert_eq!(server.connections(), 1);
}

// ---------------------------------------------------------------------------
// Output

#[test]
fn human_mode_prints_a_line_per_poll_and_a_summary_on_stderr() {
    let body = "x".repeat(1234);
    let server = HttpServer::start(move |req| {
        if req.n <= 2 {
            Resp::ok(body.clone())
        } else {
            Resp::ok("short\n")
        }
    });
    let (code, out, err) = poll_human(&["-n", "30ms", "-c", "3", &server.url("/")]);
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "one line per poll on stdout: {out:?}");
    assert_eq!(check_line(lines[0], 1, "200"), "new");
    assert_eq!(check_line(lines[1], 2, "200"), "unchanged");
    assert_eq!(check_line(lines[2], 3, "200"), "changed");
    assert!(
        lines[0].contains("1.2") && lines[0].contains("KiB"),
        "{lines:?}"
    );
    assert!(lines[2].contains(" 6 B "), "{lines:?}");
    assert_no_error(&err);
    for word in [
        "3 polls",
        "changed",
        "unchanged",
        "error",
        "min",
        "p50",
        "p95",
        "max",
        "uptime",
        "%",
    ] {
        assert!(
            err.contains(word),
            "summary on stderr lacks {word:?}: {err}"
        );
    }
    assert!(!out.contains("uptime"), "summary on stdout: {out}");
}

#[test]
fn changes_prints_the_body_only_when_new_or_changed() {
    let server = HttpServer::start(|req| {
        Resp::ok(match req.n {
            1 | 2 => "alpha\n",
            3 | 4 => "beta\n",
            _ => "gamma\n",
        })
    });
    let (code, out, err) = poll_human(&["--changes", "-n", "30ms", "-c", "6", &server.url("/")]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out, "alpha\nbeta\ngamma\n",
        "stdout must be the bodies only; stderr: {err}"
    );
    let lines = poll_lines(&err);
    assert_eq!(
        lines.len(),
        6,
        "poll lines go to stderr with --changes: {err}"
    );
    let whats: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| check_line(l, i + 1, "200"))
        .collect();
    assert_eq!(
        whats,
        [
            "new",
            "unchanged",
            "changed",
            "unchanged",
            "changed",
            "unchanged"
        ]
    );
    assert!(err.contains("6 polls"), "summary on stderr: {err}");
}

#[test]
fn changes_with_etags_prints_each_version_once() {
    let server = etag_server(|n| match n {
        1..=3 => ("v1", "first version\n".into()),
        4..=5 => ("v2", "second version\n".into()),
        _ => ("v3", "third version\n".into()),
    });
    let (code, out, err) =
        poll_human(&["--changes", "-n", "30ms", "-c", "7", &server.url("/feed")]);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out, "first version\nsecond version\nthird version\n",
        "stderr: {err}"
    );
}

/// A body that stays the same is not printed again, whatever the status.
#[test]
fn changes_does_not_repeat_an_unchanged_error_page() {
    let server = HttpServer::start(|_| Resp::new(404, "no such page\n"));
    let url = server.url("/missing");
    let (code, out, err) = poll_human(&["--changes", "-n", "30ms", "-c", "3", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(
        out.matches("no such page").count() <= 1,
        "--changes printed an unchanged 404 body again: {out:?}; stderr: {err}"
    );
    let (_, events, _) = poll_json(&["-n", "30ms", "-c", "3", &url]);
    let rs = results(&events);
    assert_eq!(statuses(&rs), [Some(404); 3], "{}", dump(&events));
    assert_eq!(
        outcomes(&rs)[1..],
        ["unchanged", "unchanged"],
        "the same 404 body three times: {}",
        dump(&events)
    );
}

#[test]
fn closed_stdout_ends_quietly() {
    let server = HttpServer::start(|_| Resp::ok("x\n"));
    let mut cmd = netkit();
    cmd.args(["poll", "-n", "20ms", &server.url("/")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let err = proc.stderr_bytes();
    let mut stdout = proc.child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // like `| head -c 1`
    let status = proc.wait(TIMEOUT);
    let err = err.text();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_no_error(&err);
}

// ---------------------------------------------------------------------------
// Conditional requests

#[test]
fn etags_are_sent_back_and_304_counts_as_unchanged() {
    let server = etag_server(|n| match n {
        1 | 2 => ("v1", "version one\n".into()),
        3 | 4 => ("v2", "version two!\n".into()),
        _ => ("v3", "version three\n".into()),
    });
    let url = server.url("/doc");
    let (code, events, err) = poll_json(&["-n", "30ms", "-c", "6", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(
        outcomes(&rs),
        [
            "new",
            "not_modified",
            "changed",
            "not_modified",
            "changed",
            "not_modified"
        ],
        "{}",
        dump(&events)
    );
    assert_eq!(
        statuses(&rs),
        [
            Some(200),
            Some(304),
            Some(200),
            Some(304),
            Some(200),
            Some(304)
        ]
    );
    let sizes: Vec<u64> = rs.iter().map(|r| u(r, "size")).collect();
    assert_eq!(sizes, [12, 0, 13, 0, 14, 0]);
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "requests"), 6);
    assert_eq!(u(&s, "changed"), 2);
    assert_eq!(u(&s, "unchanged"), 3);
    assert_eq!(u(&s, "errors"), 0);
    assert_eq!(u(&s, "bytes"), 12 + 13 + 14);
    assert_eq!(f(&s, "uptime_pct"), 100.0);
    assert_eq!(
        f(&s, "nothing_new_pct"),
        50.0,
        "3 of 6 polls brought nothing new: {s}"
    );
    let inm: Vec<Option<String>> = server
        .requests()
        .iter()
        .map(|r| r.header("if-none-match").map(str::to_string))
        .collect();
    let tag = |t: &str| Some(format!("\"{t}\""));
    assert_eq!(
        inm,
        [None, tag("v1"), tag("v1"), tag("v2"), tag("v2"), tag("v3")],
        "If-None-Match the server received"
    );
    assert_eq!(server.connections(), 1, "304s keep the connection alive");
}

#[test]
fn last_modified_is_sent_back_as_if_modified_since() {
    const LM: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
    let server = HttpServer::start(|req| {
        if req.header("if-modified-since") == Some(LM) {
            Resp::new(304, "")
        } else {
            Resp::ok("dated\n").header("Last-Modified", LM)
        }
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["-n", "30ms", "-c", "3", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(outcomes(&rs), ["new", "not_modified", "not_modified"]);
    let reqs = server.requests();
    assert_eq!(reqs[0].header("if-modified-since"), None);
    for r in &reqs[1..] {
        assert_eq!(r.header("if-modified-since"), Some(LM), "{r:?}");
        assert_eq!(r.header("if-none-match"), None, "no ETag was given: {r:?}");
    }
    check_summary(&summary(&events), &rs);
}

#[test]
fn no_conditional_sends_no_validators() {
    let server = HttpServer::start(|req| {
        if req.header("if-none-match").is_some() || req.header("if-modified-since").is_some() {
            Resp::new(304, "")
        } else {
            Resp::ok("full body\n")
                .header("ETag", "\"abc\"")
                .header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
        }
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["--no-conditional", "-n", "30ms", "-c", "3", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(
        outcomes(&rs),
        ["new", "unchanged", "unchanged"],
        "{}",
        dump(&events)
    );
    assert_eq!(statuses(&rs), [Some(200); 3]);
    for r in server.requests() {
        assert_eq!(r.header("if-none-match"), None, "{r:?}");
        assert_eq!(r.header("if-modified-since"), None, "{r:?}");
    }
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "unchanged"), 2);
}

// ---------------------------------------------------------------------------
// Count and max-time

#[test]
fn max_time_ends_the_loop_with_a_summary() {
    let server = HttpServer::start(|_| Resp::ok("ok\n"));
    let url = server.url("/");
    let (code, events, err) = poll_json(&["-n", "100ms", "-m", "700ms", &url]);
    assert_eq!(code, 0, "no condition awaited: stderr: {err}");
    let rs = results(&events);
    assert!(!rs.is_empty(), "{}", dump(&events));
    check_results(&rs, &url);
    check_summary(&summary(&events), &rs);
}

// ---------------------------------------------------------------------------
// Conditions

#[test]
fn until_status_exits_0_when_met() {
    let server = HttpServer::start(|req| {
        if req.n < 3 {
            Resp::new(404, "not yet\n")
        } else {
            Resp::ok("here\n")
        }
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["--until-status", "200", "-n", "30ms", "-c", "10", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(
        statuses(&rs),
        [Some(404), Some(404), Some(200)],
        "{}",
        dump(&events)
    );
    check_summary(&summary(&events), &rs);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn until_status_exits_1_when_count_runs_out() {
    let server = HttpServer::start(|_| Resp::new(404, "never\n"));
    let url = server.url("/");
    let (code, events, err) = poll_json(&["--until-status", "200", "-n", "30ms", "-c", "3", &url]);
    assert_eq!(code, 1, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(rs.len(), 3);
    check_summary(&summary(&events), &rs);
}

#[test]
fn until_status_exits_1_when_max_time_runs_out() {
    let server = HttpServer::start(|_| Resp::new(404, "never\n"));
    let url = server.url("/");
    let (code, events, err) =
        poll_json(&["--until-status", "200", "-n", "50ms", "-m", "500ms", &url]);
    assert_eq!(code, 1, "stderr: {err}");
    let rs = results(&events);
    assert!(!rs.is_empty());
    check_summary(&summary(&events), &rs);
}

/// The text arrives split over two chunks of the third response; the end of
/// one response and the start of the next must not be glued together.
#[test]
fn until_contains_finds_text_split_across_chunks() {
    let server = HttpServer::start(|req| match req.n {
        1 => Resp::ok("waiting... RE"),
        2 => Resp::ok("ADY? no, still waiting"),
        _ => Resp::ok("").chunked(&["status: RE", "ADY", "\n"]),
    });
    let url = server.url("/");
    let (code, events, err) =
        poll_json(&["--until-contains", "READY", "-n", "30ms", "-c", "10", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(rs.len(), 3, "stopped at the wrong poll: {}", dump(&events));
    check_summary(&summary(&events), &rs);
}

#[test]
fn until_contains_exits_1_when_count_runs_out() {
    let server = HttpServer::start(|_| Resp::ok("nothing to see\n"));
    let (code, events, err) = poll_json(&[
        "--until-contains",
        "READY",
        "-n",
        "30ms",
        "-c",
        "3",
        &server.url("/"),
    ]);
    assert_eq!(code, 1, "stderr: {err}");
    assert_eq!(results(&events).len(), 3);
    summary(&events);
}

#[test]
fn until_change_exits_0_at_the_first_change() {
    // Without validators (200 every time) and with ETags (304, then 200).
    let plain = HttpServer::start(|req| Resp::ok(if req.n < 4 { "before\n" } else { "after\n" }));
    let tagged = etag_server(|n| {
        if n < 4 {
            ("a", "before\n".into())
        } else {
            ("b", "after\n".into())
        }
    });
    for (server, expected) in [
        (&plain, ["new", "unchanged", "unchanged", "changed"]),
        (&tagged, ["new", "not_modified", "not_modified", "changed"]),
    ] {
        let (code, events, err) =
            poll_json(&["--until-change", "-n", "30ms", "-c", "10", &server.url("/")]);
        assert_eq!(code, 0, "stderr: {err}");
        let rs = results(&events);
        assert_eq!(outcomes(&rs), expected, "{}", dump(&events));
        check_summary(&summary(&events), &rs);
    }
}

#[test]
fn until_change_exits_1_when_max_time_runs_out() {
    let server = HttpServer::start(|_| Resp::ok("constant\n"));
    let (code, events, err) = poll_json(&[
        "--until-change",
        "-n",
        "50ms",
        "-m",
        "600ms",
        &server.url("/"),
    ]);
    assert_eq!(code, 1, "stderr: {err}");
    let rs = results(&events);
    assert!(!rs.is_empty());
    assert!(rs.iter().all(|r| r["outcome"] != "changed"));
    check_summary(&summary(&events), &rs);
}

#[test]
fn until_ok_exits_0_at_the_first_success_after_errors() {
    let server = HttpServer::start(|req| {
        if req.n < 3 {
            Resp::new(503, "")
        } else {
            Resp::ok("up\n")
        }
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["--until-ok", "-n", "50ms", "-c", "10", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(
        outcomes(&rs),
        ["error", "error", "new"],
        "{}",
        dump(&events)
    );
    assert_eq!(statuses(&rs), [Some(503), Some(503), Some(200)]);
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "errors"), 2);
}

#[test]
fn until_ok_exits_1_when_count_runs_out() {
    let server = HttpServer::start(|_| Resp::new(503, ""));
    let url = server.url("/");
    let (code, events, err) = poll_json(&[
        "--until-ok",
        "-n",
        "50ms",
        "--backoff-max",
        "100ms",
        "-c",
        "3",
        &url,
    ]);
    assert_eq!(code, 1, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(outcomes(&rs), ["error", "error", "error"]);
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(f(&s, "uptime_pct"), 0.0);
}

/// `--until-ok` against an HTTP server that is not there yet: refused
/// connections are errors that do not stop the loop.
#[test]
fn until_ok_waits_for_an_http_server_to_come_up() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/health");
    let mut w = watch(&[
        "--json",
        "poll",
        "--until-ok",
        "-n",
        "100ms",
        "-m",
        "60s",
        &url,
    ]);
    let mut events = Events::new(std::mem::replace(&mut w.out, Lines::new(io::empty())));
    let first = events.wait("poll_result", |_| true);
    assert_eq!(first["outcome"], "error", "{first}");
    // Now serve on that port (a std listener, like HttpServer's).
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind the freed port");
    let server = thread::spawn(move || {
        let mut s = accept(&listener);
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let _ = read_head(&mut reader);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        thread::sleep(Duration::from_millis(200));
    });
    let status = w.proc.wait(TIMEOUT);
    let rest = events.rest();
    let err = w.err.text();
    assert_eq!(code(status), 0, "stderr: {err}; events: {}", events.dump());
    let all = events.seen.clone();
    let rs = results(&all);
    assert_eq!(rs.last().unwrap()["status"], 200, "{}", dump(&all));
    assert!(rs[..rs.len() - 1].iter().all(|r| r["outcome"] == "error"));
    check_summary(&summary(&rest), &rs);
    server.join().unwrap();
}

// ---------------------------------------------------------------------------
// Errors and backoff

fn retry_ins(results: &[Value]) -> Vec<f64> {
    results
        .iter()
        .filter(|r| r["outcome"] == "error")
        .map(|r| f(r, "retry_in"))
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.002 + b * 0.01
}

#[test]
fn refused_polls_back_off_exponentially_up_to_backoff_max() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let (code, events, err) = poll_json(&["-n", "100ms", "--backoff-max", "1s", "-c", "6", &url]);
    assert_eq!(code, 4, "no poll succeeded: the last failure's code: {err}");
    let rs = results(&events);
    assert_eq!(
        rs.len(),
        6,
        "errors must not stop the loop: {}",
        dump(&events)
    );
    check_results(&rs, &url);
    assert!(rs
        .iter()
        .all(|r| r["outcome"] == "error" && r["status"].is_null()));
    let r = retry_ins(&rs);
    assert!(r[0] >= 0.1 - 0.002, "backing off below -n: {r:?}");
    for i in 1..r.len() {
        let want = (r[i - 1] * 2.0).min(1.0);
        assert!(close(r[i], want), "retry_in {i} should be {want}: {r:?}");
    }
    assert!(
        close(*r.last().unwrap(), 1.0),
        "capped at --backoff-max: {r:?}"
    );
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "errors"), 6);
    assert_eq!(f(&s, "uptime_pct"), 0.0);
}

#[test]
fn a_success_returns_the_interval_to_n() {
    // 503, 503, 200, 503, 200: the error after a success starts over.
    let server = HttpServer::start(|req| match req.n {
        1 | 2 | 4 => Resp::new(503, ""),
        _ => Resp::ok(format!("ok {}\n", req.n)),
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["-n", "100ms", "-c", "5", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(
        outcomes(&rs),
        ["error", "error", "new", "error", "changed"],
        "{}",
        dump(&events)
    );
    assert_eq!(
        statuses(&rs),
        [Some(503), Some(503), Some(200), Some(503), Some(200)]
    );
    let r = retry_ins(&rs);
    assert!(close(r[1], r[0] * 2.0), "doubling: {r:?}");
    assert!(close(r[2], r[0]), "a success resets the backoff: {r:?}");
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "errors"), 3);
}

#[test]
fn errors_are_shown_in_human_lines() {
    let server = HttpServer::start(|req| {
        if req.n == 1 {
            Resp::new(503, "")
        } else {
            Resp::ok("fine\n")
        }
    });
    let (code, out, err) = poll_human(&["-n", "50ms", "-c", "2", &server.url("/")]);
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let first = check_line(lines[0], 1, "503");
    assert!(first.starts_with("error"), "{first}");
    assert_eq!(check_line(lines[1], 2, "200"), "new");
    assert!(err.contains("1 error"), "summary counts the error: {err}");
}

#[test]
fn jitter_spreads_the_intervals() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let (_, events, err) = poll_json(&[
        "-n",
        "200ms",
        "--backoff-max",
        "200ms",
        "--jitter",
        "50",
        "-c",
        "6",
        &url,
    ]);
    let rs = results(&events);
    assert_eq!(rs.len(), 6, "stderr: {err}");
    let r = retry_ins(&rs);
    for x in &r {
        assert!((0.099..=0.301).contains(x), "outside 200ms ± 50%: {r:?}");
    }
    assert!(
        r.iter().any(|x| (x - r[0]).abs() > 1e-6),
        "--jitter 50 gave the same interval every time: {r:?}"
    );
}

// ---------------------------------------------------------------------------
// Long polling

#[test]
fn long_poll_delivers_each_event_once_in_order() {
    let server = LongPollServer::start(TIMEOUT);
    let mut w = watch(&["poll", "--long", "--changes", &server.url()]);
    server.http.wait_requests(1);
    server.publish("event one\n");
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("event one\n"));
    // Two at once: the cursor must deliver both, one after the other.
    server.publish("event two\n");
    server.publish("event three\n");
    w.out
        .wait_for(TIMEOUT, "event three", |l| l == "event three\n");
    // Give a duplicate every chance to show up, then Ctrl-C.
    server.http.wait_requests(4);
    thread::sleep(Duration::from_millis(300));
    w.proc.signal("INT");
    let status = w.proc.wait(TIMEOUT);
    w.out.rest(TIMEOUT);
    let err = w.err.text();
    assert_eq!(code(status), 130, "stderr: {err}");
    assert_eq!(
        w.out.all(),
        "event one\nevent two\nevent three\n",
        "each event exactly once, in order; stderr: {err}"
    );
    let inm: Vec<Option<String>> = server
        .http
        .requests()
        .iter()
        .take(4)
        .map(|r| r.header("if-none-match").map(str::to_string))
        .collect();
    let tag = |t: &str| Some(format!("\"{t}\""));
    assert_eq!(
        inm,
        [None, tag("1"), tag("2"), tag("3")],
        "the cursor went back in ETags"
    );
    let lines = poll_lines(&err);
    assert_eq!(lines.len(), 3, "a poll line per event on stderr: {err}");
    assert!(err.contains("3 polls"), "summary after Ctrl-C: {err}");
}

#[test]
fn long_poll_json_summary_after_ctrl_c() {
    let server = LongPollServer::start(TIMEOUT);
    for e in ["a", "bb", "ccc"] {
        server.publish(e);
    }
    let mut w = watch(&["--json", "poll", "--long", &server.url()]);
    let mut events = Events::new(std::mem::replace(&mut w.out, Lines::new(io::empty())));
    for _ in 0..3 {
        events.wait("poll_result", |_| true);
    }
    server.http.wait_requests(4);
    w.proc.signal("INT");
    let status = w.proc.wait(TIMEOUT);
    events.rest();
    let err = w.err.text();
    assert_eq!(code(status), 130, "stderr: {err}");
    let all = events.seen.clone();
    let rs = results(&all);
    check_results(&rs, &server.url());
    assert_eq!(
        outcomes(&rs),
        ["new", "changed", "changed"],
        "{}",
        dump(&all)
    );
    let s = summary(&all);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "bytes"), 6);
    assert_eq!(u(&s, "changed"), 2);
}

#[test]
fn long_poll_sends_the_next_request_without_waiting_for_the_interval() {
    let server = HttpServer::start(|req| Resp::ok(format!("answer {}\n", req.n)));
    let url = server.url("/");
    // With -n 1h, anything but an immediate re-request would hang until TIMEOUT.
    let (code, events, err) = poll_json(&["--long", "-n", "1h", "-c", "5", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(
        outcomes(&rs),
        ["new", "changed", "changed", "changed", "changed"]
    );
    check_summary(&summary(&events), &rs);
}

#[test]
fn long_poll_reissues_a_held_request_after_hold_timeout_without_error() {
    let server = LongPollServer::start(TIMEOUT);
    let mut w = watch(&[
        "--json",
        "poll",
        "--long",
        "--hold-timeout",
        "300ms",
        "-c",
        "1",
        &server.url(),
    ]);
    // The first request and at least two re-issues, then the event.
    server.http.wait_requests(3);
    server.publish("finally");
    let status = w.proc.wait(TIMEOUT);
    let mut events = Events::new(std::mem::replace(&mut w.out, Lines::new(io::empty())));
    let all = events.rest();
    let err = w.err.text();
    assert_eq!(code(status), 0, "stderr: {err}");
    let rs = results(&all);
    assert!(
        rs.iter().all(|r| r["outcome"] != "error"),
        "a held request that expired is not an error: {}",
        dump(&all)
    );
    assert_eq!(outcomes(&rs), ["new"], "{}", dump(&all));
    assert_eq!(u(&rs[0], "size"), 7);
    let s = summary(&all);
    assert_eq!(u(&s, "errors"), 0, "{s}");
    assert_no_error(&err);
}

#[test]
fn long_poll_until_contains_exits_0() {
    let server = LongPollServer::start(TIMEOUT);
    for e in ["tick 1", "tick 2", "done at last"] {
        server.publish(e);
    }
    let (code, events, err) = poll_json(&[
        "--long",
        "--until-contains",
        "done",
        "-m",
        "20s",
        &server.url(),
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(rs.len(), 3, "{}", dump(&events));
    check_summary(&summary(&events), &rs);
}

#[test]
fn long_poll_until_change_exits_1_when_max_time_runs_out() {
    let server = LongPollServer::start(TIMEOUT);
    server.publish("only event");
    let (code, events, err) =
        poll_json(&["--long", "--until-change", "-m", "800ms", &server.url()]);
    assert_eq!(code, 1, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(outcomes(&rs), ["new"], "{}", dump(&events));
    check_summary(&summary(&events), &rs);
}

#[test]
fn long_poll_backs_off_on_errors() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let (_, events, err) = poll_json(&[
        "--long",
        "-n",
        "100ms",
        "--backoff-max",
        "10s",
        "-c",
        "4",
        &url,
    ]);
    let rs = results(&events);
    assert_eq!(rs.len(), 4, "stderr: {err}; {}", dump(&events));
    check_results(&rs, &url);
    let r = retry_ins(&rs);
    assert!(r[0] > 0.0, "--long must back off after an error: {r:?}");
    for i in 1..r.len() {
        assert!(close(r[i], r[i - 1] * 2.0), "doubling: {r:?}");
    }
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "errors"), 4);
}

// ---------------------------------------------------------------------------
// TCP probes

#[test]
fn tcp_probe_reports_up_and_latency() {
    let (listener, port) = local_listener();
    let url = format!("tcp://127.0.0.1:{port}");
    let (code, events, err) = poll_json(&["-n", "50ms", "-c", "3", &url]);
    drop(listener);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(outcomes(&rs), ["up", "up", "up"], "{}", dump(&events));
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(f(&s, "uptime_pct"), 100.0);

    let listener = local_listener();
    let url = format!("tcp://127.0.0.1:{}", listener.1);
    let (code, out, err) = poll_human(&["-n", "50ms", "-c", "2", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.split_whitespace().any(|w| w == "up"), "{l}");
        assert!(
            l.starts_with(char::is_numeric) && l.contains(&format!("#{}", i + 1)),
            "{l}"
        );
    }
}

#[test]
fn tcp_probe_counts_refused_as_down() {
    let url = format!("tcp://127.0.0.1:{}", free_port());
    let (_, events, err) = poll_json(&["-n", "50ms", "--backoff-max", "100ms", "-c", "3", &url]);
    let rs = results(&events);
    assert_eq!(rs.len(), 3, "stderr: {err}");
    check_results(&rs, &url);
    for r in &rs {
        assert_eq!(r["outcome"], "error", "{r}");
        assert!(r["error"].as_str().unwrap().contains("refused"), "{r}");
    }
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(f(&s, "uptime_pct"), 0.0);
}

#[test]
fn tcp_until_ok_waits_for_the_port_to_listen() {
    let port = free_port();
    let opener = thread::spawn(move || {
        thread::sleep(Duration::from_millis(800));
        let l = std::net::TcpListener::bind(("127.0.0.1", port)).expect("rebind the freed port");
        thread::sleep(Duration::from_secs(5));
        drop(l);
    });
    let url = format!("tcp://127.0.0.1:{port}");
    let (code, events, err) = poll_json(&["--until-ok", "-n", "100ms", "-m", "60s", &url]);
    assert_eq!(code, 0, "stderr: {err}; {}", dump(&events));
    let rs = results(&events);
    assert_eq!(rs.last().unwrap()["outcome"], "up", "{}", dump(&events));
    assert!(
        rs.len() >= 2,
        "the port was not up at first: {}",
        dump(&events)
    );
    check_summary(&summary(&events), &rs);
    opener.join().unwrap();
}

#[test]
fn tcp_until_ok_exits_1_when_the_port_never_listens() {
    let url = format!("tcp://127.0.0.1:{}", free_port());
    let (code, out, err) = poll_human(&["--until-ok", "-m", "1s", &url]);
    assert_eq!(code, 1, "stdout: {out}; stderr: {err}");
    assert!(!poll_lines(&out).is_empty(), "{out}");
    assert!(err.contains("uptime 0.0%"), "summary: {err}");
}

// ---------------------------------------------------------------------------
// Ctrl-C and statistics

#[test]
fn ctrl_c_exits_130_with_a_summary() {
    let server = HttpServer::start(|_| Resp::ok("tick\n"));
    let mut w = watch(&["poll", "-n", "100ms", &server.url("/")]);
    w.out.next_line(TIMEOUT).expect("a first poll line");
    w.out.next_line(TIMEOUT).expect("a second poll line");
    w.proc.signal("INT");
    let status = w.proc.wait(TIMEOUT);
    w.out.rest(TIMEOUT);
    let err = w.err.text();
    assert_eq!(code(status), 130, "stderr: {err}");
    let polls = poll_lines(&w.out.all()).len();
    assert!(polls >= 2);
    assert!(
        err.contains(&format!("{polls} polls")),
        "summary on stderr: {err}"
    );
    assert!(err.contains("uptime"), "{err}");
}

#[test]
fn ctrl_c_in_json_mode_ends_with_a_summary_event() {
    let server = HttpServer::start(|_| Resp::ok("tick\n"));
    let url = server.url("/");
    let mut w = watch(&["--json", "poll", "-n", "100ms", &url]);
    let mut events = Events::new(std::mem::replace(&mut w.out, Lines::new(io::empty())));
    events.wait("poll_result", |_| true);
    events.wait("poll_result", |_| true);
    w.proc.signal("INT");
    let status = w.proc.wait(TIMEOUT);
    events.rest();
    assert_eq!(code(status), 130, "stderr: {}", w.err.text());
    let all = events.seen.clone();
    let rs = results(&all);
    check_results(&rs, &url);
    check_summary(&summary(&all), &rs);
}

#[test]
fn summary_sums_up_a_mixed_run() {
    // new, not modified, changed, error, not modified, changed
    let server = HttpServer::start(|req| {
        let (tag, body) = match req.n {
            1 | 2 => ("\"1\"", "one\n"),
            3..=5 => ("\"2\"", "two!\n"),
            _ => ("\"3\"", "three\n"),
        };
        if req.n == 4 {
            Resp::new(503, "")
        } else if req.header("if-none-match") == Some(tag) {
            Resp::new(304, "").header("ETag", tag)
        } else {
            Resp::ok(body).header("ETag", tag)
        }
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["-n", "50ms", "-c", "6", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(
        outcomes(&rs),
        [
            "new",
            "not_modified",
            "changed",
            "error",
            "not_modified",
            "changed"
        ],
        "{}",
        dump(&events)
    );
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(
        (
            u(&s, "requests"),
            u(&s, "changed"),
            u(&s, "unchanged"),
            u(&s, "errors"),
            u(&s, "bytes")
        ),
        (6, 2, 2, 1, 4 + 5 + 6)
    );
    assert_eq!(f(&s, "uptime_pct"), 83.3);
    assert_eq!(
        server.connections(),
        1,
        "a 503 with a body length keeps the connection"
    );
}

// ---------------------------------------------------------------------------
// Usage

#[test]
fn bad_targets_are_usage_errors() {
    for url in [
        "ftp://127.0.0.1/",
        "tcp://127.0.0.1",
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:99999",
    ] {
        let (code, out, err) = poll_human(&["-c", "1", url]);
        assert_eq!(code, 2, "{url}: stderr: {err}");
        assert!(out.is_empty(), "{url}: {out}");
        assert_one_error_line(&err);
    }
    for args in [["-c", "0"], ["-n", "soon"], ["--jitter", "101"]] {
        let (code, _, err) = poll_human(&[args[0], args[1], "http://127.0.0.1:1/"]);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
}

// ---------------------------------------------------------------------------
// nginx: real ETags and 304s

#[test]
fn nginx_second_poll_is_not_modified_and_a_new_file_is_changed() {
    let Some(nginx) = Nginx::start() else { return };
    nginx.write("status.txt", "version one\n");
    let url = nginx.url("/status.txt");
    let mut w = watch(&["--json", "poll", "-n", "700ms", "-c", "4", &url]);
    let mut events = Events::new(std::mem::replace(&mut w.out, Lines::new(io::empty())));
    events.wait("poll_result", |_| true);
    events.wait("poll_result", |_| true);
    // A different size makes a different ETag whatever the mtime resolution.
    nginx.write("status.txt", "version two, longer\n");
    let status = w.proc.wait(TIMEOUT);
    events.rest();
    assert_eq!(code(status), 0, "stderr: {}", w.err.text());
    let all = events.seen.clone();
    let rs = results(&all);
    check_results(&rs, &url);
    assert_eq!(
        outcomes(&rs),
        ["new", "not_modified", "changed", "not_modified"],
        "{}",
        dump(&all)
    );
    assert_eq!(statuses(&rs), [Some(200), Some(304), Some(200), Some(304)]);
    let s = summary(&all);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "bytes"), 12 + 20);
}

#[test]
fn nginx_no_conditional_gets_200_unchanged() {
    let Some(nginx) = Nginx::start() else { return };
    nginx.write("index.html", "hello\n");
    let (code, events, err) =
        poll_json(&["--no-conditional", "-n", "30ms", "-c", "3", &nginx.url("/")]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(statuses(&rs), [Some(200); 3], "{}", dump(&events));
    assert_eq!(outcomes(&rs), ["new", "unchanged", "unchanged"]);
    check_summary(&summary(&events), &rs);
}

#[test]
fn nginx_changes_watcher_prints_each_version_once() {
    let Some(nginx) = Nginx::start() else { return };
    nginx.write("feed.txt", "first\n");
    let mut w = watch(&[
        "poll",
        "--changes",
        "-n",
        "300ms",
        "-c",
        "5",
        &nginx.url("/feed.txt"),
    ]);
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("first\n"));
    nginx.write("feed.txt", "second, longer\n");
    assert_eq!(
        w.out.next_line(TIMEOUT).as_deref(),
        Some("second, longer\n")
    );
    let status = w.proc.wait(TIMEOUT);
    let rest = w.out.rest(TIMEOUT);
    let err = w.err.text();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert!(rest.is_empty(), "printed again: {rest:?}");
    assert_eq!(poll_lines(&err).len(), 5, "{err}");
}

// ---------------------------------------------------------------------------
// Awkward servers

#[test]
fn a_body_delimited_by_close_is_read_on_every_poll() {
    let server = HttpServer::start(|req| {
        let body = if req.n < 3 { "body 1\n" } else { "body 2\n" };
        Resp::raw(
            &format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{body}"),
            After::Fin,
        )
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["-n", "30ms", "-c", "4", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(
        outcomes(&rs),
        ["new", "unchanged", "changed", "unchanged"],
        "{}",
        dump(&events)
    );
    assert!(rs.iter().all(|r| u(r, "size") == 7), "{}", dump(&events));
    check_summary(&summary(&events), &rs);
    assert_eq!(server.connections(), 4);
}

#[test]
fn malformed_and_cut_responses_are_errors_and_the_loop_goes_on() {
    let server = HttpServer::start(|req| match req.n {
        1 => Resp::raw("HELLO WORLD\r\n\r\n", After::Fin),
        2 => Resp::raw(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part",
            After::RstNow,
        ),
        _ => Resp::ok("whole\n"),
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["-n", "50ms", "-c", "3", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(
        outcomes(&rs),
        ["error", "error", "new"],
        "{}",
        dump(&events)
    );
    let r = retry_ins(&rs);
    assert!(close(r[1], r[0] * 2.0), "{r:?}");
    let s = summary(&events);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "errors"), 2);
    assert_eq!(
        u(&s, "bytes"),
        6,
        "a cut body is not counted as received: {s}"
    );
}

#[test]
fn until_status_can_wait_for_an_error_status() {
    let server = HttpServer::start(|req| {
        if req.n < 3 {
            Resp::ok("up\n")
        } else {
            Resp::new(503, "maintenance\n")
        }
    });
    let url = server.url("/");
    let (code, events, err) = poll_json(&["--until-status", "503", "-n", "30ms", "-c", "10", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    assert_eq!(
        statuses(&rs),
        [Some(200), Some(200), Some(503)],
        "{}",
        dump(&events)
    );
    check_summary(&summary(&events), &rs);
}

#[test]
fn max_time_ends_the_loop_while_a_poll_is_in_flight() {
    let server = HttpServer::start(|req| {
        let r = Resp::ok("slow\n");
        if req.n == 1 {
            r
        } else {
            r.delay(Duration::from_secs(25))
        }
    });
    let url = server.url("/");
    let running = start(
        &["--json", "poll", "-n", "100ms", "-m", "1s", &url],
        Stdio::null(),
    );
    let (code, out, err) = running.finish(Duration::from_secs(15));
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = code
        .unwrap_or_else(|| panic!("-m 1s did not end a poll held by the server: {text}; {err}"));
    assert_eq!(code, 0, "stderr: {err}");
    let events: Vec<Value> = text.lines().map(parse_event).collect();
    let rs = results(&events);
    assert_eq!(rs.len(), 1, "{}", dump(&events));
    check_summary(&summary(&events), &rs);
}

#[test]
fn ctrl_c_during_backoff_exits_130() {
    let url = format!("http://127.0.0.1:{}/", free_port());
    let mut w = watch(&["--json", "poll", "-n", "5s", &url]);
    let mut events = Events::new(std::mem::replace(&mut w.out, Lines::new(io::empty())));
    let first = events.wait("poll_result", |_| true);
    assert_eq!(first["outcome"], "error", "{first}");
    w.proc.signal("INT");
    let status = w.proc.wait(TIMEOUT);
    events.rest();
    assert_eq!(code(status), 130, "stderr: {}", w.err.text());
    let all = events.seen.clone();
    let rs = results(&all);
    let s = summary(&all);
    check_summary(&s, &rs);
    assert_eq!(u(&s, "errors"), rs.len() as u64);
}

#[test]
fn long_poll_server_304_is_not_modified_and_asks_again() {
    let server = LongPollServer::start(Duration::from_millis(150));
    server.publish("first\n");
    let mut w = watch(&["poll", "--long", "--changes", &server.url()]);
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("first\n"));
    server.http.wait_requests(4); // the first, then held ones answered 304
    server.publish("second\n");
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("second\n"));
    let n = server.http.requests().len();
    server.http.wait_requests(n + 2);
    w.proc.signal("INT");
    let status = w.proc.wait(TIMEOUT);
    w.out.rest(TIMEOUT);
    let err = w.err.text();
    assert_eq!(code(status), 130, "stderr: {err}");
    assert_eq!(w.out.all(), "first\nsecond\n", "stderr: {err}");
    let lines = poll_lines(&err);
    assert!(lines.iter().any(|l| l.contains("304")), "{err}");
    assert!(!lines.iter().any(|l| l.contains("error")), "{err}");
    for r in &server.http.requests()[1..] {
        let inm = r.header("if-none-match");
        assert!(
            inm == Some("\"1\"") || inm == Some("\"2\""),
            "lost the cursor: {r:?}"
        );
    }
}

#[test]
fn long_poll_hold_timeout_keeps_the_cursor() {
    let server = LongPollServer::start(TIMEOUT);
    server.publish("one\n");
    let mut w = watch(&[
        "poll",
        "--long",
        "--changes",
        "--hold-timeout",
        "300ms",
        &server.url(),
    ]);
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("one\n"));
    // The request for event 2, then two re-issues of it.
    server.http.wait_requests(4);
    server.publish("two\n");
    assert_eq!(w.out.next_line(TIMEOUT).as_deref(), Some("two\n"));
    let n = server.http.requests().len();
    server.http.wait_requests(n + 1);
    thread::sleep(Duration::from_millis(100));
    w.proc.signal("INT");
    let status = w.proc.wait(TIMEOUT);
    w.out.rest(TIMEOUT);
    let err = w.err.text();
    assert_eq!(code(status), 130, "stderr: {err}");
    assert_eq!(w.out.all(), "one\ntwo\n", "stderr: {err}");
    let lines = poll_lines(&err);
    assert_eq!(
        lines.len(),
        2,
        "re-issues are not polls of their own: {err}"
    );
    assert!(err.contains("0 errors"), "{err}");
    for r in &server.http.requests()[1..] {
        let inm = r.header("if-none-match");
        assert!(
            inm == Some("\"1\"") || inm == Some("\"2\""),
            "lost the cursor: {r:?}"
        );
    }
}

#[test]
fn tcp_probe_over_ipv6() {
    let Some((_listener, port)) = ipv6_loopback() else {
        return;
    };
    let url = format!("tcp://[::1]:{port}");
    let (code, events, err) = poll_json(&["-n", "50ms", "-c", "2", &url]);
    assert_eq!(code, 0, "stderr: {err}");
    let rs = results(&events);
    check_results(&rs, &url);
    assert_eq!(outcomes(&rs), ["up", "up"], "{}", dump(&events));
}

// ---------------------------------------------------------------------------
// Long runs

/// Pins the calling thread (or, from `pre_exec`, the child) to CPU 0.
fn pin_to_cpu0() -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only read it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `netkit ARGS` with its stack limited to `bytes` (RLIMIT_STACK, soft),
/// on CPU 0.
fn netkit_with_stack(args: &[&str], bytes: u64) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = netkit();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe libc calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_STACK, &mut lim) != 0 {
                return Err(io::Error::last_os_error());
            }
            let want = bytes as libc::rlim_t;
            if lim.rlim_max == libc::RLIM_INFINITY || lim.rlim_max > want {
                lim.rlim_cur = want;
            }
            if libc::setrlimit(libc::RLIMIT_STACK, &lim) != 0 {
                return Err(io::Error::last_os_error());
            }
            let _ = pin_to_cpu0();
            Ok(())
        });
    }
    cmd
}

/// Many fast long polls in a row: each poll must start from the event loop,
/// not from inside the previous one, or the stack (and the buffers each
/// level keeps) grows with every response that is already there when the
/// request has been written. A loop needs far less than the 1 MiB of stack
/// netkit gets here (about 130 KiB when polls start from timers); netkit and
/// the server share one CPU, so that writing a request often runs the server
/// (and its answer) before netkit reads. (With the usual 8 MiB it overflows
/// too, only less reliably.)
#[test]
fn many_fast_long_polls_run_in_constant_stack() {
    let server = HttpServer::start(|req| {
        let _ = pin_to_cpu0();
        if req.header("if-none-match") == Some("\"same\"") {
            Resp::new(304, "").header("ETag", "\"same\"")
        } else {
            Resp::ok("same\n").header("ETag", "\"same\"")
        }
    });
    let url = server.url("/");
    let mut cmd = netkit_with_stack(&["poll", "--long", "-c", "30000", &url], 1 << 20);
    let mut proc = Proc::spawn(&mut cmd);
    let err = proc.stderr_bytes();
    let status = proc.wait(Duration::from_secs(120));
    let err = err.text();
    assert!(
        !err.contains("overflowed its stack"),
        "netkit poll --long overflowed its stack: {err}"
    );
    assert_eq!(status.code(), Some(0), "{status}: {err}");
    assert!(err.contains("30000 polls"), "{err}");
}
