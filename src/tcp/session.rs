//! One TCP connection piped to stdin and stdout: the heart of
//! `tcp connect` and of single-client `tcp listen`.
//!
//! Socket → stdout is written as it arrives (a blocking stdout is natural
//! back-pressure). Stdin → socket is read only when nothing is queued for the
//! socket, so at most one read buffer is ever held. Stdin EOF half-closes the
//! connection (unless `--no-shutdown`) and the session keeps reading until the
//! peer closes. The peer's FIN is a half-close too (OpenBSD nc treats it so):
//! everything received is already out, and stdin keeps flowing to the peer
//! until it ends; only on a terminal does the FIN end the session at once. No
//! timer guesses that the peer is gone; `--quit-after` ends the session a set
//! time after stdin's EOF for those who want a bound.
//!
//! Exit 0 means every stdin byte reached the peer: before a success the
//! session waits ("settles") until the peer's kernel has acknowledged every
//! byte sent (`TCP_INFO`), so a reset that crosses the last bytes is an error
//! (exit 4, naming how many stdin bytes were not delivered), never a silent
//! loss.

use std::io;
use std::time::{Duration, Instant};

use crate::error::{describe_io, exit_for_io, Error, Exit, Result};
use crate::event::{Closer, ConnId, Event};
use crate::net::tls::TlsLayer;
use crate::net::Peer;
use crate::output::{Direction, Output};
use crate::reactor::conn::{Conn, Read, Stream};
use crate::reactor::stdin::Stdin;
use crate::reactor::Ctx;
use mio::net::TcpStream;

/// While settling, how often the acknowledgements are looked at (an ACK
/// wakes nobody; a reset or the final close does).
pub const SETTLE_POLL: Duration = Duration::from_millis(10);

/// After `--quit-after` fires, the peer has this long (or DUR, if longer)
/// to acknowledge what it was sent; past it the bytes count as lost.
pub const QUIT_GRACE: Duration = Duration::from_secs(1);

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
    /// End the session this long after stdin's EOF (nc's `-q`).
    pub quit_after: Option<Duration>,
    /// Send each line feed from stdin as CR LF (nc's `-C`).
    pub crlf: bool,
    /// Stdin is a terminal (looked at once, in the config step): the peer's
    /// FIN ends the session, as nobody is going to type the rest.
    pub stdin_tty: bool,
}

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// Finished; the status to exit with.
    Done(Exit),
    /// Failed with this error.
    Failed(Error),
}

/// A timer the session asks its driver for (see [`PipeSession::next_timer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// `--quit-after` since stdin's EOF.
    Quit,
    /// Look at the acknowledgements again.
    Settle,
}

/// Where `--quit-after` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quit {
    /// Not asked for yet (no flag, or stdin still open).
    Waiting,
    /// The timer runs (or the deadline is past representing: never).
    Armed,
    /// It fired; the session settles, given one more DUR (at least
    /// [`QUIT_GRACE`]).
    Fired,
    /// The second timer runs: when it fires, unacknowledged bytes are lost.
    Rearmed,
}

pub struct PipeSession<S = TcpStream> {
    pub conn: Conn<S>,
    /// `--tls`: the connection carries ciphertext, this layer the plaintext.
    tls: Option<Box<TlsLayer>>,
    /// `-C`: stdin's last byte so far was CR.
    after_cr: bool,
    /// The peer's name where it has no IP address (a Unix socket's path).
    label: Option<String>,
    /// Who the events name: the address, or a Unix socket's path.
    peer: Peer,
    pub id: ConnId,
    opts: PipeOpts,
    /// Stdin bytes handed to the connection (the `>` offset for --hex).
    stdin_bytes: u64,
    stdin_done: bool,
    /// When stdin ended (for --quit-after).
    stdin_eof_at: Option<Instant>,
    /// The peer sent FIN.
    peer_closed: bool,
    /// `tcpi_bytes_acked` when the session began (the SYN), if known.
    acked_base: Option<u64>,
    /// Success is decided (closed by this side or that): waiting until the
    /// peer has acknowledged every byte sent.
    settling: Option<Closer>,
    settle_armed: bool,
    quit: Quit,
    end: Option<End>,
}

