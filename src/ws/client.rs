//! `netkit ws connect URL`: the WebSocket client.
//!
//! The opening handshake is an HTTP exchange from `netkit http` (so ws:// and
//! wss:// connect, resolve, time out and verify certificates exactly like
//! http:// and https://). After the 101 the connection carries a sans-IO
//! [`Session`]. Stdin feeds it a text message per line (or binary chunks);
//! it is read only while less than [`HIGH_WATER`] bytes wait for the socket,
//! so memory stays bounded and no line is ever dropped. At stdin EOF every
//! queued message goes out; once it has all been written and the server has
//! then been quiet for `--linger` (its replies to the last lines arrive in
//! that time), Close 1000 follows, and the client waits for the server's
//! Close and for the server to close TCP.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::Token;

use super::{Entropy, CLOSE_WAIT, HIGH_WATER, LINGER, READ_BUF};
use crate::cli::{RequestArgs, WsConnectArgs};
use crate::error::{describe_io, Error, Exit, Result};
use crate::event::Event;
use crate::http::client::{Exchange, Request, Settings, Step};
use crate::http::transport::Transport;
use crate::output::console::{Action, Console};
use crate::output::Output;
use crate::proto::http::Head;
use crate::proto::lines::LineSplitter;
use crate::proto::ws::frame::{code, Role};
use crate::proto::ws::handshake;
use crate::proto::ws::session::{Message, Session, WsEvent};
use crate::reactor::buf::ReadBuf;
use crate::reactor::conn::Read;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::{Kind, Stdin};
use crate::reactor::{Ctx, Handler, Reactor};

const STDIN: Token = Token(0);
const SIGNAL: Token = Token(1);
const SOCKET: Token = Token(2);

/// Longest stdin line sent as one message (longer lines are split).
const MAX_LINE: usize = 16 << 20;
/// How much of a refused upgrade's body is shown.
const REFUSAL_BODY: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Connect,
    Ping,
    Idle,
    /// Our Close went unanswered for too long.
    CloseWait,
    /// After the close handshake, the server did not close TCP.
    Linger,
    /// Stdin ended: has the server been quiet for `--linger`?
    Quiet,
}

enum Phase {
    Handshake(Box<Exchange>),
    Open,
    Over,
}

/// How stdin is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Lines,
    Binary,
    Chat,
    Ignored,
}

struct Client<'o> {
    args: WsConnectArgs,
    url: String,
    request: Request,
    key: String,
    settings: Settings,
    phase: Phase,
    refused: Option<(Head, Vec<u8>)>,
    protocol: Option<String>,
    upgraded: bool,
    transport: Option<Transport>,
    remote: SocketAddr,
    session: Session,
    inbuf: ReadBuf,
    entropy: Entropy,
    input: Input,
    stdin: Option<Stdin>,
    lines: LineSplitter,
    /// Stdin lines read so far, and the first that was not UTF-8.
    line_no: u64,
    not_utf8: Option<u64>,
    warned_not_utf8: bool,
    console: Option<Console>,
    received: u64,
    want: Option<u64>,
    last_active: Instant,
    /// When the server last sent part of a message (pings and pongs do
    /// not count: a keepalive is no reply).
    last_rx: Instant,
    /// Stdin ended and its Close waits for the server to be quiet.
    close_pending: bool,
    /// When everything queued had been written after stdin's end.
    quiet_from: Option<Instant>,
    /// A [`Timer::Quiet`] is armed.
    quiet_armed: bool,
    /// The exit status once the close handshake (or the failure) is done.
    ending: Option<Result<Exit>>,
    interrupted: bool,
    out: &'o mut Output,
    signals: Signals,
    exit: Option<Result<Exit>>,
}

/// `ws://` → `http://`, `wss://` → `https://`.
fn http_url(url: &str) -> Result<String> {
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("ws://").map(|_| &url[5..]) {
        Ok(format!("http://{rest}"))
    } else if let Some(rest) = lower.strip_prefix("wss://").map(|_| &url[6..]) {
        Ok(format!("https://{rest}"))
    } else if !url.contains("://") {
        Ok(format!("http://{url}"))
    } else {
        Err(Error::usage(
            url,
            "unsupported scheme (ws:// and wss:// are)",
        ))
    }
}

