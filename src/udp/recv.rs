//! `netkit udp recv PORT` (alias `listen`): print datagrams with their source.
//!
//! Datagrams are taken 32 at a time (`recvmmsg`) and their output is written
//! in one batch per wake-up, so a flood costs a few syscalls per batch rather
//! than two per datagram. The socket asks for a large receive buffer (up to
//! the system's limit) and for the kernel's drop counter, reported in the
//! summary.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::time::Instant;

use mio::event::Event as MioEvent;
use mio::net::UdpSocket;
use mio::{Interest, Token};
use socket2::{InterfaceIndexOrAddress, Socket};

use super::batch::{self, RecvBatch};
use super::{SIGNAL, SOCKET};
use crate::config::udp::UdpRecvConfig;
use crate::error::{describe_io, Error, Exit, Result};
use crate::event::Event;
use crate::net;
use crate::net::Family;
use crate::output::Output;
use crate::reactor::signal::Signals;
use crate::reactor::{Ctx, Handler, Reactor};

/// Receive buffer asked for; the kernel caps it at net.core.rmem_max.
const RCVBUF: usize = 8 << 20;

#[derive(Debug, Clone, Copy)]
struct IdleTimer;

struct Recv<'o> {
    socket: UdpSocket,
    batch: RecvBatch,
    cfg: UdpRecvConfig,
    received: u64,
    bytes: u64,
    echoed: u64,
    bytes_echoed: u64,
    drops: Option<u32>,
    started: Instant,
    last: Instant,
    signals: Signals,
    out: &'o mut Output,
    exit: Option<Exit>,
}

pub fn run(cfg: UdpRecvConfig, out: &mut Output) -> Result<Exit> {
    let socket = match &cfg.multicast {
        Some((group, interface)) => multicast_socket(*group, interface.as_deref(), &cfg)?,
        None => net::bind_udp(
            cfg.bind.map(|b| b.ip(cfg.family)),
            cfg.port,
            cfg.family,
            false,
        )?,
    };
    let _ = socket.set_recv_buffer_size(RCVBUF);
    // Kernels without SO_RXQ_OVFL simply report no drop count.
    let _ = batch::enable_drop_counter(socket.as_raw_fd());
    let mut socket = UdpSocket::from_std(socket.into());
    let addr = socket.local_addr().map_err(|e| Error::io("bind", &e))?;
    let mut reactor = Reactor::new()?;
    reactor
        .registry()
        .register(&mut socket, SOCKET, Interest::READABLE)
        .map_err(|e| Error::io("bind", &e))?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    // Announced once Ctrl-C is handled, so a script may send it at once.
    out.emit(&Event::Listening { addr: addr.into() })?;
    if let Some(timeout) = cfg.timeout {
        reactor.timers.add_after(Instant::now(), timeout, IdleTimer);
    }
    let now = Instant::now();
    let mut driver = Recv {
        socket,
        batch: RecvBatch::new(),
        cfg,
        received: 0,
        bytes: 0,
        echoed: 0,
        bytes_echoed: 0,
        drops: None,
        started: now,
        last: now,
        signals,
        out,
        exit: None,
    };
    driver.out.set_buffered(true)?;
    let result = reactor.run(&mut driver);
    driver.out.set_buffered(false)?;
    result
}

/// A socket bound to the group's port and joined to the group.
fn multicast_socket(group: IpAddr, interface: Option<&str>, cfg: &UdpRecvConfig) -> Result<Socket> {
    let family = Family {
        ipv4: group.is_ipv4(),
        ipv6: group.is_ipv6(),
    };
    let socket = net::bind_udp(cfg.bind.map(|b| b.ip(family)), cfg.port, family, true)?;
    let what = format!("join multicast group {group}");
    match group {
        IpAddr::V4(g) => {
            let iface = match interface {
                None => InterfaceIndexOrAddress::Address(Ipv4Addr::UNSPECIFIED),
                Some(text) => match text.parse::<Ipv4Addr>() {
                    Ok(ip) => InterfaceIndexOrAddress::Address(ip),
                    Err(_) => InterfaceIndexOrAddress::Index(interface_index(text)?),
                },
            };
            socket
                .join_multicast_v4_n(&g, &iface)
                .map_err(|e| Error::io(what, &e))?;
        }
        IpAddr::V6(g) => {
            let index = match interface {
                None => 0,
                Some(text) => interface_index(text)?,
            };
            socket
                .join_multicast_v6(&g, index)
                .map_err(|e| Error::io(what, &e))?;
        }
    }
    Ok(socket)
}

