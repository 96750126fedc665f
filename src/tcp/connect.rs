//! `netkit tcp connect HOST PORT`: try each resolved address in order, each
//! with its own connect timeout, then pipe stdin and stdout through the
//! connection (see [`PipeSession`]).

use mio::event::Event as MioEvent;
use mio::Token;
use std::io;

use super::session::{End, PipeSession, Wake, BUF_SIZE};
use super::{host_port, SIGNAL, SOCKET, STDIN};
use crate::config::tcp::{ClientTls, ConnectTo, TcpConnectConfig};
use crate::error::{describe_io, exit_for_io, Error, Exit, Result};
use crate::event::{Closer, Event};
use crate::net;
use crate::net::proxy::Tunnel;
use crate::net::tls::TlsLayer;
use crate::output::Output;
use crate::reactor::conn::Conn;
use crate::reactor::connector::{Connector, Outcome};
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::{Ctx, Handler, Reactor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnectTimer {
    Connect,
    Idle,
    Session(Wake),
}

enum ConnectPhase {
    Connecting(Connector),
    /// Between phases.
    Done,
    /// Connected to the proxy (`-x`): the tunnel handshake.
    Tunnel(Conn),
    Open(Box<PipeSession>),
}

struct Connect<'o> {
    target: String,
    phase: ConnectPhase,
    stdin: Option<Stdin>,
    signals: Signals,
    buf: Vec<u8>,
    out: &'o mut Output,
    result: Option<Result<Exit>>,
    /// `--tls`: the client settings.
    tls: Option<ClientTls>,
    /// `-x`: the handshake to make with the proxy.
    tunnel: Option<Tunnel>,
    /// Stdio (with the pipe's settings) or `-e`/`--sh-exec`.
    to: ConnectTo,
    /// With `-e`: the connection (and what came with the proxy's answer),
    /// handed to the exec loop once connected.
    handoff: Option<(Conn, Vec<u8>)>,
}

pub fn run(config: TcpConnectConfig, out: &mut Output) -> Result<Exit> {
    let TcpConnectConfig {
        host,
        port,
        family,
        connect_timeout,
        source,
        proxy,
        tls,
        to,
    } = config;
    let target = host_port(&host, port);
    if tls.as_ref().is_some_and(|t| t.insecure) {
        out.warn("--insecure: the server's certificate is not verified");
    }
    let tunnel = match &proxy {
        Some(p) => Some(p.handshake(&host, port, family)?),
        None => None,
    };
    // Through a proxy, the proxy is what is connected to.
    let (dial_host, dial_port) = match &proxy {
        Some(p) => (p.host.clone(), p.port),
        None => (host, port),
    };
    let addrs = net::resolve(&dial_host, dial_port, family)?;
    if !addrs
        .iter()
        .any(|a| a.ip().to_string() == dial_host.trim_matches(['[', ']']))
    {
        out.emit(&Event::Resolved {
            host: &dial_host,
            addrs: &addrs,
        })?;
    }
    let mut reactor = Reactor::new()?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let stdin = match &to {
        ConnectTo::Stdio(opts) if !opts.recv_only => {
            Some(Stdin::open(reactor.registry(), STDIN).map_err(|e| Error::io("stdin", &e))?)
        }
        _ => None,
    };
    let connector = Connector::new(addrs, source, connect_timeout);
    let mut driver = Connect {
        target,
        phase: ConnectPhase::Connecting(connector),
        stdin,
        signals,
        buf: vec![0; BUF_SIZE],
        out,
        result: None,
        tls,
        tunnel,
        to,
        handoff: None,
    };
    let mut cx = reactor.ctx();
    if let ConnectPhase::Connecting(c) = &mut driver.phase {
        let outcome = c.start(&mut cx, SOCKET, ConnectTimer::Connect);
        driver.on_outcome(&mut cx, outcome);
    }
    let exit = reactor.run(&mut driver)?;
    match (driver.handoff.take(), driver.to) {
        (
            Some((conn, early)),
            ConnectTo::Exec {
                program,
                idle_timeout,
            },
        ) => {
            drop(reactor);
            let peer = conn.peer.into();
            let stream = net::Stream::Tcp(conn.stream);
            crate::exec::connected(stream, peer, early, program, idle_timeout, driver.out)
        }
        _ => Ok(exit),
    }
}

