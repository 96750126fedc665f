//! TLS on the listening side: `tcp listen --tls-cert FILE --tls-key FILE`
//! in one-client mode and with `-k`, `--broker`, `--chat` and `--echo`,
//! against clients netkit did not write (`openssl s_client`, `ncat --ssl`,
//! `socat OPENSSL:`) and against `netkit tcp connect --tls`.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;

static DIR_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A scratch directory holding a test PKI, removed on drop.
struct Certs {
    dir: PathBuf,
    pki: Pki,
}

impl Certs {
    fn new(name: &str) -> Certs {
        let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "netkit-tls-listen-{}-{n}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pki = make_pki(&dir, &["localhost"]);
        Certs { dir, pki }
    }

    fn cert(&self) -> &str {
        self.pki.cert.to_str().unwrap()
    }

    fn key(&self) -> &str {
        self.pki.key.to_str().unwrap()
    }

    fn ca(&self) -> &str {
        self.pki.ca.to_str().unwrap()
    }

    /// `--tls-cert C --tls-key K` followed by `args`.
    fn listen_args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["--tls-cert", self.cert(), "--tls-key", self.key()];
        v.extend_from_slice(args);
        v
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TLS client process with piped stdin and stdout.
struct Client {
    proc: Proc,
    stdin: Option<ChildStdin>,
    lines: Lines,
}

impl Client {
    fn spawn(cmd: &mut Command) -> Client {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut proc = Proc::spawn(cmd);
        let stdin = Some(proc.take_stdin());
        let lines = proc.stdout_lines();
        Client { proc, stdin, lines }
    }

    /// `socat - OPENSSL:127.0.0.1:PORT,verify=0` (`-t 30`: after its stdin
    /// ends it waits for the server's end, not half a second).
    fn socat(port: u16) -> Client {
        Client::spawn(Command::new("socat").args([
            "-t",
            "30",
            "-",
            &format!("OPENSSL:127.0.0.1:{port},verify=0"),
        ]))
    }

    /// `openssl s_client -quiet -connect 127.0.0.1:PORT ARGS`.
    fn s_client(port: u16, args: &[&str]) -> Client {
        Client::spawn(
            Command::new("openssl")
                .args(["s_client", "-quiet", "-connect"])
                .arg(format!("127.0.0.1:{port}"))
                .args(args),
        )
    }

    fn send(&mut self, data: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(data).unwrap();
        stdin.flush().unwrap();
    }

