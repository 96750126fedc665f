//! `netkit tcp check`: open and closed ports on 127.0.0.1, ranges, --open,
//! --json events and the exit status (0 only when every port is open).

mod common;

use std::net::TcpListener;
use std::process::Stdio;

use common::*;

/// Three consecutive ports on 127.0.0.1 (the first chosen by the system):
/// the first and last listening, the middle one just freed.
fn open_closed_open() -> (u16, [TcpListener; 2]) {
    for _ in 0..100 {
        let (first, port) = local_listener();
        if port > 65533 {
            continue;
        }
        let Ok(middle) = TcpListener::bind(("127.0.0.1", port + 1)) else {
            continue;
        };
        let Ok(last) = TcpListener::bind(("127.0.0.1", port + 2)) else {
            continue;
        };
        drop(middle);
        return (port, [first, last]);
    }
    panic!("could not find three consecutive free ports on 127.0.0.1");
}

/// (address, state) of each human result line.
fn results(stdout: &[u8]) -> Vec<(String, String)> {
    String::from_utf8(stdout.to_vec())
        .expect("UTF-8 output")
        .lines()
        .map(|l| {
            let mut words = l.split_whitespace();
            let addr = words.next().unwrap_or_default().to_string();
            let state = words.next().unwrap_or_default().to_string();
            (addr, state)
        })
        .collect()
}

fn pair(port: u16, state: &str) -> (String, String) {
    (format!("127.0.0.1:{port}"), state.to_string())
}

