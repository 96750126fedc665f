//! `netkit bench [URL]`: polling vs long polling vs WebSocket on a chat
//! server (`ws listen --chat`), measured.
//!
//! Per transport, N receiving clients and one publisher run on one mio
//! loop (no thread per client). The publisher POSTs M messages at R per
//! second on one keep-alive connection; each text carries its publish time
//! (microseconds since the bench began, the bench's own monotonic clock),
//! so publish→receipt latency is exact. Receivers: WebSocket clients
//! (`?format=json`), long pollers (`GET /messages?since=N&wait=30s`, asked
//! again at once) and pollers (`GET /messages?since=N` every `--interval`,
//! staggered over the interval). Latencies go into a fixed-size histogram;
//! each client keeps a bitmap of the messages it got (lost, duplicated);
//! bytes are counted at the receivers' sockets.
//!
//! Without a URL the bench starts its own server: the current executable
//! as `ws listen --chat` on 127.0.0.1, stopped at the end. With several
//! URLs (servers sharing one room through `--redis`) receiver `i` talks to
//! server `i % n`, and one publisher per server takes the messages in
//! turn. Messages are told apart by their text `b<k>.<run> <t_us>` (the
//! seq is opaque: a number, or a Redis Stream ID), and each poller's
//! cursor is the last seq it got.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::net::TcpStream;
use mio::{Interest, Token};

use crate::cli::{BenchArgs, BenchTransport};
use crate::error::{Error, Exit, Result};
use crate::event::{BenchRecord, Event};
use crate::output::Output;
use crate::poll::Stats;
use crate::reactor::{Ctx, Handler, Reactor};

/// Largest response or frame a receiver buffers.
const MAX_IN: usize = 16 << 20;
/// How long the bench waits for the last deliveries after the last publish
/// (plus one polling interval).
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ws,
    Long,
    Poll,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Ws => "ws",
            Kind::Long => "long-poll",
            Kind::Poll => "poll",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Timer {
    /// Poller `i` asks again.
    Poll(usize),
    Publish,
    /// Check that everybody is ready, then publish.
    Start,
    Deadline,
}

struct Receiver {
    stream: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// WebSocket: past the 101.
    open: bool,
    /// HTTP: a request is out.
    asking: bool,
    /// The last seq received (`since=`).
    cursor: String,
    /// The server it talks to (`Host:`).
    host: String,
    got: Vec<u64>,
    unique: u64,
    dups: u64,
    bytes: u64,
    requests: u64,
    empty: u64,
}

struct Publisher {
    stream: TcpStream,
    out: Vec<u8>,
    host: String,
}

struct Bench<'o> {
    kind: Kind,
    interval: Duration,
    messages: u64,
    rate: f64,
    /// Tags this run's message texts.
    run: u64,
    receivers: Vec<Receiver>,
    publishers: Vec<Publisher>,
    published: u64,
    started: Instant,
    stats: Stats,
    connections: u64,
    publishing: bool,
    pub_start: Instant,
    last_publish: Option<Instant>,
    done: bool,
    out: &'o mut Output,
}

