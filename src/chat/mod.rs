//! `netkit ws listen --chat`: one chat room, three ways in on one port.
//!
//! A client's first request head decides what it is ([`ChatCodec`]): an
//! `Upgrade: websocket` is a WebSocket client (the [`WsCodec`] takes over;
//! `?format=json` gets each message as a JSON text frame
//! `{"seq","from","text","ts"}`, others the chat line `<name> text`);
//! anything else is HTTP: `GET /` is the page, `/messages` the polling and
//! long-polling API of [`api`]. Every message goes into one bounded log
//! (`--history`) and out to WebSocket clients, held long polls and, from
//! the log, the next polls, in one order.
//!
//! A held long poll is a small record ([`Held`]) beside its connection and
//! a wake-up ([`Core::wake_at`]) that answers it 304/204 when its wait runs
//! out.
//!
//! With `--redis` the log lives in a Redis Stream shared by every server of
//! the room ([`redis`]): a message said here goes to the stream, and
//! reaches the log and the clients only when read back from it, so every
//! server has one order and the stream IDs are the cursor. Without it the
//! log is in memory as before (the two are the [`Backend`]s).

pub mod api;
pub mod redis;

use std::borrow::Cow;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::event::{Closer, Event};
use crate::output::Output;
use crate::proto::http_request::{parse_head, Request};
use crate::proto::lines::LineSplitter;
use crate::proto::ws::session::Message;
use crate::reactor::conn::OutBuf;
use crate::reactor::Ctx;
use crate::server::room::Chat;
use crate::server::{AtEof, Client, Codec, Core, Ending, Goodbye, Got, Info, Opened, Room, Text};
use crate::server::{RoomIo, Timer};
use crate::ws::server::{WsCodec, WsShared};
use api::{Entry, Id, Log, Query};
pub use redis::Origin;
use redis::{Happened, Store};

/// The chat page, served at `GET /`.
pub const PAGE: &str = include_str!("page.html");
/// Largest HTTP request head.
const MAX_HEAD: usize = 16 * 1024;
/// Largest `POST /messages` body.
const MAX_BODY: usize = 64 * 1024;
/// Most long polls held at once (each a few dozen bytes).
const MAX_HELD: usize = 100_000;

/// A message, both ways.
#[derive(Debug, Clone)]
pub enum ChatMsg {
    /// A WebSocket message (from a client, or a notice for one).
    Ws(Message),
    /// A chat message, for WebSocket clients in their format.
    Chat(Rc<Entry>),
    /// An HTTP request from a client.
    Http(Rc<(Request, Vec<u8>)>),
    /// Response bytes for an HTTP client.
    Reply(Rc<Vec<u8>>),
}

pub struct ChatShared {
    pub ws: WsShared,
    /// WebSocket pings, at most this often.
    pub ping: Option<Duration>,
}

enum Kind {
    /// Before the first request head is complete.
    Sniff(Vec<u8>),
    Ws {
        codec: Box<WsCodec>,
        json: bool,
        last_ping: Instant,
    },
    Http(Http),
}

/// The HTTP side of a client: one request at a time.
#[derive(Default)]
struct Http {
    inbuf: Vec<u8>,
    out: OutBuf,
    /// A request is with the room, not answered yet.
    waiting: bool,
    /// The last answer said `Connection: close`.
    closing: bool,
    /// Done reading (a bad request, EOF).
    over: bool,
}

pub struct ChatCodec {
    kind: Kind,
}

