//! The connection loop of `http listen`: accept, read, decode requests in
//! order, write answers (files with `sendfile(2)` on plain connections),
//! keep-alive, timers, close.
//!
//! Per client: the unparsed input (at most a head or a body chunk; freed
//! between requests, so an idle keep-alive connection holds no buffer), one
//! request being received, and the answer being written. Requests are
//! answered strictly in order: while an answer is still going out (a file,
//! or more than [`HIGH_WATER`] bytes queued) the next pipelined request is
//! not decoded and the client is not read, so a client that does not read
//! its answers is back-pressured, not buffered.
//!
//! One timer per client, re-armed lazily to its current deadline: a request
//! head must arrive within `--header-timeout` of its first byte (a slowloris
//! gets 408 and is closed; a connection that never sent a byte is closed
//! quietly); a keep-alive connection idle for `--idle-timeout` between
//! requests is closed; a body or an answer that makes no progress for
//! `--idle-timeout` is dropped. After `Connection: close` (or an error
//! answer) the server shuts its write side and reads until the client
//! closes (at most [`LINGER`]), so the answer is not lost to a reset.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::event::Event as MioEvent;
use mio::{Interest, Token};
use rustls::ServerConfig;
use slab::Slab;

use super::respond::{self, FileBody};
use super::{files, Config, Mode};
use crate::cli::HttpListenArgs;
use crate::error::{describe_io, Error, Exit, Result};
use crate::event::{ConnId, Event, HttpRequestRecord};
use crate::http::tls::TlsConn;
use crate::http::transport::Transport;
use crate::net;
use crate::output::Output;
use crate::proto::http_request::{reason, ReqItem, Request, RequestDecoder, RequestError};
use crate::reactor::conn::{Conn, Read};
use crate::reactor::signal::Signals;
use crate::reactor::{Ctx, Handler, Reactor};

const LISTENER: Token = Token(0);
const SIGNAL: Token = Token(1);
const CLIENT_BASE: usize = 16;

/// One read buffer shared by every client.
const READ_BUF: usize = 64 * 1024;
/// Reads from one client per turn of the loop (the rest waits a turn).
const READS_PER_TURN: usize = 16;
/// Queued answer bytes past which the next pipelined request waits.
const HIGH_WATER: usize = 256 * 1024;
/// How long a closing connection is read (and discarded) for its FIN.
const LINGER: Duration = Duration::from_secs(2);
/// Largest piece handed to one `sendfile` call.
const SENDFILE_MAX: u64 = 1 << 30;
/// Piece of a file read at a time for TLS.
const TLS_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
enum Timer {
    Client { key: usize, id: ConnId },
    Resume { key: usize, id: ConnId },
    RetryAccept,
}

/// What a client's deadline is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A request head (from its first byte, or from the accept).
    Head,
    /// A request body, or an answer going out: progress.
    Busy,
    /// A keep-alive connection between requests.
    Idle,
    /// Closing: waiting for the client's FIN.
    Linger,
}

struct Client {
    id: ConnId,
    peer: SocketAddr,
    transport: Transport,
    /// Bytes read but not decoded yet.
    inbuf: Vec<u8>,
    dec: RequestDecoder,
    /// The request being received, and its body so far.
    req: Option<Request>,
    body: Vec<u8>,
    /// A file piece still to send after the queued bytes.
    file: Option<FileBody>,
    /// Close once everything queued is written.
    close_after: bool,
    /// The peer sent its FIN.
    eof: bool,
    /// Never sent a byte.
    fresh: bool,
    wait: Wait,
    deadline: Instant,
}

struct Server<'o> {
    config: Config,
    acceptor: net::Acceptor,
    tls: Option<Arc<ServerConfig>>,
    clients: Slab<Client>,
    next_id: ConnId,
    buf: Vec<u8>,
    out: &'o mut Output,
    signals: Signals,
    /// Requests answered so far.
    served: u64,
    /// `-c N` reached: no more requests are decoded; exit once written.
    stopping: bool,
    exit: Option<Result<Exit>>,
    date: (u64, String),
}

