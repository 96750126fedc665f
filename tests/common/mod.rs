//! Shared helpers for the integration tests: run the real `netkit` binary
//! against real peers on loopback (127.0.0.1 and ::1 only), port 0 everywhere.
//!
//! Every child process is wrapped in a [`Proc`] that kills it on drop, and
//! every wait has a generous deadline so a hung netkit fails the test instead
//! of hanging the suite. Nothing here asserts on timings.
//!
//! The helpers lean only on the standard library plus crates netkit already
//! depends on (`serde_json`, `socket2`, `base64`); there are no dev-dependencies.

#![allow(dead_code)]

use std::collections::hash_map::DefaultHasher;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long anything may take before the test fails rather than hangs.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// `netkit` with a clean environment for predictable output: no color, and a
/// backtrace enabled so that a panic could never pass unnoticed.
pub fn netkit() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netkit"));
    cmd.env("NO_COLOR", "1").env("RUST_BACKTRACE", "1");
    cmd
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        let candidate = dir.join(program);
        candidate
            .metadata()
            .map(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
            .unwrap_or(false)
    })
}

/// Whether CI=true (missing peers are failures there, not skips).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// `true` when `program` is installed. Otherwise fails the test under
/// `CI=true`, or prints why the test is skipped and returns `false`.
pub fn require_peer(program: &str) -> bool {
    if have(program) {
        return true;
    }
    if in_ci() {
        panic!("{program} is required under CI=true but is not installed (.ci/run installs it)");
    }
    eprintln!("skipping: {program} not installed");
    false
}

// ---------------------------------------------------------------------------
// Processes

/// A child process killed (and reaped) on drop.
pub struct Proc {
    pub child: Child,
    pub what: String,
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        let what = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Proc { child, what }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn take_stdin(&mut self) -> ChildStdin {
        self.child.stdin.take().expect("stdin was not piped")
    }

    /// Output lines of stdout, read by a thread.
    pub fn stdout_lines(&mut self) -> Lines {
        Lines::new(self.child.stdout.take().expect("stdout was not piped"))
    }

    /// Output lines of stderr, read by a thread.
    pub fn stderr_lines(&mut self) -> Lines {
        Lines::new(self.child.stderr.take().expect("stderr was not piped"))
    }

    /// All of stdout, read by a thread.
    pub fn stdout_bytes(&mut self) -> Collector {
        Collector::new(self.child.stdout.take().expect("stdout was not piped"))
    }

    /// All of stderr, read by a thread.
    pub fn stderr_bytes(&mut self) -> Collector {
        Collector::new(self.child.stderr.take().expect("stderr was not piped"))
    }

    /// Waits for the exit, failing the test after `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        wait_timeout(&mut self.child, limit, &self.what)
    }

    /// Waits for the exit; after `limit`, kills it and returns `None` so
    /// the caller can say what had happened by then.
    pub fn wait_or_kill(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => {}
                Err(e) => panic!("waiting for {}: {e}", self.what),
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal by name (`INT`, `TERM`) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {} failed", self.child.id());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Waits for `child` with a deadline; kills it and panics when it expires.
pub fn wait_timeout(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {limit:?}; killed it");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Reads a stream to its end on a thread.
pub struct Collector(Option<JoinHandle<Vec<u8>>>);

impl Collector {
    pub fn new<R: Read + Send + 'static>(mut r: R) -> Collector {
        Collector(Some(thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })))
    }

    /// Everything read; call once the writer has exited.
    pub fn join(mut self) -> Vec<u8> {
        self.0
            .take()
            .expect("joined twice")
            .join()
            .expect("reader thread")
    }

    pub fn text(self) -> String {
        String::from_utf8_lossy(&self.join()).into_owned()
    }
}

/// Writes `data` to a child's stdin on a thread, then closes it (EOF).
/// Write errors (the child exited early) are ignored: the test sees what
/// arrived and judges that.
pub fn feed(mut stdin: ChildStdin, data: Vec<u8>) -> JoinHandle<()> {
    thread::spawn(move || {
        let _ = stdin.write_all(&data);
        drop(stdin);
    })
}

/// Lines of a stream, read by a thread, taken with deadlines.
pub struct Lines {
    rx: Receiver<String>,
    /// Every line taken so far, for failure messages.
    pub seen: Vec<String>,
    eof: bool,
}

