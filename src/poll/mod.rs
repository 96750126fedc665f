//! `netkit poll URL`: regular, conditional and long polling, and TCP probes.
//!
//! Each HTTP poll is an [`Exchange`] from `netkit http` (same flags, same
//! keep-alive connection from one poll to the next while the server allows
//! it). Polls are scheduled from their start times, so the interval does not
//! drift; a slow response delays the next poll and polls never overlap.
//! Errors (refused, timeout, 5xx, malformed) are counted, shown and backed
//! off exponentially up to `--backoff-max`; the first success returns to
//! `-n`. Bodies are hashed as they stream, never kept (except for
//! `--changes`, which prints them, up to a bound), and latencies go into a
//! fixed-size histogram: memory stays flat however long the loop runs.

mod stats;
pub use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mio::event::Event as MioEvent;
use mio::Token;

use crate::config::poll::{PollConfig, PollTarget};
use crate::error::{Error, Exit, Result};
use crate::event::{Event, PollOutcome, PollRecord, PollSummary};
use crate::http::client::{ClientRequest, Exchange, Origin, Pool, Settings, Step};
use crate::net;
use crate::output::Output;
use crate::reactor::connector::{Connector, Outcome};
use crate::reactor::signal::Signals;
use crate::reactor::timer::deadline;
use crate::reactor::{Ctx, Handler, Reactor, TimerId};
pub use stats::Stats;

const SIGNAL: Token = Token(1);
const SOCKET: Token = Token(2);

/// Most body bytes kept for `--changes` (the rest is hashed, not printed).
const MAX_CHANGES_BODY: usize = 16 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PollTimer {
    /// Time for the next poll.
    Next,
    /// The connect attempt of the poll in flight timed out.
    Connect,
    /// Poll `seq` has been outstanding for --hold-timeout.
    Hold(u64),
    MaxTime,
}

enum Target {
    Http(ClientRequest),
    Tcp { addrs: Vec<SocketAddr> },
}

enum InFlight {
    Http(Box<Exchange<PollTimer>>),
    Tcp(Connector),
}

/// What the poll in flight has seen so far.
#[derive(Default)]
struct Seen {
    status: Option<u16>,
    etag: Option<String>,
    last_modified: Option<String>,
    hasher: Option<DefaultHasher>,
    size: u64,
    body: Vec<u8>,
    /// The tail of the body, to find --until-contains across chunk boundaries.
    tail: Vec<u8>,
    contains: bool,
    done: Option<bool>,
}

struct Poller<'o> {
    cfg: PollConfig,
    target: Target,
    settings: Arc<Settings>,
    inflight: Option<InFlight>,
    seq: u64,
    poll_started: Instant,
    /// When the poll in flight was due (the schedule's reference point).
    due: Instant,
    hold: Option<TimerId>,
    errors_in_a_row: u32,
    etag: Option<String>,
    last_modified: Option<String>,
    last_hash: Option<u64>,
    seen: Seen,
    pool: Pool,
    stats: Stats,
    started: Instant,
    rng: u64,
    out: &'o mut Output,
    signals: Signals,
    /// The last failure (its exit code and text), for a run where no poll succeeded.
    last_error: Option<(Exit, String)>,
    /// Whether the summary is printed before the exit in `exit`.
    summarize: bool,
    exit: Option<Result<Exit>>,
}

pub fn run(cfg: PollConfig, out: &mut Output) -> anyhow::Result<Exit> {
    let target = match &cfg.target {
        PollTarget::Tcp { host, port } => Target::Tcp {
            addrs: net::resolve(host, *port, cfg.dial.family)?,
        },
        PollTarget::Http(req) => Target::Http(req.clone()),
    };
    let mut settings = Settings::new(&cfg.dial);
    if let Target::Http(req) = &target {
        if Origin::of(&req.url)?.https {
            settings.load_tls()?;
        }
        if cfg.dial.tls.insecure {
            out.warn("--insecure: the server's certificate is not verified");
        }
    }
    let mut reactor = Reactor::new()?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let now = Instant::now();
    if let Some(max) = cfg.max_time {
        reactor.timers.add_after(now, max, PollTimer::MaxTime);
    }
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
        ^ u64::from(std::process::id());
    let mut poller = Poller {
        cfg,
        target,
        settings: Arc::new(settings),
        inflight: None,
        seq: 0,
        poll_started: now,
        due: now,
        hold: None,
        errors_in_a_row: 0,
        etag: None,
        last_modified: None,
        last_hash: None,
        seen: Seen::default(),
        pool: Pool::default(),
        stats: Stats::default(),
        started: now,
        rng: seed | 1,
        out,
        signals,
        last_error: None,
        summarize: false,
        exit: None,
    };
    poller.launch(&mut reactor.ctx());
    Ok(reactor.run(&mut poller)?)
}

