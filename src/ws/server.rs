//! `netkit ws listen PORT`: the WebSocket server, the [server core] with the
//! [`WsCodec`] and a room (print, `--echo`, `--broker`, `--chat`).
//!
//! Each client goes through the opening handshake (validated by
//! [`handshake::parse_request`], answered 101 or 4xx), then carries a
//! [`Session`]. Memory is bounded per client: one shared read buffer for
//! everybody, a client keeps only an incomplete frame; frames for a client
//! wait in its session and move to the socket only while its socket queue
//! is short, so a client that falls behind past `--max-queue` is detected,
//! its backlog dropped, and it is closed with 1008 while the others go on.
//! After a close handshake the server closes TCP first, as RFC 6455 asks.
//!
//! [server core]: crate::server

use std::borrow::Cow;
use std::time::Duration;

use mio::Interest;

use super::{Entropy, CLOSE_WAIT, READ_BUF};
use crate::config::ws_listen::WsListenConfig;
use crate::error::{Error, Exit, Result};
use crate::event::{Closer, Event};
use crate::net;
use crate::output::Output;
use crate::proto::lines::LineSplitter;
use crate::proto::ws::frame::{code, Role};
use crate::proto::ws::handshake::{self, Refusal, MAX_REQUEST_HEAD};
use crate::proto::ws::session::{Message, Session, WsEvent};
use crate::reactor::conn::OutBuf;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::Reactor;
use crate::server::room::{Broker, Echo, Print, ServeMode};
use crate::server::{
    self, AtEof, Codec, Config, Ending, Goodbye, Got, Info, Opened, Parts, Text, Timer, LISTENER,
    SIGNAL, STDIN,
};

/// How long Ctrl-C waits for clients to answer Close 1001.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// What every client of one server shares.
pub struct WsShared {
    entropy: Entropy,
    max_message: usize,
    path: Option<String>,
    protocols: Vec<String>,
    /// `--no-compress`: refuse permessage-deflate.
    no_compress: bool,
    /// Clients connected now (a busy server asks for less compression memory).
    clients: std::rc::Rc<std::cell::Cell<usize>>,
}

