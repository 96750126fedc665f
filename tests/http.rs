//! `netkit http` against real peers on loopback: a scripted raw TCP server
//! written here (it captures every request head and body and counts
//! connections), nginx (plain and TLS, with certificates made by rcgen at
//! test time) and `python3 -m http.server`.
//!
//! Covered: methods, headers, bodies (-d STRING|@FILE|@-, --data-binary), Basic auth, IPv6
//! literals; every body framing; keep-alive reuse across same-origin
//! redirects; -L with each redirect status and --max-redirs; byte-exact
//! bodies to stdout and -o; -i, -I, -v, -f, --timing, --json; timeouts; TLS
//! verification; and one test per error exit code, each checking the single
//! `netkit: ` stderr line. Nothing here asserts on timings.

mod common;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

use common::*;

// ---------------------------------------------------------------------------
// Running netkit

/// One finished `netkit` run.
struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Exit 0, no error line, no panic.
    fn ok(&self) -> &Out {
        assert_eq!(
            self.code,
            0,
            "expected exit 0; stderr: {:?}; stdout: {:?}",
            self.stderr,
            clip(&self.stdout)
        );
        assert_no_error(&self.stderr);
        self
    }

    /// Exit `code` with exactly one `netkit: ` line on stderr.
    fn fails(&self, code: i32) -> &Out {
        assert_eq!(
            self.code,
            code,
            "expected exit {code}; stderr: {:?}; stdout: {:?}",
            self.stderr,
            clip(&self.stdout)
        );
        assert_one_error_line(&self.stderr);
        self
    }

    /// The http_response events of a `--json` run (every line must parse).
    fn events(&self) -> Vec<Value> {
        self.text().lines().map(parse_event).collect()
    }

    /// The single http_response event of a `--json` run.
    fn response(&self) -> Value {
        let events = self.events();
        let responses: Vec<&Value> = events
            .iter()
            .filter(|v| v["event"] == "http_response")
            .collect();
        assert_eq!(
            responses.len(),
            1,
            "expected one http_response event: {events:#?}"
        );
        responses[0].clone()
    }
}

fn clip(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(&b[..b.len().min(400)]).into_owned();
    if b.len() > 400 {
        format!("{s}... ({} bytes)", b.len())
    } else {
        s
    }
}

