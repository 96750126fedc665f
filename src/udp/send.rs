//! `netkit udp send HOST PORT [MESSAGE]...`: datagrams from arguments or stdin.
//!
//! The socket is connected to the destination, so the kernel reports an ICMP
//! port-unreachable as ECONNREFUSED on the next send or receive: netkit
//! watches for it until the last datagram has settled and exits 4, instead of
//! losing it silently. With `--reply` it then waits for one reply per
//! datagram sent (or `--timeout` after the last one).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::net::UdpSocket;
use mio::{Interest, Token};
use socket2::{Domain, Protocol, Socket, Type};

use super::{max_payload, SIGNAL, SOCKET, STDIN};
use crate::config::udp::{UdpPayloads, UdpSendConfig};
use crate::error::{Error, Exit, Result};
use crate::event::Event;
use crate::net;
use crate::output::Output;
use crate::proto::{hex, lines::LineSplitter};
use crate::reactor::conn::Read;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::{Ctx, Handler, Reactor};

/// How long to watch for an ICMP error after the last datagram.
const SETTLE: Duration = Duration::from_millis(50);
/// Datagrams read ahead from stdin.
const MAX_PENDING: usize = 64;

#[derive(Debug, Clone, Copy)]
enum SendTimer {
    /// The interval has passed: send the next datagram.
    Next,
    /// Stop waiting (for replies, or for a late ICMP error).
    Deadline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendPhase {
    Sending,
    /// Everything is sent; waiting for replies until the deadline.
    Waiting,
    /// Everything is sent; watching for an ICMP error until the deadline.
    Settling,
}

/// Where the datagrams come from, and how far they have gone.
enum SendSource {
    Args {
        messages: Vec<Vec<u8>>,
        index: usize,
        round: u64,
    },
    Stdin {
        stdin: Stdin,
        lines: Option<LineSplitter>,
        line_no: u64,
    },
}

struct Sender<'o> {
    socket: UdpSocket,
    dest: SocketAddr,
    limit: usize,
    cfg: UdpSendConfig,
    input: SendSource,
    /// Datagrams from stdin, with how many more times each is to be sent.
    pending: VecDeque<(Vec<u8>, u64)>,
    input_done: bool,
    phase: SendPhase,
    next_at: Option<Instant>,
    writable: bool,
    sent: u64,
    bytes_sent: u64,
    replies: u64,
    bytes_received: u64,
    started: Instant,
    buf: Vec<u8>,
    signals: Signals,
    out: &'o mut Output,
    exit: Option<Result<Exit>>,
}

pub fn run(cfg: UdpSendConfig, out: &mut Output) -> Result<Exit> {
    let dest = net::resolve(&cfg.host, cfg.port, cfg.family)?[0];
    let limit = max_payload(dest);
    if let UdpPayloads::Args(messages) = &cfg.payloads {
        check_sizes(messages, limit)?;
    }
    let socket = open_socket(dest, &cfg)?;
    let mut socket = UdpSocket::from_std(socket.into());

    let mut reactor = Reactor::new()?;
    reactor
        .registry()
        .register(&mut socket, SOCKET, Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| Error::io("udp socket", &e))?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let input = match &cfg.payloads {
        UdpPayloads::Args(messages) => SendSource::Args {
            messages: messages.clone(),
            index: 0,
            round: 0,
        },
        UdpPayloads::StdinLines { .. } | UdpPayloads::StdinChunks => SendSource::Stdin {
            stdin: Stdin::open(reactor.registry(), STDIN).map_err(|e| Error::io("stdin", &e))?,
            lines: match cfg.payloads {
                UdpPayloads::StdinLines { hex } => Some(LineSplitter::new(line_room(limit, hex))),
                _ => None,
            },
            line_no: 0,
        },
    };
    let mut sender = Sender {
        socket,
        dest,
        limit,
        cfg,
        input,
        pending: VecDeque::new(),
        input_done: false,
        phase: SendPhase::Sending,
        next_at: None,
        writable: true,
        sent: 0,
        bytes_sent: 0,
        replies: 0,
        bytes_received: 0,
        started: Instant::now(),
        buf: vec![0; 64 * 1024],
        signals,
        out,
        exit: None,
    };
    sender.pump(&mut reactor.ctx())?;
    reactor.run(&mut sender)
}

