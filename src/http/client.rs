//! One HTTP request and its response, on the reactor.
//!
//! An [`Exchange`] resolves and connects (or takes a kept-alive
//! [`Transport`]), runs the TLS handshake for https, and moves bytes
//! between the socket and the sans-IO [`RoundTrip`], reporting each [`Step`] to
//! the caller as it happens: the body streams through in slices of the read
//! buffer, never gathered. The caller forwards the connection's events and
//! the connect timer, and decides what the steps mean (print, follow a
//! redirect, hash for change detection). `netkit http`, `netkit poll` and
//! the WebSocket client's handshake share it.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::event::Event as MioEvent;
use mio::Token;
use rustls::ClientConfig;
use url::Url;

use crate::config::DialConfig;
use crate::error::{describe_io, Error, Exit, Result};
use crate::net;
use crate::net::proxy::{self, Proxy, Tunnel};
use crate::net::tls::{tls_failure, TlsConn};
use crate::net::transport::Transport;
use crate::proto::http::{Head, HttpError};
use crate::reactor::buf::ReadBuf;
use crate::reactor::conn::{Conn, Read};
use crate::reactor::connector::{Connector, Outcome};
use crate::reactor::resolver::{Lookup, Resolved, Resolver};
use crate::reactor::{Ctx, TimerId};

/// The read buffer; large enough that a fast body moves in big slices.
const BUF_SIZE: usize = 256 * 1024;

pub use crate::proto::http_client::{basic_auth, ClientRequest, Origin};
use crate::proto::http_client::{Failure, RoundTrip, RoundTripEvent, UrlError};

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Error {
        Error::usage(e.url, e.why)
    }
}

/// Parses a URL as curl would: `host:port/path` means `http://host:port/path`.
pub fn parse_url(text: &str) -> Result<Url> {
    let full = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    if full
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with('/') || rest.is_empty())
    {
        return Err(Error::usage(text, "no host in the URL"));
    }
    let url = Url::parse(&full).map_err(|e| Error::usage(text, format!("invalid URL: {e}")))?;
    Origin::of(&url)?;
    Ok(url)
}

pub use crate::event::HttpTiming as Timing;

/// What happened, in order.
#[derive(Debug)]
pub enum Step {
    /// Connected (or took a kept-alive connection).
    Connected {
        remote: SocketAddr,
        local: SocketAddr,
        reused: bool,
    },
    /// An address failed; the next one is being tried.
    Retrying { addr: SocketAddr, why: String },
    /// TLS is up: version, cipher suite, ALPN, the server's certificate.
    Secured(crate::net::tls::SessionInfo),
    /// The request is going out now.
    Sending,
    /// A 1xx response (skipped).
    Interim(Head),
    /// The response head.
    Head(Head),
    /// A slice of the body.
    Body(Vec<u8>),
    /// Trailer fields of a chunked body.
    Trailers(Vec<(String, String)>),
    /// The response is complete; `reusable`: the connection may carry another.
    Done { reusable: bool },
}

/// The connect and TLS facts of a step as events (`-v`: for people and for
/// `--json -v` alike, so `http --json` stays one event); `false` when the
/// step is not one of them.
pub fn report_link(out: &mut crate::output::Output, step: &Step) -> Result<bool> {
    use crate::event::Event;
    let verbose = out.verbose();
    match step {
        Step::Connected {
            remote,
            local,
            reused,
        } if verbose => out.emit(&Event::ClientConnected {
            local: *local,
            remote: *remote,
            reused: *reused,
        })?,
        Step::Retrying { addr, why } if verbose => {
            out.emit(&Event::ConnectFailed { addr: *addr, why })?
        }
        Step::Secured(info) if verbose => out.emit(&Event::ClientTls(info))?,
        Step::Connected { .. } | Step::Retrying { .. } | Step::Secured(_) => {}
        _ => return Ok(false),
    }
    Ok(true)
}

/// What an exchange needs to connect: the dial config from the config
/// step, and what is made of it at run time.
#[derive(Clone)]
pub struct Settings {
    /// Family, connect timeout, proxy, `--unix-socket` (connect there
    /// instead: the URL still gives Host and path), TLS options.
    pub dial: DialConfig,
    /// Required for https; see [`Settings::load_tls`].
    pub tls: Option<Arc<ClientConfig>>,
    /// Host names are looked up off the loop thread (clones share its bound).
    pub resolver: Resolver,
    /// `--resolve`: these addresses for HOST:PORT (`*` for any host).
    pub resolve: Vec<ResolveEntry>,
    /// `--connect-to`: connect elsewhere (the Host header and TLS name stay).
    pub connect_to: Vec<ConnectTo>,
}

/// `--resolve HOST:PORT:ADDR[,ADDR]...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEntry {
    pub host: String,
    pub port: u16,
    pub addrs: Vec<std::net::IpAddr>,
}

