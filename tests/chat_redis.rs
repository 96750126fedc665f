//! `netkit ws listen --chat --redis URL`: several servers, one room in a
//! Redis Stream. Peer: Debian's `redis-server`, started here on a free
//! loopback port with a temporary directory (skipped when missing, a
//! failure under CI=true). Clients: `netkit ws connect`, `netkit poll
//! [--long]`, raw HTTP over std sockets.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::chat::*;
use common::*;

/// A `redis-server` on 127.0.0.1:port, data in `dir`.
struct Redis {
    proc: Proc,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    /// A fresh server on a free port; `durable`: every write is on disk
    /// (appendfsync always) before it is acknowledged.
    fn start(durable: bool) -> Redis {
        let dir = std::env::temp_dir().join(format!(
            "netkit-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // A port freed just now may be taken again before redis binds it:
        // then try another.
        for _ in 0..5 {
            let port = free_port();
            if let Some(proc) = Redis::start_on(port, &dir, durable) {
                return Redis { proc, port, dir };
            }
        }
        panic!("redis-server would not start");
    }

    /// Starts on `port` (`None` if it exits before answering PING).
    fn start_on(port: u16, dir: &std::path::Path, durable: bool) -> Option<Proc> {
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--dir", dir.to_str().unwrap()]);
        if durable {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut proc = Proc::spawn(&mut cmd);
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if !proc.running() {
                return None;
            }
            if redis_cmd(port, "PING").as_deref() == Some("+PONG\r\n") {
                return Some(proc);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {port} does not answer PING");
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: a crash, nothing saved at exit).
    fn crash(&mut self) {
        self.proc.signal("KILL");
        let _ = self.proc.wait(TIMEOUT);
    }

    /// Starts again on the same port with the same data.
    fn restart(&mut self, durable: bool) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(proc) = Redis::start_on(self.port, &self.dir, durable) {
                self.proc = proc;
                return;
            }
            assert!(Instant::now() < deadline, "redis-server would not restart");
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.proc.child.kill();
        let _ = self.proc.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One inline command, its first reply line (`None`: no connection).
fn redis_cmd(port: u16, cmd: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("{cmd}\r\n").as_bytes()).ok()?;
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

impl ChatServer {
    fn on_redis(redis: &Redis, room: &str) -> ChatServer {
        ChatServer::start_bound(&["--redis", &redis.url(), "--room", room])
    }

    /// Listening at once; taking messages once connected to Redis (see
    /// `post_ok`), up to date once it read the stream that far (see
    /// `wait_until_read`).
    fn start_bound(args: &[&str]) -> ChatServer {
        ChatServer::start(&[&["--bind", "127.0.0.1"], args].concat())
    }

    /// Without --json: listening, then connected to Redis (its notice),
    /// before anything is said in the room.
    fn start_connected(redis: &Redis, room: &str) -> (Proc, u16, Lines, Collector) {
        let mut cmd = netkit();
        cmd.args(["ws", "listen", "--chat", "--bind", "127.0.0.1"])
            .args(["--redis", &redis.url(), "--room", room, "0"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd);
        let out = proc.stdout_bytes();
        let mut err = proc.stderr_lines();
        let port = listening_port(&err.next_line(TIMEOUT).expect("listening"));
        let connected = format!("* redis {}: connected\n", redis.url());
        err.wait_for(TIMEOUT, "connected", |l| l == connected);
        (proc, port, err, out)
    }
}

/// POSTs until the server takes it (a server still connecting to Redis
/// answers 503): the ID it was given.
fn post_ok(port: u16, name: &str, text: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let answer = post(port, name, text);
        if answer.starts_with("HTTP/1.1 200 ") {
            return etag(&answer);
        }
        assert!(
            answer.starts_with("HTTP/1.1 503 ") && Instant::now() < deadline,
            "{answer}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn etag(answer: &str) -> String {
    answer
        .lines()
        .find_map(|l| l.strip_prefix("ETag: "))
        .unwrap_or_else(|| panic!("no ETag in {answer}"))
        .trim_matches('"')
        .to_string()
}

/// GETs `/messages?since=0` until its ETag is `id` (the server has read
/// that far in the stream): the answer.
fn wait_until_read(port: u16, id: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let answer = get(port, "/messages?since=0", "");
        if answer.contains(&format!("ETag: \"{id}\"\r\n")) {
            return answer;
        }
        assert!(Instant::now() < deadline, "never read {id}: {answer}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn poller(args: &[&str]) -> (Proc, Lines, Collector) {
    let mut cmd = netkit();
    cmd.arg("poll")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut p = Proc::spawn(&mut cmd);
    let out = p.stdout_lines();
    let err = p.stderr_bytes();
    (p, out, err)
}

#[test]
fn three_servers_on_one_redis_deliver_every_message_once_in_one_order() {
    if !require_peer("redis-server") {
        return;
    }
    let redis = Redis::start(false);
    let s: Vec<ChatServer> = (0..3)
        .map(|_| ChatServer::on_redis(&redis, "three"))
        .collect();
    // Each server takes messages (its commands connection is up) and has
    // read the room so far (its reads connection too).
    let mut expected = Vec::new();
    let mut last = String::new();
    for (i, srv) in s.iter().enumerate() {
        last = post_ok(srv.port, "boot", &format!("hello from {i}"));
        expected.push(format!("<boot> hello from {i}\n"));
    }
    for srv in &s {
        wait_until_read(srv.port, &last);
    }
    // A WebSocket client on the 1st, a long poller on the 2nd, a poller on
    // the 3rd, each from the cursor `last`; a WebSocket speaker on the 2nd.
    let (mut ear, _ear_in, mut heard) = ws_client(s[0].port, "ear");
    let (mut mouth, mut say, _mouth_out) = ws_client(s[1].port, "mouth");
    // (The pollers start with the whole history: the `boot` lines.)
    let (mut long, mut long_out, _long_err) = poller(&["--long", &s[1].url("/messages")]);
    let (mut poll, mut poll_out, _poll_err) =
        poller(&["-n", "20ms", "--changes", &s[2].url("/messages")]);
    for out in [&mut long_out, &mut poll_out] {
        assert_eq!(chat_lines(out, 3, "poller"), expected);
    }

    // In turn (each heard before the next): the order is the sending order.
    let mut said = Vec::new();
    for i in 1..=6 {
        let line = match i % 3 {
            0 => {
                say.write_all(format!("ws says {i}\n").as_bytes()).unwrap();
                format!("<mouth> ws says {i}\n")
            }
            1 => {
                post_ok(s[0].port, "bot", &format!("http says {i}"));
                format!("<bot> http says {i}\n")
            }
            _ => {
                post_ok(s[2].port, "bot", &format!("http says {i}"));
                format!("<bot> http says {i}\n")
            }
        };
        assert_eq!(chat_lines(&mut heard, 1, "ear")[0], line);
        said.push(line);
    }
    // Then a burst from every server at once: one order, whatever it is.
    let mut burst = Vec::new();
    for i in 0..30 {
        let line = if i % 4 == 3 {
            say.write_all(format!("burst {i}\n").as_bytes()).unwrap();
            format!("<mouth> burst {i}\n")
        } else {
            post_ok(s[i % 3].port, "bot", &format!("burst {i}"));
            format!("<bot> burst {i}\n")
        };
        burst.push(line);
    }
    let n = said.len() + burst.len();
    let from_ws: Vec<String> = said
        .iter()
        .cloned()
        .chain(chat_lines(&mut heard, burst.len(), "ear"))
        .collect();
    let from_long = chat_lines(&mut long_out, n, "long poll");
    let from_poll = chat_lines(&mut poll_out, n, "poll");
    assert_eq!(from_long, from_ws, "long polling on the 2nd server");
    assert_eq!(from_poll, from_ws, "polling on the 3rd server");
    let mut sorted = from_ws[said.len()..].to_vec();
    sorted.sort();
    let mut want = burst.clone();
    want.sort();
    assert_eq!(sorted, want, "every burst message, once");
    // The same log on every server, the same cursor.
    let answers: Vec<String> = s
        .iter()
        .map(|srv| get(srv.port, "/messages?since=0", ""))
        .collect();
    let all: String = expected.iter().chain(&from_ws).cloned().collect();
    for a in &answers {
        assert_eq!(body(a), all);
        assert_eq!(etag(a), etag(&answers[0]));
    }
    // Nothing more comes (no duplicate) while the clients go on.
    for p in [&mut long, &mut poll, &mut ear, &mut mouth] {
        p.signal("INT");
        let _ = p.wait_or_kill(TIMEOUT);
    }
    long_out.rest(TIMEOUT);
    poll_out.rest(TIMEOUT);
    heard.rest(TIMEOUT);
    let each_once: String = from_ws.concat();
    assert_eq!(long_out.all(), all, "long: each once");
    assert_eq!(poll_out.all(), all, "poll: each once");
    let ws_lines: String = heard
        .seen
        .iter()
        .filter(|l| l.starts_with('<'))
        .cloned()
        .collect();
    assert_eq!(ws_lines, each_once, "ws: each once");
}

#[test]
fn a_client_moving_to_another_server_with_its_cursor_misses_nothing() {
    if !require_peer("redis-server") {
        return;
    }
    let redis = Redis::start(false);
    let a = ChatServer::on_redis(&redis, "move");
    let b = ChatServer::on_redis(&redis, "move");
    let first = post_ok(a.port, "ann", "one");
    post_ok(b.port, "bob", "two");
    let cursor = etag(&wait_until_read(a.port, &post_ok(a.port, "ann", "three")));
    // The client polled `a` up to `cursor`; meanwhile more is said.
    post_ok(b.port, "bob", "four");
    let last = post_ok(a.port, "ann", "five");
    wait_until_read(a.port, &last);
    wait_until_read(b.port, &last);
    // It comes back on `b` with its cursor (If-None-Match, or since=):
    // exactly what it missed, and the same answer `a` gives.
    let on_b = get(
        b.port,
        "/messages",
        &format!("If-None-Match: \"{cursor}\"\r\n"),
    );
    assert!(on_b.starts_with("HTTP/1.1 200 OK\r\n"), "{on_b}");
    assert_eq!(body(&on_b), "<bob> four\n<ann> five\n");
    assert_eq!(etag(&on_b), last);
    let on_a = get(a.port, &format!("/messages?since={cursor}"), "");
    assert_eq!(body(&on_a), body(&on_b));
    // JSON carries the stream IDs as the seq.
    let json = get(
        b.port,
        &format!("/messages?since={first}"),
        "Accept: application/json\r\n",
    );
    let seqs: Vec<String> = body(&json)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["seq"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(seqs.len(), 4, "{json}");
    assert_eq!(seqs.last(), Some(&last));
    // Up to date on either: 304.
    let none = get(
        a.port,
        "/messages",
        &format!("If-None-Match: \"{last}\"\r\n"),
    );
    assert!(none.starts_with("HTTP/1.1 304 "), "{none}");
    // `netkit poll --long` moving with its cursor: the rest, once.
    let (mut long, mut out, _err) =
        poller(&["--long", &b.url(&format!("/messages?since={cursor}"))]);
    assert_eq!(
        chat_lines(&mut out, 2, "long poll"),
        ["<bob> four\n", "<ann> five\n"]
    );
    long.signal("INT");
    let _ = long.wait_or_kill(TIMEOUT);
}

#[test]
fn redis_restarted_mid_conversation_loses_nothing_acknowledged_and_refuses_meanwhile() {
    if !require_peer("redis-server") {
        return;
    }
    let mut redis = Redis::start(true);
    let mut a = ChatServer::on_redis(&redis, "restart");
    let mut b = ChatServer::on_redis(&redis, "restart");
    let (mut ear, _ear_in, mut heard) = ws_client(b.port, "ear");
    let (mut mouth, mut say, mut mouth_out) = ws_client(a.port, "mouth");
    let mut acked = Vec::new();
    post_ok(a.port, "bot", "before 1");
    acked.push("<bot> before 1\n".to_string());
    assert_eq!(chat_lines(&mut heard, 1, "ear"), acked[..1]);
    say.write_all(b"before 2\n").unwrap();
    acked.push("<mouth> before 2\n".to_string());
    assert_eq!(chat_lines(&mut heard, 1, "ear"), acked[1..2]);

    redis.crash();
    // A POST during the outage: 503 with Retry-After, never a 200.
    let deadline = Instant::now() + TIMEOUT;
    let refused = loop {
        let answer = post(a.port, "bot", "during");
        if answer.starts_with("HTTP/1.1 503 ") {
            break answer;
        }
        assert!(Instant::now() < deadline, "not refused: {answer}");
    };
    assert!(refused.contains("\r\nRetry-After: 1\r\n"), "{refused}");
    assert!(
        body(&refused).starts_with("not sent: ")
            && body(&refused).contains(&format!("redis://127.0.0.1:{}", redis.port)),
        "{refused}"
    );
    // A WebSocket sender hears why, at once (the connection stays).
    say.write_all(b"during ws\n").unwrap();
    let why = mouth_out.wait_for(TIMEOUT, "a refusal", |l| l.starts_with("*** not sent: "));
    assert!(why.contains("Redis"), "{why}");
    // The WebSocket clients are told (the ear too, on the other server).
    heard.wait_for(TIMEOUT, "the outage notice", |l| {
        l == "*** the room cannot take messages now: its Redis is unreachable\n"
    });
    // The clients are kept: the ear still hears what comes after.
    redis.restart(true);
    heard.wait_for(TIMEOUT, "the return notice", |l| {
        l == "*** the room takes messages again\n"
    });
    post_ok(a.port, "bot", "after 1");
    acked.push("<bot> after 1\n".to_string());
    say.write_all(b"after 2\n").unwrap();
    acked.push("<mouth> after 2\n".to_string());
    assert_eq!(chat_lines(&mut heard, 2, "ear"), acked[2..]);
    // Nothing acknowledged lost, nothing refused kept: on both servers
    // and on a server started now (it loads the room from Redis).
    let c = ChatServer::on_redis(&redis, "restart");
    let last = etag(&get(a.port, "/messages?since=0", ""));
    for srv in [&a, &b, &c] {
        let answer = wait_until_read(srv.port, &last);
        assert_eq!(body(&answer), acked.concat());
    }
    for p in [&mut ear, &mut mouth] {
        p.signal("INT");
        let _ = p.wait_or_kill(TIMEOUT);
    }
    // The outage and the return were reported.
    let err = a.stop();
    assert!(
        err.contains(&format!(
            "redis redis://127.0.0.1:{} (commands): ",
            redis.port
        )) && err.contains("new messages are refused until it is back"),
        "{err}"
    );
    assert!(err.contains("connected again"), "{err}");
    b.stop();
}

#[test]
fn a_bad_redis_url_is_a_usage_error() {
    let out = netkit()
        .args(["ws", "listen", "--chat", "--redis", "http://x", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(out.status), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        "netkit: usage: invalid value 'http://x' for '--redis <URL>': \
         http://x: scheme http: not redis:// or rediss:// (see --help)\n"
    );
    let out = netkit()
        .args(["ws", "listen", "--redis", "redis://x", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(out.status), 2, "--redis needs --chat");
    // A host that does not resolve: 3, one error line.
    let out = netkit()
        .args(["ws", "listen", "--chat", "--bind", "127.0.0.1"])
        .args(["--redis", "redis://nonexistent.invalid", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(code(out.status), 3);
    let err = String::from_utf8_lossy(&out.stderr);
    // (The resolver's words vary with the machine.)
    // One line: no `listening` before it (the server that cannot keep its
    // room does not announce itself).
    assert_one_error_line(&err);
    assert!(
        err.starts_with("netkit: resolve nonexistent.invalid: "),
        "{err}"
    );
}

#[test]
fn pipelined_posts_are_each_answered_once_redis_has_them() {
    if !require_peer("redis-server") {
        return;
    }
    let redis = Redis::start(false);
    let a = ChatServer::on_redis(&redis, "pipe");
    post_ok(a.port, "boot", "up");
    // Three POSTs in one write on one keep-alive connection: each waits
    // for its XADD; the next must not wait for more bytes from us.
    let mut s = TcpStream::connect(("127.0.0.1", a.port)).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut req = String::new();
    for i in 1..=3 {
        let close = if i == 3 { "Connection: close\r\n" } else { "" };
        req.push_str(&format!(
            "POST /messages?name=p HTTP/1.1\r\nHost: x\r\n{close}Content-Length: 1\r\n\r\n{i}"
        ));
    }
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out.matches("HTTP/1.1 200 OK\r\n").count(), 3, "{out}");
    let last = etag(
        &out.rsplit("HTTP/1.1 ")
            .next()
            .map(|r| format!("HTTP/1.1 {r}"))
            .unwrap(),
    );
    let answer = wait_until_read(a.port, &last);
    assert_eq!(body(&answer), "<boot> up\n<p> 1\n<p> 2\n<p> 3\n");
}

#[test]
fn rediss_with_a_password_and_a_database() {
    if !require_peer("redis-server") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("netkit-rediss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = make_pki(&dir, &["localhost"]);
    let port = free_port();
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
    ])
    .arg("--tls-cert-file")
    .arg(&pki.cert)
    .arg("--tls-key-file")
    .arg(&pki.key)
    .arg("--tls-ca-cert-file")
    .arg(&pki.ca)
    .args([
        "--tls-auth-clients",
        "no",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .args(["--requirepass", "s3cret", "--dir", dir.to_str().unwrap()])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let _redis = Proc::spawn(&mut cmd);
    let url = format!("rediss://:s3cret@localhost:{port}/3");
    let ca = pki.ca.to_str().unwrap();
    let args = ["--redis", &url, "--redis-cacert", ca, "--room", "tls"];
    // Taking messages once TLS, AUTH and SELECT are done.
    let a = ChatServer::start_bound(&args);
    let b = ChatServer::start_bound(&args);
    let id = post_ok(a.port, "ann", "over TLS");
    assert_eq!(body(&wait_until_read(b.port, &id)), "<ann> over TLS\n");
    // Without the CA the certificate is refused, and so are messages.
    let mut c = ChatServer::start_bound(&["--redis", &url, "--room", "tls"]);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        // (Until the first handshake fails it says "not connected yet".)
        let refused = post(c.port, "bob", "no");
        assert!(refused.starts_with("HTTP/1.1 503 "), "{refused}");
        if body(&refused).contains("certificate not trusted") {
            break;
        }
        assert!(Instant::now() < deadline, "{refused}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A quiet period (the back-off retries 100 ms, 200 ms, ... later):
    // every message is still refused for the same reason.
    let quiet = Instant::now() + Duration::from_millis(700);
    while Instant::now() < quiet {
        let refused = post(c.port, "bob", "no");
        assert!(
            refused.starts_with("HTTP/1.1 503 ") && refused.contains("certificate not trusted"),
            "{refused}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = c.stop();
    assert!(
        err.contains("certificate not trusted") && err.contains("--redis-cacert FILE"),
        "{err}"
    );
    // Reported once, and never taken for a working connection.
    assert_eq!(err.matches("(reads): ").count(), 1, "{err}");
    assert!(!err.contains("connected again"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stopped_redis_is_noticed_and_senders_get_an_error_not_silence() {
    if !require_peer("redis-server") {
        return;
    }
    let redis = Redis::start(false);
    let mut a = ChatServer::on_redis(&redis, "stopped");
    let (mut mouth, mut say, mut mouth_out) = ws_client(a.port, "mouth");
    post_ok(a.port, "bot", "before");
    // SIGSTOP: the connections stay open, nothing answers.
    redis.proc.signal("STOP");
    let started = Instant::now();
    let answer = post(a.port, "bot", "while stopped");
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(body(&answer).contains("no answer in 3s"), "{answer}");
    assert!(started.elapsed() < TIMEOUT);
    say.write_all(b"ws while stopped\n").unwrap();
    let why = mouth_out.wait_for(TIMEOUT, "a refusal", |l| l.starts_with("*** not sent: "));
    assert!(why.contains("Redis"), "{why}");
    // Going on again: taken again, the connection kept all along.
    redis.proc.signal("CONT");
    // (What was refused meanwhile may still be stored once Redis goes on:
    // refused means not acknowledged, so not promised either way.)
    post_ok(a.port, "bot", "after");
    let last = post_ok(a.port, "bot", "last");
    let log = body(&wait_until_read(a.port, &last)).to_string();
    assert!(log.starts_with("<bot> before\n"), "{log}");
    assert!(log.ends_with("<bot> after\n<bot> last\n"), "{log}");
    mouth.signal("INT");
    let _ = mouth.wait_or_kill(TIMEOUT);
    let err = a.stop();
    assert!(err.contains("no answer in 3s"), "{err}");
}

/// The chat page (tests/browser/chat.py in headless Chromium) on a server
/// of a Redis room, the `netkit ws connect` client on another: stream IDs
/// as the page's seq, every message once, in order, across servers.
#[test]
fn the_chat_page_on_one_server_and_a_cli_client_on_another() {
    if !require_peer("redis-server") || !require_peer("chromedriver") {
        return;
    }
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !selenium {
        assert!(!in_ci(), "python3 selenium is required under CI=true");
        eprintln!("skipping: python3 selenium not installed");
        return;
    }
    let redis = Redis::start(false);
    let (_pages, port, _pages_err, _pages_out) = ChatServer::start_connected(&redis, "browser");
    let (_other, other, _other_err, _other_out) = ChatServer::start_connected(&redis, "browser");
    let (mut cli, mut say, mut heard) = ws_client(other, "cli");

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target");
    let mut py = Command::new("python3");
    py.arg(root.join("tests/browser/chat.py"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&shots)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut py = Proc::spawn(&mut py);
    let mut py_out = py.stdout_lines();
    let py_err = py.stderr_bytes();
    match py_out.next_line(Duration::from_secs(120)) {
        Some(l) if l == "READY\n" => {}
        other => {
            let status = py.wait(TIMEOUT);
            panic!(
                "the browser script: {other:?} ({status}): {}",
                py_err.text()
            );
        }
    }
    say.write_all(b"from cli\n").unwrap();
    let status = py.wait(Duration::from_secs(180));
    py_out.rest(TIMEOUT);
    let out = py_out.all();
    assert!(
        status.success() && out.ends_with("DONE\n"),
        "the browser script failed ({status}): {out}\n{}",
        py_err.text()
    );
    assert_eq!(
        chat_lines(&mut heard, 4, "cli"),
        [
            "<pw> from pw\n",
            "<pl> from pl\n",
            "<pp> from pp\n",
            "<pp> after the switch\n"
        ],
        "{out}"
    );
    drop(say);
    let _ = cli.wait_or_kill(TIMEOUT);
}

#[test]
fn bench_spreads_its_clients_over_the_servers_of_one_room() {
    if !require_peer("redis-server") {
        return;
    }
    let redis = Redis::start(false);
    let a = ChatServer::on_redis(&redis, "bench");
    let b = ChatServer::on_redis(&redis, "bench");
    post_ok(a.port, "boot", "a");
    post_ok(b.port, "boot", "b");
    let out = netkit()
        .args(["--json", "bench", "--transport", "all", "--clients", "4"])
        .args(["--messages", "20", "--rate", "200", "--interval", "50ms"])
        .arg(a.url("/"))
        .arg(b.url("/"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        code(out.status),
        0,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let transports: Vec<&str> = results
        .iter()
        .map(|r| r["transport"].as_str().unwrap())
        .collect();
    assert_eq!(transports, ["ws", "long-poll", "poll"]);
    for r in &results {
        assert_eq!(r["event"], "bench_result", "{r}");
        assert_eq!(r["messages"], 20, "{r}");
        assert_eq!(r["lost"], 0, "{r}");
        assert_eq!(r["duplicated"], 0, "{r}");
        // 4 receivers and one publisher per server.
        assert_eq!(r["connections"], 6, "{r}");
    }
}
