//! The one multi-client server core: `tcp listen` and `unix listen` with
//! `-k|--broker|--chat|--echo`, `ws listen` and `http listen` on the same
//! loop, over a [`Listener`] of either family.
//!
//! # Contract
//!
//! A server is a [`Server<C, R>`]: one loop, a slab of clients (client `k`
//! is `Token(CLIENT_BASE + k)`), a [`Codec`] per client and one [`Room`].
//! The caller binds the listener, registers it as [`LISTENER`] (and stdin as
//! [`STDIN`] if the room reads it, SIGINT as [`SIGNAL`]), then calls [`run`].
//!
//! What the core does, so codecs and rooms never do it again:
//! - **Accepting**: every waiting client per listener event; past
//!   `max_clients` a client gets [`Codec::FULL`] (best effort; under TLS
//!   nothing, as plaintext would be garbage to it), is closed and
//!   reported `rejected`; running out of descriptors pauses accepting for
//!   [`net::ACCEPT_RETRY`] (no busy loop) with one notice.
//! - **Reading**: at most [`Config::reads_per_turn`] reads per client per
//!   event (a client writing as fast as we read cannot starve the others;
//!   the rest waits for the next turn). Bytes go to [`Codec::receive`]; what
//!   it [`Got`] goes to the room. With [`Config::back_pressure`] (`tcp
//!   listen --echo`) a client whose backlog would pass `max_queue` is not
//!   read until it drains.
//! - **Writing**: [`Core::send`] and [`Core::broadcast`] encode into the
//!   codec's output and mark the client dirty; dirty clients are written
//!   once per loop turn (before the loop waits again), so a burst of
//!   messages costs one write per client, not one each. A client whose
//!   backlog (codec output + socket queue) would pass `max_queue` is
//!   *behind*: [`Codec::goodbye`] with [`Goodbye::Behind`] drops it at once
//!   (TCP) or sends a goodbye and waits up to `close_wait` (WebSocket 1008).
//!   Everything is bounded by `max_queue` plus one message.
//! - **Timers**: the handshake timer (until [`Codec::is_open`]; it
//!   bounds the TLS handshake too), else under TLS the TLS handshake timer
//!   ([`Config::tls_handshake_timeout`], [`TLS_HANDSHAKE_TIMEOUT`] by
//!   default: a client that connects and never finishes its TLS handshake
//!   does not hold a slot for ever), the idle timer (`idle_timeout`: no byte either way), the close-wait timer after
//!   a goodbye, the accept retry.
//! - **Ends**: a codec's [`Got::End`], EOF ([`AtEof`]), an I/O error, idle,
//!   behind, shutdown. Each client ends once, with an [`Ending`] (`by` is a
//!   [`Closer`], never a string): the core deregisters it, releases its
//!   name, reports it ([`Codec::report_close`]) and tells the room
//!   ([`Room::left`]).
//! - **Shutdown** (SIGINT): accepting stops, every client gets
//!   [`Goodbye::Shutdown`]; the loop ends with 130 once all are gone or
//!   after [`Config::shutdown_grace`]; a second SIGINT ends it at once.
//!   With more than 10 clients (and neither `--json` nor `-v`), one
//!   notice replaces the per-client close events.
//! - **Names**: every open client has a unique, printable name
//!   (`user<id>`, or what its handshake asked for, cleaned) in one
//!   [`Names`] registry.
//! - **Stdin**: console bytes go to [`Room::console`] (hex-dumped with
//!   `--hex`, as are client bytes).
//!
//! A room sees messages, never bytes or sockets: [`Room::joined`],
//! [`Room::message`], [`Room::left`], [`Room::console`],
//! [`Room::end_of_turn`] (where batched notices go out) and [`Room::wake`]
//! (its own timers), and acts through [`Core`] (`send`, `broadcast`,
//! `end`, `wake_at`, `open_keys`, `client`, `out`).
//! A room that talks to a service of its own (the chat's Redis) gets
//! [`Room::io`]: tokens `ROOM_IO..CLIENT_BASE` and `Timer::RoomIo` are
//! its own, with the loop's registry and timers.
//!
//! To add a protocol (HTTP): write a [`Codec`] (its `Msg` may be an enum
//! of requests and responses; `done` ends a `Connection: close` exchange)
//! and a room over its messages, then call [`run`] with a [`Config`] and
//! [`Parts`]; TLS is `Parts::tls` (the codec never sees it).

pub mod codec;
pub mod room;

use std::io;
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::Token;
use slab::Slab;

pub use codec::{AtEof, Codec, Ending, Goodbye, Got, Info, Opened, Text};
pub use room::{Room, RoomIo};

use crate::error::{describe_io, Error, Exit, Result};
use crate::event::{Closer, ConnId, Event};
use crate::net::transport::Transport;
use crate::net::{self, Listener, Peer};
use crate::output::{Direction, Output};
use crate::proto::chat::Names;
use crate::proto::lines::LineSplitter;
use crate::reactor::conn::{Conn, Read};
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::{Ctx, Handler, Reactor};

