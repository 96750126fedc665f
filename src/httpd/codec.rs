//! HTTP/1.1 on the server core: [`HttpCodec`] decodes a client's requests
//! (with the sans-IO [`RequestDecoder`]), answers each in order right away
//! ([`respond`]), and hands the request to the room as a message, which
//! reports it (stdout, or a `request` event).
//!
//! What the core does not know about HTTP lives here: answers are a queue
//! of byte runs and file pieces; file pieces go out through
//! [`Codec::write_direct`] (`sendfile(2)` on plain connections, read and
//! sent in chunks under TLS). While an answer is still going out (a file,
//! or more than [`HIGH_WATER`] bytes) the next pipelined request is held
//! back ([`Codec::more`] says when to resume) and the core's back-pressure
//! stops reading the client. Per-request deadlines are checked at each
//! tick ([`Codec::due`]): a head must arrive within `--header-timeout` of
//! its first byte (408, then close); a connection that never sent a byte is
//! closed quietly. Idle keep-alive connections are closed by the core's
//! idle timer.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::respond::{self, FileBody};
use super::{files, HttpdConfig, HttpdMode};
use crate::error::Result;
use crate::event::{Closer, Event, HttpRequestRecord};
use crate::net::transport::Transport;
use crate::output::Output;
use crate::proto::http_request::{reason, ReqItem, Request, RequestDecoder, RequestError};
use crate::proto::lines::LineSplitter;
use crate::reactor::conn::Conn;
use crate::server::room::Print;
use crate::server::{AtEof, Codec, Core, Ending, Goodbye, Got, Info, Room};

/// Answer bytes queued past which the next pipelined request waits.
pub const HIGH_WATER: usize = 256 * 1024;
/// Answers queued past which the next pipelined request waits.
const MAX_PARTS: usize = 32;
/// Largest piece handed to one `sendfile` call.
const SENDFILE_MAX: u64 = 1 << 30;
/// Piece of a file read at a time for TLS.
const TLS_CHUNK: usize = 64 * 1024;

/// What every client shares: the settings, the count, the date. Each
/// codec holds a handle too, so that it can answer at EOF (where the core
/// passes none).
#[derive(Clone)]
pub struct HttpShared(Rc<RefCell<Inner>>);

impl HttpShared {
    pub fn new(config: HttpdConfig) -> HttpShared {
        HttpShared(Rc::new(RefCell::new(Inner {
            config,
            served: 0,
            stopping: false,
            date: (0, String::new()),
        })))
    }

    pub fn stopping(&self) -> bool {
        self.0.borrow().stopping
    }
}

pub struct Inner {
    pub config: HttpdConfig,
    /// Requests answered so far.
    pub served: u64,
    /// `-c N` reached: nothing more is decoded.
    pub stopping: bool,
    date: (u64, String),
}

impl Inner {
    fn date(&mut self) -> &str {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if now != self.date.0 {
            self.date = (now, files::http_date(now));
        }
        &self.date.1
    }
}

/// A request as the room sees it: what it reports.
#[derive(Debug)]
pub struct Served {
    pub request: Request,
    pub body: Vec<u8>,
    pub status: u16,
    pub brief: bool,
}

enum Part {
    Bytes(Vec<u8>, usize),
    File(FileBody),
}

pub struct HttpCodec {
    shared: HttpShared,
    dec: RequestDecoder,
    /// Bytes read but not decoded yet (none kept between requests).
    inbuf: Vec<u8>,
    req: Option<Request>,
    body: Vec<u8>,
    out: VecDeque<Part>,
    /// The last answer is queued (`Connection: close`, an error).
    ended: bool,
    /// Decoding stopped for want of input (or -c N).
    stalled: bool,
    /// Never sent a byte.
    fresh: bool,
    /// When the head being received (or the first one) is due.
    head_due: Option<Instant>,
    /// A 408 is queued.
    timed_out: bool,
}

impl HttpCodec {
    fn busy(&self) -> bool {
        self.out.len() >= MAX_PARTS
            || self.out.iter().any(|p| matches!(p, Part::File(_)))
            || self.queued_bytes() > HIGH_WATER
    }

