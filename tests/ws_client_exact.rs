//! `netkit ws connect` in every pipeline: exact stdout, exact bytes on the
//! wire and exact exit codes (issue 10).
//!
//! - `printf 'a\nb\n' | netkit ws connect URL` prints the replies of an echo
//!   server, every time, against Python `websockets`, websocat and netkit
//!   (the Close waits until the server has been quiet for `--linger`).
//! - `-c N` reads stdin and closes after the Nth incoming message.
//! - `--recv-only` and `--no-close` keep a client with stdin at /dev/null
//!   open until the server closes.
//! - A stdin line that is not UTF-8 goes out as a binary message, unaltered,
//!   with one warning; a binary message is printed with a newline after it.
//! - The server's close code decides the exit status.
//!
//! Peers: Python `websockets` (a server written here, ready once it prints
//! its port), websocat (`mirror:`) and netkit itself. A missing peer fails
//! the test under `CI=true` and skips it otherwise.

mod common;

use std::process::Stdio;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use common::ws::{python_websockets, websocat_server, PyServer};
use common::{netkit, require_peer, run_with_input, spawn_listening, Collector, Proc, TIMEOUT};

/// Runs per peer with a short linger (plus a few with the default).
const RUNS: usize = 20;

// ---------------------------------------------------------------------------
// Peers

/// A Python websockets server. argv: MODE [ARG]. Prints {"port": N} first.
///   echo:   sends every message back
///   record: prints {"op": "text"|"binary", "hex": payload} per message,
///           then {"op": "close", "code": N}
///   three:  sends "one", "two", "three" half a second apart, then Close 1000
///   binary: sends binary 00 01 ff, text "text", an empty binary, Close 1000
///   close:  closes at once with code ARG and reason "reason ARG"
///   abort:  sends "last", then drops TCP without a Close
const PY_SERVER: &str = r#"
import asyncio, json, sys
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

mode = sys.argv[1]
arg = sys.argv[2] if len(sys.argv) > 2 else ""

def out(**kw):
    print(json.dumps(kw), flush=True)

async def handler(ws):
    if mode == "echo":
        try:
            async for m in ws:
                await ws.send(m)
        except ConnectionClosed:
            pass
    elif mode == "record":
        try:
            async for m in ws:
                if isinstance(m, str):
                    out(op="text", hex=m.encode().hex())
                else:
                    out(op="binary", hex=m.hex())
        except ConnectionClosed:
            pass
        out(op="close", code=ws.close_code)
    elif mode == "three":
        for i, t in enumerate(("one", "two", "three")):
            if i:
                await asyncio.sleep(0.5)
            await ws.send(t)
        await ws.close(1000, "done")
    elif mode == "binary":
        await ws.send(b"\x00\x01\xff")
        await ws.send("text")
        await ws.send(b"")
        await ws.close(1000)
    elif mode == "close":
        await ws.close(int(arg), "reason " + arg)
    elif mode == "abort":
        await ws.send("last")
        await asyncio.sleep(0.2)
        ws.transport.abort()

async def main():
    async with serve(handler, "127.0.0.1", 0, max_size=None, compression=None,
                     ping_interval=None) as server:
        out(port=server.sockets[0].getsockname()[1])
        await asyncio.Future()

asyncio.run(main())
"#;

