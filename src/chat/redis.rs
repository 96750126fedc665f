//! `ws listen --chat --redis URL`: the room's log is a Redis Stream, shared
//! by every netkit server of the room.
//!
//! Two connections on the reactor, both speaking RESP through
//! [`crate::proto::resp`]: *commands* sends `XADD <key> MAXLEN ~ <history> *
//! from F text T ts MS o ORIGIN` for every message said on this server;
//! *reads* loads the last `--history` entries once (`XREVRANGE`), then loops
//! on `XREAD COUNT 100 BLOCK 5000 STREAMS <key> <last ID>`. A message
//! reaches this server's clients only when read back from the stream, so
//! every server delivers one order. Each connection sends `AUTH` and
//! `SELECT` when the URL asks, and when it fails (or leaves a command
//! unanswered for 3 s, an XREAD for 3 s past its BLOCK) is tried again
//! after a back-off doubling from 100 ms to 5 s; reads resume from the
//! last ID seen. While the commands connection is down, [`Store::add`] refuses
//! (the room answers 503 or a `***` line); a message whose XADD was sent
//! but not answered when the connection broke is refused too (it may
//! still show up in the stream: it was not acknowledged, so not promised).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::Token;

use super::api::Id;
use crate::error::{describe_io, Error, Result};
use crate::event::ConnId;
use crate::net;
use crate::net::tls::TlsConn;
use crate::net::transport::Transport;
use crate::output::Output;
use crate::proto::resp::{self, Decoder, Limits, Value};
use crate::reactor::conn::{Conn, Read};
use crate::reactor::connector::{Connector, Outcome};
use crate::reactor::Ctx;
use crate::server::{RoomIo, Timer, ROOM_IO};

/// First wait before connecting again.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// XREAD's BLOCK, in milliseconds.
const BLOCK_MS: u64 = 5000;
/// Entries per XREAD (a reply stays within the decoder's limits).
const READ_COUNT: &str = "100";
/// Longest wait for an answer (XREAD: on top of its BLOCK) before the
/// connection is taken for dead (a stopped Redis, a lost route).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// How often unanswered commands are checked.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// The watchdog's `Timer::RoomIo` (0-3 are the links' own).
const WATCH_TIMER: u64 = 4;
/// XADDs sent and not answered yet, at most.
const MAX_IN_FLIGHT: usize = 10_000;
/// Bytes queued for Redis, at most (past it messages are refused).
const MAX_QUEUED: usize = 16 << 20;
const READ_BUF: usize = 64 * 1024;

/// `redis://[user:pass@]host[:port][/db]` or `rediss://` (TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub db: Option<u32>,
}

impl RedisUrl {
    pub fn parse(s: &str) -> std::result::Result<RedisUrl, String> {
        let u = url::Url::parse(s).map_err(|e| format!("{s}: {e}"))?;
        let tls = match u.scheme() {
            "redis" => false,
            "rediss" => true,
            other => return Err(format!("{s}: scheme {other}: not redis:// or rediss://")),
        };
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{s}: no host"))?
            .to_string();
        let dec = |v: &str| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = Some(dec(u.username())).filter(|v| !v.is_empty());
        let pass = u.password().map(dec);
        let db = match u.path().trim_matches('/') {
            "" => None,
            d => Some(
                d.parse::<u32>()
                    .map_err(|_| format!("{s}: database {d}: not a number"))?,
            ),
        };
        Ok(RedisUrl {
            tls,
            host,
            port: u.port().unwrap_or(6379),
            user,
            pass,
            db,
        })
    }

    /// For messages: no password.
    pub fn shown(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let host = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}", self.port)
    }
}

/// The stream key of a room: `netkit:room:NAME`.
pub fn stream_key(room: &str) -> String {
    format!("netkit:room:{room}")
}

/// Who said a message on this server, to answer once Redis has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Ws {
        key: usize,
        id: ConnId,
    },
    Http {
        key: usize,
        id: ConnId,
        version: u8,
        keep_alive: bool,
    },
    Console,
}

/// A message read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    pub id: Id,
    pub from: String,
    pub text: String,
    pub ts: u64,
    /// Said on this server by the WebSocket client with this id.
    pub ws_sender: Option<ConnId>,
    /// Said on this server's console.
    pub console: bool,
}

