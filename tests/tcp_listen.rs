//! `netkit tcp listen` with real clients on loopback: OpenBSD nc, netkit
//! itself and std streams. One client (like `nc -l`), -k, --broker, --chat,
//! --echo, the client limits, a slow reader, SIGINT, errors and IPv6.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::*;

// ---------------------------------------------------------------------------
// 64 MiB byte-exact, both directions

/// Fails with how far a transfer got when netkit had to be killed.
fn assert_finished(code: Option<i32>, got: usize, want: usize, who: &str) {
    assert!(
        code.is_some(),
        "{who} did not finish within {TIMEOUT:?} and was killed: the receiver had \
         {got} of {want} bytes (a stalled transfer)"
    );
}

#[test]
fn nc_client_sends_64_mib_exactly_to_listen() {
    if !require_peer("nc") {
        return;
    }
    let data = random_bytes(64 * MIB, 11);
    let file = TempFile::with("nc-to-listen", &data);
    let mut l = HumanListener::start(&[], Stdio::null(), Stdio::piped());
    let out = l.proc.stdout_bytes();
    let mut nc = Proc::spawn(
        Command::new("nc")
            .args(["-N", "127.0.0.1", &l.port.to_string()])
            .stdin(file.stdio())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let code = l.proc.wait_or_kill(TIMEOUT).map(common::code);
    let err = l.stderr.rest(TIMEOUT).concat();
    let out = out.join();
    assert_finished(code, out.len(), data.len(), "netkit listen");
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_no_error(&err);
    assert_same_bytes("netkit stdout", &data, &out);
    nc.wait(TIMEOUT);
}

#[test]
fn listen_sends_64_mib_exactly_to_nc_client() {
    if !require_peer("nc") {
        return;
    }
    let data = random_bytes(64 * MIB, 12);
    let file = TempFile::with("listen-to-nc", &data);
    let mut l = HumanListener::start(&[], file.stdio(), Stdio::null());
    // -d: nc does not read stdin, so it never half-closes toward netkit;
    // it exits after netkit's EOF.
    let mut nc = Proc::spawn(
        Command::new("nc")
            .args(["-d", "127.0.0.1", &l.port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let received = nc.stdout_bytes();
    let code = l.proc.wait_or_kill(TIMEOUT).map(common::code);
    let err = l.stderr.rest(TIMEOUT).concat();
    nc.wait(TIMEOUT);
    let received = received.join();
    assert_finished(code, received.len(), data.len(), "netkit listen");
    assert_eq!(code, Some(0), "stderr: {err}");
    assert_no_error(&err);
    assert_same_bytes("nc received", &data, &received);
}

#[test]
fn netkit_connect_sends_64_mib_exactly_to_netkit_listen() {
    let data = random_bytes(64 * MIB, 13);
    let file = TempFile::with("connect-to-listen", &data);
    // listen's stdin stays open (a pipe we hold), so it does not half-close
    // until every byte has arrived; then its stdin ends, and so does the
    // session (the client's FIN was only a half-close).
    let mut l = HumanListener::start(&[], Stdio::piped(), Stdio::piped());
    let hold = l.proc.take_stdin();
    let (all_in, arrived) = std::sync::mpsc::channel();
    let mut stdout = l.proc.child.stdout.take().unwrap();
    let want = data.len();
    let out = thread::spawn(move || {
        let mut got = Vec::with_capacity(want);
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match std::io::Read::read(&mut stdout, &mut buf) {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if got.len() >= want {
                let _ = all_in.send(());
            }
        }
    });
    let connect = start(
        &["tcp", "connect", "127.0.0.1", &l.port.to_string()],
        file.stdio(),
    );
    let _ = arrived.recv_timeout(TIMEOUT);
    drop(hold);
    let (c_code, c_out, c_err) = connect.finish(TIMEOUT);
    let code = l.proc.wait_or_kill(TIMEOUT).map(common::code);
    let out = out.join().unwrap();
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_finished(c_code, out.len(), data.len(), "netkit connect");
    assert_eq!(c_code, Some(0), "connect stderr: {c_err}");
    assert!(c_out.is_empty());
    assert_eq!(code, Some(0), "listen stderr: {err}");
    assert_same_bytes("listen stdout", &data, &out);
}

#[test]
fn netkit_listen_sends_64_mib_exactly_to_netkit_connect() {
    let data = random_bytes(64 * MIB, 14);
    let file = TempFile::with("listen-to-connect", &data);
    let mut l = HumanListener::start(&[], file.stdio(), Stdio::null());
    let (c_code, c_out, c_err) = start(
        &[
            "tcp",
            "connect",
            "--recv-only",
            "127.0.0.1",
            &l.port.to_string(),
        ],
        Stdio::null(),
    )
    .finish(TIMEOUT);
    let code = l.proc.wait_or_kill(TIMEOUT).map(common::code);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_finished(
        c_code,
        c_out.len(),
        data.len(),
        "netkit listen -> netkit connect",
    );
    assert_eq!(c_code, Some(0), "connect stderr: {c_err}");
    assert_eq!(code, Some(0), "listen stderr: {err}");
    assert_same_bytes("connect stdout", &data, &c_out);
}

// ---------------------------------------------------------------------------
// One client, human and JSON

#[test]
fn one_client_piped_both_ways_then_exit_0() {
    let mut l = HumanListener::start(&[], Stdio::piped(), Stdio::piped());
    assert!(
        l.first_line.starts_with("* listening on ")
            && l.first_line.ends_with(&format!(":{}\n", l.port)),
        "{:?}",
        l.first_line
    );
    let stdin = l.proc.take_stdin();
    let out = l.proc.stdout_bytes();
    let mut c = client(l.addr());
    let local = c.local_addr().unwrap();
    l.stderr.wait_for(TIMEOUT, "client connected line", |line| {
        line.contains("client 1 connected from") && line.contains(&local.to_string())
    });
    c.write_all(b"from the client\n").unwrap();
    // netkit sends its stdin, then half-closes at stdin EOF: the client
    // reads everything up to that EOF before closing its own side (a
    // client that closed first would end the session at once, like nc -l).
    let writer = feed(stdin, b"from the server\n".to_vec());
    assert_eq!(read_all(&mut c), b"from the server\n");
    writer.join().unwrap();
    shut_write(&c);
    let status = l.proc.wait(TIMEOUT);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_no_error(&err);
    assert_eq!(out.join(), b"from the client\n");
}

#[test]
fn one_client_closing_first_ends_the_session_at_stdin_eof() {
    let mut l = HumanListener::start(&[], Stdio::piped(), Stdio::piped());
    let hold = l.proc.take_stdin();
    let mut got = l.proc.stdout_lines();
    let mut c = client(l.addr());
    c.write_all(b"bye\n").unwrap();
    drop(c);
    assert_eq!(got.next_line(TIMEOUT).as_deref(), Some("bye\n"));
    // The client's FIN may be a half-close: netkit waits for stdin's end.
    drop(hold);
    let status = l.proc.wait(TIMEOUT);
    assert_eq!(code(status), 0, "stderr: {}", l.stderr.all());
    assert!(got.rest(TIMEOUT).is_empty());
}

#[test]
fn after_the_clients_fin_stdin_keeps_flowing_to_it_until_it_ends() {
    let mut l = HumanListener::start(&[], Stdio::piped(), Stdio::piped());
    let mut stdin = l.proc.take_stdin();
    let mut got = l.proc.stdout_lines();
    let mut c = client(l.addr());
    c.write_all(b"hi\n").unwrap();
    shut_write(&c);
    assert_eq!(got.next_line(TIMEOUT).as_deref(), Some("hi\n"));
    stdin.write_all(b"one\n").unwrap();
    assert_eq!(read_line(&mut c), "one\n");
    // Longer than the 1 s "stdin idle" rule netkit used to apply.
    thread::sleep(Duration::from_millis(1500));
    let _ = stdin.write_all(b"two\n");
    drop(stdin);
    assert_eq!(read_all(&mut c), b"two\n");
    let status = l.proc.wait(TIMEOUT);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_no_error(&err);
    assert!(got.rest(TIMEOUT).is_empty());
}

#[test]
fn quit_after_ends_the_session_after_stdin_eof_though_the_client_never_closes() {
    let mut l = HumanListener::start(&["--quit-after", "300ms"], Stdio::piped(), Stdio::null());
    let stdin = l.proc.take_stdin();
    let mut c = client(l.addr());
    let writer = feed(stdin, b"hello\n".to_vec());
    assert_eq!(read_all(&mut c), b"hello\n");
    writer.join().unwrap();
    // `c` stays open: only --quit-after can end the session.
    let status = l.proc.wait(TIMEOUT);
    drop(c);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 0, "stderr: {err}");
    assert_no_error(&err);
}

#[test]
fn json_listen_reports_listening_connected_data_and_closed() {
    let mut l = JsonListener::start(&[], Stdio::piped());
    let hold = l.proc.take_stdin();
    let port = l.port;
    assert!(
        l.listening["addr"]
            .as_str()
            .is_some_and(|a| a.ends_with(&format!(":{port}"))),
        "{}",
        l.listening
    );
    let mut c = l.connect();
    let local = c.local_addr().unwrap().to_string();
    let connected = l.events.wait("connected", |_| true);
    assert_eq!(connected["id"], 1, "{connected}");
    assert_eq!(connected["remote"], local.as_str(), "{connected}");
    assert_eq!(connected["clients"], 1, "{connected}");
    assert!(
        connected["local"]
            .as_str()
            .is_some_and(|a| a.ends_with(&format!(":{port}"))),
        "{connected}"
    );

    let text = "héllo ☃\n";
    c.write_all(text.as_bytes()).unwrap();
    let mut got = Vec::new();
    while got.len() < text.len() {
        let d = l.events.wait("data", |_| true);
        assert_eq!(d["id"], 1, "{d}");
        assert!(d.get("bytes").is_none(), "UTF-8 reported as bytes: {d}");
        got.extend(payload(&d));
    }
    assert_eq!(String::from_utf8(got).unwrap(), text);

    let binary = [0xffu8, 0x00, 0xfe, b'a'];
    c.write_all(&binary).unwrap();
    let d = l.events.wait("data", |_| true);
    assert!(
        d.get("text").is_none(),
        "invalid UTF-8 reported as text: {d}"
    );
    assert_eq!(d["bytes"], "/wD+YQ==", "{d}");
    assert_eq!(d["id"], 1, "{d}");

    drop(c);
    // The client's FIN may be a half-close: the session ends with stdin.
    drop(hold);
    let closed = l.events.wait("closed", |_| true);
    assert_eq!(closed["id"], 1, "{closed}");
    assert_eq!(closed["by"], "peer", "{closed}");
    assert_eq!(closed["remote"], local.as_str(), "{closed}");
    assert_eq!(closed["sent"], 0, "{closed}");
    assert_eq!(closed["received"], text.len() + binary.len(), "{closed}");
    assert!(closed["duration"].is_number(), "{closed}");
    let status = l.proc.wait(TIMEOUT);
    assert_eq!(code(status), 0, "stderr: {}", l.stderr.text());
}

// ---------------------------------------------------------------------------
// -k, --broker, --chat

#[test]
fn keep_open_serves_two_clients_and_sends_stdin_to_both() {
    let mut l = JsonListener::start(&["-k"], Stdio::piped());
    let mut stdin = l.proc.take_stdin();
    let (mut a, id_a) = l.connect_and_wait();
    let (mut b, id_b) = l.connect_and_wait();
    assert_ne!(id_a, id_b);
    a.write_all(b"from a\n").unwrap();
    b.write_all(b"from b\n").unwrap();
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    while got_a.len() < 7 || got_b.len() < 7 {
        let d = l.events.wait("data", |_| true);
        match d["id"].as_u64() {
            Some(id) if id == id_a => got_a.extend(payload(&d)),
            Some(id) if id == id_b => got_b.extend(payload(&d)),
            _ => panic!("data from an unknown client: {d}"),
        }
    }
    assert_eq!(got_a, b"from a\n");
    assert_eq!(got_b, b"from b\n");

    stdin.write_all(b"to everyone\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(read_line(&mut a), "to everyone\n");
    assert_eq!(read_line(&mut b), "to everyone\n");

    // Clients leaving does not end -k; a third one is still served.
    drop(a);
    let closed = l.events.wait("closed", |v| v["id"] == id_a);
    assert_eq!(closed["by"], "peer", "{closed}");
    assert_eq!(closed["clients"], 1, "{closed}");
    let (mut c, _) = l.connect_and_wait();
    stdin.write_all(b"again\n").unwrap();
    stdin.flush().unwrap();
    assert_eq!(read_line(&mut b), "again\n");
    assert_eq!(read_line(&mut c), "again\n");
    assert!(l.proc.running());
}

#[test]
fn broker_relays_each_client_to_the_others_not_itself() {
    let mut l = JsonListener::start(&["--broker"], Stdio::piped());
    let _hold = l.proc.take_stdin();
    let (mut a, _) = l.connect_and_wait();
    let (mut b, _) = l.connect_and_wait();
    let (mut c, _) = l.connect_and_wait();

    a.write_all(b"from a\n").unwrap();
    assert_eq!(read_line(&mut b), "from a\n");
    assert_eq!(read_line(&mut c), "from a\n");
    b.write_all(b"from b\n").unwrap();
    // a's next bytes are b's line: its own never came back.
    assert_eq!(read_line(&mut a), "from b\n");
    assert_eq!(read_line(&mut c), "from b\n");
    c.write_all(b"from c\n").unwrap();
    assert_eq!(read_line(&mut a), "from c\n");
    assert_eq!(read_line(&mut b), "from c\n");
    // Nothing else is pending for anyone.
    for (s, who) in [(&mut a, "a"), (&mut b, "b"), (&mut c, "c")] {
        assert_silent(s, Duration::from_millis(300), who);
    }
    // The console (stdout) saw every client's data.
    let mut seen = Vec::new();
    while seen.len() < 21 {
        seen.extend(payload(&l.events.wait("data", |_| true)));
    }
    let seen = String::from_utf8(seen).unwrap();
    for line in ["from a\n", "from b\n", "from c\n"] {
        assert!(seen.contains(line), "{seen:?}");
    }
}

#[test]
fn chat_relays_named_lines_with_join_and_leave_notices() {
    let mut l = HumanListener::start(&["--chat"], Stdio::piped(), Stdio::piped());
    let mut stdin = l.proc.take_stdin();
    let mut console = l.proc.stdout_lines();

    let mut u1 = client(l.addr());
    let welcome = read_line(&mut u1);
    assert!(
        welcome.starts_with("*** ") && welcome.contains("user1"),
        "{welcome:?}"
    );
    let mut u2 = client(l.addr());
    assert!(read_line(&mut u2).contains("user2"));
    assert_eq!(read_line(&mut u1), "*** user2 joined\n");
    let mut u3 = client(l.addr());
    assert!(read_line(&mut u3).contains("user3"));
    assert_eq!(read_line(&mut u1), "*** user3 joined\n");
    assert_eq!(read_line(&mut u2), "*** user3 joined\n");

    u1.write_all(b"hello room\n").unwrap();
    assert_eq!(read_line(&mut u2), "<user1> hello room\n");
    assert_eq!(read_line(&mut u3), "<user1> hello room\n");
    u2.write_all(b"hi user1\r\n").unwrap();
    // user1's next line is user2's: its own line did not come back.
    assert_eq!(read_line(&mut u1), "<user2> hi user1\n");
    assert_eq!(read_line(&mut u3), "<user2> hi user1\n");

    stdin.write_all(b"announcement\n").unwrap();
    stdin.flush().unwrap();
    for u in [&mut u1, &mut u2, &mut u3] {
        assert_eq!(read_line(u), "<server> announcement\n");
    }

    drop(u3);
    assert_eq!(read_line(&mut u1), "*** user3 left\n");
    assert_eq!(read_line(&mut u2), "*** user3 left\n");

    console.wait_for(TIMEOUT, "<user1> line on the console", |l| {
        l == "<user1> hello room\n"
    });
    console.wait_for(TIMEOUT, "<user2> line on the console", |l| {
        l == "<user2> hi user1\n"
    });
    console.wait_for(TIMEOUT, "user3 left on the console", |l| {
        l.starts_with("*** user3 left")
    });
    let all = console.all();
    assert!(all.contains("*** user1 joined"), "{all}");
    assert!(all.contains("*** user2 joined"), "{all}");
    assert!(all.contains("*** user3 joined"), "{all}");
}

// ---------------------------------------------------------------------------
// --echo and the per-client limits

#[test]
fn echo_returns_bytes_exactly_including_one_mib() {
    let l = JsonListener::start(&["--echo"], Stdio::null());
    let mut small = l.connect();
    small.write_all(b"abc\x00\xff\n").unwrap();
    assert_eq!(read_n(&mut small, 6), b"abc\x00\xff\n");

    let data = random_bytes(MIB, 15);
    let mut c = l.connect();
    let mut w = c.try_clone().unwrap();
    let sent = data.clone();
    let writer = thread::spawn(move || {
        w.write_all(&sent).unwrap();
        shut_write(&w);
    });
    let back = read_all(&mut c);
    writer.join().unwrap();
    assert_same_bytes("echoed", &data, &back);
    small.write_all(b"still\n").unwrap();
    assert_eq!(read_n(&mut small, 6), b"still\n");
}

#[test]
fn max_clients_closes_the_extra_client_and_reports_rejected() {
    let mut l = JsonListener::start(&["--echo", "--max-clients", "1"], Stdio::null());
    let (mut first, _) = l.connect_and_wait();
    let mut second = l.connect();
    let second_addr = second.local_addr().unwrap().to_string();
    assert_eof(&mut second, "the client over --max-clients");
    let rejected = l.events.wait("rejected", |_| true);
    // The same canonical form as in `connected` events: 127.0.0.1:PORT.
    assert_eq!(rejected["remote"], second_addr.as_str(), "{rejected}");
    assert!(rejected["reason"].is_string(), "{rejected}");
    first.write_all(b"ping\n").unwrap();
    assert_eq!(read_n(&mut first, 5), b"ping\n");
}

#[test]
fn max_clients_rejection_is_shown_on_stderr_in_human_mode() {
    let mut l = HumanListener::start(
        &["--echo", "--max-clients", "1"],
        Stdio::null(),
        Stdio::null(),
    );
    let _first = client(l.addr());
    l.stderr.wait_for(TIMEOUT, "first client", |s| {
        s.contains("client 1 connected")
    });
    let mut second = client(l.addr());
    let second_addr = second.local_addr().unwrap().to_string();
    assert_eof(&mut second, "the client over --max-clients");
    let line = l
        .stderr
        .wait_for(TIMEOUT, "a refused line", |s| s.contains("max-clients"));
    assert!(
        line.contains(&format!(" {second_addr}:")),
        "the refused client should be shown as {second_addr}: {line:?}"
    );
}

#[test]
fn idle_timeout_closes_an_idle_client() {
    let mut l = JsonListener::start(&["--echo", "--idle-timeout", "500ms"], Stdio::null());
    let (mut c, id) = l.connect_and_wait();
    c.write_all(b"x").unwrap();
    assert_eq!(read_n(&mut c, 1), b"x");
    // Then silence: the server must close it.
    assert_eof(&mut c, "an idle client");
    let closed = l.events.wait("closed", |v| v["id"] == id);
    assert_eq!(closed["by"], "idle", "{closed}");
    assert_eq!(closed["received"], 1, "{closed}");
    assert_eq!(closed["sent"], 1, "{closed}");
    assert!(l.proc.running(), "the server itself keeps running");
}

#[test]
fn slow_reader_is_dropped_and_the_others_keep_flowing() {
    use socket2::{Domain, Socket, Type};
    let mut l = JsonListener::start(&["--broker", "--max-queue", "64KiB"], Stdio::piped());
    let _hold = l.proc.take_stdin();

    // The slow client never reads; a small receive buffer makes it fill fast.
    let slow_sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    slow_sock.set_recv_buffer_size(4096).unwrap();
    slow_sock
        .connect_timeout(&l.addr().into(), TIMEOUT)
        .unwrap();
    let slow: TcpStream = slow_sock.into();
    let slow_local = slow.local_addr().unwrap().to_string();
    let slow_id = l
        .events
        .wait("connected", |v| v["remote"] == slow_local.as_str())["id"]
        .as_u64()
        .unwrap();
    let (sender, _) = l.connect_and_wait();
    let (mut reader, _) = l.connect_and_wait();

    let data = random_bytes(16 * MIB, 16);
    let total = data.len();
    let reading = thread::spawn(move || read_n(&mut reader, total));
    let sent = data.clone();
    let mut w = sender.try_clone().unwrap();
    let writing = thread::spawn(move || w.write_all(&sent).unwrap());

    let closed = l.events.wait("closed", |v| v["id"] == slow_id);
    assert_eq!(closed["by"], "overflow", "{closed}");
    writing.join().unwrap();
    let got = reading.join().unwrap();
    assert_same_bytes("the reading client", &data, &got);
    drop(slow);
    drop(sender);
}

// ---------------------------------------------------------------------------
// SIGINT, errors, IPv6

#[test]
fn sigint_with_a_client_exits_130_after_closing_it() {
    let mut l = HumanListener::start(&[], Stdio::piped(), Stdio::null());
    let _hold = l.proc.take_stdin();
    let mut c = client(l.addr());
    l.stderr.wait_for(TIMEOUT, "client connected", |s| {
        s.contains("client 1 connected")
    });
    l.proc.signal("INT");
    let status = l.proc.wait(TIMEOUT);
    let err = l.stderr.rest(TIMEOUT).concat();
    assert_eq!(code(status), 130, "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eof(&mut c, "client after SIGINT");
}

#[test]
fn sigint_on_keep_open_reports_interrupted_closes_and_exits_130() {
    let mut l = JsonListener::start(&["-k"], Stdio::piped());
    let _hold = l.proc.take_stdin();
    let (mut a, id_a) = l.connect_and_wait();
    let (mut b, id_b) = l.connect_and_wait();
    l.proc.signal("INT");
    let status = l.proc.wait(TIMEOUT);
    assert_eq!(code(status), 130, "stderr: {}", l.stderr.text());
    let rest = l.events.rest();
    for id in [id_a, id_b] {
        assert!(
            rest.iter()
                .any(|v| v["event"] == "closed" && v["id"] == id && v["by"] == "interrupted"),
            "no closed/interrupted event for client {id}: {rest:?}"
        );
    }
    assert_eof(&mut a, "client a after SIGINT");
    assert_eof(&mut b, "client b after SIGINT");
}

#[test]
fn sigint_right_after_listening_exits_130() {
    // A script may send SIGINT as soon as it has read the port: the handler
    // must be in place before the listening line is printed.
    let mut l = HumanListener::start(&[], Stdio::piped(), Stdio::null());
    let _hold = l.proc.take_stdin();
    l.proc.signal("INT");
    let status = l.proc.wait(TIMEOUT);
    assert_eq!(code(status), 130, "stderr: {}", l.stderr.all());
}

#[test]
fn a_bind_address_of_the_other_family_is_a_usage_error() {
    for (flag, bind, named) in [("-4", "::1", "IPv6"), ("-6", "127.0.0.1", "IPv4")] {
        // Before the check, `-4 --bind ::1` listened on ::1: stop waiting soon.
        let (code, out, err) = start(&["tcp", "listen", flag, "--bind", bind, "0"], Stdio::null())
            .finish(Duration::from_secs(10));
        assert_eq!(code, Some(2), "{flag} --bind {bind}: stderr: {err}");
        assert_one_error_line(&err);
        assert!(
            err.contains(named) && err.contains(flag) && err.contains(bind),
            "{flag} --bind {bind}: {err}"
        );
        assert!(out.is_empty());
    }
}

#[test]
fn a_huge_idle_timeout_or_quit_after_is_no_deadline_not_a_panic() {
    for flag in ["--idle-timeout", "--quit-after"] {
        let mut cmd = netkit();
        cmd.args(["tcp", "listen", flag, "100years", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut p = Proc::spawn(&mut cmd);
        let out = p.stdout_bytes();
        let mut err = p.stderr_lines();
        // The longest duration the parser takes: no Instant overflow.
        let first = err.next_line(TIMEOUT).unwrap_or_default();
        assert!(first.starts_with("* listening on "), "{flag}: {first}");
        let port = listening_port(&first);
        let mut c = client(SocketAddr::from(([127, 0, 0, 1], port)));
        c.write_all(b"x").unwrap();
        shut_write(&c);
        assert_eq!(read_all(&mut c), b"");
        let status = p.wait(TIMEOUT);
        let rest = err.rest(TIMEOUT).concat();
        assert!(!rest.contains("panicked"), "{flag}: {rest}");
        assert_eq!(code(status), 0, "{flag}: {rest}");
        assert_eq!(out.join(), b"x");
    }
}

#[test]
fn address_in_use_exits_1_with_one_line() {
    let (_taken, port) = local_listener();
    let (code, out, err) = run(
        &["tcp", "listen", "--bind", "127.0.0.1", &port.to_string()],
        Stdio::null(),
    );
    assert_eq!(code, 1, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("address already in use"), "{err}");
    assert!(err.contains(&port.to_string()), "{err}");
    assert!(out.is_empty());
}

#[test]
fn address_in_use_by_another_netkit_exits_1() {
    let first = JsonListener::start(&[], Stdio::piped());
    let (code, out, err) = run(&["tcp", "listen", &first.port.to_string()], Stdio::null());
    assert_eq!(code, 1, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("address already in use"), "{err}");
    assert!(out.is_empty());
}

#[test]
fn listens_on_ipv6_loopback() {
    let Some((probe, _)) = ipv6_loopback() else {
        return;
    };
    drop(probe);
    let mut l = JsonListener::start(&["--bind", "::1"], Stdio::piped());
    let hold = l.proc.take_stdin();
    assert!(
        l.listening["addr"]
            .as_str()
            .is_some_and(|a| a.starts_with("[::1]:")),
        "{}",
        l.listening
    );
    let addr: SocketAddr = format!("[::1]:{}", l.port).parse().unwrap();
    let mut c = client(addr);
    c.write_all(b"over v6\n").unwrap();
    let d = l.events.wait("data", |_| true);
    assert_eq!(payload(&d), b"over v6\n");
    let connected = l
        .events
        .seen
        .iter()
        .find(|v| v["event"] == "connected")
        .cloned();
    let connected = connected.expect("a connected event");
    assert!(
        connected["remote"]
            .as_str()
            .is_some_and(|r| r.starts_with("[::1]:")),
        "{connected}"
    );
    drop(c);
    drop(hold);
    assert_eq!(code(l.proc.wait(TIMEOUT)), 0);
}

#[test]
fn default_listener_accepts_ipv4_and_ipv6_clients() {
    let Some((probe, _)) = ipv6_loopback() else {
        return;
    };
    drop(probe);
    let mut l = JsonListener::start(&["-k"], Stdio::piped());
    let _hold = l.proc.take_stdin();
    let mut v4 = client(l.addr());
    let v6_addr: SocketAddr = format!("[::1]:{}", l.port).parse().unwrap();
    let mut v6 = client(v6_addr);
    v4.write_all(b"4").unwrap();
    v6.write_all(b"6").unwrap();
    let mut remotes = Vec::new();
    while remotes.len() < 2 {
        let c = l.events.wait("connected", |_| true);
        remotes.push(c["remote"].as_str().unwrap().to_string());
    }
    assert!(
        remotes.iter().any(|r| r.starts_with("127.0.0.1:")),
        "{remotes:?}"
    );
    assert!(
        remotes.iter().any(|r| r.starts_with("[::1]:")),
        "{remotes:?}"
    );
    let mut got = Vec::new();
    while got.len() < 2 {
        got.extend(payload(&l.events.wait("data", |_| true)));
    }
    got.sort();
    assert_eq!(got, b"46");
}