/// Counts a client in `WsShared::clients` while it lives.
struct Counted(std::rc::Rc<std::cell::Cell<usize>>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// The WebSocket server side of one client: the upgrade, then frames.
pub struct WsCodec {
    session: Session,
    /// Past the upgrade.
    open: bool,
    /// Ended (refused, closed, failed): nothing more is read.
    over: bool,
    /// An incomplete request head.
    head: Vec<u8>,
    /// Bytes not decoded yet (an incomplete frame, or the rest of a read
    /// after a message) from `at` on.
    pending: Vec<u8>,
    at: usize,
    /// Decoding stopped after a message with bytes left.
    stopped: bool,
    /// The handshake's answer, written before any frame.
    reply: OutBuf,
    _counted: Counted,
}

impl WsCodec {
    /// Queues a text message without building a [`Message`] (the chat's
    /// fan-out: one shared text, no copy per client).
    pub fn send_text(&mut self, shared: &mut WsShared, text: &str) {
        if self.open && self.session.is_open() {
            self.session.send_text(text, &mut shared.entropy);
        }
    }

    fn refuse(&mut self, refusal: &Refusal, got: &mut Vec<Got<Message>>) {
        self.reply.push(&handshake::response_error(refusal));
        self.over = true;
        self.head = Vec::new();
        got.push(Got::End(Ending::new(
            Closer::Refused,
            Some(format!(
                "handshake refused: {} {}",
                refusal.status, refusal.reason
            )),
        )));
    }

    fn handshake(&mut self, shared: &mut WsShared, got: &mut Vec<Got<Message>>) {
        let upgrade = match handshake::parse_request(&self.head) {
            Ok(None) if self.head.len() <= MAX_REQUEST_HEAD => return,
            Ok(None) => Err(Refusal {
                status: 431,
                reason: "request head too large".into(),
            }),
            Ok(Some((used, up))) => {
                self.head.drain(..used);
                let path_only = up.path.split('?').next().unwrap_or("/");
                match &shared.path {
                    Some(p) if p != path_only => Err(Refusal {
                        status: 404,
                        reason: format!("no WebSocket at {path_only} (try {p})"),
                    }),
                    _ => Ok(up),
                }
            }
            Err(refusal) => Err(refusal),
        };
        let up = match upgrade {
            Ok(up) => up,
            Err(refusal) => return self.refuse(&refusal, got),
        };
        let protocol = handshake::choose_protocol(&up.protocols, &shared.protocols);
        let clients = shared.clients.get();
        let deflate = handshake::accept_deflate(&up, !shared.no_compress, clients);
        let extensions = deflate.as_ref().map(|(_, e)| e.as_str());
        self.reply.push(&handshake::response_101(
            &up.key,
            protocol.as_deref(),
            extensions,
        ));
        self.session.set_deflate(deflate.map(|(p, _)| p));
        self.open = true;
        got.push(Got::Open(Opened {
            name: query_param(&up.path, "name"),
            path: up.path,
            protocol,
        }));
        // Frames may have come with the request.
        let rest = std::mem::take(&mut self.head);
        if !rest.is_empty() {
            self.frames(shared, &rest, got);
        }
    }

    /// Decodes frames, after what is left of earlier reads. Stops after
    /// each message, so the room acts on it before a Close that follows it
    /// in the same read changes the session ([`Codec::more`]).
    fn frames(&mut self, shared: &mut WsShared, data: &[u8], got: &mut Vec<Got<Message>>) {
        if self.at == self.pending.len() && !data.is_empty() {
            self.pending = Vec::new();
            self.at = 0;
            let used = self.feed(shared, data, got);
            if !self.over && used < data.len() {
                self.pending = data[used..].to_vec();
            }
            return;
        }
        self.pending.extend_from_slice(data);
        let mut pending = std::mem::take(&mut self.pending);
        let used = self.feed(shared, &pending[self.at..], got);
        self.at += used;
        if self.over || self.at == pending.len() {
            // Nothing kept: an idle client holds no buffer.
            pending = Vec::new();
            self.at = 0;
        } else if !self.stopped {
            // An incomplete frame: keep only it.
            pending.drain(..self.at);
            pending.shrink_to_fit();
            self.at = 0;
        }
        self.pending = pending;
    }

    /// Feeds frames to the session until a message, an end, or an
    /// incomplete frame; returns how many bytes it used.
    fn feed(&mut self, shared: &mut WsShared, data: &[u8], got: &mut Vec<Got<Message>>) -> usize {
        let mut used_all = 0;
        self.stopped = false;
        while used_all < data.len() && !self.over {
            let (used, event) = self.session.receive(&data[used_all..], &mut shared.entropy);
            used_all += used;
            match event {
                Some(WsEvent::Message(m)) => {
                    got.push(Got::Message(m));
                    self.stopped = used_all < data.len();
                    break;
                }
                // Answered in the session; the core counts the pongs
                // against --max-queue.
                Some(WsEvent::Ping(_) | WsEvent::Pong(_)) => {}
                Some(WsEvent::Closed {
                    code,
                    reason,
                    by_peer,
                }) => {
                    self.over = true;
                    let by = if by_peer { Closer::Peer } else { Closer::Local };
                    got.push(Got::End(Ending {
                        by,
                        code,
                        reason: Some(reason),
                    }));
                }
                Some(WsEvent::Failed(e)) => {
                    self.over = true;
                    got.push(Got::End(Ending {
                        by: Closer::Error,
                        code: Some(e.code),
                        reason: Some(e.reason),
                    }));
                }
                None if used == 0 => break,
                None => {}
            }
        }
        used_all
    }
}

impl Codec for WsCodec {
    type Msg = Message;
    type Shared = WsShared;
    const FULL: &'static [u8] =
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nserver full\n";
    const IDLE_ON_READS: bool = true;
    const JUDGE_AFTER_WRITE: bool = false;
    const BEHIND_NOTE: &'static str = "closing it with 1008";

    fn new(shared: &mut WsShared) -> WsCodec {
        WsCodec {
            session: Session::new(Role::Server, shared.max_message),
            open: false,
            over: false,
            head: Vec::new(),
            pending: Vec::new(),
            at: 0,
            stopped: false,
            reply: OutBuf::default(),
            _counted: {
                shared.clients.set(shared.clients.get() + 1);
                Counted(shared.clients.clone())
            },
        }
    }

    fn is_open(&self) -> bool {
        self.open
    }

    fn more(&self) -> bool {
        self.stopped && !self.over
    }

    fn receive(&mut self, shared: &mut WsShared, data: &[u8], got: &mut Vec<Got<Message>>) {
        if self.over {
            return;
        }
        if self.open {
            self.frames(shared, data, got);
        } else {
            self.head.extend_from_slice(data);
            self.handshake(shared, got);
        }
    }

    fn eof(&mut self, _: &mut Vec<Got<Message>>) -> AtEof {
        if self.session.is_closed() {
            AtEof::End(Ending::new(Closer::Peer, None))
        } else {
            AtEof::End(abnormal("closed TCP without a Close frame".into()))
        }
    }

    fn send(&mut self, shared: &mut WsShared, m: &Message) {
        if self.open && self.session.is_open() {
            self.session.send(m, &mut shared.entropy);
        }
    }

    fn output(&mut self) -> &[u8] {
        if self.reply.is_empty() {
            self.session.output()
        } else {
            self.reply.front()
        }
    }

    fn consume(&mut self, n: usize) {
        if self.reply.is_empty() {
            self.session.consume(n);
        } else {
            self.reply.consume(n);
        }
    }

    fn queued(&self) -> usize {
        self.reply.len() + self.session.queued()
    }

    /// Behind means the backlog was already over the bound: one message,
    /// however large (up to --max-message), may always be in flight.
    fn behind(&self, backlog: usize, _next: usize, max_queue: usize) -> bool {
        backlog > max_queue
    }

    fn goodbye(&mut self, shared: &mut WsShared, why: Goodbye, max_queue: usize) -> Option<Ending> {
        if !self.open {
            return Some(abnormal(String::new()));
        }
        if !self.session.is_open() {
            // A goodbye is under way already.
            return None;
        }
        match why {
            Goodbye::Shutdown => self.session.close(
                code::GOING_AWAY,
                "server shutting down",
                &mut shared.entropy,
            ),
            Goodbye::Idle => self
                .session
                .close(code::NORMAL, "idle", &mut shared.entropy),
            Goodbye::Behind => {
                self.session.discard_output();
                let reason = format!(
                    "too slow: over {} queued",
                    crate::output::units::bytes(max_queue as u64)
                );
                self.session
                    .close(code::POLICY, &reason, &mut shared.entropy);
            }
        }
        None
    }

    fn lost(&self, why: String) -> Ending {
        abnormal(why)
    }

    fn handshake_timeout(&mut self, reason: &str) -> Ending {
        // Nothing was answered yet: say why, best effort (before the TLS
        // handshake is done, this never leaves).
        if !self.open {
            let refusal = Refusal {
                status: 408,
                reason: reason.to_string(),
            };
            self.reply.push(&handshake::response_error(&refusal));
        }
        abnormal(reason.to_string())
    }

    fn expired(&self, draining: Option<&Ending>) -> Ending {
        let reason = draining
            .and_then(|e| e.reason.clone())
            .unwrap_or_else(|| "no answer to Close".into());
        abnormal(reason)
    }

    fn tick(&mut self, shared: &mut WsShared) {
        if self.session.is_open() {
            self.session.ping(b"netkit", &mut shared.entropy);
        }
    }

    fn report_accept(_: &Info, _: usize, _: &mut Output) -> Result<()> {
        Ok(())
    }

    fn report_open(info: &Info, o: &Opened, clients: usize, out: &mut Output) -> Result<()> {
        out.emit(&Event::WsOpen {
            id: info.id,
            remote: info.peer.ip(),
            path: &o.path,
            protocol: o.protocol.as_deref(),
            clients,
        })
    }

    fn report_close(
        info: &Info,
        ending: &Ending,
        opened: bool,
        clients: usize,
        out: &mut Output,
    ) -> Result<()> {
        if !opened && ending.by != Closer::Refused {
            // Never upgraded: not worth a close event.
            return Ok(());
        }
        out.emit(&Event::WsClose {
            id: info.id,
            remote: info.peer.ip(),
            code: ending.code,
            reason: ending.reason.as_deref().unwrap_or(""),
            by: ending.by.as_str(),
            clients,
        })
    }

    fn report_message(info: &Info, m: &Message, out: &mut Output) -> Result<()> {
        let (text, bytes) = match m {
            Message::Text(t) => (Some(t.as_str()), t.as_bytes()),
            Message::Binary(b) => (None, b.as_slice()),
        };
        out.emit(&Event::Message {
            id: info.id,
            text,
            bytes,
        })
    }

    fn console(lines: &mut LineSplitter, data: &[u8], msgs: &mut Vec<Message>) {
        lines.push(data, |l| {
            msgs.push(Message::Text(String::from_utf8_lossy(l).into_owned()))
        });
    }

    fn console_end(lines: &mut LineSplitter, msgs: &mut Vec<Message>) {
        if let Some(rest) = lines.finish() {
            msgs.push(Message::Text(String::from_utf8_lossy(&rest).into_owned()));
        }
    }
}

impl Text for WsCodec {
    fn text_of(m: &Message) -> Cow<'_, str> {
        match m {
            Message::Text(t) => Cow::Borrowed(t),
            Message::Binary(b) => Cow::Owned(format!("[{} bytes of binary]", b.len())),
        }
    }

    fn text(s: String) -> Message {
        Message::Text(s)
    }
}