/// `netkit http ARGS...` with stdin from /dev/null.
fn http(args: &[&str]) -> Out {
    let mut all = vec!["http"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = run(&all, Stdio::null());
    Out {
        code,
        stdout,
        stderr,
    }
}

/// `netkit --json http ARGS...`.
fn http_json(args: &[&str]) -> Out {
    let mut all = vec!["--json", "http"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = run(&all, Stdio::null());
    Out {
        code,
        stdout,
        stderr,
    }
}

/// `netkit http ARGS...` with `input` on a stdin pipe.
fn http_input(args: &[&str], input: &[u8]) -> Out {
    let mut all = vec!["http"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = run_with_input(&all, input);
    Out {
        code,
        stdout,
        stderr,
    }
}

// ---------------------------------------------------------------------------
// Scratch directories

static DIR_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A directory under the target's scratch directory, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(name: &str) -> TempDir {
        let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("netkit-http-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }

    fn join_s(&self, p: &str) -> String {
        self.join(p).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------
// The raw server: scripted replies, captured requests, counted connections

/// A request as the server received it.
#[derive(Debug, Clone)]
struct Req {
    /// Which accepted connection (0, 1, ...) carried it.
    conn: usize,
    method: String,
    target: String,
    version: String,
    /// Fields in the order sent, as sent.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    /// Every value of `name` (case-insensitive).
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of `name`; fails when absent or repeated.
    fn header(&self, name: &str) -> &str {
        let all = self.all(name);
        assert_eq!(all.len(), 1, "expected one {name} header in {self:#?}");
        all[0]
    }
}

/// One accepted connection, handed to the server's script.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    index: usize,
    log: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
}

impl Conn {
    /// Reads more bytes into `buf`; `false` at EOF, error, stop or deadline.
    fn fill(&mut self, deadline: Instant) -> bool {
        let mut chunk = [0u8; 16384];
        loop {
            if self.stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                return false;
            }
            match self.s.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => return false,
            }
        }
    }

    /// Reads one request (head and Content-Length body) and records it;
    /// `None` when the client closed first.
    fn request(&mut self) -> Option<Req> {
        let deadline = Instant::now() + TIMEOUT;
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if !self.fill(deadline) {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or("");
        let mut parts = first.splitn(3, ' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let version = parts.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l
                    .split_once(':')
                    .unwrap_or_else(|| panic!("malformed request header line {l:?} in {head:?}"));
                (n.to_string(), v.trim().to_string())
            })
            .collect();
        let length = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse::<usize>().expect("numeric Content-Length"))
            .unwrap_or(0);
        while self.buf.len() < length {
            if !self.fill(deadline) {
                break;
            }
        }
        let take = length.min(self.buf.len());
        let body: Vec<u8> = self.buf.drain(..take).collect();
        let req = Req {
            conn: self.index,
            method,
            target,
            version,
            headers,
            body,
        };
        self.log.lock().unwrap().push(req.clone());
        Some(req)
    }

    /// Sends bytes, ignoring errors (the client may have given up already).
    fn send(&mut self, bytes: &[u8]) {
        let _ = self.s.write_all(bytes);
        let _ = self.s.flush();
    }

    /// Keeps the connection open, reading and discarding, until the client
    /// closes it or the server stops.
    fn hold(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.fill(deadline) {
            self.buf.clear();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

type Script = dyn Fn(&mut Conn) + Send + Sync + 'static;

/// A std TCP server on a thread running `script` on each connection (each
/// on its own thread). Stops accepting on drop.
struct Raw {
    port: u16,
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    log: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
}

impl Raw {
    fn start(script: impl Fn(&mut Conn) + Send + Sync + 'static) -> Raw {
        let (l, _) = local_listener();
        Raw::start_on(l, script)
    }

    fn start_on(l: TcpListener, script: impl Fn(&mut Conn) + Send + Sync + 'static) -> Raw {
        let addr = l.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        l.set_nonblocking(true).unwrap();
        {
            let (accepted, log, stop) = (accepted.clone(), log.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match l.accept() {
                        Ok((s, _)) => {
                            s.set_nonblocking(false).unwrap();
                            s.set_read_timeout(Some(Duration::from_millis(100)))
                                .unwrap();
                            s.set_write_timeout(Some(TIMEOUT)).unwrap();
                            let index = accepted.fetch_add(1, Ordering::SeqCst);
                            let mut conn = Conn {
                                s,
                                buf: Vec::new(),
                                index,
                                log: log.clone(),
                                stop: stop.clone(),
                            };
                            let script = script.clone();
                            thread::spawn(move || script(&mut conn));
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
            });
        }
        Raw {
            port: addr.port(),
            addr,
            accepted,
            log,
            stop,
        }
    }

    /// Every connection: read a request, send `reply`, close.
    fn reply(reply: impl Into<Vec<u8>>) -> Raw {
        let reply = reply.into();
        Raw::start(move |c| {
            if c.request().is_some() {
                c.send(&reply);
            }
        })
    }

    /// Every connection: read a request, send `reply`, keep the connection
    /// open (so the response must end by its own framing).
    fn reply_open(reply: impl Into<Vec<u8>>) -> Raw {
        let reply = reply.into();
        Raw::start(move |c| {
            if c.request().is_some() {
                c.send(&reply);
                c.hold();
            }
        })
    }

    /// `http://127.0.0.1:PORT{path}`.
    fn url(&self, path: &str) -> String {
        match self.addr {
            SocketAddr::V4(_) => format!("http://127.0.0.1:{}{path}", self.port),
            SocketAddr::V6(_) => format!("http://[::1]:{}{path}", self.port),
        }
    }

    fn requests(&self) -> Vec<Req> {
        self.log.lock().unwrap().clone()
    }

    /// The only request received.
    fn only(&self) -> Req {
        let r = self.requests();
        assert_eq!(r.len(), 1, "expected exactly one request: {r:#?}");
        r[0].clone()
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// `HTTP/1.1 200 OK` with Content-Length.
fn ok_response(body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(body);
    r
}

// ---------------------------------------------------------------------------
// nginx, python3 and certificates

/// The nginx binary, or `None` (skip locally; fail under CI=true).
fn nginx_bin() -> Option<PathBuf> {
    if have("nginx") {
        return Some(PathBuf::from("nginx"));
    }
    for p in [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ] {
        if Path::new(p).is_file() {
            return Some(PathBuf::from(p));
        }
    }
    require_peer("nginx");
    None
}

/// Certificate files for a TLS server.
/// A running nginx (single process, foreground) serving `dir/www`.
struct Nginx {
    _proc: Proc,
    port: u16,
    tls: bool,
    _dir: TempDir,
}

impl Nginx {
    /// Starts nginx with `files` in its root and `extra` inside `server {}`;
    /// `pki` makes it a TLS server. `None` when nginx is not installed.
    fn start(files: &[(&str, &[u8])], extra: &str, pki: Option<&Pki>) -> Option<Nginx> {
        let bin = nginx_bin()?;
        let dir = TempDir::new("nginx");
        let www = dir.join("www");
        std::fs::create_dir_all(&www).unwrap();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        for (name, bytes) in files {
            let path = www.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let d = dir.path.display().to_string();
        let mut last_error = String::new();
        for _attempt in 0..10 {
            let port = free_port();
            let (ssl, ssl_conf) = match pki {
                Some(p) => (
                    " ssl",
                    format!(
                        "ssl_certificate {}; ssl_certificate_key {};",
                        p.cert.display(),
                        p.key.display()
                    ),
                ),
                None => ("", String::new()),
            };
            let conf = format!(
                "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
                 error_log {d}/error.log warn;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n  access_log off;\n  sendfile on;\n\
                 client_body_temp_path {d}/tmp/body;\n  proxy_temp_path {d}/tmp/proxy;\n\
                 fastcgi_temp_path {d}/tmp/fastcgi;\n  uwsgi_temp_path {d}/tmp/uwsgi;\n\
                 scgi_temp_path {d}/tmp/scgi;\n\
                 types {{ text/plain txt; text/html html; application/octet-stream bin; }}\n\
                 default_type application/octet-stream;\n\
                 server {{\n    listen 127.0.0.1:{port}{ssl};\n    server_name localhost;\n\
                 root {d}/www;\n    {ssl_conf}\n    location = /old {{ return 301 /other.txt; }}\n\
                 {extra}\n  }}\n}}\n"
            );
            let conf_path = dir.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let _ = std::fs::remove_file(dir.join("error.log"));
            let mut cmd = Command::new(&bin);
            cmd.arg("-c")
                .arg(&conf_path)
                .arg("-p")
                .arg(&dir.path)
                .arg("-e")
                .arg(dir.join("error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut proc = Proc::spawn(&mut cmd);
            let stderr = proc.stderr_bytes();
            let deadline = Instant::now() + TIMEOUT;
            loop {
                if !proc.running() {
                    let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
                    last_error = format!("{}{log}", stderr.text());
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Some(Nginx {
                        _proc: proc,
                        port,
                        tls: pki.is_some(),
                        _dir: dir,
                    });
                }
                assert!(
                    Instant::now() < deadline,
                    "nginx did not accept on port {port} within {TIMEOUT:?}"
                );
                thread::sleep(Duration::from_millis(20));
            }
            if !last_error.contains("in use") {
                break;
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }
}

/// 64 MiB of pseudo-random bytes, made once.
fn big_body() -> &'static [u8] {
    static BIG: OnceLock<Vec<u8>> = OnceLock::new();
    BIG.get_or_init(|| random_bytes(64 * MIB, 0x6e65_746b))
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Lines of stderr starting with `prefix`, the prefix removed.
fn marked(stderr: &str, prefix: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(str::to_string)
        .collect()
}

// ===========================================================================
// Requests

#[test]
fn get_is_the_default_with_host_user_agent_and_accept() {
    let srv = Raw::reply(ok_response(b"hello, world\n"));
    let out = http(&[&srv.url("/path/x?q=1&r=two")]);
    out.ok();
    assert_eq!(out.stdout, b"hello, world\n");
    let req = srv.only();
    assert_eq!(req.method, "GET");
    assert_eq!(req.target, "/path/x?q=1&r=two");
    assert_eq!(req.version, "HTTP/1.1");
    assert_eq!(req.header("host"), format!("127.0.0.1:{}", srv.port));
    assert!(req.header("user-agent").starts_with("netkit/"), "{req:#?}");
    assert_eq!(req.header("accept"), "*/*");
    assert!(req.all("content-length").is_empty(), "{req:#?}");
    assert!(req.all("content-type").is_empty(), "{req:#?}");
    assert!(req.all("authorization").is_empty(), "{req:#?}");
    assert!(req.body.is_empty());
}

#[test]
fn host_port_path_without_scheme_means_http() {
    let srv = Raw::reply(ok_response(b"plain"));
    let out = http(&[&format!("127.0.0.1:{}/p", srv.port)]);
    out.ok();
    assert_eq!(out.stdout, b"plain");
    assert_eq!(srv.only().target, "/p");
}

#[test]
fn fragment_is_not_sent() {
    let srv = Raw::reply(ok_response(b"f"));
    let out = http(&[&srv.url("/page?x=1#section-2")]);
    out.ok();
    assert_eq!(srv.only().target, "/page?x=1");
}

#[test]
fn method_flag_long_alias_and_case() {
    for (flag, method, want) in [
        ("-X", "PUT", "PUT"),
        ("--method", "DELETE", "DELETE"),
        ("--request", "OPTIONS", "OPTIONS"),
        ("-X", "patch", "PATCH"),
    ] {
        let srv = Raw::reply(ok_response(b"m"));
        let out = http(&[flag, method, &srv.url("/m")]);
        out.ok();
        assert_eq!(out.stdout, b"m");
        let req = srv.only();
        assert_eq!(req.method, want, "{flag} {method}");
        assert_eq!(req.target, "/m");
    }
}

#[test]
fn data_string_makes_a_form_post() {
    let srv = Raw::reply(ok_response(b"posted"));
    let out = http(&["-d", "name=value&x=1 2", &srv.url("/form")]);
    out.ok();
    assert_eq!(out.stdout, b"posted");
    let req = srv.only();
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("content-length"), "16");
    assert_eq!(
        req.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert_eq!(req.body, b"name=value&x=1 2");
}

#[test]
fn data_from_a_file_is_byte_exact() {
    let body = random_bytes(8 * MIB + 300, 7);
    let file = TempFile::with("body.bin", &body);
    let srv = Raw::reply(ok_response(b"got it"));
    let arg = format!("@{}", file.path.display());
    let out = http(&["--data-binary", &arg, &srv.url("/upload")]);
    out.ok();
    assert_eq!(out.stdout, b"got it");
    let req = srv.only();
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("content-length"), body.len().to_string());
    assert_same_bytes("request body from @FILE", &body, &req.body);
}

#[test]
fn data_from_stdin() {
    let body = b"line one\nline two\n\x00\xff binary too".to_vec();
    let srv = Raw::reply(ok_response(b"ok"));
    let out = http_input(&["--data-binary", "@-", &srv.url("/in")], &body);
    out.ok();
    assert_eq!(out.stdout, b"ok");
    let req = srv.only();
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("content-length"), body.len().to_string());
    assert_eq!(req.body, body);
}

#[test]
fn empty_data_still_posts_with_a_zero_length() {
    let srv = Raw::reply(ok_response(b"e"));
    let out = http(&["-d", "", &srv.url("/")]);
    out.ok();
    let req = srv.only();
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("content-length"), "0");
    assert!(req.body.is_empty());

    // @- with an empty stdin.
    let srv = Raw::reply(ok_response(b"e"));
    let out = http_input(&["-d", "@-", &srv.url("/")], b"");
    out.ok();
    let req = srv.only();
    assert_eq!(req.method, "POST");
    assert_eq!(req.header("content-length"), "0");
}

#[test]
fn early_response_during_a_blocked_upload_is_read() {
    // The server answers 413 after the head and never reads the body, so the
    // upload stalls with the socket buffers full. The complete response is
    // there to read: netkit must print it and end (as curl does) instead of
    // waiting on the stalled upload until the connection is reset.
    let body = vec![b'z'; 64 * MIB];
    let file = TempFile::with("upload.bin", &body);
    let srv = Raw::start(|c| {
        let deadline = Instant::now() + TIMEOUT;
        while find(&c.buf, b"\r\n\r\n").is_none() {
            if !c.fill(deadline) {
                return;
            }
        }
        c.send(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\
              Connection: close\r\n\r\ntoo big\n",
        );
        // Read nothing more; close (with a reset) only after 20 s.
        for _ in 0..200 {
            if c.stop.load(Ordering::SeqCst) {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let arg = format!("@{}", file.path.display());
    let out = http(&["-d", &arg, &srv.url("/upload")]);
    out.ok();
    assert_eq!(out.stdout, b"too big\n");

    let out = http(&["-f", "-d", &arg, &srv.url("/upload")]);
    out.fails(8);
}

#[test]
fn data_with_an_explicit_method_keeps_the_method() {
    let srv = Raw::reply(ok_response(b""));
    let out = http(&["-X", "PUT", "-d", "{\"a\":1}", &srv.url("/r")]);
    out.ok();
    assert_eq!(out.stdout, b"");
    let req = srv.only();
    assert_eq!(req.method, "PUT");
    assert_eq!(req.body, b"{\"a\":1}");
    assert_eq!(req.header("content-length"), "7");
}

#[test]
fn data_from_a_missing_file_is_a_usage_error() {
    let srv = Raw::reply(ok_response(b""));
    let out = http(&["-d", "@/nonexistent/netkit/body", &srv.url("/")]);
    out.fails(2);
    assert!(out.stdout.is_empty());
    assert_eq!(srv.connections(), 0, "nothing should be sent");
}

#[test]
fn headers_are_added_and_override_defaults() {
    let srv = Raw::reply(ok_response(b"h"));
    let out = http(&[
        "-H",
        "User-Agent: probe/2.0",
        "-H",
        "X-Trace: abc 123",
        "-H",
        "accept: text/plain",
        "-H",
        "X-Empty-After-Trim:   padded   ",
        &srv.url("/h"),
    ]);
    out.ok();
    let req = srv.only();
    assert_eq!(req.header("user-agent"), "probe/2.0");
    assert_eq!(req.header("x-trace"), "abc 123");
    assert_eq!(req.header("accept"), "text/plain");
    assert_eq!(req.header("x-empty-after-trim"), "padded");
    assert_eq!(req.header("host"), format!("127.0.0.1:{}", srv.port));
}

#[test]
fn header_without_a_value_removes_a_default() {
    let srv = Raw::reply(ok_response(b"h"));
    let out = http(&["-H", "Accept:", "-H", "User-Agent:", &srv.url("/")]);
    out.ok();
    let req = srv.only();
    assert!(req.all("accept").is_empty(), "{req:#?}");
    assert!(req.all("user-agent").is_empty(), "{req:#?}");
    assert_eq!(req.all("host").len(), 1);
}

#[test]
fn host_header_can_be_overridden() {
    let srv = Raw::reply(ok_response(b"h"));
    let out = http(&["-H", "Host: example.test", &srv.url("/")]);
    out.ok();
    assert_eq!(srv.only().header("host"), "example.test");
}

#[test]
fn repeated_custom_header_sends_every_value() {
    // `-H` replaces a *default* of the same name (its help says so); two
    // user-given fields of one name are both sent, as curl does.
    let srv = Raw::reply(ok_response(b"h"));
    let out = http(&["-H", "X-Multi: one", "-H", "X-Multi: two", &srv.url("/")]);
    out.ok();
    let req = srv.only();
    assert_eq!(req.all("x-multi"), vec!["one", "two"], "{req:#?}");
}

#[test]
fn malformed_header_flag_is_a_usage_error() {
    let srv = Raw::reply(ok_response(b""));
    for bad in ["NoColon", ": no name", "Bad Name: v"] {
        let out = http(&["-H", bad, &srv.url("/")]);
        out.fails(2);
    }
    assert_eq!(srv.connections(), 0);
}

#[test]
fn user_flag_sends_basic_auth() {
    let srv = Raw::reply(ok_response(b"secret"));
    let out = http(&["-u", "user:pass", &srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"secret");
    assert_eq!(srv.only().header("authorization"), "Basic dXNlcjpwYXNz");

    let srv = Raw::reply(ok_response(b"secret"));
    let out = http(&["-u", "us:er:p@ss word", &srv.url("/")]);
    out.ok();
    assert_eq!(
        srv.only().header("authorization"),
        format!("Basic {}", b64("us:er:p@ss word"))
    );
}

#[test]
fn userinfo_in_the_url_sends_basic_auth() {
    let srv = Raw::reply(ok_response(b"in"));
    let url = format!("http://al%40ice:s%3Acret@127.0.0.1:{}/private", srv.port);
    let out = http(&[&url]);
    out.ok();
    assert_eq!(out.stdout, b"in");
    let req = srv.only();
    assert_eq!(
        req.header("authorization"),
        format!("Basic {}", b64("al@ice:s:cret"))
    );
    assert_eq!(req.target, "/private");
    assert_eq!(req.header("host"), format!("127.0.0.1:{}", srv.port));
}

#[test]
fn ipv6_literal_url() {
    let Some((l, port)) = ipv6_loopback() else {
        return;
    };
    let srv = Raw::start_on(l, |c| {
        if c.request().is_some() {
            c.send(&ok_response(b"over ipv6\n"));
        }
    });
    let url = format!("http://[::1]:{port}/six");
    let out = http_json(&[&url]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["status"], 200);
    assert_eq!(ev["text"], "over ipv6\n");
    assert_eq!(ev["remote_ip"], "::1");
    assert_eq!(ev["remote_port"], port);
    let req = srv.only();
    assert_eq!(req.target, "/six");
    assert_eq!(req.header("host"), format!("[::1]:{port}"));

    let out = http(&[&url]);
    out.ok();
    assert_eq!(out.stdout, b"over ipv6\n");
}

#[test]
fn head_flag_sends_head_and_prints_the_head_only() {
    // A HEAD response announces a length but has no body; the connection
    // stays open, so netkit must not wait for those bytes.
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-Test: yes\r\n\r\n";
    let srv = Raw::reply_open(head);
    let out = http(&["-I", &srv.url("/h")]);
    out.ok();
    assert_eq!(out.text(), head);
    let req = srv.only();
    assert_eq!(req.method, "HEAD");
    assert_eq!(req.target, "/h");

    let srv = Raw::reply_open(head);
    let out = http(&["--head", &srv.url("/h")]);
    out.ok();
    assert_eq!(out.text(), head);
    assert_eq!(srv.only().method, "HEAD");
}

// ===========================================================================
// Framing

#[test]
fn content_length_body_ends_without_waiting_for_close() {
    // Bytes beyond Content-Length are not part of the body.
    let srv = Raw::reply_open("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA");
    let out = http(&[&srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"hello");
}

#[test]
fn content_length_zero() {
    let srv = Raw::reply_open("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let out = http(&[&srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"");
}

#[test]
fn binary_body_to_stdout_is_byte_exact() {
    let body = random_bytes(3 * MIB + 17, 11);
    let srv = Raw::reply_open(ok_response(&body));
    let out = http(&[&srv.url("/bin")]);
    out.ok();
    assert_same_bytes("binary body on stdout", &body, &out.stdout);
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let reply = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                 5;name=value\r\nhello\r\n6\r\n world\r\nA\r\n0123456789\r\n\
                 0\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n";
    let srv = Raw::reply_open(reply);
    let out = http(&[&srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"hello world0123456789");

    // -v shows the trailers with the response head.
    let srv = Raw::reply_open(reply);
    let out = http(&["-v", &srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"hello world0123456789");
    let got = marked(&out.stderr, "< ");
    assert!(
        got.iter().any(|l| l == "X-Checksum: abc"),
        "trailer not shown: {}",
        out.stderr
    );
}

#[test]
fn chunked_body_split_across_many_writes() {
    // The server writes the chunked body a few bytes at a time.
    let mut reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let body = random_bytes(40_000, 3);
    for part in body.chunks(999) {
        reply.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        reply.extend_from_slice(part);
        reply.extend_from_slice(b"\r\n");
    }
    reply.extend_from_slice(b"0\r\n\r\n");
    let srv = Raw::start(move |c| {
        if c.request().is_some() {
            for piece in reply.chunks(7777) {
                c.send(piece);
                thread::sleep(Duration::from_millis(2));
            }
            c.hold();
        }
    });
    let out = http(&[&srv.url("/")]);
    out.ok();
    assert_same_bytes("chunked body", &body, &out.stdout);
}

#[test]
fn close_delimited_body() {
    let body = random_bytes(200_000, 5);
    let mut reply = b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n".to_vec();
    reply.extend_from_slice(&body);
    let srv = Raw::reply(reply);
    let out = http(&[&srv.url("/")]);
    out.ok();
    assert_same_bytes("close-delimited body (HTTP/1.0)", &body, &out.stdout);

    let mut reply = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
    reply.extend_from_slice(b"until the end");
    let srv = Raw::reply(reply);
    let out = http(&[&srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"until the end");
}

#[test]
fn no_body_for_204_and_304_even_with_a_length() {
    for reply in [
        "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 50\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n",
    ] {
        let srv = Raw::reply_open(reply);
        let out = http(&[&srv.url("/")]);
        out.ok();
        assert_eq!(out.stdout, b"", "{reply:?}");
        let out = http_json(&[&srv.url("/")]);
        out.ok();
        let ev = out.response();
        assert_eq!(ev["size_download"], 0, "{reply:?}");
    }
}

#[test]
fn chunked_wins_over_content_length() {
    let srv = Raw::reply_open(
        "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    );
    let out = http(&[&srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"abc");
}

#[test]
fn interim_responses_are_skipped() {
    let reply = "HTTP/1.1 100 Continue\r\n\r\n\
                 HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n\
                 HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal";
    let srv = Raw::reply_open(reply);
    let out = http(&[&srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"final");

    let out = http_json(&[&srv.url("/")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["status"], 200);
    assert_eq!(ev["reason"], "OK");
    assert_eq!(ev["headers"]["x-final"], "yes");
    assert!(ev["headers"].get("link").is_none(), "{ev}");
    assert_eq!(ev["text"], "final");

    let out = http(&["-i", &srv.url("/")]);
    out.ok();
    assert!(
        out.text()
            .ends_with("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal"),
        "{}",
        out.text()
    );
}

#[test]
fn a_large_head_under_the_limit_is_fine() {
    // About 60 KiB of head, under the 64 KiB limit; and 100 fields.
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    head.push_str(&format!("X-Big: {}\r\n", "a".repeat(60_000)));
    for i in 0..100 {
        head.push_str(&format!("X-F{i}: {i}\r\n"));
    }
    head.push_str("Content-Length: 2\r\n\r\nok");
    let srv = Raw::reply_open(head);
    let out = http(&[&srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"ok");
}

#[test]
fn head_over_64_kib_is_a_protocol_error() {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    head.push_str(&format!("X-Big: {}\r\n", "a".repeat(70 * 1024)));
    head.push_str("Content-Length: 2\r\n\r\nok");
    let srv = Raw::reply_open(head);
    let out = http(&[&srv.url("/")]);
    out.fails(6);
    assert!(out.stdout.is_empty());
}

#[test]
fn endless_head_is_a_protocol_error_without_waiting_for_close() {
    // Header lines keep coming and the connection stays open.
    let srv = Raw::start(|c| {
        if c.request().is_some() {
            c.send(b"HTTP/1.1 200 OK\r\n");
            for i in 0..20_000 {
                c.send(format!("X-Line-{i}: {}\r\n", "v".repeat(40)).as_bytes());
                if c.stop.load(Ordering::SeqCst) {
                    return;
                }
            }
            c.hold();
        }
    });
    let out = http(&[&srv.url("/")]);
    out.fails(6);
}

#[test]
fn too_many_header_fields_is_a_protocol_error() {
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..500 {
        head.push_str(&format!("X-F{i}: {i}\r\n"));
    }
    head.push_str("Content-Length: 2\r\n\r\nok");
    let srv = Raw::reply_open(head);
    let out = http(&[&srv.url("/")]);
    out.fails(6);
    assert!(out.stdout.is_empty());
}

// ===========================================================================
// Keep-alive and redirects

/// A server for redirect tests: `/r/STATUS/N` answers STATUS with Location
/// `/r/STATUS/N-1` until N is 0, which answers 200 with a body naming the
/// request. Connections are kept alive.
fn redirect_server() -> Raw {
    Raw::start(|c| {
        while let Some(req) = c.request() {
            let parts: Vec<&str> = req.target.trim_start_matches('/').split('/').collect();
            let reply = match parts.as_slice() {
                ["r", status, n] if *n != "0" => {
                    let n: u32 = n.parse().unwrap();
                    let body = "moved";
                    format!(
                        "HTTP/1.1 {status} Redirect\r\nLocation: /r/{status}/{}\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        n - 1,
                        body.len()
                    )
                }
                _ => {
                    let body = format!("{} {} {}", req.method, req.target, req.body.len());
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                }
            };
            c.send(reply.as_bytes());
        }
    })
}

#[test]
fn same_origin_redirect_reuses_the_connection() {
    let srv = redirect_server();
    let out = http(&["-L", &srv.url("/r/302/1")]);
    out.ok();
    assert_eq!(out.stdout, b"GET /r/302/0 0");
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2, "{reqs:#?}");
    assert_eq!(reqs[0].target, "/r/302/1");
    assert_eq!(reqs[1].target, "/r/302/0");
    assert_eq!(
        srv.connections(),
        1,
        "the redirect should reuse the kept-alive connection: {reqs:#?}"
    );
    assert!(reqs.iter().all(|r| r.conn == 0), "{reqs:#?}");
}

#[test]
fn many_same_origin_redirects_use_one_connection() {
    let srv = redirect_server();
    let out = http_json(&["-L", &srv.url("/r/301/5")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["num_redirects"], 5);
    assert_eq!(ev["status"], 200);
    assert_eq!(ev["url"], srv.url("/r/301/0"));
    assert_eq!(ev["text"], "GET /r/301/0 0");
    assert_eq!(srv.requests().len(), 6);
    assert_eq!(srv.connections(), 1);
}

#[test]
fn http_1_0_keep_alive_is_reused_too() {
    let srv = Raw::start(|c| {
        while let Some(req) = c.request() {
            if req.target == "/a" {
                c.send(b"HTTP/1.0 301 Moved\r\nLocation: /b\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
            } else {
                c.send(
                    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 4\r\n\r\nat b",
                );
            }
        }
    });
    let out = http(&["-L", &srv.url("/a")]);
    out.ok();
    assert_eq!(out.stdout, b"at b");
    assert_eq!(srv.requests().len(), 2);
    assert_eq!(srv.connections(), 1);
}

#[test]
fn kept_alive_connection_closed_by_the_server_is_replaced() {
    // The redirect says nothing about closing, but the server closes right
    // after it: the follow-up request must go out on a fresh connection.
    let srv = Raw::start(|c| {
        if let Some(req) = c.request() {
            if req.target == "/a" {
                c.send(b"HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\n\r\n");
            } else {
                c.send(&ok_response(b"fresh"));
            }
        }
    });
    let out = http(&["-L", &srv.url("/a")]);
    out.ok();
    assert_eq!(out.stdout, b"fresh");
    let targets: Vec<String> = srv.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/a", "/b"]);
    assert_eq!(srv.connections(), 2);
}

#[test]
fn redirect_without_location_is_the_final_response() {
    let srv = Raw::reply_open("HTTP/1.1 302 Found\r\nContent-Length: 2\r\n\r\nno");
    let out = http(&["-L", &srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"no");
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn redirect_to_an_unsupported_scheme_fails_cleanly() {
    let srv = Raw::reply_open(
        "HTTP/1.1 302 Found\r\nLocation: ftp://127.0.0.1/x\r\nContent-Length: 0\r\n\r\n",
    );
    let out = http(&["-L", &srv.url("/")]);
    assert_ne!(out.code, 0);
    assert_one_error_line(&out.stderr);
}

#[test]
fn redirect_after_connection_close_opens_a_new_connection() {
    let srv = Raw::start(|c| {
        if let Some(req) = c.request() {
            if req.target == "/a" {
                c.send(b"HTTP/1.1 302 Found\r\nLocation: /b\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
            } else {
                c.send(&ok_response(b"at b"));
            }
        }
    });
    let out = http(&["-L", &srv.url("/a")]);
    out.ok();
    assert_eq!(out.stdout, b"at b");
    assert_eq!(srv.connections(), 2);
}

#[test]
fn same_origin_redirect_keeps_credentials() {
    let srv = redirect_server();
    let out = http(&["-L", "-u", "user:pass", &srv.url("/r/302/1")]);
    out.ok();
    let reqs = srv.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.header("authorization"), "Basic dXNlcjpwYXNz", "{r:#?}");
    }
}

#[test]
fn cross_origin_redirect_drops_credentials() {
    let target = Raw::reply(ok_response(b"other origin"));
    let loc = target.url("/landing");
    let first = Raw::reply(format!(
        "HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n"
    ));
    let out = http(&["-L", "-u", "user:pass", &first.url("/start")]);
    out.ok();
    assert_eq!(out.stdout, b"other origin");
    assert_eq!(first.only().header("authorization"), "Basic dXNlcjpwYXNz");
    let req = target.only();
    assert_eq!(req.target, "/landing");
    assert_eq!(req.header("host"), format!("127.0.0.1:{}", target.port));
    assert!(
        req.all("authorization").is_empty(),
        "credentials leaked to another origin: {req:#?}"
    );
}

/// A `-H Cookie` is a credential too: curl keeps it to its origin
/// (CVE-2022-27776), so does netkit.
#[test]
fn cross_origin_redirect_drops_a_cookie_header() {
    let target = Raw::reply(ok_response(b"other origin"));
    let loc = target.url("/landing");
    let first = Raw::reply(format!(
        "HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n"
    ));
    let out = http(&["-L", "-H", "Cookie: s=1", &first.url("/start")]);
    out.ok();
    assert_eq!(out.stdout, b"other origin");
    assert_eq!(first.only().header("cookie"), "s=1");
    let req = target.only();
    assert!(
        req.all("cookie").is_empty(),
        "a cookie leaked to another origin: {req:#?}"
    );
}

#[test]
fn redirect_methods_follow_the_status() {
    // (status, method sent, method expected after, body kept)
    let cases = [
        (301, "POST", "GET", false),
        (302, "POST", "GET", false),
        (303, "POST", "GET", false),
        (303, "PUT", "GET", false),
        (307, "POST", "POST", true),
        (308, "POST", "POST", true),
        (307, "PUT", "PUT", true),
        (308, "DELETE", "DELETE", true),
    ];
    for (status, method, after, kept) in cases {
        let srv = redirect_server();
        let out = http(&[
            "-L",
            "-X",
            method,
            "-d",
            "payload=1",
            &srv.url(&format!("/r/{status}/1")),
        ]);
        out.ok();
        let reqs = srv.requests();
        assert_eq!(reqs.len(), 2, "{status} {method}: {reqs:#?}");
        assert_eq!(reqs[0].method, method);
        assert_eq!(reqs[0].body, b"payload=1");
        let second = &reqs[1];
        assert_eq!(second.method, after, "{status} {method}: {reqs:#?}");
        if kept {
            assert_eq!(second.body, b"payload=1", "{status}: {second:#?}");
            assert_eq!(second.header("content-length"), "9");
            assert_eq!(
                second.header("content-type"),
                "application/x-www-form-urlencoded"
            );
        } else {
            assert!(second.body.is_empty(), "{status}: {second:#?}");
            assert!(
                second.all("content-type").is_empty(),
                "{status}: {second:#?}"
            );
            let len = second.all("content-length");
            assert!(len.is_empty() || len == ["0"], "{status}: {second:#?}");
        }
        let want = format!("{after} /r/{status}/0 {}", if kept { 9 } else { 0 });
        assert_eq!(out.text(), want);
    }
}

#[test]
fn redirect_is_not_followed_without_l() {
    let srv = redirect_server();
    let out = http(&["-i", &srv.url("/r/301/3")]);
    out.ok();
    assert_eq!(
        out.text(),
        "HTTP/1.1 301 Redirect\r\nLocation: /r/301/2\r\nContent-Length: 5\r\n\r\nmoved"
    );
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn ten_redirects_are_followed_by_default_and_eleven_fail() {
    let srv = redirect_server();
    let out = http_json(&["-L", &srv.url("/r/302/10")]);
    out.ok();
    assert_eq!(out.response()["num_redirects"], 10);
    assert_eq!(srv.requests().len(), 11);

    let srv = redirect_server();
    let out = http(&["-L", &srv.url("/r/302/11")]);
    out.fails(6);
    assert!(out.stdout.is_empty(), "{}", out.text());
    assert!(out.stderr.contains("redirect"), "{}", out.stderr);
    assert_eq!(srv.requests().len(), 11);
}

#[test]
fn max_redirs_limits_the_chain() {
    let srv = redirect_server();
    let out = http(&["-L", "--max-redirs", "2", &srv.url("/r/307/3")]);
    out.fails(6);
    assert_eq!(srv.requests().len(), 3);

    let srv = redirect_server();
    let out = http(&["-L", "--max-redirs", "3", &srv.url("/r/307/3")]);
    out.ok();
    assert_eq!(out.stdout, b"GET /r/307/0 0");

    let srv = redirect_server();
    let out = http(&["-L", "--max-redirs", "0", &srv.url("/r/308/1")]);
    out.fails(6);
    assert_eq!(srv.requests().len(), 1);
}

#[test]
fn redirect_to_an_absolute_url_and_a_relative_path() {
    let srv = Raw::start(|c| {
        while let Some(req) = c.request() {
            let port = c.s.local_addr().unwrap().port();
            let reply = match req.target.as_str() {
                "/dir/start" => "HTTP/1.1 302 Found\r\nLocation: next?x=1\r\nContent-Length: 0\r\n\r\n".to_string(),
                "/dir/next?x=1" => format!(
                    "HTTP/1.1 301 Moved\r\nLocation: http://127.0.0.1:{port}/final\r\nContent-Length: 0\r\n\r\n"
                ),
                _ => String::from_utf8(ok_response(req.target.as_bytes())).unwrap(),
            };
            c.send(reply.as_bytes());
        }
    });
    let out = http(&["-L", &srv.url("/dir/start")]);
    out.ok();
    assert_eq!(out.stdout, b"/final");
    let targets: Vec<String> = srv.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/dir/start", "/dir/next?x=1", "/final"]);
}

// ===========================================================================
// Where the body goes

#[test]
fn output_file_is_byte_exact_and_stdout_stays_empty() {
    let body = random_bytes(5 * MIB + 3, 21);
    let srv = Raw::reply_open(ok_response(&body));
    let dir = TempDir::new("out");
    let path = dir.join_s("body.bin");
    let out = http(&["-o", &path, &srv.url("/file")]);
    out.ok();
    assert!(out.stdout.is_empty(), "{}", clip(&out.stdout));
    let got = std::fs::read(&path).unwrap();
    assert_same_bytes("-o FILE", &body, &got);

    // --output, and an existing file is replaced (truncated).
    std::fs::write(&path, vec![b'x'; 6 * MIB]).unwrap();
    let srv = Raw::reply_open(ok_response(b"short"));
    let out = http(&["--output", &path, &srv.url("/file")]);
    out.ok();
    assert_eq!(std::fs::read(&path).unwrap(), b"short");
}

#[test]
fn output_file_in_a_missing_directory_fails_cleanly() {
    let srv = Raw::reply_open(ok_response(b"data"));
    let out = http(&["-o", "/nonexistent/netkit/dir/out.bin", &srv.url("/")]);
    assert_ne!(out.code, 0);
    assert_one_error_line(&out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn closed_stdout_ends_quietly() {
    let body = random_bytes(8 * MIB, 9);
    let srv = Raw::reply_open(ok_response(&body));
    let script = format!(
        "\"$NETKIT\" http '{}' 2>\"$ERR\" | head -c 100 >/dev/null; exit ${{PIPESTATUS[0]}}",
        srv.url("/")
    );
    let dir = TempDir::new("pipe");
    let err_path = dir.join("stderr");
    let status = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("NETKIT", env!("CARGO_BIN_EXE_netkit"))
        .env("ERR", &err_path)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .status()
        .expect("run bash");
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert_eq!(status.code(), Some(0), "stderr: {stderr:?}");
    assert_eq!(stderr, "", "a closed stdout should end netkit quietly");
}

// ===========================================================================
// -i, -v, -f

#[test]
fn include_prints_status_line_and_headers_before_the_body() {
    let reply = "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-Case-Kept: Yes\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nhello";
    let srv = Raw::reply_open(reply);
    let out = http(&["-i", &srv.url("/")]);
    out.ok();
    assert_eq!(out.text(), reply);

    let out = http(&["--include", &srv.url("/")]);
    out.ok();
    assert_eq!(out.text(), reply);
}

#[test]
fn verbose_shows_both_heads_on_stderr_and_only_the_body_on_stdout() {
    let srv = Raw::reply_open("HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Srv: raw\r\n\r\nbody");
    let out = http(&["-v", "-H", "X-Mine: 1", &srv.url("/v?a=b")]);
    out.ok();
    assert_eq!(out.stdout, b"body");
    let sent = marked(&out.stderr, "> ");
    let got = marked(&out.stderr, "< ");
    assert_eq!(
        sent.first().map(String::as_str),
        Some("GET /v?a=b HTTP/1.1"),
        "{}",
        out.stderr
    );
    assert!(
        sent.contains(&format!("Host: 127.0.0.1:{}", srv.port)),
        "{}",
        out.stderr
    );
    assert!(sent.contains(&"X-Mine: 1".to_string()), "{}", out.stderr);
    assert_eq!(
        got.first().map(String::as_str),
        Some("HTTP/1.1 200 OK"),
        "{}",
        out.stderr
    );
    assert!(
        got.contains(&"Content-Length: 4".to_string()),
        "{}",
        out.stderr
    );
    assert!(got.contains(&"X-Srv: raw".to_string()), "{}", out.stderr);
    // Request lines come before response lines.
    let lines: Vec<&str> = out.stderr.lines().collect();
    let first_sent = lines.iter().position(|l| l.starts_with("> ")).unwrap();
    let first_got = lines.iter().position(|l| l.starts_with("< ")).unwrap();
    assert!(first_sent < first_got, "{}", out.stderr);
}

#[test]
fn fail_on_4xx_and_5xx_exits_8_with_no_body() {
    for status in [400, 404, 500, 503] {
        let reply = format!("HTTP/1.1 {status} Oops\r\nContent-Length: 9\r\n\r\nerror body");
        let srv = Raw::reply_open(reply);
        let out = http(&["-f", &srv.url("/")]);
        out.fails(8);
        assert!(out.stdout.is_empty(), "{status}: {}", out.text());
        assert!(out.stderr.contains(&status.to_string()), "{}", out.stderr);

        let out = http(&["--fail", "-i", &srv.url("/")]);
        out.fails(8);
        assert!(
            !out.text().contains("error bod"),
            "{status}: body printed with --fail: {}",
            out.text()
        );
    }
}

#[test]
fn without_fail_any_well_formed_response_exits_0() {
    for status in [200, 201, 301, 399, 400, 404, 418, 500, 599] {
        let reply = format!("HTTP/1.1 {status} Whatever\r\nContent-Length: 4\r\n\r\nbody");
        let srv = Raw::reply_open(reply);
        let out = http(&[&srv.url("/")]);
        out.ok();
        assert_eq!(out.stdout, b"body", "{status}");
        // -f below 400 succeeds too.
        if status < 400 {
            let out = http(&["-f", &srv.url("/")]);
            out.ok();
            assert_eq!(out.stdout, b"body", "{status}");
        }
    }
}

// ===========================================================================
// --timing and --json

#[test]
fn timing_report_on_stderr() {
    let srv = Raw::reply_open(ok_response(b"timed"));
    let out = http(&["--timing", &srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"timed", "the body alone on stdout");
    let err = out.stderr.to_lowercase();
    for label in ["dns", "tcp connect", "tls handshake", "total"] {
        assert!(
            err.lines().any(|l| l.trim_start().starts_with(label)),
            "no {label:?} line in --timing output: {}",
            out.stderr
        );
    }
    assert!(
        err.lines()
            .any(|l| l.contains("first byte") || l.contains("ttfb")),
        "no first-byte line in --timing output: {}",
        out.stderr
    );
}

fn assert_timing_fields(ev: &Value) {
    let names = [
        "time_namelookup",
        "time_connect",
        "time_appconnect",
        "time_pretransfer",
        "time_starttransfer",
        "time_total",
    ];
    let mut last = 0.0;
    for name in names {
        let t = ev[name]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} is not a number: {ev}"));
        assert!(t >= 0.0, "{name} negative: {ev}");
        // Each phase ends no earlier than the one before (as curl's).
        assert!(t >= last, "{name} before the previous phase: {ev}");
        last = t;
    }
    assert!(
        ev["time_redirect"].as_f64().is_some_and(|t| t >= 0.0),
        "{ev}"
    );
    assert!(
        ev["speed_download"].as_f64().is_some_and(|s| s >= 0.0),
        "{ev}"
    );
}

#[test]
fn json_response_event_has_every_field() {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\
                Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-MiXeD-Case: v\r\n\r\n";
    let mut reply = head.as_bytes().to_vec();
    reply.extend_from_slice(b"hello json\n!");
    let srv = Raw::reply_open(reply);
    let out = http_json(&[&srv.url("/j?k=v")]);
    out.ok();
    assert_eq!(
        out.text().lines().count(),
        1,
        "one event line: {}",
        out.text()
    );
    let ev = out.response();
    assert_eq!(ev["url"], srv.url("/j?k=v"));
    assert_eq!(ev["method"], "GET");
    assert_eq!(ev["status"], 200);
    assert_eq!(ev["reason"], "OK");
    assert_eq!(ev["http_version"], "HTTP/1.1");
    assert_eq!(ev["headers"]["content-type"], "text/plain");
    assert_eq!(ev["headers"]["content-length"], "12");
    assert_eq!(
        ev["headers"]["set-cookie"],
        serde_json::json!(["a=1", "b=2"])
    );
    assert_eq!(ev["headers"]["x-mixed-case"], "v");
    assert_eq!(ev["remote_ip"], "127.0.0.1");
    assert_eq!(ev["remote_port"], srv.port);
    assert_eq!(ev["size_header"], head.len());
    assert_eq!(ev["size_download"], 12);
    assert_eq!(ev["size_upload"], 0);
    assert_eq!(ev["num_redirects"], 0);
    assert_timing_fields(&ev);
    assert_eq!(ev["text"], "hello json\n!");
    assert!(ev.get("bytes").is_none(), "{ev}");
}

#[test]
fn json_binary_body_is_base64_bytes() {
    let body: Vec<u8> = (0u8..=255).collect();
    let srv = Raw::reply_open(ok_response(&body));
    let out = http_json(&[&srv.url("/")]);
    out.ok();
    let ev = out.response();
    assert!(ev.get("text").is_none(), "{ev}");
    assert_eq!(payload(&ev), body);
    assert_eq!(ev["size_download"], 256);
}

#[test]
fn json_with_output_file_has_no_body_field() {
    let body = random_bytes(100_000, 4);
    let srv = Raw::reply_open(ok_response(&body));
    let dir = TempDir::new("json-o");
    let path = dir.join_s("out");
    let out = http_json(&["-o", &path, &srv.url("/")]);
    out.ok();
    let ev = out.response();
    assert!(
        ev.get("text").is_none() && ev.get("bytes").is_none(),
        "{ev}"
    );
    assert_eq!(ev["size_download"], body.len());
    assert_same_bytes("-o with --json", &body, &std::fs::read(&path).unwrap());
}

#[test]
fn json_post_reports_upload_size_and_final_url_after_redirect() {
    let srv = redirect_server();
    let out = http_json(&["-L", "-d", "abcdef", &srv.url("/r/307/1")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["method"], "POST");
    assert_eq!(ev["url"], srv.url("/r/307/0"));
    assert_eq!(ev["num_redirects"], 1);
    assert_eq!(ev["size_upload"], 6);
    assert_eq!(ev["text"], "POST /r/307/0 6");
    assert_timing_fields(&ev);
}

#[test]
fn json_error_event_on_failure() {
    let port = free_port();
    let out = http_json(&[&format!("http://127.0.0.1:{port}/")]);
    out.fails(4);
    let events = out.events();
    let err = events
        .iter()
        .find(|v| v["event"] == "error")
        .unwrap_or_else(|| panic!("no error event: {events:#?}"));
    assert_eq!(err["exit"], 4, "{err}");
}

// ===========================================================================
// Timeouts

#[test]
fn max_time_against_a_silent_server_exits_5() {
    let srv = Raw::start(|c| {
        c.request();
        c.hold();
    });
    let out = http(&["-m", "1s", &srv.url("/")]);
    out.fails(5);
    assert!(out.stdout.is_empty());
    let out = http(&["--max-time", "300ms", &srv.url("/")]);
    out.fails(5);
}

#[test]
fn max_time_covers_a_body_that_trickles() {
    let srv = Raw::start(|c| {
        if c.request().is_some() {
            c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n");
            for _ in 0..600 {
                if c.stop.load(Ordering::SeqCst) {
                    return;
                }
                c.send(b"x");
                thread::sleep(Duration::from_millis(100));
            }
        }
    });
    let out = http(&["-m", "1s", "-o", "/dev/null", &srv.url("/")]);
    out.fails(5);
}

#[test]
fn sigint_exits_130() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = Mutex::new(tx);
    let srv = Raw::start(move |c| {
        if c.request().is_some() {
            let _ = tx.lock().unwrap().send(());
            c.hold();
        }
    });
    let mut cmd = netkit();
    cmd.args(["http", &srv.url("/")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let out = proc.stdout_bytes();
    let err = proc.stderr_bytes();
    rx.recv_timeout(TIMEOUT).expect("the request never arrived");
    proc.signal("INT");
    let status = proc.wait(TIMEOUT);
    let stderr = err.text();
    assert_eq!(code(status), 130, "stderr: {stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.join().is_empty());
}

/// A listener whose accept queue is full, so a new connect hangs (the SYN is
/// dropped). Keep the returned values alive while it is used.
fn blackhole() -> Option<(socket2::Socket, Vec<TcpStream>, u16)> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    s.listen(0).unwrap();
    let addr = s.local_addr().unwrap().as_socket().unwrap();
    let mut fill = Vec::new();
    for _ in 0..64 {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
            Ok(c) => fill.push(c),
            Err(_) => return Some((s, fill, addr.port())),
        }
    }
    None
}

#[test]
fn connect_timeout_exits_5() {
    let Some((_l, _fill, port)) = blackhole() else {
        panic!("could not make a listener whose connects hang (accept queue never filled)");
    };
    let out = http(&[
        "--connect-timeout",
        "500ms",
        &format!("http://127.0.0.1:{port}/"),
    ]);
    out.fails(5);
    assert!(out.stdout.is_empty());
}

#[test]
fn connect_timeout_covers_the_tls_handshake() {
    // TCP connects, but the server never answers the ClientHello. As with
    // curl, --connect-timeout covers the whole connection setup.
    let srv = Raw::start(|c| c.hold());
    let url = format!("https://127.0.0.1:{}/", srv.port);
    let out = http(&["--connect-timeout", "1s", &url]);
    out.fails(5);
}

// ===========================================================================
// HTTPS

struct TlsSetup {
    _dir: TempDir,
    pki: Pki,
    nginx: Nginx,
}

/// nginx over TLS with a fresh CA and a certificate for `names`.
fn tls_nginx(names: &[&str], files: &[(&str, &[u8])]) -> Option<TlsSetup> {
    let dir = TempDir::new("pki");
    let pki = make_pki(&dir.path, names);
    let nginx = Nginx::start(files, "", Some(&pki))?;
    Some(TlsSetup {
        _dir: dir,
        pki,
        nginx,
    })
}

/// Connect and TLS facts are events: `--json -v` carries `connected` and
/// `tls_session` (as `tcp connect --tls` does; plain `--json` stays one
/// event), `-v` shows the same lines as before.
#[test]
fn https_json_carries_the_connection_and_the_tls_session() {
    let Some(t) = tls_nginx(&["localhost", "127.0.0.1"], &[("index.html", b"secure\n")]) else {
        return;
    };
    let ca = t.pki.ca.to_string_lossy().into_owned();
    let out = http_json(&["-v", "--cacert", &ca, &t.nginx.url("/index.html")]);
    out.ok();
    let events = out.events();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["connected", "tls_session", "http_response"],
        "{events:#?}"
    );
    assert_eq!(events[0]["remote"], format!("127.0.0.1:{}", t.nginx.port));
    assert_eq!(events[0]["reused"], false);
    assert!(events[1]["version"].as_str().unwrap().starts_with("TLSv1."));
    assert_eq!(events[1]["alpn"], "http/1.1");
    let out = http(&["-v", "--cacert", &ca, &t.nginx.url("/index.html")]);
    out.ok();
    let port = t.nginx.port;
    assert!(
        out.stderr
            .contains(&format!("* connected to 127.0.0.1:{port} from 127.0.0.1:")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("* TLS: TLSv1."), "{}", out.stderr);
    assert!(out.stderr.contains(", ALPN http/1.1\n"), "{}", out.stderr);
}

/// `-D -` in JSON mode: the head is an event, not raw text in the NDJSON.
#[test]
fn dump_header_to_stdout_is_an_event_in_json() {
    let srv = Raw::reply(ok_response(b"hi"));
    let out = http_json(&["-D", "-", &srv.url("/")]);
    out.ok();
    let events = out.events();
    let heads: Vec<&Value> = events.iter().filter(|e| e["event"] == "head").collect();
    assert_eq!(heads.len(), 1, "{events:#?}");
    let text = heads[0]["text"].as_str().unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text:?}");
    assert!(text.ends_with("\r\n\r\n"), "{text:?}");
    // People still get the bytes as received.
    let out = http(&["-D", "-", &srv.url("/")]);
    out.ok();
    assert_eq!(out.stdout, format!("{text}hi").as_bytes());
}

#[test]
fn https_untrusted_certificate_exits_7() {
    let Some(t) = tls_nginx(&["localhost", "127.0.0.1"], &[("index.html", b"secure\n")]) else {
        return;
    };
    let out = http(&[&t.nginx.url("/index.html")]);
    out.fails(7);
    assert!(out.stderr.contains("not trusted"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn https_with_cacert_by_ip_and_by_name() {
    let Some(t) = tls_nginx(&["localhost", "127.0.0.1"], &[("index.html", b"secure\n")]) else {
        return;
    };
    let ca = t.pki.ca.to_string_lossy().into_owned();
    let out = http(&["--cacert", &ca, &t.nginx.url("/index.html")]);
    out.ok();
    assert_eq!(out.stdout, b"secure\n");

    let url = format!("https://localhost:{}/index.html", t.nginx.port);
    let out = http(&["-4", "--cacert", &ca, &url]);
    out.ok();
    assert_eq!(out.stdout, b"secure\n");

    let out = http_json(&["--cacert", &ca, &t.nginx.url("/index.html")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["status"], 200);
    assert_eq!(ev["text"], "secure\n");
    assert_timing_fields(&ev);
    let (c, a) = (
        ev["time_connect"].as_f64().unwrap(),
        ev["time_appconnect"].as_f64().unwrap(),
    );
    assert!(a >= c, "{ev}");

    let out = http(&["--timing", "--cacert", &ca, &t.nginx.url("/index.html")]);
    out.ok();
    assert_eq!(out.stdout, b"secure\n");
    assert!(out.stderr.contains("TLS handshake"), "{}", out.stderr);
}

#[test]
fn https_insecure_works_and_warns() {
    let Some(t) = tls_nginx(&["localhost", "127.0.0.1"], &[("index.html", b"secure\n")]) else {
        return;
    };
    for flag in ["-k", "--insecure"] {
        let out = http(&[flag, &t.nginx.url("/index.html")]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stdout, b"secure\n");
        assert!(
            !out.stderr.contains("panicked") && !out.stderr.contains("netkit:"),
            "{}",
            out.stderr
        );
        let warning = out.stderr.to_lowercase();
        assert!(
            warning.contains("insecure") || warning.contains("not verified"),
            "no warning about -k on stderr: {:?}",
            out.stderr
        );
    }
    // A name mismatch is also accepted with -k.
    let url = format!("https://localhost:{}/index.html", t.nginx.port);
    let out = http(&["-k", "-4", &url]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn https_name_mismatch_exits_7() {
    let Some(t) = tls_nginx(&["other.example"], &[("index.html", b"secure\n")]) else {
        return;
    };
    let ca = t.pki.ca.to_string_lossy().into_owned();
    let out = http(&["--cacert", &ca, &t.nginx.url("/index.html")]);
    out.fails(7);
    assert!(out.stdout.is_empty());
    let url = format!("https://localhost:{}/index.html", t.nginx.port);
    let out = http(&["-4", "--cacert", &ca, &url]);
    out.fails(7);
}

#[test]
fn https_to_a_plain_http_port_exits_7() {
    // A raw server that answers anything with an HTTP error and closes.
    let srv = Raw::start(|c| {
        let deadline = Instant::now() + TIMEOUT;
        c.fill(deadline);
        c.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
    let out = http(&[&format!("https://127.0.0.1:{}/", srv.port)]);
    out.fails(7);

    // A server that reads the ClientHello and closes (a clean FIN).
    let srv = Raw::start(|c| {
        c.fill(Instant::now() + TIMEOUT);
    });
    let out = http(&[&format!("https://127.0.0.1:{}/", srv.port)]);
    out.fails(7);
}

#[test]
fn https_to_plain_nginx_exits_7() {
    let Some(n) = Nginx::start(&[("index.html", b"plain\n")], "", None) else {
        return;
    };
    let out = http(&[&format!("https://127.0.0.1:{}/index.html", n.port)]);
    out.fails(7);
}

#[test]
fn cacert_missing_or_not_pem_is_a_usage_error() {
    let srv = Raw::reply(ok_response(b""));
    let url = format!("https://127.0.0.1:{}/", srv.port);
    let out = http(&["--cacert", "/nonexistent/ca.pem", &url]);
    out.fails(2);
    let junk = TempFile::with("junk.pem", b"this is not a certificate\n");
    let out = http(&["--cacert", &junk.path.to_string_lossy(), &url]);
    out.fails(2);
}

#[test]
fn https_large_file_and_redirect_over_tls_nginx() {
    let body = random_bytes(16 * MIB, 77);
    let Some(t) = tls_nginx(
        &["localhost", "127.0.0.1"],
        &[("big.bin", &body), ("other.txt", b"the other file\n")],
    ) else {
        return;
    };
    let ca = t.pki.ca.to_string_lossy().into_owned();
    let out = http(&["--cacert", &ca, &t.nginx.url("/big.bin")]);
    out.ok();
    assert_same_bytes("16 MiB over TLS", &body, &out.stdout);

    let out = http(&["-v", "-L", "--cacert", &ca, &t.nginx.url("/old")]);
    out.ok();
    assert_eq!(out.stdout, b"the other file\n");
    assert!(
        out.stderr.contains("reusing the connection"),
        "same-origin redirect should reuse the TLS connection: {}",
        out.stderr
    );
}

// ===========================================================================
// Bad input and failures: one test per cause, one stderr line each

#[test]
fn invalid_url_exits_2() {
    for url in [
        "http://exa mple.com/",
        "http://[::1/",
        "http://host:99999/",
        "::::",
    ] {
        let out = http(&[url]);
        out.fails(2);
        assert!(out.stdout.is_empty(), "{url}");
    }
}

#[test]
fn unsupported_scheme_exits_2() {
    for url in [
        "ftp://127.0.0.1/file",
        "ws://127.0.0.1/",
        "file:///etc/hostname",
    ] {
        let out = http(&[url]);
        out.fails(2);
        assert!(
            out.stderr.contains("scheme") || out.stderr.contains(url),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn url_without_a_host_exits_2() {
    for url in ["http://", "https://", "http://:8080/"] {
        let out = http(&[url]);
        out.fails(2);
    }
}

#[test]
fn dns_failure_exits_3() {
    let out = http(&["http://nosuch.invalid/"]);
    out.fails(3);
    assert!(out.stderr.contains("nosuch.invalid"), "{}", out.stderr);
}

#[test]
fn connection_refused_exits_4() {
    let port = free_port();
    let out = http(&[&format!("http://127.0.0.1:{port}/")]);
    out.fails(4);
    assert!(out.stderr.contains(&port.to_string()), "{}", out.stderr);
}

#[test]
fn garbage_status_line_exits_6() {
    for reply in [
        "HELLO WORLD\r\n\r\n",
        "SSH-2.0-OpenSSH_9.6\r\n",
        "HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/9.9 200 OK\r\nContent-Length: 0\r\n\r\n",
    ] {
        // Kept open: the garbage must be caught without waiting for close.
        let srv = Raw::reply_open(reply);
        let out = http(&[&srv.url("/")]);
        out.fails(6);
        assert!(out.stdout.is_empty(), "{reply:?}: {}", out.text());
    }
    // And closed right after a short garbage reply.
    let srv = Raw::reply("nope");
    let out = http(&[&srv.url("/")]);
    out.fails(6);
}

#[test]
fn bad_chunk_size_exits_6() {
    for reply in [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    ] {
        let srv = Raw::reply_open(reply);
        let out = http(&[&srv.url("/")]);
        out.fails(6);
    }
}

#[test]
fn bad_content_length_exits_6() {
    for reply in [
        "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    ] {
        let srv = Raw::reply_open(reply);
        let out = http(&[&srv.url("/")]);
        out.fails(6);
    }
}

#[test]
fn body_shorter_than_content_length_exits_6() {
    let srv = Raw::reply("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello");
    let out = http(&[&srv.url("/")]);
    out.fails(6);
    assert!(out.stderr.contains("Content-Length"), "{}", out.stderr);
}

#[test]
fn chunked_body_cut_short_exits_6() {
    let srv = Raw::reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    let out = http(&[&srv.url("/")]);
    out.fails(6);
}

#[test]
fn head_cut_short_exits_6() {
    let srv = Raw::reply("HTTP/1.1 200 OK\r\nContent-Le");
    let out = http(&[&srv.url("/")]);
    out.fails(6);
}

#[test]
fn empty_reply_exits_6() {
    let srv = Raw::start(|c| {
        c.request();
    });
    let out = http(&[&srv.url("/")]);
    out.fails(6);
    assert!(
        out.stderr.contains("empty reply from server"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn header_over_the_limit_exits_6() {
    // The limit counted over the whole head: many modest fields.
    let mut head = String::from("HTTP/1.1 200 OK\r\n");
    for i in 0..100 {
        head.push_str(&format!("X-F{i}: {}\r\n", "b".repeat(1000)));
    }
    head.push_str("Content-Length: 0\r\n\r\n");
    let srv = Raw::reply_open(head);
    let out = http(&[&srv.url("/")]);
    out.fails(6);
}

#[test]
fn tls_failures_exit_7_with_one_line() {
    // Both causes in one place: untrusted and not-TLS.
    let Some(t) = tls_nginx(&["127.0.0.1"], &[("a", b"a")]) else {
        return;
    };
    let out = http(&[&t.nginx.url("/a")]);
    out.fails(7);
    let srv = Raw::start(|c| {
        c.fill(Instant::now() + TIMEOUT);
        c.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        c.hold();
    });
    let out = http(&[&format!("https://127.0.0.1:{}/", srv.port)]);
    out.fails(7);
}

// ===========================================================================
// Real peers

#[test]
fn nginx_files_etag_redirect_and_status() {
    let text = b"hello from nginx\n".to_vec();
    let bin = random_bytes(1_000_003, 99);
    let Some(n) = Nginx::start(
        &[
            ("index.html", b"<h1>index</h1>\n"),
            ("hello.txt", &text),
            ("data.bin", &bin),
            ("other.txt", b"the other file\n"),
        ],
        "",
        None,
    ) else {
        return;
    };
    let out = http(&[&n.url("/hello.txt")]);
    out.ok();
    assert_eq!(out.stdout, text);

    let out = http(&[&n.url("/data.bin")]);
    out.ok();
    assert_same_bytes("nginx binary file", &bin, &out.stdout);

    let out = http(&[&n.url("/")]);
    out.ok();
    assert_eq!(out.stdout, b"<h1>index</h1>\n");

    // Headers: ETag, Content-Length, Server.
    let out = http_json(&[&n.url("/hello.txt")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["status"], 200);
    assert_eq!(ev["http_version"], "HTTP/1.1");
    let etag = ev["headers"]["etag"]
        .as_str()
        .unwrap_or_else(|| panic!("no ETag: {ev}"))
        .to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert_eq!(ev["headers"]["content-length"], text.len().to_string());
    assert_eq!(ev["headers"]["content-type"], "text/plain");
    assert!(ev["headers"]["server"]
        .as_str()
        .unwrap()
        .starts_with("nginx"));
    assert_eq!(ev["size_download"], text.len());
    assert_eq!(ev["text"], "hello from nginx\n");

    // Conditional request: 304 without a body.
    let out = http(&[
        "-i",
        "-H",
        &format!("If-None-Match: {etag}"),
        &n.url("/hello.txt"),
    ]);
    out.ok();
    assert!(
        out.text().starts_with("HTTP/1.1 304 Not Modified\r\n"),
        "{}",
        out.text()
    );
    assert!(out.text().ends_with("\r\n\r\n"), "{}", out.text());

    // HEAD.
    let out = http(&["-I", &n.url("/data.bin")]);
    out.ok();
    let head = out.text();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", bin.len())),
        "{head}"
    );
    assert!(head.ends_with("\r\n\r\n"), "{head}");

    // A redirect: shown without -L, followed with it.
    let out = http_json(&[&n.url("/old")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["status"], 301);
    assert_eq!(ev["headers"]["location"], n.url("/other.txt"));
    let out = http_json(&["-L", &n.url("/old")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["status"], 200);
    assert_eq!(ev["num_redirects"], 1);
    assert_eq!(ev["url"], n.url("/other.txt"));
    assert_eq!(ev["text"], "the other file\n");

    let out = http(&["-v", "-L", &n.url("/old")]);
    out.ok();
    assert_eq!(out.stdout, b"the other file\n");
    assert!(
        out.stderr.contains("reusing the connection"),
        "nginx keeps the connection alive; the redirect should reuse it: {}",
        out.stderr
    );

    // 404: exit 0 without -f, 8 with it.
    let out = http(&[&n.url("/missing")]);
    out.ok();
    assert!(String::from_utf8_lossy(&out.stdout).contains("404"));
    let out = http(&["-f", &n.url("/missing")]);
    out.fails(8);
    assert!(out.stdout.is_empty());

    // POST to a static file: 405 from nginx, a well-formed response.
    let out = http(&["-d", "x=1", &n.url("/hello.txt")]);
    out.ok();
    let out = http(&["-f", "-d", "x=1", &n.url("/hello.txt")]);
    out.fails(8);
}

#[test]
fn nginx_64_mib_to_stdout_and_to_a_file() {
    let body = big_body();
    let Some(n) = Nginx::start(&[("big.bin", body)], "", None) else {
        return;
    };
    let out = http(&[&n.url("/big.bin")]);
    out.ok();
    assert_same_bytes("64 MiB from nginx on stdout", body, &out.stdout);

    let dir = TempDir::new("big");
    let path = dir.join_s("big.bin");
    let out = http(&["-o", &path, &n.url("/big.bin")]);
    out.ok();
    assert!(out.stdout.is_empty());
    let got = std::fs::read(&path).unwrap();
    assert_same_bytes("64 MiB from nginx with -o", body, &got);
}

#[test]
fn nginx_chunked_response() {
    // nginx sends a response of unknown length chunked: an autoindex
    // listing is one.
    let Some(n) = Nginx::start(
        &[("d/a.txt", b"a"), ("d/b.txt", b"b")],
        "location /d/ { autoindex on; }",
        None,
    ) else {
        return;
    };
    let out = http_json(&[&n.url("/d/")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["status"], 200);
    let listing = ev["text"].as_str().unwrap();
    assert!(
        listing.contains("a.txt") && listing.contains("b.txt"),
        "{listing}"
    );
    assert!(listing.trim_end().ends_with("</html>"), "{listing}");
    assert_eq!(ev["size_download"], listing.len());
}

/// `python3 -m http.server` on 127.0.0.1, port 0, serving `dir`.
fn python_server(dir: &Path) -> Option<(Proc, u16)> {
    if !require_peer("python3") {
        return None;
    }
    let mut cmd = Command::new("python3");
    cmd.args([
        "-u",
        "-m",
        "http.server",
        "0",
        "--bind",
        "127.0.0.1",
        "--directory",
    ])
    .arg(dir)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut proc = Proc::spawn(&mut cmd);
    let mut lines = proc.stdout_lines();
    let line = lines
        .wait_for(TIMEOUT, "Serving HTTP", |l| l.starts_with("Serving HTTP"))
        .to_string();
    // "Serving HTTP on 127.0.0.1 port 43567 (http://127.0.0.1:43567/) ..."
    let port: u16 = line
        .split_whitespace()
        .skip_while(|w| *w != "port")
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    // Keep draining stdout so python never blocks on it.
    thread::spawn(move || while lines.next_line(Duration::from_secs(3600)).is_some() {});
    Some((proc, port))
}

#[test]
fn python_http_server() {
    let dir = TempDir::new("py");
    let body = random_bytes(2 * MIB + 5, 55);
    std::fs::write(dir.join("file.bin"), &body).unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/index.html"), b"sub index\n").unwrap();
    let Some((_py, port)) = python_server(&dir.path) else {
        return;
    };
    let base = format!("http://127.0.0.1:{port}");

    let out = http(&[&format!("{base}/file.bin")]);
    out.ok();
    assert_same_bytes("python http.server file", &body, &out.stdout);

    let out = http_json(&[&format!("{base}/file.bin")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["status"], 200);
    assert_eq!(ev["http_version"], "HTTP/1.0");
    assert_eq!(ev["size_download"], body.len());
    assert_eq!(payload(&ev), body);

    // /sub redirects to /sub/.
    let out = http_json(&["-L", &format!("{base}/sub")]);
    out.ok();
    let ev = out.response();
    assert_eq!(ev["num_redirects"], 1);
    assert_eq!(ev["text"], "sub index\n");

    let out = http(&["-f", &format!("{base}/missing")]);
    out.fails(8);
    assert!(out.stdout.is_empty());

    let out = http(&["-I", &format!("{base}/file.bin")]);
    out.ok();
    assert!(
        out.text().starts_with("HTTP/1.0 200 OK\r\n"),
        "{}",
        out.text()
    );
    assert!(
        out.text()
            .contains(&format!("Content-Length: {}\r\n", body.len())),
        "{}",
        out.text()
    );
}
