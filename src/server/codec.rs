//! What differs between the protocols a server speaks: the [`Codec`] turns a
//! client's bytes into messages and messages into bytes, says when its
//! handshake is done and how it says goodbye. [`Bytes`] (raw chunks) and
//! [`Lines`] (newline-framed text) are the codecs of `tcp listen`.

use std::borrow::Cow;
use std::io;
use std::time::Instant;

use crate::error::Result;
use crate::event::{Closer, ConnId, Event, Peer};
use crate::net::transport::Transport;
use crate::output::Output;
use crate::proto::lines::LineSplitter;

/// Why a client ended, for its close event and the room's leave notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub by: Closer,
    /// A protocol close code (WebSocket), if any.
    pub code: Option<u16>,
    pub reason: Option<String>,
}

impl Ending {
    pub fn new(by: Closer, reason: Option<String>) -> Ending {
        Ending {
            by,
            code: None,
            reason,
        }
    }
}

/// What a codec found in the bytes it was fed.
#[derive(Debug)]
pub enum Got<M> {
    /// The handshake is done: the client enters the room.
    Open(Opened),
    /// A message for the room.
    Message(M),
    /// The conversation is over (a close handshake, a refusal, a protocol
    /// error): the core writes what the codec still has, then closes.
    End(Ending),
}

/// What a handshake told about a client.
#[derive(Debug, Default, Clone)]
pub struct Opened {
    /// The request path (`/` for codecs without one).
    pub path: String,
    /// The chosen subprotocol.
    pub protocol: Option<String>,
    /// The name the client asked for (it is cleaned and made unique).
    pub name: Option<String>,
}

/// What the core does when a client's read side ends (EOF).
#[derive(Debug)]
pub enum AtEof {
    /// Half-close: write what is queued, shut the write side, then the
    /// client is over (`Closer::Peer`). TCP's way.
    HalfClose,
    /// The client is over now.
    End(Ending),
}

/// Why the server asks a client to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goodbye {
    /// SIGINT.
    Shutdown,
    /// No traffic for `--idle-timeout`.
    Idle,
    /// Its backlog went over `--max-queue`.
    Behind,
}

/// The client as the core knows it, for reporting.
#[derive(Debug, Clone, Copy)]
pub struct Info<'a> {
    pub id: ConnId,
    pub peer: &'a Peer,
    pub local: &'a Peer,
    pub name: &'a str,
    pub sent: u64,
    pub received: u64,
    pub duration: std::time::Duration,
}

/// A per-client protocol. One value per client; the core feeds it what the
/// client sent and writes out what it produced (see the contract in
/// [`super`]).
pub trait Codec: Sized {
    /// A message, both ways (a chunk, a line, a WebSocket message...).
    type Msg;
    /// Shared by every client of a server (limits, mask entropy...).
    type Shared;
    /// Bytes sent, best effort, to a client refused by `--max-clients`.
    const FULL: &'static [u8] = b"";
    /// Idle means nothing *received* for `idle_timeout` (else: nothing
    /// either way).
    const IDLE_ON_READS: bool = false;
    /// Before calling a client behind, hand its backlog to the kernel and
    /// judge what is left (TCP: the socket buffer counts as room). Without
    /// it, only `--max-queue` counts, whatever the kernel would take.
    const JUDGE_AFTER_WRITE: bool = true;
    /// The end of the warning for a client that fell behind.
    const BEHIND_NOTE: &'static str = "closing it";

    fn new(shared: &mut Self::Shared) -> Self;

    /// Past the handshake (codecs without one are open from the start).
    fn is_open(&self) -> bool;

    /// Once open: a member of the room (named, in the chat's welcome and
    /// counts). An HTTP request on the chat's port is open but no member.
    fn member(&self) -> bool {
        true
    }

    /// Feeds bytes read from the client. An incomplete frame stays inside
    /// (bounded by the codec). Replies the protocol owes (a handshake
    /// answer, a pong) go to the output.
    fn receive(&mut self, shared: &mut Self::Shared, data: &[u8], got: &mut Vec<Got<Self::Msg>>);

