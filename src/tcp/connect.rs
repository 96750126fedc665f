//! `netkit tcp connect HOST PORT`: try each resolved address in order, each
//! with its own connect timeout, then pipe stdin and stdout through the
//! connection (see [`Session`]).

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use mio::event::Event as MioEvent;
use mio::net::TcpStream;
use mio::{Interest, Token};

use super::session::{End, PipeOpts, Session, BUF_SIZE};
use super::{host_port, SIGNAL, SOCKET, STDIN};
use crate::cli::ConnectArgs;
use crate::error::{describe_io, exit_for_io, Error, Exit, Result};
use crate::event::{Closer, Event};
use crate::net;
use crate::output::Output;
use crate::reactor::conn::Conn;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::{Ctx, Handler, Reactor, TimerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The connect attempt with this number timed out.
    Connect(usize),
    Idle,
}

enum Phase {
    Connecting {
        stream: TcpStream,
        addr: SocketAddr,
        started: Instant,
        timer: TimerId,
    },
    Open(Session),
    Closed,
}

struct Connect<'o> {
    args: ConnectArgs,
    target: String,
    addrs: Vec<SocketAddr>,
    /// Index of the next address to try.
    next: usize,
    phase: Phase,
    last_error: Option<io::Error>,
    stdin: Option<Stdin>,
    signals: Signals,
    buf: Vec<u8>,
    out: &'o mut Output,
    result: Option<Result<Exit>>,
}

pub fn run(args: ConnectArgs, out: &mut Output) -> Result<Exit> {
    let target = host_port(&args.host, args.port);
    let addrs = net::resolve(&args.host, args.port, args.family)?;
    if !addrs
        .iter()
        .any(|a| a.ip().to_string() == args.host.trim_matches(['[', ']']))
    {
        out.emit(&Event::Resolved {
            host: &args.host,
            addrs: &addrs,
        })?;
    }
    let mut reactor = Reactor::new()?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let stdin = if args.recv_only {
        None
    } else {
        Some(Stdin::open(reactor.registry(), STDIN).map_err(|e| Error::io("stdin", &e))?)
    };
    let mut driver = Connect {
        args,
        target,
        addrs,
        next: 0,
        phase: Phase::Closed,
        last_error: None,
        stdin,
        signals,
        buf: vec![0; BUF_SIZE],
        out,
        result: None,
    };
    driver.try_next(&mut reactor.ctx());
    reactor.run(&mut driver)
}