pub fn run(args: BenchArgs, out: &mut Output) -> Result<Exit> {
    let mut child = None;
    let addrs = if args.url.is_empty() {
        let (c, addr) = spawn_server()?;
        child = Some(c);
        vec![addr]
    } else {
        args.url
            .iter()
            .map(|u| resolve(u))
            .collect::<Result<Vec<_>>>()?
    };
    let kinds: Vec<Kind> = match args.transport {
        BenchTransport::Ws => vec![Kind::Ws],
        BenchTransport::LongPoll => vec![Kind::Long],
        BenchTransport::Poll => vec![Kind::Poll],
        BenchTransport::All => vec![Kind::Ws, Kind::Long, Kind::Poll],
    };
    let mut results = Vec::new();
    let mut outcome = Ok(Exit::Ok);
    for (i, kind) in kinds.into_iter().enumerate() {
        match run_one(kind, &addrs, &args, i == 0, out) {
            Ok(r) => {
                if r.lost > 0 || r.duplicated > 0 {
                    outcome = Ok(Exit::Failed);
                }
                results.push(r);
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    if let (Some(path), false) = (&args.svg, results.is_empty()) {
        std::fs::write(path, svg(&results))
            .map_err(|e| Error::io(path.display().to_string(), &e))?;
    }
    outcome
}

fn resolve(url: &str) -> Result<SocketAddr> {
    let u = url::Url::parse(url).map_err(|e| Error::usage(url, e.to_string()))?;
    let host = u
        .host_str()
        .ok_or_else(|| Error::usage(url, "no host"))?
        .trim_matches(['[', ']']);
    let port = u.port_or_known_default().unwrap_or(80);
    (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::new(Exit::Resolve, host, e.to_string()))?
        .next()
        .ok_or_else(|| Error::new(Exit::Resolve, host, "no address"))
}

/// `netkit --json ws listen --chat --bind 127.0.0.1 0`, its port from its
/// first event.
fn spawn_server() -> Result<(Child, SocketAddr)> {
    let exe = std::env::current_exe().map_err(|e| Error::io("bench", &e))?;
    let mut child = Command::new(exe)
        .args(["--json", "ws", "listen", "--chat", "--bind", "127.0.0.1"])
        .args(["--max-clients", "60000", "--history", "100000", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::io("bench: starting the chat server", &e))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::io("bench", &io::Error::other("no stdout")))?;
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    reader
        .read_line(&mut line)
        .map_err(|e| Error::io("bench: the chat server", &e))?;
    // Its further events are drained (a closed stdout would end it).
    std::thread::spawn(move || io::copy(&mut reader, &mut io::sink()));
    let port = serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|v| v["port"].as_u64())
        .ok_or_else(|| {
            Error::new(
                Exit::Failed,
                "bench",
                format!("the chat server said {line:?}"),
            )
        })?;
    Ok((child, SocketAddr::from(([127, 0, 0, 1], port as u16))))
}

/// One blocking request to learn the last seq (the POST's answer: a
/// number, or a string with `--redis`).
fn last_seq(addr: SocketAddr) -> Result<String> {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| Error::io(addr.to_string(), &e))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let body = "bench start";
    let req = format!(
        "POST /messages?name=bench HTTP/1.1\r\nHost: bench\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .map_err(|e| Error::io("bench", &e))?;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(body.trim()).ok())
        .and_then(|v| seq_text(&v["seq"]))
        .ok_or_else(|| {
            Error::new(
                Exit::Protocol,
                "bench",
                format!("not a chat server: {text:?}"),
            )
        })
}

/// A seq as the cursor's text: `12` or `1764130000000-0`.
fn seq_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = TcpStream::connect(addr).map_err(|e| Error::io(addr.to_string(), &e))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

fn run_one(
    kind: Kind,
    addrs: &[SocketAddr],
    args: &BenchArgs,
    first: bool,
    out: &mut Output,
) -> Result<BenchRecord> {
    let base = last_seq(addrs[0])?;
    let mut reactor: Reactor<Timer> = Reactor::new()?;
    let n = args.clients as usize;
    let words = (args.messages as usize).div_ceil(64);
    let mut receivers = Vec::with_capacity(n);
    for i in 0..n {
        let addr = addrs[i % addrs.len()];
        let mut stream = connect(addr)?;
        reactor
            .registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| Error::io("bench", &e))?;
        receivers.push(Receiver {
            stream,
            inbuf: Vec::new(),
            out: Vec::new(),
            open: false,
            asking: false,
            cursor: base.clone(),
            host: addr.to_string(),
            got: vec![0; words],
            unique: 0,
            dups: 0,
            bytes: 0,
            requests: 0,
            empty: 0,
        });
    }
    let mut publishers = Vec::with_capacity(addrs.len());
    for (j, addr) in addrs.iter().enumerate() {
        let mut stream = connect(*addr)?;
        reactor
            .registry()
            .register(
                &mut stream,
                Token(n + j),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| Error::io("bench", &e))?;
        publishers.push(Publisher {
            stream,
            out: Vec::new(),
            host: addr.to_string(),
        });
    }
    let now = Instant::now();
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut bench = Bench {
        kind,
        interval: args.interval,
        messages: args.messages,
        rate: args.rate,
        run,
        receivers,
        publishers,
        published: 0,
        started: now,
        stats: Stats::default(),
        connections: (n + addrs.len()) as u64,
        publishing: false,
        pub_start: now,
        last_publish: None,
        done: false,
        out,
    };
    {
        let cx = reactor.ctx();
        for i in 0..n {
            match kind {
                Kind::Ws => {
                    let req = format!(
                        "GET /?name=bench{i}&format=json HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                        bench.receivers[i].host
                    );
                    bench.receivers[i].out.extend_from_slice(req.as_bytes());
                }
                Kind::Long => bench.ask(i),
                Kind::Poll => {
                    let offset = args.interval.mul_f64(i as f64 / n.max(1) as f64);
                    cx.timers.add(now + offset, Timer::Poll(i));
                }
            }
        }
        cx.timers
            .add(now + Duration::from_millis(200), Timer::Start);
    }
    reactor.run(&mut bench)?;
    let delivered: u64 = bench.receivers.iter().map(|r| r.unique).sum();
    let expected = bench.messages * n as u64;
    let requests: u64 = bench.receivers.iter().map(|r| r.requests).sum();
    let empty: u64 = bench.receivers.iter().map(|r| r.empty).sum();
    let bytes: u64 = bench.receivers.iter().map(|r| r.bytes).sum();
    let secs = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64());
    let record = BenchRecord {
        transport: kind.name(),
        clients: n as u64,
        messages: bench.messages,
        latency_p50: secs(bench.stats.quantile(0.5)),
        latency_p95: secs(bench.stats.quantile(0.95)),
        latency_p99: secs(bench.stats.quantile(0.99)),
        latency_max: secs(bench.stats.max()),
        requests,
        empty_responses: empty,
        bytes_per_message: if delivered > 0 {
            bytes as f64 / delivered as f64
        } else {
            0.0
        },
        requests_per_message: if delivered > 0 {
            requests as f64 / delivered as f64
        } else {
            0.0
        },
        lost: expected.saturating_sub(delivered),
        duplicated: bench.receivers.iter().map(|r| r.dups).sum(),
        connections: bench.connections,
        header: first,
    };
    bench.out.emit(&Event::BenchResult(&record))?;
    Ok(record)
}

