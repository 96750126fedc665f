//! Habits from websocat and wscat on `ws connect`: `-H`/`--origin` end to
//! end, the subprotocol warning, `--base64`, `-P/--show-ping-pong`,
//! `--autoreconnect`, and the chat console's slash commands and history.
//! The server is Python `websockets`, which records what it sees.

mod common;

use std::io::Write;
use std::process::{ChildStdin, Command, Stdio};
use std::time::Duration;

use common::ws::{python_websockets, PyServer, Tty};
use common::*;
use serde_json::Value;

/// A Python websockets server. argv: FLAGS [SUBPROTOCOLS], FLAGS a comma
/// list of: greet (send "hi" and binary 00 01 fe ff after the handshake),
/// ping (send a ping "srv-ping" and report its pong), echo (send every
/// message back). Prints {"port"} first, then per connection N:
/// {"event":"open","conn":N,"headers":[[name,value]...],"subprotocol"},
/// {"event":"message","conn":N,"type","hex","text"}, {"event":"ping","conn":N,"hex"},
/// {"event":"pong_received","conn":N}, {"event":"close","conn":N,"code","reason"}.
/// A text message "drop" makes it abort the TCP connection (no Close).
const PY_SERVER: &str = r#"
import asyncio, json, sys
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

flags = sys.argv[1].split(",")
protocols = sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else None
conns = 0

def out(**kw):
    print(json.dumps(kw), flush=True)

async def handler(ws):
    global conns
    conns += 1
    n = conns
    out(event="open", conn=n, headers=[[k, v] for k, v in ws.request.headers.raw_items()],
        subprotocol=ws.subprotocol)
    if "greet" in flags:
        await ws.send("hi")
        await ws.send(b"\x00\x01\xfe\xff")
    if "ping" in flags:
        waiter = await ws.ping(b"srv-ping")
        await waiter
        out(event="pong_received", conn=n)
    try:
        async for m in ws:
            if isinstance(m, str):
                out(event="message", conn=n, type="text", hex=m.encode().hex(), text=m)
                if m == "drop":
                    ws.transport.abort()
                    break
            else:
                out(event="message", conn=n, type="binary", hex=m.hex())
            if "echo" in flags:
                await ws.send(m)
    except ConnectionClosed:
        pass
    out(event="close", conn=n, code=ws.close_code, reason=ws.close_reason)

async def main():
    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None,
                     subprotocols=protocols) as server:
        out(port=server.sockets[0].getsockname()[1])
        await asyncio.Future()

asyncio.run(main())
"#;

impl PyServer {
    fn start(flags: &str, protocols: &str) -> PyServer {
        PyServer::spawn(PY_SERVER, &[flags, protocols])
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// The next observation whose "event" is `name`.
    fn wait(&mut self, name: &str) -> Value {
        let line = self.lines.wait_for(TIMEOUT, name, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| v["event"] == name)
        });
        serde_json::from_str(&line).unwrap()
    }
}

/// The value of request header `name` (any case) in an "open" observation.
fn header(open: &Value, name: &str) -> Option<String> {
    open["headers"].as_array().unwrap().iter().find_map(|h| {
        (h[0].as_str().unwrap().eq_ignore_ascii_case(name))
            .then(|| h[1].as_str().unwrap().to_string())
    })
}

