//! `netkit tcp listen PORT`: bind, report the port, then either serve one
//! client like `nc -l` (a [`Session`] piped to stdin/stdout, exit when it
//! closes) or hand over to the multi-client [`super::server`]. With
//! `--tls-cert` the client speaks TLS in either case, and must finish its
//! handshake within `--handshake-timeout` (one client: exit 5; many: that
//! client is closed).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use mio::event::Event as MioEvent;
use mio::net::TcpListener;
use mio::{Interest, Token};

use super::server::{self, Mode};
use super::session::{End, PipeOpts, Session, Wake, BUF_SIZE};
use super::{LISTENER, SIGNAL, SOCKET, STDIN};
use crate::cli::ListenArgs;
use crate::error::{Error, Exit, Result};
use crate::event::{Closer, Event};
use crate::net;
use crate::net::tls::TlsLayer;
use crate::output::Output;
use crate::reactor::conn::Conn;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::{Ctx, Handler, Reactor};

pub fn run(args: ListenArgs, out: &mut Output) -> Result<Exit> {
    let mode = if args.chat {
        Some(Mode::Chat)
    } else if args.broker {
        Some(Mode::Broker)
    } else if args.echo {
        Some(Mode::Echo)
    } else if args.keep_open {
        Some(Mode::Keep)
    } else {
        None
    };
    if mode.is_some() {
        net::raise_fd_limit();
    }
    let tls = tls_config(&args)?;
    let mut listener = net::listen(args.bind.map(|b| b.ip(args.family)), args.port, args.family)?;
    let addr = listener.local_addr().map_err(|e| Error::io("listen", &e))?;

    match mode {
        Some(mode) => {
            let (mut reactor, signals, stdin) = setup(&mut listener, mode != Mode::Echo)?;
            // Announced once Ctrl-C is handled, so a script may send it at once.
            out.emit(&Event::Listening { addr })?;
            server::run(
                &mut reactor,
                listener,
                tls,
                mode,
                &args,
                stdin,
                signals,
                out,
            )
        }
        None => {
            let (mut reactor, signals, stdin) = setup(&mut listener, true)?;
            out.emit(&Event::Listening { addr })?;
            let mut driver = Single {
                listener: Some(listener),
                tls,
                handshake_timeout: args.handshake_timeout,
                session: None,
                opts: PipeOpts {
                    no_shutdown: args.no_shutdown,
                    hex: args.hex,
                    idle_timeout: args.idle_timeout,
                    quit_after: args.quit_after,
                    crlf: args.crlf,
                    ..PipeOpts::default()
                },
                stdin,
                signals,
                buf: vec![0; BUF_SIZE],
                out,
                interrupted: false,
            };
            reactor.run(&mut driver)
        }
    }
}

/// `--tls-cert` and `--tls-key` (with `--alpn`): the server's settings.
fn tls_config(args: &ListenArgs) -> Result<Option<Arc<ServerConfig>>> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let config = net::tls::server_config(cert, key)?;
    if args.alpn.is_empty() {
        return Ok(Some(config));
    }
    let mut config = Arc::unwrap_or_clone(config);
    config.alpn_protocols = args.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Some(Arc::new(config)))
}

/// The loop with the listener, SIGINT and (optionally) stdin registered.
fn setup<K>(
    listener: &mut TcpListener,
    want_stdin: bool,
) -> Result<(Reactor<K>, Signals, Option<Stdin>)> {
    let reactor = Reactor::new()?;
    reactor
        .registry()
        .register(listener, LISTENER, Interest::READABLE)
        .map_err(|e| Error::io("listen", &e))?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let stdin = if want_stdin {
        Some(Stdin::open(reactor.registry(), STDIN).map_err(|e| Error::io("stdin", &e))?)
    } else {
        None
    };
    Ok((reactor, signals, stdin))
}

#[derive(Debug, Clone, Copy)]
enum Timer {
    Idle,
    Session(Wake),
    /// `--handshake-timeout`: the client's TLS handshake is due.
    TlsHandshake,
}