fn is_upgrade(req: &Request) -> bool {
    req.header("upgrade")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

impl Http {
    /// Decodes the next request if none is waiting.
    fn decode(&mut self, got: &mut Vec<Got<ChatMsg>>) {
        if self.waiting || self.over || self.closing || self.inbuf.is_empty() {
            return;
        }
        let (used, req) = match parse_head(&self.inbuf, MAX_HEAD) {
            Ok(None) => return,
            Ok(Some(x)) => x,
            Err(e) => {
                let body = format!("{}\n", e.reason);
                self.refuse(e.status, &body, got);
                return;
            }
        };
        if req.header("transfer-encoding").is_some() {
            self.refuse(411, "send the body with Content-Length\n", got);
            return;
        }
        let len = match req
            .header("content-length")
            .map(|v| v.trim().parse::<usize>())
        {
            None => 0,
            Some(Ok(n)) if n <= MAX_BODY => n,
            Some(Ok(_)) => return self.refuse(413, "message over 64 KiB\n", got),
            Some(Err(_)) => return self.refuse(400, "bad Content-Length\n", got),
        };
        if self.inbuf.len() < used + len {
            return;
        }
        let body = self.inbuf[used..used + len].to_vec();
        self.inbuf.drain(..used + len);
        if self.inbuf.is_empty() {
            self.inbuf = Vec::new();
        }
        self.waiting = true;
        got.push(Got::Message(ChatMsg::Http(Rc::new((req, body)))));
    }

    fn refuse(&mut self, status: u16, body: &str, got: &mut Vec<Got<ChatMsg>>) {
        self.out.push(&api::response(
            1,
            status,
            &[("Content-Type", "text/plain; charset=utf-8")],
            body.as_bytes(),
            false,
        ));
        self.over = true;
        self.inbuf = Vec::new();
        got.push(Got::End(http_end(
            Closer::Refused,
            &format!("{status} {}", body.trim_end()),
        )));
    }
}

impl ChatCodec {
    fn is_http(&self) -> bool {
        matches!(self.kind, Kind::Http(_))
    }

    fn json(&self) -> bool {
        matches!(self.kind, Kind::Ws { json: true, .. })
    }

    fn ws_receive(
        codec: &mut WsCodec,
        json: &mut bool,
        shared: &mut ChatShared,
        data: &[u8],
        got: &mut Vec<Got<ChatMsg>>,
    ) {
        let mut inner = Vec::new();
        codec.receive(&mut shared.ws, data, &mut inner);
        for g in inner {
            got.push(match g {
                Got::Open(o) => {
                    *json = o.path.split_once('?').is_some_and(|(_, q)| {
                        url::form_urlencoded::parse(q.as_bytes())
                            .any(|(k, v)| k == "format" && v == "json")
                    });
                    Got::Open(o)
                }
                Got::Message(m) => Got::Message(ChatMsg::Ws(m)),
                Got::End(e) => Got::End(e),
            });
        }
    }
}

impl Codec for ChatCodec {
    type Msg = ChatMsg;
    type Shared = ChatShared;
    const FULL: &'static [u8] = WsCodec::FULL;
    /// As `ws listen`: idle means nothing received (a held long poll
    /// receives nothing: keep --idle-timeout above the longest wait).
    const IDLE_ON_READS: bool = WsCodec::IDLE_ON_READS;
    const JUDGE_AFTER_WRITE: bool = false;
    const BEHIND_NOTE: &'static str = WsCodec::BEHIND_NOTE;

    /// A poller is no chat member: the welcome and counts leave it out.
    fn member(&self) -> bool {
        !self.is_http()
    }

    fn new(_: &mut ChatShared) -> ChatCodec {
        ChatCodec {
            kind: Kind::Sniff(Vec::new()),
        }
    }

    fn is_open(&self) -> bool {
        match &self.kind {
            Kind::Sniff(_) => false,
            Kind::Ws { codec, .. } => codec.is_open(),
            Kind::Http(_) => true,
        }
    }

    fn more(&self) -> bool {
        match &self.kind {
            Kind::Ws { codec, .. } => codec.more(),
            Kind::Http(h) => !h.waiting && !h.over && !h.closing && !h.inbuf.is_empty(),
            Kind::Sniff(_) => false,
        }
    }

    fn receive(&mut self, shared: &mut ChatShared, data: &[u8], got: &mut Vec<Got<ChatMsg>>) {
        if let Kind::Sniff(buf) = &mut self.kind {
            buf.extend_from_slice(data);
            let head = match parse_head(buf, MAX_HEAD) {
                Ok(None) => return,
                Ok(Some((_, req))) => Some(req),
                Err(_) => None,
            };
            let buf = std::mem::take(buf);
            if head.as_ref().is_some_and(is_upgrade) {
                let mut codec = Box::new(WsCodec::new(&mut shared.ws));
                let mut json = false;
                Self::ws_receive(&mut codec, &mut json, shared, &buf, got);
                self.kind = Kind::Ws {
                    codec,
                    json,
                    last_ping: Instant::now(),
                };
            } else {
                self.kind = Kind::Http(Http {
                    inbuf: buf,
                    ..Http::default()
                });
                got.push(Got::Open(Opened {
                    path: head.map_or_else(|| "/".into(), |r| r.path().to_string()),
                    protocol: Some(HTTP_PROTOCOL.into()),
                    name: None,
                }));
                if let Kind::Http(h) = &mut self.kind {
                    h.decode(got);
                }
            }
            return;
        }
        match &mut self.kind {
            Kind::Ws { codec, json, .. } => Self::ws_receive(codec, json, shared, data, got),
            Kind::Http(h) => {
                if !h.over {
                    if h.inbuf.len() + data.len() > MAX_HEAD + MAX_BODY {
                        return h.refuse(431, "too much sent at once", got);
                    }
                    h.inbuf.extend_from_slice(data);
                }
                h.decode(got);
            }
            Kind::Sniff(_) => {}
        }
    }

    fn eof(&mut self, _: &mut Vec<Got<ChatMsg>>) -> AtEof {
        match &mut self.kind {
            Kind::Ws { codec, .. } => {
                let mut inner = Vec::new();
                codec.eof(&mut inner)
            }
            _ => AtEof::End(http_end(Closer::Peer, "closed")),
        }
    }

    fn send(&mut self, shared: &mut ChatShared, m: &ChatMsg) {
        match (&mut self.kind, m) {
            (Kind::Ws { codec, .. }, ChatMsg::Ws(msg)) => codec.send(&mut shared.ws, msg),
            (Kind::Ws { codec, json, .. }, ChatMsg::Chat(e)) => {
                let text = if *json { &e.json } else { &e.line };
                codec.send_text(&mut shared.ws, text);
            }
            (Kind::Http(h), ChatMsg::Reply(bytes)) if h.waiting => {
                h.out.push(bytes);
                h.waiting = false;
                // An answer without keep-alive ends the connection.
                if bytes.windows(19).any(|w| w == b"Connection: close\r\n") {
                    h.closing = true;
                }
            }
            _ => {}
        }
    }

    fn output(&mut self) -> &[u8] {
        match &mut self.kind {
            Kind::Ws { codec, .. } => codec.output(),
            Kind::Http(h) => h.out.front(),
            Kind::Sniff(_) => &[],
        }
    }

    fn consume(&mut self, n: usize) {
        match &mut self.kind {
            Kind::Ws { codec, .. } => codec.consume(n),
            Kind::Http(h) => h.out.consume(n),
            Kind::Sniff(_) => {}
        }
    }

    fn queued(&self) -> usize {
        match &self.kind {
            Kind::Ws { codec, .. } => codec.queued(),
            Kind::Http(h) => h.out.len(),
            Kind::Sniff(_) => 0,
        }
    }

    fn behind(&self, backlog: usize, _next: usize, max_queue: usize) -> bool {
        backlog > max_queue
    }

    fn goodbye(
        &mut self,
        shared: &mut ChatShared,
        why: Goodbye,
        max_queue: usize,
    ) -> Option<Ending> {
        match &mut self.kind {
            Kind::Ws { codec, .. } => codec.goodbye(&mut shared.ws, why, max_queue),
            _ => Some(http_end(Closer::Local, "goodbye")),
        }
    }

    fn lost(&self, why: String) -> Ending {
        match &self.kind {
            Kind::Ws { codec, .. } => codec.lost(why),
            _ => http_end(Closer::Error, &why),
        }
    }

    fn handshake_timeout(&mut self, reason: &str) -> Ending {
        match &mut self.kind {
            Kind::Ws { codec, .. } => codec.handshake_timeout(reason),
            _ => http_end(Closer::Idle, reason),
        }
    }

    fn expired(&self, draining: Option<&Ending>) -> Ending {
        match &self.kind {
            Kind::Ws { codec, .. } => codec.expired(draining),
            _ => http_end(Closer::Error, "no answer"),
        }
    }

    fn done(&mut self) -> Option<Ending> {
        match &self.kind {
            Kind::Http(h) if h.closing && h.out.is_empty() => {
                Some(http_end(Closer::Local, "answered"))
            }
            _ => None,
        }
    }

    fn tick(&mut self, shared: &mut ChatShared) {
        if let (
            Kind::Ws {
                codec, last_ping, ..
            },
            Some(every),
        ) = (&mut self.kind, shared.ping)
        {
            if last_ping.elapsed() >= every {
                *last_ping = Instant::now();
                codec.tick(&mut shared.ws);
            }
        }
    }

    fn report_accept(info: &Info, clients: usize, out: &mut Output) -> Result<()> {
        WsCodec::report_accept(info, clients, out)
    }

    fn report_open(info: &Info, o: &Opened, clients: usize, out: &mut Output) -> Result<()> {
        if o.protocol.as_deref() == Some(HTTP_PROTOCOL) {
            // HTTP requests are not WebSocket opens (see -v for connections).
            return Ok(());
        }
        WsCodec::report_open(info, o, clients, out)
    }

    fn report_close(
        info: &Info,
        ending: &Ending,
        opened: bool,
        clients: usize,
        out: &mut Output,
    ) -> Result<()> {
        if ending
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with(HTTP_END))
        {
            return Ok(());
        }
        WsCodec::report_close(info, ending, opened, clients, out)
    }

    fn report_message(info: &Info, m: &ChatMsg, out: &mut Output) -> Result<()> {
        match m {
            ChatMsg::Ws(m) => WsCodec::report_message(info, m, out),
            _ => Ok(()),
        }
    }

    fn console(lines: &mut LineSplitter, data: &[u8], msgs: &mut Vec<ChatMsg>) {
        let mut inner = Vec::new();
        WsCodec::console(lines, data, &mut inner);
        msgs.extend(inner.into_iter().map(ChatMsg::Ws));
    }

    fn console_end(lines: &mut LineSplitter, msgs: &mut Vec<ChatMsg>) {
        let mut inner = Vec::new();
        WsCodec::console_end(lines, &mut inner);
        msgs.extend(inner.into_iter().map(ChatMsg::Ws));
    }
}