pub const STDIN: Token = Token(0);
pub const SIGNAL: Token = Token(1);
pub const LISTENER: Token = Token(3);
/// Client `k` is `Token(CLIENT_BASE + k)`.
pub const CLIENT_BASE: usize = 16;
/// Tokens `ROOM_IO..CLIENT_BASE` are the room's own sockets (the chat's
/// Redis connections), handed to [`Room::io`].
pub const ROOM_IO: usize = 8;

/// Codec output moves to the socket queue only while that is shorter.
const HIGH_WATER: usize = 256 * 1024;
/// How many closes a shutdown reports one by one.
const DETAILED_CLOSES: usize = 10;
/// [`Config::tls_handshake_timeout`] unless the command says otherwise.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The knobs, lifted from the command's flags.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_clients: usize,
    /// Bytes a client may have waiting (`--max-queue`).
    pub max_queue: usize,
    pub idle_timeout: Option<Duration>,
    /// How long a client may take to become open.
    pub handshake_timeout: Option<Duration>,
    /// Under TLS, how long a client may take to finish its TLS handshake
    /// (when no `handshake_timeout` bounds it already): past it, it is
    /// closed (`Closer::Idle`, "TLS handshake timed out after ...").
    pub tls_handshake_timeout: Duration,
    /// How long a goodbye may go unanswered.
    pub close_wait: Duration,
    /// How long SIGINT waits for the goodbyes.
    pub shutdown_grace: Duration,
    pub reads_per_turn: usize,
    pub read_buf: usize,
    /// Do not read a client that is behind (instead of dropping it).
    pub back_pressure: bool,
    /// `--hex`: dump client and console bytes on stderr.
    pub hex: bool,
    /// Longest console line, for codecs that split the console in lines.
    pub console_line: usize,
    /// How often [`Codec::tick`] runs for every open client (pings).
    pub tick: Option<Duration>,
    /// Under TLS, a codec without a handshake of its own opens once the
    /// TLS handshake is done (not at accept), and each client's session
    /// is reported (`tls_session`).
    pub tls_events: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_clients: 10_000,
            max_queue: 4 << 20,
            idle_timeout: None,
            handshake_timeout: None,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT,
            close_wait: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(2),
            reads_per_turn: 16,
            read_buf: 64 * 1024,
            back_pressure: false,
            hex: false,
            console_line: 1 << 20,
            tick: None,
            tls_events: false,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Timer {
    Handshake {
        key: usize,
        id: ConnId,
    },
    /// Its TLS handshake is due ([`Config::tls_handshake_timeout`]).
    TlsHandshake {
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
    Tick,
    /// A wake-up the room asked for ([`Core::wake_at`]).
    Room(u64),
    /// A timer the room armed itself for its own sockets ([`Room::io`]).
    RoomIo(u64),
    Shutdown,
    RetryAccept,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Open,
    /// The client sent its last byte: write what is queued, shut the write
    /// side, then it is over.
    HalfClosed,
    /// Over once its output is written (or its close-wait expires).
    Draining(Ending),
    /// A goodbye was sent; waiting for the codec's end.
    Leaving,
}

/// One client.
pub struct Client<C> {
    pub id: ConnId,
    pub peer: Peer,
    pub local: Peer,
    /// Unique among open clients (claimed when it opens).
    pub name: String,
    pub codec: C,
    /// Past its handshake and in the room.
    pub opened: bool,
    /// Free for the room (the chat marks who joined this turn).
    pub mark: bool,
    transport: Transport,
    state: State,
    started: Instant,
    received: u64,
    sent_tls: u64,
    last_read: Instant,
    dirty: bool,
    /// Its close-wait timer is armed.
    mark_wait: bool,
    /// Its TLS session is up and was reported (see [`Config::tls_events`]).
    tls_up: bool,
}

impl<C> Client<C> {
    fn info(&self, now: Instant) -> Info<'_> {
        let sent = match &self.transport {
            Transport::Plain(c) => c.sent,
            Transport::Unix(c) => c.sent,
            Transport::Tls(_) | Transport::UnixTls(_) => self.sent_tls,
        };
        Info {
            id: self.id,
            peer: &self.peer,
            local: &self.local,
            name: &self.name,
            sent,
            received: self.received,
            duration: now - self.started,
        }
    }

    fn last_active(&self) -> Instant {
        match &self.transport {
            Transport::Plain(c) => c.last_active,
            Transport::Unix(c) => c.last_active,
            Transport::Tls(_) | Transport::UnixTls(_) => self.last_read,
        }
    }

    fn backlog(&self, codec_out: usize) -> usize {
        codec_out + self.transport.queued()
    }

    /// Accepts messages (open, not leaving).
    fn listening(&self) -> bool {
        self.opened && self.state == State::Open
    }
}