    fn queued_bytes(&self) -> usize {
        self.out
            .iter()
            .map(|p| match p {
                Part::Bytes(b, pos) => b.len() - pos,
                Part::File(f) => usize::try_from(f.end - f.offset).unwrap_or(usize::MAX),
            })
            .fold(0usize, usize::saturating_add)
    }

    fn push(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        // Small answers join the last run: one write for a pipelined burst.
        if let Some(Part::Bytes(last, _)) = self.out.back_mut() {
            if last.len() + bytes.len() <= HIGH_WATER {
                last.extend_from_slice(&bytes);
                return;
            }
        }
        self.out.push_back(Part::Bytes(bytes, 0));
    }

    /// Decodes and answers requests until input runs out or an answer
    /// must go out first (`force`: at EOF, decode everything).
    fn decode(&mut self, got: &mut Vec<Got<Served>>, force: bool) {
        let handle = self.shared.clone();
        let shared = &mut *handle.0.borrow_mut();
        let keep_body = !matches!(shared.config.mode, HttpdMode::Dir(_));
        let mut pos = 0;
        loop {
            if self.ended || shared.stopping || (!force && self.busy()) {
                self.stalled = self.ended || shared.stopping;
                break;
            }
            let (used, item) = match self.dec.decode(&self.inbuf[pos..]) {
                Ok(x) => x,
                Err(e) => {
                    pos = self.inbuf.len();
                    self.refuse(shared, &e, got);
                    break;
                }
            };
            pos += used;
            match item {
                None if used == 0 => {
                    self.stalled = true;
                    break;
                }
                None => {}
                Some(ReqItem::Head(req)) => {
                    if req.expects_continue() && self.dec.body_pending() {
                        self.push(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec());
                    }
                    self.req = Some(req);
                    self.body.clear();
                    self.head_due = None;
                }
                Some(ReqItem::Body(b)) if keep_body => self.body.extend_from_slice(b),
                Some(ReqItem::Body(_)) => {}
                Some(ReqItem::End) => {
                    if let Some(req) = self.req.take() {
                        let body = std::mem::take(&mut self.body);
                        self.answer(shared, req, body, got);
                    }
                    if pos < self.inbuf.len() {
                        self.head_due = Some(Instant::now() + shared.config.header_timeout);
                    }
                }
            }
        }
        self.inbuf.drain(..pos);
        if self.inbuf.is_empty() {
            self.inbuf = Vec::new();
        }
    }

    fn answer(
        &mut self,
        shared: &mut Inner,
        req: Request,
        body: Vec<u8>,
        got: &mut Vec<Got<Served>>,
    ) {
        shared.served += 1;
        let last = shared.config.count.is_some_and(|n| shared.served >= n);
        if last {
            shared.stopping = true;
        }
        let brief = matches!(shared.config.mode, HttpdMode::Dir(_));
        shared.date();
        let rec = HttpRequestRecord {
            id: 0,
            remote: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
            method: &req.method,
            target: &req.target,
            path: req.path(),
            query: req.query(),
            version: req.version,
            headers: &req.headers,
            body: &body,
            status: 0,
            brief,
        };
        let mut answer = respond::answer(&shared.config, &req, &body, &shared.date.1, &rec, last);
        self.push(std::mem::take(&mut answer.bytes));
        if let Some(f) = answer.file.take() {
            self.out.push_back(Part::File(f));
        }
        let status = answer.status;
        got.push(Got::Message(Served {
            request: req,
            body,
            status,
            brief,
        }));
        if answer.close {
            self.ended = true;
            got.push(Got::End(Ending::new(Closer::Local, None)));
        }
    }

    fn refuse(&mut self, shared: &mut Inner, e: &RequestError, got: &mut Vec<Got<Served>>) {
        let bytes = respond::refusal(e, shared.date());
        self.push(bytes);
        self.ended = true;
        self.req = None;
        got.push(Got::End(refused(e)));
    }
}

