//! The events drivers emit.
//!
//! Drivers never print. They describe what happened as an [`Event`] and hand
//! it to the [`crate::output::Output`], whose sink decides how it looks: a
//! human line on stderr (or the data itself on stdout), or one NDJSON object.
//! Events borrow their payloads, so emitting one allocates nothing.

use std::net::SocketAddr;
use std::time::Duration;

pub use crate::net::Peer;

/// Identifies a connection within one run (1, 2, 3... in accept order).
pub type ConnId = u64;

/// Who or what ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closer {
    /// The peer closed its side cleanly.
    Peer,
    /// We closed it (stdin EOF, end of a check, shutdown).
    Local,
    /// No byte moved for --idle-timeout.
    Idle,
    /// The client stopped reading and its queue went over the limit.
    Overflow,
    /// A socket error (reset, unreachable).
    Error,
    /// SIGINT.
    Interrupted,
    /// The connection ended without the protocol's goodbye (a WebSocket
    /// without its Close frame).
    Abnormal,
    /// A handshake was refused (a WebSocket upgrade answered 4xx).
    Refused,
}

impl Closer {
    pub fn as_str(self) -> &'static str {
        match self {
            Closer::Peer => "peer",
            Closer::Local => "local",
            Closer::Idle => "idle",
            Closer::Overflow => "overflow",
            Closer::Error => "error",
            Closer::Interrupted => "interrupted",
            Closer::Abnormal => "abnormal",
            Closer::Refused => "refused",
        }
    }
}

/// What `tcp check` found on one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortState {
    Open,
    Closed,
    Timeout,
}

impl PortState {
    pub fn as_str(self) -> &'static str {
        match self {
            PortState::Open => "open",
            PortState::Closed => "closed",
            PortState::Timeout => "timeout",
        }
    }
}

/// Cumulative times from the start of one HTTP exchange (curl's `-w` names).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HttpTiming {
    pub namelookup: Duration,
    pub connect: Duration,
    pub appconnect: Duration,
    pub pretransfer: Duration,
    pub starttransfer: Duration,
    pub total: Duration,
}

/// Everything known about a finished HTTP request.
#[derive(Debug, Clone, Default)]
pub struct HttpReport {
    pub url: String,
    pub method: String,
    pub status: u16,
    pub reason: String,
    /// `HTTP/1.1`
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub remote: Option<SocketAddr>,
    pub size_header: u64,
    pub size_download: u64,
    pub size_upload: u64,
    pub redirects: u32,
    pub timing: HttpTiming,
    /// Time spent on the redirects before the final request.
    pub time_redirect: Duration,
    /// The body, when it is carried in the event (`--json` without `-o`).
    pub body: Option<Vec<u8>>,
    /// Render the timing breakdown (`--timing`).
    pub show_timing: bool,
}

/// What one poll found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// The first successful poll: nothing to compare with yet.
    New,
    /// The body differs from the previous one.
    Changed,
    /// Same body (by hash).
    Unchanged,
    /// 304: the server says it did not change.
    NotModified,
    /// A TCP probe connected.
    Up,
    /// An error: refused, timeout, 5xx, malformed response.
    Failed,
}

impl PollOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            PollOutcome::New => "new",
            PollOutcome::Changed => "changed",
            PollOutcome::Unchanged => "unchanged",
            PollOutcome::NotModified => "not_modified",
            PollOutcome::Up => "up",
            PollOutcome::Failed => "error",
        }
    }
}

/// One poll.
#[derive(Debug, Clone)]
pub struct PollRecord {
    pub seq: u64,
    pub url: String,
    pub status: Option<u16>,
    pub size: u64,
    pub latency: Duration,
    pub outcome: PollOutcome,
    pub error: Option<String>,
    /// After an error: when the next poll leaves (backoff).
    pub retry_in: Option<Duration>,
    /// Human mode: the line goes to stderr (stdout carries bodies).
    pub to_stderr: bool,
}

/// One transport's result of `netkit bench` (latencies in seconds).
#[derive(Debug, Clone)]
pub struct BenchRecord {
    pub transport: &'static str,
    pub clients: u64,
    pub messages: u64,
    pub latency_p50: f64,
    pub latency_p95: f64,
    pub latency_p99: f64,
    pub latency_max: f64,
    pub requests: u64,
    pub empty_responses: u64,
    pub requests_per_message: f64,
    pub bytes_per_message: f64,
    pub lost: u64,
    pub duplicated: u64,
    pub connections: u64,
    /// The first row: the table's header goes before it.
    pub header: bool,
}

