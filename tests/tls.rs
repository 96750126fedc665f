//! TLS on the client side against peers netkit did not write: certificates
//! made by a plain `openssl req -x509` (RSA and EC) served by
//! `openssl s_server`, `ncat --ssl` and `socat OPENSSL-LISTEN`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

static DIR_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory under the target's, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(name: &str) -> TempDir {
        let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("netkit-tls-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    fn file(&self, name: &str) -> String {
        self.path.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[derive(Clone, Copy)]
enum Key {
    Rsa,
    Ec,
}

/// A self-signed certificate for `name` made the way people make one:
/// `openssl req -x509 -newkey ... -nodes` (a CA:TRUE certificate). Returns
/// (certificate path, key path).
fn openssl_cert(dir: &TempDir, stem: &str, key: Key, name: &str, days: u32) -> (String, String) {
    let (cert, keyf) = (
        dir.file(&format!("{stem}.pem")),
        dir.file(&format!("{stem}.key")),
    );
    let mut cmd = Command::new("openssl");
    cmd.args(["req", "-x509", "-nodes", "-newkey"]);
    match key {
        Key::Rsa => cmd.arg("rsa:2048"),
        Key::Ec => cmd.args(["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]),
    };
    let out = cmd
        .args(["-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .args(["-days", &days.to_string()])
        .args(["-keyout", &keyf, "-out", &cert])
        .stdin(Stdio::null())
        .output()
        .expect("run openssl req");
    assert!(out.status.success(), "openssl req failed: {out:?}");
    (cert, keyf)
}

/// `openssl s_server -accept 127.0.0.1:0 -cert C -key K ARGS...`; returns
/// it and its port (from its "ACCEPT 127.0.0.1:PORT" line).
fn s_server(cert: &str, key: &str, args: &[&str]) -> (Proc, u16) {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_server",
        "-accept",
        "127.0.0.1:0",
        "-cert",
        cert,
        "-key",
        key,
    ])
    .args(args)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut proc = Proc::spawn(&mut cmd);
    let mut lines = proc.stdout_lines();
    let line = lines.wait_for(TIMEOUT, "s_server ACCEPT", |l| l.starts_with("ACCEPT"));
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    std::mem::forget(lines);
    (proc, port)
}

fn need_openssl() -> bool {
    require_peer("openssl")
}

// ---------------------------------------------------------------------------
// Certificates that just work

#[test]
fn cacert_trusts_an_openssl_self_signed_certificate_rsa_and_ec() {
    if !need_openssl() {
        return;
    }
    for key in [Key::Rsa, Key::Ec] {
        let dir = TempDir::new("cacert");
        let (cert, keyf) = openssl_cert(&dir, "server", key, "localhost", 30);
        let (_server, port) = s_server(&cert, &keyf, &["-www"]);
        let url = format!("https://localhost:{port}/");
        let (code, out, err) = run(&["http", &url, "--cacert", &cert], Stdio::null());
        assert_eq!(code, 0, "stderr: {err}");
        assert!(
            String::from_utf8_lossy(&out).contains("<HTML>"),
            "body: {}",
            String::from_utf8_lossy(&out)
        );
    }
}

#[test]
fn a_pinned_certificate_still_has_its_host_name_checked() {
    if !need_openssl() {
        return;
    }
    let dir = TempDir::new("name");
    let (cert, keyf) = openssl_cert(&dir, "server", Key::Rsa, "localhost", 30);
    let (_server, port) = s_server(&cert, &keyf, &["-www"]);
    let url = format!("https://127.0.0.1:{port}/");
    let (code, _, err) = run(&["http", &url, "--cacert", &cert], Stdio::null());
    assert_eq!(code, 7, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("not valid for this host name"), "{err}");
}

#[test]
fn an_untrusted_self_signed_certificate_is_one_plain_line_rsa_and_ec() {
    if !need_openssl() {
        return;
    }
    for key in [Key::Rsa, Key::Ec] {
        let dir = TempDir::new("untrusted");
        let (cert, keyf) = openssl_cert(&dir, "server", key, "localhost", 30);
        let (other, _) = openssl_cert(&dir, "other", key, "localhost", 30);
        let (_server, port) = s_server(&cert, &keyf, &["-www"]);
        let url = format!("https://localhost:{port}/");
        for extra in [&[][..], &["--cacert", other.as_str()][..]] {
            let mut args = vec!["http", url.as_str()];
            args.extend_from_slice(extra);
            let (code, _, err) = run(&args, Stdio::null());
            assert_eq!(code, 7, "stderr: {err}");
            assert_one_error_line(&err);
            assert!(err.contains("self-signed certificate"), "{err}");
            assert!(err.contains("--cacert") && err.contains("-k"), "{err}");
            for bad in ["{", "[", "Context", "signature_algorithm"] {
                assert!(!err.contains(bad), "debug text {bad:?} in {err}");
            }
        }
    }
}

#[test]
fn plain_http_to_an_openssl_tls_port_suggests_https() {
    if !need_openssl() {
        return;
    }
    let dir = TempDir::new("plain");
    let (cert, keyf) = openssl_cert(&dir, "server", Key::Rsa, "localhost", 30);
    let (_server, port) = s_server(&cert, &keyf, &["-www"]);
    let url = format!("http://localhost:{port}/");
    let (code, _, err) = run(&["http", &url], Stdio::null());
    assert_eq!(code, 6, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("https://"), "{err}");
}

#[test]
fn plain_ws_and_http_to_a_port_answering_with_a_tls_alert_say_so() {
    if !need_openssl() {
        return;
    }
    // rustls answers a plain request with an alert record (0x15 0x03 ...).
    let dir = TempDir::new("alert");
    let (cert, keyf) = openssl_cert(&dir, "server", Key::Ec, "localhost", 30);
    let (_server, _events, _out, _first, port) = spawn_listening(
        netkit()
            .args([
                "--json",
                "ws",
                "listen",
                "--tls-cert",
                &cert,
                "--tls-key",
                &keyf,
                "--bind",
                "127.0.0.1",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    for url in [
        format!("ws://localhost:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let args: Vec<&str> = if url.starts_with("ws") {
            vec!["ws", "connect", &url]
        } else {
            vec!["http", &url]
        };
        let (code, _, err) = run(&args, Stdio::null());
        assert_eq!(code, 6, "stderr: {err}");
        assert_one_error_line(&err);
        assert!(err.contains("speaks TLS on this port"), "{err}");
        assert!(err.contains("https://") && err.contains("wss://"), "{err}");
    }
}

// ---------------------------------------------------------------------------
// tcp connect --tls

/// `ncat --ssl -v -l 127.0.0.1 PORT ARGS` on a free port; waits for its
/// "Listening on" line.
fn ncat_ssl(cert: &str, key: &str, args: &[&str], stdin: Stdio, stdout: Stdio) -> (Proc, u16) {
    let port = free_port();
    let mut cmd = Command::new("ncat");
    cmd.args(["--ssl", "--ssl-cert", cert, "--ssl-key", key, "-v", "-l"])
        .args(["127.0.0.1", &port.to_string()])
        .args(args)
        .stdin(stdin)
        .stdout(stdout);
    let (proc, _, lines) =
        spawn_peer_listener(&mut cmd, |l| l.contains("Listening on").then_some(port));
    std::mem::forget(lines);
    (proc, port)
}

/// netkit's stdin from a temp file holding `data`.
fn file_stdin(data: &[u8]) -> (TempFile, Stdio) {
    let f = TempFile::with("stdin", data);
    let s = f.stdio();
    (f, s)
}

#[test]
fn tls_connect_sends_megabytes_exactly_to_openssl_s_server() {
    if !need_openssl() {
        return;
    }
    let dir = TempDir::new("s_server_sink");
    let (cert, key) = openssl_cert(&dir, "server", Key::Rsa, "localhost", 30);
    // s_server writes what it receives to stdout; its stdin stays open
    // (a pipe we hold) so it does not end the session itself.
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_server",
        "-quiet",
        "-accept",
        "127.0.0.1:0",
        "-cert",
        &cert,
        "-key",
        &key,
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut server = Proc::spawn(&mut cmd);
    let hold = server.take_stdin();
    let received = server.stdout_bytes();
    // -quiet prints no ACCEPT line: find the listening socket it owns.
    let deadline = std::time::Instant::now() + TIMEOUT;
    let port = loop {
        if let Some(p) = listening_port_of(server.id()) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "s_server never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let data = random_bytes(4 * MIB, 14);
    let (_f, stdin) = file_stdin(&data);
    let (code, out, err) = run(
        &[
            "tcp",
            "connect",
            "--tls",
            "--cacert",
            &cert,
            "localhost",
            &port.to_string(),
        ],
        stdin,
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.is_empty());
    drop(hold);
    server.wait_or_kill(Duration::from_secs(5));
    assert_same_bytes("s_server received", &data, &received.join());
}

/// The TCP port a process listens on, from /proc/net/tcp and its fds.
fn listening_port_of(pid: u32) -> Option<u16> {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()? {
        let link = std::fs::read_link(fd.ok()?.path()).ok()?;
        let link = link.to_string_lossy().into_owned();
        if let Some(ino) = link
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
        {
            inodes.push(ino.to_string());
        }
    }
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        // local_address, st == 0A (LISTEN), inode
        if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
            let port = f[1].rsplit(':').next()?;
            return u16::from_str_radix(port, 16).ok();
        }
    }
    None
}

#[test]
fn tls_connect_echoes_megabytes_exactly_through_socat() {
    if !need_openssl() || !require_peer("socat") {
        return;
    }
    let dir = TempDir::new("socat_echo");
    let (cert, key) = openssl_cert(&dir, "server", Key::Ec, "localhost", 30);
    let listen = format!("OPENSSL-LISTEN:0,bind=127.0.0.1,cert={cert},key={key},verify=0");
    let (_socat, port, _lines) =
        socat_listener(&[&listen, "SYSTEM:cat"], Stdio::null(), Stdio::null());
    let data = random_bytes(8 * MIB, 15);
    let (_f, stdin) = file_stdin(&data);
    let (code, out, err) = run(
        &[
            "tcp",
            "connect",
            "--tls",
            "--cacert",
            &cert,
            "localhost",
            &port.to_string(),
        ],
        stdin,
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_same_bytes("echoed by socat", &data, &out);
}

#[test]
fn tls_connect_receives_and_sends_megabytes_exactly_with_ncat() {
    if !require_peer("ncat") || !need_openssl() {
        return;
    }
    let dir = TempDir::new("ncat");
    let (cert, key) = openssl_cert(&dir, "server", Key::Rsa, "localhost", 30);
    // ncat sends a file; netkit only receives.
    let data = random_bytes(16 * MIB, 16);
    let (_f, ncat_in) = file_stdin(&data);
    let (_ncat, port) = ncat_ssl(&cert, &key, &[], ncat_in, Stdio::null());
    let (code, out, err) = run(
        &[
            "tcp",
            "connect",
            "--tls",
            "--recv-only",
            "--cacert",
            &cert,
            "localhost",
            &port.to_string(),
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_same_bytes("sent by ncat", &data, &out);

    // netkit sends a file; ncat writes it out.
    let data = random_bytes(MIB + 7, 17);
    let (_f, stdin) = file_stdin(&data);
    let (mut ncat, port) = ncat_ssl(&cert, &key, &[], Stdio::null(), Stdio::piped());
    let received = ncat.stdout_bytes();
    let (code, _, err) = run(
        &[
            "tcp",
            "connect",
            "--tls",
            "--cacert",
            &cert,
            "localhost",
            &port.to_string(),
        ],
        stdin,
    );
    assert_eq!(code, 0, "stderr: {err}");
    ncat.wait(TIMEOUT);
    assert_same_bytes("received by ncat", &data, &received.join());
}

#[test]
fn tls_connect_to_the_wrong_name_exits_7_with_one_line() {
    if !need_openssl() {
        return;
    }
    let dir = TempDir::new("wrong_name");
    let (cert, key) = openssl_cert(&dir, "server", Key::Rsa, "localhost", 30);
    let (_server, port) = s_server(&cert, &key, &["-www"]);
    let port = port.to_string();
    for args in [
        vec![
            "tcp",
            "connect",
            "--tls",
            "--cacert",
            &cert,
            "127.0.0.1",
            &port,
        ],
        vec![
            "tcp",
            "connect",
            "--tls",
            "--cacert",
            &cert,
            "--sni",
            "example.org",
            "localhost",
            &port,
        ],
    ] {
        let (code, out, err) = run(&args, Stdio::null());
        assert_eq!(code, 7, "{args:?}: stderr: {err}");
        assert!(out.is_empty());
        assert_one_error_line(&err);
        assert!(err.contains("not valid for this host name"), "{err}");
    }
    // Not trusted at all.
    let (code, _, err) = run(
        &["tcp", "connect", "--tls", "localhost", &port],
        Stdio::null(),
    );
    assert_eq!(code, 7, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("self-signed"), "{err}");
    // -k connects, and says it does not verify.
    let get = TempFile::with("get", b"GET / HTTP/1.0\r\n\r\n");
    let (code, out, err) = run(
        &["tcp", "connect", "--tls", "-k", "localhost", &port],
        get.stdio(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.contains("--insecure"), "{err}");
    assert!(
        String::from_utf8_lossy(&out).starts_with("HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[test]
fn tls_connect_reports_the_session_as_an_event() {
    if !need_openssl() {
        return;
    }
    let dir = TempDir::new("session");
    let (cert, key) = openssl_cert(&dir, "server", Key::Ec, "localhost", 30);
    let (_server, port) = s_server(&cert, &key, &["-www", "-alpn", "h2,http/1.1"]);
    let port = port.to_string();
    let get = TempFile::with("get", b"GET / HTTP/1.0\r\n\r\n");
    let (code, out, err) = run(
        &[
            "--json",
            "tcp",
            "connect",
            "--tls",
            "--cacert",
            &cert,
            "--alpn",
            "http/1.1",
            "localhost",
            &port,
        ],
        get.stdio(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let text = String::from_utf8_lossy(&out);
    let ev = text
        .lines()
        .map(parse_event)
        .find(|v| v["event"] == "tls_session")
        .unwrap_or_else(|| panic!("no tls_session event in {text}"));
    assert!(
        ev["version"].as_str().unwrap().starts_with("TLSv1."),
        "{ev}"
    );
    assert!(ev["cipher"].as_str().unwrap().starts_with("TLS"), "{ev}");
    assert_eq!(ev["alpn"], "http/1.1");
    assert_eq!(ev["subject"], "CN=localhost");
    assert!(ev["not_after"].as_str().unwrap().ends_with('Z'), "{ev}");
    // -v: one human line.
    let (code, _, err) = run(
        &[
            "-v",
            "tcp",
            "connect",
            "--tls",
            "--cacert",
            &cert,
            "localhost",
            &port,
        ],
        get.stdio(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(err.contains("* TLS: TLSv1."), "{err}");
    assert!(err.contains("certificate CN=localhost, expires "), "{err}");
}

#[test]
fn tls_flags_without_tls_are_a_usage_error() {
    let (code, _, err) = run(&["tcp", "connect", "-k", "localhost", "1"], Stdio::null());
    assert_eq!(code, 2, "{err}");
    assert_one_error_line(&err);
    assert!(err.contains("--tls"), "{err}");
}