/// What a room acts through: the clients, the console's sinks.
pub struct Core<'o, C: Codec> {
    pub cfg: Config,
    pub out: &'o mut Output,
    pub shared: C::Shared,
    clients: Slab<Client<C>>,
    open: usize,
    /// Open clients that are [`Codec::member`]s.
    members: usize,
    names: Names,
    dirty: Vec<usize>,
    doomed: Vec<(usize, Ending)>,
    /// Clients sent a goodbye whose close-wait is not armed yet.
    leaving: Vec<usize>,
    /// Wake-ups the room asked for, armed at the end of the turn.
    wakes: Vec<(Instant, u64)>,
    /// Clients whose codec has input to decode again after a send (an
    /// HTTP answer the room gave later, from the chat's Redis): serviced
    /// next turn.
    resume: Vec<usize>,
    /// The client being read now (its own loop decodes what is left).
    servicing: Option<usize>,
    now: Instant,
    shutting_down: bool,
    quiet_close: bool,
    stop: Option<Exit>,
}

impl<'o, C: Codec> Core<'o, C> {
    /// Clients past their handshake.
    pub fn open_count(&self) -> usize {
        self.open
    }

    /// Open clients that are members of the room ([`Codec::member`]).
    pub fn member_count(&self) -> usize {
        self.members
    }

    pub fn client(&self, key: usize) -> Option<&Client<C>> {
        self.clients.get(key)
    }

    pub fn client_mut(&mut self, key: usize) -> Option<&mut Client<C>> {
        self.clients.get_mut(key)
    }