impl Poller<'_> {
    /// Sends the next poll.
    fn launch(&mut self, cx: &mut Ctx<PollTimer>) {
        self.seq += 1;
        self.poll_started = Instant::now();
        self.seen = Seen {
            hasher: Some(DefaultHasher::new()),
            ..Seen::default()
        };
        let seq = self.seq;
        self.hold = cx.timers.add_after(
            self.poll_started,
            self.cfg.hold_timeout,
            PollTimer::Hold(seq),
        );
        let started = match &self.target {
            Target::Tcp { addrs } => {
                let mut c = Connector::new(addrs.clone(), None, self.cfg.dial.connect_timeout);
                let outcome = c.start(cx, SOCKET, PollTimer::Connect);
                self.inflight = Some(InFlight::Tcp(c));
                self.tcp_outcome(cx, outcome);
                return;
            }
            Target::Http(req) => {
                let mut req = req.clone();
                if self.cfg.is_long()
                    && !req
                        .headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("prefer"))
                {
                    // RFC 7240: ask the server to answer a little before
                    // our own --hold-timeout gives up on the request.
                    let wait = self.cfg.hold_timeout.as_secs().saturating_sub(1).max(1);
                    req.headers.push(("Prefer".into(), format!("wait={wait}")));
                }
                if self.cfg.conditional {
                    if let Some(etag) = &self.etag {
                        req.headers.push(("If-None-Match".into(), etag.clone()));
                    }
                    if let Some(lm) = &self.last_modified {
                        req.headers.push(("If-Modified-Since".into(), lm.clone()));
                    }
                }
                let reuse = match Origin::of(&req.url) {
                    Ok(origin) => self.pool.take_for(cx, &origin),
                    Err(_) => {
                        self.pool.close(cx);
                        None
                    }
                };
                Exchange::start(
                    cx,
                    SOCKET,
                    PollTimer::Connect,
                    &req,
                    reuse,
                    Arc::clone(&self.settings),
                )
            }
        };
        match started {
            Ok(ex) => {
                self.inflight = Some(InFlight::Http(Box::new(ex)));
                self.pump(cx);
            }
            Err(e) => self.fail(cx, e),
        }
    }

    /// Takes the HTTP poll's steps until it waits for the socket.
    fn pump(&mut self, cx: &mut Ctx<PollTimer>) {
        while let Some(InFlight::Http(ex)) = self.inflight.as_mut() {
            match ex.poll(cx) {
                Ok(Some(step)) => {
                    if let Err(e) = Self::step(&mut self.seen, &self.cfg, self.out, step) {
                        return self.fail(cx, e);
                    }
                    self.after_http(cx);
                }
                Ok(None) => return,
                Err(e) => return self.fail(cx, e),
            }
        }
    }

    /// Records one step of an HTTP poll.
    fn step(seen: &mut Seen, cfg: &PollConfig, out: &mut Output, step: Step) -> Result<()> {
        match step {
            Step::Connected { .. } | Step::Retrying { .. } | Step::Secured(_) => {
                crate::http::client::report_link(out, &step)?;
            }
            Step::Head(h) => {
                seen.status = Some(h.status);
                seen.etag = h.header("etag").map(str::to_string);
                seen.last_modified = h.header("last-modified").map(str::to_string);
            }
            Step::Body(b) => {
                if let Some(hasher) = &mut seen.hasher {
                    hasher.write(&b);
                }
                seen.size += b.len() as u64;
                if cfg.keeps_bodies() && seen.body.len() + b.len() <= MAX_CHANGES_BODY {
                    seen.body.extend_from_slice(&b);
                }
                if let Some(needle) = &cfg.until.contains {
                    let needle = needle.as_bytes();
                    if !seen.contains && !needle.is_empty() {
                        seen.tail.extend_from_slice(&b);
                        seen.contains = seen.tail.windows(needle.len()).any(|w| w == needle);
                        let keep = needle.len().saturating_sub(1);
                        if seen.tail.len() > keep {
                            seen.tail.drain(..seen.tail.len() - keep);
                        }
                    }
                }
            }
            Step::Done { reusable } => seen.done = Some(reusable),
            _ => {}
        }
        Ok(())
    }

    /// After any exchange call: a finished response completes the poll.
    fn after_http(&mut self, cx: &mut Ctx<PollTimer>) {
        let Some(reusable) = self.seen.done.take() else {
            return;
        };
        let Some(InFlight::Http(mut ex)) = self.inflight.take() else {
            return;
        };
        self.pool.keep(cx, &mut ex, reusable);
        let status = self.seen.status.unwrap_or(0);
        if status >= 500 {
            let e = Error::new(Exit::Protocol, "", format!("server error {status}"));
            return self.complete(cx, Err(e));
        }
        // What a poll saw: its status and its body (an error page that
        // stays the same is unchanged too).
        let hash = self.seen.hasher.take().map(|mut h| {
            h.write_u16(status);
            h.finish()
        });
        // A long poll's 204 is the server's "nothing new in the hold time",
        // like a 304.
        let outcome = if status == 304 || (status == 204 && self.cfg.is_long()) {
            if status == 204 {
                // A cursor on an empty answer is still the cursor.
                if let Some(etag) = self.seen.etag.take() {
                    self.etag = Some(etag);
                }
            }
            PollOutcome::NotModified
        } else if self.cfg.is_long() && (200..300).contains(&status) {
            // In long polling every 2xx response is news, even one whose
            // body equals the last.
            self.last_hash = hash;
            self.etag = self.seen.etag.take();
            self.last_modified = self.seen.last_modified.take();
            if self.stats.new == 0 && self.stats.changed == 0 {
                PollOutcome::New
            } else {
                PollOutcome::Changed
            }
        } else {
            let previous = self.last_hash;
            self.last_hash = hash;
            if status < 300 {
                self.etag = self.seen.etag.take();
                self.last_modified = self.seen.last_modified.take();
            }
            match previous {
                None => PollOutcome::New,
                Some(p) if Some(p) != hash => PollOutcome::Changed,
                Some(_) => PollOutcome::Unchanged,
            }
        };
        self.complete(cx, Ok(outcome));
    }

    fn tcp_outcome(&mut self, cx: &mut Ctx<PollTimer>, outcome: Outcome) {
        match outcome {
            Outcome::Pending | Outcome::Retrying(..) => {}
            Outcome::Connected(mut stream, _, _) => {
                let _ = cx.registry.deregister(&mut stream);
                self.inflight = None;
                self.complete(cx, Ok(PollOutcome::Up));
            }
            Outcome::Failed(e) => {
                self.inflight = None;
                self.complete(cx, Err(Error::io("", &e)));
            }
        }
    }

    /// A poll failed: its exit code and line come from the error chain.
    fn fail(&mut self, cx: &mut Ctx<PollTimer>, e: impl Into<anyhow::Error>) {
        let e = crate::error::flatten(&e.into());
        if let Some(InFlight::Http(mut ex)) = self.inflight.take() {
            ex.abandon(cx);
        }
        if e.kind == Exit::Usage {
            self.exit = Some(Err(e));
            return;
        }
        self.complete(cx, Err(e));
    }

    /// Records a finished poll, checks the conditions and schedules the next.
    fn complete(
        &mut self,
        cx: &mut Ctx<PollTimer>,
        result: std::result::Result<PollOutcome, Error>,
    ) {
        if let Some(h) = self.hold.take() {
            cx.timers.cancel(h);
        }
        let latency = self.poll_started.elapsed();
        self.stats.requests += 1;
        self.stats.latency(latency);
        let (outcome, error) = match result {
            Ok(o) => {
                self.errors_in_a_row = 0;
                self.stats.ok += 1;
                self.stats.bytes += self.seen.size;
                match o {
                    PollOutcome::New => self.stats.new += 1,
                    PollOutcome::Changed => self.stats.changed += 1,
                    PollOutcome::Unchanged | PollOutcome::NotModified => self.stats.unchanged += 1,
                    PollOutcome::Up => self.stats.up += 1,
                    PollOutcome::Failed => {}
                }
                (o, None)
            }
            Err(e) => {
                self.errors_in_a_row += 1;
                self.stats.errors += 1;
                self.last_error = Some((e.kind, e.to_string()));
                (PollOutcome::Failed, Some(e.why))
            }
        };
        let delay = self.next_delay();
        let record = PollRecord {
            seq: self.seq,
            url: self.cfg.url.clone(),
            status: self.seen.status,
            size: self.seen.size,
            latency,
            outcome,
            error,
            retry_in: (outcome == PollOutcome::Failed).then_some(delay),
            to_stderr: self.cfg.keeps_bodies(),
        };
        if let Err(e) = self.out.emit(&Event::PollResult(&record)) {
            self.exit = Some(Err(e));
            return;
        }
        let fresh = matches!(outcome, PollOutcome::New | PollOutcome::Changed);
        let ok = self.seen.status.is_some_and(|s| (200..300).contains(&s));
        if (self.cfg.changes || (self.cfg.is_long() && ok)) && fresh {
            let body = std::mem::take(&mut self.seen.body);
            if let Err(e) = self.out.emit(&Event::Verbatim {
                kind: "body",
                bytes: &body,
            }) {
                self.exit = Some(Err(e));
                return;
            }
        }
        if self.condition_met(outcome) {
            self.exit = Some(Ok(Exit::Ok));
            return;
        }
        if self.cfg.count.is_some_and(|c| self.seq >= c) {
            self.exit = Some(self.ran_out());
            return;
        }
        // Scheduled from the due time, not from when the response came. The
        // next poll always leaves from the loop (a timer), never from here:
        // a response that completes inside launch() must not recurse.
        let now = Instant::now();
        match deadline(self.due, delay) {
            Some(due) => self.due = due.max(now),
            // Too far away to ever come: no next poll.
            None => return,
        }
        cx.timers.add(self.due, PollTimer::Next);
    }

    /// The wait before the next poll: the interval (none for --long), or
    /// the backoff after errors; jittered.
    fn next_delay(&mut self) -> Duration {
        let base = if self.cfg.is_long() {
            Duration::ZERO
        } else {
            self.cfg.interval
        };
        let delay = if self.errors_in_a_row == 0 {
            base
        } else {
            let start = self.cfg.interval.max(Duration::from_millis(100));
            let factor = 1u32 << (self.errors_in_a_row - 1).min(20);
            start.saturating_mul(factor).min(self.cfg.backoff_max)
        };
        match self.cfg.jitter {
            Some(pct) if pct > 0 && !delay.is_zero() => {
                // xorshift64*: plenty for spreading pollers apart.
                self.rng ^= self.rng >> 12;
                self.rng ^= self.rng << 25;
                self.rng ^= self.rng >> 27;
                let r = (self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64
                    / (1u64 << 53) as f64;
                let spread = f64::from(pct) / 100.0 * (2.0 * r - 1.0);
                Duration::try_from_secs_f64(delay.as_secs_f64() * (1.0 + spread).max(0.0))
                    .unwrap_or(delay)
            }
            _ => delay,
        }
    }

    fn has_condition(&self) -> bool {
        self.cfg.until.is_set()
    }

    fn condition_met(&self, outcome: PollOutcome) -> bool {
        let ok = outcome != PollOutcome::Failed;
        let until = &self.cfg.until;
        (until.status.is_some() && self.seen.status == until.status)
            || (ok && until.contains.is_some() && self.seen.contains)
            || (until.change && outcome == PollOutcome::Changed)
            || (until.ok
                && (outcome == PollOutcome::Up
                    || (ok && self.seen.status.is_some_and(|s| (200..300).contains(&s)))))
    }

    /// `--count` or `--max-time` ran out: 1 if a condition was awaited;
    /// the last failure (its exit code) if no poll succeeded; else 0.
    fn ran_out(&mut self) -> Result<Exit> {
        self.summarize = true;
        if self.has_condition() {
            return Ok(Exit::Failed);
        }
        match &self.last_error {
            Some((kind, why)) if self.stats.ok == 0 => Err(Error::new(
                *kind,
                self.cfg.url.as_str(),
                format!(
                    "no poll succeeded ({} failed); the last: {why}",
                    self.stats.errors
                ),
            )),
            _ => Ok(Exit::Ok),
        }
    }

    fn summary(&mut self) -> Result<()> {
        let s = &self.stats;
        let summary = PollSummary {
            requests: s.requests,
            new: s.new,
            changed: s.changed,
            unchanged: s.unchanged,
            up: s.up,
            errors: s.errors,
            bytes: s.bytes,
            min: s.min(),
            p50: s.quantile(0.5),
            p95: s.quantile(0.95),
            max: s.max(),
            uptime: (s.requests > 0).then(|| s.ok as f64 * 100.0 / s.requests as f64),
            nothing_new: (s.ok > 0).then(|| s.unchanged as f64 * 100.0 / s.ok as f64),
            elapsed: self.started.elapsed(),
            sparkline: crate::output::stderr_is_terminal().then(|| s.sparkline()),
        };
        self.out.emit(&Event::PollSummary(&summary))
    }
}

