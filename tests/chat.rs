//! `netkit ws listen --chat`: one room, three ways in on one port — the
//! WebSocket, long polling and polling of `/messages`, and the page at `/`.
//! Peers: raw HTTP over std sockets (exact bytes), curl, `netkit poll`,
//! `netkit ws connect`. Loopback, port 0, readiness by reading.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::chat::*;
use common::*;

#[test]
fn messages_endpoint_lines_json_etags_304_and_204() {
    let s = ChatServer::start(&[]);
    assert_eq!(
        post(s.port, "bot", "hello there\n"),
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: \"1\"\r\n\
         Content-Length: 10\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{\"seq\":1}\n"
    );
    post(s.port, "ann", "second");
    assert_eq!(
        get(s.port, "/messages?since=0", ""),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nETag: \"2\"\r\n\
         Content-Length: 31\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n\
         <bot> hello there\n<ann> second\n"
    );
    let j = get(s.port, "/messages?since=1", "Accept: application/json\r\n");
    let line = body(&j).trim_end();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["seq"], 2);
    assert_eq!(v["from"], "ann");
    assert_eq!(v["text"], "second");
    let ts = v["ts"].as_u64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        ts <= now && now - ts < 60_000,
        "ts is server ms: {ts} vs {now}"
    );
    assert_eq!(
        get(s.port, "/messages", "If-None-Match: \"2\"\r\n"),
        "HTTP/1.1 304 Not Modified\r\nETag: \"2\"\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        get(s.port, "/messages?since=2", ""),
        "HTTP/1.1 204 No Content\r\nETag: \"2\"\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    );
    // If-None-Match is the cursor when since is absent.
    assert_eq!(
        body(&get(s.port, "/messages", "If-None-Match: \"1\"\r\n")),
        "<ann> second\n"
    );
    assert!(get(s.port, "/messages?since=x", "").starts_with("HTTP/1.1 400 "));
    assert!(get(s.port, "/nope", "").starts_with("HTTP/1.1 404 "));
}

