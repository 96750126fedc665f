//! Proxies against real ones: Debian's `tinyproxy` (HTTP CONNECT) and
//! `microsocks` (SOCKS5, with user and password), started by the tests.
//!
//! Neither proxy keeps a tunnel half-open (each closes both sides when one
//! side ends), so data is checked one way at a time: a download that the
//! far end closes, and an upload that netkit ends.

mod common;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Waits until something accepts on 127.0.0.1:port (a proxy serves many
/// clients, so a probe connection costs nothing).
fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Tinyproxy {
    _proc: Proc,
    port: u16,
    _conf: TempFile,
}

fn tinyproxy(extra: &str) -> Option<Tinyproxy> {
    if !require_peer("tinyproxy") {
        return None;
    }
    let port = free_port();
    let conf = TempFile::with(
        "tinyproxy.conf",
        format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\nLogLevel Error\nMaxClients 50\n{extra}"
        )
        .as_bytes(),
    );
    let path: PathBuf = conf.path.clone();
    let proc = Proc::spawn(
        Command::new("tinyproxy")
            .args(["-d", "-c", path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port, "tinyproxy");
    Some(Tinyproxy {
        _proc: proc,
        port,
        _conf: conf,
    })
}

struct Microsocks {
    _proc: Proc,
    port: u16,
}

fn microsocks(auth: bool) -> Option<Microsocks> {
    if !require_peer("microsocks") {
        return None;
    }
    let port = free_port();
    let mut cmd = Command::new("microsocks");
    cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
    if auth {
        cmd.args(["-u", "user", "-P", "s3cret"]);
    }
    let proc = Proc::spawn(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_port(port, "microsocks");
    Some(Microsocks { _proc: proc, port })
}

/// A server that sends `data` to its one client and closes: (proc, port).
fn sender(data: &[u8]) -> (Proc, u16, TempFile) {
    let file = TempFile::with("send", data);
    let (proc, port, _) = socat_listener(
        &[
            "-u",
            &format!("FILE:{}", file.path.display()),
            "TCP-LISTEN:0,bind=127.0.0.1",
        ],
        Stdio::null(),
        Stdio::null(),
    );
    (proc, port, file)
}

/// A server that writes what its one client sends to stdout.
fn receiver() -> (Proc, u16, Collector) {
    let (mut proc, port, _) = socat_listener(
        &["-u", "TCP-LISTEN:0,bind=127.0.0.1", "STDOUT"],
        Stdio::piped(),
        Stdio::null(),
    );
    let out = proc.stdout_bytes();
    (proc, port, out)
}

fn both_ways(proxy: &str, host: &str, seed: u64) {
    let data = random_bytes(4 * MIB, seed);
    let (_s, port, _f) = sender(&data);
    let (code, out, err) = run(
        &[
            "tcp",
            "connect",
            "--recv-only",
            "-x",
            proxy,
            host,
            &port.to_string(),
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "download via {proxy}: {err}");
    assert_same_bytes(&format!("downloaded via {proxy}"), &data, &out);

    let data = random_bytes(4 * MIB + 5, seed + 1);
    let (mut r, port, got) = receiver();
    let input = TempFile::with("up", &data);
    let (code, _, err) = run(
        &["tcp", "connect", "-x", proxy, host, &port.to_string()],
        input.stdio(),
    );
    assert_eq!(code, 0, "upload via {proxy}: {err}");
    r.wait(TIMEOUT);
    assert_same_bytes(&format!("uploaded via {proxy}"), &data, &got.join());
}

#[test]
fn tcp_connect_through_tinyproxy_moves_megabytes_exactly() {
    let Some(tp) = tinyproxy("") else { return };
    both_ways(&format!("http://127.0.0.1:{}", tp.port), "127.0.0.1", 51);
    both_ways(&format!("127.0.0.1:{}", tp.port), "localhost", 53);
}

#[test]
fn tcp_connect_through_microsocks_moves_megabytes_exactly() {
    let Some(ms) = microsocks(true) else { return };
    for (scheme, seed) in [("socks5h", 61), ("socks5", 63)] {
        let proxy = format!("{scheme}://user:s3cret@127.0.0.1:{}", ms.port);
        both_ways(&proxy, "localhost", seed);
    }
}

#[test]
fn refused_proxy_handshakes_are_one_line_exit_4() {
    let Some(ms) = microsocks(true) else { return };
    let Some(tp) = tinyproxy("") else { return };
    let closed = free_port().to_string();
    let cases = [
        (
            format!("socks5://user:wrong@127.0.0.1:{}", ms.port),
            "wrong user name or password",
        ),
        (
            format!("socks5h://127.0.0.1:{}", ms.port),
            "requires authentication",
        ),
        (
            format!("socks5h://user:s3cret@127.0.0.1:{}", ms.port),
            "refused",
        ),
        (format!("http://127.0.0.1:{}", tp.port), "500"),
        (format!("http://127.0.0.1:{closed}"), "connection refused"),
    ];
    for (proxy, want) in cases {
        let (code, out, err) = run(
            &["tcp", "connect", "-x", &proxy, "127.0.0.1", &closed],
            Stdio::null(),
        );
        assert_eq!(code, 4, "{proxy}: {err}");
        assert!(out.is_empty());
        assert_one_error_line(&err);
        assert!(err.contains("proxy"), "{err}");
        assert!(err.contains(want), "{proxy}: {err}");
        assert!(!err.contains("s3cret") && !err.contains("wrong@"), "{err}");
    }
}

#[test]
fn a_bad_proxy_url_is_a_usage_error() {
    for url in ["ftp://x:1", "https://x:1", "socks5://:1"] {
        let (code, _, err) = run(
            &["tcp", "connect", "-x", url, "127.0.0.1", "1"],
            Stdio::null(),
        );
        assert_eq!(code, 2, "{url}: {err}");
        assert_one_error_line(&err);
    }
}

// ---------------------------------------------------------------------------
// http, poll and ws through proxies

/// A one-request HTTP server: returns the request head it got.
fn http_server() -> (u16, std::thread::JoinHandle<String>) {
    serve_once(|mut s| {
        let mut head = String::new();
        loop {
            let line = read_line(&mut s);
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        use std::io::Write;
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .unwrap();
        head
    })
}

/// `netkit http URL ARGS` with the proxy variables set as given (and every
/// other proxy variable removed).
fn http_with_env(args: &[&str], env: &[(&str, String)]) -> (i32, Vec<u8>, String) {
    let mut cmd = netkit();
    for v in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
    ] {
        cmd.env_remove(v);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd);
    let out = p.stdout_bytes();
    let err = p.stderr_bytes();
    let status = p.wait(TIMEOUT);
    (code(status), out.join(), err.text())
}

#[test]
fn http_through_tinyproxy_sends_the_absolute_form_and_honours_the_environment() {
    let Some(tp) = tinyproxy("") else { return };
    let proxy = format!("http://127.0.0.1:{}", tp.port);
    // -x: tinyproxy takes the absolute form (it answers 400 to anything
    // else) and adds its Via header on the way.
    let (port, server) = http_server();
    let url = format!("http://127.0.0.1:{port}/path?q=1");
    let (code, out, err) = http_with_env(&["http", "-x", &proxy, &url], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"ok");
    let head = server.join().unwrap();
    assert!(head.starts_with("GET /path?q=1 HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("(tinyproxy/"), "{head}");

    // http_proxy (lower case) is used ...
    let (port, server) = http_server();
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, err) = http_with_env(&["http", &url], &[("http_proxy", proxy.clone())]);
    assert_eq!(code, 0, "{err}");
    assert!(server.join().unwrap().to_ascii_lowercase().contains("via:"));

    // ... HTTP_PROXY in upper case is not (curl ignores it too) ...
    let (port, server) = http_server();
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, err) = http_with_env(&["http", &url], &[("HTTP_PROXY", proxy.clone())]);
    assert_eq!(code, 0, "{err}");
    assert!(!server.join().unwrap().to_ascii_lowercase().contains("via:"));

    // ... and NO_PROXY or --noproxy go direct.
    let (port, server) = http_server();
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, err) = http_with_env(
        &["http", &url],
        &[
            ("ALL_PROXY", proxy.clone()),
            ("NO_PROXY", "127.0.0.1".into()),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!server.join().unwrap().to_ascii_lowercase().contains("via:"));
    let (port, server) = http_server();
    let url = format!("http://127.0.0.1:{port}/");
    let (code, _, err) = http_with_env(
        &["http", "--noproxy", "*", &url],
        &[("http_proxy", proxy.clone())],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!server.join().unwrap().to_ascii_lowercase().contains("via:"));
}

/// `openssl s_server -www` with a fresh self-signed localhost certificate:
/// (server, port, certificate file).
fn https_server() -> Option<(Proc, u16, TempFile)> {
    if !require_peer("openssl") {
        return None;
    }
    let key = TempFile::with("key.pem", b"");
    let cert = TempFile::with("cert.pem", b"");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "5", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost"])
        .args(["-keyout", key.path.to_str().unwrap()])
        .args(["-out", cert.path.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(ok.status.success(), "{ok:?}");
    let mut server = Proc::spawn(
        Command::new("openssl")
            .args(["s_server", "-www", "-accept", "127.0.0.1:0"])
            .args(["-cert", cert.path.to_str().unwrap()])
            .args(["-key", key.path.to_str().unwrap()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut lines = server.stdout_lines();
    let line = lines.wait_for(TIMEOUT, "ACCEPT", |l| l.starts_with("ACCEPT"));
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    std::mem::forget(lines);
    std::mem::forget(key);
    Some((server, port, cert))
}

#[test]
fn https_through_tinyproxy_and_microsocks_tunnels_and_verifies() {
    let Some(tp) = tinyproxy("") else { return };
    let Some(ms) = microsocks(true) else { return };
    let Some((_server, port, cert)) = https_server() else {
        return;
    };
    let url = format!("https://localhost:{port}/");
    let cacert = cert.path.to_str().unwrap();
    for proxy in [
        format!("http://127.0.0.1:{}", tp.port),
        format!("socks5h://user:s3cret@127.0.0.1:{}", ms.port),
        format!("socks5://user:s3cret@127.0.0.1:{}", ms.port),
    ] {
        let (code, out, err) =
            http_with_env(&["http", "-x", &proxy, "--cacert", cacert, &url], &[]);
        assert_eq!(code, 0, "{proxy}: {err}");
        assert!(String::from_utf8_lossy(&out).contains("<HTML>"), "{proxy}");
        // HTTPS_PROXY too.
        let (code, _, err) = http_with_env(
            &["http", "--cacert", cacert, &url],
            &[("HTTPS_PROXY", proxy.clone())],
        );
        assert_eq!(code, 0, "{proxy} from HTTPS_PROXY: {err}");
    }
    // A refusal names the proxy.
    let (code, _, err) = http_with_env(
        &[
            "http",
            "-x",
            &format!("socks5h://user:nope@127.0.0.1:{}", ms.port),
            &url,
        ],
        &[],
    );
    assert_eq!(code, 4, "{err}");
    assert_one_error_line(&err);
    assert!(err.contains("proxy socks5h://127.0.0.1:"), "{err}");
}

#[test]
fn poll_and_ws_connect_go_through_microsocks() {
    let Some(ms) = microsocks(true) else { return };
    let proxy = format!("socks5h://user:s3cret@127.0.0.1:{}", ms.port);
    let (port, server) = http_server();
    let (code, _, err) = http_with_env(
        &[
            "poll",
            "-c",
            "1",
            "-x",
            &proxy,
            &format!("http://localhost:{port}/"),
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    server.join().unwrap();

    let mut cmd = netkit();
    cmd.args([
        "--json",
        "ws",
        "listen",
        "--echo",
        "--bind",
        "127.0.0.1",
        "0",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let (_ws, _events, _err, _, ws_port) = spawn_listening(&mut cmd);
    let (code, out, err) = run_with_input(
        &[
            "ws",
            "connect",
            "-x",
            &proxy,
            &format!("ws://localhost:{ws_port}/"),
        ],
        b"through socks\n",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"through socks\n");
}

#[test]
fn tls_check_and_tcp_connect_tls_go_through_proxies() {
    let Some(tp) = tinyproxy("") else { return };
    let Some(ms) = microsocks(true) else { return };
    let Some((_server, port, cert)) = https_server() else {
        return;
    };
    let cacert = cert.path.to_str().unwrap();
    let target = format!("localhost:{port}");
    for proxy in [
        format!("http://127.0.0.1:{}", tp.port),
        format!("socks5h://user:s3cret@127.0.0.1:{}", ms.port),
    ] {
        let (code, out, err) = run(
            &[
                "--json", "tls", "check", "-x", &proxy, "--cacert", cacert, &target,
            ],
            Stdio::null(),
        );
        assert_eq!(code, 0, "{proxy}: {err}");
        let ev = parse_event(String::from_utf8_lossy(&out).lines().next().unwrap());
        assert_eq!(ev["event"], "tls_cert");
        assert_eq!(ev["verified"], true, "{ev}");
        assert_eq!(ev["subject"], "CN=localhost");

        // --no-shutdown: these proxies end the tunnel at the first
        // half-close, which would race the server's answer.
        let get = TempFile::with("get", b"GET / HTTP/1.0\r\n\r\n");
        let (code, out, err) = run(
            &[
                "tcp",
                "connect",
                "--tls",
                "--no-shutdown",
                "--cacert",
                cacert,
                "-x",
                &proxy,
                "localhost",
                &port.to_string(),
            ],
            get.stdio(),
        );
        assert_eq!(code, 0, "{proxy}: {err}");
        assert!(
            String::from_utf8_lossy(&out).starts_with("HTTP/1.0 200"),
            "{proxy}"
        );
    }
}
