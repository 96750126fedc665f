//! `netkit ws listen PORT`: the WebSocket server.
//!
//! Each client goes through the opening handshake (validated by
//! [`handshake::parse_request`], answered 101 or 4xx), then carries a
//! [`Session`]. Modes: messages to stdout and stdin lines to every client
//! (default), `--echo`, `--broker`, `--chat`. Memory is bounded per client:
//! one shared read buffer for everybody, a client keeps only an incomplete
//! frame; frames for a client wait in its session and move to the socket
//! only while its socket queue is short, so a client that falls behind past
//! `--max-queue` is detected, its backlog dropped, and it is closed with 1008
//! while the others go on. After a close handshake the server closes TCP
//! first, as RFC 6455 asks.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::{Interest, Token};
use rustls::ServerConfig;
use slab::Slab;

use super::{Entropy, CLOSE_WAIT, HIGH_WATER, READ_BUF};
use crate::cli::WsListenArgs;
use crate::error::{describe_io, Error, Exit, Result};
use crate::event::{ConnId, Event};
use crate::http::tls::{self, TlsConn};
use crate::http::transport::Transport;
use crate::net;
use crate::output::Output;
use crate::proto::chat::Names;
use crate::proto::lines::LineSplitter;
use crate::proto::ws::frame::{code, Role};
use crate::proto::ws::handshake::{self, Refusal, MAX_REQUEST_HEAD};
use crate::proto::ws::session::{Message, Session, WsEvent};
use crate::reactor::conn::{Conn, Read};
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::{Ctx, Handler, Reactor};

const STDIN: Token = Token(0);
const SIGNAL: Token = Token(1);
const LISTENER: Token = Token(3);
const CLIENT_BASE: usize = 16;

/// Reads from one client per turn of the loop: a client that writes as fast
/// as we read must not starve the others (the rest waits for the next turn).
const READS_PER_TURN: usize = 16;
/// Longest stdin line sent as one message.
const MAX_LINE: usize = 1 << 20;
/// How long Ctrl-C waits for clients to answer Close 1001.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Print,
    Echo,
    Broker,
    Chat,
}

#[derive(Debug, Clone, Copy)]
enum Timer {
    Handshake {
        key: usize,
        id: ConnId,
    },
    Idle {
        key: usize,
        id: ConnId,
    },
    CloseWait {
        key: usize,
        id: ConnId,
    },
    /// A client that had more to read when its turn ended.
    Resume {
        key: usize,
        id: ConnId,
    },
    Ping,
    Shutdown,
    RetryAccept,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshake,
    Open,
    /// A refusal (or the end of the session) is being written; then close.
    Draining,
}

struct Client {
    id: ConnId,
    /// `user<id>` until the upgrade claims a name in `Server::names`.
    name: String,
    named: bool,
    peer: SocketAddr,
    transport: Transport,
    phase: Phase,
    session: Session,
    /// An incomplete request head or frame.
    pending: Vec<u8>,
    last_active: Instant,
    /// How the session ended, once it has: (code, reason, by).
    ended: Option<(Option<u16>, String, &'static str)>,
    /// Listed in `Server::dirty`.
    dirty: bool,
}

struct Server<'o> {
    args: WsListenArgs,
    mode: Mode,
    acceptor: net::Acceptor,
    tls: Option<Arc<ServerConfig>>,
    clients: Slab<Client>,
    /// Names of the upgraded clients (unique, safe to show).
    names: Names,
    /// Clients with frames to write this turn.
    dirty: Vec<usize>,
    next_id: ConnId,
    buf: Vec<u8>,
    entropy: Entropy,
    stdin: Option<Stdin>,
    lines: LineSplitter,
    out: &'o mut Output,
    signals: Signals,
    shutting_down: bool,
    exit: Option<Result<Exit>>,
}