/// The MESSAGE arguments are datagrams: each must fit `limit`.
fn check_sizes(messages: &[Vec<u8>], limit: usize) -> Result<()> {
    for (i, m) in messages.iter().enumerate() {
        check_size(m.len(), limit, &format!("message {}", i + 1))?;
    }
    Ok(())
}

fn check_size(len: usize, limit: usize, what: &str) -> Result<()> {
    if len > limit {
        return Err(Error::usage(
            what,
            format!("{len} bytes is over the UDP datagram limit of {limit} bytes"),
        ));
    }
    Ok(())
}

fn open_socket(dest: SocketAddr, args: &UdpSendConfig) -> Result<Socket> {
    let what = format!("udp socket to {dest}");
    let io = |e: io::Error| Error::io(what.clone(), &e);
    let socket = Socket::new(
        Domain::for_address(dest),
        Type::DGRAM.nonblocking().cloexec(),
        Some(Protocol::UDP),
    )
    .map_err(io)?;
    if args.broadcast {
        socket.set_broadcast(true).map_err(io)?;
    }
    if let Some(ttl) = args.ttl {
        if dest.is_ipv4() {
            socket.set_ttl_v4(ttl).map_err(io)?;
            socket.set_multicast_ttl_v4(ttl).map_err(io)?;
        } else {
            socket.set_unicast_hops_v6(ttl).map_err(io)?;
            socket.set_multicast_hops_v6(ttl).map_err(io)?;
        }
    }
    if let Some(iface) = &args.multicast_if {
        let flag = "--multicast-if";
        if dest.is_ipv4() {
            let addr: std::net::Ipv4Addr = iface.parse().map_err(|_| {
                Error::usage(
                    flag,
                    format!(
                        "{iface:?}: for an IPv4 destination, give the interface's IPv4 address"
                    ),
                )
            })?;
            socket
                .set_multicast_if_v4(&addr)
                .map_err(|e| Error::io(format!("{flag} {addr}"), &e))?;
        } else {
            let index = super::recv::interface_index_for(flag, iface)?;
            socket
                .set_multicast_if_v6(index)
                .map_err(|e| Error::io(format!("{flag} {iface}"), &e))?;
        }
    }
    if let Some(src) = args.source {
        if src.is_ipv4() != dest.is_ipv4() {
            return Err(Error::usage(
                "--source",
                format!("{src} and {dest} are different address families"),
            ));
        }
        socket
            .bind(&src.into())
            .map_err(|e| Error::io(format!("bind {src}"), &e))?;
    }
    socket.connect(&dest.into()).map_err(|e| {
        let mut err = Error::io(format!("send to {dest}"), &e);
        if e.raw_os_error() == Some(libc::EACCES) && !args.broadcast {
            err.why.push_str(" (a broadcast address needs --broadcast)");
        }
        err
    })?;
    Ok(socket)
}