impl PyServer {
    fn start(mode: &str, arg: &str) -> PyServer {
        PyServer::spawn(PY_SERVER, &[mode, arg])
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// The recorded messages up to and including the close.
    fn recorded(&mut self) -> Vec<(String, String)> {
        let mut got = Vec::new();
        loop {
            let Some(l) = self.lines.next_line(TIMEOUT) else {
                panic!("python server ended; seen {got:?}");
            };
            let v: Value = serde_json::from_str(&l).unwrap();
            let op = v["op"].as_str().unwrap().to_string();
            if op == "close" {
                got.push((op, v["code"].to_string()));
                return got;
            }
            got.push((op, v["hex"].as_str().unwrap().to_string()));
        }
    }
}

/// `netkit --json ws listen --bind 127.0.0.1 ARGS 0`.
struct NetkitServer {
    _proc: Proc,
    /// Kept so the server's stdout stays open.
    _events: common::Events,
    _stderr: Collector,
    port: u16,
}

impl NetkitServer {
    fn start(args: &[&str]) -> NetkitServer {
        let mut cmd = netkit();
        cmd.args(["--json", "ws", "listen", "--bind", "127.0.0.1"])
            .args(args)
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (proc, events, stderr, _v, port) = spawn_listening(&mut cmd);
        NetkitServer {
            _proc: proc,
            _events: events,
            _stderr: stderr,
            port,
        }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }
}

// ---------------------------------------------------------------------------
// 1. `cmd | netkit ws connect` prints the replies

/// `printf 'a\nb\n' | netkit ws connect [--linger 100ms] URL`, RUNS times
/// with a short linger and 3 times with the default: exactly `a\nb\n`, 0.
fn echo_pipeline_is_exact(peer: &str, url: &str) {
    for i in 0..RUNS + 3 {
        let short = i < RUNS;
        let mut args = vec!["ws", "connect"];
        if short {
            args.extend(["--linger", "100ms"]);
        }
        args.push(url);
        let (code, out, err) = run_with_input(&args, b"a\nb\n");
        assert_eq!(
            (code, String::from_utf8_lossy(&out).as_ref()),
            (0, "a\nb\n"),
            "{peer}, run {i} (short linger: {short}); stderr: {err}"
        );
    }
}

#[test]
fn pipe_into_python_echo_prints_every_reply() {
    if !python_websockets() {
        return;
    }
    let py = PyServer::start("echo", "");
    echo_pipeline_is_exact("python websockets", &py.url());
}

#[test]
fn pipe_into_websocat_mirror_prints_every_reply() {
    if !require_peer("websocat") {
        return;
    }
    let (_ws, port) = websocat_server(&["-t"], "mirror:");
    echo_pipeline_is_exact("websocat", &format!("ws://127.0.0.1:{port}/"));
}

#[test]
fn pipe_into_netkit_echo_prints_every_reply() {
    let srv = NetkitServer::start(&["--echo"]);
    echo_pipeline_is_exact("netkit", &srv.url());
}

#[test]
fn linger_0_closes_at_once_after_the_last_message() {
    if !python_websockets() {
        return;
    }
    let mut py = PyServer::start("record", "");
    let (code, out, err) = run_with_input(&["ws", "connect", "--linger", "0", &py.url()], b"x\n");
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty());
    assert_eq!(
        py.recorded(),
        [
            ("text".into(), "78".into()),
            ("close".into(), "1000".into())
        ]
    );
}

#[test]
fn pings_from_the_server_do_not_keep_the_linger_open() {
    // The server pings every 50ms, well within the 300ms linger: only
    // messages (and frames under way) count as the server talking.
    let srv = NetkitServer::start(&["--echo", "--ping-interval", "50ms"]);
    let (code, out, err) = run_with_input(&["ws", "connect", &srv.url()], b"a\n");
    assert_eq!((code, out.as_slice()), (0, &b"a\n"[..]), "{err}");
}

// ---------------------------------------------------------------------------
// 2. -c N reads stdin

#[test]
fn count_reads_stdin_and_closes_after_the_nth_reply() {
    let srv = NetkitServer::start(&["--echo"]);
    let (code, out, err) = run_with_input(&["ws", "connect", "-c", "3", &srv.url()], b"a\nb\nc\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(String::from_utf8_lossy(&out), "a\nb\nc\n");
}

// ---------------------------------------------------------------------------
// 3. stdin at /dev/null

#[test]
fn recv_only_and_no_close_with_stdin_at_dev_null_print_everything() {
    if !python_websockets() {
        return;
    }
    for flag in ["--recv-only", "--no-close"] {
        let py = PyServer::start("three", "");
        let (code, out, err) = common::run(&["ws", "connect", flag, &py.url()], Stdio::null());
        assert_eq!(code, 0, "{flag}: {err}");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "one\ntwo\nthree\n",
            "{flag}: {err}"
        );
    }
}