/// How an HTTP client ends: its reason starts with [`HTTP_END`], which
/// keeps it out of the WebSocket close reports.
fn http_end(by: Closer, why: &str) -> Ending {
    Ending::new(by, Some(format!("{HTTP_END}{why}")))
}

const HTTP_END: &str = "http: ";
/// The `Opened::protocol` of an HTTP client.
const HTTP_PROTOCOL: &str = "http/1.1";

impl Text for ChatCodec {
    fn text_of(m: &ChatMsg) -> Cow<'_, str> {
        match m {
            ChatMsg::Ws(m) => WsCodec::text_of(m),
            ChatMsg::Chat(e) => Cow::Borrowed(&e.text),
            _ => Cow::Borrowed(""),
        }
    }

    fn text(s: String) -> ChatMsg {
        ChatMsg::Ws(Message::Text(s))
    }
}

/// A long poll waiting for a message.
struct Held {
    key: usize,
    id: crate::event::ConnId,
    query: Query,
    until: Instant,
}

/// Where the room's log lives.
enum Backend {
    /// In this process: a message is in the log once said.
    Memory,
    /// In a Redis Stream (`--redis`): a message is in the log once read
    /// back from the stream, in the stream's order.
    Redis(Box<Store>),
}

/// The room: the log, the held long polls, and the notices of the
/// WebSocket chat ([`Chat`]) for WebSocket clients.
pub struct ChatRoom {
    notices: Chat,
    log: Log,
    held: Vec<Held>,
    backend: Backend,
    happened: Vec<Happened>,
}