impl Lines {
    pub fn new<R: Read + Send + 'static>(r: R) -> Lines {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(r);
            loop {
                let mut line = Vec::new();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line).into_owned();
                        if tx.send(text).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
            eof: false,
        }
    }

    /// The next line (with its `\n`), `None` at EOF; panics after `limit`.
    pub fn next_line(&mut self, limit: Duration) -> Option<String> {
        if self.eof {
            return None;
        }
        match self.rx.recv_timeout(limit) {
            Ok(line) => {
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.eof = true;
                None
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("no line within {limit:?}; lines so far: {:#?}", self.seen)
            }
        }
    }

    /// Skips lines until one satisfies `pred`; panics at EOF or after `limit`.
    pub fn wait_for(&mut self, limit: Duration, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_line(left.max(Duration::from_millis(1))) {
                Some(line) if pred(&line) => return line,
                Some(_) => {}
                None => panic!("EOF before {what}; lines: {:#?}", self.seen),
            }
        }
    }

    /// Every remaining line up to EOF (call once the process has exited).
    pub fn rest(&mut self, limit: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(line) = self.next_line(limit) {
            out.push(line);
        }
        out
    }

    /// All lines seen, joined.
    pub fn all(&self) -> String {
        self.seen.concat()
    }
}

/// Parses one NDJSON line, checking the fields every event has.
pub fn parse_event(line: &str) -> Value {
    let v: Value = serde_json::from_str(line.trim_end())
        .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
    assert!(v["event"].is_string(), "no \"event\" in {line}");
    let ts = v["ts"]
        .as_str()
        .unwrap_or_else(|| panic!("no \"ts\" in {line}"));
    assert!(
        ts.len() >= 20 && ts.ends_with('Z') && ts.contains('T'),
        "ts is not RFC 3339 UTC: {line}"
    );
    v
}

/// NDJSON events from a netkit stdout.
pub struct Events {
    pub lines: Lines,
    pub seen: Vec<Value>,
}

impl Events {
    pub fn new(lines: Lines) -> Events {
        Events {
            lines,
            seen: Vec::new(),
        }
    }

    /// The next event, `None` at EOF.
    pub fn next(&mut self, limit: Duration) -> Option<Value> {
        let line = self.lines.next_line(limit)?;
        let v = parse_event(&line);
        self.seen.push(v.clone());
        Some(v)
    }

