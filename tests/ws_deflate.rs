//! permessage-deflate (RFC 7692, issue 16): what `ws listen` and
//! `ws connect` negotiate and put on the wire, byte for byte, with raw
//! sockets on loopback; the decompression bomb; `--no-compress`; and
//! interop with Python `websockets` and Node `ws` as client and server,
//! with and without context takeover and with small windows.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::ws::{client_frame, python_websockets};
use common::{client, netkit, spawn_listening, Proc, TIMEOUT};

/// "Hello" compressed (RFC 7692, section 7.2.3.1).
const HELLO_Z: [u8; 7] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).unwrap() == 0 {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// `netkit --json ws listen --echo --bind 127.0.0.1 ARGS 0`, its output
/// kept read.
struct Server {
    proc: Proc,
    _events: common::Events,
    _stderr: common::Collector,
}

fn server(args: &[&str]) -> (Server, u16) {
    let mut cmd = netkit();
    cmd.args(["--json", "ws", "listen", "--echo", "--bind", "127.0.0.1"])
        .args(args)
        .arg("0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (proc, events, stderr, _, port) = spawn_listening(&mut cmd);
    (
        Server {
            proc,
            _events: events,
            _stderr: stderr,
        },
        port,
    )
}

/// Upgrades a raw client offering `extensions`; returns it and the head.
fn upgrade(port: u16, extensions: Option<&str>) -> (TcpStream, String) {
    let mut s = client(SocketAddr::from(([127, 0, 0, 1], port)));
    let ext = extensions
        .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    )
    .unwrap();
    let head = read_head(&mut s);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    (s, head)
}

fn read_exact_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).unwrap();
    b
}

#[test]
fn server_agrees_and_echoes_hello_compressed_byte_for_byte() {
    let (_p, port) = server(&[]);
    let (mut s, head) = upgrade(port, Some("permessage-deflate; client_max_window_bits"));
    assert!(
        head.ends_with(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n"
        ),
        "{head}"
    );
    // Twice: the server's context is not taken over, so the same bytes.
    for _ in 0..2 {
        s.write_all(&client_frame(0xC1, &HELLO_Z)).unwrap();
        assert_eq!(
            read_exact_n(&mut s, 9),
            [&[0xC1, 0x07][..], &HELLO_Z].concat()
        );
    }
    // Uncompressed messages are still fine; control frames are never compressed.
    s.write_all(&client_frame(0x81, b"plain")).unwrap();
    assert_eq!(read_exact_n(&mut s, 9)[..2], [0xC1, 0x07]);
    s.write_all(&client_frame(0x89, b"p")).unwrap();
    assert_eq!(read_exact_n(&mut s, 3), [0x8A, 0x01, b'p']);
}

#[test]
fn server_small_windows_and_declined_offers() {
    let (_p, port) = server(&[]);
    let (_s, head) = upgrade(
        port,
        Some("permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=9; client_max_window_bits=10; client_no_context_takeover"),
    );
    assert!(
        head.ends_with("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10\r\n\r\n"),
        "{head}"
    );
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; unknown",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "x-webkit-deflate-frame",
    ] {
        let (_s, head) = upgrade(port, Some(bad));
        assert!(!head.contains("Extensions"), "{bad}: {head}");
    }
}

#[test]
fn server_no_compress_refuses_and_rsv1_is_a_protocol_error() {
    let (_p, port) = server(&["--no-compress"]);
    let (mut s, head) = upgrade(port, Some("permessage-deflate"));
    assert!(!head.contains("Extensions"), "{head}");
    s.write_all(&client_frame(0xC1, &HELLO_Z)).unwrap();
    let close = read_exact_n(&mut s, 4);
    assert_eq!(close[0], 0x88);
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1002);
}

#[test]
fn a_decompression_bomb_is_refused_with_1009_at_the_limit() {
    let (mut server, port) = server(&["--max-message", "1MiB"]);
    let p = &mut server.proc;
    let (mut s, _) = upgrade(port, Some("permessage-deflate"));
    // 64 MiB of one byte deflate to ~64 KiB.
    let mut z = flate2::Compress::new(flate2::Compression::best(), false);
    let input = vec![b'a'; 64 << 20];
    let mut out = Vec::with_capacity(1 << 20);
    z.compress_vec(&input, &mut out, flate2::FlushCompress::Sync)
        .unwrap();
    assert!(out.len() < 1 << 20, "{}", out.len());
    out.truncate(out.len() - 4);
    let _ = s.write_all(&client_frame(0xC1, &out));
    let close = read_exact_n(&mut s, 4);
    assert_eq!(close[0], 0x88);
    assert_eq!(u16::from_be_bytes([close[2], close[3]]), 1009);
    assert!(p.running(), "the server died");
    let rss = std::fs::read_to_string(format!("/proc/{}/status", p.id())).unwrap();
    let kb: usize = rss
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(kb < 32 * 1024, "peak RSS {kb} KiB for a 1 MiB limit");
}