pub fn run(
    args: &HttpListenArgs,
    config: Config,
    tls: Option<Arc<ServerConfig>>,
    out: &mut Output,
) -> Result<Exit> {
    net::raise_fd_limit();
    let mut listener = net::listen(args.bind, args.port, args.family)?;
    let addr = listener.local_addr().map_err(|e| Error::io("listen", &e))?;
    let mut reactor = Reactor::new()?;
    reactor
        .registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| Error::io("listen", &e))?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    out.emit(&Event::Listening { addr })?;
    let mut server = Server {
        config,
        acceptor: net::Acceptor::new(listener),
        tls,
        clients: Slab::new(),
        next_id: 1,
        buf: vec![0; READ_BUF],
        out,
        signals,
        served: 0,
        stopping: false,
        exit: None,
        date: (0, String::new()),
    };
    server.out.set_buffered(true)?;
    let result = reactor.run(&mut server);
    server.out.set_buffered(false)?;
    result
}

/// What decoding the buffered input came to.
enum Decoded {
    /// Something happened (an answer queued): look at the write side again.
    Progress,
    /// The input holds no complete item: read more.
    NeedMore,
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
            if self.stopping {
                continue;
            }
            if self.clients.len() >= self.config.max_clients {
                let reason = format!("server full (--max-clients {})", self.config.max_clients);
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
            let deadline = cx.now + self.config.header_timeout;
            entry.insert(Client {
                id,
                peer,
                transport,
                inbuf: Vec::new(),
                dec: RequestDecoder::new(self.config.limits),
                req: None,
                body: Vec::new(),
                file: None,
                close_after: false,
                eof: false,
                fresh: true,
                wait: Wait::Head,
                deadline,
            });
            cx.timers.add(deadline, Timer::Client { key, id });
        }
    }

    fn drop_client(&mut self, cx: &mut Ctx<Timer>, key: usize) {
        if let Some(mut c) = self.clients.try_remove(key) {
            let _ = cx.registry.deregister(c.transport.stream_mut());
        }
    }

    /// Writes, decodes and reads a client until it has to wait.
    fn service(&mut self, cx: &mut Ctx<Timer>, key: usize) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.service_with(cx, key, &mut buf);
        self.buf = buf;
        result
    }

    fn service_with(&mut self, cx: &mut Ctx<Timer>, key: usize, buf: &mut [u8]) -> Result<()> {
        let mut reads = 0;
        loop {
            let idle_timeout = self.config.idle_timeout;
            let Some(c) = self.clients.get_mut(key) else {
                return Ok(());
            };
            // The write side first: answers go out in order.
            if let Err(e) = write_side(c, buf, cx.now) {
                let why = describe_io(&e);
                self.out
                    .warn(&format!("{}: answer not sent: {why}", c.peer));
                self.drop_client(cx, key);
                return Ok(());
            }
            let busy = c.file.is_some() || c.transport.queued() > HIGH_WATER;
            if busy {
                c.wait = Wait::Busy;
                c.deadline = cx.now + idle_timeout;
            }
            if c.wait != Wait::Linger && c.close_after {
                if busy || c.transport.pending() {
                    return Ok(());
                }
                if c.eof {
                    self.drop_client(cx, key);
                    return Ok(());
                }
                // Everything is written: say goodbye, then wait for the FIN.
                c.transport.close();
                let _ = c.transport.stream_mut().shutdown(std::net::Shutdown::Write);
                c.wait = Wait::Linger;
                c.deadline = cx.now + LINGER;
                c.inbuf = Vec::new();
            }
            if c.wait == Wait::Linger {
                loop {
                    match c.transport.read(buf, cx.now) {
                        Ok(Read::Data(_)) => {}
                        Ok(Read::WouldBlock) => return Ok(()),
                        Ok(Read::Eof) | Err(_) => {
                            self.drop_client(cx, key);
                            return Ok(());
                        }
                    }
                }
            }
            if busy || self.stopping {
                return Ok(());
            }
            match self.decode(cx, key)? {
                Decoded::Progress => continue,
                Decoded::NeedMore => {}
            }
            let Some(c) = self.clients.get_mut(key) else {
                return Ok(());
            };
            if c.eof {
                // Nothing more will come: finish what is queued, then close.
                c.close_after = true;
                continue;
            }
            if reads == READS_PER_TURN {
                cx.timers.add(cx.now, Timer::Resume { key, id: c.id });
                return Ok(());
            }
            reads += 1;
            match c.transport.read(buf, cx.now) {
                Ok(Read::Data(n)) => {
                    if c.inbuf.is_empty() && c.wait == Wait::Idle || c.fresh {
                        c.wait = Wait::Head;
                        c.deadline = cx.now + self.config.header_timeout;
                    } else if c.wait == Wait::Busy {
                        c.deadline = cx.now + idle_timeout;
                    }
                    c.fresh = false;
                    c.inbuf.extend_from_slice(&buf[..n]);
                }
                Ok(Read::WouldBlock) => return Ok(()),
                Ok(Read::Eof) => c.eof = true,
                Err(e) => {
                    if c.req.is_some() || !c.inbuf.is_empty() {
                        let why = tls_or_io(&e);
                        self.out
                            .warn(&format!("{}: connection lost mid-request: {why}", c.peer));
                    }
                    self.drop_client(cx, key);
                    return Ok(());
                }
            }
        }
    }

    /// Decodes buffered input until an answer is queued or more is needed.
    fn decode(&mut self, cx: &mut Ctx<Timer>, key: usize) -> Result<Decoded> {
        let keep_body = !matches!(self.config.mode, Mode::Dir(_));
        let Some(c) = self.clients.get_mut(key) else {
            return Ok(Decoded::NeedMore);
        };
        let mut pos = 0;
        let outcome = loop {
            let (used, item) = match c.dec.decode(&c.inbuf[pos..]) {
                Ok(x) => x,
                Err(e) => break Err(e),
            };
            pos += used;
            match item {
                None if used == 0 => break Ok(None),
                None => {}
                Some(ReqItem::Head(req)) => {
                    if req.expects_continue() && c.dec.body_pending() {
                        let _ = c.transport.send(b"HTTP/1.1 100 Continue\r\n\r\n", cx.now);
                    }
                    c.req = Some(req);
                    c.body.clear();
                    c.wait = Wait::Busy;
                    c.deadline = cx.now + self.config.idle_timeout;
                }
                Some(ReqItem::Body(b)) if keep_body => c.body.extend_from_slice(b),
                Some(ReqItem::Body(_)) => {}
                Some(ReqItem::End) => break Ok(c.req.take()),
            }
        };
        c.inbuf.drain(..pos);
        if c.inbuf.is_empty() {
            // An idle connection keeps no buffer.
            c.inbuf = Vec::new();
        }
        match outcome {
            Ok(None) => Ok(Decoded::NeedMore),
            Ok(Some(req)) => {
                let body = std::mem::take(&mut c.body);
                self.answer(cx, key, &req, &body)?;
                Ok(Decoded::Progress)
            }
            Err(e) => {
                self.refuse(cx, key, &e);
                Ok(Decoded::Progress)
            }
        }
    }

    fn date(&mut self) -> &str {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now != self.date.0 {
            self.date = (now, files::http_date(now));
        }
        &self.date.1
    }

    fn answer(
        &mut self,
        cx: &mut Ctx<Timer>,
        key: usize,
        req: &Request,
        body: &[u8],
    ) -> Result<()> {
        self.date();
        let Some(c) = self.clients.get_mut(key) else {
            return Ok(());
        };
        let mut rec = HttpRequestRecord {
            id: c.id,
            remote: c.peer,
            method: &req.method,
            target: &req.target,
            path: req.path(),
            query: req.query(),
            version: req.version,
            headers: &req.headers,
            body,
            status: 0,
            brief: matches!(self.config.mode, Mode::Dir(_)),
        };
        self.served += 1;
        let last = self.config.count.is_some_and(|n| self.served >= n);
        let mut answer = respond::answer(&self.config, req, body, &self.date.1, &rec, last);
        rec.status = answer.status;
        if last {
            self.stopping = true;
        }
        if let Err(e) = c.transport.send(&answer.bytes, cx.now) {
            self.out
                .warn(&format!("{}: answer not sent: {}", c.peer, describe_io(&e)));
            self.drop_client(cx, key);
        } else {
            c.file = answer.file.take();
            c.close_after |= answer.close;
            if c.inbuf.is_empty() {
                c.wait = Wait::Idle;
                c.deadline = cx.now + self.config.idle_timeout;
            } else {
                c.wait = Wait::Head;
                c.deadline = cx.now + self.config.header_timeout;
            }
        }
        self.out.emit(&Event::HttpRequest(&rec))
    }

    /// Answers a request that could not be decoded, then closes.
    fn refuse(&mut self, cx: &mut Ctx<Timer>, key: usize, e: &RequestError) {
        self.date();
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        self.out.warn(&format!(
            "{}: {} {}: {}",
            c.peer,
            e.status,
            reason(e.status),
            e.reason
        ));
        let bytes = respond::refusal(e, &self.date.1);
        let _ = c.transport.send(&bytes, cx.now);
        c.close_after = true;
        c.req = None;
        c.inbuf = Vec::new();
    }

    fn client_timer(&mut self, cx: &mut Ctx<Timer>, key: usize, id: ConnId) -> Result<()> {
        let header_timeout = self.config.header_timeout;
        let Some(c) = self.clients.get_mut(key).filter(|c| c.id == id) else {
            return Ok(());
        };
        if cx.now < c.deadline {
            cx.timers.add(c.deadline, Timer::Client { key, id });
            return Ok(());
        }
        match c.wait {
            Wait::Head if !c.fresh && !c.close_after => {
                let e = RequestError {
                    status: 408,
                    reason: format!(
                        "no complete request head in {}",
                        humantime::format_duration(header_timeout)
                    ),
                };
                self.refuse(cx, key, &e);
                if let Some(c) = self.clients.get_mut(key) {
                    c.deadline = cx.now + LINGER;
                    c.wait = Wait::Linger;
                    let _ = c.transport.stream_mut().shutdown(std::net::Shutdown::Write);
                    cx.timers.add(c.deadline, Timer::Client { key, id });
                }
                self.service(cx, key)
            }
            Wait::Busy => {
                self.out.warn(&format!(
                    "{}: no progress for {}, closed",
                    c.peer,
                    humantime::format_duration(self.config.idle_timeout)
                ));
                self.drop_client(cx, key);
                Ok(())
            }
            _ => {
                self.drop_client(cx, key);
                Ok(())
            }
        }
    }

    /// Whether every answer is written (for `-c N`).
    fn all_written(&self) -> bool {
        self.clients
            .iter()
            .all(|(_, c)| c.file.is_none() && !c.transport.pending())
    }
}