    /// Skips events until one named `name` satisfies `pred`.
    pub fn wait(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left.max(Duration::from_millis(1))) {
                Some(v) if v["event"] == name && pred(&v) => return v,
                Some(_) => {}
                None => panic!("EOF before a {name:?} event; events: {}", self.dump()),
            }
        }
    }

    /// Every remaining event up to EOF.
    pub fn rest(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = self.next(TIMEOUT) {
            out.push(v);
        }
        out
    }

    pub fn dump(&self) -> String {
        self.seen
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The payload of a JSON `data` event: `"text"` or base64 `"bytes"`.
pub fn payload(v: &Value) -> Vec<u8> {
    use base64::Engine;
    if let Some(t) = v["text"].as_str() {
        assert!(v.get("bytes").is_none(), "both text and bytes: {v}");
        return t.as_bytes().to_vec();
    }
    let b = v["bytes"]
        .as_str()
        .unwrap_or_else(|| panic!("data event without text or bytes: {v}"));
    base64::engine::general_purpose::STANDARD
        .decode(b)
        .unwrap_or_else(|e| panic!("bad base64 in {v}: {e}"))
}

// ---------------------------------------------------------------------------
// netkit listeners

/// Spawns a `--json` listener (`cmd` with stdout and stderr piped) and waits
/// for its first event, which must be `listening`: the process, its further
/// events, its stderr, that event and the port.
pub fn spawn_listening(cmd: &mut Command) -> (Proc, Events, Collector, Value, u16) {
    let mut proc = Proc::spawn(cmd);
    let stderr = proc.stderr_bytes();
    let mut events = Events::new(proc.stdout_lines());
    let listening = match events.next(TIMEOUT) {
        Some(v) => v,
        None => {
            let status = proc.wait(TIMEOUT);
            panic!(
                "{} exited ({status}) before listening: {}",
                proc.what,
                stderr.text()
            );
        }
    };
    assert_eq!(listening["event"], "listening", "first event: {listening}");
    let port = listening["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("no port in {listening}"));
    assert!(port > 0 && port < 65536, "{listening}");
    (proc, events, stderr, listening, port as u16)
}

/// A running `netkit --json tcp listen 0 ...`, its port learned from the
/// first stdout line.
pub struct JsonListener {
    pub proc: Proc,
    pub port: u16,
    pub listening: Value,
    pub events: Events,
    pub stderr: Collector,
}

impl JsonListener {
    /// `netkit --json tcp listen 0 ARGS...` with the given stdin.
    pub fn start(args: &[&str], stdin: Stdio) -> JsonListener {
        let mut cmd = netkit();
        cmd.args(["--json", "tcp", "listen", "0"])
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let (proc, events, stderr, listening, port) = spawn_listening(&mut cmd);
        JsonListener {
            proc,
            port,
            listening,
            events,
            stderr,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A client on 127.0.0.1, with read/write deadlines.
    pub fn connect(&self) -> TcpStream {
        client(self.addr())
    }

    /// Connects and waits for the matching `connected` event; returns the
    /// stream and the connection id.
    pub fn connect_and_wait(&mut self) -> (TcpStream, u64) {
        let s = self.connect();
        let local = s.local_addr().unwrap().to_string();
        let ev = self
            .events
            .wait("connected", |v| v["remote"].as_str() == Some(&local));
        let id = ev["id"].as_u64().unwrap_or_else(|| panic!("no id: {ev}"));
        (s, id)
    }
}

/// Spawns a human-output listener (`cmd` with stderr piped) and reads its
/// first stderr line, the listening line: the process, the rest of its
/// stderr, that line and the port. `what` names it if the line never comes
/// ("netkit WHAT printed nothing on stderr").
pub fn spawn_announced(cmd: &mut Command, what: &str) -> (Proc, Lines, String, u16) {
    let mut proc = Proc::spawn(cmd);
    let mut stderr = proc.stderr_lines();
    let first_line = stderr
        .next_line(TIMEOUT)
        .unwrap_or_else(|| panic!("netkit {what} printed nothing on stderr"));
    let port = listening_port(&first_line);
    (proc, stderr, first_line, port)
}

/// A running human-mode `netkit tcp listen 0 ...`, its port learned from the
/// `* listening on ...` line on stderr.
pub struct HumanListener {
    pub proc: Proc,
    pub port: u16,
    pub first_line: String,
    pub stderr: Lines,
}

impl HumanListener {
    pub fn start(args: &[&str], stdin: Stdio, stdout: Stdio) -> HumanListener {
        let mut cmd = netkit();
        cmd.args(["tcp", "listen", "0"])
            .args(args)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(Stdio::piped());
        let (proc, stderr, first_line, port) = spawn_announced(&mut cmd, "listen");
        HumanListener {
            proc,
            port,
            first_line,
            stderr,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// The port in `* listening on ADDR:PORT`.
pub fn listening_port(line: &str) -> u16 {
    let rest = line
        .strip_prefix("* listening on ")
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"));
    let port = rest
        .trim_end()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    assert!(port > 0, "{line:?}");
    port
}

// ---------------------------------------------------------------------------
// Peers

/// A std client with generous deadlines so that a silent netkit fails the
/// test instead of hanging it.
pub fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, TIMEOUT)
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// A std listener on 127.0.0.1, port chosen by the system.
pub fn local_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Accepts one client with a deadline (the listener is made non-blocking).
pub fn accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(TIMEOUT)).unwrap();
                s.set_write_timeout(Some(TIMEOUT)).unwrap();
                return s;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "nobody connected within {TIMEOUT:?}"
                );
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A one-connection server on a thread: `serve(stream)` runs on the accepted
/// connection and its result comes back from the handle.
pub fn serve_once<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (u16, JoinHandle<T>) {
    let (l, port) = local_listener();
    let h = thread::spawn(move || {
        let s = accept(&l);
        serve(s)
    });
    (port, h)
}

/// Reads until EOF (fails the test on a deadline or an error).
pub fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .unwrap_or_else(|e| panic!("reading until EOF: {e} (after {} bytes)", buf.len()));
    buf
}

/// Reads exactly `n` bytes.
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match s.read(&mut buf[got..]) {
            Ok(0) => panic!(
                "EOF after {got} of {n} bytes: {:?}",
                String::from_utf8_lossy(&buf[..got])
            ),
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "reading {n} bytes: {e} after {got}: {:?}",
                String::from_utf8_lossy(&buf[..got])
            ),
        }
    }
    buf
}