impl Sender<'_> {
    /// Sends what is due, reads replies and errors, and moves the phases on.
    fn pump(&mut self, cx: &mut Ctx<SendTimer>) -> Result<()> {
        self.receive()?;
        while self.phase == SendPhase::Sending && self.exit.is_none() {
            if let Some(at) = self.next_at {
                if at > cx.now {
                    return Ok(());
                }
            }
            if !self.writable {
                return Ok(());
            }
            let Some(datagram) = self.next_datagram()? else {
                if self.input_done {
                    self.all_sent(cx)?;
                }
                return Ok(());
            };
            match self.socket.send(&datagram) {
                Ok(n) => {
                    self.sent += 1;
                    self.bytes_sent += n as u64;
                    self.advance();
                    if self.out.is_json() || self.out.verbose() {
                        self.out.emit(&Event::Sent {
                            to: self.dest,
                            length: n,
                        })?;
                    }
                    if let Some(interval) = self.cfg.interval {
                        let at = cx.now + interval;
                        self.next_at = Some(at);
                        cx.timers.add(at, SendTimer::Next);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.writable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.socket_error(&e)),
            }
        }
        Ok(())
    }

    /// The datagram to send now, without consuming it.
    fn next_datagram(&mut self) -> Result<Option<Vec<u8>>> {
        match &mut self.input {
            SendSource::Args {
                messages,
                index,
                round,
            } => {
                if *round >= self.cfg.count {
                    self.input_done = true;
                    return Ok(None);
                }
                Ok(Some(messages[*index].clone()))
            }
            SendSource::Stdin { .. } => {
                if self.pending.is_empty() {
                    self.read_stdin()?;
                }
                Ok(self.pending.front().map(|(d, _)| d.clone()))
            }
        }
    }

    /// Consumes the datagram just sent.
    fn advance(&mut self) {
        match &mut self.input {
            SendSource::Args {
                messages,
                index,
                round,
            } => {
                *index += 1;
                if *index == messages.len() {
                    *index = 0;
                    *round += 1;
                }
            }
            SendSource::Stdin { .. } => {
                if let Some((_, left)) = self.pending.front_mut() {
                    *left -= 1;
                    if *left == 0 {
                        self.pending.pop_front();
                    }
                }
            }
        }
    }

    /// Reads stdin into `pending` (lines, hex lines or raw chunks).
    fn read_stdin(&mut self) -> Result<()> {
        let SendSource::Stdin {
            stdin,
            lines,
            line_no,
        } = &mut self.input
        else {
            return Ok(());
        };
        while self.pending.len() < MAX_PENDING && !self.input_done {
            let cap = if lines.is_none() {
                self.limit
            } else {
                self.buf.len()
            };
            match stdin.read(&mut self.buf[..cap]) {
                Ok(Read::Data(n)) => {
                    let data = &self.buf[..n];
                    match lines {
                        None => self.pending.push_back((data.to_vec(), self.cfg.count)),
                        Some(splitter) => {
                            let mut got = Vec::new();
                            splitter.push(data, |l| got.push(l.to_vec()));
                            for line in got {
                                *line_no += 1;
                                let d = decode_line(
                                    line,
                                    *line_no,
                                    matches!(
                                        self.cfg.payloads,
                                        UdpPayloads::StdinLines { hex: true }
                                    ),
                                    self.limit,
                                )?;
                                self.pending.push_back((d, self.cfg.count));
                            }
                        }
                    }
                }
                Ok(Read::Eof) => {
                    if let Some(rest) = lines.as_mut().and_then(LineSplitter::finish) {
                        *line_no += 1;
                        let d = decode_line(
                            rest,
                            *line_no,
                            matches!(self.cfg.payloads, UdpPayloads::StdinLines { hex: true }),
                            self.limit,
                        )?;
                        self.pending.push_back((d, self.cfg.count));
                    }
                    self.input_done = true;
                }
                Ok(Read::WouldBlock) => break,
                Err(e) => return Err(Error::io("read stdin", &e)),
            }
        }
        Ok(())
    }

    /// Everything is out: wait for replies, or for a late ICMP error.
    fn all_sent(&mut self, cx: &mut Ctx<SendTimer>) -> Result<()> {
        if let Some(timeout) = self.cfg.reply {
            if self.replies >= self.sent {
                self.exit = Some(Ok(Exit::Ok));
                return Ok(());
            }
            self.phase = SendPhase::Waiting;
            cx.timers.add(cx.now + timeout, SendTimer::Deadline);
        } else {
            self.phase = SendPhase::Settling;
            cx.timers.add(cx.now + SETTLE, SendTimer::Deadline);
        }
        Ok(())
    }

    /// Reads replies (and the errors a connected socket reports).
    fn receive(&mut self) -> Result<()> {
        loop {
            match self.socket.recv(&mut self.buf) {
                Ok(n) => {
                    if self.cfg.reply.is_none() {
                        continue;
                    }
                    self.replies += 1;
                    self.bytes_received += n as u64;
                    self.out.emit(&Event::Datagram {
                        from: self.dest,
                        bytes: &self.buf[..n],
                    })?;
                    if self.phase == SendPhase::Waiting && self.replies >= self.sent {
                        self.exit = Some(Ok(Exit::Ok));
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.socket_error(&e)),
            }
        }
    }

    fn socket_error(&self, e: &io::Error) -> Error {
        let mut err = Error::io(format!("send to {}", self.dest), e);
        if e.kind() == io::ErrorKind::ConnectionRefused {
            err.why = "port unreachable (ICMP): nothing is listening there".into();
        }
        if e.raw_os_error() == Some(libc::EMSGSIZE) {
            err = Error::usage(
                format!("send to {}", self.dest),
                "datagram too large for the path",
            );
        }
        err
    }

    fn summary(&mut self) -> Result<()> {
        self.out.emit(&Event::UdpSummary {
            sent: self.sent,
            received: self.replies,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            elapsed: self.started.elapsed(),
            drops: None,
        })
    }
}

/// The longest stdin line read whole: room for a full datagram and its
/// `\r\n` (or, in hex, for separators and `0x` prefixes too), so a line over
/// the limit is still one line and is refused as such, never split.
fn line_room(limit: usize, hex: bool) -> usize {
    if hex {
        6 * limit + 16
    } else {
        limit + 2
    }
}

/// One stdin line as a datagram: hex-decoded if asked, size-checked.
fn decode_line(line: Vec<u8>, line_no: u64, hex_input: bool, limit: usize) -> Result<Vec<u8>> {
    let what = format!("stdin line {line_no}");
    let bytes = if hex_input {
        let text = String::from_utf8_lossy(&line);
        hex::parse(&text).map_err(|e| Error::usage(what.clone(), e))?
    } else {
        line
    };
    check_size(bytes.len(), limit, &what)?;
    Ok(bytes)
}

impl Handler for Sender<'_> {
    type Timer = SendTimer;

    fn ready(&mut self, cx: &mut Ctx<SendTimer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            SOCKET => {
                if event.is_writable() || event.is_error() {
                    self.writable = true;
                }
                self.pump(cx)
            }
            STDIN => {
                if let SendSource::Stdin { stdin, .. } = &mut self.input {
                    stdin.ready();
                }
                self.pump(cx)
            }
            SIGNAL if self.signals.take() => {
                self.exit = Some(Ok(Exit::Interrupted));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn timeout(&mut self, cx: &mut Ctx<SendTimer>, timer: SendTimer) -> Result<()> {
        match timer {
            SendTimer::Next => {
                if self.next_at.is_some_and(|at| at <= cx.now) {
                    self.next_at = None;
                }
                self.pump(cx)
            }
            SendTimer::Deadline => {
                self.receive()?;
                if self.exit.is_some() {
                    return Ok(());
                }
                if let Ok(Some(e)) = self.socket.take_error() {
                    return Err(self.socket_error(&e));
                }
                self.exit = Some(if self.phase == SendPhase::Waiting && self.replies == 0 {
                    Err(Error::timeout(
                        format!("reply from {}", self.dest),
                        format!(
                            "none came within {} of the last datagram",
                            humantime::format_duration(self.cfg.reply.unwrap_or_default())
                        ),
                    ))
                } else {
                    Ok(Exit::Ok)
                });
                Ok(())
            }
        }
    }

    fn finished(&mut self, _cx: &mut Ctx<SendTimer>) -> Result<Option<Exit>> {
        let Some(result) = self.exit.take() else {
            return Ok(None);
        };
        let many = self.cfg.reply.is_some() && self.sent > 1;
        if self.out.is_json()
            || self.out.verbose()
            || many
            || matches!(result, Ok(Exit::Interrupted))
        {
            self.summary()?;
        }
        result.map(Some)
    }
}