/// The end of a polling run.
#[derive(Debug, Clone)]
pub struct PollSummary {
    pub requests: u64,
    /// The first poll that brought a body.
    pub new: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// TCP probes that connected.
    pub up: u64,
    pub errors: u64,
    pub bytes: u64,
    pub min: Option<Duration>,
    pub p50: Option<Duration>,
    pub p95: Option<Duration>,
    pub max: Option<Duration>,
    /// Share of polls that succeeded, in percent (`None` without polls).
    pub uptime: Option<f64>,
    /// Share of successful polls that brought nothing new, in percent
    /// (`None` when no poll succeeded).
    pub nothing_new: Option<f64>,
    pub elapsed: Duration,
    /// Recent latencies as a sparkline (shown on a terminal).
    pub sparkline: Option<String>,
}

/// A request served by `http listen`.
#[derive(Debug, Clone)]
pub struct HttpRequestRecord<'a> {
    pub id: ConnId,
    pub remote: SocketAddr,
    pub method: &'a str,
    /// The request target as sent.
    pub target: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The status answered.
    pub status: u16,
    /// Human mode: a one-line log on stderr instead of the request on stdout.
    pub brief: bool,
}

/// What `tls check` found out about one server.
#[derive(Debug, Clone)]
pub struct TlsReport {
    pub host: String,
    pub port: u16,
    pub addr: SocketAddr,
    pub session: crate::net::tls::SessionInfo,
    /// The certificates the server sent, its own first.
    pub chain: Vec<crate::net::tls::CertInfo>,
    /// Whole days until the server's certificate expires (negative: expired).
    pub days_left: Option<i64>,
    /// Why the chain is not trusted; `None` when it verifies.
    pub error: Option<String>,
}