    /// Keys of the open clients that take messages.
    pub fn open_keys(&self) -> impl Iterator<Item = usize> + '_ {
        self.clients
            .iter()
            .filter(|(_, c)| c.listening())
            .map(|(k, _)| k)
    }

    /// Names of the members but `except`, at most `n` of them.
    pub fn names_but(&self, except: usize, n: usize) -> Vec<String> {
        self.clients
            .iter()
            .filter(|&(k, c)| k != except && c.listening() && c.codec.member())
            .take(n)
            .map(|(_, c)| c.name.clone())
            .collect()
    }

    /// Ends the run with `exit` once every client's output is written
    /// (`http listen -c N`).
    pub fn stop_when_written(&mut self, exit: Exit) {
        self.stop = Some(exit);
    }

    pub fn shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// The time of this loop turn.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Asks for [`Room::wake`] with `token` at `at` (long polls, batches).
    pub fn wake_at(&mut self, at: Instant, token: u64) {
        self.wakes.push((at, token));
    }

    /// Ends a client once what is queued for it is written (a room's
    /// decision: an HTTP error, a kick).
    pub fn end(&mut self, key: usize, ending: Ending) {
        if let Some(c) = self.clients.get_mut(key) {
            if matches!(c.state, State::Open | State::Leaving) {
                c.state = State::Draining(ending);
                self.mark_dirty(key);
            }
        }
    }

    /// Queues a message for one client (a client behind is let go).
    pub fn send(&mut self, key: usize, m: &C::Msg) {
        self.send_inner(key, m);
    }

    /// Queues a message for every open client but `except` for which
    /// `only` holds.
    pub fn broadcast(
        &mut self,
        except: Option<usize>,
        only: impl Fn(&Client<C>) -> bool,
        m: &C::Msg,
    ) {
        let keys: Vec<usize> = self
            .clients
            .iter()
            .filter(|&(k, c)| Some(k) != except && c.listening() && only(c))
            .map(|(k, _)| k)
            .collect();
        for k in keys {
            self.send_inner(k, m);
        }
    }

    fn send_inner(&mut self, key: usize, m: &C::Msg) {
        let max = self.cfg.max_queue;
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        if !c.listening() {
            return;
        }
        let before = c.codec.queued();
        let more = c.codec.more();
        c.codec.send(&mut self.shared, m);
        if !more && self.servicing != Some(key) && c.codec.more() {
            self.resume.push(key);
        }
        let after = c.codec.queued();
        let next = after - before;
        if c.codec.behind(c.backlog(before), next, max) {
            if !C::JUDGE_AFTER_WRITE {
                self.fell_behind(key);
                return;
            }
            // The kernel may take some now: try before judging.
            self.write_out(key);
            let Some(c) = self.clients.get_mut(key) else {
                return;
            };
            let out = c.codec.queued();
            if c.codec.behind(c.backlog(out) - next.min(out), next, max) {
                self.fell_behind(key);
                return;
            }
        }
        self.mark_dirty(key);
    }

    fn mark_dirty(&mut self, key: usize) {
        if let Some(c) = self.clients.get_mut(key) {
            if !c.dirty {
                c.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    fn fell_behind(&mut self, key: usize) {
        self.goodbye(key, Goodbye::Behind);
    }

    /// Asks a client to go; ends it now or arms its close-wait.
    fn goodbye(&mut self, key: usize, why: Goodbye) {
        let max = self.cfg.max_queue;
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        match c.state {
            State::Draining(_) => return,
            State::Leaving if why != Goodbye::Shutdown => return,
            _ => {}
        }
        match c.codec.goodbye(&mut self.shared, why, max) {
            Some(ending) => self.doomed.push((key, ending)),
            None => {
                if why == Goodbye::Behind {
                    self.out.warn(&format!(
                        "client {} ({}) fell behind; {}",
                        c.id,
                        c.peer,
                        C::BEHIND_NOTE
                    ));
                }
                c.state = State::Leaving;
                self.leaving.push(key);
                self.mark_dirty(key);
            }
        }
    }

    /// Moves a client's output to its socket and writes what the kernel
    /// takes; ends the client if it is over and written out.
    fn write_out(&mut self, key: usize) {
        let now = self.now;
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        let mut result = Ok(());
        if c.transport.queued() < HIGH_WATER && c.codec.queued() > 0 {
            let out = c.codec.output();
            let n = out.len();
            result = c.transport.send(out, now);
            if result.is_ok() {
                c.codec.consume(n);
                c.sent_tls += n as u64;
            }
        }
        if result.is_ok() {
            result = c.transport.flush(now);
        }
        if result.is_ok() {
            result = c.codec.write_direct(&mut c.transport, now);
        }
        if let Err(e) = result {
            let ending = c.codec.lost(describe_io(&e));
            self.doomed.push((key, ending));
            return;
        }
        if c.state == State::Open {
            if let Some(ending) = c.codec.done() {
                c.state = State::Draining(ending);
            }
        }
        let written = c.codec.queued() == 0 && !c.transport.pending();
        match &c.state {
            State::Draining(ending) if written => {
                let ending = ending.clone();
                self.doomed.push((key, ending));
            }
            State::HalfClosed if c.codec.queued() == 0 => {
                let shut = match &mut c.transport {
                    Transport::Plain(conn) => conn.shutdown_write(now).map(|()| conn.write_shut()),
                    Transport::Unix(conn) => conn.shutdown_write(now).map(|()| conn.write_shut()),
                    Transport::Tls(t) => {
                        t.close();
                        t.flush().map(|()| !t.pending())
                    }
                    Transport::UnixTls(t) => {
                        t.close();
                        t.flush().map(|()| !t.pending())
                    }
                };
                match shut {
                    Ok(true) => self.doomed.push((key, Ending::new(Closer::Peer, None))),
                    Ok(false) => {}
                    Err(e) => {
                        let ending = c.codec.lost(describe_io(&e));
                        self.doomed.push((key, ending));
                    }
                }
            }
            _ => {}
        }
    }

    fn flush_dirty(&mut self) {
        while !self.dirty.is_empty() {
            for key in std::mem::take(&mut self.dirty) {
                if let Some(c) = self.clients.get_mut(key) {
                    c.dirty = false;
                }
                self.write_out(key);
            }
        }
    }
}

/// The loop: a core, a room, the listener, stdin and SIGINT.
pub struct Server<'o, C: Codec, R: Room<C>> {
    pub core: Core<'o, C>,
    pub room: R,
    acceptor: net::Acceptor,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    stdin: Option<Stdin>,
    console: LineSplitter,
    stdin_bytes: u64,
    signals: Signals,
    buf: Vec<u8>,
    next_id: ConnId,
    got: Vec<Got<C::Msg>>,
    exit: Option<Exit>,
}

/// What [`run`] needs beside the config.
pub struct Parts<'o> {
    /// Registered as [`LISTENER`]: TCP or a Unix socket.
    pub listener: Listener,
    /// TLS under the codec (wss, tcp --tls-cert).
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// Registered as [`STDIN`], when the room reads the console.
    pub stdin: Option<Stdin>,
    /// Registered as [`SIGNAL`].
    pub signals: Signals,
    pub out: &'o mut Output,
}

/// Serves until SIGINT (130) or a fatal error.
pub fn run<C: Codec, R: Room<C>>(
    reactor: &mut Reactor<Timer>,
    cfg: Config,
    shared: C::Shared,
    room: R,
    parts: Parts<'_>,
) -> Result<Exit> {
    let mut server = Server {
        core: Core {
            cfg: cfg.clone(),
            out: parts.out,
            shared,
            clients: Slab::new(),
            open: 0,
            members: 0,
            names: Names::new(),
            dirty: Vec::new(),
            doomed: Vec::new(),
            leaving: Vec::new(),
            wakes: Vec::new(),
            resume: Vec::new(),
            servicing: None,
            now: Instant::now(),
            shutting_down: false,
            quiet_close: false,
            stop: None,
        },
        room,
        acceptor: net::Acceptor::new(parts.listener),
        tls: parts.tls,
        stdin: parts.stdin,
        console: LineSplitter::new(cfg.console_line),
        stdin_bytes: 0,
        signals: parts.signals,
        buf: vec![0; cfg.read_buf],
        next_id: 1,
        got: Vec::new(),
        exit: None,
    };
    if let Some(d) = cfg.tick {
        reactor.timers.add(Instant::now() + d, Timer::Tick);
    }
    server.core.out.set_buffered(true)?;
    let mut cx = reactor.ctx();
    server.room.io(&mut server.core, &mut cx, RoomIo::Start)?;
    let result = reactor.run(&mut server);
    server.core.out.set_buffered(false)?;
    result
}

