//! `netkit unix connect | listen PATH`: the TCP pipe ([`Session`]) over a
//! Unix domain socket, like `nc -U` and `nc -lU` (one client). `@name` is a
//! Linux abstract name.

use std::net::SocketAddr;

use mio::event::Event as MioEvent;
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Token};

use crate::cli::{UnixCommand, UnixConnectArgs, UnixListenArgs};
use crate::error::{Error, Exit, Result};
use crate::event::Closer;
use crate::net::unix;
use crate::output::Output;
use crate::reactor::conn::Conn;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::{Ctx, Handler, Reactor};
use crate::tcp::session::{End, PipeOpts, Session, Wake, BUF_SIZE};

const STDIN: Token = Token(0);
const SIGNAL: Token = Token(1);
const SOCKET: Token = Token(2);
const LISTENER: Token = Token(3);

pub fn run(cmd: UnixCommand, out: &mut Output) -> Result<Exit> {
    match cmd {
        UnixCommand::Connect(args) => connect(args, out),
        UnixCommand::Listen(args) => listen(args, out),
    }
}

/// A Unix socket has no IP address; events that need one get this.
fn no_addr() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

fn connect(args: UnixConnectArgs, out: &mut Output) -> Result<Exit> {
    let mut stream = unix::connect(&args.path)?;
    let reactor = Reactor::new()?;
    reactor
        .registry()
        .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)
        .map_err(|e| Error::io(format!("connect {}", args.path), &e))?;
    if out.verbose() {
        out.notice(&format!("connected to {}", args.path));
    }
    let opts = PipeOpts {
        send_only: args.send_only,
        recv_only: args.recv_only,
        no_shutdown: args.no_shutdown,
        hex: args.hex,
        idle_timeout: args.idle_timeout,
        quit_after: args.quit_after,
        crlf: args.crlf,
    };
    let pipe = Pipe::new(reactor, !args.recv_only, out, opts, args.path)?;
    let mut session = Session::new(Conn::new(stream, no_addr(), no_addr(), pipe.now()), 0, opts);
    session.set_label(pipe.path.clone());
    pipe.start(session)
}

fn listen(args: UnixListenArgs, out: &mut Output) -> Result<Exit> {
    let (mut listener, created) = unix::listen(&args.path)?;
    let result = (|| {
        let reactor = Reactor::new()?;
        reactor
            .registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|e| Error::io(format!("listen on {}", args.path), &e))?;
        let opts = PipeOpts {
            no_shutdown: args.no_shutdown,
            hex: args.hex,
            idle_timeout: args.idle_timeout,
            quit_after: args.quit_after,
            crlf: args.crlf,
            ..PipeOpts::default()
        };
        let mut pipe = Pipe::new(reactor, true, out, opts, args.path.clone())?;
        // Announced once Ctrl-C is handled, so a script may connect at once.
        pipe.out.notice(&format!("listening on {}", args.path));
        pipe.listener = Some(listener);
        pipe.run()
    })();
    if created {
        unix::remove(&args.path);
    }
    result
}

#[derive(Debug, Clone, Copy)]
enum Timer {
    Idle,
    Session(Wake),
}

/// One Unix socket session piped to stdin/stdout (after one accept when
/// listening).
struct Pipe<'o> {
    reactor: Option<Reactor<Timer>>,
    listener: Option<UnixListener>,
    session: Option<Session<UnixStream>>,
    opts: PipeOpts,
    path: String,
    stdin: Option<Stdin>,
    signals: Signals,
    buf: Vec<u8>,
    out: &'o mut Output,
    interrupted: bool,
}

impl<'o> Pipe<'o> {
    fn new(
        reactor: Reactor<Timer>,
        want_stdin: bool,
        out: &'o mut Output,
        opts: PipeOpts,
        path: String,
    ) -> Result<Pipe<'o>> {
        let signals =
            Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
        let stdin = if want_stdin {
            Some(Stdin::open(reactor.registry(), STDIN).map_err(|e| Error::io("stdin", &e))?)
        } else {
            None
        };
        Ok(Pipe {
            reactor: Some(reactor),
            listener: None,
            session: None,
            opts,
            path,
            stdin,
            signals,
            buf: vec![0; BUF_SIZE],
            out,
            interrupted: false,
        })
    }

    fn now(&self) -> std::time::Instant {
        std::time::Instant::now()
    }

    fn start(mut self, session: Session<UnixStream>) -> Result<Exit> {
        let mut reactor = self
            .reactor
            .take()
            .ok_or_else(|| Error::failed("unix", "no loop"))?;
        let mut cx = reactor.ctx();
        self.begin(&mut cx, session);
        reactor.run(&mut self)
    }

    fn run(mut self) -> Result<Exit> {
        let mut reactor = self
            .reactor
            .take()
            .ok_or_else(|| Error::failed("unix", "no loop"))?;
        reactor.run(&mut self)
    }

    fn begin(&mut self, cx: &mut Ctx<Timer>, session: Session<UnixStream>) {
        if let Some(at) = session.idle_deadline() {
            cx.timers.add(at, Timer::Idle);
        }
        self.session = Some(session);
        self.pump(cx);
    }

    fn accept(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        let Some(listener) = &mut self.listener else {
            return Ok(());
        };
        let mut stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(Error::io("accept", &e)),
        };
        // Like nc -lU: one client.
        if let Some(mut l) = self.listener.take() {
            let _ = cx.registry.deregister(&mut l);
        }
        cx.registry
            .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| Error::io("accept", &e))?;
        if self.out.verbose() {
            self.out
                .notice(&format!("a client connected on {}", self.path));
        }
        let mut session = Session::new(
            Conn::new(stream, no_addr(), no_addr(), cx.now),
            1,
            self.opts,
        );
        session.set_label(format!("the client on {}", self.path));
        self.begin(cx, session);
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

impl Handler for Pipe<'_> {
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
