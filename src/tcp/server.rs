//! The multi-client TCP server behind `tcp listen -k | --broker | --chat | --echo`.
//!
//! Clients live in a slab; client `k` is `Token(CLIENT_BASE + k)`. Every
//! client has its own bounded outbound queue (`--max-queue`): a client that
//! stops reading while others talk is dropped with a notice once its queue is
//! full, so the others never wait for it. In `--echo` mode the queue is
//! back-pressure instead: a client that does not read its echoes is simply
//! not read from until it does. Nothing here allocates per byte; an idle
//! client costs a socket, a small struct and no buffer.

use std::time::Duration;

use mio::event::Event as MioEvent;
use mio::net::TcpListener;
use mio::{Interest, Token};
use slab::Slab;

use super::session::BUF_SIZE;
use super::{CLIENT_BASE, LISTENER, SIGNAL, STDIN};
use crate::cli::ListenArgs;
use crate::error::{describe_io, Error, Exit, Result};
use crate::event::{Closer, ConnId, Event};
use crate::net;
use crate::output::{Direction, Output};
use crate::proto::chat::Names;
use crate::proto::lines::LineSplitter;
use crate::reactor::conn::{Conn, Read};
use crate::reactor::signal::Signals;
use crate::reactor::stdin::{Kind, Stdin};
use crate::reactor::{Ctx, Handler, Reactor};