impl ChatRoom {
    pub fn new(history: usize) -> ChatRoom {
        ChatRoom {
            notices: Chat::new(false),
            log: Log::new(history),
            held: Vec::new(),
            backend: Backend::Memory,
            happened: Vec::new(),
        }
    }

    /// `--redis URL --room NAME`: the log is the room's Redis Stream.
    pub fn redis(
        mut self,
        redis: Option<&crate::config::ws_listen::RedisRoom>,
        history: usize,
    ) -> Result<ChatRoom> {
        if let Some(r) = redis {
            let store = Store::new(&r.url, &r.room, history, r.cacert.as_deref())?;
            self.backend = Backend::Redis(Box::new(store));
        }
        Ok(self)
    }

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    /// A message said here: into the log and out to everybody (in
    /// memory), or to the stream (with Redis: out when read back).
    fn publish(
        &mut self,
        core: &mut Core<ChatCodec>,
        origin: Origin,
        from: &str,
        text: &str,
    ) -> Result<()> {
        let ts = Self::now_ms();
        match &mut self.backend {
            Backend::Memory => {
                let e = self.log.push(from, text, ts);
                let sender = match origin {
                    Origin::Ws { id, .. } => Some(id),
                    _ => None,
                };
                self.deliver(core, &e, sender, origin != Origin::Console)?;
                self.added(core, origin, e.seq);
            }
            Backend::Redis(store) => {
                if let Err(why) = store.add(core.now(), origin, from, text, ts) {
                    self.refused(core, origin, &why);
                }
            }
        }
        Ok(())
    }

