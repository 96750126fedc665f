//! `-C/--crlf` (nc -C): line feeds from stdin go out as CR LF, byte for
//! byte as Debian's OpenBSD `nc -C` sends them, for `tcp connect`,
//! `tcp listen` and `unix connect`.

mod common;

use std::process::{Command, Stdio};

use common::*;

const INPUT: &[u8] = b"GET / HTTP/1.0\nHost: x\r\n\nbare\rcr\n\r\nend";
const WANT: &[u8] = b"GET / HTTP/1.0\r\nHost: x\r\n\r\nbare\rcr\r\n\r\nend";

/// What `nc -C` itself sends for INPUT (the reference), via an `nc -l`.
fn nc_reference() -> Vec<u8> {
    let (mut listener, port, _) = nc_listener(&[], Stdio::piped(), Stdio::null());
    let got = listener.stdout_bytes();
    let out = Command::new("nc")
        .args(["-N", "-C", "127.0.0.1", &port.to_string()])
        .stdin(TempFile::with("in", INPUT).stdio())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    listener.wait(TIMEOUT);
    got.join()
}

#[test]
fn tcp_connect_crlf_sends_what_nc_c_sends() {
    if !require_peer("nc") {
        return;
    }
    assert_same_bytes("nc -C (reference)", WANT, &nc_reference());
    let (mut listener, port, _) = nc_listener(&[], Stdio::piped(), Stdio::null());
    let got = listener.stdout_bytes();
    let input = TempFile::with("in", INPUT);
    let (code, _, err) = run(
        &["tcp", "connect", "-C", "127.0.0.1", &port.to_string()],
        input.stdio(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    listener.wait(TIMEOUT);
    assert_same_bytes("received by nc", WANT, &got.join());
}

#[test]
fn tcp_connect_crlf_converts_megabytes_of_lines_exactly() {
    if !require_peer("nc") {
        return;
    }
    let mut input = Vec::new();
    let mut want = Vec::new();
    let mut n = 0u64;
    while input.len() < 3 * MIB {
        let line = format!("line {n} {}", "x".repeat((n % 97) as usize));
        input.extend_from_slice(line.as_bytes());
        input.push(b'\n');
        want.extend_from_slice(line.as_bytes());
        want.extend_from_slice(b"\r\n");
        n += 1;
    }
    let (mut listener, port, _) = nc_listener(&[], Stdio::piped(), Stdio::null());
    let got = listener.stdout_bytes();
    let file = TempFile::with("lines", &input);
    let (code, _, err) = run(
        &["tcp", "connect", "--crlf", "127.0.0.1", &port.to_string()],
        file.stdio(),
    );
    assert_eq!(code, 0, "stderr: {err}");
    listener.wait(TIMEOUT);
    assert_same_bytes("received by nc", &want, &got.join());
}

#[test]
fn tcp_listen_crlf_sends_cr_lf_to_its_client() {
    if !require_peer("nc") {
        return;
    }
    let input = TempFile::with("in", INPUT);
    let mut cmd = netkit();
    cmd.args(["--json", "tcp", "listen", "-C", "--bind", "127.0.0.1", "0"])
        .stdin(input.stdio())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut nk, _events, _err, _, port) = spawn_listening(&mut cmd);
    let out = Command::new("nc")
        .args(["-N", "127.0.0.1", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(code(nk.wait(TIMEOUT)), 0);
    assert_same_bytes("received by nc", WANT, &out.stdout);
}

#[test]
fn unix_connect_crlf_sends_cr_lf() {
    if !require_peer("socat") {
        return;
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crlf-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let p = path.to_str().unwrap().to_string();
    let mut socat = Proc::spawn(
        Command::new("socat")
            .args(["-d", "-d", &format!("UNIX-LISTEN:{p}"), "-"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let got = socat.stdout_bytes();
    let mut lines = socat.stderr_lines();
    lines.wait_for(TIMEOUT, "socat listening", |l| l.contains("listening on"));
    let input = TempFile::with("in", INPUT);
    let (code, _, err) = run(&["unix", "connect", "-C", &p], input.stdio());
    assert_eq!(code, 0, "stderr: {err}");
    socat.wait(TIMEOUT);
    assert_same_bytes("received by socat", WANT, &got.join());
    let _ = std::fs::remove_file(&path);
}

#[test]
fn crlf_with_a_multi_client_listener_is_a_usage_error() {
    let (code, _, err) = run(&["tcp", "listen", "-C", "-k", "0"], Stdio::null());
    assert_eq!(code, 2, "{err}");
    assert_one_error_line(&err);
}
