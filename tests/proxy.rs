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