/// The ending of a refused request: its status line is the reason, shown
/// on stderr.
fn refused(e: &RequestError) -> Ending {
    Ending::new(
        Closer::Error,
        Some(format!("{} {}: {}", e.status, reason(e.status), e.reason)),
    )
}

impl Codec for HttpCodec {
    type Msg = Served;
    type Shared = HttpShared;
    const FULL: &'static [u8] =
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 12\r\nConnection: close\r\n\r\nserver full\n";

    fn new(shared: &mut HttpShared) -> HttpCodec {
        let (limits, header_timeout) = {
            let s = shared.0.borrow();
            (s.config.limits, s.config.header_timeout)
        };
        HttpCodec {
            shared: shared.clone(),
            dec: RequestDecoder::new(limits),
            inbuf: Vec::new(),
            req: None,
            body: Vec::new(),
            out: VecDeque::new(),
            ended: false,
            stalled: false,
            fresh: true,
            head_due: Some(Instant::now() + header_timeout),
            timed_out: false,
        }
    }

    fn is_open(&self) -> bool {
        true
    }

    fn receive(&mut self, _: &mut HttpShared, data: &[u8], got: &mut Vec<Got<Served>>) {
        if self.ended {
            return;
        }
        if !data.is_empty() {
            if (self.fresh || self.inbuf.is_empty()) && self.dec.between_requests() {
                let timeout = self.shared.0.borrow().config.header_timeout;
                self.head_due = Some(Instant::now() + timeout);
            }
            self.fresh = false;
            self.stalled = false;
            self.inbuf.extend_from_slice(data);
        }
        self.decode(got, false);
    }

    fn more(&self) -> bool {
        !self.stalled && !self.ended && !self.inbuf.is_empty() && !self.busy()
    }

    fn eof(&mut self, got: &mut Vec<Got<Served>>) -> AtEof {
        // The client is done sending: what it sent is all decoded before
        // the answers go out and the connection closes.
        self.stalled = false;
        self.decode(got, true);
        AtEof::HalfClose
    }

    fn send(&mut self, _: &mut HttpShared, _: &Served) {}

    fn output(&mut self) -> &[u8] {
        match self.out.front() {
            Some(Part::Bytes(b, pos)) => &b[*pos..],
            _ => &[],
        }
    }

    fn consume(&mut self, n: usize) {
        if let Some(Part::Bytes(b, pos)) = self.out.front_mut() {
            *pos += n;
            if *pos >= b.len() {
                self.out.pop_front();
            }
        }
    }

    fn queued(&self) -> usize {
        self.queued_bytes()
    }

    fn behind(&self, _: usize, _: usize, _: usize) -> bool {
        // Answers are paced by the requests (pipelining waits for them).
        false
    }

    fn write_direct(&mut self, transport: &mut Transport, now: Instant) -> io::Result<()> {
        loop {
            match self.out.front_mut() {
                None => return Ok(()),
                Some(Part::Bytes(b, pos)) => {
                    if transport.queued() >= HIGH_WATER {
                        return Ok(());
                    }
                    transport.send(&b[*pos..], now)?;
                    self.out.pop_front();
                }
                Some(Part::File(f)) => {
                    if !send_file(f, transport, now)? {
                        return Ok(());
                    }
                    self.out.pop_front();
                }
            }
        }
    }

    fn due(&mut self, now: Instant) -> Option<Ending> {
        let due = self.head_due?;
        if now < due || self.ended {
            return None;
        }
        self.ended = true;
        if self.fresh {
            // Never said a word: no answer is owed.
            return Some(Ending::new(Closer::Idle, None));
        }
        if self.req.is_some() || !self.inbuf.is_empty() || !self.dec.between_requests() {
            let e = RequestError {
                status: 408,
                reason: "no complete request head within --header-timeout".into(),
            };
            self.timed_out = true;
            self.push(respond::refusal(&e, &files::now_date()));
            return Some(refused(&e));
        }
        Some(Ending::new(Closer::Idle, None))
    }