    /// The codec stopped decoding to let the room act on what it got
    /// (a WebSocket message before a Close in the same read): the core
    /// calls [`Codec::receive`] again with no new bytes.
    fn more(&self) -> bool {
        false
    }

    /// Polled after the core writes a client: `Some` when the codec is done
    /// once its output is written (an HTTP response with `Connection:
    /// close`), though the client did not end it.
    fn done(&mut self) -> Option<Ending> {
        None
    }

    /// The client sent its last byte.
    fn eof(&mut self, got: &mut Vec<Got<Self::Msg>>) -> AtEof;

    /// Encodes a message for the client into the output.
    fn send(&mut self, shared: &mut Self::Shared, m: &Self::Msg);

    /// Bytes waiting to go to the socket.
    fn output(&mut self) -> &[u8];
    fn consume(&mut self, n: usize);
    /// How many bytes [`Codec::output`] holds.
    fn queued(&self) -> usize;

    /// Whether a client with `backlog` bytes not yet written should not
    /// get `next` more: it is behind. The default: they would not fit
    /// under `max_queue`.
    fn behind(&self, backlog: usize, next: usize, max_queue: usize) -> bool {
        backlog + next > max_queue
    }

    /// Asks the client to go. `Some` ends it at once; `None` means a
    /// goodbye was queued (a Close frame) and the core waits for its
    /// answer (at most `close_wait`).
    fn goodbye(
        &mut self,
        shared: &mut Self::Shared,
        why: Goodbye,
        max_queue: usize,
    ) -> Option<Ending>;

    /// The connection failed under the codec (a reset, a write error).
    fn lost(&self, why: String) -> Ending {
        Ending::new(Closer::Error, Some(why))
    }

    /// The handshake did not finish in time: a last word, best effort,
    /// into the output, and how the client ends.
    fn handshake_timeout(&mut self, reason: &str) -> Ending {
        Ending::new(Closer::Idle, Some(reason.to_string()))
    }

    /// A goodbye went unanswered for `close_wait` (`draining`: how the
    /// client was going to end, if it had said so).
    fn expired(&self, draining: Option<&Ending>) -> Ending {
        match draining {
            Some(e) => e.clone(),
            None => Ending::new(Closer::Error, Some("no answer to the goodbye".into())),
        }
    }

    /// Writes what the codec sends past its output, once that output is
    /// in the socket queue (an HTTP file body, with `sendfile(2)` on plain
    /// connections). It counts in [`Codec::queued`] until written.
    fn write_direct(&mut self, transport: &mut Transport, now: Instant) -> io::Result<()> {
        let _ = (transport, now);
        Ok(())
    }

    /// At every tick, with the time: `Some` ends the client once its
    /// output is written (HTTP's header timeout: a 408, then close).
    fn due(&mut self, now: Instant) -> Option<Ending> {
        let _ = now;
        None
    }

    /// Every `Config::tick` (a WebSocket ping).
    fn tick(&mut self, shared: &mut Self::Shared) {
        let _ = shared;
    }

    /// Reports an accepted client (before any handshake).
    fn report_accept(info: &Info, clients: usize, out: &mut Output) -> Result<()> {
        out.emit(&Event::Connected {
            id: info.id,
            local: info.local.clone(),
            remote: info.peer.clone(),
            accepted: true,
            time: None,
            clients,
        })
    }

    /// Reports a client past its handshake (`clients`: open ones, it included).
    fn report_open(info: &Info, opened: &Opened, clients: usize, out: &mut Output) -> Result<()> {
        let _ = (info, opened, clients, out);
        Ok(())
    }

    /// Reports the end of a client (`opened`: it was past its handshake).
    fn report_close(
        info: &Info,
        ending: &Ending,
        opened: bool,
        clients: usize,
        out: &mut Output,
    ) -> Result<()> {
        let _ = opened;
        out.emit(&Event::Closed {
            id: info.id,
            remote: info.peer.clone(),
            by: ending.by,
            sent: info.sent,
            received: info.received,
            duration: info.duration,
            reason: ending.reason.as_deref(),
            clients,
        })
    }

