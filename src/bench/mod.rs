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

use crate::config::bench::{BenchConfig, BenchKind, BenchServer};
use crate::error::{Error, Exit, Result};
use crate::event::{BenchRecord, Event};
use crate::output::Output;
use crate::poll::Stats;
use crate::reactor::{Ctx, Handler, Reactor};

/// Largest response or frame a receiver buffers.
const MAX_IN: usize = 16 << 20;
/// Receivers (WebSocket and long-poll) from which the loop stays awake
/// while a message is in flight (see `Bench::pushing`).
const SPIN_MIN: usize = 1000;
/// Before the first publish the room must have been quiet this long (no
/// byte to any receiver): the server's join notices for the bench's own
/// clients, batched, are out, so they do not ride with the first message.
const SETTLE: Duration = Duration::from_millis(300);
/// Publishing starts after this long however busy the room stays.
const SETTLE_MAX: Duration = Duration::from_secs(3);
/// How long the bench waits for the last deliveries after the last publish
/// (plus one polling interval).
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy)]
enum BenchTimer {
    /// Poller `i` asks again.
    Poll(usize),
    Publish,
    /// Check that everybody is ready, then publish.
    Start,
    Deadline,
    /// Look again at once: receivers are awake while a push is in flight.
    Spin,
}

struct Receiver {
    kind: BenchKind,
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

/// The receivers of one transport: `receivers[range]`.
struct Group {
    kind: BenchKind,
    range: std::ops::Range<usize>,
    stats: Stats,
    /// Messages received, duplicates left out.
    delivered: u64,
}

struct Publisher {
    stream: TcpStream,
    out: Vec<u8>,
    host: String,
}

struct Bench<'o> {
    groups: Vec<Group>,
    interval: Duration,
    messages: u64,
    rate: f64,
    /// Tags this run's message texts.
    run: u64,
    receivers: Vec<Receiver>,
    publishers: Vec<Publisher>,
    published: u64,
    started: Instant,
    /// Receivers that have every message.
    complete: usize,
    /// Long pollers answered this turn, to ask again before the next wait.
    ask_again: Vec<usize>,
    /// [`SPIN_MIN`] push receivers or more: awake while a push is in
    /// flight (see `pushing`).
    spins: bool,
    /// When a receiver last read a byte (the room settling before the
    /// first publish).
    last_rx: Instant,
    /// When every WebSocket receiver was first seen open.
    opened: Option<Instant>,
    /// One read buffer for every receiver (not zeroed per read).
    rbuf: Box<[u8]>,
    publishing: bool,
    pub_start: Instant,
    last_publish: Option<Instant>,
    done: bool,
    out: &'o mut Output,
}