    /// The message is kept: a POST learns its ID.
    fn added(&mut self, core: &mut Core<ChatCodec>, origin: Origin, seq: Id) {
        let Origin::Http {
            key,
            id,
            version,
            keep_alive,
        } = origin
        else {
            return;
        };
        if core.client(key).is_none_or(|c| c.id != id) {
            return;
        }
        let etag = format!("\"{seq}\"");
        let body = format!("{{\"seq\":{}}}\n", seq.json());
        let bytes = api::response(
            version,
            200,
            &[("Content-Type", "application/json"), ("ETag", &etag)],
            body.as_bytes(),
            keep_alive,
        );
        core.send(key, &ChatMsg::Reply(Rc::new(bytes)));
    }

    /// The message is not kept: its sender hears why (a WebSocket client
    /// a `*** not sent: ...` line, a POST 503 with Retry-After, the
    /// console a warning).
    fn refused(&mut self, core: &mut Core<ChatCodec>, origin: Origin, why: &str) {
        match origin {
            Origin::Ws { key, id } => {
                if core.client(key).is_some_and(|c| c.id == id) {
                    let line = format!("*** not sent: {why}; try again");
                    core.send(key, &ChatMsg::Ws(Message::Text(line)));
                }
            }
            Origin::Http {
                key,
                id,
                version,
                keep_alive,
            } => {
                if core.client(key).is_some_and(|c| c.id == id) {
                    let body = format!("not sent: {why}; try again\n");
                    let bytes = api::response(
                        version,
                        503,
                        &[
                            ("Content-Type", "text/plain; charset=utf-8"),
                            ("Retry-After", "1"),
                        ],
                        body.as_bytes(),
                        keep_alive,
                    );
                    core.send(key, &ChatMsg::Reply(Rc::new(bytes)));
                }
            }
            Origin::Console => core.out.warn(&format!("not sent: {why}")),
        }
    }

    /// A message of the log out to everybody, in the log's order.
    fn deliver(
        &mut self,
        core: &mut Core<ChatCodec>,
        e: &Rc<Entry>,
        sender: Option<crate::event::ConnId>,
        report: bool,
    ) -> Result<()> {
        // A plain WebSocket sender does not hear itself (the chat's way);
        // a JSON one (the page) does, to learn the seq and the latency.
        core.broadcast(
            None,
            |c: &Client<ChatCodec>| !c.codec.is_http() && (Some(c.id) != sender || c.codec.json()),
            &ChatMsg::Chat(e.clone()),
        );
        self.answer_held(core);
        if report {
            core.out.emit(&Event::Chat {
                from: &e.from,
                text: &e.text,
            })?;
        }
        Ok(())
    }

    /// Held long polls with news get it.
    fn answer_held(&mut self, core: &mut Core<ChatCodec>) {
        let held = std::mem::take(&mut self.held);
        for h in held {
            if core.client(h.key).is_some_and(|c| c.id == h.id) {
                match api::messages(&self.log, &h.query) {
                    Some(bytes) => core.send(h.key, &ChatMsg::Reply(Rc::new(bytes))),
                    None => self.held.push(h),
                }
            }
        }
    }