    /// Reports a message for the console (the print room).
    fn report_message(info: &Info, m: &Self::Msg, out: &mut Output) -> Result<()>;

    /// Turns console (stdin) bytes into messages for the clients.
    fn console(lines: &mut LineSplitter, data: &[u8], msgs: &mut Vec<Self::Msg>);
    /// The console ended: what is left of its last line.
    fn console_end(lines: &mut LineSplitter, msgs: &mut Vec<Self::Msg>);
}

/// Codecs whose messages carry text (the chat).
pub trait Text: Codec {
    fn text_of(m: &Self::Msg) -> Cow<'_, str>;
    fn text(s: String) -> Self::Msg;
    /// The start of a joiner's welcome.
    fn welcome(name: &str) -> String {
        format!("*** welcome, {name}")
    }
}

/// Longest line of the [`Lines`] codec; longer lines are cut.
pub const MAX_LINE: usize = 8 * 1024;

/// Raw bytes: every read is a message, messages are written as they are.
/// Behind is `backlog + next > --max-queue`, and a client behind is dropped
/// at once (`Closer::Overflow`).
pub struct Bytes {
    out: crate::reactor::conn::OutBuf,
}

impl Codec for Bytes {
    type Msg = Vec<u8>;
    type Shared = ();

    fn new(_: &mut ()) -> Bytes {
        Bytes {
            out: Default::default(),
        }
    }

    fn is_open(&self) -> bool {
        true
    }

    fn receive(&mut self, _: &mut (), data: &[u8], got: &mut Vec<Got<Vec<u8>>>) {
        got.push(Got::Message(data.to_vec()));
    }

    fn eof(&mut self, _: &mut Vec<Got<Vec<u8>>>) -> AtEof {
        AtEof::HalfClose
    }

    fn send(&mut self, _: &mut (), m: &Vec<u8>) {
        self.out.push(m);
    }

    fn output(&mut self) -> &[u8] {
        self.out.front()
    }

    fn queued(&self) -> usize {
        self.out.len()
    }

    fn consume(&mut self, n: usize) {
        self.out.consume(n);
    }

    fn goodbye(&mut self, _: &mut (), why: Goodbye, max_queue: usize) -> Option<Ending> {
        Some(drop_now(why, max_queue))
    }

    fn report_message(info: &Info, m: &Vec<u8>, out: &mut Output) -> Result<()> {
        out.emit(&Event::Data {
            id: info.id,
            peer: info.peer.clone(),
            bytes: m,
        })
    }

    fn console(_: &mut LineSplitter, data: &[u8], msgs: &mut Vec<Vec<u8>>) {
        msgs.push(data.to_vec());
    }

    fn console_end(_: &mut LineSplitter, _: &mut Vec<Vec<u8>>) {}
}

/// How a TCP client is dropped: at once, with why.
fn drop_now(why: Goodbye, max_queue: usize) -> Ending {
    match why {
        Goodbye::Shutdown => Ending::new(Closer::Interrupted, None),
        // The core words the idle reason (it knows the duration).
        Goodbye::Idle => Ending::new(Closer::Idle, None),
        Goodbye::Behind => Ending::new(
            Closer::Overflow,
            Some(format!(
                "it stopped reading; {} queued (--max-queue)",
                crate::output::units::bytes(max_queue as u64)
            )),
        ),
    }
}

/// Newline-framed text: a message is a line without its end of line (at
/// most [`MAX_LINE`] bytes); a message sent gets `\n` after it. A last line
/// without `\n` counts at EOF.
pub struct Lines {
    split: LineSplitter,
    out: crate::reactor::conn::OutBuf,
}

impl Codec for Lines {
    type Msg = Vec<u8>;
    type Shared = ();