impl Bench<'_> {
    fn ask(&mut self, i: usize) {
        let r = &mut self.receivers[i];
        if r.asking {
            return;
        }
        let wait = if self.kind == Kind::Long {
            "&wait=30s"
        } else {
            ""
        };
        let req = format!(
            "GET /messages?since={}{wait} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\r\n",
            r.cursor, r.host
        );
        r.out.extend_from_slice(req.as_bytes());
        r.asking = true;
        r.requests += 1;
        Self::flush(r);
    }

    fn flush(r: &mut Receiver) {
        while !r.out.is_empty() {
            match r.stream.write(&r.out) {
                Ok(0) => return,
                Ok(k) => {
                    r.bytes += k as u64;
                    r.out.drain(..k);
                }
                Err(_) => return,
            }
        }
    }

    /// A message text `b<k>.<run> <t_us>` with its seq (in order).
    fn deliver(&mut self, i: usize, seq: String, text: &str, now: Instant) {
        let r = &mut self.receivers[i];
        r.cursor = seq;
        let Some((k, run)) = text
            .split(' ')
            .next()
            .and_then(|t| t.strip_prefix('b'))
            .and_then(|t| t.split_once('.'))
        else {
            return;
        };
        let (Ok(k), Ok(run)) = (k.parse::<u64>(), run.parse::<u64>()) else {
            return;
        };
        if run != self.run || k == 0 || k > self.messages {
            return;
        }
        let k = (k - 1) as usize;
        let (w, bit) = (k / 64, 1u64 << (k % 64));
        if r.got[w] & bit != 0 {
            r.dups += 1;
            return;
        }
        r.got[w] |= bit;
        r.unique += 1;
        if let Some(us) = text.split(' ').nth(1).and_then(|t| t.parse::<u64>().ok()) {
            let sent = self.started + Duration::from_micros(us);
            self.stats.latency(now.saturating_duration_since(sent));
        }
    }

    fn read(&mut self, i: usize, now: Instant) -> Result<()> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            let r = &mut self.receivers[i];
            match r.stream.read(&mut buf) {
                Ok(0) => return self.reconnect(i),
                Ok(k) => {
                    r.bytes += k as u64;
                    if r.inbuf.len() + k > MAX_IN {
                        return Err(Error::new(Exit::Protocol, "bench", "an answer over 16 MiB"));
                    }
                    r.inbuf.extend_from_slice(&buf[..k]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.reconnect(i),
            }
        }
        match self.kind {
            Kind::Ws => self.ws_frames(i, now),
            _ => self.http_answers(i, now),
        }
    }

    /// The server closed a connection (the chat server keeps them open).
    fn reconnect(&mut self, i: usize) -> Result<()> {
        let _ = i;
        Err(Error::new(
            Exit::Refused,
            "bench",
            "the server closed a client's connection",
        ))
    }

    fn http_answers(&mut self, i: usize, now: Instant) -> Result<()> {
        loop {
            let r = &mut self.receivers[i];
            let Some(end) = r.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Ok(());
            };
            let head = String::from_utf8_lossy(&r.inbuf[..end]).into_owned();
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if r.inbuf.len() < end + 4 + len {
                return Ok(());
            }
            let body: Vec<u8> = r.inbuf[end + 4..end + 4 + len].to_vec();
            r.inbuf.drain(..end + 4 + len);
            r.asking = false;
            if status == 204 || status == 304 {
                r.empty += 1;
            } else if status != 200 {
                return Err(Error::new(
                    Exit::Protocol,
                    "bench",
                    format!("the server answered {status}"),
                ));
            }
            for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) {
                    if let (Some(seq), Some(text)) = (seq_text(&v["seq"]), v["text"].as_str()) {
                        self.deliver(i, seq, text, now);
                    }
                }
            }
            if self.kind == Kind::Long && !self.done {
                self.ask(i);
            }
        }
    }

    fn ws_frames(&mut self, i: usize, now: Instant) -> Result<()> {
        let r = &mut self.receivers[i];
        if !r.open {
            let Some(end) = r.inbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
                return Ok(());
            };
            if !r.inbuf.starts_with(b"HTTP/1.1 101") {
                return Err(Error::new(
                    Exit::Protocol,
                    "bench",
                    "the WebSocket upgrade was refused",
                ));
            }
            r.inbuf.drain(..end + 4);
            r.open = true;
        }
        loop {
            let r = &mut self.receivers[i];
            let b = &r.inbuf;
            if b.len() < 2 {
                return Ok(());
            }
            let op = b[0] & 0x0f;
            let (len, at) = match b[1] & 0x7f {
                126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                127 if b.len() >= 10 => {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(&b[2..10]);
                    (u64::from_be_bytes(n) as usize, 10)
                }
                126 | 127 => return Ok(()),
                n => (n as usize, 2),
            };
            if b.len() < at + len {
                return Ok(());
            }
            let payload = b[at..at + len].to_vec();
            r.inbuf.drain(..at + len);
            if op == 1 && payload.first() == Some(&b'{') {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&payload) {
                    if let (Some(seq), Some(text)) = (seq_text(&v["seq"]), v["text"].as_str()) {
                        self.deliver(i, seq, text, now);
                    }
                }
            } else if op == 8 {
                return Err(Error::new(
                    Exit::Refused,
                    "bench",
                    "the server closed a WebSocket",
                ));
            }
        }
    }

    fn publish(&mut self) {
        let us = self.started.elapsed().as_micros();
        let body = format!("b{}.{} {us}", self.published + 1, self.run);
        let j = self.published as usize % self.publishers.len();
        let p = &mut self.publishers[j];
        let req = format!(
            "POST /messages?name=bench HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n{body}",
            p.host,
            body.len()
        );
        p.out.extend_from_slice(req.as_bytes());
        self.published += 1;
        Self::flush_publisher(p);
    }

    fn flush_publisher(p: &mut Publisher) {
        while !p.out.is_empty() {
            match p.stream.write(&p.out) {
                Ok(0) => return,
                Ok(k) => {
                    p.out.drain(..k);
                }
                Err(_) => return,
            }
        }
    }

    fn all_done(&self) -> bool {
        self.receivers.iter().all(|r| r.unique >= self.messages)
    }
}