#[test]
fn all_open_ports_exit_0_and_are_listed_in_order() {
    let (_a, pa) = local_listener();
    let (_b, pb) = local_listener();
    let (code, out, err) = run(
        &[
            "tcp",
            "check",
            "127.0.0.1",
            &pb.to_string(),
            &pa.to_string(),
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_no_error(&err);
    assert_eq!(results(&out), vec![pair(pb, "open"), pair(pa, "open")]);
}

#[test]
fn a_closed_port_exits_1() {
    let (_a, open) = local_listener();
    let closed = free_port();
    let (code, out, err) = run(
        &[
            "tcp",
            "check",
            "127.0.0.1",
            &open.to_string(),
            &closed.to_string(),
        ],
        Stdio::null(),
    );
    assert_eq!(code, 1, "stderr: {err}");
    assert_no_error(&err);
    assert_eq!(
        results(&out),
        vec![pair(open, "open"), pair(closed, "closed")]
    );
}

#[test]
fn single_port_open_and_closed() {
    let (_a, open) = local_listener();
    let (code, out, err) = run(
        &["tcp", "check", "127.0.0.1", &open.to_string()],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(results(&out), vec![pair(open, "open")]);

    let closed = free_port();
    let (code, out, err) = run(
        &["tcp", "check", "127.0.0.1", &closed.to_string()],
        Stdio::null(),
    );
    assert_eq!(code, 1, "stderr: {err}");
    assert_no_error(&err);
    assert_eq!(results(&out), vec![pair(closed, "closed")]);
}

#[test]
fn a_range_checks_every_port_in_order() {
    let (p, _keep) = open_closed_open();
    let range = format!("{}-{}", p, p + 2);
    let (code, out, err) = run(&["tcp", "check", "127.0.0.1", &range], Stdio::null());
    assert_eq!(code, 1, "one port is closed; stderr: {err}");
    assert_no_error(&err);
    assert_eq!(
        results(&out),
        vec![pair(p, "open"), pair(p + 1, "closed"), pair(p + 2, "open")]
    );
}

#[test]
fn open_lists_only_open_ports_and_keeps_the_exit_status() {
    let (p, _keep) = open_closed_open();
    let range = format!("{}-{}", p, p + 2);
    let (code, out, err) = run(
        &["tcp", "check", "--open", "127.0.0.1", &range],
        Stdio::null(),
    );
    assert_eq!(code, 1, "not every port is open; stderr: {err}");
    assert_eq!(results(&out), vec![pair(p, "open"), pair(p + 2, "open")]);

    let (code, out, _) = run(
        &["tcp", "check", "--open", "127.0.0.1", &p.to_string()],
        Stdio::null(),
    );
    assert_eq!(code, 0);
    assert_eq!(results(&out), vec![pair(p, "open")]);
}

#[test]
fn json_gives_one_check_event_per_port_and_a_summary() {
    let (p, _keep) = open_closed_open();
    let range = format!("{}-{}", p, p + 2);
    let (code, out, err) = run(
        &["--json", "tcp", "check", "127.0.0.1", &range],
        Stdio::null(),
    );
    assert_eq!(code, 1, "stderr: {err}");
    let text = String::from_utf8(out).unwrap();
    let events: Vec<_> = text.lines().map(parse_event).collect();
    let checks: Vec<_> = events.iter().filter(|e| e["event"] == "check").collect();
    assert_eq!(checks.len(), 3, "{text}");
    for (ev, (port, state)) in checks
        .iter()
        .zip([(p, "open"), (p + 1, "closed"), (p + 2, "open")])
    {
        assert_eq!(ev["port"], port, "{ev}");
        assert_eq!(ev["state"], state, "{ev}");
        assert_eq!(ev["host"], "127.0.0.1", "{ev}");
        assert_eq!(ev["addr"], "127.0.0.1", "{ev}");
        if state == "open" {
            assert!(ev["time"].is_number(), "{ev}");
        }
    }
    let summary = events.last().unwrap();
    assert_eq!(summary["event"], "summary", "{text}");
    assert_eq!(summary["open"], 2, "{summary}");
    assert_eq!(summary["closed"], 1, "{summary}");
    assert_eq!(summary["timeout"], 0, "{summary}");
    assert!(summary["elapsed"].is_number(), "{summary}");
    assert_eq!(
        events.iter().filter(|e| e["event"] == "summary").count(),
        1,
        "{text}"
    );
}

#[test]
fn check_sends_no_bytes() {
    let (port, server) = serve_once(|mut s| read_all(&mut s));
    let (code, _, err) = run(
        &["tcp", "check", "127.0.0.1", &port.to_string()],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(server.join().unwrap().is_empty(), "check sent data");
}

#[test]
fn many_ports_at_once_are_all_reported() {
    // 40 listeners on system-chosen ports, checked in one run.
    let listeners: Vec<_> = (0..40).map(|_| local_listener()).collect();
    let mut args = vec!["tcp".to_string(), "check".into(), "127.0.0.1".into()];
    args.extend(listeners.iter().map(|(_, p)| p.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = run(&argv, Stdio::null());
    assert_eq!(code, 0, "stderr: {err}");
    let want: Vec<_> = listeners.iter().map(|(_, p)| pair(*p, "open")).collect();
    assert_eq!(results(&out), want);
}

#[test]
fn unknown_host_exits_3() {
    let (code, out, err) = run(&["tcp", "check", "nosuch.invalid", "80"], Stdio::null());
    assert_eq!(code, 3, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(out.is_empty());
}

#[test]
fn bad_ports_are_usage_errors() {
    for bad in ["0", "65536", "abc", "90-80", "1-65536"] {
        let (code, out, err) = run(&["tcp", "check", "127.0.0.1", bad], Stdio::null());
        assert_eq!(code, 2, "{bad}: stderr: {err}");
        assert_one_error_line(&err);
        assert!(out.is_empty(), "{bad}");
    }
}

#[test]
fn a_huge_timeout_is_no_deadline_not_a_panic() {
    // A listener whose accept queue is full (backlog 0, one connection
    // waiting) drops SYNs, so the check's attempt stays pending with its
    // timer armed, until the queue is drained and the SYN is retried.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    sock.bind(&any.into()).unwrap();
    sock.listen(0).unwrap();
    let l: TcpListener = sock.into();
    let addr = l.local_addr().unwrap();
    let _queued = std::net::TcpStream::connect(addr).unwrap();
    let check = start(
        &[
            "tcp",
            "check",
            "--timeout",
            "100years",
            "127.0.0.1",
            &addr.port().to_string(),
        ],
        Stdio::null(),
    );
    // Long enough for the first SYN to be dropped (if it was not, the
    // check ends at once and the test proves less, but does not fail).
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _first = l.accept().unwrap();
    let (code, out, err) = check.finish(TIMEOUT);
    assert!(!err.contains("panicked"), "{err}");
    // 0, or 2 if the duration parser refuses so long a time.
    match code {
        Some(0) => assert_eq!(results(&out), vec![pair(addr.port(), "open")]),
        Some(2) => assert_one_error_line(&err),
        _ => panic!("exit {code:?}; stderr: {err}"),
    }
}