pub fn run(args: WsConnectArgs, out: &mut Output) -> Result<Exit> {
    let http = http_url(&args.url)?;
    let req_args = RequestArgs {
        method: None,
        headers: args.headers.clone(),
        data: None,
        user: None,
        dial: args.dial.clone(),
    };
    let mut request = crate::http::client::build_request(&http, &req_args, false)?;
    let entropy = Entropy::new()?;
    let key = handshake::client_key(super::os_random()?);
    for (n, v) in handshake::client_headers(
        &key,
        args.origin.as_deref(),
        &args.protocols,
        !args.limits.no_compress,
    ) {
        request.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&n));
        request.headers.push((n, v));
    }
    let mut settings = Settings::new(&args.dial);
    if request.url.scheme() == "https" {
        settings.load_tls(&args.dial)?;
    }
    if args.dial.insecure {
        out.warn("--insecure: the server's certificate is not verified");
    }
    let mut reactor = Reactor::new()?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let scripted = args.echo || !args.send.is_empty() || args.recv_only;
    let kind = crate::reactor::stdin::Kind::detect();
    let input = if scripted {
        Input::Ignored
    } else if kind == Kind::Tty && !out.is_json() {
        Input::Chat
    } else if args.binary {
        Input::Binary
    } else {
        Input::Lines
    };
    let want = args
        .count
        .or_else(|| (!args.send.is_empty() && !args.echo).then_some(args.send.len() as u64));
    let mut client = Client {
        url: args.url.clone(),
        session: Session::new(Role::Client, args.limits.max_message),
        args,
        request,
        key,
        settings,
        phase: Phase::Over,
        refused: None,
        protocol: None,
        upgraded: false,
        transport: None,
        remote: SocketAddr::from(([0, 0, 0, 0], 0)),
        inbuf: ReadBuf::new(READ_BUF),
        entropy,
        input,
        stdin: None,
        lines: LineSplitter::new(MAX_LINE),
        line_no: 0,
        not_utf8: None,
        warned_not_utf8: false,
        console: None,
        received: 0,
        want,
        last_active: Instant::now(),
        last_rx: Instant::now(),
        close_pending: false,
        quiet_from: None,
        quiet_armed: false,
        ending: None,
        interrupted: false,
        out,
        signals,
        exit: None,
    };
    let mut cx = reactor.ctx();
    let request = client.request.clone();
    let settings = client.settings.clone();
    match Exchange::start(
        &mut cx,
        SOCKET,
        Timer::Connect,
        &request,
        None,
        &settings,
        &mut |s| client.step(s),
    ) {
        Ok(ex) => {
            client.phase = Phase::Handshake(Box::new(ex));
            client.after_handshake_step(&mut cx);
        }
        Err(e) => client.exit = Some(Err(e)),
    }
    // Stdin is opened once the connection is up (see `open`).
    let result = reactor.run(&mut client);
    drop(client.console.take());
    result
}