/// `--connect-to HOST1:PORT1:HOST2:PORT2`; an empty part matches any (1)
/// or keeps the original (2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    pub from_host: Option<String>,
    pub from_port: Option<u16>,
    pub to_host: Option<String>,
    pub to_port: Option<u16>,
}

/// Splits `a:b:[v6]:d` on colons outside brackets.
fn colon_fields(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn unbracket(h: &str) -> &str {
    h.strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h)
}

impl ResolveEntry {
    pub fn parse(s: &str) -> Result<ResolveEntry> {
        let bad = |why: &str| Error::usage(format!("--resolve {s}"), why.to_string());
        let f = colon_fields(s);
        if f.len() != 3 {
            return Err(bad("expected HOST:PORT:ADDR[,ADDR]..."));
        }
        let port = f[1].parse().map_err(|_| bad("bad port"))?;
        let addrs = f[2]
            .split(',')
            .map(|a| unbracket(a.trim()).parse::<std::net::IpAddr>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| bad("ADDR must be IP addresses"))?;
        if f[0].is_empty() || addrs.is_empty() {
            return Err(bad("expected HOST:PORT:ADDR[,ADDR]..."));
        }
        Ok(ResolveEntry {
            host: unbracket(f[0]).to_ascii_lowercase(),
            port,
            addrs,
        })
    }
}

impl ConnectTo {
    pub fn parse(s: &str) -> Result<ConnectTo> {
        let bad = |why: &str| Error::usage(format!("--connect-to {s}"), why.to_string());
        let f = colon_fields(s);
        if f.len() != 4 {
            return Err(bad("expected HOST1:PORT1:HOST2:PORT2 (parts may be empty)"));
        }
        let port = |p: &str| -> Result<Option<u16>> {
            if p.is_empty() {
                Ok(None)
            } else {
                p.parse().map(Some).map_err(|_| bad("bad port"))
            }
        };
        let host = |h: &str| (!h.is_empty()).then(|| unbracket(h).to_ascii_lowercase());
        Ok(ConnectTo {
            from_host: host(f[0]),
            from_port: port(f[1])?,
            to_host: host(f[2]),
            to_port: port(f[3])?,
        })
    }
}

impl Settings {
    /// Where to connect for `host:port`: `--connect-to` (the first that
    /// matches), then `--resolve` for that name (addresses, or `None` to
    /// look it up).
    fn target(&self, host: &str, port: u16) -> (String, u16, Option<Vec<SocketAddr>>) {
        let lower = host.to_ascii_lowercase();
        let (mut h, mut p) = (lower.clone(), port);
        if let Some(c) = self.connect_to.iter().find(|c| {
            c.from_host.as_ref().is_none_or(|x| *x == lower)
                && c.from_port.is_none_or(|x| x == port)
        }) {
            if let Some(t) = &c.to_host {
                h = t.clone();
            }
            if let Some(t) = c.to_port {
                p = t;
            }
        }
        let fixed = self
            .resolve
            .iter()
            .find(|r| (r.host == h || r.host == "*") && r.port == p)
            .map(|r| r.addrs.iter().map(|a| SocketAddr::new(*a, p)).collect());
        (h, p, fixed)
    }
}

impl Settings {
    pub fn new(dial: &DialConfig) -> Settings {
        Settings {
            dial: dial.clone(),
            tls: None,
            resolver: Resolver::default(),
            resolve: Vec::new(),
            connect_to: Vec::new(),
        }
    }

    /// Builds the TLS configuration once, when the first https origin needs
    /// it (plain http never pays for loading the root store).
    pub fn load_tls(&mut self) -> Result<()> {
        if self.tls.is_none() {
            self.tls = Some(crate::net::tls::client_config(
                self.dial.tls.cacert.as_deref(),
                self.dial.tls.insecure,
                &[b"http/1.1"],
            )?);
        }
        Ok(())
    }
}

enum ExchangePhase {
    /// Looking the host name up (bounded by --connect-timeout).
    Resolving(Lookup),
    Connecting(Connector),
    /// Connected to the proxy: the CONNECT or SOCKS5 handshake.
    Tunnel,
    Secure,
    Send,
    Receive,
    Done,
}