impl Connect<'_> {
    /// Starts connecting to the next address, or records the final failure.
    fn try_next(&mut self, cx: &mut Ctx<Timer>) {
        while self.next < self.addrs.len() {
            let addr = self.addrs[self.next];
            let attempt = self.next;
            self.next += 1;
            let started = Instant::now();
            let begun = net::start_connect(addr, self.args.source).and_then(|mut stream| {
                cx.registry
                    .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)
                    .map(|()| stream)
            });
            match begun {
                Ok(stream) => {
                    let timer = cx
                        .timers
                        .add(started + self.args.connect_timeout, Timer::Connect(attempt));
                    self.phase = Phase::Connecting {
                        stream,
                        addr,
                        started,
                        timer,
                    };
                    return;
                }
                Err(e) => self.failed(addr, e),
            }
        }
        let e = self
            .last_error
            .take()
            .unwrap_or_else(|| io::Error::other("no address to connect to"));
        let mut why = describe_io(&e);
        if e.kind() == io::ErrorKind::ConnectionRefused {
            why.push_str(" (is anything listening there?)");
        }
        if self.addrs.len() > 1 {
            why.push_str(&format!("; tried {}", net::list(&self.addrs)));
        }
        let kind = if e.kind() == io::ErrorKind::InvalidInput {
            Exit::Usage
        } else {
            exit_for_io(&e)
        };
        self.result = Some(Err(Error::new(
            kind,
            format!("connect {}", self.target),
            why,
        )));
    }

    fn failed(&mut self, addr: SocketAddr, e: io::Error) {
        if self.next < self.addrs.len() {
            let why = describe_io(&e);
            // Reporting a skipped address cannot fail in a way that matters here.
            let _ = self.out.emit(&Event::ConnectFailed { addr, why: &why });
        }
        self.last_error = Some(e);
    }

    fn on_connecting(&mut self, cx: &mut Ctx<Timer>, timed_out: bool) {
        let Phase::Connecting {
            stream,
            addr,
            started,
            timer,
        } = std::mem::replace(&mut self.phase, Phase::Closed)
        else {
            return;
        };
        let outcome = if timed_out {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "timed out after {}",
                    humantime::format_duration(self.args.connect_timeout)
                ),
            ))
        } else {
            net::finish_connect(&stream)
        };
        match outcome {
            Ok(false) => {
                self.phase = Phase::Connecting {
                    stream,
                    addr,
                    started,
                    timer,
                };
            }
            Ok(true) => {
                cx.timers.cancel(timer);
                let local = stream.local_addr().unwrap_or(addr);
                let conn = Conn::new(stream, addr, local, cx.now);
                if let Err(e) = self.out.emit(&Event::Connected {
                    id: 0,
                    local,
                    remote: addr,
                    accepted: false,
                    time: Some(cx.now - started),
                    clients: 0,
                }) {
                    self.result = Some(Err(e));
                    return;
                }
                let opts = PipeOpts {
                    send_only: self.args.send_only,
                    recv_only: self.args.recv_only,
                    no_shutdown: self.args.no_shutdown,
                    hex: self.args.hex,
                    idle_timeout: self.args.idle_timeout,
                };
                let session = Session::new(conn, 0, opts);
                if let Some(at) = session.idle_deadline() {
                    cx.timers.add(at, Timer::Idle);
                }
                self.phase = Phase::Open(session);
                self.pump(cx);
            }
            Err(e) => {
                cx.timers.cancel(timer);
                let mut stream = stream;
                let _ = cx.registry.deregister(&mut stream);
                drop(stream);
                self.failed(addr, e);
                self.try_next(cx);
            }
        }
    }

    fn pump(&mut self, cx: &mut Ctx<Timer>) {
        if let Phase::Open(session) = &mut self.phase {
            session.pump(cx, self.stdin.as_mut(), &mut self.buf, self.out);
        }
    }
}

impl Handler for Connect<'_> {
    type Timer = Timer;

    fn ready(&mut self, cx: &mut Ctx<Timer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            STDIN => {
                if let Some(stdin) = &mut self.stdin {
                    stdin.ready();
                }
                self.pump(cx);
            }
            SIGNAL if self.signals.take() => match &mut self.phase {
                Phase::Open(session) => session.finish(Closer::Interrupted, self.out, None)?,
                _ => self.result = Some(Ok(Exit::Interrupted)),
            },
            SOCKET => match &mut self.phase {
                Phase::Connecting { .. } => self.on_connecting(cx, false),
                Phase::Open(session) => {
                    session.conn.ready(event);
                    self.pump(cx);
                }
                Phase::Closed => {}
            },
            _ => {}
        }
        Ok(())
    }

    fn timeout(&mut self, cx: &mut Ctx<Timer>, timer: Timer) -> Result<()> {
        match timer {
            Timer::Connect(_) => self.on_connecting(cx, true),
            Timer::Idle => {
                if let Phase::Open(session) = &mut self.phase {
                    if let Some(at) = session.check_idle(cx.now) {
                        cx.timers.add(at, Timer::Idle);
                    }
                }
            }
        }
        Ok(())
    }

    fn finished(&mut self, _cx: &mut Ctx<Timer>) -> Result<Option<Exit>> {
        if let Some(result) = self.result.take() {
            return result.map(Some);
        }
        if let Phase::Open(session) = &mut self.phase {
            match session.take_end() {
                Some(End::Done(exit)) => return Ok(Some(exit)),
                Some(End::Failed(e)) => return Err(e),
                None => {}
            }
        }
        Ok(None)
    }
}