pub fn run(args: WsListenArgs, out: &mut Output) -> Result<Exit> {
    let mode = if args.chat {
        Mode::Chat
    } else if args.broker {
        Mode::Broker
    } else if args.echo {
        Mode::Echo
    } else {
        Mode::Print
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(tls::server_config(c, k)?),
        _ => None,
    };
    net::raise_fd_limit();
    let mut listener = net::listen(args.bind, args.port, args.family)?;
    let addr = listener.local_addr().map_err(|e| Error::io("listen", &e))?;
    let mut reactor = Reactor::new()?;
    reactor
        .registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| Error::io("listen", &e))?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let stdin = if mode == Mode::Echo {
        None
    } else {
        Some(Stdin::open(reactor.registry(), STDIN).map_err(|e| Error::io("stdin", &e))?)
    };
    if let Some(d) = args.limits.ping_interval {
        reactor.timers.add(Instant::now() + d, Timer::Ping);
    }
    out.emit(&Event::Listening { addr })?;
    let mut server = Server {
        args,
        mode,
        acceptor: net::Acceptor::new(listener),
        tls,
        clients: Slab::new(),
        names: Names::new(),
        dirty: Vec::new(),
        next_id: 1,
        buf: vec![0; READ_BUF],
        entropy: Entropy::new()?,
        stdin,
        lines: LineSplitter::new(MAX_LINE),
        out,
        signals,
        shutting_down: false,
        exit: None,
    };
    server.out.set_buffered(true)?;
    let result = reactor.run(&mut server);
    server.out.set_buffered(false)?;
    result
}