impl Client<'_> {
    /// A step of the handshake exchange.
    fn step(&mut self, step: Step) -> Result<()> {
        match step {
            Step::Connected { remote, .. } => self.remote = remote,
            Step::Head(head) => {
                if head.status == 101 {
                    let agreed = handshake::verify_response(
                        &head,
                        &self.key,
                        &self.args.protocols,
                        !self.args.limits.no_compress,
                    )
                    .map_err(|why| {
                        Error::new(Exit::Protocol, format!("handshake with {}", self.url), why)
                    })?;
                    self.protocol = agreed.protocol;
                    self.session.set_deflate(agreed.deflate);
                    self.upgraded = true;
                } else {
                    self.refused = Some((head, Vec::new()));
                }
            }
            Step::Body(b) => {
                if let Some((_, body)) = &mut self.refused {
                    let room = REFUSAL_BODY.saturating_sub(body.len());
                    body.extend_from_slice(&b[..b.len().min(room)]);
                }
            }
            Step::Done { .. } => {
                if let Some((head, body)) = self.refused.take() {
                    let text = String::from_utf8_lossy(&body);
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    let tail = if text.is_empty() {
                        String::new()
                    } else {
                        format!(": {text}")
                    };
                    return Err(Error::new(
                        Exit::Protocol,
                        format!("handshake with {}", self.url),
                        format!("upgrade refused: {} {}{tail}", head.status, head.reason),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn after_handshake_step(&mut self, cx: &mut Ctx<Timer>) {
        let done = matches!(&self.phase, Phase::Handshake(ex) if ex.is_done());
        if !done || !self.upgraded {
            return;
        }
        let Phase::Handshake(mut ex) = std::mem::replace(&mut self.phase, Phase::Open) else {
            return;
        };
        self.transport = ex.take_transport();
        self.inbuf.extend(&ex.take_leftover());
        if let Err(e) = self.open(cx) {
            self.exit = Some(Err(e));
        }
    }

    /// The connection is upgraded: announce it, start timers, send --send.
    fn open(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        self.last_active = cx.now;
        let path = self.request.target();
        self.out.emit(&Event::WsOpen {
            id: 0,
            remote: self.remote,
            path: &path,
            protocol: self.protocol.as_deref(),
            clients: 0,
        })?;
        if let Some(d) = self.args.limits.ping_interval {
            arm(cx, d, Timer::Ping);
        }
        if let Some(d) = self.args.limits.idle_timeout {
            arm(cx, d, Timer::Idle);
        }
        if self.input != Input::Ignored {
            let stdin = Stdin::open(cx.registry, STDIN).map_err(|e| Error::io("stdin", &e))?;
            self.stdin = Some(stdin);
        }
        if self.input == Input::Chat {
            let console = Console::open(self.out.color_err(), self.out.verbose())
                .map_err(|e| Error::io("terminal", &e))?;
            console.notice(&format!(
                "connected to {}{}; Ctrl-D closes, Ctrl-C leaves",
                self.url,
                self.protocol
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            ));
            self.console = Some(console);
        }
        let sends = std::mem::take(&mut self.args.send);
        for m in &sends {
            self.session.send_text(m, &mut self.entropy);
        }
        self.pump(cx)
    }

    /// Moves everything that can move: socket in, events, stdin in, socket out.
    fn pump(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        loop {
            let mut progress = false;
            progress |= self.receive(cx)?;
            progress |= self.read_stdin(cx)?;
            let backlog = self.backlog();
            self.flush(cx)?;
            // Room in the send queue means stdin may be read again (no new
            // stdin event will say so).
            progress |= self.backlog() < backlog;
            progress |= self.close_when_quiet(cx);
            if self.exit.is_some() || !progress {
                return Ok(());
            }
        }
    }

    /// Reads the socket and handles what the session makes of it.
    fn receive(&mut self, cx: &mut Ctx<Timer>) -> Result<bool> {
        let mut progress = false;
        // Decode what is buffered first (the 101 may have brought frames).
        while !self.inbuf.is_empty() && self.exit.is_none() {
            let (used, event) = self.session.receive(self.inbuf.data(), &mut self.entropy);
            self.inbuf.consume(used);
            if let Some(ev) = event {
                progress = true;
                if !matches!(ev, WsEvent::Ping(_) | WsEvent::Pong(_)) {
                    self.last_rx = cx.now;
                }
                self.on_event(cx, ev)?;
            } else if used == 0 {
                break;
            } else {
                // Part of a message: the server is talking.
                self.last_rx = cx.now;
            }
        }
        if !self.inbuf.is_empty() {
            // A frame under way (a ping's too, at worst a short delay).
            self.last_rx = cx.now;
        }
        let Some(t) = self.transport.as_mut() else {
            return Ok(progress);
        };
        match t.read(self.inbuf.spare(), cx.now) {
            Ok(Read::Data(n)) => {
                self.inbuf.filled(n);
                Ok(true)
            }
            Ok(Read::WouldBlock) => Ok(progress),
            Ok(Read::Eof) => {
                self.tcp_closed(None);
                Ok(true)
            }
            Err(e) => {
                self.tcp_closed(Some(&e));
                Ok(true)
            }
        }
    }

    /// The server closed TCP (or it broke).
    fn tcp_closed(&mut self, error: Option<&io::Error>) {
        if let Some(mut t) = self.transport.take() {
            let _ = t.stream_mut().shutdown(std::net::Shutdown::Both);
        }
        if let Some(ending) = self.ending.take() {
            // The close handshake was done (or a failure is being reported):
            // the server closing TCP is the end. But a Close of ours that the
            // server never answered is no clean ending: that is 1006 below.
            let unanswered = self.session.is_closing() && matches!(ending, Ok(Exit::Ok));
            if !unanswered {
                self.exit = Some(ending);
                return;
            }
        }
        let why = match error {
            Some(e) => format!("connection lost: {}", describe_io(e)),
            None => "the server closed the connection without a Close frame".into(),
        };
        let _ = self.out.emit(&Event::WsClose {
            id: 0,
            remote: self.remote,
            code: Some(code::ABNORMAL),
            reason: &why,
            by: "abnormal",
            clients: 0,
        });
        self.exit = Some(Err(Error::new(
            Exit::Refused,
            self.url.clone(),
            format!("{why} (1006)"),
        )));
    }

    /// The exit status a Close started by the server deserves: only 1000
    /// and 1001 (or no code at all) are success.
    fn peer_close_status(&self, code: Option<u16>, reason: &str) -> Result<Exit> {
        let Some(c) = code else {
            return Ok(Exit::Ok);
        };
        let kind = close_exit(c);
        if kind == Exit::Ok {
            return Ok(kind);
        }
        let why = if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        };
        Err(Error::new(
            kind,
            self.url.clone(),
            format!(
                "the server closed with {c} ({}){why}",
                crate::proto::ws::session::describe_code(c)
            ),
        ))
    }

    fn on_event(&mut self, cx: &mut Ctx<Timer>, ev: WsEvent) -> Result<()> {
        self.last_active = cx.now;
        match ev {
            WsEvent::Message(m) => {
                if self.want.is_some_and(|w| self.received >= w) {
                    // Past the count: the close is under way; the rest is not ours.
                    return Ok(());
                }
                self.received += 1;
                if self.args.echo {
                    self.session.send(&m, &mut self.entropy);
                }
                let (text, bytes) = match &m {
                    Message::Text(t) => (Some(t.as_str()), t.as_bytes()),
                    Message::Binary(b) => (None, b.as_slice()),
                };
                match (&self.console, text) {
                    (Some(c), Some(t)) => c.incoming(t)?,
                    (Some(c), None) => c.incoming(&format!(
                        "[{} of binary]",
                        crate::output::units::bytes(bytes.len() as u64)
                    ))?,
                    (None, None) if !self.args.binary && !self.out.is_json() => {
                        // One line per incoming message, binary ones too
                        // (--binary prints them raw, a byte stream).
                        let mut line = Vec::with_capacity(bytes.len() + 1);
                        line.extend_from_slice(bytes);
                        line.push(b'\n');
                        self.out.emit(&Event::Message {
                            id: 0,
                            text,
                            bytes: &line,
                        })?
                    }
                    (None, _) => self.out.emit(&Event::Message { id: 0, text, bytes })?,
                }
                if self.want.is_some_and(|w| self.received >= w) {
                    self.close(cx, code::NORMAL, "", Ok(Exit::Ok));
                }
            }
            WsEvent::Ping(_) | WsEvent::Pong(_) => {}
            WsEvent::Closed {
                code,
                reason,
                by_peer,
            } => {
                let by = if by_peer { "peer" } else { "local" };
                self.out.emit(&Event::WsClose {
                    id: 0,
                    remote: self.remote,
                    code,
                    reason: &reason,
                    by,
                    clients: 0,
                })?;
                if let Some(c) = &self.console {
                    let what = code.map_or("no code".to_string(), |c| c.to_string());
                    c.notice(&format!("closed by {by}: {what} {reason}"));
                }
                let status = if self.interrupted {
                    Ok(Exit::Interrupted)
                } else if by_peer {
                    self.peer_close_status(code, &reason)
                } else {
                    Ok(Exit::Ok)
                };
                let result = self.ending.take().unwrap_or(status);
                self.ending = Some(result);
                // The server closes TCP first; give it a moment.
                arm(cx, LINGER, Timer::Linger);
            }
            WsEvent::Failed(e) => {
                let _ = self.out.emit(&Event::WsClose {
                    id: 0,
                    remote: self.remote,
                    code: Some(e.code),
                    reason: &e.reason,
                    by: "error",
                    clients: 0,
                });
                self.ending = Some(Err(Error::new(
                    Exit::Protocol,
                    self.url.clone(),
                    format!("the server broke the protocol: {e}"),
                )));
                arm(cx, LINGER, Timer::Linger);
            }
        }
        Ok(())
    }

    /// Starts the close handshake; `then` is the exit status once it is done.
    fn close(&mut self, cx: &mut Ctx<Timer>, c: u16, reason: &str, then: Result<Exit>) {
        if self.session.is_open() {
            self.session.close(c, reason, &mut self.entropy);
            self.ending = Some(then);
            arm(cx, CLOSE_WAIT, Timer::CloseWait);
        }
        if let Some(mut s) = self.stdin.take() {
            s.close();
        }
    }

    /// Reads stdin while the send queue has room.
    fn read_stdin(&mut self, cx: &mut Ctx<Timer>) -> Result<bool> {
        let mut progress = false;
        let mut buf = [0u8; 64 * 1024];
        while self.session.is_open() && self.backlog() < HIGH_WATER {
            let Some(stdin) = self.stdin.as_mut() else {
                return Ok(progress);
            };
            match stdin.read(&mut buf) {
                Ok(Read::Data(n)) => {
                    progress = true;
                    self.last_active = cx.now;
                    let data = &buf[..n];
                    match self.input {
                        Input::Binary => self.session.send_binary(data, &mut self.entropy),
                        Input::Lines => {
                            let (session, entropy) = (&mut self.session, &mut self.entropy);
                            let (line_no, not_utf8) = (&mut self.line_no, &mut self.not_utf8);
                            self.lines.push(data, |line| {
                                send_line(session, entropy, line, line_no, not_utf8)
                            });
                            self.warn_not_utf8();
                        }
                        Input::Chat => {
                            let actions = match self.console.as_mut() {
                                Some(c) => c.input(data),
                                None => Vec::new(),
                            };
                            for a in actions {
                                match a {
                                    Action::Submit(line) if line.is_empty() => {}
                                    Action::Submit(line) => {
                                        self.session.send_text(&line, &mut self.entropy);
                                        if let Some(c) = &self.console {
                                            c.outgoing(&line)?;
                                        }
                                    }
                                    Action::Eof => {
                                        self.close(cx, code::NORMAL, "", Ok(Exit::Ok));
                                        return Ok(true);
                                    }
                                }
                            }
                        }
                        Input::Ignored => {}
                    }
                }
                Ok(Read::WouldBlock) => return Ok(progress),
                Ok(Read::Eof) => {
                    if let Some(rest) = self.lines.finish() {
                        send_line(
                            &mut self.session,
                            &mut self.entropy,
                            &rest,
                            &mut self.line_no,
                            &mut self.not_utf8,
                        );
                        self.warn_not_utf8();
                    }
                    if let Some(mut s) = self.stdin.take() {
                        s.close();
                    }
                    if self.want.is_some() || self.args.no_close {
                        // -c N: the Nth incoming message closes, not stdin;
                        // --no-close: the server does.
                    } else if self.args.linger.is_zero() {
                        self.close(cx, code::NORMAL, "", Ok(Exit::Ok));
                    } else {
                        self.close_pending = true;
                    }
                    return Ok(true);
                }
                Err(e) => return Err(Error::io("read stdin", &e)),
            }
        }
        Ok(progress)
    }

    /// After stdin's end: once everything queued has been written, sends
    /// Close when nothing has arrived for `--linger` since the later of that
    /// moment and the last bytes received (a request/reply server answers
    /// the last lines in that time). Returns whether it closed.
    fn close_when_quiet(&mut self, cx: &mut Ctx<Timer>) -> bool {
        if !self.close_pending || !self.session.is_open() || self.backlog() > 0 {
            return false;
        }
        let from = *self.quiet_from.get_or_insert(cx.now);
        // A linger too long to represent never ends: no Close of ours.
        let Some(deadline) = from.max(self.last_rx).checked_add(self.args.linger) else {
            return false;
        };
        if cx.now >= deadline {
            self.close_pending = false;
            self.close(cx, code::NORMAL, "", Ok(Exit::Ok));
            return true;
        }
        if !self.quiet_armed {
            self.quiet_armed = true;
            cx.timers.add(deadline, Timer::Quiet);
        }
        false
    }

    /// Says once that stdin lines that are not UTF-8 go out as binary.
    fn warn_not_utf8(&mut self) {
        if let (Some(n), false) = (self.not_utf8, self.warned_not_utf8) {
            self.warned_not_utf8 = true;
            self.out.warn(&format!(
                "stdin line {n} is not UTF-8; sent as a binary message (further ones too)"
            ));
        }
    }

    /// Bytes waiting to go out, in the session and in the transport.
    fn backlog(&self) -> usize {
        self.session.queued() + self.transport.as_ref().map_or(0, Transport::queued)
    }

    /// Hands session output to the transport and writes what the socket takes.
    fn flush(&mut self, cx: &mut Ctx<Timer>) -> Result<()> {
        let Some(t) = self.transport.as_mut() else {
            return Ok(());
        };
        let out = self.session.output();
        if !out.is_empty() {
            let n = out.len();
            if let Err(e) = t.send(out, cx.now) {
                self.tcp_closed(Some(&e));
                return Ok(());
            }
            self.session.consume(n);
        }
        if let Err(e) = t.flush(cx.now) {
            self.tcp_closed(Some(&e));
        }
        Ok(())
    }
}

/// Arms `timer` to fire `d` from now; a `d` too long to represent (a huge
/// `--idle-timeout` or `--ping-interval`) means no deadline at all.
fn arm(cx: &mut Ctx<Timer>, d: Duration, timer: Timer) {
    if let Some(at) = cx.now.checked_add(d) {
        cx.timers.add(at, timer);
    }
}

/// Sends stdin line number `line_no + 1` as a text message, or, when it is
/// not UTF-8, as a binary one with its bytes unaltered (a text message must
/// be UTF-8); the first such line is noted in `not_utf8`.
fn send_line(
    session: &mut Session,
    entropy: &mut Entropy,
    line: &[u8],
    line_no: &mut u64,
    not_utf8: &mut Option<u64>,
) {
    *line_no += 1;
    match std::str::from_utf8(line) {
        Ok(text) => session.send_text(text, entropy),
        Err(_) => {
            not_utf8.get_or_insert(*line_no);
            session.send_binary(line, entropy);
        }
    }
}

/// The exit status for a server's close code (README, "WebSocket"): 1000 and
/// 1001 succeed; 1006 (no Close, the connection dropped) is a reset, 4; what
/// the application refused or could not do (1008, 1011-1014, 3000-4999) is a
/// failure, 1; every other code says the server saw a protocol error, 6.
fn close_exit(c: u16) -> Exit {
    match c {
        code::NORMAL | code::GOING_AWAY => Exit::Ok,
        code::ABNORMAL => Exit::Refused,
        1008 | 1011..=1014 | 3000..=4999 => Exit::Failed,
        _ => Exit::Protocol,
    }
}

impl Handler for Client<'_> {
    type Timer = Timer;

    fn ready(&mut self, cx: &mut Ctx<Timer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            SOCKET => match std::mem::replace(&mut self.phase, Phase::Over) {
                Phase::Handshake(mut ex) => {
                    let settings = self.settings.clone();
                    let r = ex.ready(cx, SOCKET, Timer::Connect, event, &settings, &mut |s| {
                        self.step(s)
                    });
                    self.phase = Phase::Handshake(ex);
                    match r {
                        Ok(()) => self.after_handshake_step(cx),
                        Err(e) => self.exit = Some(Err(e)),
                    }
                }
                Phase::Open => {
                    self.phase = Phase::Open;
                    if let Some(t) = self.transport.as_mut() {
                        t.ready(event);
                    }
                    if let Err(e) = self.pump(cx) {
                        self.exit = Some(Err(e));
                    }
                }
                Phase::Over => {}
            },
            STDIN => {
                if let Some(s) = self.stdin.as_mut() {
                    s.ready();
                }
                if let Err(e) = self.pump(cx) {
                    self.exit = Some(Err(e));
                }
            }
            SIGNAL if self.signals.take() => {
                if self.interrupted || !matches!(self.phase, Phase::Open) {
                    self.exit = Some(Ok(Exit::Interrupted));
                } else {
                    self.interrupted = true;
                    self.close(cx, code::GOING_AWAY, "", Ok(Exit::Interrupted));
                    self.pump(cx)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn timeout(&mut self, cx: &mut Ctx<Timer>, timer: Timer) -> Result<()> {
        match timer {
            Timer::Connect if matches!(self.phase, Phase::Handshake(_)) => {
                if let Phase::Handshake(mut ex) = std::mem::replace(&mut self.phase, Phase::Over) {
                    let settings = self.settings.clone();
                    let r =
                        ex.timed_out(cx, SOCKET, Timer::Connect, &settings, &mut |s| self.step(s));
                    self.phase = Phase::Handshake(ex);
                    if let Err(e) = r {
                        self.exit = Some(Err(e));
                    }
                }
            }
            Timer::Connect => {}
            Timer::Ping => {
                if self.session.is_open() {
                    self.session.ping(b"netkit", &mut self.entropy);
                    self.flush(cx)?;
                    if let Some(d) = self.args.limits.ping_interval {
                        arm(cx, d, Timer::Ping);
                    }
                }
            }
            Timer::Idle => {
                if let Some(d) = self.args.limits.idle_timeout {
                    // A deadline too far to represent never comes.
                    let Some(deadline) = self.last_active.checked_add(d) else {
                        return Ok(());
                    };
                    if cx.now >= deadline {
                        let why = format!(
                            "idle timeout: no message either way for {}",
                            humantime::format_duration(d)
                        );
                        self.close(
                            cx,
                            code::NORMAL,
                            "idle",
                            Err(Error::timeout(self.url.clone(), why)),
                        );
                        self.flush(cx)?;
                    } else {
                        cx.timers.add(deadline, Timer::Idle);
                    }
                }
            }
            Timer::CloseWait => {
                if self.session.is_closing() {
                    self.session.abort();
                    self.exit = Some(Err(Error::timeout(
                        self.url.clone(),
                        format!(
                            "the server did not answer Close within {}",
                            humantime::format_duration(CLOSE_WAIT)
                        ),
                    )));
                }
            }
            Timer::Linger => {
                if let Some(ending) = self.ending.take() {
                    self.exit = Some(ending);
                }
            }
            Timer::Quiet => {
                self.quiet_armed = false;
                if self.close_when_quiet(cx) {
                    self.pump(cx)?;
                }
            }
        }
        Ok(())
    }

    fn finished(&mut self, _cx: &mut Ctx<Timer>) -> Result<Option<Exit>> {
        match self.exit.take() {
            Some(r) => {
                self.phase = Phase::Over;
                drop(self.console.take());
                r.map(Some)
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_exit_statuses() {
        for (c, want) in [
            (1000, Exit::Ok),
            (1001, Exit::Ok),
            (1002, Exit::Protocol),
            (1003, Exit::Protocol),
            (1006, Exit::Refused),
            (1007, Exit::Protocol),
            (1008, Exit::Failed),
            (1009, Exit::Protocol),
            (1010, Exit::Protocol),
            (1011, Exit::Failed),
            (1012, Exit::Failed),
            (1013, Exit::Failed),
            (1014, Exit::Failed),
            (1015, Exit::Protocol),
            (2999, Exit::Protocol),
            (3000, Exit::Failed),
            (4999, Exit::Failed),
            (5000, Exit::Protocol),
        ] {
            assert_eq!(close_exit(c), want, "{c}");
        }
    }
}
