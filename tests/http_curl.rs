//! curl's habits in `netkit http`, side by side with curl: the same command
//! line runs against the same scripted server with curl and with netkit, and
//! the bytes (stdout, files, the request as received) are compared. Where
//! netkit's exit code differs from curl's, it is netkit's documented code.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

/// What one run printed.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

impl Out {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// `netkit http ARGS...` (stdin /dev/null).
fn netkit_http(args: &[&str]) -> Out {
    netkit_http_in(args, None)
}

fn netkit_http_in(args: &[&str], input: Option<&[u8]>) -> Out {
    let mut all = vec!["http"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = match input {
        Some(i) => run_with_input(&all, i),
        None => run(&all, Stdio::null()),
    };
    Out {
        code,
        stdout,
        stderr,
    }
}

/// `curl ARGS...`, or `None` when curl is missing (then the test is skipped
/// locally and fails under CI=true).
fn curl(args: &[&str]) -> Option<Out> {
    curl_in(args, None)
}

fn curl_in(args: &[&str], input: Option<&[u8]>) -> Option<Out> {
    if !require_peer("curl") {
        return None;
    }
    let mut cmd = Command::new("curl");
    cmd.args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn curl");
    if let Some(i) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(i).unwrap();
    }
    let out = child.wait_with_output().expect("curl output");
    Some(Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

static DIRS: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        let n = DIRS.fetch_add(1, Ordering::SeqCst);
        let p = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("netkit-curl-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A request as received: the head's text and the body's bytes.
#[derive(Debug, Clone)]
struct Req {
    head: String,
    body: Vec<u8>,
}

impl Req {
    fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// A server that answers each connection's one request with the reply its
/// script gives for the n-th request (0, 1, ...), then closes.
struct Server {
    port: u16,
    log: Arc<Mutex<Vec<Req>>>,
    stop: Arc<AtomicBool>,
}

type Script = dyn Fn(usize, &Req) -> Vec<u8> + Send + Sync;

impl Server {
    fn start(script: impl Fn(usize, &Req) -> Vec<u8> + Send + Sync + 'static) -> Server {
        let (l, port): (TcpListener, u16) = local_listener();
        l.set_nonblocking(true).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let count = Arc::new(AtomicUsize::new(0));
        {
            let (log, stop) = (log.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match l.accept() {
                        Ok((s, _)) => {
                            let (log, script, count) = (log.clone(), script.clone(), count.clone());
                            thread::spawn(move || serve(s, &log, &*script, &count));
                        }
                        Err(_) => thread::sleep(Duration::from_millis(2)),
                    }
                }
            });
        }
        Server { port, log, stop }
    }

    /// Always the same reply.
    fn reply(reply: Vec<u8>) -> Server {
        Server::start(move |_, _| reply.clone())
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn take(&self) -> Vec<Req> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(mut s: TcpStream, log: &Mutex<Vec<Req>>, script: &Script, count: &AtomicUsize) {
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut body = buf[end + 4..].to_vec();
    let mut req = Req {
        head,
        body: Vec::new(),
    };
    let length: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while body.len() < length {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    req.body = body;
    let n = count.fetch_add(1, Ordering::SeqCst);
    let reply = script(n, &req);
    log.lock().unwrap().push(req);
    let _ = s.write_all(&reply);
    let _ = s.shutdown(std::net::Shutdown::Write);
    // Let the client read to EOF before the socket goes away.
    let deadline = Instant::now() + Duration::from_secs(5);
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

/// `HTTP/1.1 <status>` with these extra header lines and a body.
fn response(status: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut r = format!("HTTP/1.1 {status}\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

fn ok(body: &[u8]) -> Vec<u8> {
    response("200 OK", &["Content-Type: text/plain"], body)
}

/// A port nothing listens on.
fn refused_url() -> String {
    format!("http://127.0.0.1:{}/", free_port())
}

// ===========================================================================
// 1. -s, -S, -sS

#[test]
fn silent_success_prints_the_body_as_curl() {
    let srv = Server::reply(ok(b"body\n"));
    let url = srv.url("/");
    let n = netkit_http(&["-s", &url]);
    assert_eq!(
        (n.code, n.text().as_str(), n.stderr.as_str()),
        (0, "body\n", "")
    );
    if let Some(c) = curl(&["-s", &url]) {
        assert_eq!(c.stdout, n.stdout);
    }
    for flags in [&["-sS"][..], &["-S", "-s"], &["--silent", "--show-error"]] {
        let mut args = flags.to_vec();
        args.push(&url);
        let n = netkit_http(&args);
        assert_eq!((n.code, n.text().as_str()), (0, "body\n"), "{flags:?}");
    }
}

#[test]
fn silent_failure_prints_nothing_and_show_error_prints_it() {
    let url = refused_url();
    let n = netkit_http(&["-s", &url]);
    assert_eq!((n.code, n.stdout.len(), n.stderr.as_str()), (4, 0, ""));
    let n = netkit_http(&["-sS", &url]);
    assert_eq!(n.code, 4);
    assert_one_error_line(&n.stderr);
    if let Some(c) = curl(&["-s", &url]) {
        assert_eq!(c.stderr, "", "curl -s");
    }
    if let Some(c) = curl(&["-sS", &url]) {
        assert!(c.stderr.starts_with("curl: (7)"), "{:?}", c.stderr);
    }
}

#[test]
fn silent_hides_the_insecure_warning() {
    let srv = Server::reply(ok(b"x"));
    let n = netkit_http(&["-s", "-k", &srv.url("/")]);
    assert_eq!((n.code, n.text().as_str(), n.stderr.as_str()), (0, "x", ""));
}

// ===========================================================================
// 2. -o -, -O, -m 0, -D, -i -o FILE

/// `netkit http ARGS...` run in `dir`.
fn netkit_http_at(dir: &Dir, args: &[&str]) -> Out {
    let mut cmd = netkit();
    cmd.current_dir(&dir.0).arg("http").args(args);
    let out = cmd.stdin(Stdio::null()).output().expect("run netkit");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `curl ARGS...` run in `dir`.
fn curl_at(dir: &Dir, args: &[&str]) -> Option<Out> {
    if !require_peer("curl") {
        return None;
    }
    let out = Command::new("curl")
        .current_dir(&dir.0)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    Some(Out {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn files(dir: &Dir) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A redirect to /next, then the body.
fn redirecting() -> Server {
    Server::start(|_, req| {
        if req.line().starts_with("GET /start ") {
            response("302 Found", &["Location: /next", "X-Hop: 1"], b"moved\n")
        } else {
            ok(b"final body\n")
        }
    })
}

#[test]
fn output_dash_is_stdout() {
    let srv = Server::reply(ok(b"to stdout\n"));
    let (nd, cd) = (Dir::new(), Dir::new());
    let n = netkit_http_at(&nd, &["-o", "-", &srv.url("/x")]);
    assert_eq!(
        (n.code, n.text().as_str()),
        (0, "to stdout\n"),
        "{}",
        n.stderr
    );
    assert!(files(&nd).is_empty(), "a file was made: {:?}", files(&nd));
    if let Some(c) = curl_at(&cd, &["-s", "-o", "-", &srv.url("/x")]) {
        assert_eq!(c.stdout, n.stdout);
        assert_eq!(files(&cd), files(&nd));
    }
}

#[test]
fn remote_name_saves_as_the_last_path_segment() {
    let srv = Server::reply(ok(b"file bytes\n"));
    let (nd, cd) = (Dir::new(), Dir::new());
    let url = srv.url("/dir/file.txt?q=1");
    for flag in ["-O", "--remote-name"] {
        let n = netkit_http_at(&nd, &[flag, &url]);
        assert_eq!((n.code, n.stdout.len()), (0, 0), "{}", n.stderr);
        assert_eq!(files(&nd), ["file.txt"]);
        assert_eq!(
            std::fs::read(nd.0.join("file.txt")).unwrap(),
            b"file bytes\n"
        );
    }
    if let Some(c) = curl_at(&cd, &["-s", "-O", &url]) {
        assert_eq!(c.code, 0);
        assert_eq!(files(&cd), files(&nd));
        assert_eq!(
            std::fs::read(cd.0.join("file.txt")).unwrap(),
            b"file bytes\n"
        );
    }
}

#[test]
fn remote_name_without_a_file_name_is_a_usage_error() {
    let srv = Server::reply(ok(b"x"));
    let nd = Dir::new();
    let n = netkit_http_at(&nd, &["-O", &srv.url("/dir/")]);
    assert_eq!(n.code, 2);
    assert_one_error_line(&n.stderr);
    assert!(n.stderr.contains("-o FILE"), "{}", n.stderr);
    assert!(files(&nd).is_empty());
    let cd = Dir::new();
    if let Some(c) = curl_at(&cd, &["-s", "-O", &srv.url("/dir/")]) {
        assert_ne!(c.code, 0, "curl refuses too");
    }
}

#[test]
fn max_time_zero_means_no_limit() {
    let srv = Server::reply(ok(b"in time\n"));
    let n = netkit_http(&["-m", "0", &srv.url("/")]);
    assert_eq!(
        (n.code, n.text().as_str()),
        (0, "in time\n"),
        "{}",
        n.stderr
    );
    if let Some(c) = curl(&["-s", "-m", "0", &srv.url("/")]) {
        assert_eq!((c.code, c.stdout), (0, n.stdout));
    }
}

#[test]
fn dump_header_to_a_file_and_to_stdout_as_curl() {
    let srv = redirecting();
    let (nd, cd) = (Dir::new(), Dir::new());
    let url = srv.url("/start");
    for extra in [&[][..], &["-L"][..]] {
        let mut args = extra.to_vec();
        args.extend(["-D", "heads.txt", url.as_str()]);
        let n = netkit_http_at(&nd, &args);
        assert_eq!(n.code, 0, "{}", n.stderr);
        let Some(c) = curl_at(&cd, &[&["-s"][..], &args].concat()) else {
            return;
        };
        assert_eq!(n.text(), c.text(), "stdout of {args:?}");
        let nh = std::fs::read_to_string(nd.0.join("heads.txt")).unwrap();
        let ch = std::fs::read_to_string(cd.0.join("heads.txt")).unwrap();
        assert_eq!(nh, ch, "-D file of {args:?}");
        assert!(nh.starts_with("HTTP/1.1 302 Found\r\n"), "{nh:?}");

        let mut args = extra.to_vec();
        args.extend(["-D", "-", url.as_str()]);
        let n = netkit_http_at(&nd, &args);
        let c = curl_at(&cd, &[&["-s"][..], &args].concat()).unwrap();
        assert_eq!((n.code, n.text()), (c.code, c.text()), "-D - {args:?}");
    }
}

#[test]
fn include_with_output_puts_the_head_in_the_file_as_curl() {
    let srv = redirecting();
    let (nd, cd) = (Dir::new(), Dir::new());
    let url = srv.url("/start");
    for extra in [&["-i"][..], &["-i", "-L"][..]] {
        let mut args = extra.to_vec();
        args.extend(["-o", "out.txt", url.as_str()]);
        let n = netkit_http_at(&nd, &args);
        assert_eq!((n.code, n.stdout.len()), (0, 0), "{}", n.stderr);
        let nf = std::fs::read_to_string(nd.0.join("out.txt")).unwrap();
        assert!(nf.starts_with("HTTP/1.1 302 Found\r\n"), "{nf:?}");
        if let Some(c) = curl_at(&cd, &[&["-s"][..], &args].concat()) {
            assert_eq!((c.code, c.stdout.len()), (0, 0));
            let cf = std::fs::read_to_string(cd.0.join("out.txt")).unwrap();
            assert_eq!(nf, cf, "{args:?}");
        }
        // And on stdout without -o.
        let mut args = extra.to_vec();
        args.push(url.as_str());
        let n = netkit_http_at(&nd, &args);
        if let Some(c) = curl_at(&cd, &[&["-s"][..], &args].concat()) {
            assert_eq!(n.text(), c.text(), "{args:?}");
        }
    }
}

// ===========================================================================
// 3. -w/--write-out

const STABLE: &str = "%{http_code} %{response_code} %{size_download} %{url_effective} \
%{num_redirects} %{remote_ip} %{content_type} %{exitcode} [%header{x-hop}] [%header{Content-Length}]\\n%%\\t|";

fn is_seconds(s: &str) -> bool {
    let (a, b) = s.split_once('.').unwrap_or(("", ""));
    !a.is_empty()
        && a.bytes().all(|c| c.is_ascii_digit())
        && b.len() == 6
        && b.bytes().all(|c| c.is_ascii_digit())
}

#[test]
fn write_out_prints_curls_variables_after_the_body() {
    let srv = redirecting();
    let url = srv.url("/start");
    for extra in [&[][..], &["-L"][..]] {
        let mut args = extra.to_vec();
        args.extend(["-w", STABLE, url.as_str()]);
        let n = netkit_http(&args);
        assert_eq!(n.code, 0, "{}", n.stderr);
        if let Some(c) = curl(&[&["-s"][..], &args].concat()) {
            assert_eq!(n.text(), c.text(), "{args:?}");
        }
    }
    let n = netkit_http(&["-L", "-w", STABLE, &url]);
    assert_eq!(
        n.text(),
        format!(
            "final body\n200 200 11 {} 1 127.0.0.1 text/plain 0 [] [11]\n%\t|",
            srv.url("/next")
        )
    );
}

#[test]
fn write_out_times_have_six_decimals_and_json_has_every_variable() {
    let srv = Server::reply(ok(b"b"));
    let fmt = "%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total} %{speed_download}";
    let n = netkit_http(&["-w", fmt, &srv.url("/")]);
    assert_eq!(n.code, 0, "{}", n.stderr);
    let text = n.text();
    let fields: Vec<&str> = text.strip_prefix('b').unwrap().split(' ').collect();
    assert_eq!(fields.len(), 6, "{text:?}");
    for f in &fields[..5] {
        assert!(is_seconds(f), "{f:?} in {text:?}");
    }
    assert!(fields[5].parse::<u64>().is_ok(), "{text:?}");

    let n = netkit_http(&["-o", "/dev/null", "-w", "%{json}", &srv.url("/")]);
    let nj: serde_json::Value = serde_json::from_slice(&n.stdout).unwrap();
    let Some(c) = curl(&["-s", "-o", "/dev/null", "-w", "%{json}", &srv.url("/")]) else {
        return;
    };
    let cj: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap();
    for key in [
        "http_code",
        "response_code",
        "size_download",
        "size_upload",
        "num_redirects",
        "remote_ip",
        "remote_port",
        "content_type",
        "exitcode",
        "method",
        "http_version",
        "url_effective",
    ] {
        assert_eq!(nj[key], cj[key], "{key}: netkit {nj} curl {cj}");
    }
    for key in [
        "time_total",
        "time_connect",
        "time_namelookup",
        "time_starttransfer",
    ] {
        assert!(nj[key].is_f64() || nj[key].is_u64(), "{key} in {nj}");
    }
}

#[test]
fn write_out_after_a_failure_and_with_fail() {
    let url = refused_url();
    let n = netkit_http(&["-s", "-w", "%{http_code} %{exitcode}\\n", &url]);
    assert_eq!((n.code, n.text().as_str()), (4, "000 4\n"));
    let n = netkit_http(&["-s", "-w", "[%{errormsg}]", &url]);
    assert!(n.text().starts_with("[connect 127.0.0.1:"), "{}", n.text());
    assert!(n.text().contains("connection refused"), "{}", n.text());
    if let Some(c) = curl(&["-s", "-w", "%{http_code} %{exitcode}\\n", &url]) {
        assert_eq!(c.text(), "000 7\n", "curl's own number for refused");
    }
    let srv = Server::reply(response("404 Not Found", &[], b"gone"));
    let n = netkit_http(&["-sf", "-w", "%{http_code}", &srv.url("/")]);
    assert_eq!((n.code, n.text().as_str()), (8, "404"));
    if let Some(c) = curl(&["-sf", "-w", "%{http_code}", &srv.url("/")]) {
        assert_eq!(c.text(), "404");
    }
}

#[test]
fn write_out_from_a_file_and_from_stdin() {
    let srv = Server::reply(ok(b"b"));
    let d = Dir::new();
    std::fs::write(d.path("fmt"), "code=%{http_code}\\n").unwrap();
    let at = format!("@{}", d.path("fmt"));
    let n = netkit_http(&["-w", &at, &srv.url("/")]);
    assert_eq!(n.text(), "bcode=200\n");
    let n = netkit_http_in(&["-w", "@-", &srv.url("/")], Some(b"<%{http_code}>"));
    assert_eq!(n.text(), "b<200>");
    if let Some(c) = curl_in(&["-s", "-w", "@-", &srv.url("/")], Some(b"<%{http_code}>")) {
        assert_eq!(c.text(), "b<200>");
    }
    let n = netkit_http(&["-w", "@/nonexistent/fmt", &srv.url("/")]);
    assert_eq!(n.code, 2);
    assert_one_error_line(&n.stderr);
}

// ===========================================================================
// 9. curl's --json DATA

#[test]
fn curl_json_data_gets_a_plain_usage_error() {
    let srv = Server::reply(ok(b"x"));
    let url = srv.url("/api");
    for args in [
        vec!["http", "--json", r#"{"a":1}"#, url.as_str()],
        vec!["http", "--json", "@body.json", url.as_str()],
        vec!["http", url.as_str(), "--json", "[1,2]"],
    ] {
        let (code, stdout, stderr) = run(&args, Stdio::null());
        assert_eq!((code, stdout.len()), (2, 0), "{args:?}: {stderr}");
        assert_one_error_line(&stderr);
        assert!(
            stderr.contains("--json means JSON output")
                && stderr.contains("-d DATA -H 'Content-Type: application/json'"),
            "{stderr}"
        );
    }
    assert!(srv.take().is_empty(), "nothing was sent");
    // --json as the output switch still works, before or after the command.
    for args in [
        vec!["--json", "http", url.as_str()],
        vec!["http", "--json", url.as_str()],
    ] {
        let (code, stdout, _) = run(&args, Stdio::null());
        assert_eq!(code, 0);
        assert!(String::from_utf8_lossy(&stdout).contains("\"http_response\""));
    }
    // What the hint says sends the body curl's --json sends.
    let body = r#"{"a":1}"#;
    let n = netkit_http(&["-d", body, "-H", "Content-Type: application/json", &url]);
    assert_eq!(n.code, 0);
    let nreq = srv.take().pop().unwrap();
    if curl(&["-s", "--json", body, &url]).is_some() {
        let creq = srv.take().pop().unwrap();
        assert_eq!(nreq.body, creq.body);
        assert_eq!(nreq.line(), creq.line());
        assert_eq!(nreq.header("content-type"), creq.header("content-type"));
    }
}

// ===========================================================================
// 4. --data-binary, --data-raw, --data-urlencode, -G

/// Runs the same arguments through netkit and curl against a recording
/// server; returns netkit's request, after asserting curl's has the same
/// request line, Content-Type and body.
fn same_request(args: &[&str], input: Option<&[u8]>) -> Req {
    let srv = Server::reply(ok(b"ok"));
    let url = srv.url("/form?x=0");
    let mut all = args.to_vec();
    all.push(&url);
    let n = netkit_http_in(&all, input);
    assert_eq!(
        (n.code, n.text().as_str()),
        (0, "ok"),
        "{args:?}: {}",
        n.stderr
    );
    let nreq = srv.take().pop().unwrap();
    let mut all = vec!["-s"];
    all.extend_from_slice(args);
    all.push(&url);
    if let Some(c) = curl_in(&all, input) {
        assert_eq!(c.code, 0);
        let creq = srv.take().pop().unwrap();
        assert_eq!(nreq.line(), creq.line(), "request line of {args:?}");
        assert_eq!(
            nreq.header("content-type"),
            creq.header("content-type"),
            "{args:?}"
        );
        assert_eq!(
            String::from_utf8_lossy(&nreq.body),
            String::from_utf8_lossy(&creq.body),
            "body of {args:?}"
        );
    }
    nreq
}

#[test]
fn data_flags_build_the_body_as_curl() {
    let d = Dir::new();
    std::fs::write(d.path("lines"), b"x=1\r\ny=2\n\n").unwrap();
    std::fs::write(d.path("value"), b"v w/\xc3\xbc\n").unwrap();
    let lines = format!("@{}", d.path("lines"));
    let value = format!("@{}", d.path("value"));
    let named = format!("f{value}");
    let cases: Vec<(Vec<&str>, &[u8])> = vec![
        (vec!["-d", "a=1", "-d", "b=2"], b"a=1&b=2"),
        (vec!["-d", &lines], b"x=1y=2"),
        (vec!["--data-ascii", &lines], b"x=1y=2"),
        (vec!["--data-binary", &lines], b"x=1\r\ny=2\n\n"),
        (vec!["--data-raw", "@not-a-file"], b"@not-a-file"),
        // name=content: the name is sent as is.
        (
            vec!["--data-urlencode", "hello world&=x"],
            b"hello world&=x",
        ),
        (vec!["--data-urlencode", "a b&c"], b"a+b%26c"),
        (vec!["--data-urlencode", "=a b"], b"a+b"),
        (
            vec!["--data-urlencode", "name=a b/\u{fc}~-._"],
            b"name=a+b%2F%C3%BC~-._",
        ),
        (vec!["--data-urlencode", &value], b"v+w%2F%C3%BC%0A"),
        (vec!["--data-urlencode", &named], b"f=v+w%2F%C3%BC%0A"),
        (
            vec!["--data-urlencode", "b=x y", "-d", "a=1", "--data-raw", "c"],
            b"b=x+y&a=1&c",
        ),
    ];
    for (args, body) in cases {
        let req = same_request(&args, None);
        assert_eq!(
            String::from_utf8_lossy(&req.body),
            String::from_utf8_lossy(body),
            "{args:?}"
        );
        assert_eq!(req.line(), "POST /form?x=0 HTTP/1.1");
        assert_eq!(
            req.header("content-type").as_deref(),
            Some("application/x-www-form-urlencoded")
        );
    }
    // -d @- strips line ends too; --data-binary @- does not.
    let req = same_request(&["-d", "@-"], Some(b"p=1\nq=2\n"));
    assert_eq!(req.body, b"p=1q=2");
    let req = same_request(&["--data-binary", "@-"], Some(b"p=1\nq=2\n"));
    assert_eq!(req.body, b"p=1\nq=2\n");
}

#[test]
fn get_puts_the_data_in_the_query_string() {
    let req = same_request(&["-G", "-d", "q=1", "--data-urlencode", "r=a b"], None);
    assert_eq!(req.line(), "GET /form?x=0&q=1&r=a+b HTTP/1.1");
    assert!(req.body.is_empty());
    assert_eq!(req.header("content-type"), None);
    let req = same_request(&["--get", "-d", "q=1"], None);
    assert_eq!(req.line(), "GET /form?x=0&q=1 HTTP/1.1");
}

/// The body with the multipart boundary (from Content-Type) replaced.
fn unbounded(req: &Req) -> String {
    let ct = req.header("content-type").unwrap_or_default();
    let boundary = ct
        .split_once("boundary=")
        .map(|(_, b)| b.to_string())
        .unwrap();
    assert!(boundary.len() >= 30, "{ct}");
    String::from_utf8_lossy(&req.body).replace(&boundary, "BOUNDARY")
}

#[test]
fn form_sends_multipart_as_curl() {
    let d = Dir::new();
    std::fs::write(d.path("file.txt"), b"text file\n").unwrap();
    std::fs::write(d.path("data.bin"), b"\x00\x01bin\r\n").unwrap();
    let (txt, bin) = (d.path("file.txt"), d.path("data.bin"));
    let parts = [
        "a=1".to_string(),
        "b=two words; not a param".to_string(),
        "c=\"x; \\\"y\";type=text/z".to_string(),
        format!("f=@{txt}"),
        format!("g=@{bin}"),
        format!("h=@{bin};type=application/x-thing"),
        format!("i=@{txt};filename=other name.txt"),
        format!("t=<{txt}"),
        "quo\"te=x;type=text/x-y".to_string(),
    ];
    let srv = Server::reply(ok(b"ok"));
    let url = srv.url("/up");
    let mut args: Vec<&str> = Vec::new();
    for p in &parts {
        args.extend(["-F", p.as_str()]);
    }
    args.push(&url);
    let n = netkit_http(&args);
    assert_eq!((n.code, n.text().as_str()), (0, "ok"), "{}", n.stderr);
    let nreq = srv.take().pop().unwrap();
    assert_eq!(nreq.line(), "POST /up HTTP/1.1");
    let nbody = unbounded(&nreq);
    assert_eq!(
        nbody,
        "--BOUNDARY\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\ntwo words\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"c\"\r\nContent-Type: text/z\r\n\r\nx; \"y\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"f\"; filename=\"file.txt\"\r\nContent-Type: text/plain\r\n\r\ntext file\n\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"g\"; filename=\"data.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n\u{0}\u{1}bin\r\n\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"h\"; filename=\"data.bin\"\r\nContent-Type: application/x-thing\r\n\r\n\u{0}\u{1}bin\r\n\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"i\"; filename=\"other name.txt\"\r\nContent-Type: text/plain\r\n\r\ntext file\n\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\ntext file\n\r\n\
         --BOUNDARY\r\nContent-Disposition: form-data; name=\"quo%22te\"\r\nContent-Type: text/x-y\r\n\r\nx\r\n\
         --BOUNDARY--\r\n"
    );
    let mut cargs = vec!["-s"];
    cargs.extend_from_slice(&args);
    if let Some(c) = curl(&cargs) {
        assert_eq!(c.code, 0);
        let creq = srv.take().pop().unwrap();
        assert_eq!(nreq.line(), creq.line());
        assert_eq!(nbody, unbounded(&creq));
        assert!(creq
            .header("content-type")
            .unwrap()
            .starts_with("multipart/form-data; boundary="));
    }
    // Two runs, two boundaries.
    let again = netkit_http(&args);
    assert_eq!(again.code, 0);
    let other = srv.take().pop().unwrap();
    assert_ne!(other.header("content-type"), nreq.header("content-type"));
}

#[test]
fn form_misuse_is_a_usage_error() {
    let srv = Server::reply(ok(b"ok"));
    for args in [
        vec!["-F", "novalue"],
        vec!["-F", "a=1", "-d", "b=2"],
        vec!["-F", "f=@/nonexistent/file"],
    ] {
        let mut all = args.clone();
        let url = srv.url("/");
        all.push(&url);
        let n = netkit_http(&all);
        assert_eq!(n.code, 2, "{args:?}");
        assert_one_error_line(&n.stderr);
    }
    assert!(srv.take().is_empty());
}

// ===========================================================================
// 5. --retry

/// `n` times 503 (with these extra headers), then 200 "ok\n".
fn busy_then_ok(n: usize, headers: &'static [&'static str]) -> Server {
    Server::start(move |i, _| {
        if i < n {
            response("503 Busy", headers, b"busy\n")
        } else {
            ok(b"ok\n")
        }
    })
}

/// The retry notices (`* retrying in ...`), without the `* `.
fn retry_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("retrying in"))
        .map(|l| l.strip_prefix("* ").expect("a notice"))
        .collect()
}

#[test]
fn retry_on_503_prints_only_the_final_body() {
    let srv = busy_then_ok(2, &[]);
    let n = netkit_http(&["--retry", "3", "--retry-delay", "10ms", &srv.url("/")]);
    assert_eq!((n.code, n.text().as_str()), (0, "ok\n"), "{}", n.stderr);
    assert_eq!(
        retry_lines(&n.stderr),
        [
            "retrying in 10ms (503 Busy); 2 retries left",
            "retrying in 10ms (503 Busy); 1 retry left"
        ],
        "{}",
        n.stderr
    );
    assert_eq!(srv.take().len(), 3);

    // --json: an http_retry event per retry, then the response.
    let srv = busy_then_ok(1, &[]);
    let (code, stdout, _) = run(
        &[
            "--json",
            "http",
            "--retry",
            "1",
            "--retry-delay",
            "10ms",
            &srv.url("/p"),
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0);
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&stdout)
        .lines()
        .map(parse_event)
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["event"], "http_retry");
    assert_eq!(events[0]["attempt"], 1);
    assert_eq!(events[0]["retries_left"], 0);
    assert_eq!(events[0]["delay"], 0.01);
    assert_eq!(events[0]["reason"], "503 Busy");
    assert_eq!(events[0]["url"], srv.url("/p"));
    assert_eq!(events[1]["event"], "http_response");
    assert_eq!(events[1]["status"], 200);
    assert_eq!(events[1]["text"], "ok\n");
}

#[test]
fn retry_honours_retry_after_seconds_as_curl() {
    let srv = busy_then_ok(1, &["Retry-After: 1"]);
    let t = Instant::now();
    let n = netkit_http(&["--retry", "2", &srv.url("/")]);
    let took = t.elapsed();
    assert_eq!((n.code, n.text().as_str()), (0, "ok\n"), "{}", n.stderr);
    assert!(took >= Duration::from_millis(950), "{took:?}");
    assert_eq!(
        retry_lines(&n.stderr),
        ["retrying in 1s (503 Busy); 1 retry left"]
    );
    // curl retries the same way, but leaves each failed attempt's body on stdout.
    let srv = busy_then_ok(1, &["Retry-After: 1"]);
    let t = Instant::now();
    if let Some(c) = curl(&["-s", "--retry", "2", &srv.url("/")]) {
        assert!(t.elapsed() >= Duration::from_millis(950));
        assert_eq!((c.code, c.text().as_str()), (0, "busy\nok\n"));
    }
}

#[test]
fn retry_after_as_an_http_date() {
    // A date in the past: retry at once (the default would be 1 s).
    let srv = busy_then_ok(1, &["Retry-After: Sun, 06 Nov 1994 08:49:37 GMT"]);
    let t = Instant::now();
    let n = netkit_http(&["--retry", "1", &srv.url("/")]);
    assert_eq!((n.code, n.text().as_str()), (0, "ok\n"), "{}", n.stderr);
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        retry_lines(&n.stderr),
        ["retrying in 0s (503 Busy); 0 retries left"]
    );
}

#[test]
fn retry_backs_off_from_one_second_doubling() {
    let srv = busy_then_ok(usize::MAX, &[]);
    let t = Instant::now();
    let n = netkit_http(&["--retry", "2", &srv.url("/")]);
    assert!(
        t.elapsed() >= Duration::from_millis(2900),
        "{:?}",
        t.elapsed()
    );
    // Out of retries: the last response stands (exit 0 without -f).
    assert_eq!((n.code, n.text().as_str()), (0, "busy\n"), "{}", n.stderr);
    assert_eq!(
        retry_lines(&n.stderr),
        [
            "retrying in 1s (503 Busy); 1 retry left",
            "retrying in 2s (503 Busy); 0 retries left"
        ]
    );
    // With -f the exit is 8 once the retries are spent.
    let n = netkit_http(&["-f", "--retry", "1", "--retry-delay", "0", &srv.url("/")]);
    assert_eq!(n.code, 8, "{}", n.stderr);
    assert_eq!(retry_lines(&n.stderr).len(), 1);
}

#[test]
fn retry_max_time_stops_retries_that_would_start_too_late() {
    let srv = busy_then_ok(usize::MAX, &[]);
    let n = netkit_http(&["--retry", "5", "--retry-max-time", "500ms", &srv.url("/")]);
    assert_eq!((n.code, n.text().as_str()), (0, "busy\n"), "{}", n.stderr);
    assert!(retry_lines(&n.stderr).is_empty(), "{}", n.stderr);
    assert_eq!(srv.take().len(), 1);
}

#[test]
fn retry_on_timeouts_and_refused_only_when_asked() {
    // A listener that never accepts: the connection completes, no answer.
    let (l, port) = local_listener();
    let url = format!("http://127.0.0.1:{port}/");
    let n = netkit_http(&["-m", "300ms", "--retry", "1", "--retry-delay", "10ms", &url]);
    assert_eq!(n.code, 5, "{}", n.stderr);
    assert_eq!(retry_lines(&n.stderr).len(), 1, "{}", n.stderr);
    drop(l);

    let url = refused_url();
    let n = netkit_http(&["--retry", "3", "--retry-delay", "10ms", &url]);
    assert_eq!(n.code, 4);
    assert!(retry_lines(&n.stderr).is_empty(), "{}", n.stderr);
    for flag in ["--retry-connrefused", "--retry-all-errors"] {
        let n = netkit_http(&["--retry", "2", "--retry-delay", "10ms", flag, &url]);
        assert_eq!(n.code, 4);
        assert_eq!(retry_lines(&n.stderr).len(), 2, "{flag}: {}", n.stderr);
    }
    // curl does not retry a refused connection without --retry-connrefused either.
    let t = Instant::now();
    if let Some(c) = curl(&["-s", "--retry", "3", &url]) {
        assert_eq!(c.code, 7);
        assert!(t.elapsed() < Duration::from_millis(900));
    }
}

// ===========================================================================
// 6. --compressed, --max-filesize

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn encoded(coding: &str, body: &[u8]) -> Vec<u8> {
    let h = format!("Content-Encoding: {coding}");
    let mut r = format!(
        "HTTP/1.1 200 OK\r\n{h}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn compressed_decodes_every_coding_as_curl() {
    let text: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("line {i}\n").into_bytes())
        .collect();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&text).unwrap();
    let zlib = z.finish().unwrap();
    let zst = zstd::stream::encode_all(&text[..], 3).unwrap();
    // Brotli: one uncompressed meta-block holding "hello".
    let br = vec![0x40, 0x00, 0x10, b'h', b'e', b'l', b'l', b'o', 0x03];
    for (coding, body, plain) in [
        ("gzip", gzip(&text), text.clone()),
        ("deflate", zlib, text.clone()),
        ("zstd", zst, text.clone()),
        ("br", br, b"hello".to_vec()),
    ] {
        let srv = Server::reply(encoded(coding, &body));
        let n = netkit_http(&["--compressed", &srv.url("/")]);
        assert_eq!(n.code, 0, "{coding}: {}", n.stderr);
        assert!(n.stdout == plain, "{coding}: {} bytes", n.stdout.len());
        let nreq = srv.take().pop().unwrap();
        assert_eq!(
            nreq.header("accept-encoding").as_deref(),
            Some("deflate, gzip, br, zstd")
        );
        // Without --compressed: the bytes as sent, no Accept-Encoding.
        let raw = netkit_http(&[&srv.url("/")]);
        assert!(raw.stdout == body, "{coding} passed through");
        assert_eq!(srv.take().pop().unwrap().header("accept-encoding"), None);
        if let Some(c) = curl(&["-s", "--compressed", &srv.url("/")]) {
            assert_eq!(c.code, 0, "curl {coding}");
            assert!(c.stdout == n.stdout, "{coding}: curl and netkit differ");
            let creq = srv.take().pop().unwrap();
            assert_eq!(
                creq.header("accept-encoding"),
                nreq.header("accept-encoding")
            );
        }
    }
}

/// Runs netkit to the end; (exit code, stderr, peak RSS in KiB).
fn run_measured(args: &[&str]) -> (i32, String, i64) {
    use std::os::unix::process::ExitStatusExt;
    #[allow(clippy::zombie_processes)] // reaped by wait4 below, which reports its rusage
    let mut child = netkit()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut s = String::new();
        stderr.read_to_string(&mut s).unwrap();
        s
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a plain wait4 on our own child with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    let code = std::process::ExitStatus::from_raw(status)
        .code()
        .unwrap_or(-1);
    (code, reader.join().unwrap(), usage.ru_maxrss)
}

#[test]
fn max_filesize_stops_a_decompression_bomb_early_in_little_memory() {
    let bomb = gzip(&vec![0u8; 64 << 20]);
    assert!(bomb.len() < 128 << 10, "{}", bomb.len());
    let srv = Server::reply(encoded("gzip", &bomb));
    let url = srv.url("/bomb");
    let (code, stderr, rss_kib) =
        run_measured(&["http", "--compressed", "--max-filesize", "1M", &url]);
    assert_eq!(code, 1, "{stderr}");
    assert_one_error_line(&stderr);
    assert!(stderr.contains("larger than --max-filesize"), "{stderr}");
    assert!(
        rss_kib < 32 << 10,
        "peak RSS {rss_kib} KiB for a 64 MiB bomb"
    );
    // Decoded in full when the limit allows it, still in little memory.
    let (code, stderr, rss_kib) = run_measured(&["http", "--compressed", &url]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        rss_kib < 32 << 10,
        "peak RSS {rss_kib} KiB streaming 64 MiB"
    );
    // Plain bodies: Content-Length over the limit fails before the body,
    // and one without a length fails as it passes the limit.
    let srv = Server::reply(ok(&[b'x'; 5000]));
    let n = netkit_http(&["--max-filesize", "4k", &srv.url("/")]);
    assert_eq!((n.code, n.stdout.len()), (1, 0), "{}", n.stderr);
    assert_one_error_line(&n.stderr);
    if let Some(c) = curl(&["-s", "--max-filesize", "4k", &srv.url("/")]) {
        assert_eq!((c.code, c.stdout.len()), (63, 0));
    }
    let n = netkit_http(&["--max-filesize", "5000", &srv.url("/")]);
    assert_eq!((n.code, n.stdout.len()), (0, 5000));
}

// ===========================================================================
// 8. --resolve, --connect-to

#[test]
fn resolve_and_connect_to_as_curl() {
    let srv = Server::reply(ok(b"here"));
    let p = srv.port;
    let cases: Vec<(Vec<String>, String, String)> = vec![
        (
            vec!["--resolve".into(), format!("nothing.invalid:{p}:127.0.0.1")],
            format!("http://nothing.invalid:{p}/r"),
            format!("nothing.invalid:{p}"),
        ),
        (
            vec![
                "--resolve".into(),
                format!("Nothing.Invalid:{p}:[::1],127.0.0.1"),
            ],
            format!("http://nothing.invalid:{p}/r"),
            format!("nothing.invalid:{p}"),
        ),
        (
            vec![
                "--connect-to".into(),
                format!("nothing.invalid:80:127.0.0.1:{p}"),
            ],
            "http://nothing.invalid/c".into(),
            "nothing.invalid".into(),
        ),
        (
            vec!["--connect-to".into(), format!("::127.0.0.1:{p}")],
            "http://nothing.invalid:81/c".into(),
            "nothing.invalid:81".into(),
        ),
        (
            vec![
                "--connect-to".into(),
                format!("nothing.invalid::other.invalid:{p}"),
                "--resolve".into(),
                format!("other.invalid:{p}:127.0.0.1"),
            ],
            "http://nothing.invalid/both".into(),
            "nothing.invalid".into(),
        ),
    ];
    for (flags, url, host) in cases {
        let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
        args.push(&url);
        let n = netkit_http(&args);
        assert_eq!(
            (n.code, n.text().as_str()),
            (0, "here"),
            "{args:?}: {}",
            n.stderr
        );
        let req = srv.take().pop().unwrap();
        assert_eq!(req.header("host"), Some(host.clone()), "{args:?}");
        let mut cargs = vec!["-s"];
        cargs.extend_from_slice(&args);
        if let Some(c) = curl(&cargs) {
            assert_eq!((c.code, c.text().as_str()), (0, "here"), "curl {args:?}");
            assert_eq!(srv.take().pop().unwrap().header("host"), Some(host));
        }
    }
    // Without them the name does not resolve (exit 3).
    let n = netkit_http(&[&format!("http://nothing.invalid:{p}/")]);
    assert_eq!(n.code, 3, "{}", n.stderr);
    for bad in [
        &["--resolve", "nothing.invalid:80"][..],
        &["--resolve", "h:80:not-an-ip"],
        &["--connect-to", "a:b:c:d"],
        &["--connect-to", "a:1:b"],
    ] {
        let mut args = bad.to_vec();
        args.push("http://nothing.invalid/");
        let n = netkit_http(&args);
        assert_eq!(n.code, 2, "{bad:?}");
        assert_one_error_line(&n.stderr);
    }
}

// ===========================================================================
// 7. Cookies

/// /start sets cookies and redirects to /next/page; any other path answers
/// with the Cookie field it received.
fn cookie_server() -> Server {
    Server::start(|_, req| {
        if req.line().starts_with("GET /start ") {
            response(
                "302 Found",
                &[
                    "Location: /next/page",
                    "Set-Cookie: s=1; Path=/",
                    "Set-Cookie: h=2; Path=/next; HttpOnly",
                    "Set-Cookie: gone=x; Max-Age=0",
                    "Set-Cookie: other=3; Path=/elsewhere",
                    "Set-Cookie: foreign=4; Domain=example.com",
                ],
                b"",
            )
        } else {
            let c = req.header("cookie").unwrap_or_else(|| "none".into());
            ok(c.as_bytes())
        }
    })
}

/// A cookie file's cookie lines, sorted (comments and blank lines out).
fn jar_lines(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty() && (!l.starts_with('#') || l.starts_with("#HttpOnly_")))
        .map(String::from)
        .collect();
    v.sort();
    v
}

#[test]
fn cookie_strings_are_sent_as_curl() {
    let srv = cookie_server();
    let url = srv.url("/echo");
    let n = netkit_http(&["-b", "a=1; b=2", "--cookie", "c=3", &url]);
    assert_eq!(
        (n.code, n.text().as_str()),
        (0, "a=1; b=2;c=3"),
        "{}",
        n.stderr
    );
    if let Some(c) = curl(&["-s", "-b", "a=1; b=2", "--cookie", "c=3", &url]) {
        assert_eq!(c.text(), n.text());
    }
}

#[test]
fn cookies_set_on_a_redirect_go_to_the_next_hop_and_into_the_jar() {
    let srv = cookie_server();
    let url = srv.url("/start");
    let d = Dir::new();
    let (njar, cjar) = (d.path("n.jar"), d.path("c.jar"));
    let n = netkit_http(&["-L", "-c", &njar, &url]);
    assert_eq!((n.code, n.text().as_str()), (0, "h=2; s=1"), "{}", n.stderr);
    // No cookie engine, no cookies (as curl).
    assert_eq!(netkit_http(&["-L", &url]).text(), "none");
    let lines = jar_lines(&njar);
    assert_eq!(
        lines,
        [
            "#HttpOnly_127.0.0.1\tFALSE\t/next\tFALSE\t0\th\t2",
            "127.0.0.1\tFALSE\t/\tFALSE\t0\ts\t1",
            "127.0.0.1\tFALSE\t/elsewhere\tFALSE\t0\tother\t3",
        ]
    );
    if let Some(c) = curl(&["-s", "-L", "-c", &cjar, &url]) {
        assert_eq!(c.text(), n.text());
        assert_eq!(curl(&["-s", "-L", &url]).unwrap().text(), "none");
        assert_eq!(jar_lines(&cjar), lines, "curl's jar");
        // Each reads the other's jar.
        let n2 = netkit_http(&["-b", &cjar, &srv.url("/next/x")]);
        let c2 = curl(&["-s", "-b", &njar, &srv.url("/next/x")]).unwrap();
        assert_eq!(n2.text(), "h=2; s=1");
        assert_eq!(c2.text(), n2.text());
    }
    // -b FILE -c FILE on a file that is not there yet: fine, as curl.
    let fresh = d.path("fresh.jar");
    let n = netkit_http(&["-b", &fresh, "-c", &fresh, &srv.url("/echo")]);
    assert_eq!((n.code, n.text().as_str()), (0, "none"), "{}", n.stderr);
    assert!(jar_lines(&fresh).is_empty());
    // -c - writes the jar to stdout after the body.
    let n = netkit_http(&["-L", "-c", "-", &url]);
    assert!(
        n.text()
            .starts_with("h=2; s=1# Netscape HTTP Cookie File\n"),
        "{}",
        n.text()
    );
}

#[test]
fn retry_with_output_file_keeps_only_the_final_body() {
    let srv = busy_then_ok(1, &[]);
    let d = Dir::new();
    let out = d.path("body");
    let n = netkit_http(&[
        "--retry",
        "1",
        "--retry-delay",
        "0",
        "-o",
        &out,
        "-D",
        "-",
        &srv.url("/"),
    ]);
    assert_eq!(n.code, 0, "{}", n.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), b"ok\n");
    // -D shows the head of the response kept, not the retried one.
    assert!(n.text().starts_with("HTTP/1.1 200 OK\r\n"), "{}", n.text());
}