impl Server<'_> {
    fn accept(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        loop {
            let (mut stream, peer) = match self.acceptor.next(cx, Timer::RetryAccept) {
                net::Accepted::Client(stream, peer) => (stream, peer),
                net::Accepted::None => return Ok(()),
                net::Accepted::Exhausted(e) => {
                    self.out.notice(&format!(
                        "cannot accept more clients: {} ({} connected)",
                        describe_io(&e),
                        self.clients.len()
                    ));
                    return Ok(());
                }
            };
            if self.shutting_down {
                continue;
            }
            if self.clients.len() >= self.args.max_clients as usize {
                let reason = format!("server full (--max-clients {})", self.args.max_clients);
                // Best effort: a full server says so, then hangs up.
                let _ = io::Write::write(
                    &mut stream,
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nserver full\n",
                );
                self.out.emit(&Event::Rejected {
                    remote: peer,
                    reason: &reason,
                })?;
                continue;
            }
            let _ = stream.set_nodelay(true);
            let Ok(local) = stream.local_addr() else {
                continue;
            };
            let entry = self.clients.vacant_entry();
            let key = entry.key();
            cx.registry
                .register(
                    &mut stream,
                    Token(CLIENT_BASE + key),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .map_err(|e| Error::io("accept", &e))?;
            let transport = match &self.tls {
                Some(config) => Transport::Tls(Box::new(TlsConn::server(stream, config.clone())?)),
                None => Transport::Plain(Conn::new(stream, peer, net::canonical(local), cx.now)),
            };
            let id = self.next_id;
            self.next_id += 1;
            entry.insert(Client {
                id,
                name: format!("user{id}"),
                named: false,
                peer,
                transport,
                phase: Phase::Handshake,
                session: Session::new(Role::Server, self.args.limits.max_message),
                pending: Vec::new(),
                last_active: cx.now,
                ended: None,
                dirty: false,
            });
            cx.timers.add(
                cx.now + self.args.handshake_timeout,
                Timer::Handshake { key, id },
            );
        }
    }

    /// Reads a client until it would block and acts on what it sent.
    fn service(&mut self, cx: &mut Ctx<Timer>, key: usize) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.service_with(cx, key, &mut buf);
        self.buf = buf;
        result?;
        self.flush(cx, key);
        Ok(())
    }

    fn service_with(&mut self, cx: &mut Ctx<Timer>, key: usize, buf: &mut [u8]) -> Result<()> {
        for _ in 0..READS_PER_TURN {
            let Some(c) = self.clients.get_mut(key) else {
                return Ok(());
            };
            if c.phase == Phase::Draining && c.session.is_closed() && c.ended.is_some() {
                // Only the end of the conversation is left to write.
                return Ok(());
            }
            let n = match c.transport.read(buf, cx.now) {
                Ok(Read::Data(n)) => n,
                Ok(Read::WouldBlock) => return Ok(()),
                Ok(Read::Eof) => {
                    let by = if c.session.is_closed() {
                        "peer"
                    } else {
                        "abnormal"
                    };
                    let why = if by == "abnormal" {
                        "closed TCP without a Close frame"
                    } else {
                        ""
                    };
                    self.finish(
                        cx,
                        key,
                        Some(code::ABNORMAL).filter(|_| by == "abnormal"),
                        why,
                        by,
                    )?;
                    return Ok(());
                }
                Err(e) => {
                    if let Some(f) = tls::tls_failure(&e) {
                        let why = f.0.clone();
                        self.finish(cx, key, None, &why, "error")?;
                    } else {
                        self.finish(cx, key, Some(code::ABNORMAL), &describe_io(&e), "abnormal")?;
                    }
                    return Ok(());
                }
            };
            c.last_active = cx.now;
            let data = &buf[..n];
            match c.phase {
                Phase::Handshake => {
                    c.pending.extend_from_slice(data);
                    self.handshake(cx, key)?;
                }
                Phase::Open => {
                    if c.pending.is_empty() {
                        let rest = self.feed(cx, key, data)?;
                        if let Some(c) = self.clients.get_mut(key) {
                            c.pending.extend_from_slice(&data[data.len() - rest..]);
                        }
                    } else {
                        let mut pending = std::mem::take(&mut c.pending);
                        pending.extend_from_slice(data);
                        let rest = self.feed(cx, key, &pending)?;
                        if let Some(c) = self.clients.get_mut(key) {
                            pending.drain(..pending.len() - rest);
                            c.pending = pending;
                        }
                    }
                }
                Phase::Draining => {}
            }
        }
        if let Some(c) = self.clients.get(key) {
            let id = c.id;
            // Due just after now: the next turn, after the others' events.
            let next_turn = cx.now + Duration::from_nanos(1);
            cx.timers.add(next_turn, Timer::Resume { key, id });
        }
        Ok(())
    }

    /// Validates a complete request head and answers it.
    fn handshake(&mut self, cx: &mut Ctx<Timer>, key: usize) -> Result<()> {
        let clients = self.clients.len();
        let Some(c) = self.clients.get_mut(key) else {
            return Ok(());
        };
        let parsed = handshake::parse_request(&c.pending);
        let upgrade = match parsed {
            Ok(None) if c.pending.len() <= MAX_REQUEST_HEAD => return Ok(()),
            Ok(None) => Err(Refusal {
                status: 431,
                reason: "request head too large".into(),
            }),
            Ok(Some((used, up))) => {
                c.pending.drain(..used);
                let path_only = up.path.split('?').next().unwrap_or("/");
                match &self.args.path {
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
            Err(refusal) => {
                let response = handshake::response_error(&refusal);
                c.phase = Phase::Draining;
                c.ended = Some((
                    None,
                    format!("handshake refused: {} {}", refusal.status, refusal.reason),
                    "refused",
                ));
                c.pending.clear();
                let _ = c.transport.send(&response, cx.now);
                return Ok(());
            }
        };
        let protocol = handshake::choose_protocol(&up.protocols, &self.args.protocols);
        let deflate = handshake::accept_deflate(&up, !self.args.limits.no_compress, clients);
        let extensions = deflate.as_ref().map(|(_, e)| e.as_str());
        let response = handshake::response_101(&up.key, protocol.as_deref(), extensions);
        c.session.set_deflate(deflate.map(|(p, _)| p));
        let wanted = query_param(&up.path, "name");
        c.name = self.names.claim(wanted.as_deref(), &c.name);
        c.named = true;
        c.phase = Phase::Open;
        if let Err(e) = c.transport.send(&response, cx.now) {
            let why = describe_io(&e);
            return self.finish(cx, key, Some(code::ABNORMAL), &why, "abnormal");
        }
        let (id, peer, name) = (c.id, c.peer, c.name.clone());
        if let Some(d) = self.args.limits.idle_timeout {
            cx.timers.add(cx.now + d, Timer::Idle { key, id });
        }
        let open = self
            .clients
            .iter()
            .filter(|(_, c)| c.phase == Phase::Open)
            .count();
        self.out.emit(&Event::WsOpen {
            id,
            remote: peer,
            path: &up.path,
            protocol: protocol.as_deref(),
            clients: open,
        })?;
        if self.mode == Mode::Chat {
            let others: Vec<String> = self
                .clients
                .iter()
                .filter(|&(k, c)| k != key && c.phase == Phase::Open)
                .map(|(_, c)| c.name.clone())
                .collect();
            let welcome = if others.is_empty() {
                format!("*** welcome, {name}; nobody else is here yet")
            } else {
                format!("*** welcome, {name}; here: {}", others.join(", "))
            };
            self.send_to(cx, key, &Message::Text(welcome));
            self.relay(cx, Some(key), &Message::Text(format!("*** {name} joined")));
            self.out.emit(&Event::Joined {
                name: &name,
                remote: peer,
                clients: open,
            })?;
        }
        // Frames may have come with the request.
        let pending = self
            .clients
            .get_mut(key)
            .map(|c| std::mem::take(&mut c.pending))
            .unwrap_or_default();
        if !pending.is_empty() {
            let rest = self.feed(cx, key, &pending)?;
            if let Some(c) = self.clients.get_mut(key) {
                c.pending = pending[pending.len() - rest..].to_vec();
            }
        }
        Ok(())
    }

    /// Feeds bytes to a client's session; returns how many were left over
    /// (an incomplete frame).
    fn feed(&mut self, cx: &mut Ctx<Timer>, key: usize, mut data: &[u8]) -> Result<usize> {
        while !data.is_empty() {
            let Some(c) = self.clients.get_mut(key) else {
                return Ok(0);
            };
            let (used, event) = c.session.receive(data, &mut self.entropy);
            data = &data[used..];
            match event {
                Some(ev) => self.on_event(cx, key, ev)?,
                None if used == 0 => break,
                None => {}
            }
        }
        Ok(data.len())
    }

    fn on_event(&mut self, cx: &mut Ctx<Timer>, key: usize, ev: WsEvent) -> Result<()> {
        let Some(c) = self.clients.get_mut(key) else {
            return Ok(());
        };
        let id = c.id;
        match ev {
            WsEvent::Message(m) => match self.mode {
                Mode::Echo => self.send_to(cx, key, &m),
                Mode::Print | Mode::Broker => {
                    if self.mode == Mode::Broker {
                        self.relay(cx, Some(key), &m);
                    }
                    let (text, bytes) = match &m {
                        Message::Text(t) => (Some(t.as_str()), t.as_bytes()),
                        Message::Binary(b) => (None, b.as_slice()),
                    };
                    self.out.emit(&Event::Message { id, text, bytes })?;
                }
                Mode::Chat => {
                    let name = c.name.clone();
                    let text = match &m {
                        Message::Text(t) => t.clone(),
                        Message::Binary(b) => format!("[{} bytes of binary]", b.len()),
                    };
                    self.relay(cx, Some(key), &Message::Text(format!("<{name}> {text}")));
                    self.out.emit(&Event::Chat {
                        from: &name,
                        text: &text,
                    })?;
                }
            },
            WsEvent::Ping(_) => {
                // One pong at most waits in the session, but a peer that
                // pings and never reads still fills the socket queue.
                if c.session.queued() + c.transport.queued() > self.args.max_queue {
                    self.fell_behind(cx, key);
                }
            }
            WsEvent::Pong(_) => {}
            WsEvent::Closed {
                code,
                reason,
                by_peer,
            } => {
                c.phase = Phase::Draining;
                c.ended = Some((code, reason, if by_peer { "peer" } else { "local" }));
            }
            WsEvent::Failed(e) => {
                c.phase = Phase::Draining;
                c.ended = Some((Some(e.code), e.reason, "error"));
            }
        }
        Ok(())
    }

    /// Queues a message for one client, closing it with 1008 if it is too far behind.
    fn send_to(&mut self, cx: &mut Ctx<Timer>, key: usize, m: &Message) {
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        if c.phase != Phase::Open || !c.session.is_open() {
            return;
        }
        // Behind means the backlog was already over the bound: one message,
        // however large (up to --max-message), may always be in flight.
        let backlog = c.session.queued() + c.transport.queued();
        if backlog <= self.args.max_queue {
            c.session.send(m, &mut self.entropy);
        } else {
            self.fell_behind(cx, key);
        }
    }

    /// Drops a client's backlog and closes it with 1008.
    fn fell_behind(&mut self, cx: &mut Ctx<Timer>, key: usize) {
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        if !c.session.is_open() {
            return;
        }
        let id = c.id;
        c.session.discard_output();
        let reason = format!(
            "too slow: over {} queued",
            crate::output::units::bytes(self.args.max_queue as u64)
        );
        c.session.close(code::POLICY, &reason, &mut self.entropy);
        self.out.warn(&format!(
            "client {id} ({}) fell behind; closing it with 1008",
            c.peer
        ));
        cx.timers
            .add(cx.now + CLOSE_WAIT, Timer::CloseWait { key, id });
    }

    /// Queues a message for every open client but `from`.
    fn relay(&mut self, cx: &mut Ctx<Timer>, from: Option<usize>, m: &Message) {
        let keys: Vec<usize> = self
            .clients
            .iter()
            .filter(|&(k, c)| Some(k) != from && c.phase == Phase::Open)
            .map(|(k, _)| k)
            .collect();
        for k in keys {
            self.send_to(cx, k, m);
            self.mark_dirty(k);
        }
    }

    /// Remembers that a client has frames to write. Relayed frames are
    /// written once per turn of the loop ([`Server::flush_dirty`]), so a
    /// burst of messages to one client costs one write, not one each.
    fn mark_dirty(&mut self, key: usize) {
        if let Some(c) = self.clients.get_mut(key) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    fn flush_dirty(&mut self, cx: &mut Ctx<Timer>) {
        // A flush may end a client, whose leave notice dirties others.
        while !self.dirty.is_empty() {
            for key in std::mem::take(&mut self.dirty) {
                if let Some(c) = self.clients.get_mut(key) {
                    c.dirty = false;
                }
                self.flush(cx, key);
            }
        }
    }

    /// Moves a client's frames to its socket (while the socket queue is
    /// short) and closes TCP once the session is over and written out.
    fn flush(&mut self, cx: &mut Ctx<Timer>, key: usize) {
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        let mut failed = None;
        if c.transport.queued() < HIGH_WATER && c.session.queued() > 0 {
            let out = c.session.output();
            let n = out.len();
            match c.transport.send(out, cx.now) {
                Ok(()) => c.session.consume(n),
                Err(e) => failed = Some(e),
            }
        }
        if failed.is_none() {
            if let Err(e) = c.transport.flush(cx.now) {
                failed = Some(e);
            }
        }
        if let Some(e) = failed {
            let why = describe_io(&e);
            let _ = self.finish(cx, key, Some(code::ABNORMAL), &why, "abnormal");
            return;
        }
        let done_writing = c.session.queued() == 0 && !c.transport.pending();
        let over = c.phase == Phase::Draining && (c.session.is_closed() || c.ended.is_some());
        if over && done_writing {
            let (code, reason, by) = c.ended.clone().unwrap_or((None, String::new(), "local"));
            let _ = self.finish(cx, key, code, &reason, by);
        }
    }

    /// Closes TCP (we close first) and reports the end of a client.
    fn finish(
        &mut self,
        cx: &mut Ctx<Timer>,
        key: usize,
        code: Option<u16>,
        reason: &str,
        by: &str,
    ) -> Result<()> {
        let Some(mut c) = self.clients.try_remove(key) else {
            return Ok(());
        };
        if c.named {
            self.names.release(&c.name);
        }
        c.transport.close();
        let _ = c.transport.flush(cx.now);
        let _ = cx.registry.deregister(c.transport.stream_mut());
        let (code, reason, by) = match &c.ended {
            Some((ec, er, eb)) if by != "abnormal" => (*ec, er.clone(), *eb),
            _ => (
                code,
                reason.to_string(),
                if c.phase == Phase::Handshake {
                    "abnormal"
                } else {
                    by
                },
            ),
        };
        if c.phase == Phase::Handshake && c.ended.is_none() {
            // Never upgraded: not worth a close event.
            return Ok(());
        }
        let open = self
            .clients
            .iter()
            .filter(|(_, c)| c.phase == Phase::Open)
            .count();
        self.out.emit(&Event::WsClose {
            id: c.id,
            remote: c.peer,
            code,
            reason: &reason,
            by,
            clients: open,
        })?;
        let was_open = !matches!(by, "refused");
        if self.mode == Mode::Chat && was_open {
            self.relay(cx, None, &Message::Text(format!("*** {} left", c.name)));
            self.out.emit(&Event::Left {
                name: &c.name,
                clients: open,
                reason: None,
            })?;
        }
        Ok(())
    }

    fn read_stdin(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            let Some(stdin) = self.stdin.as_mut() else {
                return Ok(());
            };
            match stdin.read(&mut buf) {
                Ok(Read::Data(n)) => {
                    let mut lines = Vec::new();
                    self.lines.push(&buf[..n], |l| {
                        lines.push(String::from_utf8_lossy(l).into_owned())
                    });
                    for line in lines {
                        self.console_line(cx, line);
                    }
                }
                Ok(Read::WouldBlock) => return Ok(()),
                Ok(Read::Eof) => {
                    self.stdin = None;
                    if let Some(rest) = self.lines.finish() {
                        self.console_line(cx, String::from_utf8_lossy(&rest).into_owned());
                    }
                    return Ok(());
                }
                Err(e) => return Err(Error::io("read stdin", &e)),
            }
        }
    }

    fn console_line(&mut self, cx: &mut Ctx<Timer>, line: String) {
        let text = if self.mode == Mode::Chat {
            format!("<server> {line}")
        } else {
            line
        };
        self.relay(cx, None, &Message::Text(text));
    }

    fn shutdown(&mut self, cx: &mut Ctx<Timer>) {
        self.shutting_down = true;
        let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
        for k in keys {
            if let Some(c) = self.clients.get_mut(k) {
                match c.phase {
                    Phase::Open => {
                        c.session.close(
                            code::GOING_AWAY,
                            "server shutting down",
                            &mut self.entropy,
                        );
                        c.phase = Phase::Draining;
                    }
                    _ => c.phase = Phase::Draining,
                }
            }
            self.flush(cx, k);
        }
        cx.timers.add(cx.now + SHUTDOWN_GRACE, Timer::Shutdown);
    }

    fn client_timer(
        &mut self,
        cx: &mut Ctx<Timer>,
        key: usize,
        id: ConnId,
        timer: Timer,
    ) -> Result<()> {
        let Some(c) = self.clients.get_mut(key).filter(|c| c.id == id) else {
            return Ok(());
        };
        match timer {
            Timer::Handshake { .. } if c.phase == Phase::Handshake => {
                let reason = format!(
                    "no handshake within --handshake-timeout {}",
                    humantime::format_duration(self.args.handshake_timeout)
                );
                // Nothing was answered yet: say why, best effort (before
                // the TLS handshake is done, this never leaves).
                let refusal = Refusal {
                    status: 408,
                    reason: reason.clone(),
                };
                let _ = c
                    .transport
                    .send(&handshake::response_error(&refusal), cx.now);
                let remote = c.peer;
                self.finish(cx, key, None, &reason, "abnormal")?;
                self.out.emit(&Event::Rejected {
                    remote,
                    reason: &reason,
                })?;
            }
            Timer::Idle { .. } => {
                let Some(d) = self.args.limits.idle_timeout else {
                    return Ok(());
                };
                if cx.now >= c.last_active + d {
                    c.session.close(code::NORMAL, "idle", &mut self.entropy);
                    c.phase = Phase::Draining;
                    cx.timers
                        .add(cx.now + CLOSE_WAIT, Timer::CloseWait { key, id });
                    self.flush(cx, key);
                } else {
                    let at = c.last_active + d;
                    cx.timers.add(at, Timer::Idle { key, id });
                }
            }
            Timer::Resume { .. } => self.service(cx, key)?,
            Timer::CloseWait { .. } => {
                let reason = c
                    .ended
                    .clone()
                    .map(|e| e.1)
                    .unwrap_or_else(|| "no answer to Close".into());
                self.finish(cx, key, Some(code::ABNORMAL), &reason, "abnormal")?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// `name` from `/path?name=ann&x=1`, percent-decoded (cleaned when claimed).
fn query_param(path: &str, name: &str) -> Option<String> {
    let query = path.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl Handler for Server<'_> {
    type Timer = Timer;

    fn ready(&mut self, cx: &mut Ctx<Timer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            LISTENER => self.accept(cx)?,
            STDIN => {
                if let Some(s) = self.stdin.as_mut() {
                    s.ready();
                }
                self.read_stdin(cx)?;
            }
            SIGNAL if self.signals.take() => {
                if self.shutting_down {
                    self.exit = Some(Ok(Exit::Interrupted));
                } else {
                    self.shutdown(cx);
                }
            }
            Token(t) if t >= CLIENT_BASE => {
                let key = t - CLIENT_BASE;
                match self.clients.get_mut(key) {
                    Some(c) => c.transport.ready(event),
                    None => return Ok(()),
                }
                self.service(cx, key)?;
            }
            _ => {}
        }
        self.flush_dirty(cx);
        self.out.flush()
    }

    fn timeout(&mut self, cx: &mut Ctx<Timer>, timer: Timer) -> Result<()> {
        match timer {
            Timer::Ping => {
                let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
                for k in keys {
                    if let Some(c) = self.clients.get_mut(k) {
                        if c.phase == Phase::Open {
                            c.session.ping(b"netkit", &mut self.entropy);
                        }
                    }
                    self.flush(cx, k);
                }
                if let Some(d) = self.args.limits.ping_interval {
                    cx.timers.add(cx.now + d, Timer::Ping);
                }
            }
            Timer::Shutdown => self.exit = Some(Ok(Exit::Interrupted)),
            Timer::RetryAccept => {
                self.acceptor.resume();
                self.accept(cx)?;
            }
            Timer::Handshake { key, id }
            | Timer::Idle { key, id }
            | Timer::CloseWait { key, id }
            | Timer::Resume { key, id } => {
                self.client_timer(cx, key, id, timer)?;
            }
        }
        self.flush_dirty(cx);
        self.out.flush()
    }

    fn finished(&mut self, _cx: &mut Ctx<Timer>) -> Result<Option<Exit>> {
        if self.shutting_down && self.clients.is_empty() && self.exit.is_none() {
            self.exit = Some(Ok(Exit::Interrupted));
        }
        match self.exit.take() {
            Some(r) => r.map(Some),
            None => Ok(None),
        }
    }
}
