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
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::Token;

use super::{Entropy, CLOSE_WAIT, HIGH_WATER, LINGER, READ_BUF};
use crate::config::ws_connect::{WsConnectConfig, WsInput};
use crate::error::{describe_io, Error, Exit, Result};
use crate::event::Event;
use crate::http::client::{ClientRequest, Exchange, Settings, Step};
use crate::net::transport::Transport;
use crate::output::console::{self, Action, Command, Console};
use crate::output::Output;
use crate::proto::http::Head;
use crate::proto::lines::LineSplitter;
use crate::proto::ws::frame::{code, Role};
use crate::proto::ws::handshake;
use crate::proto::ws::session::{Message, Session, WsEvent};
use crate::reactor::buf::ReadBuf;
use crate::reactor::conn::Read;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::{Ctx, Handler, Reactor};

const STDIN: Token = Token(0);
const SIGNAL: Token = Token(1);
const SOCKET: Token = Token(2);

/// Longest payload of a ping (and of a Close: code and reason).
const MAX_CONTROL: usize = 125;
/// Longest stdin line sent as one message (longer lines are split).
const MAX_LINE: usize = 16 << 20;
/// How much of a refused upgrade's body is shown.
const REFUSAL_BODY: usize = 300;

/// Timers; those of one connection carry its number, so that a timer
/// left over from a connection before a reconnect does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WsClientTimer {
    Connect,
    Ping(u32),
    Idle(u32),
    /// Our Close went unanswered for too long.
    CloseWait(u32),
    /// After the close handshake, the server did not close TCP.
    Linger(u32),
    /// Stdin ended: has the server been quiet for `--linger`?
    Quiet(u32),
    /// `--autoreconnect`: time to connect again.
    Reconnect,
}

/// `--autoreconnect` delays: 0.5s, doubling up to 10s; back to the start
/// after a connection that stayed up for [`Backoff::STEADY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    attempt: u64,
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(10);
    const STEADY: Duration = Duration::from_secs(10);

    fn new() -> Backoff {
        Backoff {
            attempt: 0,
            next: Backoff::FIRST,
        }
    }

    /// The next attempt's number and delay; `lasted` is how long the
    /// connection that just ended was open (`None`: it never opened).
    fn next(&mut self, lasted: Option<Duration>) -> (u64, Duration) {
        if lasted.is_some_and(|d| d >= Backoff::STEADY) {
            *self = Backoff::new();
        }
        self.attempt += 1;
        let delay = self.next;
        self.next = (self.next * 2).min(Backoff::MAX);
        (self.attempt, delay)
    }
}

enum WsClientPhase {
    Handshake(Box<Exchange<WsClientTimer>>),
    Open,
    Over,
}

struct WsClient<'o> {
    cfg: WsConnectConfig,
    url: String,
    request: ClientRequest,
    key: String,
    settings: Arc<Settings>,
    phase: WsClientPhase,
    refused: Option<(Head, Vec<u8>)>,
    protocol: Option<String>,
    upgraded: bool,
    transport: Option<Transport>,
    remote: SocketAddr,
    session: Session,
    inbuf: ReadBuf,
    entropy: Entropy,
    input: WsInput,
    stdin: Option<Stdin>,
    lines: LineSplitter,
    /// Stdin lines read so far, and the first that was not UTF-8.
    line_no: u64,
    not_utf8: Option<u64>,
    warned_not_utf8: bool,
    /// `--base64` stdin lines not yet warned about: they were not base64.
    not_base64: Vec<u64>,
    console: Option<Console>,
    /// Pings sent from the console (`/ping`) whose pongs are to be shown.
    pings_asked: u32,
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
    /// A [`WsClientTimer::Quiet`] is armed.
    quiet_armed: bool,
    /// The exit status once the close handshake (or the failure) is done.
    ending: Option<Result<Exit>>,
    interrupted: bool,
    out: &'o mut Output,
    signals: Signals,
    exit: Option<Result<Exit>>,
    /// The connection's number (1 at first; one more per reconnect).
    gen: u32,
    backoff: Backoff,
    /// When the current connection opened.
    opened_at: Option<Instant>,
    /// We decided to end (a Close of ours, stdin's end): no reconnect.
    local_end: bool,
    /// Stdin reached its end.
    stdin_done: bool,
    stdin_opened: bool,
}