#[test]
fn head_of_the_page_has_its_length_and_no_body() {
    let s = ChatServer::start(&[]);
    let get = get(s.port, "/", "");
    let head = http(
        s.port,
        "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head.ends_with("\r\n\r\n"), "{head}");
    assert_eq!(head, get[..get.len() - body(&get).len()]);
}

#[test]
fn the_history_is_bounded() {
    let s = ChatServer::start(&["--history", "2"]);
    for t in ["a", "b", "c"] {
        post(s.port, "x", t);
    }
    assert_eq!(body(&get(s.port, "/messages", "")), "<x> b\n<x> c\n");
}

#[test]
fn a_long_poll_is_held_until_a_message_comes() {
    let s = ChatServer::start(&[]);
    let port = s.port;
    let waiter = std::thread::spawn(move || get(port, "/messages?since=0&wait=30s", ""));
    // Not a synchronisation: whether the post comes before the request is
    // held or after, the answer is the same (holding is timed below).
    std::thread::sleep(Duration::from_millis(200));
    post(s.port, "bot", "wake up");
    let answer = waiter.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert_eq!(body(&answer), "<bot> wake up\n");
    // Prefer: wait=1 with nothing new: held about a second, then 304.
    let started = Instant::now();
    let answer = get(
        s.port,
        "/messages",
        "If-None-Match: \"1\"\r\nPrefer: wait=1\r\n",
    );
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 304 "), "{answer}");
    assert!(took >= Duration::from_millis(900), "held {took:?}");
    let answer = get(s.port, "/messages?since=1&wait=300ms", "");
    assert!(answer.starts_with("HTTP/1.1 204 "), "{answer}");
}

#[test]
fn curl_posts_and_reads() {
    if !require_peer("curl") {
        return;
    }
    let s = ChatServer::start(&[]);
    let out = Command::new("curl")
        .args([
            "-sS",
            "--data-binary",
            "from curl",
            &s.url("/messages?name=curl"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"seq\":1}\n");
    let out = Command::new("curl")
        .args(["-sS", "-i", &s.url("/messages?since=0")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ETag: \"1\"\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n<curl> from curl\n"), "{text}");
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "If-None-Match: \"1\"",
        ])
        .arg(s.url("/messages"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "304");
}

#[test]
fn the_page_is_served_self_contained() {
    let s = ChatServer::start(&[]);
    let answer = get(s.port, "/", "");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"));
    let page = body(&answer);
    assert!(page.contains("<title>netkit chat</title>"));
    assert!(
        page.contains("format=json"),
        "the page asks for JSON frames"
    );
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "no external resource"
    );
}

#[test]
fn pollers_are_not_members_of_the_room() {
    let s = ChatServer::start(&[]);
    // A poller on a kept-alive connection, answered (so open on the
    // server) and still there while people join.
    let mut poller = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    poller.set_read_timeout(Some(TIMEOUT)).unwrap();
    poller
        .write_all(b"GET /messages?since=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        assert_eq!(poller.read(&mut byte).unwrap(), 1, "{answer:?}");
        answer.push(byte[0]);
    }
    assert!(answer.starts_with(b"HTTP/1.1 204 "), "{answer:?}");
    let (_ann, _ann_in, _ann_out, w) = ws_client_welcomed(s.port, "ann");
    assert_eq!(w.trim_end(), "*** welcome, ann; nobody else is here yet");
    let (_bob, _bob_in, _bob_out, w) = ws_client_welcomed(s.port, "bob");
    assert_eq!(w.trim_end(), "*** welcome, bob; here: ann");
    drop(poller);
}

#[test]
fn websocket_long_poll_and_poll_clients_see_every_message_once_in_order() {
    let s = ChatServer::start(&[]);
    let url = s.url("/messages");
    // The listener (WebSocket), the speaker (WebSocket), a long poller and
    // a poller (ETag cursor, every 20 ms).
    let (mut ear, _ear_in, mut heard) = ws_client(s.port, "ear");
    let (mut mouth, mut say, _mouth_out) = ws_client(s.port, "mouth");
    let mut long = netkit();
    long.args(["poll", "--long", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut long = Proc::spawn(&mut long);
    let mut long_out = long.stdout_lines();
    let _long_err = long.stderr_bytes();
    let mut poll = netkit();
    poll.args(["poll", "-n", "20ms", "--changes", &url])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut poll = Proc::spawn(&mut poll);
    let mut poll_out = poll.stdout_lines();
    let _poll_err = poll.stderr_bytes();

    let mut expected = Vec::new();
    for i in 1..=6 {
        let line = if i % 2 == 1 {
            say.write_all(format!("ws says {i}\n").as_bytes()).unwrap();
            format!("<mouth> ws says {i}\n")
        } else {
            post(s.port, "bot", &format!("http says {i}"));
            format!("<bot> http says {i}\n")
        };
        // Each in turn: the order is the server's, and the next waits.
        assert_eq!(chat_lines(&mut heard, 1, "ear")[0], line);
        expected.push(line);
    }
    let from_long = chat_lines(&mut long_out, 6, "long poll");
    let from_poll = chat_lines(&mut poll_out, 6, "poll");
    assert_eq!(from_long, expected, "long polling");
    assert_eq!(from_poll, expected, "polling");
    // Nothing more comes (no duplicate) while the pollers go on.
    let answer = get(s.port, "/messages?since=0", "");
    assert_eq!(body(&answer), expected.concat());
    for p in [&mut long, &mut poll, &mut ear, &mut mouth] {
        p.signal("INT");
        let _ = p.wait_or_kill(TIMEOUT);
    }
    long_out.rest(TIMEOUT);
    poll_out.rest(TIMEOUT);
    assert_eq!(long_out.all(), expected.concat(), "long: each once");
    assert_eq!(poll_out.all(), expected.concat(), "poll: each once");
}