    fn http(
        &mut self,
        core: &mut Core<ChatCodec>,
        key: usize,
        req: &Request,
        body: &[u8],
    ) -> Result<()> {
        let path = req.path();
        let reply = |core: &mut Core<ChatCodec>, status: u16, ctype: &str, body: &[u8]| {
            let bytes = api::response(
                req.version,
                status,
                &[("Content-Type", ctype)],
                body,
                req.keep_alive(),
            );
            core.send(key, &ChatMsg::Reply(Rc::new(bytes)));
        };
        match (req.method.as_str(), path) {
            ("GET", "/" | "/index.html") => {
                reply(core, 200, "text/html; charset=utf-8", PAGE.as_bytes());
            }
            ("HEAD", "/" | "/index.html") => {
                // The head of the GET: its length, no body.
                let mut bytes = api::response(
                    req.version,
                    200,
                    &[("Content-Type", "text/html; charset=utf-8")],
                    PAGE.as_bytes(),
                    req.keep_alive(),
                );
                bytes.truncate(bytes.len() - PAGE.len());
                core.send(key, &ChatMsg::Reply(Rc::new(bytes)));
            }
            ("GET", "/messages") => {
                let q = match Query::of(req) {
                    Ok(q) => q,
                    Err(why) => {
                        reply(
                            core,
                            400,
                            "text/plain; charset=utf-8",
                            format!("{why}\n").as_bytes(),
                        );
                        return Ok(());
                    }
                };
                if let Some(bytes) = api::messages(&self.log, &q) {
                    core.send(key, &ChatMsg::Reply(Rc::new(bytes)));
                } else if let (Some(wait), true) = (q.wait, self.held.len() < MAX_HELD) {
                    let id = core.client(key).map_or(0, |c| c.id);
                    let until = core.now() + wait;
                    core.wake_at(until, HELD_WAKE);
                    self.held.push(Held {
                        key,
                        id,
                        until,
                        query: q,
                    });
                } else {
                    let bytes = api::nothing_new(&self.log, &q);
                    core.send(key, &ChatMsg::Reply(Rc::new(bytes)));
                }
            }
            ("POST", "/messages") => {
                let (name, text) = api::posted(req, body);
                let origin = Origin::Http {
                    key,
                    id: core.client(key).map_or(0, |c| c.id),
                    version: req.version,
                    keep_alive: req.keep_alive(),
                };
                self.publish(core, origin, &name, &text)?;
            }
            (_, "/" | "/messages") => {
                reply(
                    core,
                    405,
                    "text/plain; charset=utf-8",
                    b"method not allowed\n",
                );
            }
            _ => reply(
                core,
                404,
                "text/plain; charset=utf-8",
                b"not found: try / or /messages\n",
            ),
        }
        Ok(())
    }
}

/// The wake-up token of held long polls (the notices' own is 0).
const HELD_WAKE: u64 = 1;

impl Room<ChatCodec> for ChatRoom {
    fn joined(&mut self, core: &mut Core<ChatCodec>, key: usize, opened: &Opened) -> Result<()> {
        match core.client(key) {
            Some(c) if !c.codec.is_http() => self.notices.joined(core, key, opened),
            _ => Ok(()),
        }
    }

    fn message(&mut self, core: &mut Core<ChatCodec>, key: usize, m: ChatMsg) -> Result<()> {
        match m {
            ChatMsg::Ws(m) => {
                let Some((name, id)) = core.client(key).map(|c| (c.name.clone(), c.id)) else {
                    return Ok(());
                };
                let text = WsCodec::text_of(&m).into_owned();
                // Notices of this turn go before the line, in order.
                self.notices.flush(core);
                self.publish(core, Origin::Ws { key, id }, &name, &text)
            }
            ChatMsg::Http(r) => self.http(core, key, &r.0, &r.1),
            _ => Ok(()),
        }
    }

    fn left(
        &mut self,
        core: &mut Core<ChatCodec>,
        client: &Client<ChatCodec>,
        ending: &Ending,
    ) -> Result<()> {
        if client.codec.is_http() {
            self.held.retain(|h| h.id != client.id);
            return Ok(());
        }
        self.notices.left(core, client, ending)
    }

    fn console(&mut self, core: &mut Core<ChatCodec>, m: ChatMsg) -> Result<()> {
        let text = ChatCodec::text_of(&m).into_owned();
        self.notices.flush(core);
        self.publish(core, Origin::Console, crate::proto::chat::CONSOLE, &text)
    }