fn websocat() -> bool {
    if have("websocat") {
        return true;
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo = format!("{home}/.cargo/bin/websocat");
    if std::path::Path::new(&cargo).exists() {
        return true;
    }
    require_peer("websocat")
}

fn websocat_cmd() -> Command {
    if have("websocat") {
        Command::new("websocat")
    } else {
        let home = std::env::var("HOME").unwrap_or_default();
        Command::new(format!("{home}/.cargo/bin/websocat"))
    }
}

/// The warning lines (`! ...`) of a stderr.
fn warnings(err: &str) -> Vec<&str> {
    err.lines().filter(|l| l.starts_with('!')).collect()
}

/// Runs netkit with `input` on stdin: (exit code, stdout, stderr).
fn netkit_with(args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    run_with_input(args, input)
}

// ---------------------------------------------------------------------------
// -H, --origin, --protocol

#[test]
fn headers_and_origin_reach_the_server_as_with_websocat() {
    if !python_websockets() {
        return;
    }
    let mut srv = PyServer::start("", "");
    let (code, _, err) = netkit_with(
        &[
            "ws",
            "connect",
            "-H",
            "X-Token: abc 123",
            "--header",
            "X-Two:two",
            "--origin",
            "http://example.test",
            &srv.url(),
        ],
        b"",
    );
    assert_eq!(code, 0, "stderr: {err}");
    let ours = srv.wait("open");
    assert_eq!(header(&ours, "x-token").as_deref(), Some("abc 123"));
    assert_eq!(header(&ours, "x-two").as_deref(), Some("two"));
    assert_eq!(
        header(&ours, "origin").as_deref(),
        Some("http://example.test")
    );
    srv.wait("close");
    if !websocat() {
        return;
    }
    let status = websocat_cmd()
        .args([
            "-H=X-Token: abc 123",
            "-H=X-Two:two",
            "--origin",
            "http://example.test",
            &srv.url(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let theirs = srv.wait("open");
    for name in ["x-token", "x-two", "origin"] {
        assert_eq!(header(&ours, name), header(&theirs, name), "{name}");
    }
}

#[test]
fn a_subprotocol_the_server_did_not_choose_is_warned_about() {
    if !python_websockets() {
        return;
    }
    // The server speaks no subprotocol: none is chosen.
    let srv = PyServer::start("", "");
    let (code, _, err) = netkit_with(&["ws", "connect", "--protocol", "chat.v9", &srv.url()], b"");
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        warnings(&err),
        vec!["! the server chose no subprotocol (asked for chat.v9)"],
        "{err}"
    );
    // It chose one we asked for, but not our first choice.
    let srv = PyServer::start("", "b.v1");
    let (code, _, err) = netkit_with(
        &[
            "ws",
            "connect",
            "--protocol",
            "a.v1",
            "--protocol",
            "b.v1",
            &srv.url(),
        ],
        b"",
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        warnings(&err),
        vec!["! the server chose subprotocol b.v1, not a.v1 (the first asked for)"]
    );
    // Our first choice: silence.
    let (code, _, err) = netkit_with(&["ws", "connect", "--protocol", "b.v1", &srv.url()], b"");
    assert_eq!(code, 0, "stderr: {err}");
    assert!(warnings(&err).is_empty(), "{err}");
    // --json: the warning stays on stderr, the open event says what was chosen.
    let srv = PyServer::start("", "");
    let (code, out, err) = netkit_with(
        &["--json", "ws", "connect", "--protocol", "x", &srv.url()],
        b"",
    );
    assert_eq!(code, 0, "stderr: {err}");
    let open = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(parse_event)
        .find(|v| v["event"] == "open")
        .unwrap();
    assert_eq!(open["protocol"], Value::Null);
}

// ---------------------------------------------------------------------------
// --base64

#[test]
fn base64_prints_binary_messages_like_websocat() {
    if !python_websockets() {
        return;
    }
    let mut srv = PyServer::start("greet", "");
    let (code, out, err) = netkit_with(&["ws", "connect", "--base64", &srv.url()], b"");
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(String::from_utf8(out.clone()).unwrap(), "hi\nAAH+/w==\n");
    srv.wait("close");
    if !websocat() {
        return;
    }
    let theirs = websocat_cmd()
        .args(["--base64", &srv.url()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(theirs.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&theirs.stdout),
        "netkit --base64 and websocat --base64 print the same"
    );
}

#[test]
fn base64_stdin_lines_are_sent_as_binary_messages() {
    if !python_websockets() {
        return;
    }
    let mut srv = PyServer::start("", "");
    let (code, _, err) = netkit_with(
        &["ws", "connect", "--base64", &srv.url()],
        b"AAH+/w==\n\naGVsbG8=\nnot base64!\nAA\n",
    );
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        warnings(&err),
        vec!["! stdin line 4 is not base64 (skipped)"]
    );
    let mut got = Vec::new();
    loop {
        let v = srv.wait_any();
        if v["event"] == "close" {
            break;
        }
        got.push((
            v["type"].as_str().unwrap().to_string(),
            v["hex"].as_str().unwrap().to_string(),
        ));
    }
    let want = |t: &str, h: &str| (t.to_string(), h.to_string());
    assert_eq!(
        got,
        vec![
            want("binary", "0001feff"),
            want("binary", ""),
            want("binary", "68656c6c6f"),
            want("binary", "00"),
        ]
    );
    // websocat sends the same bytes with --binary-prefix (its way to mark a
    // line as base64).
    if !websocat() {
        return;
    }
    let mut child = websocat_cmd()
        .args(["--base64", "--binary-prefix", "B:", &srv.url()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"B:AAH+/w==\nB:aGVsbG8=\n")
        .unwrap();
    let _ = child.wait();
    srv.wait("open");
    let a = srv.wait("message");
    let b = srv.wait("message");
    assert_eq!(
        (&a["type"], &a["hex"]),
        (&Value::from("binary"), &Value::from("0001feff"))
    );
    assert_eq!(b["hex"], "68656c6c6f");
}

impl PyServer {
    /// The next observation other than "open".
    fn wait_any(&mut self) -> Value {
        loop {
            let line = self.lines.next_line(TIMEOUT).expect("python server ended");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["event"] != "open" {
                return v;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// -P/--show-ping-pong

#[test]
fn show_ping_pong_reports_pings_and_pongs() {
    if !python_websockets() {
        return;
    }
    // The server pings; our --ping-interval pings are answered by pongs.
    let mut srv = PyServer::start("ping", "");
    let mut cmd = netkit();
    cmd.args(["--json", "ws", "connect", "-P", "--ping-interval", "100ms"])
        .arg(srv.url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let stdin: ChildStdin = proc.take_stdin();
    let mut events = Events::new(proc.stdout_lines());
    let err = proc.stderr_bytes();
    srv.wait("pong_received");
    let ping = events.wait("ping", |_| true);
    assert_eq!(ping["text"], "srv-ping", "{ping}");
    assert_eq!(ping["id"], 0);
    let pong = events.wait("pong", |_| true);
    assert_eq!(pong["text"], "netkit", "{pong}");
    drop(stdin);
    assert_eq!(code(proc.wait(TIMEOUT)), 0);
    assert_eq!(err.text(), "");

    // Human: a line per ping and pong on stderr, nothing on stdout.
    let mut srv = PyServer::start("ping", "");
    let mut run = start(
        &["ws", "connect", "--show-ping-pong", &srv.url()],
        Stdio::piped(),
    );
    srv.wait("pong_received");
    drop(run.proc.take_stdin());
    let (code, out, err) = run.finish(TIMEOUT);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.is_empty());
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("ping") || l.contains("pong"))
            .collect::<Vec<_>>(),
        vec!["* received ping: srv-ping"]
    );
    // Without -P pings are silent.
    let mut srv = PyServer::start("ping", "");
    let mut run = start(&["ws", "connect", &srv.url()], Stdio::piped());
    srv.wait("pong_received");
    drop(run.proc.take_stdin());
    let (code, _, err) = run.finish(TIMEOUT);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("ping"), "{err}");
}

// ---------------------------------------------------------------------------
// The chat console on a terminal

impl PyServer {
    /// The next message observation: (type, hex).
    fn message(&mut self) -> (String, String) {
        let v = self.wait("message");
        (
            v["type"].as_str().unwrap().to_string(),
            v["hex"].as_str().unwrap().to_string(),
        )
    }
}

fn text(s: &str) -> (String, String) {
    ("text".to_string(), hex_of(s.as_bytes()))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn tty_chat_slash_commands_ping_binary_and_close() {
    if !python_websockets() {
        return;
    }
    let mut srv = PyServer::start("", "");
    let mut tty = Tty::start(&["ws", "connect", &srv.url()]);
    tty.wait_screen("connected to");
    srv.wait("open");
    tty.type_bytes(b"/ping are you there\r");
    tty.wait_screen("received pong: are you there");
    tty.type_bytes(b"/binary de ad 00\r");
    assert_eq!(srv.message(), ("binary".to_string(), "dead00".to_string()));
    tty.wait_screen("[3 B of binary]");
    tty.type_bytes(b"//close is text\r");
    assert_eq!(srv.message(), text("/close is text"));
    tty.type_bytes(b"/close 1006\r");
    tty.wait_screen("not a close code");
    tty.type_bytes(b"/nope\r");
    tty.wait_screen("unknown command /nope");
    tty.type_bytes(b"/close 4001 see you\r");
    let close = srv.wait("close");
    assert_eq!(close["code"], 4001, "{close}");
    assert_eq!(close["reason"], "see you", "{close}");
    let (code, screen) = tty.finish();
    assert_eq!(code, 0, "{screen}");
    let closes: Vec<&str> = screen.lines().filter(|l| l.contains("closed by")).collect();
    assert_eq!(closes.len(), 1, "the close is reported once: {screen}");
    assert!(
        !closes[0].contains("> *"),
        "the prompt is cleared before the close line: {:?}",
        closes[0]
    );
    assert!(
        closes[0].contains("closed by local, 4001"),
        "{:?}",
        closes[0]
    );
}

#[test]
fn tty_chat_arrows_edit_and_up_recalls_sent_lines() {
    if !python_websockets() {
        return;
    }
    let mut srv = PyServer::start("", "");
    let mut tty = Tty::start(&["ws", "connect", &srv.url()]);
    tty.wait_screen("connected to");
    srv.wait("open");
    // Left arrow twice, then type in the middle.
    tty.type_bytes(b"hlo\x1b[D\x1b[Del\r");
    assert_eq!(srv.message(), text("hello"));
    tty.type_bytes(b"second\r");
    assert_eq!(srv.message(), text("second"));
    // Up twice recalls "hello"; right arrow at the end does nothing.
    tty.type_bytes(b"\x1b[A\x1b[A\x1b[C!\r");
    assert_eq!(srv.message(), text("hello!"));
    // Up, down: back to what was being typed.
    tty.type_bytes(b"draft\x1b[A\x1b[B\r");
    assert_eq!(srv.message(), text("draft"));
    tty.type_bytes(b"\x04");
    let close = srv.wait("close");
    assert_eq!(close["code"], 1000, "{close}");
    let (code, screen) = tty.finish();
    assert_eq!(code, 0, "{screen}");
    let closes: Vec<&str> = screen.lines().filter(|l| l.contains("closed by")).collect();
    assert_eq!(closes.len(), 1, "the close is reported once: {screen}");
    assert!(!closes[0].contains("> *"), "{:?}", closes[0]);
}

// ---------------------------------------------------------------------------
// --autoreconnect

/// `netkit --json ws connect --autoreconnect URL`, stdin a pipe.
struct Reconnecting {
    proc: Proc,
    stdin: Option<ChildStdin>,
    events: Events,
    stderr: Lines,
}

impl Reconnecting {
    fn start(json: bool, url: &str) -> Reconnecting {
        let mut cmd = netkit();
        if json {
            cmd.arg("--json");
        }
        cmd.args(["ws", "connect", "--autoreconnect", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd);
        let stdin = Some(proc.take_stdin());
        let events = Events::new(proc.stdout_lines());
        let stderr = proc.stderr_lines();
        Reconnecting {
            proc,
            stdin,
            events,
            stderr,
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
}

#[test]
fn autoreconnect_reconnects_with_backoff_and_stdin_keeps_flowing() {
    if !python_websockets() {
        return;
    }
    let mut srv = PyServer::start("", "");
    let mut c = Reconnecting::start(true, &srv.url());
    assert_eq!(srv.wait("open")["conn"], 1);
    c.say("one\n");
    assert_eq!(srv.message(), text("one"));
    c.say("drop\n");
    assert_eq!(srv.message(), text("drop"));
    let r = c.events.wait("reconnect", |_| true);
    assert_eq!(r["attempt"], 1, "{r}");
    assert_eq!(r["delay"], 0.5, "{r}");
    assert_eq!(r["url"], srv.url().as_str(), "{r}");
    assert!(r["reason"].as_str().unwrap().contains("1006"), "{r}");
    assert_eq!(srv.wait("open")["conn"], 2);
    c.events.wait("open", |_| true);
    c.say("two\n");
    assert_eq!(srv.message(), text("two"));
    // A second drop soon after: the delay doubles.
    c.say("drop\n");
    assert_eq!(srv.message(), text("drop"));
    let r = c.events.wait("reconnect", |_| true);
    assert_eq!(r["attempt"], 2, "{r}");
    assert_eq!(r["delay"], 1.0, "{r}");
    assert_eq!(srv.wait("open")["conn"], 3);
    c.say("three\n");
    assert_eq!(srv.message(), text("three"));
    // stdin's end and the server's Close end it: exit 0.
    drop(c.stdin.take());
    let close = srv.wait("close");
    assert_eq!(
        (close["conn"].as_u64(), close["code"].as_u64()),
        (Some(3), Some(1000))
    );
    assert_eq!(code(c.proc.wait(TIMEOUT)), 0);
    let rest = c.events.rest();
    assert!(rest.iter().all(|v| v["event"] != "reconnect"), "{rest:?}");
    assert_eq!(c.stderr.rest(TIMEOUT), Vec::<String>::new());
}

#[test]
fn autoreconnect_says_so_on_stderr_and_sigint_ends_the_wait() {
    if !python_websockets() {
        return;
    }
    let mut srv = PyServer::start("", "");
    let url = srv.url();
    let mut c = Reconnecting::start(false, &url);
    srv.wait("open");
    // The server goes away: connections are refused, attempt after attempt.
    drop(srv);
    let err = &mut c.stderr;
    err.wait_for(TIMEOUT, "attempt 2", |l| l.contains("(attempt 2)"));
    c.proc.signal("INT");
    let status = c.proc.wait(Duration::from_secs(5));
    assert_eq!(code(status), 130);
    let all = c.stderr.all();
    let lines: Vec<&str> = all.lines().filter(|l| l.contains("reconnecting")).collect();
    assert!(
        lines[0].ends_with(&format!("; reconnecting to {url} in 500ms (attempt 1)")),
        "{all}"
    );
    assert!(lines[1].contains(" in 1s (attempt 2)"), "{all}");
    assert!(lines[1].contains("refused"), "{all}");
}