    fn line(&mut self) -> String {
        self.lines
            .next_line(TIMEOUT)
            .unwrap_or_else(|| panic!("{}: EOF; lines: {:#?}", self.proc.what, self.lines.seen))
    }
}

fn need_peers(peers: &[&str]) -> bool {
    peers.iter().all(|p| require_peer(p))
}

/// A `--json tcp listen 0 --tls-cert ... ARGS` and its events.
fn json_listener(certs: &Certs, args: &[&str], stdin: Stdio) -> JsonListener {
    JsonListener::start(&certs.listen_args(args), stdin)
}

/// Waits for the `tls_session` event of client `id` and checks its fields.
fn wait_tls_session(l: &mut JsonListener, id: u64) -> serde_json::Value {
    let ev = l.events.wait("tls_session", |v| v["id"] == id);
    assert!(
        ev["version"].as_str().unwrap_or("").starts_with("TLSv1."),
        "{ev}"
    );
    assert!(
        ev["cipher"].as_str().unwrap_or("").starts_with("TLS"),
        "{ev}"
    );
    assert!(ev["remote"]
        .as_str()
        .unwrap_or("")
        .starts_with("127.0.0.1:"));
    ev
}

/// The payload of client `id`'s next `data` events, until `want` bytes came.
fn data_of(l: &mut JsonListener, id: u64, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < want {
        let ev = l.events.wait("data", |v| v["id"] == id);
        got.extend(payload(&ev));
    }
    got
}

// ---------------------------------------------------------------------------
// One client

#[test]
fn one_client_exchanges_bytes_both_ways_with_openssl_s_client() {
    if !need_peers(&["openssl"]) {
        return;
    }
    let certs = Certs::new("s_client");
    let mut l = HumanListener::start(&certs.listen_args(&["-v"]), Stdio::piped(), Stdio::piped());
    let mut stdin = l.proc.take_stdin();
    let mut received = l.proc.stdout_lines();
    let mut c = Client::s_client(l.port, &[]);
    c.send(b"from the client\n");
    assert_eq!(
        received.next_line(TIMEOUT).as_deref(),
        Some("from the client\n")
    );
    stdin.write_all(b"from the server\n").unwrap();
    // stdin's EOF: close_notify, then FIN; s_client ends on the close_notify.
    drop(stdin);
    assert_eq!(c.line(), "from the server\n");
    assert!(c.proc.wait(TIMEOUT).success());
    let status = l.proc.wait(TIMEOUT);
    assert_eq!(code(status), 0, "stderr: {:#?}", l.stderr.rest(TIMEOUT));
    assert_eq!(received.rest(TIMEOUT), Vec::<String>::new());
    let err = l.stderr.rest(TIMEOUT).concat();
    assert!(err.contains("* TLS: TLSv1."), "{err}");
    assert!(err.contains("closed by peer"), "{err}");
}

#[test]
fn one_client_moves_16_mib_each_way_exactly_with_ncat_ssl() {
    if !need_peers(&["ncat"]) {
        return;
    }
    let certs = Certs::new("ncat");
    let to_client = random_bytes(16 * MIB + 3, 41);
    let to_server = random_bytes(16 * MIB + 5, 42);
    let server_in = TempFile::with("tls-listen-server-in", &to_client);
    let client_in = TempFile::with("tls-listen-client-in", &to_server);
    let mut l = HumanListener::start(&certs.listen_args(&[]), server_in.stdio(), Stdio::piped());
    let server_out = l.proc.stdout_bytes();
    let mut ncat = Proc::spawn(
        Command::new("ncat")
            .args(["--ssl", "127.0.0.1", &l.port.to_string()])
            .stdin(client_in.stdio())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let client_out = ncat.stdout_bytes();
    assert!(ncat.wait(TIMEOUT).success(), "ncat failed");
    let status = l.proc.wait(TIMEOUT);
    assert_eq!(code(status), 0, "stderr: {:#?}", l.stderr.rest(TIMEOUT));
    let (got_server, got_client) = (server_out.join(), client_out.join());
    assert_eq!(hash(&got_server), hash(&to_server), "server received");
    assert_same_bytes("server received", &to_server, &got_server);
    assert_eq!(hash(&got_client), hash(&to_client), "client received");
    assert_same_bytes("client received", &to_client, &got_client);
}

#[test]
fn one_client_moves_16_mib_each_way_exactly_with_netkit_connect_and_alpn() {
    let certs = Certs::new("netkit");
    let to_client = random_bytes(16 * MIB + 7, 43);
    let to_server = random_bytes(17 * MIB + 1, 44);
    let server_in = TempFile::with("tls-listen-nk-server-in", &to_client);
    let client_in = TempFile::with("tls-listen-nk-client-in", &to_server);
    let mut l = HumanListener::start(
        &certs.listen_args(&["-v", "--alpn", "x-other", "--alpn", "x-test"]),
        server_in.stdio(),
        Stdio::piped(),
    );
    let server_out = l.proc.stdout_bytes();
    let (code_c, client_out, err_c) = run(
        &[
            "-v",
            "tcp",
            "connect",
            "--tls",
            "--cacert",
            certs.ca(),
            "--alpn",
            "x-test",
            "localhost",
            &l.port.to_string(),
        ],
        client_in.stdio(),
    );
    assert_eq!(code_c, 0, "connect stderr: {err_c}");
    assert!(err_c.contains(", ALPN x-test"), "{err_c}");
    let status = l.proc.wait(TIMEOUT);
    let err_l = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 0, "listen stderr: {err_l}");
    assert!(err_l.contains("* TLS: TLSv1.3 "), "{err_l}");
    assert!(err_l.contains(", ALPN x-test"), "{err_l}");
    let got_server = server_out.join();
    assert_eq!(hash(&got_server), hash(&to_server), "server received");
    assert_same_bytes("server received", &to_server, &got_server);
    assert_eq!(hash(&client_out), hash(&to_client), "client received");
    assert_same_bytes("client received", &to_client, &client_out);
}

#[test]
fn one_client_speaking_plain_tcp_is_a_tls_error_exit_7() {
    let certs = Certs::new("plain_one");
    let mut l = HumanListener::start(&certs.listen_args(&[]), Stdio::null(), Stdio::piped());
    let out = l.proc.stdout_bytes();
    let mut s = client(l.addr());
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    // The answer is a TLS alert, then the end.
    let answer = read_all(&mut s);
    assert_eq!(answer.first(), Some(&0x15), "not an alert: {answer:?}");
    let status = l.proc.wait(TIMEOUT);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 7, "{err}");
    // After the `client 1 connected` notice, one error line.
    let (_, last) = err.trim_end().split_once('\n').unwrap_or_default();
    assert_one_error_line(&format!("{last}\n"));
    assert!(err.contains("the client does not speak TLS"), "{err}");
    assert!(out.join().is_empty());
}

