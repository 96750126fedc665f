//! `netkit tcp listen PORT` and `netkit unix listen PATH`: bind, report the
//! address, then serve on the one listener: one client like `nc -l` (a
//! [`PipeSession`] piped to stdin/stdout, exit when it closes), many with the
//! multi-client [`super::server`], or each with its own process
//! ([`crate::exec`], `-e`/`--sh-exec`). With `--tls-cert` (TCP) the
//! clients speak TLS, one or many, and must finish the handshake within
//! `--handshake-timeout` (one client: exit 5; many: that client is closed).

use mio::event::Event as MioEvent;
use mio::{Interest, Token};

use super::server;
use super::session::{End, PipeOpts, PipeSession, Wake, BUF_SIZE};
use super::{LISTENER, SIGNAL, SOCKET, STDIN};
use crate::config::tcp::{ListenTls, Serve, TcpBind, TcpListenConfig};
use crate::error::{Error, Exit, Result};
use crate::event::{Closer, Event};
use crate::net::tls::TlsLayer;
use crate::net::{self, Listener};
use crate::output::Output;
use crate::reactor::conn::Conn;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::{Ctx, Handler, Reactor};

pub fn run(config: TcpListenConfig, out: &mut Output) -> Result<Exit> {
    let TcpBind { ip, port, family } = config.bind;
    let listener = net::listen(ip, port, family)?;
    serve(Listener::Tcp(listener), config.serve, config.tls, out)
}