pub fn run(cfg: WsConnectConfig, out: &mut Output) -> anyhow::Result<Exit> {
    let mut request = cfg.request.clone();
    let entropy = Entropy::new()?;
    let key = handshake::client_key(super::os_random()?);
    for (n, v) in
        handshake::client_headers(&key, cfg.origin.as_deref(), &cfg.protocols, cfg.compress)
    {
        request.headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&n));
        request.headers.push((n, v));
    }
    let mut settings = Settings::new(&cfg.dial);
    if request.url.scheme() == "https" {
        settings.load_tls()?;
    }
    if cfg.dial.tls.insecure {
        out.warn("--insecure: the server's certificate is not verified");
    }
    let mut reactor = Reactor::new()?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let mut client = WsClient {
        url: cfg.url.clone(),
        session: Session::new(Role::Client, cfg.max_message),
        input: cfg.input,
        want: cfg.want,
        cfg,
        request,
        key,
        settings: Arc::new(settings),
        phase: WsClientPhase::Over,
        refused: None,
        protocol: None,
        upgraded: false,
        transport: None,
        remote: SocketAddr::from(([0, 0, 0, 0], 0)),
        inbuf: ReadBuf::new(READ_BUF),
        entropy,
        stdin: None,
        lines: LineSplitter::new(MAX_LINE),
        line_no: 0,
        not_utf8: None,
        warned_not_utf8: false,
        not_base64: Vec::new(),
        console: None,
        pings_asked: 0,
        received: 0,
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
        gen: 1,
        backoff: Backoff::new(),
        opened_at: None,
        local_end: false,
        stdin_done: false,
        stdin_opened: false,
    };
    let mut cx = reactor.ctx();
    client.start_handshake(&mut cx);
    // Stdin is opened once the connection is up (see `open`).
    let result = reactor.run(&mut client);
    drop(client.console.take());
    Ok(result?)
}