impl<S: Stream> PipeSession<S> {
    pub fn new(conn: Conn<S>, id: ConnId, opts: PipeOpts) -> PipeSession<S> {
        // Bytes sent before the session (a proxy handshake) were all
        // acknowledged: the proxy's answer carried the acknowledgement.
        let acked_base = conn.bytes_acked().map(|a| a.saturating_sub(conn.sent));
        let started = conn.started;
        let peer = Peer::Ip(conn.peer);
        PipeSession {
            peer,
            conn,
            tls: None,
            label: None,
            after_cr: false,
            id,
            opts,
            stdin_bytes: 0,
            stdin_done: opts.recv_only,
            stdin_eof_at: opts.recv_only.then_some(started),
            peer_closed: false,
            acked_base,
            settling: None,
            settle_armed: false,
            quit: Quit::Waiting,
            end: None,
        }
    }

    /// Names the peer (a Unix socket has no address): errors and the end
    /// of the session say this name, and the end is a notice (shown with -v)
    /// rather than a `closed` event.
    pub fn set_label(&mut self, label: String) {
        self.label = Some(label);
    }

    /// Who the events name (a Unix socket's path).
    pub fn set_peer(&mut self, peer: Peer) {
        self.peer = peer;
    }

    fn peer_name(&self) -> String {
        match &self.label {
            Some(l) => l.clone(),
            None => self.peer.to_string(),
        }
    }

    /// Pipes through TLS (`--tls`): the handshake starts at once.
    pub fn secure(&mut self, tls: TlsLayer) {
        self.tls = Some(Box::new(tls));
    }

