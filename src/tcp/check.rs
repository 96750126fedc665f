//! `netkit tcp check HOST PORT|A-B ...`: concurrent zero-I/O connects.
//!
//! Up to `--concurrency` non-blocking connects are in flight; each has its own
//! `--timeout`. A port that accepts is closed at once without sending a byte.
//! Results are printed in the order the ports were given, each as soon as
//! every port before it is known, so a long scan streams its output.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::net::TcpStream;
use mio::{Interest, Token};
use slab::Slab;

use super::{CLIENT_BASE, SIGNAL};
use crate::config::port_check::{PortCheckConfig, PortReport, PortVerdict};
use crate::error::{describe_io, Error, Exit, Result};
use crate::event::{Event, PortState};
use crate::net;
use crate::output::Output;
use crate::reactor::signal::Signals;
use crate::reactor::{Ctx, Handler, Reactor, TimerId};

/// Refused sockets kept for reuse.
const SPARE_SOCKETS: usize = 8;
/// File descriptors kept free for stdio, the poll and the rest.
const FD_RESERVE: u64 = 32;

#[derive(Debug, Clone, Copy)]
struct ProbeTimer {
    key: usize,
    idx: usize,
}

struct Probe {
    idx: usize,
    stream: TcpStream,
    started: Instant,
    /// `None` when the timeout is past what an `Instant` holds: no deadline.
    timer: Option<TimerId>,
}

struct PortOutcome {
    state: PortState,
    time: Option<Duration>,
    error: Option<String>,
}

struct PortCheck<'o> {
    host: String,
    ip: IpAddr,
    ports: Vec<u16>,
    next: usize,
    inflight: Slab<Probe>,
    /// Unregistered sockets whose last connect was refused.
    spare: Vec<TcpStream>,
    results: Vec<Option<PortOutcome>>,
    emitted: usize,
    counts: [usize; 3],
    concurrency: usize,
    timeout: Duration,
    report: PortReport,
    verdict: PortVerdict,
    started: Instant,
    signals: Signals,
    out: &'o mut Output,
    interrupted: bool,
}

pub fn run(cfg: PortCheckConfig, out: &mut Output) -> Result<Exit> {
    let PortCheckConfig {
        host,
        ports,
        family,
        timeout,
        concurrency,
        report,
        verdict,
    } = cfg;
    let addrs = net::resolve(&host, ports[0], family)?;
    let ip = addrs[0].ip();
    if addrs.len() > 1 || addrs[0].ip().to_string() != host {
        out.emit(&Event::Resolved {
            host: &host,
            addrs: &addrs,
        })?;
    }
    let fd_limit = net::raise_fd_limit();
    let concurrency =
        (u64::from(concurrency)).min(fd_limit.saturating_sub(FD_RESERVE).max(1)) as usize;
    let mut reactor = Reactor::new()?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let mut check = PortCheck {
        host,
        ip,
        results: (0..ports.len()).map(|_| None).collect(),
        ports,
        next: 0,
        inflight: Slab::with_capacity(concurrency),
        spare: Vec::new(),
        emitted: 0,
        counts: [0; 3],
        concurrency,
        timeout,
        report,
        verdict,
        started: Instant::now(),
        signals,
        out,
        interrupted: false,
    };
    check.out.set_buffered(true)?;
    check.launch(&mut reactor.ctx())?;
    let result = reactor.run(&mut check);
    check.out.set_buffered(false)?;
    result
}

