//! `netkit tls check HOST[:PORT]...`: a TLS handshake with every host at
//! once, then each server's chain (subject, SANs, issuer, expiry), the
//! protocol and cipher, and whether it verifies.
//!
//! Names are looked up off the loop ([`Resolver`]), at most
//! [`MAX_LOOKUPS`](crate::reactor::resolver::MAX_LOOKUPS) at once, the
//! rest queued in order; an address given literally connects at once.
//!
//! The verdict is recorded rather than enforced ([`Recorder`]), so an
//! untrusted chain is still shown; it decides the exit status instead (7,
//! unless `-k`). Results are reported in the order the hosts were given.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mio::event::Event as MioEvent;
use mio::Token;

use crate::config::tls_check::TlsCheckConfig;
use crate::error::{describe_io, exit_for_io, Error, Exit, Result};
use crate::event::{Event, TlsReport};
use crate::net;
use crate::net::proxy::{Proxy, Tunnel};
use crate::net::tls::{self as ntls, CertInfo, Recorder, TlsConn, Verifier};
use crate::net::Family;
use crate::output::Output;
use crate::reactor::conn::Conn;
use crate::reactor::connector::{Connector, Outcome};
use crate::reactor::resolver::{Lookup, Resolved, Resolver};
use crate::reactor::signal::Signals;
use crate::reactor::{Ctx, Handler, Reactor, TimerId};

const SIGNAL: Token = Token(1);
const BASE: usize = 16;

#[derive(Debug, Clone, Copy)]
enum TlsCheckTimer {
    Resolve(usize),
    Connect(usize),
    Handshake(usize),
}

enum HostPhase {
    /// Waiting for a free lookup.
    Queued,
    Resolving(Lookup),
    Connecting(Connector),
    /// Connected to the proxy (`-x`): the tunnel handshake.
    Tunnel {
        conn: Conn,
        tunnel: Tunnel,
        timer: Option<TimerId>,
    },
    Handshaking {
        tls: Box<TlsConn>,
        addr: SocketAddr,
        recorder: Arc<Recorder>,
        timer: Option<TimerId>,
    },
    Done(std::result::Result<TlsReport, Error>),
    Reported,
}

struct Host {
    host: String,
    port: u16,
    phase: HostPhase,
}

struct TlsCheck<'o> {
    hosts: Vec<Host>,
    verifier: Arc<Verifier>,
    insecure: bool,
    proxy: Option<Proxy>,
    family: Family,
    sni: Option<String>,
    alpn: Vec<Vec<u8>>,
    timeout: Duration,
    warn_days: Option<u32>,
    next_report: usize,
    exit: Exit,
    signals: Signals,
    interrupted: bool,
    out: &'o mut Output,
    buf: Vec<u8>,
    resolver: Resolver,
    /// Hosts waiting for a lookup, in order.
    queue: VecDeque<usize>,
    /// Hosts whose lookup runs (not timed out).
    resolving: usize,
}

pub fn run(cfg: TlsCheckConfig, out: &mut Output) -> Result<Exit> {
    let TlsCheckConfig {
        targets,
        family,
        connect_timeout,
        warn_days,
        proxy,
        tls: opts,
    } = cfg;
    let verifier = Arc::new(Verifier::new(opts.cacert.as_deref())?);
    if opts.insecure {
        out.warn("--insecure: untrusted certificates do not fail the check");
    }
    let mut reactor = Reactor::new()?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let mut hosts = Vec::with_capacity(targets.len());
    let mut queue = VecDeque::new();
    for (host, port) in targets {
        let (name, dial_port) = match &proxy {
            Some(p) => (p.host.clone(), p.port),
            None => (host.clone(), port),
        };
        // An address connects at once; a name waits for its lookup.
        let phase = if net::bare_host(&name).parse::<IpAddr>().is_ok() {
            match net::resolve(&name, dial_port, family) {
                Ok(addrs) => HostPhase::Connecting(Connector::new(addrs, None, connect_timeout)),
                Err(e) => return Err(e),
            }
        } else {
            queue.push_back(hosts.len());
            HostPhase::Queued
        };
        hosts.push(Host { host, port, phase });
    }
    let mut check = TlsCheck {
        hosts,
        verifier,
        insecure: opts.insecure,
        proxy,
        family,
        sni: opts.sni.clone(),
        alpn: opts.alpn.iter().map(|p| p.as_bytes().to_vec()).collect(),
        timeout: connect_timeout,
        warn_days,
        next_report: 0,
        exit: Exit::Ok,
        signals,
        interrupted: false,
        out,
        buf: vec![0; 16 * 1024],
        resolver: Resolver::default(),
        queue,
        resolving: 0,
    };
    let mut cx = reactor.ctx();
    check.start_lookups(&mut cx);
    for i in 0..check.hosts.len() {
        if let HostPhase::Connecting(c) = &mut check.hosts[i].phase {
            let outcome = c.start(&mut cx, Token(BASE + i), TlsCheckTimer::Connect(i));
            check.on_outcome(&mut cx, i, outcome);
        }
    }
    reactor.run(&mut check)
}

