//! `-e`/`--sh-exec` (ncat's): each connection is bridged to a new process,
//! the socket's bytes to its stdin and its stdout to the socket; its stderr
//! is ours. Used by `tcp listen`, `unix listen` (one client, or one process
//! per client with `-k`, at most `--max-clients`) and `tcp connect`.
//!
//! Everything is on the loop: the child's pipes are non-blocking and
//! registered with mio, as is a pidfd that becomes readable when the child
//! exits (or, where there is none, a 20 ms timer polls `waitpid`). Each
//! direction holds at most [`CAP`] bytes: a side that does not read is not
//! read for. Half-closes pass through: the client's EOF closes the child's
//! stdin, the child's stdout EOF shuts the socket's write side. A
//! connection ends once the child has exited, its stdout is at EOF and
//! what it wrote is sent; then its exit status is reported
//! ([`Event::ExecExit`]). A socket that fails (a reset) or stays silent
//! past `--idle-timeout` sends its process SIGTERM. SIGINT terminates every child (SIGTERM, then
//! SIGKILL after [`KILL_GRACE`]) and reaps it.

use std::io::{self, Read as _, Write as _};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::unix::pipe::{Receiver, Sender};
use mio::unix::SourceFd;
use mio::{Interest, Token};
use slab::Slab;

use crate::error::{describe_io, exit_for_io, Error, Exit, Result};
use crate::event::{Closer, ConnId, Event};
use crate::net::{self, Listener, Peer};
use crate::output::Output;
use crate::reactor::conn::{Conn, OutBuf, Read};
use crate::reactor::signal::Signals;
use crate::reactor::{Ctx, Handler, Reactor};

const SIGNAL: Token = Token(1);
const LISTENER: Token = Token(3);
/// Connection `k` has the tokens `CLIENT_BASE + PARTS * k + part`.
const CLIENT_BASE: usize = 16;
const PARTS: usize = 4;
const SOCKET: usize = 0;
const STDIN: usize = 1;
const STDOUT: usize = 2;
const PIDFD: usize = 3;

/// Most bytes held in each direction of one connection.
pub const CAP: usize = 256 * 1024;
const READ_BUF: usize = 64 * 1024;
/// How often a child is polled where there is no pidfd.
const REAP_POLL: Duration = Duration::from_millis(20);
/// How long SIGINT waits after SIGTERM before SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_millis(500);

/// What to run for each connection.
#[derive(Debug, Clone)]
pub enum Program {
    /// `-e 'PROG ARGS'`: split at whitespace, no shell.
    Argv(Vec<String>, String),
    /// `--sh-exec CMD`: `/bin/sh -c CMD`.
    Shell(String),
}

impl Program {
    /// The command as given.
    pub fn text(&self) -> &str {
        match self {
            Program::Argv(_, text) | Program::Shell(text) => text,
        }
    }

    fn command(&self) -> Command {
        let mut cmd = match self {
            Program::Argv(argv, _) => {
                let mut cmd = Command::new(&argv[0]);
                cmd.args(&argv[1..]);
                cmd
            }
            Program::Shell(text) => {
                let mut cmd = Command::new("/bin/sh");
                cmd.arg("-c").arg(text);
                cmd
            }
        };
        // In netkit's process group (as ncat's children are): a terminal's
        // Ctrl-C reaches them too, and whoever kills the group kills them.
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        cmd
    }

    /// Starts the program.
    fn spawn(&self) -> Result<(Child, Sender, Receiver)> {
        let what = || format!("exec {}", self.text());
        let mut child = self
            .command()
            .spawn()
            .map_err(|e| Error::new(Exit::Failed, what(), describe_io(&e)))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            kill_and_reap(&mut child);
            return Err(Error::failed(what(), "no pipes to the process"));
        };
        let tx = Sender::from(stdin);
        let rx = Receiver::from(stdout);
        if let Err(e) = tx.set_nonblocking(true).and(rx.set_nonblocking(true)) {
            kill_and_reap(&mut child);
            return Err(Error::io(what(), &e));
        }
        Ok((child, tx, rx))
    }
}

fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A descriptor readable once `pid` exits (Linux 5.3+), else `None`.
fn pidfd(pid: u32) -> Option<OwnedFd> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd >= 0 {
            // SAFETY: the descriptor was just opened and is owned by nobody else.
            return Some(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
    }
    let _ = pid;
    None
}

