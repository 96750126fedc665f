//! Habits from nc and ncat: `tcp check` port lists (`22,80-90`), service
//! names (`ssh`), `--any` (exit 0 when one port is open, as `nc -z` does),
//! and `--bind`/`--source` given a host name.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::*;

/// The (address, state) of each human result line.
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
        .filter(|(addr, _)| addr.starts_with("127.0.0.1:"))
        .collect()
}

fn pair(port: u16, state: &str) -> (String, String) {
    (format!("127.0.0.1:{port}"), state.to_string())
}

#[test]
fn a_comma_list_mixed_with_ranges_is_checked_in_order() {
    let (_a, open1) = local_listener();
    let (_b, open2) = local_listener();
    let closed = free_port();
    let list = format!("{open2},{closed},{open1}-{open1}");
    let (code, out, err) = run(&["tcp", "check", "127.0.0.1", &list], Stdio::null());
    assert_eq!(code, 1, "stderr: {err}");
    assert_eq!(
        results(&out),
        vec![
            pair(open2, "open"),
            pair(closed, "closed"),
            pair(open1, "open")
        ]
    );
    // Lists and separate arguments mix.
    let (code, out, err) = run(
        &[
            "tcp",
            "check",
            "127.0.0.1",
            &format!("{open1},{open2}"),
            &open1.to_string(),
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        results(&out),
        vec![
            pair(open1, "open"),
            pair(open2, "open"),
            pair(open1, "open")
        ]
    );
}

#[test]
fn bad_lists_are_usage_errors() {
    for bad in ["22,", ",22", "22,,80", "80-70,22", "22,0", "22,99999"] {
        let (code, out, err) = run(&["tcp", "check", "127.0.0.1", bad], Stdio::null());
        assert_eq!(code, 2, "{bad}: stderr: {err}");
        assert!(out.is_empty(), "{bad}");
        assert_one_error_line(&err);
    }
}

#[test]
fn any_exits_0_when_one_port_is_open_like_nc_z() {
    let (_a, open) = local_listener();
    let closed = free_port();
    let (o, c) = (open.to_string(), closed.to_string());
    if require_peer("nc") {
        let nc = |ports: &[&str]| {
            let status = std::process::Command::new("nc")
                .args(["-z", "127.0.0.1"])
                .args(ports)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .unwrap();
            status.code().unwrap()
        };
        assert_eq!(nc(&[&c, &o]), 0, "nc -z: one open port is success");
        assert_eq!(nc(&[&c]), 1, "nc -z: no open port is failure");
    }
    let (code, out, err) = run(
        &["tcp", "check", "--any", "127.0.0.1", &format!("{c},{o}")],
        Stdio::null(),
    );
    assert_eq!(code, 0, "--any with one open port: stderr: {err}");
    assert_eq!(
        results(&out),
        vec![pair(closed, "closed"), pair(open, "open")]
    );
    let (code, _, err) = run(&["tcp", "check", "--any", "127.0.0.1", &c], Stdio::null());
    assert_eq!(code, 1, "--any with no open port: stderr: {err}");
    // Without --any every port must be open.
    let (code, _, _) = run(
        &["tcp", "check", "127.0.0.1", &format!("{c},{o}")],
        Stdio::null(),
    );
    assert_eq!(code, 1);
}

#[test]
fn service_names_are_looked_up_like_nc() {
    // Nothing listens on 127.0.0.1:22 in the test environment, or something
    // does: either way the line names port 22, as `nc -zv 127.0.0.1 ssh` does.
    if require_peer("nc") {
        let out = std::process::Command::new("nc")
            .args(["-zv", "-w", "2", "127.0.0.1", "ssh"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("port 22"), "nc: {text}");
    }
    let (code, out, err) = run(
        &[
            "--json",
            "tcp",
            "check",
            "--timeout",
            "2s",
            "127.0.0.1",
            "ssh,https",
            "http",
        ],
        Stdio::null(),
    );
    assert!(code == 0 || code == 1, "stderr: {err}");
    let ports: Vec<u64> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(parse_event)
        .filter(|v| v["event"] == "check")
        .map(|v| v["port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, vec![22, 443, 80]);
}

#[test]
fn an_unknown_service_is_a_usage_error() {
    let (code, out, err) = run(
        &["tcp", "check", "127.0.0.1", "22,no-such-service"],
        Stdio::null(),
    );
    assert_eq!(code, 2, "stderr: {err}");
    assert!(out.is_empty());
    assert_one_error_line(&err);
    assert!(err.contains("no-such-service"), "{err}");
}

/// The first line of a listener's stderr (its "listening on" line).
fn first_line(proc: &mut Proc) -> String {
    let stderr = proc.child.stderr.take().unwrap();
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    line
}

#[test]
fn bind_takes_a_host_name() {
    for command in [["tcp", "listen"], ["udp", "recv"], ["ws", "listen"]] {
        let mut cmd = netkit();
        cmd.args(command)
            .args(["--bind", "localhost", "-4", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd);
        let line = first_line(&mut proc);
        assert!(line.contains("127.0.0.1:"), "{command:?}: {line}");
    }
}

#[test]
fn source_takes_a_host_name() {
    let (listener, port) = local_listener();
    let server = std::thread::spawn(move || {
        let (_s, peer) = listener.accept().unwrap();
        peer
    });
    let (code, _, err) = run(
        &[
            "tcp",
            "connect",
            "--source",
            "localhost",
            "127.0.0.1",
            &port.to_string(),
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert!(server.join().unwrap().ip().is_loopback());
}

#[test]
fn an_unresolvable_bind_name_exits_3() {
    let (code, _, err) = run(
        &["tcp", "listen", "--bind", "no-such-host.invalid", "0"],
        Stdio::null(),
    );
    assert_eq!(code, 3, "stderr: {err}");
    assert_one_error_line(&err);
    assert!(err.contains("no-such-host.invalid"), "{err}");
}

#[test]
fn a_bind_that_is_no_host_name_is_a_usage_error() {
    for bad in ["not an ip", "a/b", ""] {
        let (code, _, err) = run(&["tcp", "listen", "--bind", bad, "0"], Stdio::null());
        assert_eq!(code, 2, "{bad:?}: stderr: {err}");
        assert_one_error_line(&err);
    }
}

#[test]
fn bind_name_follows_minus_6_and_reaches_http_listen() {
    use std::net::ToSocketAddrs;
    let has_v6 = ("localhost", 0)
        .to_socket_addrs()
        .is_ok_and(|mut a| a.any(|a| a.is_ipv6()));
    for (args, want) in [
        (
            &["http", "listen", "--bind", "localhost", "0"][..],
            "127.0.0.1:",
        ),
        (
            &["tcp", "listen", "-6", "--bind", "localhost", "0"][..],
            "[::1]:",
        ),
        (
            &["udp", "recv", "-6", "--bind", "localhost", "0"][..],
            "[::1]:",
        ),
        (
            &["ws", "listen", "-6", "--bind", "localhost", "0"][..],
            "[::1]:",
        ),
    ] {
        if want.starts_with('[') && !has_v6 {
            eprintln!("skipping {args:?}: localhost has no IPv6 address here");
            continue;
        }
        let mut cmd = netkit();
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd);
        let line = first_line(&mut proc);
        assert!(line.contains(want), "{args:?}: {line}");
    }
}