/// Serves on a bound listener (TCP or Unix) as `serve` says, over TLS with
/// `tls`.
pub fn serve(
    mut listener: Listener,
    serve: Serve,
    tls: Option<ListenTls>,
    out: &mut Output,
) -> Result<Exit> {
    if matches!(serve, Serve::Many(_)) {
        net::raise_fd_limit();
    }
    let addr = listener.local().map_err(|e| Error::io("listen", &e))?;
    match serve {
        Serve::Exec(exec) => {
            let (mut reactor, signals, _) = setup(&mut listener, false)?;
            out.emit(&Event::Listening { addr })?;
            crate::exec::serve(&mut reactor, listener, exec, signals, out)
        }
        Serve::Many(many) => {
            let (mut reactor, signals, stdin) = setup(&mut listener, many.mode.reads_console())?;
            // Announced once Ctrl-C is handled, so a script may send it at once.
            out.emit(&Event::Listening { addr })?;
            server::run(&mut reactor, listener, tls, many, stdin, signals, out)
        }
        Serve::One(opts) => {
            let (mut reactor, signals, stdin) = setup(&mut listener, true)?;
            out.emit(&Event::Listening { addr })?;
            let mut driver = Single {
                listener: Some(listener),
                tls,
                session: None,
                opts,
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

/// Pipes an already connected socket to stdin/stdout (`unix connect`), on
/// the same loop as one accepted client.
pub fn pipe(
    stream: net::Stream,
    session: impl FnOnce(Conn<net::Stream>) -> PipeSession<net::Stream>,
    want_stdin: bool,
    out: &mut Output,
) -> Result<Exit> {
    let mut stream = stream;
    let reactor = Reactor::new()?;
    reactor
        .registry()
        .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| Error::io("connect", &e))?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let stdin = if want_stdin {
        Some(Stdin::open(reactor.registry(), STDIN).map_err(|e| Error::io("stdin", &e))?)
    } else {
        None
    };
    let mut reactor = reactor;
    let unspecified = net::Peer::Unix("".into()).ip();
    let session = session(Conn::new(
        stream,
        unspecified,
        unspecified,
        std::time::Instant::now(),
    ));
    let mut driver = Single {
        listener: None,
        tls: None,
        session: None,
        opts: PipeOpts::default(),
        stdin,
        signals,
        buf: vec![0; BUF_SIZE],
        out,
        interrupted: false,
    };
    let mut cx = reactor.ctx();
    driver.begin(&mut cx, session);
    reactor.run(&mut driver)
}

/// The loop with the listener, SIGINT and (optionally) stdin registered.
fn setup<K>(
    listener: &mut Listener,
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
enum PipeTimer {
    Idle,
    Session(Wake),
    /// `--handshake-timeout`: the client's TLS handshake is due.
    TlsHandshake,
}

/// One client, then exit.
struct Single<'o> {
    listener: Option<Listener>,
    /// `--tls-cert`: the client speaks TLS.
    tls: Option<ListenTls>,
    session: Option<PipeSession<net::Stream>>,
    opts: PipeOpts,
    stdin: Option<Stdin>,
    signals: Signals,
    buf: Vec<u8>,
    out: &'o mut Output,
    interrupted: bool,
}

impl Single<'_> {
    fn accept(&mut self, cx: &mut Ctx<PipeTimer>) -> Result<()> {
        let Some(listener) = &mut self.listener else {
            return Ok(());
        };
        let net::Accept {
            mut stream,
            peer,
            local,
        } = match listener.accept() {
            Ok(Some(a)) => a,
            Ok(None) => return Ok(()),
            Err(e) => return Err(Error::io("accept", &e)),
        };
        // Like nc -l: one client, and the port is free again.
        if let Some(mut l) = self.listener.take() {
            let _ = cx.registry.deregister(&mut l);
        }
        cx.registry
            .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| Error::io("accept", &e))?;
        self.out.emit(&Event::Connected {
            id: 1,
            local: local.clone(),
            remote: peer.clone(),
            accepted: true,
            time: None,
            clients: 1,
        })?;
        let conn = Conn::new(stream, peer.ip(), local.ip(), cx.now);
        let mut session = PipeSession::new(conn, 1, self.opts);
        session.set_peer(peer);
        if let Some(tls) = &self.tls {
            session.secure(TlsLayer::server(tls.config.clone())?);
            cx.timers
                .add(cx.now + tls.handshake_timeout, PipeTimer::TlsHandshake);
        }
        self.begin(cx, session);
        Ok(())
    }

    fn begin(&mut self, cx: &mut Ctx<PipeTimer>, session: PipeSession<net::Stream>) {
        if let Some(at) = session.idle_deadline() {
            cx.timers.add(at, PipeTimer::Idle);
        }
        self.session = Some(session);
        self.pump(cx);
    }

    fn pump(&mut self, cx: &mut Ctx<PipeTimer>) {
        if let Some(session) = &mut self.session {
            session.pump(cx, self.stdin.as_mut(), &mut self.buf, self.out);
            while let Some((wake, at)) = session.next_timer(cx.now) {
                cx.timers.add(at, PipeTimer::Session(wake));
            }
        }
    }
}

impl Handler for Single<'_> {
    type Timer = PipeTimer;

    fn ready(&mut self, cx: &mut Ctx<PipeTimer>, token: Token, event: &MioEvent) -> Result<()> {
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

    fn timeout(&mut self, cx: &mut Ctx<PipeTimer>, timer: PipeTimer) -> Result<()> {
        if let Some(session) = &mut self.session {
            match timer {
                PipeTimer::Idle => {
                    if let Some(at) = session.check_idle(cx.now) {
                        cx.timers.add(at, PipeTimer::Idle);
                    }
                }
                PipeTimer::Session(wake) => {
                    session.on_timer(wake, cx.now, self.out);
                    while let Some((wake, at)) = session.next_timer(cx.now) {
                        cx.timers.add(at, PipeTimer::Session(wake));
                    }
                }
                PipeTimer::TlsHandshake if session.tls_handshaking() => {
                    let due = self.tls.as_ref().map(|t| t.handshake_timeout);
                    session.fail(Error::timeout(
                        format!("connection from {}", session.conn.peer),
                        format!(
                            "TLS handshake timed out after {}",
                            humantime::format_duration(due.unwrap_or_default())
                        ),
                    ));
                }
                PipeTimer::TlsHandshake => {}
            }
        }
        Ok(())
    }

    fn finished(&mut self, _cx: &mut Ctx<PipeTimer>) -> Result<Option<Exit>> {
        if self.interrupted {
            return Ok(Some(Exit::Interrupted));
        }
        match self.session.as_mut().and_then(PipeSession::take_end) {
            Some(End::Done(exit)) => Ok(Some(exit)),
            Some(End::Failed(e)) => Err(e),
            None => Ok(None),
        }
    }
}