impl Handler for Poller<'_> {
    type Timer = PollTimer;

    fn ready(&mut self, cx: &mut Ctx<PollTimer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            SOCKET => match self.inflight.take() {
                Some(InFlight::Http(mut ex)) => {
                    ex.ready(cx, event);
                    self.inflight = Some(InFlight::Http(ex));
                    self.pump(cx);
                }
                Some(InFlight::Tcp(mut c)) => {
                    let outcome = c.ready(cx, SOCKET, PollTimer::Connect);
                    self.inflight = Some(InFlight::Tcp(c));
                    self.tcp_outcome(cx, outcome);
                }
                None => {}
            },
            SIGNAL if self.signals.take() => self.exit = Some(Ok(Exit::Interrupted)),
            _ => {}
        }
        Ok(())
    }

    fn timeout(&mut self, cx: &mut Ctx<PollTimer>, timer: PollTimer) -> Result<()> {
        match timer {
            PollTimer::Next => {
                if self.inflight.is_none() && self.exit.is_none() {
                    self.launch(cx);
                }
            }
            PollTimer::Connect => match self.inflight.take() {
                Some(InFlight::Http(mut ex)) => {
                    ex.timed_out(cx);
                    self.inflight = Some(InFlight::Http(ex));
                    self.pump(cx);
                }
                Some(InFlight::Tcp(mut c)) => {
                    let outcome = c.timed_out(cx, SOCKET, PollTimer::Connect);
                    self.inflight = Some(InFlight::Tcp(c));
                    self.tcp_outcome(cx, outcome);
                }
                None => {}
            },
            PollTimer::Hold(seq) if seq == self.seq && self.inflight.is_some() => {
                self.hold = None;
                if let Some(InFlight::Http(mut ex)) = self.inflight.take() {
                    ex.abandon(cx);
                }
                if self.cfg.is_long() {
                    // A held request simply expired: ask again, no error.
                    self.seq -= 1;
                    self.launch(cx);
                } else {
                    let why = format!(
                        "no response in {}",
                        humantime::format_duration(self.cfg.hold_timeout)
                    );
                    self.complete(cx, Err(Error::timeout("", why)));
                }
            }
            PollTimer::Hold(_) => {}
            PollTimer::MaxTime => {
                if self.exit.is_none() {
                    self.exit = Some(self.ran_out());
                }
            }
        }
        Ok(())
    }

    fn finished(&mut self, _cx: &mut Ctx<PollTimer>) -> Result<Option<Exit>> {
        let Some(result) = self.exit.take() else {
            return Ok(None);
        };
        if result.is_ok() || self.summarize {
            self.summary()?;
        }
        result.map(Some)
    }
}