    /// The Redis connections (with `--redis`).
    fn io(&mut self, core: &mut Core<ChatCodec>, cx: &mut Ctx<Timer>, io: RoomIo) -> Result<()> {
        let Backend::Redis(store) = &mut self.backend else {
            return Ok(());
        };
        let mut happened = std::mem::take(&mut self.happened);
        store.io(cx, &io, core.out, &mut happened);
        let mut result = Ok(());
        for h in happened.drain(..) {
            match h {
                Happened::Added(origin, id) => self.added(core, origin, id),
                Happened::Refused(origin, why) => self.refused(core, origin, &why),
                Happened::Notice(text) => {
                    self.notices.flush(core);
                    core.broadcast(
                        None,
                        |c: &Client<ChatCodec>| !c.codec.is_http(),
                        &ChatMsg::Ws(Message::Text(text)),
                    );
                }
                Happened::Loaded(list) => {
                    for e in list {
                        if e.id > self.log.last_seq() {
                            self.log.push_id(e.id, &e.from, &e.text, e.ts);
                        }
                    }
                    self.answer_held(core);
                }
                Happened::Entries(list) => {
                    self.notices.flush(core);
                    for e in list {
                        if e.id <= self.log.last_seq() || result.is_err() {
                            continue;
                        }
                        let entry = self.log.push_id(e.id, &e.from, &e.text, e.ts);
                        result = self.deliver(core, &entry, e.ws_sender, !e.console);
                    }
                }
            }
        }
        self.happened = happened;
        result
    }

    fn end_of_turn(&mut self, core: &mut Core<ChatCodec>) -> Result<()> {
        self.notices.end_of_turn(core)
    }

    /// The batched notices are due, or a held long poll's wait ran out
    /// (maybe more than one).
    fn wake(&mut self, core: &mut Core<ChatCodec>, token: u64) -> Result<()> {
        if token != HELD_WAKE {
            return self.notices.wake(core, token);
        }
        if self.held.is_empty() {
            return Ok(());
        }
        let now = core.now();
        if self.held.iter().all(|h| h.until > now) {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        for h in held {
            if h.until > now {
                self.held.push(h);
            } else if core.client(h.key).is_some_and(|c| c.id == h.id) {
                let bytes = api::nothing_new(&self.log, &h.query);
                core.send(h.key, &ChatMsg::Reply(Rc::new(bytes)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; answers each request as
    /// the room would (so the next one is decoded): what was decoded.
    fn decode(input: &[u8], step: usize) -> Vec<String> {
        let mut h = Http::default();
        let mut seen = Vec::new();
        for piece in input.chunks(step) {
            h.inbuf.extend_from_slice(piece);
            loop {
                let mut got = Vec::new();
                h.decode(&mut got);
                if got.is_empty() {
                    break;
                }
                for g in got {
                    match g {
                        Got::Message(ChatMsg::Http(r)) => {
                            seen.push(format!(
                                "{} {} {:?}",
                                r.0.method,
                                r.0.target,
                                String::from_utf8_lossy(&r.1)
                            ));
                            h.waiting = false;
                        }
                        Got::End(e) => seen.push(format!("end {:?}", e.reason)),
                        _ => seen.push("other".into()),
                    }
                }
            }
        }
        seen
    }

    #[test]
    fn pipelined_requests_whole_and_byte_by_byte() {
        let input = b"POST /messages?name=a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
GET /messages?since=0 HTTP/1.1\r\nHost: x\r\n\r\n";
        let want = [
            "POST /messages?name=a \"hello\"",
            "GET /messages?since=0 \"\"",
        ];
        assert_eq!(decode(input, input.len()), want);
        assert_eq!(decode(input, 1), want);
        assert_eq!(decode(input, 7), want);
    }

    #[test]
    fn bad_requests_are_refused_once() {
        for (input, status) in [
            (
                &b"POST /messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                "411",
            ),
            (
                b"POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n",
                "413",
            ),
            (
                b"POST /messages HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n",
                "400",
            ),
            (b"\x00\x01 nonsense\r\n\r\n", "400"),
        ] {
            for step in [input.len(), 1] {
                let seen = decode(input, step);
                assert_eq!(seen.len(), 1, "{seen:?}");
                assert!(seen[0].contains(status), "{seen:?} for {status}");
            }
        }
    }
}
