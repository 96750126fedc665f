//! One TCP connection piped to stdin and stdout: the heart of
//! `tcp connect` and of single-client `tcp listen`.
//!
//! Socket → stdout is written as it arrives (a blocking stdout is natural
//! back-pressure). Stdin → socket is read only when nothing is queued for the
//! socket, so at most one read buffer is ever held. Stdin EOF half-closes the
//! connection (unless `--no-shutdown`) and the session keeps reading until the
//! peer closes. When the peer closes first, everything received has already
//! been written; stdin from a pipe or a file is still delivered while it
//! flows (the peer may have half-closed), and the session ends with success
//! at stdin's end or after it pauses for [`DRAIN_GRACE`] — at once when stdin
//! is a terminal.

use std::io;
use std::time::{Duration, Instant};

use crate::error::{describe_io, exit_for_io, Error, Exit, Result};
use crate::event::{Closer, ConnId, Event};
use crate::output::{Direction, Output};
use crate::reactor::conn::{Conn, Read};
use crate::reactor::stdin::{Kind, Stdin};
use crate::reactor::Ctx;

/// After the peer's FIN, stdin still flowing is delivered; once it pauses
/// this long the session ends (no CLOSE_WAIT hang on an idle stdin).
pub const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// The read buffer: large enough that one syscall moves a pipe's worth.
pub const BUF_SIZE: usize = 256 * 1024;

/// How the session treats each direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipeOpts {
    pub send_only: bool,
    pub recv_only: bool,
    pub no_shutdown: bool,
    pub hex: bool,
    pub idle_timeout: Option<Duration>,
}

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// Finished; the status to exit with.
    Done(Exit),
    /// Failed with this error.
    Failed(Error),
}

pub struct Session {
    pub conn: Conn,
    pub id: ConnId,
    opts: PipeOpts,
    /// Stdin bytes handed to the connection (the `>` offset for --hex).
    stdin_bytes: u64,
    stdin_done: bool,
    /// The peer sent FIN.
    peer_closed: bool,
    /// When stdin last gave data (for [`DRAIN_GRACE`]).
    stdin_active: Instant,
    end: Option<End>,
}

impl Session {
    pub fn new(conn: Conn, id: ConnId, opts: PipeOpts) -> Session {
        let conn_started = conn.started;
        Session {
            conn,
            id,
            opts,
            stdin_bytes: 0,
            stdin_done: opts.recv_only,
            peer_closed: false,
            stdin_active: conn_started,
            end: None,
        }
    }

    /// The idle deadline implied by the last activity.
    pub fn idle_deadline(&self) -> Option<Instant> {
        self.opts.idle_timeout.map(|d| self.conn.last_active + d)
    }

    /// Moves bytes both ways until neither side can make progress; a
    /// failure ends the session (see [`Session::take_end`]).
    pub fn pump<K>(
        &mut self,
        cx: &Ctx<K>,
        stdin: Option<&mut Stdin>,
        buf: &mut [u8],
        out: &mut Output,
    ) {
        if self.end.is_none() {
            if let Err(e) = self.pump_inner(cx.now, stdin, buf, out) {
                self.end = Some(End::Failed(e));
            }
        }
    }