pub fn run(cfg: BenchConfig, out: &mut Output) -> Result<Exit> {
    let mut child = None;
    let addrs = match &cfg.server {
        BenchServer::Spawn => {
            let (c, addr) = spawn_server()?;
            child = Some(c);
            vec![addr]
        }
        BenchServer::At(servers) => servers
            .iter()
            .map(|(host, port)| resolve(host, *port))
            .collect::<Result<Vec<_>>>()?,
    };
    let mut results = Vec::new();
    let mut outcome = Ok(Exit::Ok);
    for groups in &cfg.runs {
        match run_one(groups, &addrs, &cfg, results.is_empty(), out) {
            Ok(records) => {
                if records.iter().any(|r| r.lost > 0 || r.duplicated > 0) {
                    outcome = Ok(Exit::Failed);
                }
                results.extend(records);
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
    if let (Some(path), false) = (&cfg.svg, results.is_empty()) {
        std::fs::write(path, svg(&results))
            .map_err(|e| Error::io(path.display().to_string(), &e))?;
    }
    outcome
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
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

/// One run: the groups' receivers at once, one record per group.
fn run_one(
    groups: &[(BenchKind, usize)],
    addrs: &[SocketAddr],
    cfg: &BenchConfig,
    first: bool,
    out: &mut Output,
) -> Result<Vec<BenchRecord>> {
    let base = last_seq(addrs[0])?;
    let mut reactor: Reactor<BenchTimer> = Reactor::new()?;
    let n: usize = groups.iter().map(|&(_, n)| n).sum();
    let words = (cfg.messages as usize).div_ceil(64);
    let mut receivers = Vec::with_capacity(n);
    let mut group_list = Vec::with_capacity(groups.len());
    for &(kind, count) in groups {
        let from = receivers.len();
        for _ in 0..count {
            let i = receivers.len();
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
                kind,
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
        group_list.push(Group {
            kind,
            range: from..receivers.len(),
            stats: Stats::default(),
            delivered: 0,
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
        groups: group_list,
        interval: cfg.interval,
        messages: cfg.messages,
        rate: cfg.rate,
        run,
        receivers,
        publishers,
        published: 0,
        started: now,
        complete: 0,
        ask_again: Vec::new(),
        spins: groups
            .iter()
            .filter(|&&(kind, _)| kind != BenchKind::Poll)
            .map(|&(_, n)| n)
            .sum::<usize>()
            >= SPIN_MIN,
        last_rx: now,
        opened: None,
        rbuf: vec![0; 64 * 1024].into_boxed_slice(),
        publishing: false,
        pub_start: now,
        last_publish: None,
        done: false,
        out,
    };
    {
        let cx = reactor.ctx();
        for (g, &(_, count)) in groups.iter().enumerate() {
            for j in 0..count {
                let i = bench.groups[g].range.start + j;
                match bench.receivers[i].kind {
                    BenchKind::Ws => {
                        let req = format!(
                            "GET /?name=bench{i}&format=json HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                            bench.receivers[i].host
                        );
                        bench.receivers[i].out.extend_from_slice(req.as_bytes());
                    }
                    BenchKind::LongPoll => bench.ask(i),
                    BenchKind::Poll => {
                        let offset = cfg.interval.mul_f64(j as f64 / count.max(1) as f64);
                        cx.timers.add(now + offset, BenchTimer::Poll(i));
                    }
                }
            }
        }
        cx.timers
            .add(now + Duration::from_millis(200), BenchTimer::Start);
    }
    reactor.run(&mut bench)?;
    let secs = |d: Option<Duration>| d.map_or(0.0, |d| d.as_secs_f64());
    let mut records = Vec::with_capacity(bench.groups.len());
    for (g, group) in bench.groups.iter().enumerate() {
        let rs = &bench.receivers[group.range.clone()];
        let sum = |f: fn(&Receiver) -> u64| -> u64 { rs.iter().map(f).sum() };
        let delivered = sum(|r| r.unique);
        let (requests, bytes) = (sum(|r| r.requests), sum(|r| r.bytes));
        let per_message = |x: u64| {
            if delivered > 0 {
                x as f64 / delivered as f64
            } else {
                0.0
            }
        };
        let record = BenchRecord {
            transport: group.kind.name(),
            clients: rs.len() as u64,
            messages: bench.messages,
            latency_p50: secs(group.stats.quantile(0.5)),
            latency_p95: secs(group.stats.quantile(0.95)),
            latency_p99: secs(group.stats.quantile(0.99)),
            latency_max: secs(group.stats.max()),
            requests,
            empty_responses: sum(|r| r.empty),
            bytes_per_message: per_message(bytes),
            requests_per_message: per_message(requests),
            lost: (bench.messages * rs.len() as u64).saturating_sub(delivered),
            duplicated: sum(|r| r.dups),
            // The publishers' connections are counted once, with the first.
            connections: rs.len() as u64 + if g == 0 { addrs.len() as u64 } else { 0 },
            header: first && g == 0,
        };
        bench.out.emit(&Event::BenchResult(&record))?;
        records.push(record);
    }
    Ok(records)
}

impl Bench<'_> {
    fn ask(&mut self, i: usize) {
        let r = &mut self.receivers[i];
        if r.asking {
            return;
        }
        let wait = if r.kind == BenchKind::LongPoll {
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
        if r.unique == self.messages {
            self.complete += 1;
        }
        let Some(g) = self.groups.iter_mut().find(|g| g.range.contains(&i)) else {
            return;
        };
        g.delivered += 1;
        if let Some(us) = text.split(' ').nth(1).and_then(|t| t.parse::<u64>().ok()) {
            let sent = self.started + Duration::from_micros(us);
            g.stats.latency(now.saturating_duration_since(sent));
        }
    }

    fn read(&mut self, i: usize) -> Result<()> {
        let buf = &mut self.rbuf;
        loop {
            let r = &mut self.receivers[i];
            match r.stream.read(buf) {
                Ok(0) => return self.reconnect(i),
                Ok(k) => {
                    r.bytes += k as u64;
                    self.last_rx = Instant::now();
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
        // The receipt time is when the bytes are read, not the loop turn's.
        let now = Instant::now();
        match self.receivers[i].kind {
            BenchKind::Ws => self.ws_frames(i, now),
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
            if self.receivers[i].kind == BenchKind::LongPoll && !self.done {
                // Asked again once this turn's answers are all read, so
                // that one poller's new request does not delay the
                // receipt of the others' answers.
                self.ask_again.push(i);
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

    /// A published message has not reached every WebSocket or long-poll
    /// receiver yet, and they are many. Meanwhile the loop does not sleep:
    /// on loopback the kernel wakes a sleeping receiver inside the server's
    /// send, so with thousands of receivers a sleeping bench would bill
    /// the server about a third more per message than remote clients cost
    /// it (measured: 10,000 WebSocket and 1,000 long-poll receivers, last
    /// receipt 138 ms asleep, 104 ms awake, under load). With a few
    /// hundred the spinning only takes a core from the server (100
    /// receivers: p99 6.4 ms awake, 2.0 ms asleep), so below [`SPIN_MIN`]
    /// the loop sleeps. Pollers are left out (they wait on purpose).
    fn pushing(&self) -> bool {
        self.spins
            && self.groups.iter().any(|g| {
                g.kind != BenchKind::Poll && g.delivered < self.published * g.range.len() as u64
            })
    }

    fn all_done(&self) -> bool {
        self.complete == self.receivers.len()
    }
}

impl Handler for Bench<'_> {
    type Timer = BenchTimer;

    fn ready(&mut self, _: &mut Ctx<BenchTimer>, token: Token, event: &MioEvent) -> Result<()> {
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
            self.read(i)?;
        }
        Ok(())
    }

    fn timeout(&mut self, cx: &mut Ctx<BenchTimer>, timer: BenchTimer) -> Result<()> {
        match timer {
            BenchTimer::Start => {
                let open = self
                    .receivers
                    .iter()
                    .all(|r| r.kind != BenchKind::Ws || r.open);
                let opened = *self.opened.get_or_insert(cx.now);
                let settled = cx.now.saturating_duration_since(self.last_rx) >= SETTLE;
                let ready = open && (settled || cx.now >= opened + SETTLE_MAX);
                if !open {
                    self.opened = None;
                }
                if !ready {
                    cx.timers
                        .add(cx.now + Duration::from_millis(50), BenchTimer::Start);
                    return Ok(());
                }
                self.publishing = true;
                self.pub_start = cx.now;
                cx.timers.add(cx.now, BenchTimer::Publish);
            }
            BenchTimer::Publish => {
                if self.published < self.messages {
                    self.publish();
                    // On a schedule from the first publish: no drift.
                    let every = Duration::from_secs_f64(1.0 / self.rate.max(0.001));
                    let next = self.pub_start + every.mul_f64(self.published as f64);
                    cx.timers.add(next, BenchTimer::Publish);
                } else if self.last_publish.is_none() {
                    self.last_publish = Some(cx.now);
                    let wait = DRAIN
                        + if self.groups.iter().any(|g| g.kind == BenchKind::Poll) {
                            self.interval * 2
                        } else {
                            Duration::ZERO
                        };
                    cx.timers.add(cx.now + wait, BenchTimer::Deadline);
                }
            }
            BenchTimer::Poll(i) => {
                if !self.done {
                    if !self.receivers[i].asking {
                        self.ask(i);
                    }
                    cx.timers.add(cx.now + self.interval, BenchTimer::Poll(i));
                }
            }
            BenchTimer::Deadline => self.done = true,
            BenchTimer::Spin => {}
        }
        Ok(())
    }

    fn finished(&mut self, cx: &mut Ctx<BenchTimer>) -> Result<Option<Exit>> {
        for i in std::mem::take(&mut self.ask_again) {
            if !self.done {
                self.ask(i);
            }
        }
        if self.pushing() {
            cx.timers.add(cx.now, BenchTimer::Spin);
        }
        if self.done || (self.publishing && self.published >= self.messages && self.all_done()) {
            self.done = true;
            return Ok(Some(Exit::Ok));
        }
        Ok(None)
    }
}

/// The chart of a run, hand-written SVG: per transport, the latency
/// distribution (p50, p95, p99, max on a log scale, since polling is three
/// orders slower than a push) and the bytes on the wire per message.
fn svg(results: &[BenchRecord]) -> String {
    const W: f64 = 760.0;
    const H: f64 = 360.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 50.0;
    const COLORS: [&str; 4] = ["#4c78a8", "#f58518", "#e45756", "#72b7b2"];
    let plot_h = H - TOP - BOTTOM;
    let base = H - BOTTOM;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    // Left: latency, decades from the smallest to the largest figure.
    let (lx, lw) = (60.0, 440.0);
    let ms = |v: f64| (v * 1e3).max(1e-3);
    let all = results
        .iter()
        .flat_map(|r| [r.latency_p50, r.latency_p95, r.latency_p99, r.latency_max].map(ms));
    let lo = all
        .clone()
        .fold(f64::MAX, f64::min)
        .log10()
        .floor()
        .min(0.0);
    let hi = all.fold(1.0f64, f64::max).log10().ceil().max(lo + 1.0);
    let y_of = |v: f64| base - plot_h * (ms(v).log10() - lo).max(0.0) / (hi - lo);
    s.push_str(&format!(
        "<text x=\"{lx}\" y=\"20\">delivery latency, ms (log): p50, p95, p99, max</text>\n"
    ));
    for d in lo as i32..=hi as i32 {
        let y = base - plot_h * (f64::from(d) - lo) / (hi - lo);
        let label = 10f64.powi(d);
        s.push_str(&format!(
            "<line x1=\"{lx}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>\n",
            lx + lw,
            lx - 6.0,
            y + 4.0
        ));
    }
    let group = lw / results.len().max(1) as f64;
    for (g, r) in results.iter().enumerate() {
        let x0 = lx + group * g as f64 + group * 0.1;
        let bw = group * 0.8 / 4.0;
        for (k, v) in [r.latency_p50, r.latency_p95, r.latency_p99, r.latency_max]
            .into_iter()
            .enumerate()
        {
            let y = y_of(v);
            s.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{}\"/>\n",
                x0 + bw * k as f64,
                base - y,
                COLORS[k]
            ));
        }
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} ({})</text>\n",
            x0 + bw * 2.0,
            base + 18.0,
            r.transport,
            r.clients
        ));
    }
    // Right: bytes on the wire per delivered message.
    let (rx, rw) = (560.0, 180.0);
    let most = results
        .iter()
        .map(|r| r.bytes_per_message)
        .fold(1.0f64, f64::max)
        * 1.15;
    s.push_str(&format!(
        "<text x=\"{rx}\" y=\"20\">bytes per message</text>\n\
         <line x1=\"{rx}\" x2=\"{}\" y1=\"{base}\" y2=\"{base}\" stroke=\"#999\"/>\n",
        rx + rw
    ));
    let group = rw / results.len().max(1) as f64;
    for (g, r) in results.iter().enumerate() {
        let bh = plot_h * r.bytes_per_message / most;
        let x = rx + group * g as f64 + group * 0.2;
        let bw = group * 0.6;
        s.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"#54a24b\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            base - bh,
            x + bw / 2.0,
            base - bh - 4.0,
            r.bytes_per_message,
            x + bw / 2.0,
            base + 18.0,
            r.transport
        ));
    }
    // The legend.
    for (k, name) in ["p50", "p95", "p99", "max"].iter().enumerate() {
        let x = lx + 70.0 * k as f64;
        s.push_str(&format!(
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\">{name}</text>\n",
            H - 22.0,
            COLORS[k],
            x + 14.0,
            H - 13.0
        ));
    }
    s.push_str("</svg>\n");
    s
}