    fn new(_: &mut ()) -> Lines {
        Lines {
            split: LineSplitter::new(MAX_LINE),
            out: Default::default(),
        }
    }

    fn is_open(&self) -> bool {
        true
    }

    fn receive(&mut self, _: &mut (), data: &[u8], got: &mut Vec<Got<Vec<u8>>>) {
        self.split
            .push(data, |l| got.push(Got::Message(l.to_vec())));
    }

    fn eof(&mut self, got: &mut Vec<Got<Vec<u8>>>) -> AtEof {
        if let Some(rest) = self.split.finish() {
            got.push(Got::Message(rest));
        }
        AtEof::HalfClose
    }

    fn send(&mut self, _: &mut (), m: &Vec<u8>) {
        self.out.push(m);
        self.out.push(b"\n");
    }

    fn output(&mut self) -> &[u8] {
        self.out.front()
    }

    fn queued(&self) -> usize {
        self.out.len()
    }

    fn consume(&mut self, n: usize) {
        self.out.consume(n);
    }

    fn behind(&self, backlog: usize, next: usize, max_queue: usize) -> bool {
        backlog + next + 1 > max_queue
    }

    fn goodbye(&mut self, _: &mut (), why: Goodbye, max_queue: usize) -> Option<Ending> {
        Some(drop_now(why, max_queue))
    }

    fn report_message(info: &Info, m: &Vec<u8>, out: &mut Output) -> Result<()> {
        out.emit(&Event::Chat {
            from: info.name,
            text: &String::from_utf8_lossy(m),
        })
    }

    fn console(lines: &mut LineSplitter, data: &[u8], msgs: &mut Vec<Vec<u8>>) {
        lines.push(data, |l| msgs.push(l.to_vec()));
    }

    fn console_end(lines: &mut LineSplitter, msgs: &mut Vec<Vec<u8>>) {
        if let Some(rest) = lines.finish() {
            msgs.push(rest);
        }
    }
}

impl Text for Lines {
    fn text_of(m: &Vec<u8>) -> Cow<'_, str> {
        String::from_utf8_lossy(m)
    }

    fn text(s: String) -> Vec<u8> {
        s.into_bytes()
    }

    fn welcome(name: &str) -> String {
        format!("*** welcome, you are {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(c: &mut Lines, data: &[u8], whole: bool) -> Vec<Vec<u8>> {
        let mut got = Vec::new();
        if whole {
            c.receive(&mut (), data, &mut got);
        } else {
            for b in data {
                c.receive(&mut (), std::slice::from_ref(b), &mut got);
            }
        }
        let _ = c.eof(&mut got);
        got.into_iter()
            .map(|g| match g {
                Got::Message(m) => m,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn lines_whole_and_byte_by_byte() {
        for whole in [true, false] {
            let mut c = Lines::new(&mut ());
            let got = feed(&mut c, b"a\r\nbb\n\nlast", whole);
            assert_eq!(
                got,
                vec![b"a".to_vec(), b"bb".to_vec(), vec![], b"last".to_vec()]
            );
        }
    }

    #[test]
    fn lines_sent_end_with_newline_and_bytes_as_they_are() {
        let mut l = Lines::new(&mut ());
        l.send(&mut (), &b"hi".to_vec());
        assert_eq!(l.output(), b"hi\n");
        l.consume(3);
        assert!(l.output().is_empty());
        let mut b = Bytes::new(&mut ());
        b.send(&mut (), &b"raw".to_vec());
        assert_eq!(b.output(), b"raw");
    }

    #[test]
    fn tcp_goodbyes_end_at_once_with_their_closer() {
        let mut b = Bytes::new(&mut ());
        assert_eq!(
            b.goodbye(&mut (), Goodbye::Shutdown, 10).map(|e| e.by),
            Some(Closer::Interrupted)
        );
        let e = b.goodbye(&mut (), Goodbye::Behind, 64 * 1024).unwrap();
        assert_eq!(e.by, Closer::Overflow);
        assert!(e.reason.unwrap().contains("--max-queue"));
    }
}