/// Reads one `\n`-terminated line, byte by byte (so nothing is over-read).
pub fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(0) => panic!(
                "EOF in the middle of a line: {:?}",
                String::from_utf8_lossy(&line)
            ),
            Ok(_) => {
                line.push(b[0]);
                if b[0] == b'\n' {
                    return String::from_utf8_lossy(&line).into_owned();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!(
                "reading a line: {e}; so far {:?}",
                String::from_utf8_lossy(&line)
            ),
        }
    }
}

/// Asserts the peer closed: the next read is EOF (0 bytes).
pub fn assert_eof(s: &mut TcpStream, what: &str) {
    let mut b = [0u8; 256];
    match s.read(&mut b) {
        Ok(0) => {}
        Ok(n) => panic!(
            "{what}: expected EOF, got {n} bytes: {:?}",
            String::from_utf8_lossy(&b[..n])
        ),
        Err(e) => panic!("{what}: expected EOF, got error {e}"),
    }
}

/// Asserts the peer sends nothing (and does not close) for `quiet`.
pub fn assert_silent(s: &mut TcpStream, quiet: Duration, what: &str) {
    s.set_read_timeout(Some(quiet)).unwrap();
    let mut b = [0u8; 256];
    match s.read(&mut b) {
        Ok(0) => panic!("{what}: expected silence, got EOF"),
        Ok(n) => panic!(
            "{what}: expected silence, got {n} bytes: {:?}",
            String::from_utf8_lossy(&b[..n])
        ),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) => {}
        Err(e) => panic!("{what}: expected silence, got error {e}"),
    }
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
}

/// Half-closes a client.
pub fn shut_write(s: &TcpStream) {
    s.shutdown(Shutdown::Write).expect("shutdown(Write)");
}

/// A port on 127.0.0.1 where nothing listens (just freed by us).
pub fn free_port() -> u16 {
    let (l, port) = local_listener();
    drop(l);
    port
}

/// Runs a peer tool that logs the port it listens on to stderr; `parse`
/// finds the port in one stderr line. The rest of stderr keeps draining.
pub fn spawn_peer_listener(
    cmd: &mut Command,
    parse: impl Fn(&str) -> Option<u16>,
) -> (Proc, u16, Lines) {
    cmd.stderr(Stdio::piped());
    let mut proc = Proc::spawn(cmd);
    let mut err = proc.stderr_lines();
    let mut port = None;
    while port.is_none() {
        match err.next_line(TIMEOUT) {
            Some(line) => port = parse(&line),
            None => panic!("{} exited before listening: {:#?}", proc.what, err.seen),
        }
    }
    (proc, port.unwrap(), err)
}

/// `socat -d -d ARGS` where one address is `TCP-LISTEN:0,bind=127.0.0.1`.
pub fn socat_listener(args: &[&str], stdout: Stdio, stdin: Stdio) -> (Proc, u16, Lines) {
    let mut cmd = Command::new("socat");
    cmd.args(["-d", "-d"])
        .args(args)
        .stdout(stdout)
        .stdin(stdin);
    spawn_peer_listener(&mut cmd, |line| {
        // "... N listening on AF=2 127.0.0.1:42897"
        let i = line.find("listening on ")?;
        line[i..].trim_end().rsplit(':').next()?.parse().ok()
    })
}

/// `nc -v -l 127.0.0.1 0 ARGS...` (OpenBSD netcat prints "Listening on HOST PORT").
pub fn nc_listener(extra: &[&str], stdout: Stdio, stdin: Stdio) -> (Proc, u16, Lines) {
    let mut cmd = Command::new("nc");
    cmd.args(["-v", "-n", "-l"])
        .args(extra)
        .args(["127.0.0.1", "0"])
        .stdout(stdout)
        .stdin(stdin);
    spawn_peer_listener(&mut cmd, |line| {
        if !line.starts_with("Listening on") {
            return None;
        }
        line.split_whitespace().last()?.parse().ok()
    })
}

// ---------------------------------------------------------------------------
// Data

/// Deterministic pseudo-random bytes (xorshift64*).
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

pub const MIB: usize = 1 << 20;