impl TlsCheck<'_> {
    fn target(&self, i: usize) -> String {
        let h = &self.hosts[i];
        crate::tcp::host_port(&h.host, h.port)
    }

    /// Where host `i` connects: the proxy, or the host itself.
    fn dial(&self, i: usize) -> (String, u16) {
        match &self.proxy {
            Some(p) => (net::bare_host(&p.host).to_string(), p.port),
            None => (
                net::bare_host(&self.hosts[i].host).to_string(),
                self.hosts[i].port,
            ),
        }
    }

    /// Starts the queued lookups the resolver has room for. When every
    /// slot is held by a lookup that timed out (a resolver not answering),
    /// the next host fails at once rather than wait for ever.
    fn start_lookups(&mut self, cx: &mut Ctx<TlsCheckTimer>) {
        while let Some(&i) = self.queue.front() {
            let full = self.resolver.running() >= crate::reactor::resolver::MAX_LOOKUPS;
            if full && self.resolving > 0 {
                return;
            }
            self.queue.pop_front();
            let (name, port) = self.dial(i);
            let started = self.resolver.start(
                cx,
                Token(BASE + i),
                TlsCheckTimer::Resolve(i),
                &name,
                port,
                self.timeout,
            );
            self.hosts[i].phase = match started {
                Ok(lookup) => {
                    self.resolving += 1;
                    HostPhase::Resolving(lookup)
                }
                Err(e) => HostPhase::Done(Err(net::resolve_error(&name, &e))),
            };
        }
    }

    /// Host `i`'s lookup answered: connect to what it found.
    fn resolved(
        &mut self,
        cx: &mut Ctx<TlsCheckTimer>,
        i: usize,
        result: std::io::Result<Vec<SocketAddr>>,
    ) {
        self.resolving -= 1;
        let (name, _) = self.dial(i);
        let addrs = result
            .map_err(|e| net::resolve_error(&name, &e))
            .and_then(|addrs| net::pick(&name, &addrs, self.family));
        match addrs {
            Ok(addrs) => {
                let mut c = Connector::new(addrs, None, self.timeout);
                let outcome = c.start(cx, Token(BASE + i), TlsCheckTimer::Connect(i));
                self.hosts[i].phase = HostPhase::Connecting(c);
                self.on_outcome(cx, i, outcome);
            }
            Err(e) => self.hosts[i].phase = HostPhase::Done(Err(e)),
        }
    }

    fn on_outcome(&mut self, cx: &mut Ctx<TlsCheckTimer>, i: usize, outcome: Outcome) {
        match outcome {
            Outcome::Pending => {}
            Outcome::Retrying(addr, e) => {
                let why = describe_io(&e);
                let _ = self.out.emit(&Event::ConnectFailed { addr, why: &why });
            }
            Outcome::Failed(e) => {
                let err = Error::new(
                    exit_for_io(&e),
                    format!("connect {}", self.target(i)),
                    describe_io(&e),
                );
                self.hosts[i].phase = HostPhase::Done(Err(err));
            }
            Outcome::Connected(stream, addr, _) if self.proxy.is_some() => {
                let (host, port) = (self.hosts[i].host.clone(), self.hosts[i].port);
                let tunnel = match self
                    .proxy
                    .as_ref()
                    .map(|p| p.handshake(&host, port, self.family))
                {
                    Some(Ok(t)) => t,
                    Some(Err(e)) => {
                        self.hosts[i].phase = HostPhase::Done(Err(e));
                        return;
                    }
                    None => return,
                };
                let local = stream.local_addr().unwrap_or(addr);
                self.hosts[i].phase = HostPhase::Tunnel {
                    conn: Conn::new(stream, addr, local, cx.now),
                    tunnel,
                    timer: cx
                        .timers
                        .add_after(cx.now, self.timeout, TlsCheckTimer::Handshake(i)),
                };
                self.tunnel(cx, i);
            }
            Outcome::Connected(stream, addr, _) => self.secure(cx, i, stream, addr),
        }
    }

    /// Moves a proxy handshake on; starts TLS once the tunnel is up.
    fn tunnel(&mut self, cx: &mut Ctx<TlsCheckTimer>, i: usize) {
        let HostPhase::Tunnel {
            conn,
            tunnel,
            timer,
        } = &mut self.hosts[i].phase
        else {
            return;
        };
        match tunnel.pump(conn, &mut self.buf, cx.now) {
            Ok(None) => {}
            Ok(Some(_)) => {
                if let Some(t) = timer.take() {
                    cx.timers.cancel(t);
                }
                let HostPhase::Tunnel { conn, .. } =
                    std::mem::replace(&mut self.hosts[i].phase, HostPhase::Reported)
                else {
                    return;
                };
                let addr = conn.peer;
                self.secure(cx, i, conn.stream, addr);
            }
            Err(e) => {
                let _ = cx.registry.deregister(&mut conn.stream);
                if let Some(t) = timer.take() {
                    cx.timers.cancel(t);
                }
                self.hosts[i].phase = HostPhase::Done(Err(e));
            }
        }
    }

    /// Starts the TLS handshake on a connected stream.
    fn secure(
        &mut self,
        cx: &mut Ctx<TlsCheckTimer>,
        i: usize,
        stream: mio::net::TcpStream,
        addr: SocketAddr,
    ) {
        let recorder = Arc::new(Recorder::new(self.verifier.clone()));
        let alpn: Vec<&[u8]> = self.alpn.iter().map(|p| p.as_slice()).collect();
        let name = self
            .sni
            .clone()
            .unwrap_or_else(|| self.hosts[i].host.clone());
        let tls = ntls::config_with(recorder.clone(), &alpn)
            .and_then(|config| TlsConn::new(stream, config, &name));
        self.hosts[i].phase = match tls {
            Ok(tls) => HostPhase::Handshaking {
                tls: Box::new(tls),
                addr,
                recorder,
                timer: cx
                    .timers
                    .add_after(cx.now, self.timeout, TlsCheckTimer::Handshake(i)),
            },
            Err(e) => HostPhase::Done(Err(e)),
        };
        self.drive(cx, i);
    }

    /// Moves a handshake on; records the result when it is done.
    fn drive(&mut self, cx: &mut Ctx<TlsCheckTimer>, i: usize) {
        let what = format!("TLS with {}", self.target(i));
        let (host, port) = (self.hosts[i].host.clone(), self.hosts[i].port);
        let HostPhase::Handshaking {
            tls,
            addr,
            recorder,
            timer,
        } = &mut self.hosts[i].phase
        else {
            return;
        };
        let failed = |e: &std::io::Error| match ntls::tls_failure(e) {
            Some(f) => Error::new(Exit::Tls, what.clone(), f.0.clone()),
            None => Error::new(exit_for_io(e), what.clone(), describe_io(e)),
        };
        let result = loop {
            if let Err(e) = tls.flush() {
                break Some(Err(failed(&e)));
            }
            if !tls.is_handshaking() {
                break Some(Ok(()));
            }
            match tls.read(&mut self.buf) {
                Ok(crate::reactor::conn::Read::WouldBlock) => break None,
                Ok(crate::reactor::conn::Read::Eof) => {
                    break Some(Err(Error::new(
                        Exit::Tls,
                        what.clone(),
                        "handshake failed: the server closed the connection",
                    )))
                }
                Ok(crate::reactor::conn::Read::Data(_)) => {}
                Err(e) => break Some(Err(failed(&e))),
            }
        };
        let Some(result) = result else {
            return;
        };
        if let Some(t) = timer.take() {
            cx.timers.cancel(t);
        }
        let report = result.map(|()| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let chain: Vec<CertInfo> = tls
                .peer_chain()
                .iter()
                .filter_map(|der| CertInfo::parse(der.as_ref()))
                .collect();
            let days_left = chain
                .first()
                .map(|c| (c.not_after - now).div_euclid(86_400));
            TlsReport {
                host,
                port,
                addr: *addr,
                session: tls.info(),
                chain,
                days_left,
                error: recorder.failure(),
            }
        });
        if let HostPhase::Handshaking { tls, .. } = &mut self.hosts[i].phase {
            tls.close();
            let _ = cx.registry.deregister(&mut tls.stream);
        }
        self.hosts[i].phase = HostPhase::Done(report);
    }

    /// Reports finished hosts in order; the exit status is the first
    /// failure's.
    fn report(&mut self) -> Result<()> {
        while self.next_report < self.hosts.len() {
            let i = self.next_report;
            let phase = std::mem::replace(&mut self.hosts[i].phase, HostPhase::Reported);
            let result = match phase {
                HostPhase::Done(r) => r,
                other => {
                    self.hosts[i].phase = other;
                    return Ok(());
                }
            };
            self.next_report += 1;
            let exit = match result {
                Ok(report) => {
                    self.out.emit(&Event::TlsCert(&report))?;
                    let expiring = match (self.warn_days, report.days_left) {
                        (Some(n), Some(left)) => left < i64::from(n),
                        _ => false,
                    };
                    if report.error.is_some() && !self.insecure {
                        Exit::Tls
                    } else if expiring {
                        Exit::Failed
                    } else {
                        Exit::Ok
                    }
                }
                Err(e) => {
                    self.out.error(&e);
                    e.kind
                }
            };
            if self.exit == Exit::Ok {
                self.exit = exit;
            }
        }
        Ok(())
    }
}

