//! TLS on the client side against peers netkit did not write: certificates
//! made by a plain `openssl req -x509` (RSA and EC) served by
//! `openssl s_server`, `ncat --ssl` and `socat OPENSSL-LISTEN`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

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