/// Flushes queued bytes and sends what the socket takes of a file piece.
fn write_side(c: &mut Client, buf: &mut [u8], now: Instant) -> io::Result<()> {
    c.transport.flush(now)?;
    let Some(f) = c.file.as_mut() else {
        return Ok(());
    };
    match &mut c.transport {
        Transport::Plain(conn) => {
            if conn.queued() > 0 {
                return Ok(());
            }
            let fd = conn.stream.as_raw_fd();
            while f.offset < f.end {
                let mut off = f.offset as libc::off_t;
                let count = (f.end - f.offset).min(SENDFILE_MAX) as usize;
                // SAFETY: both descriptors are open for the duration of the
                // call and `off` is a valid pointer to a local.
                let n = unsafe { libc::sendfile(fd, f.file.as_raw_fd(), &mut off, count) };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::WouldBlock => return Ok(()),
                        io::ErrorKind::Interrupted => continue,
                        _ => return Err(e),
                    }
                }
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was being sent",
                    ));
                }
                f.offset += n as u64;
                conn.sent += n as u64;
            }
        }
        Transport::Tls(_) => {
            let size = TLS_CHUNK.min(buf.len());
            let chunk = &mut buf[..size];
            while f.offset < f.end && c.transport.queued() < HIGH_WATER {
                let n = respond::read_chunk(f, chunk)?;
                c.transport.send(&chunk[..n], now)?;
            }
            if f.offset < f.end {
                return Ok(());
            }
        }
    }
    c.file = None;
    Ok(())
}