/// A one-connection server: reads the request, answers 101 with `ext`,
/// sends `frames`, returns the request head and the client's first frame.
fn fake_server(
    ext: Option<&'static str>,
    frames: Vec<u8>,
) -> (u16, std::thread::JoinHandle<(String, Vec<u8>)>) {
    common::serve_once(move |mut s| {
        let head = read_head(&mut s);
        let ext = ext
            .map(|e| format!("Sec-WebSocket-Extensions: {e}\r\n"))
            .unwrap_or_default();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap_or("")
            .trim()
            .to_string();
        let accept = {
            use base64::Engine;
            use sha1::{Digest, Sha1};
            let mut h = Sha1::new();
            h.update(key.as_bytes());
            h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
            base64::engine::general_purpose::STANDARD.encode(h.finalize())
        };
        let _ = write!(
            s,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n{ext}\r\n"
        );
        let _ = s.write_all(&frames);
        let mut first = Vec::new();
        let mut h = [0u8; 2];
        if s.read_exact(&mut h).is_ok() {
            let n = usize::from(h[1] & 0x7f);
            let mut rest = vec![0u8; 4 + n.min(125)];
            if s.read_exact(&mut rest).is_ok() {
                let (mask, body) = rest.split_at(4);
                first = h.to_vec();
                first.extend(body.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
            }
        }
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
        (head, first)
    })
}

#[test]
fn client_offers_by_default_and_speaks_compressed() {
    let _ = (KEY, ACCEPT);
    // The server's "Hello" (compressed), then its Close.
    let frames = [&[0xC1, 0x07][..], &HELLO_Z, &[0x88, 0x02, 0x03, 0xE8]].concat();
    let (port, t) = fake_server(Some("permessage-deflate"), frames);
    let out = netkit()
        .args([
            "ws",
            "connect",
            "--send",
            "Hello",
            &format!("ws://127.0.0.1:{port}/"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (head, first) = t.join().unwrap();
    assert!(
        head.contains("\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, permessage-deflate; client_max_window_bits; client_no_context_takeover\r\n"),
        "{head}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello\n");
    // Our "Hello": RSV1, and the RFC's bytes.
    assert_eq!(first, [&[0xC1, 0x87][..], &HELLO_Z].concat());
}

#[test]
fn client_no_compress_offers_nothing_and_fails_on_an_unoffered_extension() {
    let (port, t) = fake_server(Some("permessage-deflate"), Vec::new());
    let out = netkit()
        .args([
            "ws",
            "connect",
            "--no-compress",
            &format!("ws://127.0.0.1:{port}/"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (head, _) = t.join().unwrap();
    assert!(!head.contains("Extensions"), "{head}");
    assert_eq!(out.status.code(), Some(6));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not offer"), "{err}");
}

#[test]
fn client_fails_on_an_invalid_response() {
    for bad in [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; foo",
        "permessage-deflate, permessage-deflate",
    ] {
        let (port, t) = fake_server(Some(bad), Vec::new());
        let out = netkit()
            .args(["ws", "connect", &format!("ws://127.0.0.1:{port}/")])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let _ = t.join();
        assert_eq!(out.status.code(), Some(6), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("netkit: handshake with"), "{bad}: {err}");
    }
}

// ---------------------------------------------------------------------------
// Interop

/// (label, Python websockets factory arguments, Node ws perMessageDeflate options)
const PEER_CONFIGS: [(&str, &str, &str); 3] = [
    ("default", "", "{}"),
    (
        "no context takeover",
        "client_no_context_takeover=True, server_no_context_takeover=True",
        "{clientNoContextTakeover: true, serverNoContextTakeover: true}",
    ),
    (
        "small windows",
        "client_max_window_bits=9, server_max_window_bits=9",
        "{clientMaxWindowBits: 9, serverMaxWindowBits: 9}",
    ),
];

/// Messages both ways: short, long text, binary, empty.
const PY_CHECK: &str = r#"
msgs = ["hello", "json " * 20000, bytes(range(256)) * 300, ""]
"#;

#[test]
fn python_websockets_client_against_ws_listen() {
    if !python_websockets() {
        return;
    }
    let (_p, port) = server(&[]);
    for (label, args, _) in PEER_CONFIGS {
        let script = format!(
            r#"
import asyncio
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
{PY_CHECK}
async def main():
    ext = [ClientPerMessageDeflateFactory({args})]
    async with connect("ws://127.0.0.1:{port}/", extensions=ext, max_size=None) as ws:
        assert ws.protocol.extensions, "no compression negotiated"
        for m in msgs:
            await ws.send(m)
            assert await ws.recv() == m
    print("ok")
asyncio.run(main())
"#
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok\n",
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs `ws connect --echo` against a peer server that prints its port,
/// sends the messages and checks their echoes (the peer prints "ok").
fn connect_to_peer(mut peer: Proc, label: &str) {
    let mut lines = peer.stdout_lines();
    let port: u16 = lines
        .next_line(TIMEOUT)
        .unwrap_or_else(|| panic!("{label}: the peer printed no port"))
        .trim()
        .parse()
        .unwrap();
    let mut nk = Proc::spawn(
        netkit()
            .args([
                "-q",
                "ws",
                "connect",
                "--echo",
                &format!("ws://127.0.0.1:{port}/"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let verdict = lines.next_line(Duration::from_secs(60));
    let status = nk.wait(TIMEOUT);
    assert_eq!(
        verdict.as_deref().map(str::trim),
        Some("ok"),
        "{label}: netkit said {}",
        nk.stderr_bytes().text()
    );
    assert_eq!(status.code(), Some(0), "{label}");
}

#[test]
fn ws_connect_against_python_websockets_server() {
    if !python_websockets() {
        return;
    }
    for (label, args, _) in PEER_CONFIGS {
        let server_args = args.replace(
            "client_max_window_bits=9",
            "client_max_window_bits=9, require_client_max_window_bits=False",
        );
        let script = format!(
            r#"
import asyncio, sys
from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
{PY_CHECK}
async def handler(ws):
    try:
        assert ws.protocol.extensions, "no compression negotiated"
        for m in msgs:
            await ws.send(m)
            assert await ws.recv() == m
        print("ok", flush=True)
    except Exception as e:
        print("failed:", repr(e)[:300], flush=True)
    await ws.close()
    stop.set_result(None)
async def main():
    global stop
    stop = asyncio.get_running_loop().create_future()
    ext = [ServerPerMessageDeflateFactory({server_args})]
    async with serve(handler, "127.0.0.1", 0, extensions=ext, max_size=None) as s:
        print(s.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(stop, 60)
asyncio.run(main())
"#
        );
        let peer = Proc::spawn(
            Command::new("python3")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        connect_to_peer(peer, label);
    }
}

/// tests/node, where `npm install --prefix tests/node` put `ws`.
fn node_ws() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let have = common::have("node") && dir.join("node_modules/ws").is_dir();
    if !have {
        assert!(
            !common::in_ci(),
            "node or tests/node/node_modules/ws is missing (npm install --prefix tests/node)"
        );
        eprintln!("skipped: node ws not installed (npm install --prefix tests/node)");
        return None;
    }
    Some(dir)
}

const NODE_MSGS: &str = r#"
const msgs = ["hello", "json ".repeat(20000), Buffer.alloc(76800, 7), ""];
const same = (a, b, bin) => bin ? Buffer.compare(a, b) === 0 : a.toString() === b;
"#;

#[test]
fn node_ws_client_against_ws_listen() {
    let Some(dir) = node_ws() else { return };
    let (_p, port) = server(&[]);
    for (label, _, opts) in PEER_CONFIGS {
        let script = format!(
            r#"
const WebSocket = require("ws");
{NODE_MSGS}
const ws = new WebSocket("ws://127.0.0.1:{port}/", {{ perMessageDeflate: {opts} }});
let i = 0;
ws.on("open", () => {{
  if (!ws.extensions.includes("permessage-deflate")) {{ console.log("no compression"); process.exit(1); }}
  ws.send(msgs[0]);
}});
ws.on("message", (data, isBinary) => {{
  if (!same(data, msgs[i], typeof msgs[i] !== "string")) {{ console.log("mismatch " + i); process.exit(1); }}
  i += 1;
  if (i === msgs.length) {{ console.log("ok"); ws.close(); }} else ws.send(msgs[i]);
}});
setTimeout(() => {{ console.log("timeout"); process.exit(1); }}, 30000).unref();
"#
        );
        let out = Command::new("node")
            .args(["-e", &script])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "ok\n",
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn ws_connect_against_node_ws_server() {
    let Some(dir) = node_ws() else { return };
    for (label, _, opts) in PEER_CONFIGS {
        let script = format!(
            r#"
const WebSocket = require("ws");
{NODE_MSGS}
const wss = new WebSocket.Server({{ host: "127.0.0.1", port: 0, perMessageDeflate: {opts} }}, () => {{
  console.log(wss.address().port);
}});
wss.on("connection", (ws) => {{
  if (!ws.extensions.includes("permessage-deflate")) {{ console.log("no compression"); process.exit(1); }}
  let i = 0;
  ws.on("message", (data) => {{
    if (!same(data, msgs[i], typeof msgs[i] !== "string")) {{ console.log("mismatch " + i); process.exit(1); }}
    i += 1;
    if (i === msgs.length) {{ console.log("ok"); ws.close(1000); setTimeout(() => process.exit(0), 500); }}
    else ws.send(msgs[i]);
  }});
  ws.send(msgs[0]);
}});
setTimeout(() => {{ console.log("timeout"); process.exit(1); }}, 30000).unref();
"#
        );
        let peer = Proc::spawn(
            Command::new("node")
                .args(["-e", &script])
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        connect_to_peer(peer, label);
    }
}