#[test]
fn one_client_that_never_finishes_its_handshake_is_exit_5_after_handshake_timeout() {
    let certs = Certs::new("stall_one");
    let args = certs.listen_args(&["--handshake-timeout", "300ms"]);
    let mut l = HumanListener::start(&args, Stdio::null(), Stdio::piped());
    let out = l.proc.stdout_bytes();
    // TCP only: the ClientHello never comes.
    let mut silent = client(l.addr());
    let local = silent.local_addr().unwrap();
    let status = l.proc.wait(TIMEOUT);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 5, "{err}");
    // After the `client 1 connected` notice, one error line.
    let (_, last) = err.trim_end().split_once('\n').unwrap_or_default();
    assert_one_error_line(&format!("{last}\n"));
    assert_eq!(
        last,
        format!("netkit: connection from {local}: TLS handshake timed out after 300ms")
    );
    let rest = read_all(&mut silent);
    assert!(rest.is_empty() || rest[0] == 0x15, "not an alert: {rest:?}");
    assert!(out.join().is_empty());
}

#[test]
fn tls_flags_are_checked_before_listening() {
    // A key without its certificate, and a missing file.
    let (code, _, err) = run(&["tcp", "listen", "0", "--tls-key", "k.pem"], Stdio::null());
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(
        &[
            "tcp",
            "listen",
            "0",
            "--tls-cert",
            "/nonexistent/c.pem",
            "--tls-key",
            "/nonexistent/k.pem",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 2, "{err}");
    assert_one_error_line(&err);
    assert!(err.contains("--tls-cert /nonexistent/c.pem"), "{err}");
    let (code, _, err) = run(&["tcp", "listen", "0", "--alpn", "h2"], Stdio::null());
    assert_eq!(code, 2, "{err}");
    // -e pipes plain bytes to its process: no TLS with it.
    for exec in [["-e", "cat"], ["--sh-exec", "cat"]] {
        let mut args = vec![
            "tcp",
            "listen",
            "0",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ];
        args.extend(exec);
        let (code, _, err) = run(&args, Stdio::null());
        assert_eq!(code, 2, "{err}");
        assert_one_error_line(&err);
    }
}

// ---------------------------------------------------------------------------
// Many clients

#[test]
fn keep_open_over_tls_serves_socat_clients_and_sends_stdin_to_all() {
    if !need_peers(&["socat"]) {
        return;
    }
    let certs = Certs::new("keep");
    let mut l = json_listener(&certs, &["-k"], Stdio::piped());
    let mut stdin = l.proc.take_stdin();
    let mut a = Client::socat(l.port);
    wait_tls_session(&mut l, 1);
    let mut b = Client::socat(l.port);
    wait_tls_session(&mut l, 2);
    a.send(b"from a\n");
    assert_eq!(data_of(&mut l, 1, 7), b"from a\n");
    b.send(b"from b\n");
    assert_eq!(data_of(&mut l, 2, 7), b"from b\n");
    stdin.write_all(b"to all\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(a.line(), "to all\n");
    assert_eq!(b.line(), "to all\n");
}

#[test]
fn broker_over_tls_relays_each_client_to_the_others_exactly() {
    if !need_peers(&["socat", "openssl"]) {
        return;
    }
    let certs = Certs::new("broker");
    let mut l = json_listener(&certs, &["--broker"], Stdio::null());
    let mut a = Client::socat(l.port);
    wait_tls_session(&mut l, 1);
    let mut b = Client::s_client(l.port, &[]);
    wait_tls_session(&mut l, 2);
    a.send(b"one two\n");
    assert_eq!(b.line(), "one two\n");
    b.send(b"three\n");
    // a's next line is b's: its own did not come back.
    assert_eq!(a.line(), "three\n");
}

#[test]
fn chat_over_tls_relays_named_lines() {
    if !need_peers(&["socat"]) {
        return;
    }
    let certs = Certs::new("chat");
    let mut l = json_listener(&certs, &["--chat"], Stdio::null());
    let mut a = Client::socat(l.port);
    let welcome = a.line();
    assert!(
        welcome.starts_with("*** ") && welcome.contains("user1"),
        "{welcome:?}"
    );
    let mut b = Client::socat(l.port);
    assert!(b.line().contains("user2"));
    assert_eq!(a.line(), "*** user2 joined\n");
    a.send(b"hello over tls\n");
    assert_eq!(b.line(), "<user1> hello over tls\n");
    b.send(b"hi\r\n");
    assert_eq!(a.line(), "<user2> hi\n");
    wait_tls_session(&mut l, 1);
    wait_tls_session(&mut l, 2);
}

#[test]
fn echo_over_tls_returns_a_mebibyte_exactly_and_reports_alpn() {
    if !need_peers(&["socat", "openssl"]) {
        return;
    }
    let certs = Certs::new("echo");
    let mut l = json_listener(&certs, &["--echo", "--alpn", "x-echo"], Stdio::null());
    // openssl s_client, a line and its ALPN.
    let mut c = Client::s_client(l.port, &["-alpn", "x-echo"]);
    let ev = wait_tls_session(&mut l, 1);
    assert_eq!(ev["alpn"], "x-echo", "{ev}");
    c.send(b"echo me\n");
    assert_eq!(c.line(), "echo me\n");
    drop(c);

    // socat, 1 MiB of random bytes and its half-close: all of it comes
    // back, then the server's end.
    let data = random_bytes(MIB + 11, 45);
    let input = TempFile::with("tls-echo-in", &data);
    let mut socat = Proc::spawn(
        Command::new("socat")
            .args(["-t", "30", "-"])
            .arg(format!("OPENSSL:127.0.0.1:{},verify=0", l.port))
            .stdin(input.stdio())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let out = socat.stdout_bytes();
    assert!(socat.wait(TIMEOUT).success());
    assert_same_bytes("echoed", &data, &out.join());
    let closed = l.events.wait("closed", |v| v["id"] == 2);
    assert_eq!(closed["by"], "peer", "{closed}");
    assert_eq!(closed["received"], data.len() as u64, "{closed}");
}

#[test]
fn a_plain_tcp_client_is_reported_and_the_keep_open_server_serves_on() {
    if !need_peers(&["socat"]) {
        return;
    }
    let certs = Certs::new("plain_keep");
    let mut l = json_listener(&certs, &["-k"], Stdio::null());
    let mut s = client(l.addr());
    s.write_all(b"hello in the clear\n").unwrap();
    let answer = read_all(&mut s);
    assert_eq!(answer.first(), Some(&0x15), "not an alert: {answer:?}");
    let closed = l.events.wait("closed", |v| v["id"] == 1);
    assert_eq!(closed["by"], "error", "{closed}");
    let reason = closed["reason"].as_str().unwrap_or("");
    assert!(reason.contains("the client does not speak TLS"), "{closed}");
    // The server is still there, for TLS clients.
    let mut c = Client::socat(l.port);
    wait_tls_session(&mut l, 2);
    c.send(b"still served\n");
    assert_eq!(data_of(&mut l, 2, 13), b"still served\n");
    assert!(l.proc.running(), "the server ended");
    // No data event ever came from the plain client.
    assert!(
        !l.events
            .seen
            .iter()
            .any(|v| v["event"] == "data" && v["id"] == 1),
        "{}",
        l.events.dump()
    );
}

#[test]
fn a_client_that_never_finishes_its_handshake_is_closed_after_handshake_timeout() {
    if !need_peers(&["socat"]) {
        return;
    }
    let certs = Certs::new("stall");
    let mut l = json_listener(
        &certs,
        &["-k", "--handshake-timeout", "300ms"],
        Stdio::null(),
    );
    // TCP only: the ClientHello never comes.
    let mut silent = client(l.addr());
    let local = silent.local_addr().unwrap().to_string();
    let connected = l.events.wait("connected", |v| v["remote"] == local);
    let id = connected["id"].as_u64().unwrap();
    let closed = l.events.wait("closed", |v| v["id"] == id);
    assert_eq!(closed["by"], "idle", "{closed}");
    assert_eq!(
        closed["reason"], "TLS handshake timed out after 300ms",
        "{closed}"
    );
    assert!(closed["duration"].as_f64().unwrap() >= 0.3, "{closed}");
    // The server hung up (a TLS alert at most, never plaintext).
    let rest = read_all(&mut silent);
    assert!(rest.is_empty() || rest[0] == 0x15, "{rest:?}");
    // Its slot is free and the server serves on.
    let mut c = Client::socat(l.port);
    wait_tls_session(&mut l, id + 1);
    c.send(b"after the stall\n");
    assert_eq!(data_of(&mut l, id + 1, 16), b"after the stall\n");
}

#[test]
fn a_client_that_does_not_trust_the_certificate_is_named_so() {
    let certs = Certs::new("distrust");
    let mut l = HumanListener::start(&certs.listen_args(&[]), Stdio::null(), Stdio::null());
    // No --cacert: the test CA is unknown to the client.
    let (code_c, _, err_c) = run(
        &["tcp", "connect", "--tls", "localhost", &l.port.to_string()],
        Stdio::null(),
    );
    assert_eq!(code_c, 7, "{err_c}");
    let status = l.proc.wait(TIMEOUT);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 7, "{err}");
    assert!(
        err.contains("handshake failed: the client does not trust the certificate"),
        "{err}"
    );
}

#[test]
fn one_client_reset_mid_transfer_is_exit_4_naming_the_undelivered_bytes() {
    if !need_peers(&["openssl"]) {
        return;
    }
    let certs = Certs::new("reset");
    let data = random_bytes(64 * MIB, 46);
    let input = TempFile::with("tls-reset-in", &data);
    let mut l = HumanListener::start(&certs.listen_args(&["-v"]), input.stdio(), Stdio::null());
    // s_client never has its stdout read: the transfer stalls, then it dies.
    let c = Proc::spawn(
        Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(format!("127.0.0.1:{}", l.port))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    l.stderr.wait_for(TIMEOUT, "the TLS session", |line| {
        line.starts_with("* TLS: ")
    });
    c.signal("KILL");
    let status = l.proc.wait(TIMEOUT);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 4, "{err}");
    assert!(err.contains("connection reset by peer; "), "{err}");
    assert!(err.contains(" bytes of stdin not delivered"), "{err}");
}