/// An interface given by index (`2`) or name (`eth0`).
fn interface_index(text: &str) -> Result<u32> {
    interface_index_for("--interface", text)
}

/// The same, with `flag` named in the error.
pub(super) fn interface_index_for(flag: &str, text: &str) -> Result<u32> {
    if let Ok(n) = text.parse::<u32>() {
        return Ok(n);
    }
    let name = std::ffi::CString::new(text)
        .map_err(|_| Error::usage(flag, format!("not an interface: {text:?}")))?;
    // SAFETY: a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(name.as_ptr()) } {
        0 => Err(Error::usage(flag, format!("no such interface: {text}"))),
        n => Ok(n),
    }
}

impl Recv<'_> {
    fn drain(&mut self, now: Instant) -> Result<()> {
        let fd = self.socket.as_raw_fd();
        while self.exit.is_none() {
            let n = match self.batch.recv(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(Error::io("receive", &e)),
            };
            for i in 0..n {
                let Some((from, payload, drops)) = self.batch.get(i) else {
                    continue;
                };
                self.received += 1;
                self.bytes += payload.len() as u64;
                if drops.is_some() {
                    self.drops = drops;
                }
                if self.cfg.echo {
                    match self.socket.send_to(payload, from) {
                        Ok(_) => {
                            self.echoed += 1;
                            self.bytes_echoed += payload.len() as u64;
                        }
                        // A full send buffer drops the echo, as UDP does.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => {
                            self.out
                                .notice(&format!("echo to {from} failed: {}", describe_io(&e)));
                        }
                    }
                }
                if self.cfg.raw && !self.out.is_json() {
                    self.out.emit(&Event::Data {
                        id: 0,
                        peer: from.into(),
                        bytes: payload,
                    })?;
                } else {
                    self.out.emit(&Event::Datagram {
                        from,
                        bytes: payload,
                    })?;
                }
                if self.cfg.count.is_some_and(|c| self.received >= c) {
                    self.exit = Some(Exit::Ok);
                    break;
                }
            }
            self.last = now;
        }
        self.out.flush()
    }

    fn summary(&mut self) -> Result<()> {
        self.out.flush()?;
        self.out.emit(&Event::UdpSummary {
            sent: self.echoed,
            received: self.received,
            bytes_sent: self.bytes_echoed,
            bytes_received: self.bytes,
            elapsed: self.started.elapsed(),
            drops: self.drops.map(u64::from).or(Some(0)),
        })
    }
}

impl Handler for Recv<'_> {
    type Timer = IdleTimer;

    fn ready(&mut self, cx: &mut Ctx<IdleTimer>, token: Token, _event: &MioEvent) -> Result<()> {
        match token {
            SOCKET => self.drain(cx.now),
            SIGNAL if self.signals.take() => {
                self.exit = Some(Exit::Interrupted);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn timeout(&mut self, cx: &mut Ctx<IdleTimer>, _timer: IdleTimer) -> Result<()> {
        let Some(timeout) = self.cfg.timeout else {
            return Ok(());
        };
        let Some(deadline) = crate::reactor::timer::deadline(self.last, timeout) else {
            return Ok(());
        };
        if cx.now < deadline {
            cx.timers.add(deadline, IdleTimer);
            return Ok(());
        }
        let short = self.received == 0 || self.cfg.count.is_some_and(|c| self.received < c);
        self.exit = Some(if short { Exit::Timeout } else { Exit::Ok });
        Ok(())
    }

    fn finished(&mut self, _cx: &mut Ctx<IdleTimer>) -> Result<Option<Exit>> {
        let Some(exit) = self.exit else {
            return Ok(None);
        };
        if exit == Exit::Interrupted || self.out.verbose() || self.out.is_json() {
            self.summary()?;
        }
        if exit == Exit::Timeout {
            self.out.flush()?;
            let waited = self.cfg.timeout.unwrap_or_default();
            let why = match self.cfg.count {
                Some(c) if self.received > 0 => format!(
                    "{} of {c} datagrams, then nothing for {}",
                    self.received,
                    humantime::format_duration(waited)
                ),
                _ => format!("nothing came in {}", humantime::format_duration(waited)),
            };
            let port = self
                .socket
                .local_addr()
                .map(|a| a.port())
                .unwrap_or(self.cfg.port);
            return Err(Error::timeout(format!("receive on port {port}"), why));
        }
        Ok(Some(exit))
    }
}