impl Handler for TlsCheck<'_> {
    type Timer = TlsCheckTimer;

    fn ready(&mut self, cx: &mut Ctx<TlsCheckTimer>, token: Token, event: &MioEvent) -> Result<()> {
        if token == SIGNAL {
            if self.signals.take() {
                self.interrupted = true;
            }
            return Ok(());
        }
        let Some(i) = token.0.checked_sub(BASE).filter(|i| *i < self.hosts.len()) else {
            return Ok(());
        };
        match &mut self.hosts[i].phase {
            HostPhase::Resolving(lookup) => {
                if let Resolved::Done(result) = lookup.ready(cx) {
                    self.resolved(cx, i, result);
                }
            }
            HostPhase::Connecting(c) => {
                let outcome = c.ready(cx, token, TlsCheckTimer::Connect(i));
                self.on_outcome(cx, i, outcome);
            }
            HostPhase::Tunnel { conn, .. } => {
                conn.ready(event);
                self.tunnel(cx, i);
            }
            HostPhase::Handshaking { tls, .. } => {
                tls.set_ready(
                    event.is_readable() || event.is_read_closed() || event.is_error(),
                    event.is_writable() || event.is_write_closed() || event.is_error(),
                );
                self.drive(cx, i);
            }
            _ => {}
        }
        Ok(())
    }

    fn timeout(&mut self, cx: &mut Ctx<TlsCheckTimer>, timer: TlsCheckTimer) -> Result<()> {
        match timer {
            TlsCheckTimer::Resolve(i) => {
                if let HostPhase::Resolving(lookup) = &mut self.hosts[i].phase {
                    let e = lookup.timed_out(cx);
                    self.resolving -= 1;
                    let (name, _) = self.dial(i);
                    self.hosts[i].phase = HostPhase::Done(Err(net::resolve_error(&name, &e)));
                }
            }
            TlsCheckTimer::Connect(i) => {
                if let HostPhase::Connecting(c) = &mut self.hosts[i].phase {
                    let outcome = c.timed_out(cx, Token(BASE + i), timer);
                    self.on_outcome(cx, i, outcome);
                }
            }
            TlsCheckTimer::Handshake(i) => {
                if let HostPhase::Tunnel { conn, tunnel, .. } = &mut self.hosts[i].phase {
                    let _ = cx.registry.deregister(&mut conn.stream);
                    let err = Error::timeout(
                        format!("proxy {}", tunnel.proxy()),
                        format!(
                            "no tunnel to {} after {}",
                            self.target(i),
                            humantime::format_duration(self.timeout)
                        ),
                    );
                    self.hosts[i].phase = HostPhase::Done(Err(err));
                }
                if let HostPhase::Handshaking { tls, .. } = &mut self.hosts[i].phase {
                    let _ = cx.registry.deregister(&mut tls.stream);
                    let err = Error::timeout(
                        format!("TLS with {}", self.target(i)),
                        format!(
                            "handshake timed out after {}",
                            humantime::format_duration(self.timeout)
                        ),
                    );
                    self.hosts[i].phase = HostPhase::Done(Err(err));
                }
            }
        }
        Ok(())
    }

    fn finished(&mut self, cx: &mut Ctx<TlsCheckTimer>) -> Result<Option<Exit>> {
        self.start_lookups(cx);
        self.report()?;
        if self.interrupted {
            return Ok(Some(Exit::Interrupted));
        }
        if self.next_report == self.hosts.len() {
            return Ok(Some(self.exit));
        }
        Ok(None)
    }
}