impl WsClient<'_> {
    /// A step of the handshake exchange.
    fn step(&mut self, step: Step) -> Result<()> {
        match step {
            Step::Connected { remote, .. } => {
                self.remote = remote;
                crate::http::client::report_link(self.out, &step)?;
            }
            Step::Retrying { .. } | Step::Secured(_) => {
                crate::http::client::report_link(self.out, &step)?;
            }
            Step::Head(head) => {
                if head.status == 101 {
                    let agreed = handshake::verify_response(
                        &head,
                        &self.key,
                        &self.cfg.protocols,
                        self.cfg.compress,
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

    /// Sends the upgrade request on a new connection.
    fn start_handshake(&mut self, cx: &mut Ctx<WsClientTimer>) {
        let settings = Arc::clone(&self.settings);
        match Exchange::start(
            cx,
            SOCKET,
            WsClientTimer::Connect,
            &self.request,
            None,
            settings,
        ) {
            Ok(ex) => {
                self.phase = WsClientPhase::Handshake(Box::new(ex));
                self.handshake(cx);
            }
            Err(e) => self.exit = Some(Err(crate::error::flatten(&e))),
        }
    }

    /// Takes the handshake's steps until it waits for the socket, then
    /// opens the session once the server agreed.
    fn handshake(&mut self, cx: &mut Ctx<WsClientTimer>) {
        while let WsClientPhase::Handshake(ex) = &mut self.phase {
            match ex.poll(cx) {
                Ok(Some(step)) => {
                    if let Err(e) = self.step(step) {
                        self.exit = Some(Err(e));
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.exit = Some(Err(crate::error::flatten(&e)));
                    return;
                }
            }
        }
        self.after_handshake_step(cx);
    }

    fn after_handshake_step(&mut self, cx: &mut Ctx<WsClientTimer>) {
        let done = matches!(&self.phase, WsClientPhase::Handshake(ex) if ex.is_done());
        if !done || !self.upgraded {
            return;
        }
        let WsClientPhase::Handshake(mut ex) =
            std::mem::replace(&mut self.phase, WsClientPhase::Open)
        else {
            return;
        };
        self.transport = ex.take_transport();
        self.inbuf.extend(&ex.take_leftover());
        if let Err(e) = self.open(cx) {
            self.exit = Some(Err(e));
        }
    }

    /// The connection is upgraded: announce it, start timers, send --send.
    fn open(&mut self, cx: &mut Ctx<WsClientTimer>) -> Result<()> {
        self.last_active = cx.now;
        self.opened_at = Some(cx.now);
        if self.session.is_closing() {
            // Stdin ended while reconnecting: its Close waits for an answer now.
            arm(cx, CLOSE_WAIT, WsClientTimer::CloseWait(self.gen));
        }
        let path = self.request.target();
        self.out.emit(&Event::WsOpen {
            id: 0,
            remote: self.remote,
            path: &path,
            protocol: self.protocol.as_deref(),
            clients: 0,
        })?;
        if let Some(warning) = protocol_warning(&self.cfg.protocols, self.protocol.as_deref()) {
            self.out.warn(&warning);
        }
        if let Some(d) = self.cfg.ping_interval {
            arm(cx, d, WsClientTimer::Ping(self.gen));
        }
        if let Some(d) = self.cfg.idle_timeout {
            arm(cx, d, WsClientTimer::Idle(self.gen));
        }
        if self.input != WsInput::Ignored && !self.stdin_opened {
            // Once: stdin stays open across reconnects.
            self.stdin_opened = true;
            let stdin = Stdin::open(cx.registry, STDIN).map_err(|e| Error::io("stdin", &e))?;
            self.stdin = Some(stdin);
        }
        if let Some(c) = &self.console {
            c.notice(&format!("reconnected to {}", self.url));
        } else if self.input == WsInput::Chat {
            let console = Console::open(self.out.color_err(), self.out.verbose())
                .map_err(|e| Error::io("terminal", &e))?;
            console.notice(&format!(
                "connected to {}{}; Ctrl-D closes, Ctrl-C leaves; /ping [text], /close [code] [reason], /binary HEX",
                self.url,
                self.protocol
                    .as_deref()
                    .map(|p| format!(" ({p})"))
                    .unwrap_or_default()
            ));
            self.console = Some(console);
        }
        let sends = std::mem::take(&mut self.cfg.send);
        for m in &sends {
            self.session.send_text(m, &mut self.entropy);
        }
        self.pump(cx)
    }

    /// Moves everything that can move: socket in, events, stdin in, socket out.
    fn pump(&mut self, cx: &mut Ctx<WsClientTimer>) -> Result<()> {
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
    fn receive(&mut self, cx: &mut Ctx<WsClientTimer>) -> Result<bool> {
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
            t.shutdown();
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
        let _ = self.report_close(&Event::WsClose {
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

    fn on_event(&mut self, cx: &mut Ctx<WsClientTimer>, ev: WsEvent) -> Result<()> {
        self.last_active = cx.now;
        match ev {
            WsEvent::Message(m) => {
                if self.want.is_some_and(|w| self.received >= w) {
                    // Past the count: the close is under way; the rest is not ours.
                    return Ok(());
                }
                self.received += 1;
                if self.cfg.echo {
                    self.session.send(&m, &mut self.entropy);
                }
                let (text, bytes) = match &m {
                    Message::Text(t) => (Some(t.as_str()), t.as_bytes()),
                    Message::Binary(b) => (None, b.as_slice()),
                };
                let b64 = (self.cfg.base64 && text.is_none()).then(|| {
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
                });
                match (&self.console, text) {
                    (Some(c), Some(t)) => c.incoming(t)?,
                    (Some(c), None) if b64.is_some() => {
                        c.incoming(b64.as_deref().unwrap_or_default())?
                    }
                    (Some(c), None) => c.incoming(&format!(
                        "[{} of binary]",
                        crate::output::units::bytes(bytes.len() as u64)
                    ))?,
                    (None, None) if !self.cfg.binary && !self.out.is_json() => {
                        // One line per incoming message, binary ones too
                        // (--binary prints them raw, a byte stream; --base64
                        // as base64).
                        let bytes = b64.as_ref().map_or(bytes, |b| b.as_bytes());
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
            WsEvent::Ping(data) => self.control("ping", &data)?,
            WsEvent::Pong(data) => self.control("pong", &data)?,
            WsEvent::Closed {
                code,
                reason,
                by_peer,
            } => {
                let by = if by_peer { "peer" } else { "local" };
                self.report_close(&Event::WsClose {
                    id: 0,
                    remote: self.remote,
                    code,
                    reason: &reason,
                    by,
                    clients: 0,
                })?;
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
                arm(cx, LINGER, WsClientTimer::Linger(self.gen));
            }
            WsEvent::Failed(e) => {
                let _ = self.report_close(&Event::WsClose {
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
                arm(cx, LINGER, WsClientTimer::Linger(self.gen));
            }
        }
        Ok(())
    }

    /// Whether the end `r` of a connection calls for another one: with
    /// `--autoreconnect`, unless we ended it (our Close, stdin's end, -c,
    /// Ctrl-C) or the command line is at fault.
    fn reconnects(&self, r: &Result<Exit>) -> bool {
        self.cfg.autoreconnect
            && !self.local_end
            && !self.stdin_done
            && !self.interrupted
            && !matches!(r, Err(e) if e.kind == Exit::Usage)
    }

    /// Drops what is left of the connection, says why and when the next
    /// attempt comes, and arms it. Stdin stays open: what it brings
    /// meanwhile is queued (up to the usual bound) for the next connection.
    fn schedule_reconnect(&mut self, cx: &mut Ctx<WsClientTimer>, r: &Result<Exit>) -> Result<()> {
        if let WsClientPhase::Handshake(mut ex) =
            std::mem::replace(&mut self.phase, WsClientPhase::Over)
        {
            ex.abandon(cx);
        }
        if let Some(mut t) = self.transport.take() {
            let _ = cx.registry.deregister(t.stream_mut());
        }
        let lasted = self
            .opened_at
            .take()
            .map(|t| cx.now.saturating_duration_since(t));
        let (attempt, delay) = self.backoff.next(lasted);
        let reason = match r {
            Ok(_) => "the server closed the connection".to_string(),
            Err(e) => e.why.clone(),
        };
        if let Some(c) = &self.console {
            c.clear();
        }
        self.out.emit(&Event::Reconnect {
            attempt,
            delay,
            url: &self.url,
            reason: &reason,
        })?;
        if let Some(c) = &self.console {
            c.redraw();
        }
        self.gen = self.gen.wrapping_add(1);
        self.session = Session::new(Role::Client, self.cfg.max_message);
        self.inbuf = ReadBuf::new(READ_BUF);
        self.refused = None;
        self.protocol = None;
        self.upgraded = false;
        self.ending = None;
        self.close_pending = false;
        self.quiet_from = None;
        self.quiet_armed = false;
        arm(cx, delay, WsClientTimer::Reconnect);
        Ok(())
    }

    /// Starts the next connection: a fresh key, the same request.
    fn reconnect(&mut self, cx: &mut Ctx<WsClientTimer>) {
        let key = match super::os_random() {
            Ok(r) => handshake::client_key(r),
            Err(e) => {
                self.exit = Some(Err(e));
                return;
            }
        };
        for (n, v) in handshake::client_headers(
            &key,
            self.cfg.origin.as_deref(),
            &self.cfg.protocols,
            self.cfg.compress,
        ) {
            self.request
                .headers
                .retain(|(h, _)| !h.eq_ignore_ascii_case(&n));
            self.request.headers.push((n, v));
        }
        self.key = key;
        self.start_handshake(cx);
    }

    /// A ping or pong received: shown with `-P`, and a pong answering the
    /// console's `/ping` always.
    fn control(&mut self, kind: &'static str, data: &[u8]) -> Result<()> {
        let asked = kind == "pong" && self.pings_asked > 0;
        if asked {
            self.pings_asked -= 1;
        }
        if !self.cfg.show_ping_pong && !asked {
            return Ok(());
        }
        match &self.console {
            Some(c) if data.is_empty() => c.notice(&format!("received {kind}")),
            Some(c) => c.notice(&format!(
                "received {kind}: {}",
                String::from_utf8_lossy(data)
            )),
            None => self.out.emit(&Event::WsControl { id: 0, kind, data })?,
        }
        Ok(())
    }

    /// Starts the close handshake; `then` is the exit status once it is done.
    fn close(&mut self, cx: &mut Ctx<WsClientTimer>, c: u16, reason: &str, then: Result<Exit>) {
        self.local_end = true;
        if self.session.is_open() {
            self.session.close(c, reason, &mut self.entropy);
            self.ending = Some(then);
            // Between connections (--autoreconnect) the wait starts once
            // the next one is open.
            if matches!(self.phase, WsClientPhase::Open) {
                arm(cx, CLOSE_WAIT, WsClientTimer::CloseWait(self.gen));
            }
        }
        if let Some(mut s) = self.stdin.take() {
            s.close();
        }
    }

    /// A line typed on the console: text to send, or a slash command.
    /// Returns whether it closed the connection.
    fn chat_line(&mut self, cx: &mut Ctx<WsClientTimer>, line: &str) -> Result<bool> {
        let Some(c) = &self.console else {
            return Ok(false);
        };
        match console::command(line) {
            Command::Send(text) if text.is_empty() => {}
            Command::Send(text) => {
                self.session.send_text(&text, &mut self.entropy);
                c.outgoing(&text)?;
            }
            Command::Ping(text) if text.len() > MAX_CONTROL => {
                c.notice(&format!("/ping: at most {MAX_CONTROL} bytes"))
            }
            Command::Ping(text) => {
                self.session.ping(text.as_bytes(), &mut self.entropy);
                self.pings_asked = self.pings_asked.saturating_add(1);
                if text.is_empty() {
                    c.notice("sent ping");
                } else {
                    c.notice(&format!("sent ping: {text}"));
                }
            }
            Command::Close(_, reason) if reason.len() > MAX_CONTROL - 2 => c.notice(&format!(
                "/close: a reason of at most {} bytes",
                MAX_CONTROL - 2
            )),
            Command::Close(code, reason) => {
                self.close(cx, code, &reason, Ok(Exit::Ok));
                return Ok(true);
            }
            Command::Binary(bytes) => {
                self.session.send_binary(&bytes, &mut self.entropy);
                c.outgoing(&format!(
                    "[{} of binary]",
                    crate::output::units::bytes(bytes.len() as u64)
                ))?;
            }
            Command::Invalid(why) => c.notice(&why),
        }
        Ok(false)
    }

    /// Reports the end of the connection; on the console, the prompt line
    /// is cleared first (and not drawn again: the session is over).
    fn report_close(&mut self, ev: &Event) -> Result<()> {
        if let Some(c) = &self.console {
            c.clear();
        }
        self.out.emit(ev)
    }

    /// Reads stdin while the send queue has room.
    fn read_stdin(&mut self, cx: &mut Ctx<WsClientTimer>) -> Result<bool> {
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
                        WsInput::Binary => self.session.send_binary(data, &mut self.entropy),
                        WsInput::Lines => {
                            let (session, entropy) = (&mut self.session, &mut self.entropy);
                            let (line_no, not_utf8) = (&mut self.line_no, &mut self.not_utf8);
                            let base64 = self.cfg.base64.then_some(&mut self.not_base64);
                            let mut base64 = base64;
                            self.lines.push(data, |line| match base64.as_deref_mut() {
                                Some(bad) => send_base64(session, entropy, line, line_no, bad),
                                None => send_line(session, entropy, line, line_no, not_utf8),
                            });
                            self.warn_not_utf8();
                        }
                        WsInput::Chat => {
                            let actions = match self.console.as_mut() {
                                Some(c) => c.input(data),
                                None => Vec::new(),
                            };
                            for a in actions {
                                match a {
                                    Action::Submit(line) => {
                                        if self.chat_line(cx, &line)? {
                                            return Ok(true);
                                        }
                                    }
                                    Action::Eof => {
                                        self.close(cx, code::NORMAL, "", Ok(Exit::Ok));
                                        return Ok(true);
                                    }
                                }
                            }
                        }
                        WsInput::Ignored => {}
                    }
                }
                Ok(Read::WouldBlock) => return Ok(progress),
                Ok(Read::Eof) => {
                    self.stdin_done = true;
                    if let Some(rest) = self.lines.finish() {
                        if self.cfg.base64 {
                            send_base64(
                                &mut self.session,
                                &mut self.entropy,
                                &rest,
                                &mut self.line_no,
                                &mut self.not_base64,
                            );
                        } else {
                            send_line(
                                &mut self.session,
                                &mut self.entropy,
                                &rest,
                                &mut self.line_no,
                                &mut self.not_utf8,
                            );
                        }
                        self.warn_not_utf8();
                    }
                    if let Some(mut s) = self.stdin.take() {
                        s.close();
                    }
                    if self.want.is_some() || self.cfg.no_close {
                        // -c N: the Nth incoming message closes, not stdin;
                        // --no-close: the server does.
                    } else if self.cfg.linger.is_zero() {
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
    fn close_when_quiet(&mut self, cx: &mut Ctx<WsClientTimer>) -> bool {
        if !self.close_pending || !self.session.is_open() || self.backlog() > 0 {
            return false;
        }
        let from = *self.quiet_from.get_or_insert(cx.now);
        // A linger too long to represent never ends: no Close of ours.
        let Some(deadline) = from.max(self.last_rx).checked_add(self.cfg.linger) else {
            return false;
        };
        if cx.now >= deadline {
            self.close_pending = false;
            self.close(cx, code::NORMAL, "", Ok(Exit::Ok));
            return true;
        }
        if !self.quiet_armed {
            self.quiet_armed = true;
            cx.timers.add(deadline, WsClientTimer::Quiet(self.gen));
        }
        false
    }

    /// Says once that stdin lines that are not UTF-8 go out as binary, and
    /// names every line that was not base64 (`--base64`).
    fn warn_not_utf8(&mut self) {
        for n in std::mem::take(&mut self.not_base64) {
            self.out
                .warn(&format!("stdin line {n} is not base64 (skipped)"));
        }
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
    fn flush(&mut self, cx: &mut Ctx<WsClientTimer>) -> Result<()> {
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

/// What to say when the subprotocol chosen is not the first one asked for
/// (none chosen, or a later choice); a choice never offered is refused
/// earlier, in the handshake.
fn protocol_warning(asked: &[String], chosen: Option<&str>) -> Option<String> {
    let first = asked.first()?;
    match chosen {
        None => Some(format!(
            "the server chose no subprotocol (asked for {})",
            asked.join(", ")
        )),
        Some(p) if p != first => Some(format!(
            "the server chose subprotocol {p}, not {first} (the first asked for)"
        )),
        Some(_) => None,
    }
}

/// Arms `timer` to fire `d` from now; a `d` too long to represent (a huge
/// `--idle-timeout` or `--ping-interval`) means no deadline at all.
fn arm(cx: &mut Ctx<WsClientTimer>, d: Duration, timer: WsClientTimer) {
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

/// How `--base64` lines are read: the standard alphabet, padding optional.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Most `--base64` lines that were not base64 remembered between warnings.
const MAX_BAD_LINES: usize = 64;

/// Sends stdin line number `line_no + 1`, base64, as the binary message
/// it decodes to; a line that is not base64 is skipped and its number
/// noted in `bad` (for a warning).
fn send_base64(
    session: &mut Session,
    entropy: &mut Entropy,
    line: &[u8],
    line_no: &mut u64,
    bad: &mut Vec<u64>,
) {
    *line_no += 1;
    match base64::Engine::decode(&BASE64, line.trim_ascii()) {
        Ok(bytes) => session.send_binary(&bytes, entropy),
        Err(_) if bad.len() < MAX_BAD_LINES => bad.push(*line_no),
        Err(_) => {}
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

impl Handler for WsClient<'_> {
    type Timer = WsClientTimer;

    fn ready(&mut self, cx: &mut Ctx<WsClientTimer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            SOCKET => match std::mem::replace(&mut self.phase, WsClientPhase::Over) {
                WsClientPhase::Handshake(mut ex) => {
                    ex.ready(cx, event);
                    self.phase = WsClientPhase::Handshake(ex);
                    self.handshake(cx);
                }
                WsClientPhase::Open => {
                    self.phase = WsClientPhase::Open;
                    if let Some(t) = self.transport.as_mut() {
                        t.ready(event);
                    }
                    if let Err(e) = self.pump(cx) {
                        self.exit = Some(Err(e));
                    }
                }
                WsClientPhase::Over => {}
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
                if self.interrupted || !matches!(self.phase, WsClientPhase::Open) {
                    self.interrupted = true;
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

    fn timeout(&mut self, cx: &mut Ctx<WsClientTimer>, timer: WsClientTimer) -> Result<()> {
        match timer {
            WsClientTimer::Connect if matches!(self.phase, WsClientPhase::Handshake(_)) => {
                if let WsClientPhase::Handshake(ex) = &mut self.phase {
                    ex.timed_out(cx);
                    self.handshake(cx);
                }
            }
            WsClientTimer::Connect => {}
            WsClientTimer::Ping(g)
            | WsClientTimer::Idle(g)
            | WsClientTimer::CloseWait(g)
            | WsClientTimer::Linger(g)
            | WsClientTimer::Quiet(g)
                if g != self.gen => {}
            WsClientTimer::Reconnect => self.reconnect(cx),
            WsClientTimer::Ping(_) => {
                if self.session.is_open() {
                    self.session.ping(b"netkit", &mut self.entropy);
                    self.flush(cx)?;
                    if let Some(d) = self.cfg.ping_interval {
                        arm(cx, d, WsClientTimer::Ping(self.gen));
                    }
                }
            }
            WsClientTimer::Idle(_) => {
                if let Some(d) = self.cfg.idle_timeout {
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
                        cx.timers.add(deadline, WsClientTimer::Idle(self.gen));
                    }
                }
            }
            WsClientTimer::CloseWait(_) => {
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
            WsClientTimer::Linger(_) => {
                if let Some(ending) = self.ending.take() {
                    self.exit = Some(ending);
                }
            }
            WsClientTimer::Quiet(_) => {
                self.quiet_armed = false;
                if self.close_when_quiet(cx) {
                    self.pump(cx)?;
                }
            }
        }
        Ok(())
    }

    fn finished(&mut self, cx: &mut Ctx<WsClientTimer>) -> Result<Option<Exit>> {
        match self.exit.take() {
            Some(r) if self.reconnects(&r) => {
                self.schedule_reconnect(cx, &r)?;
                Ok(None)
            }
            Some(r) => {
                self.phase = WsClientPhase::Over;
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
    fn backoff_doubles_to_ten_seconds_and_resets_after_a_steady_connection() {
        let mut b = Backoff::new();
        let ms = Duration::from_millis;
        let got: Vec<(u64, Duration)> = (0..7).map(|_| b.next(None)).collect();
        assert_eq!(
            got,
            vec![
                (1, ms(500)),
                (2, ms(1000)),
                (3, ms(2000)),
                (4, ms(4000)),
                (5, ms(8000)),
                (6, ms(10000)),
                (7, ms(10000)),
            ]
        );
        assert_eq!(b.next(Some(ms(9_999))), (8, ms(10000)));
        assert_eq!(b.next(Some(Backoff::STEADY)), (1, ms(500)));
        assert_eq!(b.next(Some(ms(100))), (2, ms(1000)));
    }

    #[test]
    fn subprotocol_warnings() {
        let asked = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(protocol_warning(&[], None), None);
        assert_eq!(protocol_warning(&asked(&["a"]), Some("a")), None);
        assert_eq!(
            protocol_warning(&asked(&["a", "b"]), None).as_deref(),
            Some("the server chose no subprotocol (asked for a, b)")
        );
        assert_eq!(
            protocol_warning(&asked(&["a", "b"]), Some("b")).as_deref(),
            Some("the server chose subprotocol b, not a (the first asked for)")
        );
    }

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