/// One request/response on the reactor: resolves, connects (or takes a
/// kept-alive connection), tunnels, runs TLS, and moves bytes between the
/// socket and the sans-IO [`RoundTrip`], which decodes the response and
/// makes the protocol's decisions. The driver forwards readiness
/// ([`Exchange::ready`]) and the connect timer ([`Exchange::timed_out`]),
/// then takes the [`Step`]s with [`Exchange::poll`] until it returns `None`.
pub struct Exchange<K> {
    origin: Origin,
    token: Token,
    key: K,
    settings: Arc<Settings>,
    round_trip: RoundTrip,
    wire_queued: bool,
    phase: ExchangePhase,
    transport: Option<Transport>,
    buf: ReadBuf,
    started: Instant,
    pub timing: Timing,
    /// The round trip judged the last failure a dead kept-alive connection.
    stale: bool,
    /// --connect-timeout also covers the TLS handshake.
    tls_timer: Option<TimerId>,
    pub remote: Option<SocketAddr>,
    /// The name being looked up (the URL's host, or --connect-to's).
    lookup_host: String,
    /// The proxy this exchange goes through, if any.
    proxy: Option<Proxy>,
    /// A plain request sent whole to an HTTP proxy (no tunnel).
    absolute: bool,
    tunnel: Option<Tunnel>,
    /// Steps not taken yet (at most a few: the exchange stops moving until
    /// they are), then the failure that ends the exchange.
    steps: VecDeque<Step>,
    failure: Option<anyhow::Error>,
}

impl<K: Copy> Exchange<K> {
    /// Begins `request`, on `reuse` if given (a connection to the same
    /// origin). Its connection uses `token`, its timer `key`.
    pub fn start(
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        request: &ClientRequest,
        reuse: Option<Transport>,
        settings: Arc<Settings>,
    ) -> anyhow::Result<Exchange<K>> {
        let origin = Origin::of(&request.url)?;
        let proxy = if settings.dial.unix_socket.is_some() {
            // As curl: the socket is the way there, no proxy.
            Ok(None)
        } else {
            proxy::choose(
                settings.dial.proxy.as_deref(),
                settings.dial.noproxy.as_deref(),
                origin.https,
                &origin.host,
                &proxy::process_env,
            )
        }?;
        // An upgrade (WebSocket) goes through a CONNECT tunnel even for
        // plain http, as curl does: proxies do not relay upgrades.
        let upgrade = request.has("upgrade");
        let absolute = proxy
            .as_ref()
            .is_some_and(|p| p.kind == proxy::ProxyKind::Http && !origin.https && !upgrade);
        let wire = match &proxy {
            Some(p) if absolute => request.encode_for_proxy(&origin, p.auth.as_ref()),
            _ => request.encode(&origin),
        };
        let head_only = request.method == "HEAD";
        let mut ex = Exchange {
            round_trip: RoundTrip::new(wire, head_only, reuse.is_some()),
            origin,
            token,
            key,
            settings,
            wire_queued: false,
            phase: ExchangePhase::Done,
            transport: None,
            buf: ReadBuf::new(BUF_SIZE),
            started: Instant::now(),
            timing: Timing::default(),
            stale: false,
            tls_timer: None,
            remote: None,
            lookup_host: String::new(),
            proxy,
            absolute,
            tunnel: None,
            steps: VecDeque::new(),
            failure: None,
        };
        match reuse {
            Some(t) => {
                if let Some((remote, local)) = t.addrs() {
                    ex.remote = Some(remote);
                    ex.steps.push_back(Step::Connected {
                        remote,
                        local,
                        reused: true,
                    });
                }
                ex.transport = Some(t);
                ex.phase = ExchangePhase::Send;
            }
            None => {
                let r = ex.connect(cx);
                ex.keep(r);
            }
        }
        Ok(ex)
    }

    /// The next step, moving the exchange as far as the socket allows;
    /// `None` when it waits for the socket (or is over). The steps queued
    /// before a failure come first, then the failure.
    pub fn poll(&mut self, cx: &mut Ctx<K>) -> anyhow::Result<Option<Step>> {
        if self.steps.is_empty() && self.failure.is_none() {
            let r = self.drive(cx);
            self.keep(r);
        }
        if let Some(step) = self.steps.pop_front() {
            return Ok(Some(step));
        }
        match self.failure.take() {
            Some(e) => {
                self.phase = ExchangePhase::Done;
                Err(e)
            }
            None => Ok(None),
        }
    }

    /// Keeps a failure for [`Exchange::poll`] to report after the steps.
    fn keep(&mut self, r: anyhow::Result<()>) {
        if let Err(e) = r {
            if self.failure.is_none() {
                self.failure = Some(e);
            }
        }
    }