/// Longest chat line; longer lines are cut.
const MAX_LINE: usize = 8 * 1024;
/// How many names a chat welcome lists.
const WELCOME_NAMES: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-k`: stdin to all clients, each client's data to stdout.
    Keep,
    /// `--broker`: as `-k`, and each client's data to every other client.
    Broker,
    /// `--chat`: lines relayed as `<name> text`, join and leave notices.
    Chat,
    /// `--echo`: each client's data back to it.
    Echo,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Timer {
    Idle { key: usize, id: ConnId },
    RetryAccept,
}

struct Client {
    conn: Conn,
    id: ConnId,
    /// Claimed in `Server::names` (a guest name: clients cannot choose one).
    name: String,
    lines: Option<LineSplitter>,
    /// The client finished sending; we flush, half-close and forget it.
    closing: bool,
}

/// A client to remove, with why.
type Doomed = (usize, Closer, Option<String>);

struct Server<'o> {
    acceptor: net::Acceptor,
    mode: Mode,
    clients: Slab<Client>,
    max_clients: usize,
    max_queue: usize,
    idle: Option<Duration>,
    hex: bool,
    stdin: Option<Stdin>,
    stdin_lines: LineSplitter,
    stdin_bytes: u64,
    echo_console: bool,
    signals: Signals,
    buf: Vec<u8>,
    out: &'o mut Output,
    next_id: ConnId,
    /// Chat names in use.
    names: Names,
    doomed: Vec<Doomed>,
    interrupted: bool,
}

pub fn run(
    reactor: &mut Reactor<Timer>,
    listener: TcpListener,
    mode: Mode,
    args: &ListenArgs,
    stdin: Option<Stdin>,
    signals: Signals,
    out: &mut Output,
) -> Result<Exit> {
    let echo_console = stdin.as_ref().is_some_and(|s| s.kind() != Kind::Tty);
    let mut server = Server {
        acceptor: net::Acceptor::new(listener),
        mode,
        clients: Slab::new(),
        max_clients: args.max_clients as usize,
        max_queue: args.max_queue,
        idle: args.idle_timeout,
        hex: args.hex,
        stdin,
        stdin_lines: LineSplitter::new(MAX_LINE),
        stdin_bytes: 0,
        echo_console,
        signals,
        buf: vec![0; BUF_SIZE / 4],
        out,
        next_id: 1,
        names: Names::new(),
        doomed: Vec::new(),
        interrupted: false,
    };
    reactor.run(&mut server)
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
            if self.clients.len() >= self.max_clients {
                let reason = format!("server full (--max-clients {})", self.max_clients);
                self.out.emit(&Event::Rejected {
                    remote: peer,
                    reason: &reason,
                })?;
                continue;
            }
            let _ = stream.set_nodelay(true);
            let Ok(local) = stream.local_addr().map(net::canonical) else {
                continue;
            };
            let entry = self.clients.vacant_entry();
            let key = entry.key();
            if let Err(e) = cx.registry.register(
                &mut stream,
                Token(CLIENT_BASE + key),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                return Err(Error::io("accept", &e));
            }
            let id = self.next_id;
            self.next_id += 1;
            let name = self.names.claim(None, &format!("user{id}"));
            entry.insert(Client {
                conn: Conn::new(stream, peer, local, cx.now),
                id,
                name,
                lines: (self.mode == Mode::Chat).then(|| LineSplitter::new(MAX_LINE)),
                closing: false,
            });
            if let Some(idle) = self.idle {
                cx.timers.add(cx.now + idle, Timer::Idle { key, id });
            }
            self.out.emit(&Event::Connected {
                id,
                local,
                remote: peer,
                accepted: true,
                time: None,
                clients: self.clients.len(),
            })?;
            if self.mode == Mode::Chat {
                self.chat_join(cx, key)?;
            }
        }
    }

    fn chat_join(&mut self, cx: &mut Ctx<Timer>, key: usize) -> Result<()> {
        let others: Vec<&str> = self
            .clients
            .iter()
            .filter(|&(k, _)| k != key)
            .map(|(_, c)| c.name.as_str())
            .collect();
        let name = self.clients[key].name.clone();
        let mut welcome = format!("*** welcome, you are {name}");
        match others.len() {
            0 => welcome.push_str("; nobody else is here yet\n"),
            n => {
                let shown = others[..n.min(WELCOME_NAMES)].join(", ");
                let more = if n > WELCOME_NAMES {
                    format!(" and {} more", n - WELCOME_NAMES)
                } else {
                    String::new()
                };
                welcome.push_str(&format!("; here: {shown}{more}\n"));
            }
        }
        self.send_to(cx, key, welcome.as_bytes());
        let notice = format!("*** {name} joined\n");
        self.relay(cx, Some(key), notice.as_bytes());
        let remote = self.clients[key].conn.peer;
        self.out.emit(&Event::Joined {
            name: &name,
            remote,
            clients: self.clients.len(),
        })
    }

    /// Queues `data` for one client; a full queue dooms it.
    fn send_to(&mut self, cx: &Ctx<Timer>, key: usize, data: &[u8]) {
        let Some(c) = self.clients.get_mut(key) else {
            return;
        };
        match c.conn.send(data, self.max_queue, cx.now) {
            Ok(true) => {}
            Ok(false) => {
                self.doomed
                    .push((key, Closer::Overflow, Some(overflow_reason(self.max_queue))))
            }
            Err(e) => self
                .doomed
                .push((key, Closer::Error, Some(describe_io(&e)))),
        }
    }

    /// Queues `data` for every client but `from`.
    fn relay(&mut self, cx: &Ctx<Timer>, from: Option<usize>, data: &[u8]) {
        for (k, c) in self.clients.iter_mut() {
            if Some(k) == from || c.closing {
                continue;
            }
            match c.conn.send(data, self.max_queue, cx.now) {
                Ok(true) => {}
                Ok(false) => {
                    self.doomed
                        .push((k, Closer::Overflow, Some(overflow_reason(self.max_queue))))
                }
                Err(e) => self.doomed.push((k, Closer::Error, Some(describe_io(&e)))),
            }
        }
    }

    /// Reads a client until it would block, handling its data by mode.
    fn service(&mut self, cx: &mut Ctx<Timer>, key: usize) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.service_with(cx, key, &mut buf);
        self.buf = buf;
        result?;
        self.bury(cx)
    }

    fn service_with(&mut self, cx: &mut Ctx<Timer>, key: usize, buf: &mut [u8]) -> Result<()> {
        loop {
            let Some(c) = self.clients.get_mut(key) else {
                return Ok(());
            };
            if let Err(e) = c.conn.flush(cx.now) {
                self.doomed
                    .push((key, Closer::Error, Some(describe_io(&e))));
                return Ok(());
            }
            if c.closing {
                if c.conn.write_shut() {
                    self.doomed.push((key, Closer::Peer, None));
                }
                return Ok(());
            }
            // Echo: do not read what the client would not take back.
            if self.mode == Mode::Echo && c.conn.queued() + buf.len() > self.max_queue {
                return Ok(());
            }
            let n = match c.conn.read(buf, cx.now) {
                Ok(Read::Data(n)) => n,
                Ok(Read::WouldBlock) => return Ok(()),
                Ok(Read::Eof) => {
                    c.closing = true;
                    if let Some(rest) = c.lines.as_mut().and_then(LineSplitter::finish) {
                        self.chat_line(cx, key, &rest)?;
                    }
                    if let Some(c) = self.clients.get_mut(key) {
                        if let Err(e) = c.conn.shutdown_write(cx.now) {
                            self.doomed
                                .push((key, Closer::Error, Some(describe_io(&e))));
                        }
                    }
                    continue;
                }
                Err(e) => {
                    self.doomed
                        .push((key, Closer::Error, Some(describe_io(&e))));
                    return Ok(());
                }
            };
            let data = &buf[..n];
            let (id, peer) = (c.id, c.conn.peer);
            if self.hex {
                self.out
                    .hex(Direction::Received, c.conn.received - n as u64, data);
            }
            match self.mode {
                Mode::Echo => self.send_to(cx, key, data),
                Mode::Keep => self.out.emit(&Event::Data {
                    id,
                    peer,
                    bytes: data,
                })?,
                Mode::Broker => {
                    self.relay(cx, Some(key), data);
                    self.out.emit(&Event::Data {
                        id,
                        peer,
                        bytes: data,
                    })?;
                }
                Mode::Chat => {
                    let mut lines = Vec::new();
                    if let Some(splitter) = c.lines.as_mut() {
                        splitter.push(data, |l| lines.push(l.to_vec()));
                    }
                    for line in lines {
                        self.chat_line(cx, key, &line)?;
                    }
                }
            }
        }
    }

    /// Relays one chat line from client `key` (or the console when `None`).
    fn chat_line(&mut self, cx: &Ctx<Timer>, key: usize, line: &[u8]) -> Result<()> {
        let Some(c) = self.clients.get(key) else {
            return Ok(());
        };
        let name = c.name.clone();
        let text = String::from_utf8_lossy(line);
        let msg = format!("<{name}> {text}\n");
        self.relay(cx, Some(key), msg.as_bytes());
        self.out.emit(&Event::Chat {
            from: &name,
            text: &text,
        })
    }

    /// Reads stdin and sends it to every client.
    fn read_stdin(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        let result = self.read_stdin_with(cx, &mut buf);
        self.buf = buf;
        result?;
        self.bury(cx)
    }

    fn read_stdin_with(&mut self, cx: &mut Ctx<Timer>, buf: &mut [u8]) -> Result<()> {
        loop {
            let Some(stdin) = self.stdin.as_mut() else {
                return Ok(());
            };
            match stdin.read(buf) {
                Ok(Read::Data(n)) => {
                    let data = &buf[..n];
                    if self.hex {
                        self.out.hex(Direction::Sent, self.stdin_bytes, data);
                    }
                    self.stdin_bytes += n as u64;
                    if self.mode == Mode::Chat {
                        let mut lines = Vec::new();
                        self.stdin_lines.push(data, |l| lines.push(l.to_vec()));
                        for line in lines {
                            self.console_line(cx, &line)?;
                        }
                    } else {
                        self.relay(cx, None, data);
                    }
                }
                Ok(Read::WouldBlock) => return Ok(()),
                Ok(Read::Eof) => {
                    self.stdin = None;
                    if let Some(rest) = self.stdin_lines.finish() {
                        self.console_line(cx, &rest)?;
                    }
                    return Ok(());
                }
                Err(e) => return Err(Error::io("read stdin", &e)),
            }
        }
    }

    fn console_line(&mut self, cx: &Ctx<Timer>, line: &[u8]) -> Result<()> {
        let text = String::from_utf8_lossy(line);
        let msg = format!("<server> {text}\n");
        self.relay(cx, None, msg.as_bytes());
        if self.echo_console {
            self.out.emit(&Event::Chat {
                from: "server",
                text: &text,
            })?;
        }
        Ok(())
    }

    /// Removes doomed clients, announcing each (which may doom more).
    fn bury(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        while let Some((key, by, reason)) = self.doomed.pop() {
            let Some(mut c) = self.clients.try_remove(key) else {
                continue;
            };
            self.names.release(&c.name);
            let _ = cx.registry.deregister(&mut c.conn.stream);
            self.out.emit(&Event::Closed {
                id: c.id,
                remote: c.conn.peer,
                by,
                sent: c.conn.sent,
                received: c.conn.received,
                duration: cx.now - c.conn.started,
                reason: reason.as_deref(),
                clients: self.clients.len(),
            })?;
            if self.mode == Mode::Chat {
                let why = match by {
                    Closer::Overflow => Some("too slow"),
                    Closer::Idle => Some("idle"),
                    Closer::Error => Some("connection lost"),
                    _ => None,
                };
                let notice = match why {
                    Some(w) => format!("*** {} left ({w})\n", c.name),
                    None => format!("*** {} left\n", c.name),
                };
                self.relay(cx, None, notice.as_bytes());
                self.out.emit(&Event::Left {
                    name: &c.name,
                    clients: self.clients.len(),
                    reason: why,
                })?;
            }
        }
        Ok(())
    }

    fn interrupt(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        self.interrupted = true;
        let n = self.clients.len();
        let detailed = self.out.is_json() || self.out.verbose() || n <= 10;
        for (key, _) in self.clients.iter() {
            self.doomed.push((key, Closer::Interrupted, None));
        }
        if detailed {
            self.bury(cx)
        } else {
            self.out
                .notice(&format!("interrupted: closing {n} clients"));
            self.doomed.clear();
            self.clients.clear();
            Ok(())
        }
    }
}

fn overflow_reason(limit: usize) -> String {
    format!(
        "it stopped reading; {} queued (--max-queue)",
        crate::output::units::bytes(limit as u64)
    )
}

impl Handler for Server<'_> {
    type Timer = Timer;

    fn ready(&mut self, cx: &mut Ctx<Timer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            LISTENER => self.accept(cx),
            STDIN => {
                if let Some(stdin) = &mut self.stdin {
                    stdin.ready();
                }
                self.read_stdin(cx)
            }
            SIGNAL => {
                if self.signals.take() {
                    self.interrupt(cx)?;
                }
                Ok(())
            }
            Token(t) if t >= CLIENT_BASE => {
                let key = t - CLIENT_BASE;
                match self.clients.get_mut(key) {
                    Some(c) => c.conn.ready(event),
                    None => return Ok(()),
                }
                self.service(cx, key)
            }
            _ => Ok(()),
        }
    }

    fn timeout(&mut self, cx: &mut Ctx<Timer>, timer: Timer) -> Result<()> {
        match timer {
            Timer::RetryAccept => {
                self.acceptor.resume();
                self.accept(cx)
            }
            Timer::Idle { key, id } => {
                let Some(idle) = self.idle else {
                    return Ok(());
                };
                let Some(c) = self.clients.get(key).filter(|c| c.id == id) else {
                    return Ok(());
                };
                let deadline = c.conn.last_active + idle;
                if cx.now >= deadline {
                    let why = format!(
                        "no data either way for {}",
                        humantime::format_duration(idle)
                    );
                    self.doomed.push((key, Closer::Idle, Some(why)));
                    self.bury(cx)
                } else {
                    cx.timers.add(deadline, Timer::Idle { key, id });
                    Ok(())
                }
            }
        }
    }

    fn finished(&mut self, _cx: &mut Ctx<Timer>) -> Result<Option<Exit>> {
        Ok(self.interrupted.then_some(Exit::Interrupted))
    }
}