    /// Whether the TLS handshake ([`Session::secure`]) is still under way.
    pub fn tls_handshaking(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.is_handshaking())
    }

    /// Ends the session with `e` (a driver's deadline), unless it ended.
    pub fn fail(&mut self, e: Error) {
        if self.end.is_none() {
            self.end = Some(End::Failed(e));
        }
    }

    fn link_read(&mut self, buf: &mut [u8], now: Instant) -> io::Result<Read> {
        match self.tls.as_mut() {
            Some(tls) => tls.read(&mut self.conn, buf, now),
            None => self.conn.read(buf, now),
        }
    }

    fn link_send(&mut self, data: &[u8], now: Instant) -> io::Result<()> {
        match self.tls.as_mut() {
            Some(tls) => tls.send(&mut self.conn, data, now),
            None => self.conn.send(data, usize::MAX, now).map(|_| ()),
        }
    }

    fn link_flush(&mut self, now: Instant) -> io::Result<()> {
        match self.tls.as_mut() {
            Some(tls) => tls.flush(&mut self.conn, now),
            None => self.conn.flush(now),
        }
    }

    fn link_shutdown(&mut self, now: Instant) -> io::Result<()> {
        match self.tls.as_mut() {
            Some(tls) => tls.shutdown_write(&mut self.conn, now),
            None => self.conn.shutdown_write(now),
        }
    }

    fn queued(&self) -> usize {
        match &self.tls {
            Some(tls) => tls.queued(&self.conn),
            None => self.conn.queued(),
        }
    }

    fn write_closed(&self) -> bool {
        self.conn.write_closed() || self.tls.as_ref().is_some_and(|t| t.write_closed())
    }

    /// Payload bytes sent and received (plaintext under TLS).
    fn sent(&self) -> u64 {
        self.tls.as_ref().map_or(self.conn.sent, |t| t.sent)
    }

    fn received(&self) -> u64 {
        self.tls.as_ref().map_or(self.conn.received, |t| t.received)
    }

    /// The idle deadline implied by the last activity (none when it is
    /// past what an `Instant` holds).
    pub fn idle_deadline(&self) -> Option<Instant> {
        self.conn.last_active.checked_add(self.opts.idle_timeout?)
    }

    /// Moves bytes both ways until neither side can make progress; a
    /// failure ends the session (see [`PipeSession::take_end`]).
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
            if self.settling.is_some() {
                return self.settle(now, out);
            }
            let mut progress = false;

            // socket -> stdout
            let read = self.link_read(buf, now);
            if let Some(tls) = self.tls.as_mut() {
                if let Some(info) = tls.take_session() {
                    out.emit(&Event::TlsSession(&info))?;
                }
            }
            match read {
                Ok(Read::Data(n)) => {
                    progress = true;
                    let data = &buf[..n];
                    if self.opts.hex {
                        out.hex(Direction::Received, self.received() - n as u64, data);
                    }
                    if !self.opts.send_only {
                        out.emit(&Event::Data {
                            id: self.id,
                            peer: self.peer.clone(),
                            bytes: data,
                        })?;
                    }
                }
                Ok(Read::Eof) => {
                    // Everything the peer sent is already out. Its FIN may be
                    // a half-close, so stdin from a pipe or a file is still
                    // delivered until it ends, however long it pauses; on a
                    // terminal nobody is going to type the rest, and waiting
                    // would be ncat's CLOSE_WAIT hang.
                    self.peer_closed = true;
                    let tty = stdin.is_none() || self.opts.stdin_tty;
                    if self.stdin_done || self.write_closed() || tty {
                        self.settling = Some(Closer::Peer);
                        continue;
                    }
                    progress = true;
                }
                Ok(Read::WouldBlock) => {}
                Err(e) => return Err(self.lost("receive from", &e)),
            }

            // stdin -> socket
            if !self.stdin_done && self.queued() == 0 && !self.write_closed() {
                if let Some(stdin) = stdin.as_deref_mut() {
                    match stdin.read(buf) {
                        Ok(Read::Data(n)) => {
                            progress = true;
                            let converted;
                            let data = if self.opts.crlf {
                                converted = crlf(&buf[..n], &mut self.after_cr);
                                &converted[..]
                            } else {
                                &buf[..n]
                            };
                            if self.opts.hex {
                                out.hex(Direction::Sent, self.stdin_bytes, data);
                            }
                            self.stdin_bytes += n as u64;
                            if let Err(e) = self.link_send(data, now) {
                                return Err(self.lost("send to", &e));
                            }
                        }
                        Ok(Read::Eof) => {
                            progress = true;
                            self.stdin_done = true;
                            self.stdin_eof_at = Some(now);
                            // Half-close, then read (and, with --send-only,
                            // discard) until the peer closes: leaving earlier
                            // would reset a peer that still talks and lose
                            // what it had not read yet.
                            if !self.opts.no_shutdown {
                                if let Err(e) = self.link_shutdown(now) {
                                    return Err(self.lost("send to", &e));
                                }
                            }
                        }
                        Ok(Read::WouldBlock) => {}
                        Err(e) => return Err(Error::io("read stdin", &e)),
                    }
                }
            }

            let queued = self.queued();
            if let Err(e) = self.link_flush(now) {
                return Err(self.lost("send to", &e));
            }
            // Room in the queue means stdin may be read again.
            progress |= self.queued() < queued;
            if self.peer_closed && self.stdin_done && self.queued() == 0 {
                self.settling = Some(Closer::Peer);
                continue;
            }
            if !progress {
                return Ok(());
            }
        }
    }

    /// The error for a connection that died (while trying to `verb` the
    /// peer): names how many stdin bytes the peer never acknowledged.
    fn lost(&self, verb: &str, e: &io::Error) -> Error {
        if let Some(f) = crate::net::tls::tls_failure(e) {
            return Error::new(
                Exit::Tls,
                format!("TLS with {}", self.peer_name()),
                f.0.clone(),
            );
        }
        // After the peer's FIN the kernel reports its reset as EPIPE.
        let reset = matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET));
        let mut why = if reset {
            "connection reset by peer".to_string()
        } else {
            describe_io(e)
        };
        let lost = self.undelivered();
        if lost > 0 {
            why.push_str(&format!("; {lost} bytes of stdin not delivered"));
        }
        Error::new(exit_for_io(e), format!("{verb} {}", self.peer_name()), why)
    }

    /// Data bytes the peer's kernel has acknowledged (all sent ones where
    /// the kernel does not say).
    fn acked(&self) -> u64 {
        match (self.acked_base, self.conn.bytes_acked()) {
            (Some(base), Some(acked)) => acked.saturating_sub(base).min(self.conn.sent),
            _ => self.conn.sent,
        }
    }

    /// Stdin bytes read that the peer has not acknowledged.
    fn undelivered(&self) -> u64 {
        if self.tls.is_some() {
            // The connection counts ciphertext: at most what is unacknowledged.
            return self
                .stdin_bytes
                .min(self.conn.sent.saturating_sub(self.acked()));
        }
        self.stdin_bytes.saturating_sub(self.acked())
    }

    /// Success is decided: flushes, then ends the session once the peer has
    /// acknowledged every byte; a reset meanwhile is an error.
    fn settle(&mut self, now: Instant, out: &mut Output) -> Result<()> {
        let Some(by) = self.settling else {
            return Ok(());
        };
        if let Err(e) = self.link_flush(now) {
            return Err(self.lost("send to", &e));
        }
        if let Ok(Some(e)) = self.conn.stream.take_error() {
            return Err(self.lost("send to", &e));
        }
        if self.conn.queued() == 0 && self.acked() >= self.conn.sent {
            self.finish(by, out, None)?;
        }
        Ok(())
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
        if let Some(label) = &self.label {
            if out.verbose() {
                let who = match by {
                    Closer::Peer => "closed by peer",
                    Closer::Interrupted => "closed: interrupted",
                    _ => "closed",
                };
                out.notice(&format!(
                    "{label} {who} after {}: sent {} bytes, received {} bytes",
                    humantime::format_duration(Duration::from_millis(
                        self.conn.started.elapsed().as_millis() as u64
                    )),
                    self.sent(),
                    self.received()
                ));
            }
            return Ok(());
        }
        out.emit(&Event::Closed {
            id: self.id,
            remote: self.peer.clone(),
            by,
            sent: self.sent(),
            received: self.received(),
            duration: self.conn.started.elapsed(),
            reason,
            clients: 0,
        })
    }

    /// The next timer the session needs, each asked for once until it
    /// fires; the driver arms it and calls [`PipeSession::on_timer`].
    pub fn next_timer(&mut self, now: Instant) -> Option<(Wake, Instant)> {
        if self.end.is_some() {
            return None;
        }
        if self.settling.is_some() && !self.settle_armed {
            self.settle_armed = true;
            return Some((Wake::Settle, now.checked_add(SETTLE_POLL)?));
        }
        let quit_after = self.opts.quit_after?;
        let (from, dur) = match self.quit {
            Quit::Waiting => (self.stdin_eof_at?, quit_after),
            Quit::Fired => (now, quit_after.max(QUIT_GRACE)),
            Quit::Armed | Quit::Rearmed => return None,
        };
        self.quit = match self.quit {
            Quit::Waiting => Quit::Armed,
            _ => Quit::Rearmed,
        };
        // Past what an Instant holds: no deadline.
        Some((Wake::Quit, from.checked_add(dur)?))
    }

    /// A timer from [`PipeSession::next_timer`] fired.
    pub fn on_timer(&mut self, wake: Wake, now: Instant, out: &mut Output) {
        if self.end.is_some() {
            return;
        }
        let result = match wake {
            Wake::Settle => {
                self.settle_armed = false;
                self.settle(now, out)
            }
            Wake::Quit if self.quit == Quit::Rearmed => Err(self.quit_expired()),
            Wake::Quit => {
                // Stop reading; end once the peer has what was sent.
                self.quit = Quit::Fired;
                self.settling.get_or_insert(Closer::Local);
                self.settle(now, out)
            }
        };
        if let Err(e) = result {
            self.end = Some(End::Failed(e));
        }
    }

    /// --quit-after passed, then its grace, and the peer still has not
    /// acknowledged everything.
    fn quit_expired(&self) -> Error {
        let dur = self.opts.quit_after.unwrap_or_default();
        Error::timeout(
            format!("send to {}", self.peer_name()),
            format!(
                "{} bytes of stdin not delivered (not acknowledged {} after --quit-after {})",
                self.undelivered(),
                humantime::format_duration(dur.max(QUIT_GRACE)),
                humantime::format_duration(dur)
            ),
        )
    }

    /// Checks the idle timeout; `Some(next deadline)` if still alive.
    pub fn check_idle(&mut self, now: Instant) -> Option<Instant> {
        let idle = self.opts.idle_timeout?;
        let deadline = self.conn.last_active.checked_add(idle)?;
        if now >= deadline {
            self.end = Some(End::Failed(Error::timeout(
                format!("connection to {}", self.peer_name()),
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

/// `data` with every bare line feed sent as CR LF, as Debian's `nc -C`
/// does: a CR LF already there stays as it is. `after_cr` carries whether
/// the previous chunk ended with CR, so a CR LF split across two reads is
/// still one line ending.
pub fn crlf(data: &[u8], after_cr: &mut bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        if b == b'\n' && !*after_cr {
            out.push(b'\r');
        }
        out.push(b);
        *after_cr = b == b'\r';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::crlf;

    fn whole(data: &[u8]) -> Vec<u8> {
        crlf(data, &mut false)
    }

    fn bytewise(data: &[u8]) -> Vec<u8> {
        let mut cr = false;
        data.iter().flat_map(|b| crlf(&[*b], &mut cr)).collect()
    }

    #[test]
    fn bare_line_feeds_become_cr_lf() {
        for (input, want) in [
            (&b"a\nb\n"[..], &b"a\r\nb\r\n"[..]),
            (b"\n\n", b"\r\n\r\n"),
            (b"x\r\ny\n", b"x\r\ny\r\n"),
            (b"\r\r\n", b"\r\r\n"),
            (b"no newline", b"no newline"),
            (b"", b""),
        ] {
            assert_eq!(whole(input), want, "{input:?}");
            assert_eq!(bytewise(input), want, "{input:?} byte by byte");
        }
    }
}