/// What the store tells the room.
#[derive(Debug)]
pub enum Happened {
    /// Redis stored the message under this ID.
    Added(Origin, Id),
    /// The message was not stored (or not acknowledged).
    Refused(Origin, String),
    /// New entries, in stream order.
    Entries(Vec<StreamEntry>),
    /// The last entries, at the start: history, not news.
    Loaded(Vec<StreamEntry>),
    /// A notice for the WebSocket clients (Redis gone, Redis back).
    Notice(String),
}

#[derive(Debug)]
enum Op {
    /// AUTH or SELECT: an error fails the connection.
    Hello(&'static str),
    /// The last reply of the commands connection's hello: it is up.
    Ping,
    Load,
    Read,
    Add(Origin),
}

enum State {
    /// Waiting for the retry timer.
    Waiting,
    Connecting(Connector),
    Up(Box<Transport>),
}

/// One connection to Redis.
struct Link {
    what: &'static str,
    index: u64,
    state: State,
    dec: Decoder,
    /// Commands sent and not answered yet, with when they were sent.
    ops: VecDeque<(Op, Instant)>,
    backoff: Duration,
    /// Answered its hello (commands: take messages).
    ready: bool,
    /// Has been up once (a later connect is "again").
    was_up: bool,
    /// Its loss was reported and not yet its return.
    reported_down: bool,
}

impl Link {
    fn new(what: &'static str, index: u64) -> Link {
        Link {
            what,
            index,
            state: State::Waiting,
            dec: Decoder::new(Limits::default()),
            ops: VecDeque::new(),
            backoff: BACKOFF_MIN,
            ready: false,
            was_up: false,
            reported_down: false,
        }
    }

    fn token(&self) -> Token {
        Token(ROOM_IO + self.index as usize)
    }

    /// The connector's timeout timer.
    fn connect_timer(&self) -> Timer {
        Timer::RoomIo(self.index * 2)
    }

    fn retry_timer(&self) -> Timer {
        Timer::RoomIo(self.index * 2 + 1)
    }

    fn send(&mut self, args: &[&[u8]], op: Op, now: Instant) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        resp::command(args, &mut bytes);
        self.ops.push_back((op, now));
        match &mut self.state {
            State::Up(t) => t.send(&bytes, now),
            _ => Ok(()),
        }
    }

    fn queued(&self) -> usize {
        match &self.state {
            State::Up(t) => t.queued(),
            _ => 0,
        }
    }
}

/// The room's stream and the two connections to it.
pub struct Store {
    url: RedisUrl,
    addrs: Vec<SocketAddr>,
    tls: Option<Arc<rustls::ClientConfig>>,
    key: String,
    history: usize,
    /// This server among the room's: tags its messages in the stream.
    instance: String,
    cmds: Link,
    reads: Link,
    /// The reads connection loaded the history.
    loaded: bool,
    last: Id,
    why_down: String,
    buf: Vec<u8>,
}