fn tls_or_io(e: &io::Error) -> String {
    match crate::http::tls::tls_failure(e) {
        Some(t) => format!("TLS: {t}"),
        None => describe_io(e),
    }
}

impl Handler for Server<'_> {
    type Timer = Timer;

    fn ready(&mut self, cx: &mut Ctx<Timer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            LISTENER => self.accept(cx),
            SIGNAL => {
                if self.signals.take() {
                    self.exit = Some(Ok(Exit::Interrupted));
                }
                Ok(())
            }
            Token(t) if t >= CLIENT_BASE => {
                let key = t - CLIENT_BASE;
                if let Some(c) = self.clients.get_mut(key) {
                    c.transport.ready(event);
                    self.service(cx, key)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn timeout(&mut self, cx: &mut Ctx<Timer>, timer: Timer) -> Result<()> {
        match timer {
            Timer::Client { key, id } => self.client_timer(cx, key, id),
            Timer::Resume { key, id } => {
                if self.clients.get(key).is_some_and(|c| c.id == id) {
                    self.service(cx, key)?;
                }
                Ok(())
            }
            Timer::RetryAccept => {
                self.acceptor.resume();
                self.accept(cx)
            }
        }
    }

    fn finished(&mut self, _cx: &mut Ctx<Timer>) -> Result<Option<Exit>> {
        if self.stopping && self.exit.is_none() && self.all_written() {
            self.exit = Some(Ok(Exit::Ok));
        }
        self.out.flush()?;
        match self.exit.take() {
            Some(r) => r.map(Some),
            None => Ok(None),
        }
    }
}