impl<C: Codec, R: Room<C>> Server<'_, C, R> {
    fn accept(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        loop {
            let net::Accept {
                mut stream,
                peer,
                local,
            } = match self.acceptor.next(cx, Timer::RetryAccept) {
                net::Accepted::Client(a) => a,
                net::Accepted::None => return Ok(()),
                net::Accepted::Exhausted(e) => {
                    self.core.out.notice(&format!(
                        "cannot accept more clients: {} ({} connected)",
                        describe_io(&e),
                        self.core.clients.len()
                    ));
                    return Ok(());
                }
            };
            if self.core.shutting_down {
                continue;
            }
            if self.core.clients.len() >= self.core.cfg.max_clients {
                let reason = format!("server full (--max-clients {})", self.core.cfg.max_clients);
                // Best effort: a full server says so, then hangs up; a TLS
                // client is owed TLS or nothing, so it just sees the close.
                if !C::FULL.is_empty() && self.tls.is_none() {
                    let _ = io::Write::write(&mut stream, C::FULL);
                }
                self.core.out.emit(&Event::Rejected {
                    remote: peer,
                    reason: &reason,
                })?;
                continue;
            }
            let entry = self.core.clients.vacant_entry();
            let key = entry.key();
            cx.registry
                .register(
                    &mut stream,
                    Token(CLIENT_BASE + key),
                    mio::Interest::READABLE | mio::Interest::WRITABLE,
                )
                .map_err(|e| Error::io("accept", &e))?;
            let (ip, local_ip) = (peer.ip(), local.ip());
            let transport = match (stream, &self.tls) {
                (net::Stream::Tcp(stream), Some(config)) => Transport::Tls(Box::new(
                    crate::net::tls::TlsConn::server(stream, config.clone())?,
                )),
                (net::Stream::Tcp(stream), None) => {
                    Transport::Plain(Conn::new(stream, ip, local_ip, cx.now))
                }
                (net::Stream::Unix(stream), Some(config)) => Transport::UnixTls(Box::new(
                    crate::net::tls::TlsConn::server(stream, config.clone())?,
                )),
                (net::Stream::Unix(stream), None) => {
                    Transport::Unix(Conn::new(stream, ip, local_ip, cx.now))
                }
            };
            let id = self.next_id;
            self.next_id += 1;
            let codec = C::new(&mut self.core.shared);
            let tls_up = !(self.core.cfg.tls_events && transport.handshaking());
            let open = codec.is_open() && tls_up;
            entry.insert(Client {
                id,
                peer,
                local,
                name: format!("user{id}"),
                codec,
                opened: false,
                mark: false,
                transport,
                state: State::Open,
                started: cx.now,
                received: 0,
                sent_tls: 0,
                last_read: cx.now,
                dirty: false,
                mark_wait: false,
                tls_up,
            });
            let info_clients = self.core.clients.len();
            if let Some(c) = self.core.clients.get(key) {
                C::report_accept(&c.info(cx.now), info_clients, self.core.out)?;
            }
            if let Some(d) = self.core.cfg.idle_timeout {
                cx.timers.add(cx.now + d, Timer::Idle { key, id });
            }
            let mut tls_bounded = false;
            if open {
                self.opened(key, Opened::default())?;
            } else if let Some(d) = self.core.cfg.handshake_timeout {
                // The codec's handshake comes after TLS: this bounds both.
                cx.timers.add(cx.now + d, Timer::Handshake { key, id });
                tls_bounded = true;
            }
            if self.tls.is_some() && !tls_bounded {
                let at = cx.now + self.core.cfg.tls_handshake_timeout;
                cx.timers.add(at, Timer::TlsHandshake { key, id });
            }
        }
    }

    /// A client is past its handshake: name it, let the room know.
    fn opened(&mut self, key: usize, o: Opened) -> Result<()> {
        let Some(c) = self.core.clients.get_mut(key) else {
            return Ok(());
        };
        if c.opened {
            return Ok(());
        }
        c.name = self.core.names.claim(o.name.as_deref(), &c.name);
        c.opened = true;
        self.core.open += 1;
        self.core.members += usize::from(c.codec.member());
        let info = c.info(self.core.now);
        C::report_open(&info, &o, self.core.open, self.core.out)?;
        self.room.joined(&mut self.core, key, &o)
    }

    /// With [`Config::tls_events`]: once a client's TLS handshake is done,
    /// reports the session and lets a codec without a handshake in.
    fn tls_up(&mut self, key: usize) -> Result<()> {
        let Some(c) = self.core.clients.get_mut(key) else {
            return Ok(());
        };
        if c.tls_up || c.transport.handshaking() {
            return Ok(());
        }
        c.tls_up = true;
        let info = match &c.transport {
            Transport::Tls(t) => t.info(),
            Transport::UnixTls(t) => t.info(),
            _ => return Ok(()),
        };
        self.core.out.emit(&Event::PeerTls {
            id: c.id,
            remote: c.peer.clone(),
            info: &info,
        })?;
        if c.codec.is_open() && !c.opened {
            self.opened(key, Opened::default())?;
        }
        Ok(())
    }

    /// Reads a client (a bounded number of times) and acts on what it sent.
    fn service(&mut self, cx: &mut Ctx<Timer>, key: usize) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        self.core.servicing = Some(key);
        let result = self.service_with(cx, key, &mut buf);
        self.core.servicing = None;
        self.buf = buf;
        result?;
        self.core.write_out(key);
        self.bury(cx)
    }

    fn service_with(&mut self, cx: &mut Ctx<Timer>, key: usize, buf: &mut [u8]) -> Result<()> {
        for _ in 0..self.core.cfg.reads_per_turn {
            self.core.write_out(key);
            if !self.core.doomed.is_empty() {
                self.bury(cx)?;
            }
            let Some(c) = self.core.clients.get_mut(key) else {
                return Ok(());
            };
            if matches!(c.state, State::HalfClosed | State::Draining(_)) {
                return Ok(());
            }
            if self.core.cfg.back_pressure {
                let backlog = c.backlog(c.codec.queued());
                if backlog + buf.len() > self.core.cfg.max_queue {
                    return Ok(());
                }
            }
            if c.codec.more() {
                // Input held back while an answer went out (HTTP pipelining).
                let mut got = std::mem::take(&mut self.got);
                c.codec.receive(&mut self.core.shared, &[], &mut got);
                let r = self.handle(key, &mut got);
                self.got = got;
                r?;
                self.core.mark_dirty(key);
                continue;
            }
            let read = c.transport.read(buf, cx.now);
            if !c.tls_up && read.is_ok() {
                self.tls_up(key)?;
            }
            let Some(c) = self.core.clients.get_mut(key) else {
                return Ok(());
            };
            let n = match read {
                Ok(Read::Data(n)) => n,
                Ok(Read::WouldBlock) => return Ok(()),
                Ok(Read::Eof) => {
                    let mut got = std::mem::take(&mut self.got);
                    let at = c.codec.eof(&mut got);
                    match at {
                        AtEof::HalfClose => c.state = State::HalfClosed,
                        AtEof::End(e) => got.push(Got::End(e)),
                    }
                    let r = self.handle(key, &mut got);
                    self.got = got;
                    r?;
                    self.core.mark_dirty(key);
                    return Ok(());
                }
                Err(e) => {
                    let ending = match crate::net::tls::tls_failure(&e) {
                        Some(f) => Ending::new(Closer::Error, Some(f.0.clone())),
                        None => c.codec.lost(describe_io(&e)),
                    };
                    self.core.doomed.push((key, ending));
                    return Ok(());
                }
            };
            c.received += n as u64;
            c.last_read = cx.now;
            let data = &buf[..n];
            if self.core.cfg.hex {
                self.core
                    .out
                    .hex(Direction::Received, c.received - n as u64, data);
            }
            let mut got = std::mem::take(&mut self.got);
            c.codec.receive(&mut self.core.shared, data, &mut got);
            // What the protocol owes (pongs) counts against --max-queue.
            let backlog = c.backlog(c.codec.queued());
            if c.codec.behind(backlog, 0, self.core.cfg.max_queue) {
                self.core.fell_behind(key);
            }
            let mut r = self.handle(key, &mut got);
            while r.is_ok() {
                let Some(c) = self.core.clients.get_mut(key) else {
                    break;
                };
                if !c.codec.more() {
                    break;
                }
                c.codec.receive(&mut self.core.shared, &[], &mut got);
                r = self.handle(key, &mut got);
            }
            self.got = got;
            r?;
            self.core.mark_dirty(key);
        }
        if let Some(c) = self.core.clients.get(key) {
            let id = c.id;
            // Due just after now: the next turn, after the others' events.
            cx.timers
                .add(cx.now + Duration::from_nanos(1), Timer::Resume { key, id });
        }
        Ok(())
    }

    /// Hands what a codec found to the room.
    fn handle(&mut self, key: usize, got: &mut Vec<Got<C::Msg>>) -> Result<()> {
        for g in got.drain(..) {
            match g {
                Got::Open(o) => self.opened(key, o)?,
                Got::Message(m) => {
                    if self.core.clients.get(key).is_some_and(|c| c.opened) {
                        self.room.message(&mut self.core, key, m)?;
                    }
                }
                Got::End(ending) => {
                    if let Some(c) = self.core.clients.get_mut(key) {
                        c.state = State::Draining(ending);
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes the doomed clients, reporting each (which may doom more).
    fn bury(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        while let Some((key, ending)) = self.core.doomed.pop() {
            let Some(mut c) = self.core.clients.try_remove(key) else {
                continue;
            };
            if c.opened {
                self.core.names.release(&c.name);
                self.core.open -= 1;
                self.core.members -= usize::from(c.codec.member());
            }
            c.transport.close();
            let _ = c.transport.flush(cx.now);
            let _ = cx.registry.deregister(c.transport.stream_mut());
            if self.core.quiet_close {
                continue;
            }
            let clients = self.core.open;
            C::report_close(&c.info(cx.now), &ending, c.opened, clients, self.core.out)?;
            if c.opened {
                self.room.left(&mut self.core, &c, &ending)?;
            }
        }
        Ok(())
    }

    fn read_stdin(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.read_stdin_with(&mut buf);
        self.buf = buf;
        result?;
        self.bury(cx)
    }

    fn read_stdin_with(&mut self, buf: &mut [u8]) -> Result<()> {
        loop {
            let Some(stdin) = self.stdin.as_mut() else {
                return Ok(());
            };
            let mut msgs = Vec::new();
            match stdin.read(buf) {
                Ok(Read::Data(n)) => {
                    let data = &buf[..n];
                    if self.core.cfg.hex {
                        self.core.out.hex(Direction::Sent, self.stdin_bytes, data);
                    }
                    self.stdin_bytes += n as u64;
                    C::console(&mut self.console, data, &mut msgs);
                }
                Ok(Read::WouldBlock) => return Ok(()),
                Ok(Read::Eof) => {
                    self.stdin = None;
                    C::console_end(&mut self.console, &mut msgs);
                }
                Err(e) => return Err(Error::io("read stdin", &e)),
            }
            for m in msgs {
                self.room.console(&mut self.core, m)?;
            }
        }
    }

    fn shutdown(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        self.core.shutting_down = true;
        let n = self.core.clients.len();
        let out = &self.core.out;
        if n > DETAILED_CLOSES && !out.is_json() && !out.verbose() {
            self.core
                .out
                .notice(&format!("interrupted: closing {n} clients"));
            self.core.quiet_close = true;
        }
        let keys: Vec<usize> = self.core.clients.iter().map(|(k, _)| k).collect();
        for k in keys {
            let opened = self.core.clients.get(k).is_some_and(|c| c.opened);
            if opened {
                self.core.goodbye(k, Goodbye::Shutdown);
            } else {
                self.core
                    .doomed
                    .push((k, Ending::new(Closer::Interrupted, None)));
            }
        }
        self.core.flush_dirty();
        self.bury(cx)?;
        cx.timers
            .add(cx.now + self.core.cfg.shutdown_grace, Timer::Shutdown);
        Ok(())
    }

    fn client_timer(&mut self, cx: &mut Ctx<Timer>, timer: Timer) -> Result<()> {
        let (Timer::Handshake { key, id }
        | Timer::TlsHandshake { key, id }
        | Timer::Idle { key, id }
        | Timer::CloseWait { key, id }
        | Timer::Resume { key, id }) = timer
        else {
            return Ok(());
        };
        let Some(c) = self.core.clients.get(key).filter(|c| c.id == id) else {
            return Ok(());
        };
        match timer {
            Timer::Handshake { .. } if !c.opened => {
                let d = self.core.cfg.handshake_timeout.unwrap_or_default();
                let reason = format!(
                    "no handshake within --handshake-timeout {}",
                    humantime::format_duration(d)
                );
                let remote = c.peer.clone();
                if let Some(c) = self.core.clients.get_mut(key) {
                    let ending = c.codec.handshake_timeout(&reason);
                    c.state = State::Draining(ending.clone());
                    // Best effort: what the codec had to say leaves now or never.
                    self.core.write_out(key);
                    self.core.doomed.push((key, ending));
                }
                self.bury(cx)?;
                self.core.out.emit(&Event::Rejected {
                    remote,
                    reason: &reason,
                })?;
            }
            Timer::TlsHandshake { .. } if c.transport.handshaking() => {
                // Nothing can be said to it in TLS yet: it is just closed.
                let d = self.core.cfg.tls_handshake_timeout;
                let reason = format!(
                    "TLS handshake timed out after {}",
                    humantime::format_duration(d)
                );
                let ending = Ending::new(Closer::Idle, Some(reason));
                self.core.doomed.push((key, ending));
            }
            Timer::Idle { .. } => {
                let Some(d) = self.core.cfg.idle_timeout else {
                    return Ok(());
                };
                let last = if C::IDLE_ON_READS {
                    c.last_read
                } else {
                    c.last_active()
                };
                let deadline = last + d;
                if cx.now < deadline {
                    cx.timers.add(deadline, Timer::Idle { key, id });
                    return Ok(());
                }
                let why = format!("no data either way for {}", humantime::format_duration(d));
                let max = self.core.cfg.max_queue;
                if let Some(c) = self.core.clients.get_mut(key) {
                    match c.codec.goodbye(&mut self.core.shared, Goodbye::Idle, max) {
                        Some(mut ending) => {
                            ending.reason.get_or_insert(why);
                            self.core.doomed.push((key, ending));
                        }
                        None => {
                            c.state = State::Leaving;
                            c.mark_wait = true;
                            self.core.mark_dirty(key);
                            let at = cx.now + self.core.cfg.close_wait;
                            cx.timers.add(at, Timer::CloseWait { key, id });
                        }
                    }
                }
            }
            Timer::CloseWait { .. } => {
                let ending = match &c.state {
                    State::Draining(e) => c.codec.expired(Some(e)),
                    _ => c.codec.expired(None),
                };
                self.core.doomed.push((key, ending));
            }
            Timer::Resume { .. } => self.service(cx, key)?,
            _ => {}
        }
        self.bury(cx)
    }

    /// Arms close-wait timers for clients that were just sent a goodbye.
    fn arm_close_waits(&mut self, cx: &mut Ctx<Timer>) {
        for key in std::mem::take(&mut self.core.leaving) {
            if let Some(c) = self.core.clients.get_mut(key) {
                if c.state == State::Leaving && !c.mark_wait {
                    c.mark_wait = true;
                    let id = c.id;
                    cx.timers.add(
                        cx.now + self.core.cfg.close_wait,
                        Timer::CloseWait { key, id },
                    );
                }
            }
        }
    }
}

impl<C: Codec, R: Room<C>> Handler for Server<'_, C, R> {
    type Timer = Timer;

    fn ready(&mut self, cx: &mut Ctx<Timer>, token: Token, event: &MioEvent) -> Result<()> {
        self.core.now = cx.now;
        match token {
            LISTENER => self.accept(cx),
            STDIN => {
                if let Some(stdin) = &mut self.stdin {
                    stdin.ready();
                }
                self.read_stdin(cx)
            }
            SIGNAL if self.signals.take() => {
                if self.core.shutting_down {
                    self.exit = Some(Exit::Interrupted);
                    Ok(())
                } else {
                    self.shutdown(cx)
                }
            }
            Token(t) if (ROOM_IO..CLIENT_BASE).contains(&t) => {
                self.room
                    .io(&mut self.core, cx, RoomIo::Ready(token, event))?;
                self.bury(cx)
            }
            Token(t) if t >= CLIENT_BASE => {
                let key = t - CLIENT_BASE;
                match self.core.clients.get_mut(key) {
                    Some(c) => c.transport.ready(event),
                    None => return Ok(()),
                }
                self.service(cx, key)
            }
            _ => Ok(()),
        }
    }

    fn timeout(&mut self, cx: &mut Ctx<Timer>, timer: Timer) -> Result<()> {
        self.core.now = cx.now;
        match timer {
            Timer::RetryAccept => {
                self.acceptor.resume();
                self.accept(cx)
            }
            Timer::Shutdown => {
                self.exit = Some(Exit::Interrupted);
                Ok(())
            }
            Timer::Room(token) => self.room.wake(&mut self.core, token),
            Timer::RoomIo(n) => {
                self.room.io(&mut self.core, cx, RoomIo::Timer(n))?;
                self.bury(cx)
            }
            Timer::Tick => {
                let keys: Vec<usize> = self.core.open_keys().collect();
                for k in keys {
                    if let Some(c) = self.core.clients.get_mut(k) {
                        c.codec.tick(&mut self.core.shared);
                        if c.state == State::Open {
                            if let Some(ending) = c.codec.due(cx.now) {
                                c.state = State::Draining(ending);
                            }
                        }
                    }
                    self.core.mark_dirty(k);
                }
                if let Some(d) = self.core.cfg.tick {
                    cx.timers.add(cx.now + d, Timer::Tick);
                }
                Ok(())
            }
            _ => self.client_timer(cx, timer),
        }
    }

    /// The end of a loop turn: batched notices, then one write per dirty
    /// client.
    fn finished(&mut self, cx: &mut Ctx<Timer>) -> Result<Option<Exit>> {
        self.core.now = cx.now;
        loop {
            self.room.end_of_turn(&mut self.core)?;
            self.core.flush_dirty();
            if self.core.doomed.is_empty() {
                break;
            }
            self.bury(cx)?;
        }
        if let Some(exit) = self.core.stop {
            let written = (self.core.clients.iter())
                .all(|(_, c)| c.codec.queued() == 0 && !c.transport.pending());
            if written {
                self.exit = Some(exit);
            }
        }
        self.arm_close_waits(cx);
        for (at, token) in self.core.wakes.drain(..) {
            cx.timers.add(at, Timer::Room(token));
        }
        for key in self.core.resume.drain(..) {
            if let Some(c) = self.core.clients.get(key) {
                let id = c.id;
                cx.timers.add(cx.now, Timer::Resume { key, id });
            }
        }
        self.core.out.flush()?;
        if self.core.shutting_down && self.core.clients.is_empty() {
            self.exit = Some(Exit::Interrupted);
        }
        Ok(self.exit.take())
    }
}