impl PortCheck<'_> {
    /// Starts connects until the concurrency limit.
    fn launch(&mut self, cx: &mut Ctx<ProbeTimer>) -> Result<()> {
        while self.inflight.len() < self.concurrency && self.next < self.ports.len() {
            let idx = self.next;
            let addr = SocketAddr::new(self.ip, self.ports[idx]);
            let entry = self.inflight.vacant_entry();
            let key = entry.key();
            let started = Instant::now();
            // On loopback a refusal is usually known as soon as connect()
            // returns: ask before paying for a registration and a wait, and
            // keep the refused socket for the next port (no socket()/close()
            // per closed port).
            let socket = match self.spare.pop() {
                Some(s) => net::reconnect(&s, addr).map(|()| s),
                None => net::start_connect(addr, None, false),
            };
            let begun = socket.and_then(|mut stream| match stream.take_error()? {
                Some(e) => {
                    if e.raw_os_error() == Some(libc::ECONNREFUSED)
                        && self.spare.len() < SPARE_SOCKETS
                    {
                        self.spare.push(stream);
                    }
                    Ok(Err(e))
                }
                None if stream.peer_addr().is_ok() => Ok(Ok(None)),
                None => cx
                    .registry
                    .register(&mut stream, Token(CLIENT_BASE + key), Interest::WRITABLE)
                    .map(|()| Ok(Some(stream))),
            });
            match begun {
                Ok(Ok(Some(stream))) => {
                    let timer = started
                        .checked_add(self.timeout)
                        .map(|at| cx.timers.add(at, ProbeTimer { key, idx }));
                    entry.insert(Probe {
                        idx,
                        stream,
                        started,
                        timer,
                    });
                }
                Ok(Ok(None)) => self.record(
                    idx,
                    PortOutcome {
                        state: PortState::Open,
                        time: Some(started.elapsed()),
                        error: None,
                    },
                ),
                Ok(Err(e)) => self.record(idx, outcome_of(&e)),
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                    if self.inflight.is_empty() {
                        return Err(Error::io("check", &e));
                    }
                    // Out of descriptors: go on as probes finish.
                    self.concurrency = self.inflight.len();
                    break;
                }
                Err(e) => self.record(idx, outcome_of(&e)),
            }
            self.next += 1;
        }
        self.flush()
    }

    fn complete(&mut self, cx: &mut Ctx<ProbeTimer>, key: usize, timed_out: bool) -> Result<()> {
        let Some(probe) = self.inflight.get(key) else {
            return Ok(());
        };
        let outcome = if timed_out {
            PortOutcome {
                state: PortState::Timeout,
                time: None,
                error: Some(format!(
                    "no answer in {}",
                    humantime::format_duration(self.timeout)
                )),
            }
        } else {
            match net::finish_connect(&probe.stream) {
                Ok(false) => return Ok(()),
                Ok(true) => PortOutcome {
                    state: PortState::Open,
                    time: Some(cx.now - probe.started),
                    error: None,
                },
                Err(e) => outcome_of(&e),
            }
        };
        let probe = self.inflight.remove(key);
        if !timed_out {
            if let Some(t) = probe.timer {
                cx.timers.cancel(t);
            }
        }
        // Closing the socket also takes it out of the poll.
        drop(probe.stream);
        self.record(probe.idx, outcome);
        self.launch(cx)
    }

    fn record(&mut self, idx: usize, outcome: PortOutcome) {
        self.counts[outcome.state as usize] += 1;
        self.results[idx] = Some(outcome);
    }

    /// Prints every result whose predecessors are all known.
    fn flush(&mut self) -> Result<()> {
        while let Some(Some(r)) = self.results.get(self.emitted) {
            if self.report == PortReport::All || r.state == PortState::Open {
                self.out.emit(&Event::Check {
                    host: &self.host,
                    addr: SocketAddr::new(self.ip, self.ports[self.emitted]),
                    state: r.state,
                    time: r.time,
                    error: r.error.as_deref(),
                })?;
            }
            self.results[self.emitted] = None;
            self.emitted += 1;
        }
        Ok(())
    }
}

fn outcome_of(e: &io::Error) -> PortOutcome {
    let (state, error) = match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => (PortState::Closed, "refused".to_string()),
        Some(libc::ETIMEDOUT) => (PortState::Timeout, "timed out".to_string()),
        _ => (PortState::Closed, describe_io(e)),
    };
    PortOutcome {
        state,
        time: None,
        error: Some(error),
    }
}

impl Handler for PortCheck<'_> {
    type Timer = ProbeTimer;

    fn ready(&mut self, cx: &mut Ctx<ProbeTimer>, token: Token, _event: &MioEvent) -> Result<()> {
        match token {
            SIGNAL => {
                if self.signals.take() {
                    self.interrupted = true;
                }
                Ok(())
            }
            Token(t) if t >= CLIENT_BASE => self.complete(cx, t - CLIENT_BASE, false),
            _ => Ok(()),
        }
    }

    fn timeout(&mut self, cx: &mut Ctx<ProbeTimer>, timer: ProbeTimer) -> Result<()> {
        match self.inflight.get(timer.key) {
            Some(p) if p.idx == timer.idx => self.complete(cx, timer.key, true),
            _ => Ok(()),
        }
    }

    fn finished(&mut self, _cx: &mut Ctx<ProbeTimer>) -> Result<Option<Exit>> {
        // Result lines go out once per turn of the loop, not one write each.
        self.out.flush()?;
        if self.interrupted {
            return Ok(Some(Exit::Interrupted));
        }
        if self.emitted < self.ports.len() {
            return Ok(None);
        }
        let [open, closed, timeout] = self.counts;
        if self.ports.len() > 1 || self.out.is_json() {
            self.out.emit(&Event::CheckSummary {
                open,
                closed,
                timeout,
                elapsed: self.started.elapsed(),
            })?;
        }
        Ok(Some(
            if open == self.ports.len() || self.verdict == PortVerdict::AnyOpen && open > 0 {
                Exit::Ok
            } else {
                Exit::Failed
            },
        ))
    }
}