/// Something worth reporting.
#[derive(Debug)]
pub enum Event<'a> {
    /// A request served by `http listen`.
    HttpRequest(&'a HttpRequestRecord<'a>),
    /// A listener is bound (the port is the real one when 0 was asked for).
    Listening {
        addr: Peer,
    },
    /// A host name resolved (verbose).
    Resolved {
        host: &'a str,
        addrs: &'a [SocketAddr],
    },
    /// An address failed to connect and the next will be tried (verbose).
    ConnectFailed {
        addr: SocketAddr,
        why: &'a str,
    },
    /// A connection is up: made by us (`accepted == false`) or accepted.
    Connected {
        id: ConnId,
        local: Peer,
        remote: Peer,
        accepted: bool,
        /// How long connect() took (outgoing connections only).
        time: Option<Duration>,
        /// Clients connected now, this one included (listeners only).
        clients: usize,
    },
    /// A connection was refused by policy (e.g. --max-clients).
    Rejected {
        remote: Peer,
        reason: &'a str,
    },
    /// Bytes received from a peer: the payload itself, destined for stdout.
    Data {
        id: ConnId,
        peer: Peer,
        bytes: &'a [u8],
    },
    /// A connection ended.
    Closed {
        id: ConnId,
        remote: Peer,
        by: Closer,
        sent: u64,
        received: u64,
        duration: Duration,
        reason: Option<&'a str>,
        /// Clients still connected (listeners only).
        clients: usize,
    },
    /// A chat line relayed in a `--chat` room (console shows the room).
    Chat {
        from: &'a str,
        text: &'a str,
    },
    /// Someone entered a chat room.
    Joined {
        name: &'a str,
        remote: Peer,
        clients: usize,
    },
    /// Someone left a chat room.
    Left {
        name: &'a str,
        clients: usize,
        reason: Option<&'a str>,
    },
    /// The result for one port of `tcp check`.
    Check {
        host: &'a str,
        addr: SocketAddr,
        state: PortState,
        time: Option<Duration>,
        error: Option<&'a str>,
    },
    /// A datagram received (or a reply to one we sent).
    Datagram {
        from: SocketAddr,
        bytes: &'a [u8],
    },
    /// A datagram sent (verbose; JSON).
    Sent {
        to: SocketAddr,
        length: usize,
    },
    /// Totals at the end of a UDP run.
    UdpSummary {
        sent: u64,
        received: u64,
        bytes_sent: u64,
        bytes_received: u64,
        elapsed: Duration,
        /// Datagrams the kernel dropped for lack of buffer, where it says.
        drops: Option<u64>,
    },
    /// A request or response head, line by line (`-v`).
    HttpHead {
        sent: bool,
        lines: &'a [String],
    },
    /// A finished HTTP request.
    HttpResponse(&'a HttpReport),
    /// `http --retry`: the attempt failed and another one follows after `delay`.
    HttpRetry {
        url: &'a str,
        /// The retry about to be made: 1, 2, ...
        attempt: u32,
        retries_left: u32,
        delay: Duration,
        /// The status (`503`) or the error.
        reason: &'a str,
    },
    /// A WebSocket handshake completed.
    WsOpen {
        id: ConnId,
        remote: SocketAddr,
        path: &'a str,
        protocol: Option<&'a str>,
        clients: usize,
    },
    /// A WebSocket message: `text` for text messages, else binary `bytes`.
    Message {
        id: ConnId,
        text: Option<&'a str>,
        bytes: &'a [u8],
    },
    /// A WebSocket connection ended.
    WsClose {
        id: ConnId,
        remote: SocketAddr,
        /// The peer's close code (None: no Close frame, or one without a code).
        code: Option<u16>,
        reason: &'a str,
        /// `peer`, `local`, `error` (protocol violation), `abnormal` (no Close)...
        by: &'a str,
        clients: usize,
    },
    /// A WebSocket ping or pong received (`ws connect -P`).
    WsControl {
        id: ConnId,
        /// `ping` or `pong`: also the JSON event name.
        kind: &'static str,
        data: &'a [u8],
    },
    /// `ws connect --autoreconnect`: the connection ended; attempt number
    /// `attempt` starts after `delay`.
    Reconnect {
        attempt: u64,
        delay: Duration,
        url: &'a str,
        reason: &'a str,
    },
    /// One poll of `netkit poll`.
    PollResult(&'a PollRecord),
    /// Totals at the end of `netkit poll`.
    PollSummary(&'a PollSummary),
    /// The result for one server of `tls check`.
    TlsCert(&'a TlsReport),
    /// A TLS session is up (`tcp connect --tls`, verbose).
    TlsSession(&'a crate::net::tls::SessionInfo),
    /// A connected client's TLS session is up, seen by the server (`tcp
    /// listen --tls-cert` with a server mode).
    PeerTls {
        id: ConnId,
        remote: Peer,
        info: &'a crate::net::tls::SessionInfo,
    },
    BenchResult(&'a BenchRecord),
    /// A process run for a connection (`-e`, `--sh-exec`) ended.
    ExecExit {
        /// The connection it served.
        id: ConnId,
        pid: u32,
        /// The command as given.
        command: &'a str,
        /// Its exit status, when it exited.
        code: Option<i32>,
        /// The signal that killed it, when one did.
        signal: Option<i32>,
    },
    /// Totals at the end of `tcp check`.
    CheckSummary {
        open: usize,
        closed: usize,
        timeout: usize,
        elapsed: Duration,
    },
    /// A client's connection is up (`http`, `poll`, `ws connect`; verbose
    /// for people): `reused` when a kept-alive one carries the request.
    ClientConnected {
        local: SocketAddr,
        remote: SocketAddr,
        reused: bool,
    },
    /// A client's TLS session is up (`http`, `poll`, `ws connect`).
    ClientTls(&'a crate::net::tls::SessionInfo),
    /// Bytes asked for on stdout as they are (`-i` and `-D -` heads, `-w`,
    /// `-c -`, `--changes` bodies): the human sink writes them untouched,
    /// the JSON sink carries them (`text` or `bytes`) in an event named `kind`.
    Verbatim {
        kind: &'static str,
        bytes: &'a [u8],
    },
}

impl Event<'_> {
    /// The `"event"` name in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Listening { .. } => "listening",
            Event::Resolved { .. } => "resolved",
            Event::ConnectFailed { .. } => "connect_failed",
            Event::Connected { .. } => "connected",
            Event::Rejected { .. } => "rejected",
            Event::Data { .. } => "data",
            Event::Closed { .. } => "closed",
            Event::Chat { .. } => "chat",
            Event::Joined { .. } => "join",
            Event::Left { .. } => "leave",
            Event::Check { .. } => "check",
            Event::ExecExit { .. } => "exec_exit",
            Event::BenchResult(_) => "bench_result",
            Event::CheckSummary { .. } | Event::UdpSummary { .. } | Event::PollSummary(_) => {
                "summary"
            }
            Event::PollResult(_) => "poll_result",
            Event::WsOpen { .. } => "open",
            Event::Message { .. } => "message",
            Event::WsClose { .. } => "close",
            Event::WsControl { kind, .. } => kind,
            Event::Reconnect { .. } => "reconnect",
            Event::Datagram { .. } => "datagram",
            Event::Sent { .. } => "sent",
            Event::HttpHead { .. } => "http_head",
            Event::HttpResponse(_) => "http_response",
            Event::HttpRetry { .. } => "http_retry",
            Event::HttpRequest(_) => "request",
            Event::TlsSession(_) | Event::PeerTls { .. } => "tls_session",
            Event::TlsCert(_) => "tls_cert",
            Event::ClientConnected { .. } => "connected",
            Event::ClientTls(_) => "tls_session",
            Event::Verbatim { kind, .. } => kind,
        }
    }
}