impl Connect<'_> {
    fn on_outcome(&mut self, cx: &mut Ctx<ConnectTimer>, outcome: Outcome) {
        match outcome {
            Outcome::Pending => {}
            Outcome::Retrying(addr, e) => {
                let why = describe_io(&e);
                if let Err(e) = self.out.emit(&Event::ConnectFailed { addr, why: &why }) {
                    self.result = Some(Err(e));
                }
            }
            Outcome::Failed(e) => self.result = Some(Err(self.connect_error(&e))),
            Outcome::Connected(stream, addr, took) => {
                let local = stream.local_addr().unwrap_or(addr);
                let conn = Conn::new(stream, addr, local, cx.now);
                if let Err(e) = self.out.emit(&Event::Connected {
                    id: 0,
                    local: local.into(),
                    remote: addr.into(),
                    accepted: false,
                    time: Some(took),
                    clients: 0,
                }) {
                    self.result = Some(Err(e));
                    return;
                }
                if self.tunnel.is_some() {
                    self.phase = ConnectPhase::Tunnel(conn);
                    self.tunnel_ready(cx);
                } else {
                    self.open(cx, conn, Vec::new());
                }
            }
        }
    }

    /// Moves the proxy handshake on; opens the session once the tunnel is up.
    fn tunnel_ready(&mut self, cx: &mut Ctx<ConnectTimer>) {
        let (ConnectPhase::Tunnel(conn), Some(tunnel)) = (&mut self.phase, &mut self.tunnel) else {
            return;
        };
        match tunnel.pump(conn, &mut self.buf, cx.now) {
            Ok(None) => {}
            Ok(Some(early)) => {
                if self.out.verbose() {
                    let text = format!("tunnel through {} is up", tunnel.proxy());
                    self.out.notice(&text);
                }
                let ConnectPhase::Tunnel(conn) =
                    std::mem::replace(&mut self.phase, ConnectPhase::Done)
                else {
                    return;
                };
                self.open(cx, conn, early);
            }
            Err(e) => self.result = Some(Err(e)),
        }
    }

    /// Starts the session on `conn`; `early` arrived with the proxy's answer.
    fn open(&mut self, cx: &mut Ctx<ConnectTimer>, conn: Conn, early: Vec<u8>) {
        let opts = match &self.to {
            ConnectTo::Stdio(opts) => *opts,
            ConnectTo::Exec { .. } => {
                // The exec loop takes over once this loop ends.
                let mut conn = conn;
                let _ = cx.registry.deregister(&mut conn.stream);
                self.handoff = Some((conn, early));
                self.result = Some(Ok(Exit::Ok));
                return;
            }
        };
        if !early.is_empty() && self.tls.is_none() && !opts.send_only {
            if let Err(e) = self.out.emit(&Event::Data {
                id: 0,
                peer: conn.peer.into(),
                bytes: &early,
            }) {
                self.result = Some(Err(e));
                return;
            }
        }
        let mut session = PipeSession::new(conn, 0, opts);
        if let Some(tls) = &self.tls {
            match TlsLayer::client(tls.config.clone(), &tls.name) {
                Ok(layer) => session.secure(layer),
                Err(e) => {
                    self.result = Some(Err(e));
                    return;
                }
            }
        }
        if let Some(at) = session.idle_deadline() {
            cx.timers.add(at, ConnectTimer::Idle);
        }
        self.phase = ConnectPhase::Open(Box::new(session));
        self.pump(cx);
    }

    fn connect_error(&self, e: &io::Error) -> Error {
        let mut why = describe_io(e);
        match e.kind() {
            io::ErrorKind::ConnectionRefused => why.push_str(" (is anything listening there?)"),
            io::ErrorKind::TimedOut => {
                why.push_str(" (is the host up, or a firewall dropping packets?)")
            }
            _ => {}
        }
        let addrs = match &self.phase {
            ConnectPhase::Connecting(c) => c.addrs(),
            _ => &[],
        };
        if addrs.len() > 1 {
            why.push_str(&format!("; tried {}", net::list(addrs)));
        }
        let kind = if e.kind() == io::ErrorKind::InvalidInput {
            Exit::Usage
        } else {
            exit_for_io(e)
        };
        let what = match &self.tunnel {
            Some(t) => format!("connect to proxy {}", t.proxy()),
            None => format!("connect {}", self.target),
        };
        Error::new(kind, what, why)
    }

    fn pump(&mut self, cx: &mut Ctx<ConnectTimer>) {
        if let ConnectPhase::Open(session) = &mut self.phase {
            session.pump(cx, self.stdin.as_mut(), &mut self.buf, self.out);
            while let Some((wake, at)) = session.next_timer(cx.now) {
                cx.timers.add(at, ConnectTimer::Session(wake));
            }
        }
    }
}

impl Handler for Connect<'_> {
    type Timer = ConnectTimer;

    fn ready(&mut self, cx: &mut Ctx<ConnectTimer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            STDIN => {
                if let Some(stdin) = &mut self.stdin {
                    stdin.ready();
                }
                self.pump(cx);
            }
            SIGNAL if self.signals.take() => match &mut self.phase {
                ConnectPhase::Open(session) => {
                    session.finish(Closer::Interrupted, self.out, None)?
                }
                _ => self.result = Some(Ok(Exit::Interrupted)),
            },
            SOCKET => match &mut self.phase {
                ConnectPhase::Connecting(c) => {
                    let outcome = c.ready(cx, SOCKET, ConnectTimer::Connect);
                    self.on_outcome(cx, outcome);
                }
                ConnectPhase::Tunnel(conn) => {
                    conn.ready(event);
                    self.tunnel_ready(cx);
                }
                ConnectPhase::Open(session) => {
                    session.conn.ready(event);
                    self.pump(cx);
                }
                ConnectPhase::Done => {}
            },
            _ => {}
        }
        Ok(())
    }

    fn timeout(&mut self, cx: &mut Ctx<ConnectTimer>, timer: ConnectTimer) -> Result<()> {
        match (timer, &mut self.phase) {
            (ConnectTimer::Connect, ConnectPhase::Connecting(c)) => {
                let outcome = c.timed_out(cx, SOCKET, ConnectTimer::Connect);
                self.on_outcome(cx, outcome);
            }
            (ConnectTimer::Idle, ConnectPhase::Open(session)) => {
                if let Some(at) = session.check_idle(cx.now) {
                    cx.timers.add(at, ConnectTimer::Idle);
                }
            }
            (ConnectTimer::Session(wake), ConnectPhase::Open(session)) => {
                session.on_timer(wake, cx.now, self.out);
                while let Some((wake, at)) = session.next_timer(cx.now) {
                    cx.timers.add(at, ConnectTimer::Session(wake));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn finished(&mut self, _cx: &mut Ctx<ConnectTimer>) -> Result<Option<Exit>> {
        if let Some(result) = self.result.take() {
            return result.map(Some);
        }
        if let ConnectPhase::Open(session) = &mut self.phase {
            match session.take_end() {
                Some(End::Done(exit)) => return Ok(Some(exit)),
                Some(End::Failed(e)) => return Err(e),
                None => {}
            }
        }
        Ok(None)
    }
}