impl Handler for Bench<'_> {
    type Timer = Timer;

    fn ready(&mut self, cx: &mut Ctx<Timer>, token: Token, event: &MioEvent) -> Result<()> {
        let i = token.0;
        if i >= self.receivers.len() {
            let Some(p) = self.publishers.get_mut(i - self.receivers.len()) else {
                return Ok(());
            };
            if event.is_writable() {
                Self::flush_publisher(p);
            }
            let mut sink = [0u8; 16 * 1024];
            while let Ok(k) = p.stream.read(&mut sink) {
                if k == 0 {
                    return Err(Error::new(
                        Exit::Refused,
                        "bench",
                        "the server closed the publisher",
                    ));
                }
                // A refusal (503: Redis away) is a lost message, said.
                if sink[..k].windows(13).any(|w| w == b"HTTP/1.1 503 ") {
                    self.out.warn("bench: a message was refused (503)");
                }
            }
            return Ok(());
        }
        if event.is_writable() {
            Self::flush(&mut self.receivers[i]);
        }
        if event.is_readable() {
            self.read(i, cx.now)?;
        }
        Ok(())
    }

    fn timeout(&mut self, cx: &mut Ctx<Timer>, timer: Timer) -> Result<()> {
        match timer {
            Timer::Start => {
                let ready = self.kind != Kind::Ws || self.receivers.iter().all(|r| r.open);
                if !ready {
                    cx.timers
                        .add(cx.now + Duration::from_millis(50), Timer::Start);
                    return Ok(());
                }
                self.publishing = true;
                self.pub_start = cx.now;
                cx.timers.add(cx.now, Timer::Publish);
            }
            Timer::Publish => {
                if self.published < self.messages {
                    self.publish();
                    // On a schedule from the first publish: no drift.
                    let every = Duration::from_secs_f64(1.0 / self.rate.max(0.001));
                    let next = self.pub_start + every.mul_f64(self.published as f64);
                    cx.timers.add(next, Timer::Publish);
                } else if self.last_publish.is_none() {
                    self.last_publish = Some(cx.now);
                    let wait = DRAIN
                        + if self.kind == Kind::Poll {
                            self.interval * 2
                        } else {
                            Duration::ZERO
                        };
                    cx.timers.add(cx.now + wait, Timer::Deadline);
                }
            }
            Timer::Poll(i) => {
                if !self.done {
                    if !self.receivers[i].asking {
                        self.ask(i);
                    }
                    cx.timers.add(cx.now + self.interval, Timer::Poll(i));
                }
            }
            Timer::Deadline => self.done = true,
        }
        Ok(())
    }

    fn finished(&mut self, _cx: &mut Ctx<Timer>) -> Result<Option<Exit>> {
        if self.done || (self.publishing && self.published >= self.messages && self.all_done()) {
            self.done = true;
            return Ok(Some(Exit::Ok));
        }
        Ok(None)
    }
}