/// A quick fingerprint of some bytes.
pub fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Asserts two byte strings are equal without printing megabytes on failure.
pub fn assert_same_bytes(what: &str, expected: &[u8], actual: &[u8]) {
    if expected == actual {
        return;
    }
    let first = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    let show = |b: &[u8]| {
        let end = (first + 32).min(b.len());
        String::from_utf8_lossy(&b[first.min(end)..end]).into_owned()
    };
    panic!(
        "{what}: bytes differ: expected {} bytes (hash {:016x}), got {} bytes (hash {:016x}); \
         first difference at offset {first}: expected {:?}, got {:?}",
        expected.len(),
        hash(expected),
        actual.len(),
        hash(actual),
        show(expected),
        show(actual)
    );
}

/// A file under the target's scratch directory, removed on drop.
pub struct TempFile {
    pub path: PathBuf,
}

static TEMP_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TempFile {
    pub fn with(name: &str, bytes: &[u8]) -> TempFile {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("netkit-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        TempFile { path }
    }

    pub fn open(&self) -> File {
        File::open(&self.path).unwrap()
    }

    pub fn stdio(&self) -> Stdio {
        Stdio::from(self.open())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

// ---------------------------------------------------------------------------
// Assertions on netkit's streams

/// The exit code, or a clear failure when killed by a signal.
pub fn code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| panic!("netkit died from a signal: {status}"))
}

/// Asserts `stderr` is exactly one `netkit: ...` line, with no panic or
/// debug formatting in it.
pub fn assert_one_error_line(stderr: &str) {
    assert!(
        stderr.ends_with('\n'),
        "stderr does not end with a newline: {stderr:?}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "stderr is not exactly one line: {stderr:?}"
    );
    assert!(
        stderr.starts_with("netkit: "),
        "stderr does not start with `netkit: `: {stderr:?}"
    );
    for bad in [
        "panicked",
        "backtrace",
        "Custom {",
        "kind:",
        "os error",
        "RUST_",
    ] {
        assert!(!stderr.contains(bad), "stderr contains {bad:?}: {stderr:?}");
    }
}

/// Asserts stderr carries no error line or panic.
pub fn assert_no_error(stderr: &str) {
    assert!(
        !stderr.contains("netkit:") && !stderr.contains("panicked"),
        "unexpected error on stderr: {stderr:?}"
    );
}

/// Runs netkit to completion with `input` on stdin; returns
/// (exit code, stdout, stderr). Fails the test after [`TIMEOUT`].
pub fn run(args: &[&str], stdin: Stdio) -> (i32, Vec<u8>, String) {
    let mut cmd = netkit();
    cmd.args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let out = proc.stdout_bytes();
    let err = proc.stderr_bytes();
    let status = proc.wait(TIMEOUT);
    (code(status), out.join(), err.text())
}

/// A netkit run in progress, its stdout and stderr collected by threads.
pub struct Running {
    pub proc: Proc,
    pub out: Collector,
    pub err: Collector,
}

/// Starts netkit with `stdin`, collecting stdout and stderr.
pub fn start(args: &[&str], stdin: Stdio) -> Running {
    let mut cmd = netkit();
    cmd.args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let out = proc.stdout_bytes();
    let err = proc.stderr_bytes();
    Running { proc, out, err }
}

impl Running {
    /// Waits up to `limit`: (exit code or `None` if it had to be killed,
    /// stdout, stderr).
    pub fn finish(mut self, limit: Duration) -> (Option<i32>, Vec<u8>, String) {
        let status = self.proc.wait_or_kill(limit);
        let code = status.map(code);
        (code, self.out.join(), self.err.text())
    }
}

/// Like [`run`], writing `input` to a stdin pipe (then EOF).
pub fn run_with_input(args: &[&str], input: &[u8]) -> (i32, Vec<u8>, String) {
    let (status, out, err) = run_fed(args, input, TIMEOUT);
    let status =
        status.unwrap_or_else(|| panic!("netkit {args:?} still running after {TIMEOUT:?}"));
    (status, out, err)
}

/// `netkit ARGS` with `input` written to its stdin pipe (then EOF): its
/// exit code (`None`: still running after `limit`, killed), stdout and
/// stderr.
pub fn run_fed(args: &[&str], input: &[u8], limit: Duration) -> (Option<i32>, Vec<u8>, String) {
    let mut cmd = netkit();
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut proc = Proc::spawn(&mut cmd);
    let writer = feed(proc.take_stdin(), input.to_vec());
    let out = proc.stdout_bytes();
    let err = proc.stderr_bytes();
    let status = proc.wait_or_kill(limit).map(code);
    writer.join().unwrap();
    (status, out.join(), err.text())
}

/// Whether ::1 can be bound here.
pub fn ipv6_loopback() -> Option<(TcpListener, u16)> {
    match TcpListener::bind("[::1]:0") {
        Ok(l) => {
            let port = l.local_addr().unwrap().port();
            Some((l, port))
        }
        Err(e) => {
            eprintln!("skipping: cannot bind [::1]: {e}");
            None
        }
    }
}

/// A TTY helper: runs `argv` with a pseudo-terminal as stdin (stdout and
/// stderr are inherited from the helper). It writes `line` into the terminal,
/// then waits for a byte on its own stdin before typing Ctrl-D (EOF), and
/// exits with the child's status.
pub const PTY_HELPER: &str = r#"
import os, pty, subprocess, sys, threading
argv = sys.argv[2:]
line = sys.argv[1].encode()
master, slave = pty.openpty()
p = subprocess.Popen(argv, stdin=slave)
os.close(slave)
def drain():
    try:
        while os.read(master, 4096):
            pass
    except OSError:
        pass
threading.Thread(target=drain, daemon=True).start()
if line:
    os.write(master, line)
go = sys.stdin.buffer.read(1)
if go == b"d":
    os.write(master, b"\x04")
rc = p.wait()
os.close(master)
sys.exit(rc if rc >= 0 else 128 - rc)
"#;

/// Starts [`PTY_HELPER`] around `netkit ARGS`; its stdin is the go signal.
pub fn spawn_with_tty(args: &[&str], line: &str) -> Proc {
    let mut cmd = Command::new("python3");
    cmd.arg("-c")
        .arg(PTY_HELPER)
        .arg(line)
        .arg(env!("CARGO_BIN_EXE_netkit"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    Proc::spawn(&mut cmd)
}

// ---------------------------------------------------------------------------
// TLS

/// PEM files of a test PKI: a CA, and a server certificate it signed.
pub struct Pki {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A fresh CA and a server certificate for `names` signed by it, as PEM
/// files in `dir`.
pub fn make_pki(dir: &Path, names: &[&str]) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "netkit test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
    };
    std::fs::write(&pki.ca, ca_cert.pem()).unwrap();
    std::fs::write(&pki.cert, cert.pem()).unwrap();
    std::fs::write(&pki.key, key.serialize_pem()).unwrap();
    pki
}
/// Builds a getaddrinfo shim that sleeps `SLOW_GETADDRINFO_MS` first (for
/// LD_PRELOAD): a slow resolver without a network.
pub fn slow_resolver_shim() -> Option<std::path::PathBuf> {
    if !require_peer("cc") {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("netkit-slow-dns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("slow.c");
    let lib = dir.join("slow.so");
    if lib.exists() {
        return Some(lib);
    }
    std::fs::write(
        &src,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <unistd.h>
int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res) {
    const char *ms = getenv("SLOW_GETADDRINFO_MS");
    if (ms) usleep(atoi(ms) * 1000);
    int (*real)(const char *, const char *, const struct addrinfo *,
                struct addrinfo **) = dlsym(RTLD_NEXT, "getaddrinfo");
    return real(node, service, hints, res);
}
"#,
    )
    .unwrap();
    let tmp = dir.join(format!("slow-{:?}.so", thread::current().id()));
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&tmp)
        .arg(&src)
        .arg("-ldl")
        .status()
        .expect("run cc");
    assert!(status.success(), "cc failed");
    let _ = std::fs::rename(&tmp, &lib);
    Some(lib)
}

/// `netkit ARGS` with getaddrinfo slowed down by `ms`: (exit code, stderr,
/// how long it ran).
pub fn with_slow_resolver(
    lib: &std::path::Path,
    ms: u32,
    args: &[&str],
) -> (i32, String, Duration) {
    let mut cmd = netkit();
    cmd.args(args)
        .env("LD_PRELOAD", lib)
        .env("SLOW_GETADDRINFO_MS", ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = std::time::Instant::now();
    let mut proc = Proc::spawn(&mut cmd);
    let err = proc.stderr_bytes();
    let status = proc.wait(TIMEOUT);
    (code(status), err.text(), started.elapsed())
}

pub mod chat;
pub mod fault;

pub mod ws;