    fn goodbye(&mut self, _: &mut HttpShared, why: Goodbye, _: usize) -> Option<Ending> {
        let by = match why {
            Goodbye::Shutdown => Closer::Interrupted,
            Goodbye::Idle => Closer::Idle,
            Goodbye::Behind => Closer::Overflow,
        };
        Some(Ending::new(by, None))
    }

    fn report_accept(_: &Info, _: usize, _: &mut Output) -> Result<()> {
        Ok(())
    }

    fn report_close(
        info: &Info,
        ending: &Ending,
        _: bool,
        _: usize,
        out: &mut Output,
    ) -> Result<()> {
        if ending.by == Closer::Error {
            if let Some(why) = &ending.reason {
                out.warn(&format!("{}: {why}", info.peer));
            }
        }
        Ok(())
    }

    fn report_message(info: &Info, m: &Served, out: &mut Output) -> Result<()> {
        let r = &m.request;
        out.emit(&Event::HttpRequest(&HttpRequestRecord {
            id: info.id,
            remote: info.peer.ip(),
            method: &r.method,
            target: &r.target,
            path: r.path(),
            query: r.query(),
            version: r.version,
            headers: &r.headers,
            body: &m.body,
            status: m.status,
            brief: m.brief,
        }))
    }

    fn console(_: &mut LineSplitter, _: &[u8], _: &mut Vec<Served>) {}
    fn console_end(_: &mut LineSplitter, _: &mut Vec<Served>) {}
}

/// Sends what the socket takes of a file piece; true when it is all sent.
fn send_file(f: &mut FileBody, transport: &mut Transport, now: Instant) -> io::Result<bool> {
    match transport {
        Transport::Plain(conn) => sendfile(f, conn, now),
        Transport::Unix(conn) => sendfile(f, conn, now),
        Transport::Tls(_) | Transport::UnixTls(_) => {
            let mut chunk = vec![0u8; TLS_CHUNK];
            while f.offset < f.end {
                if transport.queued() >= HIGH_WATER {
                    return Ok(false);
                }
                let n = respond::read_chunk(f, &mut chunk)?;
                transport.send(&chunk[..n], now)?;
            }
            Ok(true)
        }
    }
}

/// `sendfile(2)` from the file to a plain socket.
fn sendfile<S: crate::reactor::conn::Stream>(
    f: &mut FileBody,
    conn: &mut Conn<S>,
    now: Instant,
) -> io::Result<bool> {
    if conn.queued() > 0 {
        return Ok(false);
    }
    let fd = conn.stream.as_raw_fd();
    while f.offset < f.end {
        let mut off = f.offset as libc::off_t;
        let count = (f.end - f.offset).min(SENDFILE_MAX) as usize;
        // SAFETY: both descriptors are open for the duration of the
        // call and `off` is a valid pointer to a local.
        let n = unsafe { libc::sendfile(fd, f.file.as_raw_fd(), &mut off, count) };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(false),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being sent",
            ));
        }
        f.offset += n as u64;
        conn.sent += n as u64;
        conn.last_active = now;
        if (n as usize) < count {
            // The socket buffer is full: the next EPOLLOUT says when
            // to go on (asking again now would only get EAGAIN).
            return Ok(f.offset == f.end);
        }
    }
    Ok(true)
}

/// The room of `http listen`: reports each request; ends the run after
/// `-c N` once the last answer is written.
pub struct HttpRoom;

impl Room<HttpCodec> for HttpRoom {
    fn message(&mut self, core: &mut Core<HttpCodec>, key: usize, m: Served) -> Result<()> {
        Print.message(core, key, m)
    }