/// A grouped bar chart of p50/p95/p99 per transport, hand-written SVG.
fn svg(results: &[BenchRecord]) -> String {
    let (w, h, left, bottom) = (640.0, 360.0, 60.0, 40.0);
    let max = results
        .iter()
        .map(|r| r.latency_p99)
        .fold(0.0f64, f64::max)
        .max(1e-6)
        * 1.15;
    let plot_h = h - bottom - 20.0;
    let group = (w - left - 20.0) / results.len() as f64;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"14\">delivery latency (ms): p50, p95, p99</text>\n"
    );
    for t in 0..=4 {
        let v = max * t as f64 / 4.0;
        let y = h - bottom - plot_h * t as f64 / 4.0;
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{:.1}</text>\n",
            w - 20.0,
            left - 6.0,
            y + 4.0,
            v * 1000.0
        ));
    }
    let colors = ["#4c78a8", "#f58518", "#e45756"];
    for (g, r) in results.iter().enumerate() {
        let x0 = left + group * g as f64 + group * 0.15;
        let bw = group * 0.7 / 3.0;
        for (k, v) in [r.latency_p50, r.latency_p95, r.latency_p99]
            .iter()
            .enumerate()
        {
            let bh = plot_h * v / max;
            s.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"{}\"/>\n",
                x0 + bw * k as f64,
                h - bottom - bh,
                colors[k]
            ));
        }
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} ({:.2} req/msg)</text>\n",
            x0 + bw * 1.5,
            h - bottom + 18.0,
            r.transport,
            r.requests_per_message
        ));
    }
    s.push_str("</svg>\n");
    s
}
