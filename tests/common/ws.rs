//! Shared harness for the WebSocket test binaries (ws, ws_habits,
//! ws_client_exact, ws_server_exact, ws_deflate): `netkit ws listen` as a
//! server, Python `websockets` peers and the chat console on a
//! pseudo-terminal.

use std::io::Write;
use std::process::{ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    code, free_port, in_ci, netkit, require_peer, Collector, Events, Lines, Proc, TIMEOUT,
};

// ---------------------------------------------------------------------------
// netkit ws listen

/// `netkit --json ws listen --bind 127.0.0.1 ARGS 0`, stdin a pipe kept
/// open, ready once its `listening` event is read. Each test binary adds
/// the methods it needs in its own `impl` block.
pub struct WsListen {
    pub proc: Proc,
    pub port: u16,
    pub events: Events,
    pub stderr: Lines,
    pub stdin: Option<ChildStdin>,
}

impl WsListen {
    pub fn start(args: &[&str]) -> WsListen {
        let mut cmd = netkit();
        cmd.args(["--json", "ws", "listen", "--bind", "127.0.0.1"])
            .args(args)
            .arg("0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn(&mut cmd);
        let stdin = Some(proc.take_stdin());
        let stderr = proc.stderr_lines();
        let mut events = Events::new(proc.stdout_lines());
        let first = match events.next(TIMEOUT) {
            Some(v) => v,
            None => panic!("netkit ws listen exited before listening"),
        };
        assert_eq!(first["event"], "listening", "first event: {first}");
        let port = first["port"].as_u64().expect("port") as u16;
        assert!(port > 0, "{first}");
        WsListen {
            proc,
            port,
            events,
            stderr,
            stdin,
        }
    }
}

// ---------------------------------------------------------------------------
// Python websockets

/// `true` when python3 with the `websockets` package (new asyncio API,
/// server and client) is installed; fails under CI=true, else skips with a
/// reason.
pub fn python_websockets() -> bool {
    if !require_peer("python3") {
        return false;
    }
    let ok = Command::new("python3")
        .args([
            "-c",
            "import websockets.asyncio.server, websockets.asyncio.client",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if in_ci() {
        panic!("the python3 `websockets` package (>= 13) is required under CI=true (pip install websockets)");
    }
    eprintln!("skipping: the python3 `websockets` package is not installed");
    false
}

/// `python3 -c SCRIPT ARGS`, unbuffered, stdin /dev/null, stdout and
/// stderr piped.
pub fn python(script: &str, args: &[&str]) -> Proc {
    Proc::spawn(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

/// A Python server script that prints `{"port": N}` as its first line
/// (ready), then JSON lines of its own. Each test binary adds the methods
/// its script calls for in its own `impl PyServer` block.
pub struct PyServer {
    pub proc: Proc,
    pub port: u16,
    /// Its stdout after the port line.
    pub lines: Lines,
    pub stderr: Collector,
}

impl PyServer {
    /// Runs `python3 -c SCRIPT ARGS` and waits for its port line; panics
    /// with its stderr if it exits first.
    pub fn spawn(script: &str, args: &[&str]) -> PyServer {
        let mut proc = python(script, args);
        let stderr = proc.stderr_bytes();
        let mut lines = proc.stdout_lines();
        let Some(first) = lines.next_line(TIMEOUT) else {
            panic!("python server exited: {}", stderr.text());
        };
        let v: Value = serde_json::from_str(&first).unwrap();
        let port = v["port"].as_u64().expect("port") as u16;
        PyServer {
            proc,
            port,
            lines,
            stderr,
        }
    }
}

// ---------------------------------------------------------------------------
// websocat

/// `websocat ARGS ws-l:127.0.0.1:PORT TARGET` on a just-freed port
/// (websocat cannot report one), retried.
pub fn websocat_server(args: &[&str], target: &str) -> (Proc, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut p = Proc::spawn(
            Command::new("websocat")
                .args(args)
                .arg(format!("ws-l:127.0.0.1:{port}"))
                .arg(target)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline && p.running() {
            if port_listening(port) {
                return (p, port);
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("websocat did not start listening");
}

/// Whether something listens on 127.0.0.1:PORT, without connecting to it.
fn port_listening(port: u16) -> bool {
    let local = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/tcp").is_ok_and(|t| {
        t.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1] == local && f[3] == "0A"
        })
    })
}

// ---------------------------------------------------------------------------
// The chat console on a terminal

/// Runs `argv` on a pseudo-terminal (stdin, stdout and stderr; the child
/// is a session leader with the terminal as its controlling terminal, so
/// Ctrl-C is a real SIGINT). Everything the terminal shows is copied to
/// the helper's stdout; lines `type HEX` on the helper's stdin are typed
/// into the terminal. At EOF on its stdin it waits for the child and
/// exits with its status (128+N for a signal).
const PTY_CHAT: &str = r#"
import os, pty, sys, threading
argv = sys.argv[1:]
pid, master = pty.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
def pump():
    out = sys.stdout.buffer
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        out.write(data)
        out.flush()
t = threading.Thread(target=pump, daemon=True)
t.start()
for line in sys.stdin:
    line = line.strip()
    if line.startswith("type "):
        os.write(master, bytes.fromhex(line[5:]))
_, status = os.waitpid(pid, 0)
t.join(2)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"#;

/// `netkit ARGS` on a pseudo-terminal (through python3's `pty`), with
/// NO_COLOR=1 and TERM=xterm: type into it, read what it shows.
pub struct Tty {
    proc: Proc,
    input: Option<ChildStdin>,
    /// What the terminal shows, line by line.
    pub screen: Lines,
}

impl Tty {
    pub fn start(args: &[&str]) -> Tty {
        let mut proc = Proc::spawn(
            Command::new("python3")
                .arg("-c")
                .arg(PTY_CHAT)
                .arg(env!("CARGO_BIN_EXE_netkit"))
                .args(args)
                .env("NO_COLOR", "1")
                .env("TERM", "xterm")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        let input = Some(proc.take_stdin());
        let screen = proc.stdout_lines();
        Tty {
            proc,
            input,
            screen,
        }
    }

    /// Types `bytes` into the terminal, as they are (b"\r" is Enter,
    /// b"\x04" Ctrl-D, b"\x03" Ctrl-C).
    pub fn type_bytes(&mut self, bytes: &[u8]) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let input = self.input.as_mut().unwrap();
        writeln!(input, "type {hex}").unwrap();
        input.flush().unwrap();
    }

    /// Waits for a screen line containing `what` and returns it.
    pub fn wait_screen(&mut self, what: &str) -> String {
        self.screen.wait_for(TIMEOUT, what, |l| l.contains(what))
    }

    /// Closes the helper's stdin and waits for netkit: (exit code, all the
    /// terminal showed).
    pub fn finish(mut self) -> (i32, String) {
        drop(self.input.take());
        let status = self.proc.wait(TIMEOUT);
        let _ = self.screen.rest(TIMEOUT);
        (code(status), self.screen.all())
    }
}

/// A client frame masked with a fixed key; `first` is the whole first
/// header byte (FIN, RSV bits, opcode).
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let n = payload.len();
    if n < 126 {
        out.push(0x80 | n as u8);
    } else if n <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
    let k = [0x5a, 0x13, 0xc7, 0x01];
    out.extend_from_slice(&k);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
    out
}