    fn connect(&mut self, cx: &mut Ctx<K>) -> anyhow::Result<()> {
        let settings = Arc::clone(&self.settings);
        if let Some(path) = &settings.dial.unix_socket {
            let mut stream = net::unix::connect(path)?;
            cx.registry
                .register(
                    &mut stream,
                    self.token,
                    mio::Interest::READABLE | mio::Interest::WRITABLE,
                )
                .map_err(|e| Error::io(format!("connect {path}"), &e))?;
            self.timing.connect = self.started.elapsed();
            self.timing.appconnect = self.timing.connect;
            if self.origin.https {
                let tls = TlsConn::new(stream, tls_config(&settings)?, &self.origin.host)?;
                self.transport = Some(Transport::UnixTls(Box::new(tls)));
                self.phase = ExchangePhase::Secure;
                self.tls_timer =
                    cx.timers
                        .add_after(cx.now, settings.dial.connect_timeout, self.key);
            } else {
                let none = SocketAddr::from(([0, 0, 0, 0], 0));
                self.transport = Some(Transport::Unix(Conn::new(stream, none, none, cx.now)));
                self.phase = ExchangePhase::Send;
            }
            return Ok(());
        }
        let (host, port) = self.dial();
        let (host, port, fixed) = settings.target(&host, port);
        if let Some(addrs) = fixed {
            let addrs = net::pick(&host, &addrs, settings.dial.family)?;
            self.timing.namelookup = self.started.elapsed();
            return self.connect_to(cx, addrs);
        }
        if net::is_literal(&host) {
            let addrs = net::resolve(&host, port, settings.dial.family)?;
            self.timing.namelookup = self.started.elapsed();
            return self.connect_to(cx, addrs);
        }
        self.lookup_host = host.clone();
        let lookup = settings
            .resolver
            .start(
                cx,
                self.token,
                self.key,
                &host,
                port,
                settings.dial.connect_timeout,
            )
            .map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut => net::resolve_error(&host, &e),
                _ => Error::io(format!("resolve {host}"), &e),
            })?;
        self.phase = ExchangePhase::Resolving(lookup);
        Ok(())
    }

    /// The lookup answered (or failed).
    fn resolved(
        &mut self,
        cx: &mut Ctx<K>,
        result: io::Result<Vec<SocketAddr>>,
    ) -> anyhow::Result<()> {
        let host = self.lookup_host.clone();
        self.phase = ExchangePhase::Done;
        let addrs = result.map_err(|e| net::resolve_error(&host, &e))?;
        let addrs = net::pick(&host, &addrs, self.settings.dial.family)?;
        self.timing.namelookup = self.started.elapsed();
        self.connect_to(cx, addrs)
    }

    fn connect_to(&mut self, cx: &mut Ctx<K>, addrs: Vec<SocketAddr>) -> anyhow::Result<()> {
        let mut connector = Connector::new(addrs, None, self.settings.dial.connect_timeout);
        let outcome = connector.start(cx, self.token, self.key);
        self.phase = ExchangePhase::Connecting(connector);
        self.on_connect(cx, outcome)
    }

    /// Where to connect: the proxy, or the origin itself.
    fn dial(&self) -> (String, u16) {
        match &self.proxy {
            Some(p) => (p.host.trim_matches(['[', ']']).to_string(), p.port),
            None => (
                self.origin.host.trim_matches(['[', ']']).to_string(),
                self.origin.port,
            ),
        }
    }

    /// What a failed connect names: the proxy, or the origin.
    fn dial_name(&self) -> String {
        match &self.proxy {
            Some(p) => format!("to proxy {}", p.name()),
            None => self.origin.authority(),
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self.phase, ExchangePhase::Done)
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Response head bytes (interim heads too) and body bytes received.
    pub fn bytes_head(&self) -> u64 {
        self.round_trip.bytes_head
    }

    pub fn bytes_body(&self) -> u64 {
        self.round_trip.bytes_body
    }

    /// The connection, for reuse after a `Done { reusable: true }`.
    pub fn take_transport(&mut self) -> Option<Transport> {
        self.transport.take()
    }

    /// Bytes received after the response (a 101's first WebSocket frames).
    pub fn take_leftover(&mut self) -> Vec<u8> {
        self.buf.take()
    }

    /// Drops the connection (deregistering it) and its timers.
    pub fn abandon(&mut self, cx: &mut Ctx<K>) {
        match &mut self.phase {
            ExchangePhase::Connecting(c) => c.cancel(cx),
            ExchangePhase::Resolving(l) => l.cancel(cx),
            _ => {}
        }
        if let Some(t) = self.tls_timer.take() {
            cx.timers.cancel(t);
        }
        if let Some(mut t) = self.transport.take() {
            let _ = cx.registry.deregister(t.stream_mut());
        }
        self.phase = ExchangePhase::Done;
    }

    /// A readiness event on the exchange's token (then [`Exchange::poll`]).
    pub fn ready(&mut self, cx: &mut Ctx<K>, event: &MioEvent) {
        let r = match &mut self.phase {
            ExchangePhase::Resolving(l) => match l.ready(cx) {
                Resolved::Pending => Ok(()),
                Resolved::Done(r) => self.resolved(cx, r),
            },
            ExchangePhase::Connecting(c) => {
                let outcome = c.ready(cx, self.token, self.key);
                self.on_connect(cx, outcome)
            }
            _ => {
                if let Some(t) = self.transport.as_mut() {
                    t.ready(event);
                }
                Ok(())
            }
        };
        self.keep(r);
    }

    /// The connect timer fired (then [`Exchange::poll`]).
    pub fn timed_out(&mut self, cx: &mut Ctx<K>) {
        let r = self.timed_out_inner(cx);
        self.keep(r);
    }

    fn timed_out_inner(&mut self, cx: &mut Ctx<K>) -> anyhow::Result<()> {
        let connect_timeout = self.settings.dial.connect_timeout;
        if let ExchangePhase::Resolving(l) = &mut self.phase {
            let e = l.timed_out(cx);
            self.phase = ExchangePhase::Done;
            return Err(net::resolve_error(&self.lookup_host, &e).into());
        }
        if let ExchangePhase::Connecting(c) = &mut self.phase {
            let outcome = c.timed_out(cx, self.token, self.key);
            return self.on_connect(cx, outcome);
        }
        if matches!(self.phase, ExchangePhase::Tunnel) && self.tls_timer.take().is_some() {
            let name = self.proxy.as_ref().map(|p| p.name()).unwrap_or_default();
            return Err(Error::timeout(
                format!("proxy {name}"),
                format!(
                    "no tunnel to {} after {} (--connect-timeout)",
                    self.origin.authority(),
                    humantime::format_duration(connect_timeout)
                ),
            )
            .into());
        }
        if matches!(self.phase, ExchangePhase::Secure) && self.tls_timer.take().is_some() {
            return Err(Error::timeout(
                format!("TLS with {}", self.origin.authority()),
                format!(
                    "handshake not done after {} (--connect-timeout)",
                    humantime::format_duration(connect_timeout)
                ),
            )
            .into());
        }
        Ok(())
    }

    fn on_connect(&mut self, cx: &mut Ctx<K>, outcome: Outcome) -> anyhow::Result<()> {
        match outcome {
            Outcome::Pending => Ok(()),
            Outcome::Retrying(addr, e) => {
                self.steps.push_back(Step::Retrying {
                    addr,
                    why: describe_io(&e),
                });
                Ok(())
            }
            Outcome::Failed(e) => {
                let what = format!("connect {}", self.dial_name());
                let hint = match e.kind() {
                    io::ErrorKind::ConnectionRefused => Some("is anything listening there?"),
                    io::ErrorKind::TimedOut => {
                        Some("is the host up, or a firewall dropping packets?")
                    }
                    _ => None,
                };
                Err(match hint {
                    Some(hint) => {
                        anyhow::Error::new(Hinted::new(describe_io(&e), hint, e)).context(what)
                    }
                    None => anyhow::Error::new(e).context(what),
                })
            }
            Outcome::Connected(stream, remote, _) => {
                self.timing.connect = self.started.elapsed();
                let local = stream.local_addr().unwrap_or(remote);
                self.remote = Some(remote);
                self.steps.push_back(Step::Connected {
                    remote,
                    local,
                    reused: false,
                });
                let tunnel = match &self.proxy {
                    Some(p) if !self.absolute => Some(p.handshake(
                        &self.origin.host,
                        self.origin.port,
                        self.settings.dial.family,
                    )?),
                    _ => None,
                };
                let connect_timeout = self.settings.dial.connect_timeout;
                if let Some(tunnel) = tunnel {
                    self.tunnel = Some(tunnel);
                    self.transport =
                        Some(Transport::Plain(Conn::new(stream, remote, local, cx.now)));
                    self.phase = ExchangePhase::Tunnel;
                    self.tls_timer = cx.timers.add_after(cx.now, connect_timeout, self.key);
                } else if self.origin.https {
                    let config = tls_config(&self.settings)?;
                    let tls = TlsConn::new(stream, config, &self.origin.host)?;
                    self.transport = Some(Transport::Tls(Box::new(tls)));
                    self.phase = ExchangePhase::Secure;
                    self.tls_timer = cx.timers.add_after(cx.now, connect_timeout, self.key);
                } else {
                    self.transport =
                        Some(Transport::Plain(Conn::new(stream, remote, local, cx.now)));
                    self.timing.appconnect = self.timing.connect;
                    self.phase = ExchangePhase::Send;
                }
                Ok(())
            }
        }
    }

    /// Moves the exchange until a step is queued or the socket has no more.
    fn drive(&mut self, cx: &mut Ctx<K>) -> anyhow::Result<()> {
        let result = self.drive_inner(cx.now);
        if !matches!(self.phase, ExchangePhase::Secure | ExchangePhase::Tunnel) {
            if let Some(t) = self.tls_timer.take() {
                cx.timers.cancel(t);
            }
        }
        match result {
            Err(_) if self.stale => {
                // The kept-alive connection had died: one fresh try (the
                // fresh round trip is not retried again).
                self.stale = false;
                if let Some(mut t) = self.transport.take() {
                    let _ = cx.registry.deregister(t.stream_mut());
                }
                self.round_trip = self.round_trip.fresh();
                self.wire_queued = false;
                self.buf.take();
                self.connect(cx)?;
                if matches!(self.phase, ExchangePhase::Send | ExchangePhase::Secure)
                    && self.steps.is_empty()
                {
                    return self.drive(cx);
                }
                Ok(())
            }
            other => other,
        }
    }

    fn drive_inner(&mut self, now: Instant) -> anyhow::Result<()> {
        loop {
            if !self.steps.is_empty() {
                return Ok(());
            }
            let Some(transport) = self.transport.as_mut() else {
                return Ok(());
            };
            match self.phase {
                ExchangePhase::Resolving(_)
                | ExchangePhase::Connecting(_)
                | ExchangePhase::Done => return Ok(()),
                ExchangePhase::Tunnel => {
                    let (Transport::Plain(conn), Some(tunnel)) = (transport, self.tunnel.as_mut())
                    else {
                        return Ok(());
                    };
                    let mut buf = [0u8; 4096];
                    let Some(early) = tunnel.pump(conn, &mut buf, now)? else {
                        return Ok(());
                    };
                    self.tunnel = None;
                    if self.origin.https {
                        if !early.is_empty() {
                            return Err(protocol_error(
                                &self.origin,
                                "the server spoke before the TLS handshake",
                            )
                            .into());
                        }
                        let Some(Transport::Plain(conn)) = self.transport.take() else {
                            return Ok(());
                        };
                        let config = tls_config(&self.settings)?;
                        let tls = TlsConn::new(conn.stream, config, &self.origin.host)?;
                        self.transport = Some(Transport::Tls(Box::new(tls)));
                        self.phase = ExchangePhase::Secure;
                    } else {
                        self.buf.spare()[..early.len()].copy_from_slice(&early);
                        self.buf.filled(early.len());
                        self.timing.appconnect = self.started.elapsed();
                        self.phase = ExchangePhase::Send;
                    }
                }
                ExchangePhase::Secure => {
                    transport
                        .flush(now)
                        .map_err(|e| io_error(&self.origin, e))?;
                    if transport.handshaking() {
                        match transport.read(self.buf.spare(), now) {
                            Ok(Read::Data(n)) => self.buf.filled(n),
                            Ok(Read::WouldBlock) => {
                                if transport.handshaking() {
                                    return Ok(());
                                }
                            }
                            Ok(Read::Eof) => {
                                return Err(Error::new(
                                    Exit::Tls,
                                    format!("TLS with {}", self.origin.authority()),
                                    "handshake failed: the server closed the connection",
                                )
                                .into())
                            }
                            Err(e) => return Err(io_error(&self.origin, e)),
                        }
                        continue;
                    }
                    self.timing.appconnect = self.started.elapsed();
                    let session = match transport {
                        Transport::Tls(t) => Some(t.info()),
                        Transport::UnixTls(t) => Some(t.info()),
                        _ => None,
                    };
                    if let Some(s) = session {
                        self.steps.push_back(Step::Secured(s));
                    }
                    self.phase = ExchangePhase::Send;
                }
                ExchangePhase::Send => {
                    if !self.wire_queued {
                        self.wire_queued = true;
                        self.steps.push_back(Step::Sending);
                        let sent = transport.send(self.round_trip.wire(), now);
                        sent.map_err(|e| self.io_failure(e))?;
                    }
                    let flushed = match self.transport.as_mut() {
                        Some(t) => t.flush(now).map(|()| t.pending()),
                        None => return Ok(()),
                    };
                    if flushed.map_err(|e| self.io_failure(e))? {
                        // Watch for an early response (a 413, say) while the
                        // body goes out: read until the socket has no more.
                        while matches!(self.phase, ExchangePhase::Send)
                            && self.steps.is_empty()
                            && self.read_some(now)?
                        {}
                        if !matches!(self.phase, ExchangePhase::Send) || !self.steps.is_empty() {
                            continue;
                        }
                        return Ok(());
                    }
                    self.timing.pretransfer = self.started.elapsed();
                    self.phase = ExchangePhase::Receive;
                }
                ExchangePhase::Receive => {
                    if !self.read_some(now)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Decodes what is buffered into one step, else reads once. `false`
    /// when the socket has nothing more now (or the exchange finished).
    fn read_some(&mut self, now: Instant) -> anyhow::Result<bool> {
        let all_sent = self.transport.as_ref().is_some_and(|t| !t.pending());
        let decoded = self.round_trip.decode(self.buf.data(), all_sent);
        let (used, step) = match decoded {
            Err(e) => return Err(self.bad_response(e)),
            Ok((used, event)) => (
                used,
                event.map(|e| match e {
                    RoundTripEvent::Interim(h) => Step::Interim(h),
                    RoundTripEvent::Head(h) => Step::Head(h),
                    RoundTripEvent::Body(b) => Step::Body(b.to_vec()),
                    RoundTripEvent::Trailers(t) => Step::Trailers(t),
                    RoundTripEvent::Done { reusable } => Step::Done { reusable },
                }),
            ),
        };
        self.buf.consume(used);
        if let Some(step) = step {
            if matches!(step, Step::Done { .. }) {
                self.complete();
            }
            self.steps.push_back(step);
            return Ok(true);
        }
        if used > 0 {
            return Ok(true);
        }
        let Some(transport) = self.transport.as_mut() else {
            return Ok(false);
        };
        match transport.read(self.buf.spare(), now) {
            Ok(Read::Data(n)) => {
                if self.round_trip.received(n) {
                    self.timing.starttransfer = self.started.elapsed();
                }
                self.buf.filled(n);
                Ok(true)
            }
            Ok(Read::WouldBlock) => Ok(false),
            Ok(Read::Eof) => match self.round_trip.closed(self.buf.data()) {
                Ok(_) => {
                    self.complete();
                    self.steps.push_back(Step::Done { reusable: false });
                    Ok(false)
                }
                Err(e) => {
                    self.stale = self.round_trip.retry_fresh(Failure::Response(&e));
                    Err(self.bad_response(e))
                }
            },
            Err(e) => Err(self.io_failure(e)),
        }
    }

    /// An I/O failure of the connection, judged by the round trip (a dead
    /// kept-alive connection is retried).
    fn io_failure(&mut self, e: io::Error) -> anyhow::Error {
        self.stale = self.round_trip.retry_fresh(Failure::Io(e.kind()));
        io_error(&self.origin, e)
    }

    /// A response that is not HTTP: said plainly when it is TLS (a plain
    /// request to a TLS port gets an alert or a handshake record back).
    fn bad_response(&self, e: HttpError) -> anyhow::Error {
        let what = format!("response from {}", self.origin.authority());
        if !self.origin.https && looks_like_tls(self.buf.data()) {
            return Error::new(
                Exit::Protocol,
                what,
                "the server speaks TLS on this port; use https:// (wss:// for WebSocket)",
            )
            .into();
        }
        if !self.origin.https && !self.round_trip.got_bytes() {
            // OpenSSL servers close on a plain request without a word.
            let hint = "if this port speaks TLS, use https:// or wss://";
            return anyhow::Error::new(Hinted::new(e.to_string(), hint, e)).context(what);
        }
        anyhow::Error::new(e).context(what)
    }

    fn complete(&mut self) {
        self.timing.total = self.started.elapsed();
        if self.timing.starttransfer.is_zero() {
            self.timing.starttransfer = self.timing.total;
        }
        self.phase = ExchangePhase::Done;
    }
}

/// The kept-alive connection between exchanges (`http` redirects, `poll`):
/// one, for one origin.
#[derive(Default)]
pub struct Pool(Option<(Origin, Transport)>);

impl Pool {
    /// The kept connection if it goes to `origin`; another one is closed.
    pub fn take_for<K>(&mut self, cx: &mut Ctx<K>, origin: &Origin) -> Option<Transport> {
        match self.0.take() {
            Some((o, t)) if o == *origin => Some(t),
            Some((_, mut t)) => {
                let _ = cx.registry.deregister(t.stream_mut());
                None
            }
            None => None,
        }
    }

    /// Keeps a finished exchange's connection when the round trip said it
    /// is `reusable`, else closes it.
    pub fn keep<K: Copy>(&mut self, cx: &mut Ctx<K>, ex: &mut Exchange<K>, reusable: bool) {
        let origin = ex.origin().clone();
        match ex.take_transport() {
            Some(t) if reusable => self.0 = Some((origin, t)),
            Some(mut t) => {
                let _ = cx.registry.deregister(t.stream_mut());
            }
            None => {}
        }
    }

    /// Closes the kept connection, if any.
    pub fn close<K>(&mut self, cx: &mut Ctx<K>) {
        if let Some((_, mut t)) = self.0.take() {
            let _ = cx.registry.deregister(t.stream_mut());
        }
    }
}

fn tls_config(settings: &Settings) -> Result<Arc<ClientConfig>> {
    settings
        .tls
        .clone()
        .ok_or_else(|| Error::new(Exit::Tls, "tls", "no TLS configuration"))
}

/// The connection failed: a TLS failure (its transport carries it inside
/// the I/O error) is the session's, anything else the response's.
fn io_error(origin: &Origin, e: io::Error) -> anyhow::Error {
    let what = if tls_failure(&e).is_some() {
        format!("TLS with {}", origin.authority())
    } else {
        format!("response from {}", origin.authority())
    };
    anyhow::Error::new(e).context(what)
}

/// A cause with a hint after its words (`connection refused (is anything
/// listening there?)`); the cause stays in the chain for the exit code.
#[derive(Debug)]
pub struct Hinted {
    text: String,
    cause: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl Hinted {
    fn new(
        words: String,
        hint: &str,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Hinted {
        Hinted {
            text: format!("{words} ({hint})"),
            cause: Box::new(cause),
        }
    }
}

impl std::fmt::Display for Hinted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Hinted {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.cause)
    }
}

/// Whether `data` starts like a TLS record: an alert (0x15) or a
/// handshake (0x16), version 3.x.
pub fn looks_like_tls(data: &[u8]) -> bool {
    matches!(data, [0x15 | 0x16, 0x03, ..])
}

fn protocol_error(origin: &Origin, why: &str) -> Error {
    Error::new(
        Exit::Protocol,
        format!("response from {}", origin.authority()),
        why.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_and_connect_to_arguments() {
        let r = ResolveEntry::parse("Host.example:443:[::1],127.0.0.1").unwrap();
        assert_eq!(r.host, "host.example");
        assert_eq!(r.port, 443);
        assert_eq!(r.addrs.len(), 2);
        assert!(ResolveEntry::parse("h:80").is_err());
        assert!(ResolveEntry::parse("h:x:1.2.3.4").is_err());
        let c = ConnectTo::parse("::[::1]:8080").unwrap();
        assert_eq!((c.from_host, c.from_port), (None, None));
        assert_eq!((c.to_host.as_deref(), c.to_port), (Some("::1"), Some(8080)));
        let mut s = Settings::new(&DialConfig::new(std::time::Duration::from_secs(1)));
        s.connect_to
            .push(ConnectTo::parse("a.test:80:b.test:81").unwrap());
        s.resolve
            .push(ResolveEntry::parse("b.test:81:127.0.0.2").unwrap());
        let (h, p, fixed) = s.target("A.test", 80);
        assert_eq!((h.as_str(), p), ("b.test", 81));
        assert_eq!(fixed, Some(vec!["127.0.0.2:81".parse().unwrap()]));
        assert_eq!(s.target("a.test", 8080), ("a.test".into(), 8080, None));
    }

    #[test]
    fn tls_records_are_recognised() {
        assert!(looks_like_tls(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32]));
        assert!(looks_like_tls(&[0x16, 0x03, 0x01]));
        assert!(!looks_like_tls(b"HTTP/1.1 200 OK\r\n"));
        assert!(!looks_like_tls(&[0x15]));
        assert!(!looks_like_tls(&[]));
    }

    #[test]
    fn urls_like_curl() {
        let u = parse_url("localhost:8080/x?y=1").unwrap();
        assert_eq!(u.as_str(), "http://localhost:8080/x?y=1");
        let o = Origin::of(&parse_url("https://[::1]:8443/").unwrap()).unwrap();
        assert_eq!(
            o,
            Origin {
                https: true,
                host: "[::1]".into(),
                port: 8443
            }
        );
        assert_eq!(o.host_header(), "[::1]:8443");
        assert_eq!(
            Origin::of(&parse_url("http://h/").unwrap())
                .unwrap()
                .host_header(),
            "h"
        );
        assert_eq!(parse_url("ftp://h/").unwrap_err().kind, Exit::Usage);
        assert_eq!(parse_url("http://").unwrap_err().kind, Exit::Usage);
        assert_eq!(
            parse_url("http://exa mple.com/").unwrap_err().kind,
            Exit::Usage
        );
    }

    #[test]
    fn request_head_has_host_auth_and_length() {
        let req = ClientRequest {
            method: "POST".into(),
            url: parse_url("http://al%40ice:s%3Acret@example.org:8080/p?q").unwrap(),
            headers: vec![("Accept".into(), "*/*".into())],
            body: Arc::new(b"abc".to_vec()),
        };
        let origin = Origin::of(&req.url).unwrap();
        let wire = String::from_utf8(req.encode(&origin)).unwrap();
        assert_eq!(
            wire,
            "POST /p?q HTTP/1.1\r\nHost: example.org:8080\r\n\
             Authorization: Basic YWxAaWNlOnM6Y3JldA==\r\nAccept: */*\r\nContent-Length: 3\r\n\r\nabc"
        );
    }

    #[test]
    fn basic_auth_encoding() {
        assert_eq!(basic_auth("user", "pass"), "Basic dXNlcjpwYXNz");
    }
}