/// Rounds of [`Bridge::pump`] per event.
const ROUNDS: usize = 16;

/// What a [`Bridge::pump`] left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pumped {
    Over,
    /// Bytes were still moving: resume on the next loop turn.
    More,
    /// Until the next event.
    Waiting,
}

/// One connection and its process.
struct Bridge {
    id: ConnId,
    peer: Peer,
    conn: Conn<net::Stream>,
    child: Child,
    pid: u32,
    stdin: Option<Sender>,
    stdin_ready: bool,
    stdout: Option<Receiver>,
    stdout_ready: bool,
    pidfd: Option<OwnedFd>,
    /// From the socket, not yet taken by the child.
    to_child: OutBuf,
    status: Option<ExitStatus>,
    /// Why the socket failed (it is not used any more).
    failed: Option<(String, Exit)>,
    /// The end was decided here (SIGINT, --idle-timeout).
    ended_by: Option<Closer>,
    reap_armed: bool,
    started: Instant,
}

impl Bridge {
    fn token(key: usize, part: usize) -> Token {
        Token(CLIENT_BASE + PARTS * key + part)
    }

    fn register(&mut self, registry: &mio::Registry, key: usize) -> io::Result<()> {
        registry.register(
            &mut self.conn.stream,
            Self::token(key, SOCKET),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        if let Some(tx) = &mut self.stdin {
            registry.register(tx, Self::token(key, STDIN), Interest::WRITABLE)?;
        }
        if let Some(rx) = &mut self.stdout {
            registry.register(rx, Self::token(key, STDOUT), Interest::READABLE)?;
        }
        if let Some(fd) = &self.pidfd {
            use std::os::fd::AsRawFd;
            registry.register(
                &mut SourceFd(&fd.as_raw_fd()),
                Self::token(key, PIDFD),
                Interest::READABLE,
            )?;
        }
        Ok(())
    }

    fn close_stdin(&mut self, registry: &mio::Registry) {
        if let Some(mut tx) = self.stdin.take() {
            let _ = registry.deregister(&mut tx);
        }
        self.to_child = OutBuf::default();
    }

    fn close_stdout(&mut self, registry: &mio::Registry) {
        if let Some(mut rx) = self.stdout.take() {
            let _ = registry.deregister(&mut rx);
        }
    }

    /// The socket failed (a reset): nobody is left to talk to the process,
    /// which is asked to end (SIGTERM).
    fn fail(&mut self, e: &io::Error) {
        if self.failed.is_none() {
            self.failed = Some((describe_io(e), exit_for_io(e)));
            self.signal(libc::SIGTERM);
        }
    }

    /// Moves bytes both ways until nothing moves, or for [`ROUNDS`] rounds
    /// (so that a process and a peer both faster than the loop cannot keep
    /// it from the others): over, or whether more may move at once.
    fn pump(&mut self, registry: &mio::Registry, buf: &mut [u8], now: Instant) -> Pumped {
        let mut more = false;
        for round in 0.. {
            if round == ROUNDS {
                more = true;
                break;
            }
            let mut moved = false;
            // Socket to child.
            while self.to_child.len() < CAP && self.failed.is_none() {
                match self.conn.read(buf, now) {
                    Ok(Read::Data(n)) => {
                        moved = true;
                        // Once the child closed its stdin, what comes is dropped.
                        if self.stdin.is_some() {
                            self.to_child.push(&buf[..n]);
                        }
                    }
                    Ok(Read::Eof) => {
                        moved = true;
                        break;
                    }
                    Ok(Read::WouldBlock) => break,
                    Err(e) => self.fail(&e),
                }
            }
            if let Some(tx) = &mut self.stdin {
                while !self.to_child.is_empty() && self.stdin_ready {
                    match tx.write(self.to_child.front()) {
                        Ok(n) => {
                            moved = true;
                            self.to_child.consume(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stdin_ready = false,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // The child closed its stdin (or exited).
                        Err(_) => {
                            self.close_stdin(registry);
                            break;
                        }
                    }
                }
            }
            let input_over = self.conn.eof || self.failed.is_some();
            if self.stdin.is_some() && self.to_child.is_empty() && input_over {
                self.close_stdin(registry);
            }
            // Child to socket.
            if self.failed.is_some() {
                self.close_stdout(registry);
            }
            while let Some(rx) = &mut self.stdout {
                if !self.stdout_ready || self.conn.queued() >= CAP {
                    break;
                }
                match rx.read(buf) {
                    Ok(0) => {
                        moved = true;
                        self.close_stdout(registry);
                    }
                    Ok(n) => {
                        moved = true;
                        if let Err(e) = self.conn.send(&buf[..n], usize::MAX, now) {
                            self.fail(&e);
                            self.close_stdout(registry);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.stdout_ready = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => self.close_stdout(registry),
                }
            }
            if self.failed.is_none() {
                let before = self.conn.queued();
                let flushed = if self.stdout.is_none() {
                    self.conn.shutdown_write(now)
                } else {
                    self.conn.flush(now)
                };
                if let Err(e) = flushed {
                    self.fail(&e);
                }
                moved |= self.conn.queued() < before;
            }
            if !moved {
                break;
            }
        }
        self.reap();
        let sent = self.failed.is_some() || self.conn.write_shut();
        if self.status.is_some() && self.stdout.is_none() && sent {
            Pumped::Over
        } else if more {
            Pumped::More
        } else {
            Pumped::Waiting
        }
    }

    fn reap(&mut self) {
        if self.status.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.status = Some(status);
            }
        }
    }

    fn signal(&self, sig: i32) {
        if self.status.is_none() {
            // SAFETY: kill(2) with the pid of our own unreaped child.
            unsafe {
                libc::kill(self.pid as libc::pid_t, sig);
            }
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // No child outlives netkit, nor stays a zombie.
        if self.status.is_none() {
            kill_and_reap(&mut self.child);
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum ExecTimer {
    RetryAccept,
    Reap {
        key: usize,
        id: ConnId,
    },
    Idle {
        key: usize,
        id: ConnId,
    },
    /// A connection that had more to move when its turn ended.
    Resume {
        key: usize,
        id: ConnId,
    },
}

/// The exec loop: a listener (or one connected socket) and the bridges.
struct Exec<'o> {
    acceptor: Option<net::Acceptor>,
    /// `-k`: keep accepting; else one connection, then exit.
    keep: bool,
    max_clients: usize,
    idle_timeout: Option<Duration>,
    program: Program,
    bridges: Slab<Bridge>,
    next_id: ConnId,
    signals: Signals,
    out: &'o mut Output,
    buf: Vec<u8>,
    exit: Option<Result<Exit>>,
}

/// `tcp listen -e` / `unix listen -e`: serves until SIGINT (`-k`) or until
/// the one connection's process is done.
pub fn serve(
    reactor: &mut Reactor<ExecTimer>,
    listener: Listener,
    opts: crate::config::tcp::ExecOpts,
    signals: Signals,
    out: &mut Output,
) -> Result<Exit> {
    let mut exec = Exec {
        acceptor: Some(net::Acceptor::new(listener)),
        keep: opts.keep,
        max_clients: opts.max_clients,
        idle_timeout: opts.idle_timeout,
        program: opts.program,
        bridges: Slab::new(),
        next_id: 1,
        signals,
        out,
        buf: vec![0; READ_BUF],
        exit: None,
    };
    reactor.run(&mut exec)
}

/// `tcp connect -e`: bridges a connected socket to the process; `early`
/// (what came with a proxy's answer) goes to the process first.
pub fn connected(
    stream: net::Stream,
    peer: Peer,
    early: Vec<u8>,
    program: Program,
    idle_timeout: Option<Duration>,
    out: &mut Output,
) -> Result<Exit> {
    let mut reactor: Reactor<ExecTimer> = Reactor::new()?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let mut exec = Exec {
        acceptor: None,
        keep: false,
        max_clients: 1,
        idle_timeout,
        program,
        bridges: Slab::new(),
        next_id: 0,
        signals,
        out,
        buf: vec![0; READ_BUF],
        exit: None,
    };
    let mut cx = reactor.ctx();
    let unspecified = Peer::Unix("".into()).ip();
    let conn = Conn::new(stream, peer.ip(), unspecified, cx.now);
    exec.start(&mut cx, conn, peer, &early)?;
    reactor.run(&mut exec)
}

impl Exec<'_> {
    fn accept(&mut self, cx: &mut Ctx<ExecTimer>) -> Result<()> {
        loop {
            let Some(acceptor) = &mut self.acceptor else {
                return Ok(());
            };
            let net::Accept {
                stream,
                peer,
                local,
            } = match acceptor.next(cx, ExecTimer::RetryAccept) {
                net::Accepted::Client(a) => a,
                net::Accepted::None => return Ok(()),
                net::Accepted::Exhausted(e) => {
                    self.out.notice(&format!(
                        "cannot accept more clients: {} ({} connected)",
                        describe_io(&e),
                        self.bridges.len()
                    ));
                    return Ok(());
                }
            };
            if self.bridges.len() >= self.max_clients {
                let reason = format!("server full (--max-clients {})", self.max_clients);
                self.out.emit(&Event::Rejected {
                    remote: peer,
                    reason: &reason,
                })?;
                continue;
            }
            if !self.keep {
                // Like nc -l -e: one client, and the port is free again.
                if let Some(mut a) = self.acceptor.take() {
                    let _ = cx.registry.deregister(&mut a.listener);
                }
            }
            self.out.emit(&Event::Connected {
                id: self.next_id,
                local: local.clone(),
                remote: peer.clone(),
                accepted: true,
                time: None,
                clients: self.bridges.len() + 1,
            })?;
            let conn = Conn::new(stream, peer.ip(), local.ip(), cx.now);
            match self.start(cx, conn, peer, &[]) {
                Ok(()) => {}
                // Once one client is being served, a failed start ends only it.
                Err(e) if self.keep => self.out.warn(&e.to_string()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts the process for a connection.
    fn start(
        &mut self,
        cx: &mut Ctx<ExecTimer>,
        conn: Conn<net::Stream>,
        peer: Peer,
        early: &[u8],
    ) -> Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let (child, tx, rx) = self.program.spawn()?;
        let pid = child.id();
        if self.out.verbose() {
            self.out.notice(&format!(
                "client {id}: started `{}` (pid {pid})",
                self.program.text()
            ));
        }
        let mut to_child = OutBuf::default();
        to_child.push(early);
        let entry = self.bridges.vacant_entry();
        let key = entry.key();
        let mut bridge = Bridge {
            id,
            peer,
            conn,
            child,
            pid,
            stdin: Some(tx),
            stdin_ready: true,
            stdout: Some(rx),
            stdout_ready: true,
            pidfd: pidfd(pid),
            to_child,
            status: None,
            failed: None,
            ended_by: None,
            reap_armed: false,
            started: cx.now,
        };
        bridge
            .register(cx.registry, key)
            .map_err(|e| Error::io("exec", &e))?;
        entry.insert(bridge);
        if let Some(d) = self.idle_timeout {
            cx.timers.add(cx.now + d, ExecTimer::Idle { key, id });
        }
        self.pump(cx, key)
    }

    fn pump(&mut self, cx: &mut Ctx<ExecTimer>, key: usize) -> Result<()> {
        let Some(b) = self.bridges.get_mut(key) else {
            return Ok(());
        };
        match b.pump(cx.registry, &mut self.buf, cx.now) {
            Pumped::Over => return self.end(cx, key),
            Pumped::More => {
                let id = b.id;
                // Due just after now: the next turn, after the others' events.
                cx.timers.add(
                    cx.now + Duration::from_nanos(1),
                    ExecTimer::Resume { key, id },
                );
            }
            Pumped::Waiting => {}
        }
        if b.status.is_none() && b.pidfd.is_none() && !b.reap_armed {
            b.reap_armed = true;
            let id = b.id;
            cx.timers
                .add(cx.now + REAP_POLL, ExecTimer::Reap { key, id });
        }
        Ok(())
    }

    /// Reports a finished connection and forgets it.
    fn end(&mut self, cx: &mut Ctx<ExecTimer>, key: usize) -> Result<()> {
        let Some(mut b) = self.bridges.try_remove(key) else {
            return Ok(());
        };
        let _ = cx.registry.deregister(&mut b.conn.stream);
        if let Some(fd) = &b.pidfd {
            use std::os::fd::AsRawFd;
            let _ = cx.registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
        }
        b.close_stdin(cx.registry);
        b.close_stdout(cx.registry);
        let status = b.status;
        let (code, signal) = match status {
            Some(s) => (s.code(), s.signal()),
            None => (None, None),
        };
        self.out.emit(&Event::ExecExit {
            id: b.id,
            pid: b.pid,
            command: self.program.text(),
            code,
            signal,
        })?;
        let by = match (&b.failed, b.ended_by) {
            (_, Some(by)) => by,
            (Some(_), None) => Closer::Error,
            (None, None) if b.conn.eof => Closer::Peer,
            (None, None) => Closer::Local,
        };
        self.out.emit(&Event::Closed {
            id: b.id,
            remote: b.peer.clone(),
            by,
            sent: b.conn.sent,
            received: b.conn.received,
            duration: cx.now - b.started,
            reason: b.failed.as_ref().map(|(why, _)| why.as_str()),
            clients: self.bridges.len(),
        })?;
        if !self.keep {
            let exit = match (code, &b.failed) {
                (Some(0), Some((_, exit))) if by == Closer::Error => *exit,
                (Some(0), _) => Exit::Ok,
                _ if by == Closer::Idle => Exit::Timeout,
                _ => Exit::Failed,
            };
            self.exit = Some(Ok(exit));
        }
        Ok(())
    }

    /// SIGINT: every child is asked to end (SIGTERM), then made to
    /// (SIGKILL after [`KILL_GRACE`]), reaped and reported.
    fn interrupt(&mut self, cx: &mut Ctx<ExecTimer>) -> Result<()> {
        if let Some(mut a) = self.acceptor.take() {
            let _ = cx.registry.deregister(&mut a.listener);
        }
        for (_, b) in self.bridges.iter_mut() {
            b.signal(libc::SIGTERM);
            b.ended_by = Some(Closer::Interrupted);
        }
        let deadline = Instant::now() + KILL_GRACE;
        loop {
            let mut alive = 0;
            for (_, b) in self.bridges.iter_mut() {
                b.reap();
                alive += usize::from(b.status.is_none());
            }
            if alive == 0 || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let keys: Vec<usize> = self.bridges.iter().map(|(k, _)| k).collect();
        for key in keys {
            if let Some(b) = self.bridges.get_mut(key) {
                if b.status.is_none() {
                    let _ = b.child.kill();
                    b.status = b.child.wait().ok();
                }
            }
            self.end(cx, key)?;
        }
        self.exit = Some(Ok(Exit::Interrupted));
        Ok(())
    }
}

impl Handler for Exec<'_> {
    type Timer = ExecTimer;

    fn ready(&mut self, cx: &mut Ctx<ExecTimer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            LISTENER => self.accept(cx),
            SIGNAL if self.signals.take() => self.interrupt(cx),
            Token(t) if t >= CLIENT_BASE => {
                let key = (t - CLIENT_BASE) / PARTS;
                let Some(b) = self.bridges.get_mut(key) else {
                    return Ok(());
                };
                match (t - CLIENT_BASE) % PARTS {
                    SOCKET => b.conn.ready(event),
                    STDIN => b.stdin_ready = true,
                    STDOUT => b.stdout_ready = true,
                    _ => {}
                }
                self.pump(cx, key)
            }
            _ => Ok(()),
        }
    }

    fn timeout(&mut self, cx: &mut Ctx<ExecTimer>, timer: ExecTimer) -> Result<()> {
        match timer {
            ExecTimer::RetryAccept => {
                if let Some(a) = &mut self.acceptor {
                    a.resume();
                }
                self.accept(cx)
            }
            ExecTimer::Resume { key, id } => {
                if self.bridges.get(key).is_some_and(|b| b.id == id) {
                    self.pump(cx, key)?;
                }
                Ok(())
            }
            ExecTimer::Reap { key, id } => {
                let Some(b) = self.bridges.get_mut(key).filter(|b| b.id == id) else {
                    return Ok(());
                };
                b.reap_armed = false;
                self.pump(cx, key)
            }
            ExecTimer::Idle { key, id } => {
                let (Some(b), Some(d)) = (
                    self.bridges.get_mut(key).filter(|b| b.id == id),
                    self.idle_timeout,
                ) else {
                    return Ok(());
                };
                let deadline = b.conn.last_active + d;
                if cx.now < deadline {
                    cx.timers.add(deadline, ExecTimer::Idle { key, id });
                    return Ok(());
                }
                // Nothing moved: the connection goes, and so does the process.
                b.ended_by = Some(Closer::Idle);
                let why = format!("no data either way for {}", humantime::format_duration(d));
                b.failed = Some((why, Exit::Timeout));
                b.signal(libc::SIGTERM);
                self.pump(cx, key)
            }
        }
    }

    fn finished(&mut self, _cx: &mut Ctx<ExecTimer>) -> Result<Option<Exit>> {
        self.out.flush()?;
        self.exit.take().transpose()
    }
}