    fn pump_inner(
        &mut self,
        now: Instant,
        mut stdin: Option<&mut Stdin>,
        buf: &mut [u8],
        out: &mut Output,
    ) -> Result<()> {
        loop {
            let mut progress = false;

            // socket -> stdout
            match self.conn.read(buf, now) {
                Ok(Read::Data(n)) => {
                    progress = true;
                    let data = &buf[..n];
                    if self.opts.hex {
                        out.hex(Direction::Received, self.conn.received - n as u64, data);
                    }
                    if !self.opts.send_only {
                        out.emit(&Event::Data {
                            id: self.id,
                            peer: self.conn.peer,
                            bytes: data,
                        })?;
                    }
                }
                Ok(Read::Eof) => {
                    // Everything the peer sent is already out. Its FIN may be
                    // a half-close, so stdin from a pipe or a file is still
                    // delivered while it flows (see DRAIN_GRACE); on a
                    // terminal nobody is going to type the rest, and waiting
                    // would be ncat's CLOSE_WAIT hang.
                    self.peer_closed = true;
                    self.stdin_active = now;
                    let _ = self.conn.flush(now);
                    let tty = stdin.as_deref().is_none_or(|s| s.kind() == Kind::Tty);
                    if self.stdin_done || self.conn.write_closed() || tty {
                        self.finish(Closer::Peer, out, None)?;
                        return Ok(());
                    }
                }
                Ok(Read::WouldBlock) => {}
                Err(e) => return Err(self.socket_error("receive from", &e)),
            }

            // stdin -> socket
            if !self.stdin_done && self.conn.queued() == 0 && !self.conn.write_closed() {
                if let Some(stdin) = stdin.as_deref_mut() {
                    match stdin.read(buf) {
                        Ok(Read::Data(n)) => {
                            progress = true;
                            self.stdin_active = now;
                            let data = &buf[..n];
                            if self.opts.hex {
                                out.hex(Direction::Sent, self.stdin_bytes, data);
                            }
                            self.stdin_bytes += n as u64;
                            if let Err(e) = self.conn.send(data, usize::MAX, now) {
                                return self.send_failed(&e, out);
                            }
                        }
                        Ok(Read::Eof) => {
                            progress = true;
                            self.stdin_done = true;
                            // Half-close, then read (and, with --send-only,
                            // discard) until the peer closes: leaving earlier
                            // would reset a peer that still talks and lose
                            // what it had not read yet.
                            if !self.opts.no_shutdown {
                                if let Err(e) = self.conn.shutdown_write(now) {
                                    return Err(self.socket_error("send to", &e));
                                }
                            }
                        }
                        Ok(Read::WouldBlock) => {}
                        Err(e) => return Err(Error::io("read stdin", &e)),
                    }
                }
            }

            let queued = self.conn.queued();
            if let Err(e) = self.conn.flush(now) {
                return self.send_failed(&e, out);
            }
            // Room in the queue means stdin may be read again.
            progress |= self.conn.queued() < queued;
            if self.peer_closed && self.stdin_done && self.conn.queued() == 0 {
                self.finish(Closer::Peer, out, None)?;
                return Ok(());
            }
            if !progress {
                return Ok(());
            }
        }
    }

    /// A write failed: stdin was not all delivered, so it is an error even
    /// after the peer's FIN (a reset or a broken pipe then says the peer
    /// closed completely and dropped what we sent: exit 4, never 0).
    fn send_failed(&mut self, e: &io::Error, _out: &mut Output) -> Result<()> {
        Err(self.socket_error("send to", e))
    }

    fn socket_error(&self, verb: &str, e: &io::Error) -> Error {
        Error::new(
            exit_for_io(e),
            format!("{verb} {}", self.conn.peer),
            describe_io(e),
        )
    }

    /// Ends the session: reports it and records the exit status.
    pub fn finish(&mut self, by: Closer, out: &mut Output, reason: Option<&str>) -> Result<()> {
        if self.end.is_some() {
            return Ok(());
        }
        self.end = Some(End::Done(match by {
            Closer::Interrupted => Exit::Interrupted,
            _ => Exit::Ok,
        }));
        out.emit(&Event::Closed {
            id: self.id,
            remote: self.conn.peer,
            by,
            sent: self.conn.sent,
            received: self.conn.received,
            duration: self.conn.started.elapsed(),
            reason,
            clients: 0,
        })
    }

    /// After the peer's FIN, while stdin is still being delivered: when the
    /// session ends unless stdin gives more.
    pub fn drain_deadline(&self) -> Option<Instant> {
        (self.peer_closed && !self.stdin_done && self.end.is_none())
            .then(|| self.stdin_active + DRAIN_GRACE)
    }

    /// The drain timer fired: ends the session if stdin stayed idle;
    /// `Some(next deadline)` if it gave data meanwhile.
    pub fn check_drain(&mut self, now: Instant, out: &mut Output) -> Option<Instant> {
        let deadline = self.drain_deadline()?;
        if now < deadline {
            return Some(deadline);
        }
        if let Err(e) = self.finish(Closer::Peer, out, None) {
            self.end = Some(End::Failed(e));
        }
        None
    }

    /// Checks the idle timeout; `Some(next deadline)` if still alive.
    pub fn check_idle(&mut self, now: Instant) -> Option<Instant> {
        let idle = self.opts.idle_timeout?;
        let deadline = self.conn.last_active + idle;
        if now >= deadline {
            self.end = Some(End::Failed(Error::timeout(
                format!("connection to {}", self.conn.peer),
                format!(
                    "idle timeout: no data either way for {}",
                    humantime::format_duration(idle)
                ),
            )));
            None
        } else {
            Some(deadline)
        }
    }

    pub fn ended(&self) -> bool {
        self.end.is_some()
    }

    pub fn take_end(&mut self) -> Option<End> {
        self.end.take()
    }
}
