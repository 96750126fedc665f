//! `netkit http listen`: printing, answering, --echo, --dir, HTTP/1.1
//! framing and keep-alive, every malformed case over raw sockets, and the
//! real clients (curl, wrk, Python's http.client, netkit's own `http`).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;

/// A human-mode `netkit http listen 0 ARGS` with stdout piped: the process,
/// its port, its stderr lines and its stdout.
struct Server {
    proc: Proc,
    port: u16,
    stderr: Lines,
    stdout: Option<Collector>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut cmd = netkit();
        cmd.args(["http", "listen", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd);
        let stdout = Some(proc.stdout_bytes());
        let mut stderr = proc.stderr_lines();
        let first = stderr
            .next_line(TIMEOUT)
            .unwrap_or_else(|| panic!("http listen printed nothing on stderr"));
        let port = listening_port(&first);
        Server {
            proc,
            port,
            stderr,
            stdout,
        }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn connect(&self) -> TcpStream {
        client(self.addr())
    }

    /// Waits for the exit (it must come) and returns the status and stdout.
    fn finish(mut self) -> (i32, String) {
        let status = self.proc.wait(TIMEOUT);
        let out = self.stdout.take().map(|c| c.text()).unwrap_or_default();
        (status.code().unwrap_or(-1), out)
    }
}

/// One raw exchange: sends `request`, reads until the server closes.
fn raw(server: &Server, request: &[u8]) -> String {
    let mut s = server.connect();
    s.write_all(request).unwrap();
    String::from_utf8_lossy(&read_all(&mut s)).into_owned()
}

/// Reads one response with a Content-Length body from `s`.
fn read_response(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).unwrap();
        assert_eq!(
            n,
            1,
            "EOF inside a response head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let length = text
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let body = if text.starts_with("HTTP/1.1 304") || text.starts_with("HTTP/1.1 100") {
        Vec::new()
    } else {
        read_n(s, length)
    };
    text + &String::from_utf8_lossy(&body)
}

/// The response without its Date line.
fn undated(response: &str) -> String {
    response
        .split("\r\n")
        .filter(|l| !l.starts_with("Date: "))
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn prints_the_request_and_answers_200_then_exits_after_c() {
    let server = Server::start(&["-c", "1"]);
    let response = raw(
        &server,
        b"POST /hook?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(
        undated(&response),
        "HTTP/1.1 200 OK\r\nServer: netkit\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let (code, out) = server.finish();
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "POST /hook?x=1 HTTP/1.1\nHost: h\nContent-Length: 5\n\nhello\n"
    );
}

#[test]
fn a_binary_body_is_printed_as_a_hex_dump() {
    let server = Server::start(&["-c", "1"]);
    let mut req = b"PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n".to_vec();
    req.extend_from_slice(&[0, 1, 0xfe, 0xff]);
    raw(&server, &req);
    let (code, out) = server.finish();
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "PUT /b HTTP/1.1\nHost: h\nContent-Length: 4\n\n 00000000  00 01 fe ff                                       |....|\n"
    );
}

#[test]
fn status_headers_and_body_shape_the_answer() {
    let dir = temp_dir("body");
    fs::write(dir.join("b.txt"), "from a file\n").unwrap();
    let at = format!("@{}", dir.join("b.txt").display());
    let server = Server::start(&["--status", "503", "-H", "Retry-After: 7", "--body", &at]);
    let response = raw(
        &server,
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(
        undated(&response),
        "HTTP/1.1 503 Service Unavailable\r\nServer: netkit\r\nContent-Length: 12\r\nRetry-After: 7\r\nConnection: close\r\n\r\nfrom a file\n"
    );
    let server = Server::start(&["--body", "ok"]);
    let response = raw(&server, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(
        undated(&response),
        "HTTP/1.0 200 OK\r\nServer: netkit\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    );
}

#[test]
fn json_mode_emits_one_request_event_per_request() {
    let mut cmd = netkit();
    cmd.args(["--json", "http", "listen", "0", "-c", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut proc, mut events, _stderr, _, port) = spawn_listening(&mut cmd);
    let mut s = client(SocketAddr::from(([127, 0, 0, 1], port)));
    s.write_all(b"GET /a?k=v&k=w HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-A: 2\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut s).starts_with("HTTP/1.1 200 OK\r\n"));
    s.write_all(b"POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n\xff\x00")
        .unwrap();
    assert!(read_response(&mut s).contains("Connection: close\r\n"));
    let first = events.wait("request", |_| true);
    assert_eq!(first["method"], "GET");
    assert_eq!(first["path"], "/a");
    assert_eq!(first["query"], "k=v&k=w");
    assert_eq!(first["args"]["k"], serde_json::json!(["v", "w"]));
    assert_eq!(first["headers"]["X-A"], "1, 2");
    assert_eq!(first["body"], "");
    assert_eq!(first["status"], 200);
    assert_eq!(first["id"], 1);
    let second = events.wait("request", |_| true);
    assert_eq!(second["method"], "POST");
    assert_eq!(second["body_base64"], "/wA=");
    assert_eq!(proc.wait(TIMEOUT).code(), Some(0));
}

#[test]
fn echo_answers_with_the_request_as_json_to_python() {
    if !require_peer("python3") {
        return;
    }
    let server = Server::start(&["--echo"]);
    let script = format!(
        r#"
import http.client, json
c = http.client.HTTPConnection("127.0.0.1", {port})
for i in range(3):
    c.request("POST", "/p/" + str(i) + "?a=1", body=b"hi " + str(i).encode(), headers={{"X-T": "y"}})
    r = c.getresponse()
    d = json.loads(r.read())
    print(r.status, r.getheader("Content-Type"), d["method"], d["path"], d["args"]["a"], d["headers"]["X-T"], d["body"])
# chunked upload
c.request("PUT", "/c", body=iter([b"ab", b"cd"]), encode_chunked=True)
r = c.getresponse()
print(r.status, json.loads(r.read())["body"])
"#,
        port = server.port
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200 application/json POST /p/0 1 y hi 0\n\
         200 application/json POST /p/1 1 y hi 1\n\
         200 application/json POST /p/2 1 y hi 2\n\
         200 abcd\n"
    );
}

#[test]
fn netkit_http_talks_to_netkit_http_listen() {
    let server = Server::start(&["--echo", "-H", "X-Served-By: test"]);
    let out = netkit()
        .args(["http", "-i", "-d", "name=ann", &server.url("/form?q=1")])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("X-Served-By: test\r\n"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["body"], "name=ann");
    assert_eq!(v["args"]["q"], "1");
}

#[test]
fn keep_alive_and_pipelining_answer_in_order() {
    let server = Server::start(&["--echo"]);
    let mut s = server.connect();
    s.write_all(
        b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n\
          POST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
          GET /3 HTTP/1.1\r\nHost: h\r\n\r\n",
    )
    .unwrap();
    for (path, body) in [("/1", ""), ("/2", "abc"), ("/3", "")] {
        let r = read_response(&mut s);
        let json: serde_json::Value =
            serde_json::from_str(&r[r.find("\r\n\r\n").unwrap() + 4..]).unwrap();
        assert_eq!(json["path"], path, "{r}");
        assert_eq!(json["body"], body, "{r}");
    }
    // Still open: one more request on the same connection.
    s.write_all(b"GET /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s);
    assert!(
        r.contains("Connection: close\r\n") && r.contains("\"/4\""),
        "{r}"
    );
    assert_eof(&mut s, "after Connection: close");
}

#[test]
fn http_1_0_closes_unless_keep_alive_is_asked() {
    let server = Server::start(&[]);
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let r = read_response(&mut s);
    assert!(
        r.starts_with("HTTP/1.0 200 OK\r\n") && r.contains("Connection: keep-alive\r\n"),
        "{r}"
    );
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let r = read_response(&mut s);
    assert!(r.contains("Connection: close\r\n"), "{r}");
    assert_eof(&mut s, "after an HTTP/1.0 request");
}

#[test]
fn expect_100_continue_gets_continue_before_the_body() {
    let server = Server::start(&["--echo"]);
    let mut s = server.connect();
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
    )
    .unwrap();
    assert_eq!(read_line(&mut s), "HTTP/1.1 100 Continue\r\n");
    assert_eq!(read_line(&mut s), "\r\n");
    s.write_all(b"xyz").unwrap();
    let r = read_response(&mut s);
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n") && r.contains("\"body\": \"xyz\""),
        "{r}"
    );
    // Over --max-body: 413 at once, no 100.
    let server = Server::start(&["--max-body", "10"]);
    let response = raw(
        &server,
        b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
    );
    assert!(
        response.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
        "{response}"
    );
}

/// Each malformed request: its status, one line on stderr, the connection
/// closed, and the server serving on.
#[test]
fn malformed_requests_get_their_status_and_one_line() {
    let mut server = Server::start(&["--max-body", "100", "--max-head", "1KiB"]);
    let long = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "a".repeat(2000)
    );
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (
            b"GARBAGE\r\n\r\n".to_vec(),
            "400 Bad Request",
            "malformed request",
        ),
        (
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            "400 Bad Request",
            "without Host",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            "501 Not Implemented",
            "Transfer-Encoding",
        ),
        (
            long.into_bytes(),
            "431 Request Header Fields Too Large",
            "over 1024 bytes",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n".to_vec(),
            "413 Content Too Large",
            "--max-body",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            "400 Bad Request",
            "chunk",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: x\r\n\r\n".to_vec(),
            "400 Bad Request",
            "Content-Length",
        ),
    ];
    for (request, status, why) in cases {
        let response = raw(&server, &request);
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{status} for {:?}: {response}",
            String::from_utf8_lossy(&request[..request.len().min(60)])
        );
        assert!(response.contains("Connection: close\r\n"), "{response}");
        let line = server.stderr.next_line(TIMEOUT).expect("a line on stderr");
        assert!(
            line.starts_with("! 127.0.0.1:") && line.contains(status) && line.contains(why),
            "{line}"
        );
    }
    let ok = raw(
        &server,
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(server.proc.running());
}

#[test]
fn a_slow_head_gets_408_and_is_closed() {
    let mut server = Server::start(&["--header-timeout", "300ms"]);
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: ")
        .unwrap();
    let response = String::from_utf8_lossy(&read_all(&mut s)).into_owned();
    assert!(
        response.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{response}"
    );
    let line = server.stderr.next_line(TIMEOUT).unwrap();
    assert!(line.contains("408 Request Timeout"), "{line}");
    // A connection that sends nothing is closed quietly.
    let mut idle = server.connect();
    assert_eq!(read_all(&mut idle), b"");
}

#[test]
fn an_https_client_that_never_finishes_its_tls_handshake_is_closed_after_header_timeout() {
    let dir = temp_dir("tls-stall");
    let pki = make_pki(&dir, &["localhost"]);
    let mut server = Server::start(&[
        "--header-timeout",
        "300ms",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    // TCP only: the ClientHello never comes, so no 408 can be said to it.
    let mut silent = server.connect();
    let start = std::time::Instant::now();
    let rest = read_all(&mut silent);
    assert!(rest.is_empty() || rest[0] == 0x15, "not an alert: {rest:?}");
    let waited = start.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(250),
        "{waited:?}"
    );
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
    assert!(server.proc.running());
    let _ = fs::remove_dir_all(dir);
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("netkit-http-listen-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn site(tag: &str) -> (PathBuf, PathBuf) {
    let base = temp_dir(tag);
    let root = base.join("www");
    fs::create_dir_all(root.join("docs")).unwrap();
    fs::create_dir_all(root.join("app")).unwrap();
    fs::write(root.join("hello.txt"), "hello\n").unwrap();
    fs::write(root.join("app/index.html"), "<p>app</p>\n").unwrap();
    fs::write(root.join("docs/a b.css"), "p{}").unwrap();
    fs::write(root.join("big.bin"), random_bytes(3 << 20, 7)).unwrap();
    fs::write(base.join("secret.txt"), "secret\n").unwrap();
    std::os::unix::fs::symlink(base.join("secret.txt"), root.join("out")).unwrap();
    std::os::unix::fs::symlink(root.join("hello.txt"), root.join("in")).unwrap();
    (base, root)
}

fn get(server: &Server, path: &str, extra: &str) -> String {
    let mut s = server.connect();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: h\r\n{extra}\r\n").as_bytes())
        .unwrap();
    read_response(&mut s)
}

#[test]
fn dir_serves_files_indexes_listings_and_validators() {
    let (base, root) = site("dir");
    let server = Server::start(&["--dir", root.to_str().unwrap()]);
    let r = get(&server, "/hello.txt", "");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(
        r.contains("Content-Type: text/plain; charset=utf-8\r\n"),
        "{r}"
    );
    assert!(
        r.contains("Content-Length: 6\r\n") && r.ends_with("\r\n\r\nhello\n"),
        "{r}"
    );
    let etag = r
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .unwrap()
        .to_string();
    let modified = r
        .lines()
        .find_map(|l| l.strip_prefix("Last-Modified: "))
        .unwrap()
        .to_string();
    let r = get(&server, "/hello.txt", &format!("If-None-Match: {etag}\r\n"));
    assert!(
        r.starts_with("HTTP/1.1 304 Not Modified\r\n") && r.ends_with("\r\n\r\n"),
        "{r}"
    );
    let r = get(
        &server,
        "/hello.txt",
        &format!("If-Modified-Since: {modified}\r\n"),
    );
    assert!(r.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{r}");
    let r = get(&server, "/hello.txt", "Range: bytes=1-3\r\n");
    assert!(
        r.starts_with("HTTP/1.1 206 Partial Content\r\n")
            && r.contains("Content-Range: bytes 1-3/6\r\n")
            && r.ends_with("\r\n\r\nell"),
        "{r}"
    );
    let r = get(&server, "/hello.txt", "Range: bytes=9-\r\n");
    assert!(
        r.starts_with("HTTP/1.1 416 Range Not Satisfiable\r\n")
            && r.contains("Content-Range: bytes */6\r\n"),
        "{r}"
    );
    let r = get(&server, "/app/", "");
    assert!(
        r.contains("text/html") && r.ends_with("<p>app</p>\n"),
        "{r}"
    );
    let r = get(&server, "/app", "");
    assert!(
        r.starts_with("HTTP/1.1 301 Moved Permanently\r\n") && r.contains("Location: /app/\r\n"),
        "{r}"
    );
    let r = get(&server, "/docs/", "");
    assert!(r.contains("<a href=\"a%20b.css\">a b.css</a>"), "{r}");
    let r = get(&server, "/docs/a%20b.css", "");
    assert!(
        r.contains("Content-Type: text/css; charset=utf-8\r\n") && r.ends_with("p{}"),
        "{r}"
    );
    let r = get(&server, "/in", "");
    assert!(
        r.starts_with("HTTP/1.1 200 OK\r\n"),
        "a symlink inside the root: {r}"
    );
    let mut s = server.connect();
    s.write_all(b"HEAD /hello.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    let head = String::from_utf8_lossy(&read_all(&mut s)).into_owned();
    assert!(
        head.contains("Content-Length: 6\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    let r = raw(
        &server,
        b"DELETE /hello.txt HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    );
    assert!(
        r.starts_with("HTTP/1.1 405 Method Not Allowed\r\n") && r.contains("Allow: GET, HEAD\r\n"),
        "{r}"
    );
    let r = get(&server, "/missing", "");
    assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
    let _ = fs::remove_dir_all(base);
}

#[test]
fn dir_never_serves_anything_outside_it() {
    let (base, root) = site("escape");
    let server = Server::start(&["--dir", root.to_str().unwrap()]);
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/docs/../../secret.txt",
        "/docs/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/out",
    ] {
        let r = get(&server, path, "");
        assert!(
            r.starts_with("HTTP/1.1 403 Forbidden\r\n")
                || r.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{path}: {r}"
        );
        assert!(!r.contains("secret"), "{path}: {r}");
    }
    let _ = fs::remove_dir_all(base);
}

#[test]
fn dir_large_files_and_ranges_reach_curl_intact() {
    if !require_peer("curl") {
        return;
    }
    let (base, root) = site("curl");
    let server = Server::start(&["--dir", root.to_str().unwrap()]);
    let out = base.join("got.bin");
    let (code, _) = curl(&["-o", out.to_str().unwrap(), &server.url("/big.bin")]);
    assert_eq!(code, 0);
    assert_same_bytes(
        "big.bin",
        &fs::read(root.join("big.bin")).unwrap(),
        &fs::read(&out).unwrap(),
    );
    let (code, _) = curl(&[
        "-r",
        "1000000-2999999",
        "-o",
        out.to_str().unwrap(),
        &server.url("/big.bin"),
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        fs::read(&out).unwrap(),
        fs::read(root.join("big.bin")).unwrap()[1_000_000..3_000_000]
    );
    // curl's --path-as-is keeps the dots on the wire.
    let (code, body) = curl(&[
        "--path-as-is",
        "-w",
        "%{http_code}",
        &server.url("/../secret.txt"),
    ]);
    assert_eq!(code, 0);
    assert!(body.ends_with("403") && !body.contains("secret"), "{body}");
    let _ = fs::remove_dir_all(base);
}

#[test]
fn dir_under_wrk_answers_every_request() {
    if !require_peer("wrk") {
        return;
    }
    let (base, root) = site("wrk");
    let server = Server::start(&["--dir", root.to_str().unwrap()]);
    let out = Command::new("wrk")
        .args(["-t1", "-c20", "-d1s", &server.url("/hello.txt")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "{text}"
    );
    let requests: u64 = text
        .lines()
        .find_map(|l| {
            l.trim()
                .split_once(" requests in ")
                .map(|(n, _)| n.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(requests > 100, "{text}");
    let _ = fs::remove_dir_all(base);
}

#[test]
fn https_with_tls_cert_and_key() {
    if !require_peer("curl") {
        return;
    }
    let dir = temp_dir("tls");
    let pki = make_pki(&dir, &["localhost"]);
    let server = Server::start(&[
        "--echo",
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let url = format!("https://localhost:{}/secure?x=1", server.port);
    let resolve = format!("localhost:{}:127.0.0.1", server.port);
    let (code, body) = curl(&[
        "--cacert",
        pki.ca.to_str().unwrap(),
        "--resolve",
        &resolve,
        "-d",
        "s",
        &url,
    ]);
    assert_eq!(code, 0, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["path"], "/secure");
    assert_eq!(v["body"], "s");
    // A file larger than a TLS chunk and the socket buffers, range too.
    let (base, root) = site("tls-dir");
    let server = Server::start(&[
        "--dir",
        root.to_str().unwrap(),
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    let resolve = format!("localhost:{}:127.0.0.1", server.port);
    let url = format!("https://localhost:{}/big.bin", server.port);
    let got = base.join("got.bin");
    let ca = pki.ca.to_str().unwrap();
    let (code, _) = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-o",
        got.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(code, 0);
    let want = fs::read(root.join("big.bin")).unwrap();
    assert_same_bytes("big.bin over TLS", &want, &fs::read(&got).unwrap());
    let (code, _) = curl(&[
        "--cacert",
        ca,
        "--resolve",
        &resolve,
        "-r",
        "100-200099",
        "-o",
        got.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(code, 0);
    assert_eq!(fs::read(&got).unwrap(), want[100..200_100]);
    let _ = fs::remove_dir_all(base);
    let _ = fs::remove_dir_all(dir);
}