/// One client, then exit.
struct Single<'o> {
    listener: Option<TcpListener>,
    /// `--tls-cert`: the client speaks TLS.
    tls: Option<Arc<ServerConfig>>,
    /// `--handshake-timeout`: how long its TLS handshake may take.
    handshake_timeout: Duration,
    session: Option<Session>,
    opts: PipeOpts,
    stdin: Option<Stdin>,
    signals: Signals,
    buf: Vec<u8>,
    out: &'o mut Output,
    interrupted: bool,
}

impl Single<'_> {
    fn accept(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        let Some(listener) = &mut self.listener else {
            return Ok(());
        };
        let (mut stream, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(Error::io("accept", &e)),
        };
        // Like nc -l: one client, and the port is free again.
        if let Some(mut l) = self.listener.take() {
            let _ = cx.registry.deregister(&mut l);
        }
        let _ = stream.set_nodelay(true);
        let local = stream
            .local_addr()
            .map(net::canonical)
            .map_err(|e| Error::io("accept", &e))?;
        let peer = net::canonical(peer);
        cx.registry
            .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| Error::io("accept", &e))?;
        self.out.emit(&Event::Connected {
            id: 1,
            local,
            remote: peer,
            accepted: true,
            time: None,
            clients: 1,
        })?;
        let mut session = Session::new(Conn::new(stream, peer, local, cx.now), 1, self.opts);
        if let Some(config) = &self.tls {
            session.secure(TlsLayer::server(config.clone())?);
            cx.timers
                .add(cx.now + self.handshake_timeout, Timer::TlsHandshake);
        }
        if let Some(at) = session.idle_deadline() {
            cx.timers.add(at, Timer::Idle);
        }
        self.session = Some(session);
        self.pump(cx);
        Ok(())
    }

    fn pump(&mut self, cx: &mut Ctx<Timer>) {
        if let Some(session) = &mut self.session {
            session.pump(cx, self.stdin.as_mut(), &mut self.buf, self.out);
            while let Some((wake, at)) = session.next_timer(cx.now) {
                cx.timers.add(at, Timer::Session(wake));
            }
        }
    }
}

impl Handler for Single<'_> {
    type Timer = Timer;

    fn ready(&mut self, cx: &mut Ctx<Timer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            LISTENER => self.accept(cx)?,
            STDIN => {
                if let Some(stdin) = &mut self.stdin {
                    stdin.ready();
                }
                self.pump(cx);
            }
            SOCKET => {
                if let Some(session) = &mut self.session {
                    session.conn.ready(event);
                }
                self.pump(cx);
            }
            SIGNAL if self.signals.take() => match &mut self.session {
                Some(s) => s.finish(Closer::Interrupted, self.out, None)?,
                None => self.interrupted = true,
            },
            _ => {}
        }
        Ok(())
    }

    fn timeout(&mut self, cx: &mut Ctx<Timer>, timer: Timer) -> Result<()> {
        if let Some(session) = &mut self.session {
            match timer {
                Timer::Idle => {
                    if let Some(at) = session.check_idle(cx.now) {
                        cx.timers.add(at, Timer::Idle);
                    }
                }
                Timer::Session(wake) => {
                    session.on_timer(wake, cx.now, self.out);
                    while let Some((wake, at)) = session.next_timer(cx.now) {
                        cx.timers.add(at, Timer::Session(wake));
                    }
                }
                Timer::TlsHandshake if session.tls_handshaking() => {
                    session.fail(Error::timeout(
                        format!("connection from {}", session.conn.peer),
                        format!(
                            "TLS handshake timed out after {}",
                            humantime::format_duration(self.handshake_timeout)
                        ),
                    ));
                }
                Timer::TlsHandshake => {}
            }
        }
        Ok(())
    }

    fn finished(&mut self, _cx: &mut Ctx<Timer>) -> Result<Option<Exit>> {
        if self.interrupted {
            return Ok(Some(Exit::Interrupted));
        }
        match self.session.as_mut().and_then(Session::take_end) {
            Some(End::Done(exit)) => Ok(Some(exit)),
            Some(End::Failed(e)) => Err(e),
            None => Ok(None),
        }
    }
}
