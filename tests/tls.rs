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

/// [`s_server`] with `ARGS`, on a fresh [`openssl_cert`] for localhost (30
/// days) in a scratch directory `name`: (the directory, the server, the
/// certificate's path, its port).
fn localhost_s_server(name: &str, key: Key, args: &[&str]) -> (TempDir, Proc, String, u16) {
    let dir = TempDir::new(name);
    let (cert, keyf) = openssl_cert(&dir, "server", key, "localhost", 30);
    let (server, port) = s_server(&cert, &keyf, args);
    (dir, server, cert, port)
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
        let (_dir, _server, cert, port) = localhost_s_server("cacert", key, &["-www"]);
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
    let (_dir, _server, cert, port) = localhost_s_server("name", Key::Rsa, &["-www"]);
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
        let (dir, _server, _, port) = localhost_s_server("untrusted", key, &["-www"]);
        let (other, _) = openssl_cert(&dir, "other", key, "localhost", 30);
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
    let (_dir, _server, _, port) = localhost_s_server("plain", Key::Rsa, &["-www"]);
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

/// `netkit GLOBAL... tcp connect --tls ARGS...`: exit code, stdout, stderr.
fn tls_connect(global: &[&str], args: &[&str], stdin: Stdio) -> (i32, Vec<u8>, String) {
    let full = [global, &["tcp", "connect", "--tls"], args].concat();
    run(&full, stdin)
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
    let (code, out, err) = tls_connect(
        &[],
        &["--cacert", &cert, "localhost", &port.to_string()],
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
    let (code, out, err) = tls_connect(
        &[],
        &["--cacert", &cert, "localhost", &port.to_string()],
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
    let port = port.to_string();
    let args = ["--recv-only", "--cacert", &cert, "localhost", &port];
    let (code, out, err) = tls_connect(&[], &args, Stdio::null());
    assert_eq!(code, 0, "stderr: {err}");
    assert_same_bytes("sent by ncat", &data, &out);

    // netkit sends a file; ncat writes it out.
    let data = random_bytes(MIB + 7, 17);
    let (_f, stdin) = file_stdin(&data);
    let (mut ncat, port) = ncat_ssl(&cert, &key, &[], Stdio::null(), Stdio::piped());
    let received = ncat.stdout_bytes();
    let (code, _, err) = tls_connect(
        &[],
        &["--cacert", &cert, "localhost", &port.to_string()],
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
    let (_dir, _server, cert, port) = localhost_s_server("wrong_name", Key::Rsa, &["-www"]);
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
    let (code, _, err) = tls_connect(&[], &["localhost", &port], Stdio::null());
    assert_eq!(code, 7, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("self-signed"), "{err}");
    // -k connects, and says it does not verify.
    let get = TempFile::with("get", b"GET / HTTP/1.0\r\n\r\n");
    let (code, out, err) = tls_connect(&[], &["-k", "localhost", &port], get.stdio());
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
    let (_dir, _server, cert, port) =
        localhost_s_server("session", Key::Ec, &["-www", "-alpn", "h2,http/1.1"]);
    let port = port.to_string();
    let get = TempFile::with("get", b"GET / HTTP/1.0\r\n\r\n");
    let args = ["--cacert", &cert, "--alpn", "http/1.1", "localhost", &port];
    let (code, out, err) = tls_connect(&["--json"], &args, get.stdio());
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
    let (code, _, err) = tls_connect(
        &["-v"],
        &["--cacert", &cert, "localhost", &port],
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

// ---------------------------------------------------------------------------
// tls check

fn tls_cert_events(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(parse_event)
        .filter(|v| v["event"] == "tls_cert")
        .collect()
}

#[test]
fn tls_check_reports_expiry_and_warn_days_decides_the_exit() {
    if !need_openssl() {
        return;
    }
    let dir = TempDir::new("warn_days");
    let (soon, soon_key) = openssl_cert(&dir, "soon", Key::Rsa, "localhost", 5);
    let (later, later_key) = openssl_cert(&dir, "later", Key::Ec, "localhost", 400);
    let both = dir.file("both.pem");
    let pem = [
        std::fs::read(&soon).unwrap(),
        std::fs::read(&later).unwrap(),
    ]
    .concat();
    std::fs::write(&both, pem).unwrap();
    let (_a, soon_port) = s_server(&soon, &soon_key, &["-www"]);
    let (_b, later_port) = s_server(&later, &later_key, &["-www"]);
    let soon_t = format!("localhost:{soon_port}");
    let later_t = format!("localhost:{later_port}");

    let (code, out, err) = run(
        &[
            "--json",
            "tls",
            "check",
            "--cacert",
            &both,
            "--warn-days",
            "30",
            &soon_t,
            &later_t,
        ],
        Stdio::null(),
    );
    assert_eq!(code, 1, "stderr: {err}");
    let events = tls_cert_events(&out);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["port"], soon_port);
    // Whole days left: N, or N - 1 once a second has passed since the
    // certificate was made.
    let days = |v: &serde_json::Value| v["days_left"].as_i64().unwrap();
    assert!((4..=5).contains(&days(&events[0])), "{}", events[0]);
    assert_eq!(events[1]["port"], later_port);
    assert!((399..=400).contains(&days(&events[1])), "{}", events[1]);
    for ev in &events {
        assert_eq!(ev["host"], "localhost");
        assert_eq!(ev["subject"], "CN=localhost");
        assert_eq!(ev["issuer"], "CN=localhost");
        assert_eq!(ev["verified"], true, "{ev}");
        assert!(ev["not_after"].as_str().unwrap().ends_with('Z'), "{ev}");
    }

    let (code, out, err) = run(
        &[
            "tls",
            "check",
            "--cacert",
            &both,
            "--warn-days",
            "30",
            &later_t,
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("verified"), "{text}");
    assert!(text.contains("SANs     DNS:localhost"), "{text}");
    assert!(
        text.contains("(399 days left)") || text.contains("(400 days left)"),
        "{text}"
    );
}

#[test]
fn tls_check_shows_an_untrusted_chain_and_exits_7_unless_k() {
    if !need_openssl() {
        return;
    }
    let (_dir, _server, _, port) = localhost_s_server("untrusted_check", Key::Ec, &["-www"]);
    let target = format!("localhost:{port}");
    let (code, out, err) = run(&["--json", "tls", "check", &target], Stdio::null());
    assert_eq!(code, 7, "stderr: {err}");
    let ev = &tls_cert_events(&out)[0];
    assert_eq!(ev["verified"], false);
    assert!(
        ev["error"].as_str().unwrap().contains("self-signed"),
        "{ev}"
    );
    assert_eq!(ev["subject"], "CN=localhost");

    let (code, out, err) = run(&["--json", "tls", "check", "-k", &target], Stdio::null());
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(tls_cert_events(&out)[0]["verified"], false);
}

#[test]
fn tls_check_verifies_a_ca_signed_chain() {
    if !need_openssl() {
        return;
    }
    let dir = TempDir::new("chain");
    let (ca, ca_key) = openssl_cert(&dir, "ca", Key::Rsa, "netkit-test-ca", 30);
    let (leaf_key, csr, leaf, ext) = (
        dir.file("leaf.key"),
        dir.file("leaf.csr"),
        dir.file("leaf.pem"),
        dir.file("ext.cnf"),
    );
    std::fs::write(&ext, "subjectAltName=DNS:localhost\n").unwrap();
    let ok = |args: &[&str]| {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    };
    ok(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
    ]
    .iter()
    .copied()
    .chain(["-keyout", &leaf_key, "-out", &csr])
    .collect::<Vec<_>>());
    ok(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
    ]
    .iter()
    .copied()
    .chain(["-days", "20", "-extfile", &ext, "-out", &leaf])
    .collect::<Vec<_>>());
    let (_s, port) = s_server(&leaf, &leaf_key, &["-www", "-cert_chain", &ca]);
    let target = format!("localhost:{port}");
    let (code, out, err) = run(
        &["--json", "tls", "check", "--cacert", &ca, &target],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let ev = &tls_cert_events(&out)[0];
    assert_eq!(ev["verified"], true, "{ev}");
    assert_eq!(ev["subject"], "CN=localhost");
    assert_eq!(ev["issuer"], "CN=netkit-test-ca");
    assert_eq!(ev["chain"].as_array().unwrap().len(), 2, "{ev}");
    assert!(
        (19..=20).contains(&ev["days_left"].as_i64().unwrap()),
        "{ev}"
    );
}

#[test]
fn tls_check_failures_are_one_line_each_and_the_first_decides_the_exit() {
    if !need_openssl() {
        return;
    }
    let (_dir, _server, cert, port) = localhost_s_server("failures", Key::Rsa, &["-www"]);
    let closed = format!("127.0.0.1:{}", free_port());
    let good = format!("localhost:{port}");
    let (code, out, err) = run(
        &["tls", "check", "--cacert", &cert, &closed, &good],
        Stdio::null(),
    );
    assert_eq!(code, 4, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains(&closed) && err.contains("refused"), "{err}");
    assert!(String::from_utf8_lossy(&out).contains("verified"));
    // A port that does not speak TLS.
    let (_plain, plain_port, _lines) = nc_listener(&["-k"], Stdio::null(), Stdio::null());
    let (code, _, err) = run(
        &[
            "tls",
            "check",
            "--connect-timeout",
            "2s",
            &format!("127.0.0.1:{plain_port}"),
        ],
        Stdio::null(),
    );
    assert!(code == 7 || code == 5, "code {code}, stderr: {err}");
    assert_one_error_line(&err);
}

#[test]
fn tls_check_looks_names_up_concurrently() {
    let Some(lib) = slow_resolver_shim() else {
        return;
    };
    // Four names, each lookup 1.5 s: one after the other that is 6 s.
    let port = free_port().to_string();
    let target = format!("localhost:{port}");
    let (code, err, took) = with_slow_resolver(
        &lib,
        1500,
        &["tls", "check", &target, &target, &target, &target],
    );
    assert_eq!(code, 4, "{err}");
    let line = format!("netkit: connect localhost:{port}: connection refused\n");
    assert_eq!(err, line.repeat(4));
    assert!(
        took < Duration::from_millis(4500),
        "one lookup at a time: {took:?}"
    );
}