#[test]
fn recv_only_does_not_read_stdin() {
    if !python_websockets() {
        return;
    }
    let mut py = PyServer::start("record", "");
    let mut cmd = netkit();
    cmd.args(["ws", "connect", "--recv-only", "-c", "1", &py.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut c = Proc::spawn(&mut cmd);
    let w = common::feed(c.take_stdin(), b"must not be sent\n".to_vec());
    let err = c.stderr_bytes();
    // The client is still open: kill it; the server saw no message.
    thread::sleep(Duration::from_millis(300));
    assert!(
        c.running(),
        "--recv-only exited at stdin EOF: {}",
        err.text()
    );
    c.signal("INT");
    let _ = c.wait(TIMEOUT);
    w.join().unwrap();
    assert_eq!(py.recorded(), [("close".into(), "1001".into())]);
}

// ---------------------------------------------------------------------------
// 4. bytes never changed

#[test]
fn a_line_that_is_not_utf8_goes_out_as_binary_with_one_warning() {
    if !python_websockets() {
        return;
    }
    let mut py = PyServer::start("record", "");
    let (code, out, err) = run_with_input(
        &["ws", "connect", "--linger", "100ms", &py.url()],
        b"ok\n\xff\xfe\nok2\n\xc3\nw\xc3\xb6rld\n\x80",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.is_empty());
    let want: Vec<(String, String)> = [
        ("text", "6f6b"),
        ("binary", "fffe"),
        ("text", "6f6b32"),
        ("binary", "c3"),
        ("text", "77c3b6726c64"),
        ("binary", "80"),
        ("close", "1000"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(py.recorded(), want);
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("UTF-8")).collect();
    assert_eq!(
        warnings,
        ["! stdin line 2 is not UTF-8; sent as a binary message (further ones too)"],
        "{err}"
    );
}

#[test]
fn a_binary_message_is_printed_with_a_newline_after_it() {
    if !python_websockets() {
        return;
    }
    let py = PyServer::start("binary", "");
    let (code, out, err) = common::run(&["ws", "connect", "--no-close", &py.url()], Stdio::null());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, b"\x00\x01\xff\ntext\n\n");
}

// ---------------------------------------------------------------------------
// 5. exit codes from the server's close code

#[test]
fn the_servers_close_code_decides_the_exit_status() {
    if !python_websockets() {
        return;
    }
    for (close, exit) in [
        (1000, 0),
        (1001, 0),
        (1008, 1),
        (1011, 1),
        (4000, 1),
        (1002, 6),
        (1003, 6),
    ] {
        let py = PyServer::start("close", &close.to_string());
        let (code, _out, err) =
            common::run(&["ws", "connect", "--no-close", &py.url()], Stdio::null());
        assert_eq!(code, exit, "close {close}: {err}");
        if exit != 0 {
            let line = err
                .lines()
                .find(|l| l.starts_with("netkit: ws://"))
                .unwrap_or_else(|| panic!("close {close}: no error line in {err:?}"));
            assert!(
                line.contains(&close.to_string()) && line.contains(&format!("reason {close}")),
                "close {close}: {line}"
            );
        }
    }
}

#[test]
fn a_dropped_connection_exits_4() {
    if !python_websockets() {
        return;
    }
    let py = PyServer::start("abort", "");
    let (code, out, err) = common::run(&["ws", "connect", "--no-close", &py.url()], Stdio::null());
    assert_eq!(code, 4, "{err}");
    assert_eq!(out, b"last\n");
    assert!(
        err.lines()
            .any(|l| l.starts_with("netkit: ws://") && l.contains("1006")),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// 6. huge durations

#[test]
fn huge_durations_never_panic() {
    let srv = NetkitServer::start(&["--echo"]);
    for flag in ["--ping-interval", "--idle-timeout", "--linger"] {
        let (code, out, err) = run_with_input(
            &[
                "ws",
                "connect",
                "-c",
                "1",
                flag,
                // The longest duration the parser takes: the timers must
                // still not overflow an Instant.
                "100years",
                &srv.url(),
            ],
            b"hi\n",
        );
        assert!(!err.contains("panicked"), "{flag}: {err}");
        assert_eq!((code, out.as_slice()), (0, &b"hi\n"[..]), "{flag}: {err}");
    }
}