    fn end_of_turn(&mut self, core: &mut Core<HttpCodec>) -> Result<()> {
        if core.shared.stopping() {
            core.stop_when_written(crate::error::Exit::Ok);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::proto::http_request::Limits;

    fn shared(mode: HttpdMode) -> HttpShared {
        HttpShared::new(HttpdConfig {
            mode,
            headers: Vec::new(),
            count: None,
            limits: Limits {
                max_head: 1024,
                max_body: 64,
            },
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_clients: 10,
        })
    }

    /// Feeds `input` whole or one byte at a time (then EOF); returns the
    /// answers (Date lines dropped) and what the room got.
    fn exchange(mode: HttpdMode, input: &[u8], bytewise: bool) -> (String, Vec<String>) {
        let mut sh = shared(mode);
        let mut codec = HttpCodec::new(&mut sh);
        let mut got = Vec::new();
        let mut out = Vec::new();
        let drain = |codec: &mut HttpCodec, out: &mut Vec<u8>| loop {
            let chunk = codec.output().to_vec();
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
            codec.consume(chunk.len());
        };
        if bytewise {
            for b in input {
                codec.receive(&mut sh, std::slice::from_ref(b), &mut got);
                drain(&mut codec, &mut out);
            }
        } else {
            codec.receive(&mut sh, input, &mut got);
        }
        while codec.more() {
            codec.receive(&mut sh, &[], &mut got);
            drain(&mut codec, &mut out);
        }
        let _ = codec.eof(&mut got);
        drain(&mut codec, &mut out);
        let text = String::from_utf8_lossy(&out)
            .split("\r\n")
            .filter(|l| !l.starts_with("Date: "))
            .collect::<Vec<_>>()
            .join("\r\n");
        let items = got
            .iter()
            .map(|g| match g {
                Got::Message(s) => format!(
                    "{} {} {}",
                    s.request.request_line(),
                    s.status,
                    String::from_utf8_lossy(&s.body)
                ),
                Got::End(e) => format!("end {:?}", e.reason),
                Got::Open(_) => "open".into(),
            })
            .collect();
        (text, items)
    }

    fn both(mode: HttpdMode, input: &[u8]) -> (String, Vec<String>) {
        let whole = exchange(mode.clone(), input, false);
        let bytewise = exchange(mode, input, true);
        assert_eq!(whole, bytewise, "whole vs byte by byte");
        whole
    }

    #[test]
    fn pipelined_requests_are_answered_in_order() {
        let mode = HttpdMode::Print {
            status: 200,
            body: b"ok".to_vec(),
        };
        let input = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi\
            GET /c HTTP/1.0\r\n\r\nGET /never HTTP/1.1\r\nHost: h\r\n\r\n";
        let (out, items) = both(mode, input);
        let ok = "HTTP/1.1 200 OK\r\nServer: netkit\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(
            out,
            format!(
                "{ok}HTTP/1.1 100 Continue\r\n\r\n{ok}HTTP/1.0 200 OK\r\nServer: netkit\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            )
        );
        assert_eq!(
            items,
            vec![
                "GET /a HTTP/1.1 200 ",
                "POST /b HTTP/1.1 200 hi",
                "GET /c HTTP/1.0 200 ",
                "end None"
            ]
        );
    }

    #[test]
    fn a_bad_request_after_a_good_one_is_refused_and_ends() {
        let mode = HttpdMode::Echo { status: 200 };
        let input = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n\
            POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        let (out, items) = both(mode, input);
        assert!(out.contains("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert_eq!(items.len(), 2, "{items:?}");
        assert!(
            items[1].starts_with("end Some(\"400 Bad Request: bad chunk"),
            "{items:?}"
        );
        let (out, _) = both(
            HttpdMode::Echo { status: 200 },
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n",
        );
        assert!(
            out.starts_with("HTTP/1.1 413 Content Too Large\r\n"),
            "{out}"
        );
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let alphabet = b"GET /HTTP1.0\r\n:;-chunkedTransfer-EncodingContent-LengthExpect100-continue0123456789af \x00\xff";
        for _ in 0..300 {
            let mut input = Vec::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for _ in 0..(x % 400) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                input.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            // The status is the same however the bytes came (the quoted
            // line in a 400 shows what had arrived).
            let (whole, _) = exchange(HttpdMode::Echo { status: 200 }, &input, false);
            let (bytewise, _) = exchange(HttpdMode::Echo { status: 200 }, &input, true);
            let first = |s: &str| s.lines().next().unwrap_or_default().to_string();
            assert_eq!(first(&whole), first(&bytewise), "{input:?}");
        }
    }
}