impl Store {
    /// Resolves the URL's host (once: later connects use these addresses).
    pub fn new(
        url: &str,
        room: &str,
        history: usize,
        cacert: Option<&std::path::Path>,
    ) -> Result<Store> {
        let url = RedisUrl::parse(url).map_err(|why| Error::usage("--redis", why))?;
        let addrs = net::resolve(&url.host, url.port, Default::default())?;
        let tls = if url.tls {
            Some(crate::net::tls::client_config(cacert, false, &[])?)
        } else {
            None
        };
        let r = crate::ws::os_random::<8>()?;
        let instance: String = r.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Store {
            why_down: "not connected yet".into(),
            url,
            addrs,
            tls,
            key: stream_key(room),
            history,
            instance,
            cmds: Link::new("commands", 0),
            reads: Link::new("reads", 1),
            loaded: false,
            last: Id::ZERO,
            buf: vec![0; READ_BUF],
        })
    }

    pub fn shown(&self) -> String {
        self.url.shown()
    }

    /// Why messages are refused now, `None` when they are taken.
    pub fn down(&self) -> Option<String> {
        if self.cmds.ready {
            return None;
        }
        Some(format!(
            "the room's Redis ({}) is unreachable: {}",
            self.url.shown(),
            self.why_down
        ))
    }

    /// Sends a message to the stream; the answer comes as
    /// [`Happened::Added`] or [`Happened::Refused`].
    pub fn add(
        &mut self,
        now: Instant,
        origin: Origin,
        from: &str,
        text: &str,
        ts: u64,
    ) -> std::result::Result<(), String> {
        if let Some(why) = self.down() {
            return Err(why);
        }
        let in_flight = self.cmds.ops.len();
        if in_flight >= MAX_IN_FLIGHT || self.cmds.queued() > MAX_QUEUED {
            return Err(format!(
                "the room's Redis ({}) is behind ({in_flight} messages waiting)",
                self.url.shown()
            ));
        }
        let o = match origin {
            Origin::Ws { id, .. } => format!("{}:{id}", self.instance),
            Origin::Console => format!("{}:console", self.instance),
            Origin::Http { .. } => format!("{}:http", self.instance),
        };
        let history = self.history.to_string();
        let ts = ts.to_string();
        let args: [&[u8]; 14] = [
            b"XADD",
            self.key.as_bytes(),
            b"MAXLEN",
            b"~",
            history.as_bytes(),
            b"*",
            b"from",
            from.as_bytes(),
            b"text",
            text.as_bytes(),
            b"ts",
            ts.as_bytes(),
            b"o",
            o.as_bytes(),
        ];
        match self.cmds.send(&args, Op::Add(origin), now) {
            Ok(()) => Ok(()),
            Err(e) => {
                // The reply will never come: the next event finds the
                // socket broken and fails the link (refusing this one).
                let _ = self.cmds.ops.pop_back();
                Err(format!(
                    "the room's Redis ({}) is unreachable: {}",
                    self.url.shown(),
                    describe_io(&e)
                ))
            }
        }
    }

    /// Drives the connections: start, socket events, timers.
    pub fn io(
        &mut self,
        cx: &mut Ctx<Timer>,
        io: &RoomIo,
        out: &mut Output,
        happened: &mut Vec<Happened>,
    ) {
        match io {
            RoomIo::Start => {
                self.connect(cx, 0, out, happened);
                self.connect(cx, 1, out, happened);
                cx.timers
                    .add(cx.now + WATCH_EVERY, Timer::RoomIo(WATCH_TIMER));
            }
            RoomIo::Timer(WATCH_TIMER) => {
                self.watch(cx, out, happened);
                cx.timers
                    .add(cx.now + WATCH_EVERY, Timer::RoomIo(WATCH_TIMER));
            }
            RoomIo::Ready(token, event) => {
                for i in 0..2 {
                    if self.link(i).token() != *token {
                        continue;
                    }
                    let link = self.link_mut(i);
                    let (token, timer) = (link.token(), link.connect_timer());
                    match &mut link.state {
                        State::Connecting(c) => {
                            let outcome = c.ready(cx, token, timer);
                            self.connected(cx, i, outcome, out, happened);
                        }
                        State::Up(t) => {
                            t.ready(event);
                            self.service(cx, i, out, happened);
                        }
                        State::Waiting => {}
                    }
                }
            }
            RoomIo::Timer(n) => {
                let i = *n / 2;
                if i > 1 {
                    return;
                }
                if n % 2 == 1 {
                    if matches!(self.link(i).state, State::Waiting) {
                        self.connect(cx, i, out, happened);
                    }
                } else {
                    let link = self.link_mut(i);
                    let (token, timer) = (link.token(), link.connect_timer());
                    if let State::Connecting(c) = &mut link.state {
                        let outcome = c.timed_out(cx, token, timer);
                        self.connected(cx, i, outcome, out, happened);
                    }
                }
            }
        }
    }

    /// A connection whose oldest command is unanswered too long is dead.
    fn watch(&mut self, cx: &mut Ctx<Timer>, out: &mut Output, happened: &mut Vec<Happened>) {
        for i in 0..2 {
            let link = self.link(i);
            if !matches!(link.state, State::Up(_)) {
                continue;
            }
            let Some((op, sent)) = link.ops.front() else {
                continue;
            };
            let limit = match op {
                Op::Read => Duration::from_millis(BLOCK_MS) + ANSWER_TIMEOUT,
                _ => ANSWER_TIMEOUT,
            };
            if cx.now.saturating_duration_since(*sent) > limit {
                let why = format!("no answer in {}", humantime::format_duration(limit));
                self.fail(cx, i, why, out, happened);
            }
        }
    }

    fn link(&self, i: u64) -> &Link {
        if i == 0 {
            &self.cmds
        } else {
            &self.reads
        }
    }

    fn link_mut(&mut self, i: u64) -> &mut Link {
        if i == 0 {
            &mut self.cmds
        } else {
            &mut self.reads
        }
    }

    fn connect(
        &mut self,
        cx: &mut Ctx<Timer>,
        i: u64,
        out: &mut Output,
        happened: &mut Vec<Happened>,
    ) {
        let mut c = Connector::new(self.addrs.clone(), None, CONNECT_TIMEOUT);
        let link = self.link_mut(i);
        let outcome = c.start(cx, link.token(), link.connect_timer());
        link.state = State::Connecting(c);
        self.connected(cx, i, outcome, out, happened);
    }

    /// After a connect step.
    fn connected(
        &mut self,
        cx: &mut Ctx<Timer>,
        i: u64,
        outcome: Outcome,
        out: &mut Output,
        happened: &mut Vec<Happened>,
    ) {
        let (stream, addr) = match outcome {
            Outcome::Pending | Outcome::Retrying(..) => return,
            Outcome::Failed(e) => {
                let why = describe_io(&e);
                return self.fail(cx, i, why, out, happened);
            }
            Outcome::Connected(stream, addr, _) => (stream, addr),
        };
        let transport = match &self.tls {
            Some(cfg) => match TlsConn::new(stream, cfg.clone(), &self.url.host) {
                Ok(t) => Transport::Tls(Box::new(t)),
                Err(e) => return self.fail(cx, i, e.to_string(), out, happened),
            },
            None => {
                let local = stream.local_addr().unwrap_or(addr);
                Transport::Plain(Conn::new(stream, addr, local, cx.now))
            }
        };
        let now = cx.now;
        let url = self.url.clone();
        let (key, history) = (self.key.clone(), self.history.to_string());
        let loaded = self.loaded;
        let last = self.last.to_string();
        let link = self.link_mut(i);
        link.state = State::Up(Box::new(transport));
        link.dec = Decoder::new(Limits::default());
        let mut sent = Ok(());
        if let Some(pass) = &url.pass {
            sent = sent.and_then(|()| match &url.user {
                Some(user) => link.send(
                    &[b"AUTH", user.as_bytes(), pass.as_bytes()],
                    Op::Hello("AUTH"),
                    now,
                ),
                None => link.send(&[b"AUTH", pass.as_bytes()], Op::Hello("AUTH"), now),
            });
        }
        if let Some(db) = url.db {
            let db = db.to_string();
            sent = sent
                .and_then(|()| link.send(&[b"SELECT", db.as_bytes()], Op::Hello("SELECT"), now));
        }
        if i == 0 {
            sent = sent.and_then(|()| link.send(&[b"PING"], Op::Ping, now));
        } else if !loaded {
            sent = sent.and_then(|()| {
                link.send(
                    &[
                        b"XREVRANGE",
                        key.as_bytes(),
                        b"+",
                        b"-",
                        b"COUNT",
                        history.as_bytes(),
                    ],
                    Op::Load,
                    now,
                )
            });
        } else {
            sent = sent.and_then(|()| Self::send_read(link, &key, &last, now));
        }
        match sent {
            Ok(()) => self.service(cx, i, out, happened),
            Err(e) => self.fail(cx, i, describe_io(&e), out, happened),
        }
    }

    fn send_read(link: &mut Link, key: &str, last: &str, now: Instant) -> std::io::Result<()> {
        let block = BLOCK_MS.to_string();
        link.send(
            &[
                b"XREAD",
                b"COUNT",
                READ_COUNT.as_bytes(),
                b"BLOCK",
                block.as_bytes(),
                b"STREAMS",
                key.as_bytes(),
                last.as_bytes(),
            ],
            Op::Read,
            now,
        )
    }

    /// A connection works: say so if its loss was reported.
    fn up(&mut self, i: u64, out: &mut Output, happened: &mut Vec<Happened>) {
        let shown = self.url.shown();
        let last = self.last;
        let link = self.link_mut(i);
        link.backoff = BACKOFF_MIN;
        if i == 0 {
            link.ready = true;
        }
        if link.reported_down {
            link.reported_down = false;
            if i == 0 {
                out.warn(&format!(
                    "redis {shown}: connected again; messages are taken again"
                ));
                happened.push(Happened::Notice("*** the room takes messages again".into()));
            } else {
                out.warn(&format!(
                    "redis {shown}: connected again; reading the room from {last}"
                ));
            }
        } else if !link.was_up && i == 0 {
            out.notice(&format!("redis {shown}: connected"));
        }
        link.was_up = true;
    }

    /// Reads, writes and decodes what one connection has.
    fn service(
        &mut self,
        cx: &mut Ctx<Timer>,
        i: u64,
        out: &mut Output,
        happened: &mut Vec<Happened>,
    ) {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.service_with(cx, i, &mut buf, out, happened);
        self.buf = buf;
        if let Err(why) = result {
            self.fail(cx, i, why, out, happened);
        }
    }

    fn service_with(
        &mut self,
        cx: &mut Ctx<Timer>,
        i: u64,
        buf: &mut [u8],
        out: &mut Output,
        happened: &mut Vec<Happened>,
    ) -> std::result::Result<(), String> {
        loop {
            let link = self.link_mut(i);
            let State::Up(t) = &mut link.state else {
                return Ok(());
            };
            t.flush(cx.now).map_err(|e| describe_io(&e))?;
            match t.read(buf, cx.now).map_err(|e| describe_io(&e))? {
                Read::WouldBlock => return Ok(()),
                Read::Eof => return Err("Redis closed the connection".into()),
                Read::Data(n) => link.dec.feed(&buf[..n]),
            }
            loop {
                let link = self.link_mut(i);
                let v = match link.dec.decode() {
                    Ok(Some(v)) => v,
                    Ok(None) => break,
                    Err(e) => return Err(e.to_string()),
                };
                let Some((op, _)) = link.ops.pop_front() else {
                    return Err("a reply to no command".into());
                };
                self.reply(cx.now, i, op, v, out, happened)?;
            }
        }
    }

    fn reply(
        &mut self,
        now: Instant,
        i: u64,
        op: Op,
        v: Value,
        out: &mut Output,
        happened: &mut Vec<Happened>,
    ) -> std::result::Result<(), String> {
        let read = matches!(op, Op::Load | Op::Read);
        if read && !self.reads.ready && !matches!(v, Value::Error(_)) {
            // The first answer on the reads connection: it is up.
            self.reads.ready = true;
            self.up(i, out, happened);
        }
        match (op, v) {
            (Op::Hello(what), Value::Error(e)) => Err(format!("{what} refused: {e}")),
            (Op::Hello(_), _) => Ok(()),
            (Op::Ping, Value::Error(e)) => Err(format!("PING refused: {e}")),
            (Op::Ping, _) => {
                self.up(i, out, happened);
                Ok(())
            }
            (Op::Add(origin), Value::Error(e)) => {
                happened.push(Happened::Refused(origin, format!("Redis refused it: {e}")));
                Ok(())
            }
            (Op::Add(origin), v) => {
                match v
                    .bytes()
                    .and_then(|b| Id::parse(&String::from_utf8_lossy(b)))
                {
                    Some(id) => happened.push(Happened::Added(origin, id)),
                    None => happened.push(Happened::Refused(
                        origin,
                        "Redis answered XADD with no ID".into(),
                    )),
                }
                Ok(())
            }
            (Op::Load | Op::Read, Value::Error(e)) => Err(format!("reading the stream: {e}")),
            (Op::Load, v) => {
                let mut entries = self.entries(&v);
                entries.reverse();
                if let Some(e) = entries.last() {
                    self.last = e.id;
                }
                self.loaded = true;
                happened.push(Happened::Loaded(entries));
                self.next_read(now)
            }
            (Op::Read, v) => {
                // [[key, [entry, ...]]], or nil when BLOCK ran out.
                let entries = match v.items().and_then(|s| s.first()).and_then(|s| s.items()) {
                    Some([_, list]) => self.entries(list),
                    _ => Vec::new(),
                };
                let entries: Vec<StreamEntry> =
                    entries.into_iter().filter(|e| e.id > self.last).collect();
                if let Some(e) = entries.last() {
                    self.last = e.id;
                }
                if !entries.is_empty() {
                    happened.push(Happened::Entries(entries));
                }
                self.next_read(now)
            }
        }
    }

    fn next_read(&mut self, now: Instant) -> std::result::Result<(), String> {
        let (key, last) = (self.key.clone(), self.last.to_string());
        Self::send_read(&mut self.reads, &key, &last, now).map_err(|e| describe_io(&e))
    }

    /// `[[id, [field, value, ...]], ...]`
    fn entries(&self, list: &Value) -> Vec<StreamEntry> {
        let mine = format!("{}:", self.instance);
        let mut out = Vec::new();
        for e in list.items().unwrap_or_default() {
            let Some([id, fields]) = e.items() else {
                continue;
            };
            let Some(id) = id
                .bytes()
                .and_then(|b| Id::parse(&String::from_utf8_lossy(b)))
            else {
                continue;
            };
            let mut entry = StreamEntry {
                id,
                from: String::new(),
                text: String::new(),
                ts: 0,
                ws_sender: None,
                console: false,
            };
            let fields = fields.items().unwrap_or_default();
            for pair in fields.chunks(2) {
                let [k, v] = pair else { continue };
                let (Some(k), Some(v)) = (k.bytes(), v.bytes()) else {
                    continue;
                };
                let v = String::from_utf8_lossy(v);
                match k {
                    b"from" => entry.from = v.into_owned(),
                    b"text" => entry.text = v.into_owned(),
                    b"ts" => entry.ts = v.parse().unwrap_or(0),
                    b"o" => {
                        if let Some(rest) = v.strip_prefix(&mine) {
                            entry.console = rest == "console";
                            entry.ws_sender = rest.parse().ok();
                        }
                    }
                    _ => {}
                }
            }
            if entry.from.is_empty() {
                entry.from = "?".into();
            }
            out.push(entry);
        }
        out
    }

    /// A connection failed: refuse what it had not answered, report, and
    /// try again after the back-off.
    fn fail(
        &mut self,
        cx: &mut Ctx<Timer>,
        i: u64,
        why: String,
        out: &mut Output,
        happened: &mut Vec<Happened>,
    ) {
        let shown = self.url.shown();
        // The TLS layer's hint names the client flags.
        let why = why.replace(
            "use --cacert FILE to trust it, or -k to skip verification",
            "use --redis-cacert FILE to trust it",
        );
        if i == 0 {
            self.why_down = why.clone();
        }
        let link = self.link_mut(i);
        match std::mem::replace(&mut link.state, State::Waiting) {
            State::Up(mut t) => {
                t.shutdown();
                let _ = cx.registry.deregister(t.stream_mut());
            }
            State::Connecting(mut c) => c.cancel(cx),
            State::Waiting => {}
        }
        link.ready = false;
        for (op, _) in link.ops.drain(..) {
            if let Op::Add(origin) = op {
                happened.push(Happened::Refused(
                    origin,
                    format!("the connection to Redis ({shown}) broke before it answered: {why}"),
                ));
            }
        }
        let wait = link.backoff;
        link.backoff = (link.backoff * 2).min(BACKOFF_MAX);
        if !link.reported_down {
            link.reported_down = true;
            let what = link.what;
            let consequence = if i == 0 {
                "new messages are refused until it is back"
            } else {
                "messages from other servers wait until it is back"
            };
            out.warn(&format!(
                "redis {shown} ({what}): {why}; {consequence}; retrying with back-off up to {}",
                humantime::format_duration(BACKOFF_MAX)
            ));
            if i == 0 {
                happened.push(Happened::Notice(
                    "*** the room cannot take messages now: its Redis is unreachable".into(),
                ));
            }
        } else if out.verbose() {
            out.notice(&format!(
                "redis {shown} ({}): {why}; again in {}",
                link.what,
                humantime::format_duration(wait)
            ));
        }
        let timer = link.retry_timer();
        cx.timers.add(cx.now + wait, timer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = RedisUrl::parse("redis://127.0.0.1:6380").unwrap();
        assert_eq!(
            u,
            RedisUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 6380,
                user: None,
                pass: None,
                db: None
            }
        );
        let u = RedisUrl::parse("rediss://ann:p%40ss@cache.example/3").unwrap();
        assert!(u.tls);
        assert_eq!(u.port, 6379);
        assert_eq!(u.user.as_deref(), Some("ann"));
        assert_eq!(u.pass.as_deref(), Some("p@ss"));
        assert_eq!(u.db, Some(3));
        assert_eq!(u.shown(), "rediss://cache.example:6379");
        let u = RedisUrl::parse("redis://:secret@[::1]:7000/0").unwrap();
        assert_eq!(
            (u.user.as_deref(), u.pass.as_deref()),
            (None, Some("secret"))
        );
        assert_eq!(u.shown(), "redis://[::1]:7000");
        for bad in ["http://x", "redis://x/abc", "redis://", "nonsense"] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