/// No Close frame: 1006.
fn abnormal(reason: String) -> Ending {
    Ending {
        by: Closer::Abnormal,
        code: Some(code::ABNORMAL),
        reason: Some(reason),
    }
}

pub fn run(config: WsListenConfig, out: &mut Output) -> Result<Exit> {
    net::raise_fd_limit();
    let (mut listener, _cleanup) = config.at.open()?;
    let addr = listener.local().map_err(|e| Error::io("listen", &e))?;
    let mut reactor: Reactor<Timer> = Reactor::new()?;
    reactor
        .registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| Error::io("listen", &e))?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let stdin = if config.mode.reads_console() {
        Some(Stdin::open(reactor.registry(), STDIN).map_err(|e| Error::io("stdin", &e))?)
    } else {
        None
    };
    // The room's Redis (its name looked up) before `listening`: a server
    // that cannot keep its room does not announce itself.
    let chat = (config.mode == ServeMode::Chat)
        .then(|| {
            crate::chat::ChatRoom::new(config.history).redis(config.redis.as_ref(), config.history)
        })
        .transpose()?;
    out.emit(&Event::Listening { addr })?;
    let cfg = Config {
        max_clients: config.max_clients,
        max_queue: config.max_queue,
        idle_timeout: config.idle_timeout,
        handshake_timeout: Some(config.handshake_timeout),
        close_wait: CLOSE_WAIT,
        shutdown_grace: SHUTDOWN_GRACE,
        read_buf: READ_BUF,
        tick: config.ping_interval,
        ..Config::default()
    };
    let shared = WsShared {
        entropy: Entropy::new()?,
        max_message: config.max_message,
        path: config.path,
        protocols: config.protocols,
        no_compress: config.no_compress,
        clients: Default::default(),
    };
    let parts = Parts {
        listener,
        tls: config.tls,
        stdin,
        signals,
        out,
    };
    match (config.mode, chat) {
        (_, Some(room)) => {
            // WebSocket, polling and long polling in one room.
            let shared = crate::chat::ChatShared {
                ws: shared,
                ping: cfg.tick,
            };
            server::run::<crate::chat::ChatCodec, _>(&mut reactor, cfg, shared, room, parts)
        }
        (ServeMode::Broker, None) => {
            server::run::<WsCodec, _>(&mut reactor, cfg, shared, Broker, parts)
        }
        (ServeMode::Echo, None) => {
            server::run::<WsCodec, _>(&mut reactor, cfg, shared, Echo, parts)
        }
        (ServeMode::Print | ServeMode::Chat, None) => {
            server::run::<WsCodec, _>(&mut reactor, cfg, shared, Print, parts)
        }
    }
}

/// `name` from `/path?name=ann&x=1`, percent-decoded (cleaned when claimed).
fn query_param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
