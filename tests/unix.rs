//! `netkit unix connect | listen` against peers netkit did not write:
//! OpenBSD `nc -U` / `nc -lU` and `socat UNIX-* / ABSTRACT-*`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh socket path under the target's scratch directory (removed on drop).
struct SockPath(PathBuf);

impl SockPath {
    fn new(name: &str) -> SockPath {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(dir).unwrap();
        let p = dir.join(format!("nk-{}-{n}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        SockPath(p)
    }

    fn s(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for SockPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Waits until something listens on the Unix socket `name` (a path, or
/// `@name`), looking at /proc/net/unix so that no connection is used up.
fn wait_listening(name: &str) {
    let want = name.to_string();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let table = std::fs::read_to_string("/proc/net/unix").unwrap();
        let found = table.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Flags 00010000: accepting connections.
            f.len() >= 8 && f[3] == "00010000" && f[7] == want
        });
        if found {
            return;
        }
        assert!(Instant::now() < deadline, "nothing listens on {name}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn unix_connect_sends_megabytes_exactly_to_nc_lu() {
    if !require_peer("nc") {
        return;
    }
    let sock = SockPath::new("nc");
    let mut nc = Proc::spawn(
        Command::new("nc")
            .args(["-lU", sock.s()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let received = nc.stdout_bytes();
    wait_listening(sock.s());
    let data = random_bytes(4 * MIB, 41);
    let input = TempFile::with("in", &data);
    let (code, out, err) = run(&["unix", "connect", sock.s()], input.stdio());
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.is_empty());
    assert_no_error(&err);
    nc.wait(TIMEOUT);
    assert_same_bytes("nc -lU received", &data, &received.join());
}

#[test]
fn unix_connect_echoes_megabytes_exactly_through_socat() {
    if !require_peer("socat") {
        return;
    }
    let sock = SockPath::new("socat");
    let _socat = Proc::spawn(
        Command::new("socat")
            .args([&format!("UNIX-LISTEN:{}", sock.s()), "SYSTEM:cat"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_listening(sock.s());
    let data = random_bytes(8 * MIB + 3, 42);
    let input = TempFile::with("in", &data);
    let (code, out, err) = run(&["unix", "connect", sock.s()], input.stdio());
    assert_eq!(code, 0, "stderr: {err}");
    assert_same_bytes("echoed by socat", &data, &out);
}

#[test]
fn unix_listen_takes_one_client_both_ways_exactly_and_removes_its_file() {
    if !require_peer("socat") {
        return;
    }
    let sock = SockPath::new("listen");
    let to_client = random_bytes(2 * MIB, 43);
    let to_netkit = random_bytes(3 * MIB + 1, 44);
    let input = TempFile::with("to-client", &to_client);
    let mut cmd = netkit();
    cmd.args(["unix", "listen", sock.s()])
        .stdin(input.stdio())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut nk = Proc::spawn(&mut cmd);
    let nk_out = nk.stdout_bytes();
    let nk_err = nk.stderr_bytes();
    wait_listening(sock.s());
    let peer_in = TempFile::with("to-netkit", &to_netkit);
    let peer = Command::new("socat")
        .args(["-", &format!("UNIX-CONNECT:{}", sock.s())])
        .stdin(peer_in.stdio())
        .output()
        .unwrap();
    assert!(peer.status.success(), "{peer:?}");
    assert_eq!(code(nk.wait(TIMEOUT)), 0, "stderr: {}", nk_err.text());
    assert_same_bytes("netkit received", &to_netkit, &nk_out.join());
    assert_same_bytes("socat received", &to_client, &peer.stdout);
    assert!(!sock.0.exists(), "the socket file is left behind");
}

#[test]
fn unix_listen_replaces_a_stale_socket_and_refuses_a_live_one() {
    if !require_peer("nc") {
        return;
    }
    let sock = SockPath::new("stale");
    // A listener that is gone leaves its file behind.
    drop(std::os::unix::net::UnixListener::bind(&sock.0).unwrap());
    assert!(sock.0.exists());
    let mut cmd = netkit();
    cmd.args(["unix", "listen", sock.s()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut nk = Proc::spawn(&mut cmd);
    let nk_out = nk.stdout_bytes();
    wait_listening(sock.s());

    // Now it is live: a second listener is refused.
    let (code2, _, err) = run(&["unix", "listen", sock.s()], Stdio::null());
    assert_eq!(code2, 1, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("address in use"), "{err}");

    let out = Command::new("nc")
        .args(["-U", "-N", sock.s()])
        .stdin(TempFile::with("hi", b"hello\n").stdio())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(code(nk.wait(TIMEOUT)), 0);
    assert_eq!(nk_out.join(), b"hello\n");
}

#[test]
fn unix_abstract_names_work_with_socat() {
    if !require_peer("socat") {
        return;
    }
    let name = format!("netkit-test-{}", std::process::id());
    let mut cmd = netkit();
    cmd.args(["unix", "listen", &format!("@{name}")])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut nk = Proc::spawn(&mut cmd);
    let nk_out = nk.stdout_bytes();
    wait_listening(&format!("@{name}"));
    let out = Command::new("socat")
        .args(["-", &format!("ABSTRACT-CONNECT:{name}")])
        .stdin(TempFile::with("abs", b"abstract\n").stdio())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(code(nk.wait(TIMEOUT)), 0);
    assert_eq!(nk_out.join(), b"abstract\n");
}

#[test]
fn unix_connect_to_nothing_exits_4_with_one_line() {
    let sock = SockPath::new("nothing");
    let (code, _, err) = run(&["unix", "connect", sock.s()], Stdio::null());
    assert_eq!(code, 4, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains(sock.s()), "{err}");
    // A stale file: refused.
    drop(std::os::unix::net::UnixListener::bind(&sock.0).unwrap());
    let (code, _, err) = run(&["unix", "connect", sock.s()], Stdio::null());
    assert_eq!(code, 4, "stderr: {err}");
    assert_one_error_line(&err);
}

// ---------------------------------------------------------------------------
// --unix-socket for http, poll and ws connect

/// nginx (foreground, one process) listening on a Unix socket and answering
/// every request with its Host and URI. `None` when nginx is missing.
fn nginx_on_unix(sock: &SockPath) -> Option<(Proc, PathBuf)> {
    nginx_on_unix_tls(sock, None)
}

/// As [`nginx_on_unix`], TLS with `(cert, key)` when given.
fn nginx_on_unix_tls(sock: &SockPath, tls: Option<(&str, &str)>) -> Option<(Proc, PathBuf)> {
    let bin = ["nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx"]
        .into_iter()
        .find(|b| have(b) || Path::new(b).exists());
    let Some(bin) = bin else {
        require_peer("nginx");
        return None;
    };
    let dir = sock.0.with_extension("nginx");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    let (ssl, certs) = match tls {
        Some((cert, key)) => (
            " ssl",
            format!("  ssl_certificate {cert};\n  ssl_certificate_key {key};\n"),
        ),
        None => ("", String::new()),
    };
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log;\nevents {{}}\nhttp {{\n access_log off;\n\
         client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;\n\
         uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n\
         server {{\n  listen unix:{}{ssl};\n{certs}  location / {{ return 200 \"host=$host uri=$request_uri\\n\"; }}\n }}\n}}\n",
        sock.s()
    );
    let conf_path = dir.join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let proc = Proc::spawn(
        Command::new(bin)
            .args(["-p", &d.to_string(), "-c", conf_path.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_listening(sock.s());
    Some((proc, dir))
}

#[test]
fn http_and_poll_over_a_unix_socket_to_nginx() {
    let sock = SockPath::new("nginx");
    let Some((_nginx, dir)) = nginx_on_unix(&sock) else {
        return;
    };
    let (code, out, err) = run(
        &[
            "http",
            "--unix-socket",
            sock.s(),
            "http://example.test/a?b=1",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, b"host=example.test uri=/a?b=1\n");
    let (code, out, err) = run(
        &[
            "--json",
            "poll",
            "-c",
            "2",
            "-n",
            "50ms",
            "--unix-socket",
            sock.s(),
            "http://x/p",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    let text = String::from_utf8_lossy(&out);
    let results: Vec<_> = text
        .lines()
        .map(parse_event)
        .filter(|v| v["event"] == "poll_result")
        .collect();
    assert_eq!(results.len(), 2, "{text}");
    assert!(results.iter().all(|r| r["status"] == 200), "{text}");
    // Nothing listening: exit 4, one line.
    let missing = SockPath::new("missing");
    let (code, _, err) = run(
        &["http", "--unix-socket", missing.s(), "http://x/"],
        Stdio::null(),
    );
    assert_eq!(code, 4, "stderr: {err}");
    assert_one_error_line(&err);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ws_connect_over_a_unix_socket_to_python_websockets() {
    if !require_peer("python3") {
        return;
    }
    let sock = SockPath::new("ws");
    let script = "import asyncio, sys, websockets\n\
        async def echo(ws):\n    async for m in ws:\n        await ws.send(m)\n\
        async def main():\n    async with websockets.unix_serve(echo, sys.argv[1]):\n        \
        print('ready', flush=True)\n        await asyncio.Future()\n\
        asyncio.run(main())\n";
    let mut py = Proc::spawn(
        Command::new("python3")
            .args(["-c", script, sock.s()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut lines = py.stdout_lines();
    if lines.next_line(TIMEOUT).as_deref().map(str::trim_end) != Some("ready") {
        let err = py.stderr_bytes();
        py.wait_or_kill(Duration::from_secs(5));
        let err = err.text();
        assert!(!in_ci(), "python3 websockets did not start: {err}");
        eprintln!("skipping: python3 websockets did not start: {err}");
        return;
    }
    let (code, out, err) = run_with_input(
        &[
            "ws",
            "connect",
            "--unix-socket",
            sock.s(),
            "ws://localhost/chat",
        ],
        b"over a unix socket\n",
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, b"over a unix socket\n");
}

#[test]
fn https_over_a_unix_socket_to_nginx_verifies_the_url_host() {
    if !require_peer("openssl") {
        return;
    }
    let sock = SockPath::new("nginx-tls");
    let cert = sock.0.with_extension("crt");
    let key = sock.0.with_extension("key");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "5",
        ])
        .args([
            "-subj",
            "/CN=app.test",
            "-addext",
            "subjectAltName=DNS:app.test",
        ])
        .args([
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            cert.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let Some((_nginx, dir)) = nginx_on_unix_tls(&sock, Some((c, k))) else {
        return;
    };
    let (code, out, err) = run(
        &[
            "http",
            "--unix-socket",
            sock.s(),
            "--cacert",
            c,
            "https://app.test/x",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(out, b"host=app.test uri=/x\n");
    // The certificate is checked against the URL's host.
    let (code, _, err) = run(
        &[
            "http",
            "--unix-socket",
            sock.s(),
            "--cacert",
            c,
            "https://other.test/x",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 7, "stderr: {err}");
    assert_one_error_line(&err);
    for f in [cert, key] {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_dir_all(dir);
}

// ---------------------------------------------------------------------------
// unix listen -k / --broker / --chat / --echo, with nc -U and socat clients

/// An interactive client on the socket: `nc -U` or `socat - UNIX-CONNECT:`.
struct UnixClient {
    /// Killed on drop.
    _proc: Proc,
    stdin: Option<std::process::ChildStdin>,
    lines: Lines,
}

impl UnixClient {
    fn start(tool: &str, sock: &SockPath) -> UnixClient {
        let mut cmd = Command::new(tool);
        match tool {
            "nc" => cmd.args(["-U", sock.s()]),
            _ => cmd.args(["-t", "30", "-", &format!("UNIX-CONNECT:{}", sock.s())]),
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut proc = Proc::spawn(&mut cmd);
        let stdin = Some(proc.take_stdin());
        let lines = proc.stdout_lines();
        UnixClient {
            _proc: proc,
            stdin,
            lines,
        }
    }

    fn say(&mut self, text: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn line(&mut self) -> String {
        self.lines
            .next_line(TIMEOUT)
            .unwrap_or_else(|| panic!("EOF; lines so far: {:#?}", self.lines.seen))
    }
}

/// `netkit --json unix listen PATH ARGS...` with its stdin piped, once it
/// listens.
fn unix_server(sock: &SockPath, args: &[&str]) -> (Proc, Events) {
    let mut cmd = netkit();
    cmd.args(["--json", "unix", "listen", sock.s()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut nk = Proc::spawn(&mut cmd);
    let mut events = Events::new(nk.stdout_lines());
    let first = events.next(TIMEOUT).expect("a listening event");
    assert_eq!(first["event"], "listening", "{first}");
    assert_eq!(first["addr"], sock.s(), "{first}");
    assert_eq!(first["path"], sock.s(), "{first}");
    assert!(first.get("port").is_none(), "{first}");
    wait_listening(sock.s());
    (nk, events)
}

/// Ends a server with SIGINT: exit 130 and the socket file is gone.
fn interrupt(mut nk: Proc, sock: &SockPath) {
    nk.signal("INT");
    assert_eq!(code(nk.wait(TIMEOUT)), 130);
    assert!(!sock.0.exists(), "the socket file is left behind");
}

#[test]
fn unix_listen_keep_open_serves_nc_and_socat_with_the_path_in_json() {
    if !require_peer("socat") || !require_peer("nc") {
        return;
    }
    let sock = SockPath::new("keep");
    let (mut nk, mut events) = unix_server(&sock, &["-k"]);
    let mut a = UnixClient::start("nc", &sock);
    let c1 = events.wait("connected", |_| true);
    assert_eq!(c1["remote"], sock.s(), "{c1}");
    assert_eq!(c1["local"], sock.s(), "{c1}");
    assert_eq!(c1["clients"], 1, "{c1}");
    let mut b = UnixClient::start("socat", &sock);
    let c2 = events.wait("connected", |_| true);
    assert_eq!(c2["clients"], 2, "{c2}");

    a.say("from nc\n");
    let d = events.wait("data", |v| v["id"] == c1["id"]);
    assert_eq!(payload(&d), b"from nc\n");
    assert_eq!(d["peer"], sock.s(), "{d}");
    b.say("from socat \u{e9}\n");
    let d = events.wait("data", |v| v["id"] == c2["id"]);
    assert_eq!(payload(&d), "from socat \u{e9}\n".as_bytes());

    // stdin goes to both.
    {
        use std::io::Write;
        let mut stdin = nk.take_stdin();
        stdin.write_all(b"to everyone\n").unwrap();
        stdin.flush().unwrap();
        assert_eq!(a.line(), "to everyone\n");
        assert_eq!(b.line(), "to everyone\n");
        drop(a);
        let closed = events.wait("closed", |v| v["id"] == c1["id"]);
        assert_eq!(closed["remote"], sock.s(), "{closed}");
        assert_eq!(closed["received"], 8, "{closed}");
        assert_eq!(closed["sent"], 12, "{closed}");
        interrupt(nk, &sock);
    }
}

#[test]
fn unix_listen_broker_relays_between_nc_and_socat_not_back() {
    if !require_peer("socat") || !require_peer("nc") {
        return;
    }
    let sock = SockPath::new("broker");
    let (nk, mut events) = unix_server(&sock, &["--broker"]);
    let mut a = UnixClient::start("nc", &sock);
    events.wait("connected", |_| true);
    let mut b = UnixClient::start("socat", &sock);
    events.wait("connected", |_| true);
    a.say("one\n");
    assert_eq!(b.line(), "one\n");
    b.say("two\n");
    // a's next line is b's: its own did not come back.
    assert_eq!(a.line(), "two\n");
    interrupt(nk, &sock);
}

#[test]
fn unix_listen_chat_names_nc_and_socat_with_join_and_leave_lines() {
    if !require_peer("socat") || !require_peer("nc") {
        return;
    }
    let sock = SockPath::new("chat");
    let (nk, mut events) = unix_server(&sock, &["--chat"]);
    let mut a = UnixClient::start("socat", &sock);
    assert_eq!(
        a.line(),
        "*** welcome, you are user1; nobody else is here yet\n"
    );
    let mut b = UnixClient::start("nc", &sock);
    assert_eq!(b.line(), "*** welcome, you are user2; here: user1\n");
    assert_eq!(a.line(), "*** user2 joined\n");
    let joined = events.wait("join", |v| v["name"] == "user2");
    assert_eq!(joined["remote"], sock.s(), "{joined}");

    a.say("hello room\n");
    assert_eq!(b.line(), "<user1> hello room\n");
    b.say("hi user1\r\n");
    assert_eq!(a.line(), "<user2> hi user1\n");
    let chat = events.wait("chat", |v| v["from"] == "user2");
    assert_eq!(chat["text"], "hi user1", "{chat}");

    drop(b);
    assert_eq!(a.line(), "*** user2 left\n");
    events.wait("leave", |v| v["name"] == "user2");
    interrupt(nk, &sock);
}

#[test]
fn unix_listen_echo_returns_a_mebibyte_to_socat_exactly() {
    if !require_peer("socat") {
        return;
    }
    let sock = SockPath::new("echo");
    let (nk, _events) = unix_server(&sock, &["--echo"]);
    let data = random_bytes(MIB + 7, 91);
    let input = TempFile::with("echo-in", &data);
    let out = Command::new("socat")
        .args(["-t", "30", "-", &format!("UNIX-CONNECT:{}", sock.s())])
        .stdin(input.stdio())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_same_bytes("echoed to socat", &data, &out.stdout);
    interrupt(nk, &sock);
}

#[test]
fn unix_listen_max_clients_rejects_the_extra_client() {
    if !require_peer("socat") || !require_peer("nc") {
        return;
    }
    let sock = SockPath::new("full");
    let (nk, mut events) = unix_server(&sock, &["-k", "--max-clients", "1"]);
    let _a = UnixClient::start("socat", &sock);
    events.wait("connected", |_| true);
    // nc ends as soon as the server hangs up.
    let mut b = UnixClient::start("nc", &sock);
    let rejected = events.wait("rejected", |_| true);
    assert_eq!(rejected["remote"], sock.s(), "{rejected}");
    assert_eq!(rejected["reason"], "server full (--max-clients 1)");
    assert_eq!(
        b.lines.next_line(TIMEOUT),
        None,
        "the extra client is closed"
    );
    interrupt(nk, &sock);
}

#[test]
fn unix_listen_keep_open_replaces_a_stale_file_and_refuses_a_live_one() {
    if !require_peer("socat") {
        return;
    }
    let sock = SockPath::new("stale-k");
    // A stale file: bound, then its listener gone.
    drop(std::os::unix::net::UnixListener::bind(&sock.0).unwrap());
    assert!(sock.0.exists());
    let (nk, _events) = unix_server(&sock, &["--echo"]);
    let (c, _, err) = run(&["unix", "listen", "-k", sock.s()], Stdio::null());
    assert_eq!(c, 1, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("address in use"), "{err}");
    let mut a = UnixClient::start("socat", &sock);
    a.say("still here\n");
    assert_eq!(a.line(), "still here\n");
    interrupt(nk, &sock);
}

#[test]
fn unix_listen_echo_on_an_abstract_name_names_it_in_events() {
    if !require_peer("socat") {
        return;
    }
    let name = format!("@netkit-test-echo-{}", std::process::id());
    let mut cmd = netkit();
    cmd.args(["--json", "unix", "listen", "--echo", &name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut nk = Proc::spawn(&mut cmd);
    let mut events = Events::new(nk.stdout_lines());
    let first = events.next(TIMEOUT).unwrap();
    assert_eq!(first["path"], name.as_str(), "{first}");
    let out = Command::new("socat")
        .args(["-t", "30", "-", &format!("ABSTRACT-CONNECT:{}", &name[1..])])
        .stdin(TempFile::with("abstract-in", b"abstract\n").stdio())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"abstract\n");
    let connected = events.wait("connected", |_| true);
    assert_eq!(connected["remote"], name.as_str(), "{connected}");
    let closed = events.wait("closed", |_| true);
    assert_eq!(closed["remote"], name.as_str(), "{closed}");
    assert_eq!(closed["sent"], 9, "{closed}");
    nk.signal("INT");
    assert_eq!(code(nk.wait(TIMEOUT)), 130);
}

/// `netkit --json SUBCOMMAND listen --unix SOCK ARGS`, once it listens.
fn unix_listener(sock: &SockPath, family: &str, args: &[&str]) -> (Proc, Events) {
    let mut cmd = netkit();
    cmd.args(["--json", family, "listen", "--unix", sock.s()])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut nk = Proc::spawn(&mut cmd);
    let mut events = Events::new(nk.stdout_lines());
    let first = events.next(TIMEOUT).expect("a listening event");
    assert_eq!(first["event"], "listening", "{first}");
    assert_eq!(first["path"], sock.s(), "{first}");
    wait_listening(sock.s());
    (nk, events)
}

#[test]
fn http_listen_on_a_unix_socket_answers_curl_and_removes_its_file() {
    if !require_peer("curl") {
        return;
    }
    let sock = SockPath::new("httpd");
    let (mut nk, _events) = unix_listener(&sock, "http", &["--body", "hello unix\n", "-c", "1"]);
    let out = Command::new("curl")
        .args(["-sS", "--unix-socket", sock.s(), "http://localhost/x"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello unix\n");
    assert_eq!(code(nk.wait(TIMEOUT)), 0);
    assert!(!sock.0.exists(), "the socket file is left behind");
}

#[test]
fn ws_listen_on_a_unix_socket_echoes_to_python_websockets() {
    if !require_peer("python3") {
        return;
    }
    let sock = SockPath::new("wsd");
    let (nk, _events) = unix_listener(&sock, "ws", &["--echo"]);
    let script = "import sys\n\
        from websockets.sync.client import unix_connect\n\
        with unix_connect(sys.argv[1], 'ws://localhost/') as ws:\n    \
        ws.send('over unix')\n    print(ws.recv())\n";
    let out = Command::new("python3")
        .args(["-c", script, sock.s()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !in_ci() && err.contains("ModuleNotFoundError") {
        eprintln!("skipping: python3 websockets is missing");
        interrupt(nk, &sock);
        return;
    }
    assert!(out.status.success(), "{err}");
    assert_eq!(out.stdout, b"over unix\n");
    interrupt(nk, &sock);
}

#[test]
fn listen_flags_name_one_place_to_listen() {
    for family in ["http", "ws"] {
        // --unix with a port or --bind, and neither.
        for args in [
            vec![family, "listen", "--unix", "/tmp/x.sock", "8080"],
            vec![
                family,
                "listen",
                "--unix",
                "/tmp/x.sock",
                "--bind",
                "127.0.0.1",
            ],
            vec![family, "listen"],
        ] {
            let (code, _, err) = run(&args, Stdio::null());
            assert_eq!(code, 2, "{args:?}: {err}");
        }
    }
}
