//! `netkit http URL`: a curl-shaped HTTP/1.1 client on the reactor.
//!
//! The request machinery ([`client::Exchange`], [`transport`], [`tls`]) is
//! shared with `netkit poll` and the WebSocket client; this module is the
//! command, given an [`HttpConfig`] (the request and every decision the
//! flags make, built in [`crate::config::http`]): redirects (on a kept-alive
//! connection when the origin stays the same), where the body goes (stdout,
//! `-o FILE` with a progress bar, or the `--json` event), `--fail`, and the
//! `--timing` report.

pub mod client;
pub mod cookies;
pub mod decode;
pub mod writeout;

use std::fs::File;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event as MioEvent;
use mio::Token;
use url::Url;

use crate::config::http::{BodyTarget, DumpTarget, HttpConfig, Redirects};
use crate::error::{exit_of, flatten, Error, Exit, Result};
use crate::event::{Event, HttpReport};
use crate::output::{units, Output};
use crate::proto::http::Head;
use crate::proto::http_client::{follow_target, redirected, transient, RedirectError};
use crate::reactor::signal::Signals;
use crate::reactor::{Ctx, Handler, Reactor};
use client::{ClientRequest, Exchange, Origin, Pool, Settings, Step};

const SIGNAL: Token = Token(1);
const SOCKET: Token = Token(2);

/// Largest body carried inside a `--json` event; use `-o` beyond.
const MAX_JSON_BODY: usize = 64 << 20;
/// Progress redraws at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy)]
enum HttpTimer {
    Connect,
    /// `-m`, for the attempt with this number (each retry gets its own, as curl).
    MaxTime(u32),
    /// `--retry`: the next attempt starts.
    Retry,
}

/// curl's longest back-off between retries.
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// Where the body of the final response goes.
enum Sink {
    Stdout,
    File(std::path::PathBuf, Option<File>),
    Json(Vec<u8>),
}

/// Where `-D/--dump-header` writes the heads.
enum Dump {
    Stdout,
    File(std::path::PathBuf, Option<File>),
}

/// Opens (creates) an output file on first use.
fn open_file<'f>(
    path: &std::path::Path,
    file: &'f mut Option<File>,
    flag: &str,
) -> Result<&'f mut File> {
    if let Some(f) = file {
        return Ok(f);
    }
    let f = File::create(path).map_err(|e| {
        Error::failed(
            format!("{flag} {}", path.display()),
            crate::error::describe_io(&e),
        )
    })?;
    Ok(file.insert(f))
}

fn write_to(file: &mut File, path: &std::path::Path, data: &[u8]) -> Result<()> {
    file.write_all(data).map_err(|e| {
        Error::failed(
            format!("write {}", path.display()),
            crate::error::describe_io(&e),
        )
    })
}

/// The response being received.
#[derive(Default)]
struct Current {
    head: Option<Head>,
    /// Set when this response is a redirect being followed.
    redirect: Option<Url>,
    /// Set when this response will be retried (`--retry`): why, and after how long.
    retry: Option<(String, Duration)>,
    /// `--compressed`: the body's decoder.
    decoder: Option<decode::ContentDecoder>,
    /// Body bytes delivered (decoded), for `--max-filesize`.
    delivered: u64,
    done: Option<bool>,
}

struct Progress {
    started: Instant,
    last: Instant,
    total: Option<u64>,
    got: u64,
}

struct HttpCmd<'o> {
    cfg: HttpConfig,
    request: ClientRequest,
    /// The request as first made, for `--retry`.
    original: ClientRequest,
    /// Retries made so far.
    attempt: u32,
    /// When the first attempt began (`--retry-max-time`).
    first_started: Instant,
    settings: Arc<Settings>,
    exchange: Option<Exchange<HttpTimer>>,
    pool: Pool,
    redirects: u32,
    started: Instant,
    redirect_time: Duration,
    /// The phases of the redirects followed so far, summed (as curl does).
    redirect_phases: client::Timing,
    current: Current,
    sink: Sink,
    /// The last response head received (for `-w`).
    last_head: Option<Head>,
    /// The finished request's report (for `-w`).
    report: Option<HttpReport>,
    /// `-D`: where response heads are copied.
    dump: Option<Dump>,
    progress: Option<Progress>,
    out: &'o mut Output,
    signals: Signals,
    result: Option<anyhow::Result<Exit>>,
    /// The failure that ended the run, kept with its chain (the reactor's
    /// own result is only the exit).
    failure: Option<anyhow::Error>,
}

pub fn run(cfg: HttpConfig, out: &mut Output) -> anyhow::Result<Exit> {
    if cfg.dial.tls.insecure {
        out.warn("--insecure: the server's certificate is not verified");
    }
    let sink = match (&cfg.body, out.is_json()) {
        (BodyTarget::File(path), _) => Sink::File(path.clone(), None),
        (BodyTarget::Stdout, true) => Sink::Json(Vec::new()),
        (BodyTarget::Stdout, false) => Sink::Stdout,
    };
    let dump = cfg.dump.as_ref().map(|d| match d {
        DumpTarget::Stdout => Dump::Stdout,
        DumpTarget::File(p) => Dump::File(p.clone(), None),
    });
    let mut reactor = Reactor::new()?;
    let signals = Signals::new(reactor.registry(), SIGNAL).map_err(|e| Error::io("signals", &e))?;
    let started = Instant::now();
    let mut settings = Settings::new(&cfg.dial);
    settings.resolve = cfg.resolve.clone();
    settings.connect_to = cfg.connect_to.clone();
    let request = cfg.request.clone();
    let mut cmd = HttpCmd {
        original: request.clone(),
        attempt: 0,
        first_started: started,
        request,
        settings: Arc::new(settings),
        exchange: None,
        pool: Pool::default(),
        redirects: 0,
        started,
        redirect_time: Duration::ZERO,
        redirect_phases: client::Timing::default(),
        current: Current::default(),
        sink,
        last_head: None,
        report: None,
        dump,
        progress: None,
        out,
        signals,
        result: None,
        failure: None,
        cfg,
    };
    let mut cx = reactor.ctx();
    cmd.start_attempt(&mut cx);
    let result = reactor.run(&mut cmd).map_err(anyhow::Error::from);
    let result = match cmd.failure.take() {
        Some(e) => Err(e),
        None => result,
    };
    if cmd.progress.is_some() {
        cmd.out.progress(None);
    }
    let saved = cmd.save_cookies();
    let result = match (result, saved) {
        (Ok(_), Err(e)) => Err(e.into()),
        (r, _) => r,
    };
    if let Some(pieces) = cmd.cfg.write_out.take() {
        let (code, errormsg) = match &result {
            Ok(exit) => (exit.code(), String::new()),
            Err(e) => {
                let e = flatten(e);
                (e.kind.code(), format!("{}: {}", e.what, e.why))
            }
        };
        let rendered = writeout::render(&pieces, &cmd.write_out_vars(code, errormsg));
        for name in &rendered.unknown {
            cmd.out.warn(&format!(
                "-w: unknown variable %{{{name}}}, printed as nothing"
            ));
        }
        if !rendered.stderr.is_empty() {
            cmd.out.verbatim_stderr(rendered.stderr.as_bytes());
        }
        if !rendered.stdout.is_empty() {
            let text = Event::Verbatim {
                kind: "write_out",
                bytes: rendered.stdout.as_bytes(),
            };
            if let Err(e) = cmd.out.emit(&text) {
                return result.and(Err(e.into()));
            }
        }
    }
    result
}

/// curl's `--json DATA` (send a JSON body) on `http`/`poll`, where `--json`
/// means JSON output: a usage error that says how to send JSON instead of
/// clap's "unexpected argument". DATA is recognised by its first character
/// (`{`, `[` or `@`), which no URL or subcommand has.
pub fn curl_json_misuse(args: impl Iterator<Item = std::ffi::OsString>) -> Option<Error> {
    let args: Vec<String> = args
        .map(|a| a.to_string_lossy().into_owned())
        .take(256)
        .collect();
    if !args.iter().any(|a| a == "http" || a == "poll") {
        return None;
    }
    let i = args.iter().position(|a| a == "--json")?;
    let data = args.get(i + 1)?;
    if !data.starts_with(['{', '[', '@']) {
        return None;
    }
    Some(Error::usage(
        format!("--json {data}"),
        "here --json means JSON output; to send a JSON body use \
         -d DATA -H 'Content-Type: application/json'",
    ))
}

/// Seconds since the epoch, for cookie expiry.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl HttpCmd<'_> {
    /// Starts an attempt (the first, or a retry): its `-m` timer, then the
    /// exchange.
    fn start_attempt(&mut self, cx: &mut Ctx<HttpTimer>) {
        if self.attempt > 0 {
            // -w and --timing describe the last attempt, as curl's do.
            self.started = Instant::now();
        }
        if let Some(max) = self.cfg.max_time.filter(|m| !m.is_zero()) {
            cx.timers
                .add_after(cx.now, max, HttpTimer::MaxTime(self.attempt));
        }
        match self.begin(cx) {
            Ok(()) => self.pump(cx),
            Err(e) => self.fail(cx, e),
        }
    }

    /// Takes the exchange's steps until it waits for the socket; a finished
    /// response leads to the next request (a redirect) or to the end.
    fn pump(&mut self, cx: &mut Ctx<HttpTimer>) {
        while let Some(ex) = self.exchange.as_mut() {
            let r = match ex.poll(cx) {
                Ok(Some(step)) => self
                    .step(step)
                    .map_err(anyhow::Error::from)
                    .and_then(|()| self.after_step(cx)),
                Ok(None) => return,
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                self.fail(cx, e);
                return;
            }
        }
    }

    /// The delay before the next retry, or `None` when none is left (count
    /// or `--retry-max-time`).
    fn retry_delay(&self, retry_after: Option<Duration>) -> Option<Duration> {
        if self.attempt >= self.cfg.retry.count {
            return None;
        }
        let backoff = Duration::from_secs(1)
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(MAX_BACKOFF);
        let delay = retry_after.or(self.cfg.retry.delay).unwrap_or(backoff);
        if let Some(max) = self.cfg.retry.max_time.filter(|m| !m.is_zero()) {
            if self.first_started.elapsed().saturating_add(delay) > max {
                return None;
            }
        }
        Some(delay)
    }

    /// An attempt failed with `e`: retry it when `--retry` says so, else
    /// this is the result.
    /// The decision goes by the chain's typed causes (`exit_of`), never by
    /// its text.
    fn fail(&mut self, cx: &mut Ctx<HttpTimer>, e: impl Into<anyhow::Error>) {
        let e = e.into();
        let retryable = match exit_of(&e) {
            Exit::Usage | Exit::Interrupted | Exit::Ok => false,
            _ if self.cfg.retry.all_errors => true,
            Exit::Timeout => true,
            Exit::Refused => self.cfg.retry.connrefused,
            _ => false,
        };
        if retryable && self.result.is_none() {
            if let Some(delay) = self.retry_delay(None) {
                let why = flatten(&e).why;
                self.retry(cx, &why, delay);
                return;
            }
        }
        self.result = Some(Err(e));
    }

    /// Drops the current attempt and schedules the next one.
    fn retry(&mut self, cx: &mut Ctx<HttpTimer>, why: &str, delay: Duration) {
        if let Some(mut ex) = self.exchange.take() {
            ex.abandon(cx);
        }
        self.pool.close(cx);
        self.attempt += 1;
        let left = self.cfg.retry.count.saturating_sub(self.attempt);
        self.out.notice(&format!(
            "retrying in {} ({why}); {left} {} left",
            humantime::format_duration(delay),
            if left == 1 { "retry" } else { "retries" }
        ));
        if self.out.is_json() {
            let url = self.original.url.to_string();
            if let Err(e) = self.out.emit(&Event::HttpRetry {
                url: &url,
                attempt: self.attempt,
                retries_left: left,
                delay,
                reason: why,
            }) {
                self.result = Some(Err(e.into()));
                return;
            }
        }
        if self.progress.take().is_some() {
            self.out.progress(None);
        }
        self.request = self.original.clone();
        self.redirects = 0;
        self.redirect_time = Duration::ZERO;
        self.redirect_phases = client::Timing::default();
        self.current = Current::default();
        match &mut self.sink {
            // Created anew (truncated) by the next attempt.
            Sink::File(_, f) => *f = None,
            Sink::Json(b) => b.clear(),
            Sink::Stdout => {}
        }
        cx.timers.add_after(cx.now, delay, HttpTimer::Retry);
    }

    /// Starts the exchange for `self.request`, reusing a pooled connection.
    fn begin(&mut self, cx: &mut Ctx<HttpTimer>) -> anyhow::Result<()> {
        let origin = Origin::of(&self.request.url)?;
        self.set_cookie_header(&origin);
        if origin.https {
            Arc::make_mut(&mut self.settings).load_tls()?;
        }
        let reuse = self.pool.take_for(cx, &origin);
        self.current = Current::default();
        let ex = Exchange::start(
            cx,
            SOCKET,
            HttpTimer::Connect,
            &self.request,
            reuse,
            Arc::clone(&self.settings),
        )?;
        self.exchange = Some(ex);
        Ok(())
    }

    /// Handles one step of the exchange.
    fn step(&mut self, step: Step) -> Result<()> {
        match step {
            Step::Sending => {
                if self.out.verbose() {
                    let origin = Origin::of(&self.request.url)?;
                    let mut lines = self.request.head_lines(&origin);
                    if !self.request.body.is_empty() {
                        lines.push(format!(
                            "[{} of body]",
                            units::bytes(self.request.body.len() as u64)
                        ));
                    }
                    self.out.emit(&Event::HttpHead {
                        sent: true,
                        lines: &lines,
                    })?;
                }
            }
            Step::Connected { .. } | Step::Retrying { .. } | Step::Secured(_) => {
                client::report_link(self.out, &step)?;
            }
            Step::Interim(head) => self.show_head(&head)?,
            Step::Head(head) => self.on_head(head)?,
            Step::Body(data) => self.on_body(&data)?,
            Step::Trailers(fields) => {
                let lines: Vec<String> = fields.iter().map(|(n, v)| format!("{n}: {v}")).collect();
                self.out.emit(&Event::HttpHead {
                    sent: false,
                    lines: &lines,
                })?;
            }
            Step::Done { reusable } => {
                if self.current.redirect.is_none() && self.current.retry.is_none() {
                    self.end_body()?;
                }
                self.current.done = Some(reusable);
            }
        }
        Ok(())
    }

    fn show_head(&mut self, head: &Head) -> Result<()> {
        if !self.out.verbose() {
            return Ok(());
        }
        let mut lines = vec![head.status_line()];
        lines.extend(head.headers.iter().map(|(n, v)| format!("{n}: {v}")));
        self.out.emit(&Event::HttpHead {
            sent: false,
            lines: &lines,
        })
    }

    /// The `Cookie` field for this request: the jar's cookies for its URL,
    /// then the `-b` strings (a `-H Cookie:` of the user's stays as given).
    fn set_cookie_header(&mut self, origin: &Origin) {
        if self.cfg.cookies.jar.is_none() && self.cfg.cookies.strings.is_empty() {
            return;
        }
        if self.cfg.cookies.user_header {
            return;
        }
        self.request
            .headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("cookie"));
        let mut parts = Vec::new();
        if let Some(jar) = &self.cfg.cookies.jar {
            if let Some(h) = jar.header(
                &origin.host,
                self.request.url.path(),
                origin.https,
                unix_now(),
            ) {
                parts.push(h);
            }
        }
        if !self.cfg.cookies.strings.is_empty() {
            // curl joins its -b strings with a bare `;`.
            parts.push(self.cfg.cookies.strings.join(";"));
        }
        if !parts.is_empty() {
            self.request
                .headers
                .push(("Cookie".into(), parts.join("; ")));
        }
    }

    /// `Set-Cookie` fields of any response (redirects too) into the jar.
    fn take_cookies(&mut self, head: &Head) {
        let Some(jar) = &mut self.cfg.cookies.jar else {
            return;
        };
        let host = self.request.url.host_str().unwrap_or("").to_string();
        let path = self.request.url.path().to_string();
        let now = unix_now();
        for (n, v) in &head.headers {
            if n.eq_ignore_ascii_case("set-cookie") {
                jar.set(v, &host, &path, now);
            }
        }
    }

    /// `-c FILE`: the jar, written at the end (as curl, whatever the outcome).
    fn save_cookies(&mut self) -> Result<()> {
        let (Some(path), Some(jar)) = (&self.cfg.cookies.save_to, &self.cfg.cookies.jar) else {
            return Ok(());
        };
        let text = jar.save();
        if path.as_os_str() == "-" {
            return self.out.emit(&Event::Verbatim {
                kind: "cookie_jar",
                bytes: text.as_bytes(),
            });
        }
        std::fs::write(path, text).map_err(|e| {
            Error::failed(
                format!("-c {}", path.display()),
                crate::error::describe_io(&e),
            )
        })
    }

    /// The head as received, for `-i`, `-I` and `-D`.
    fn write_head(&mut self, head: &Head) -> Result<()> {
        let include = !self.out.is_json() && self.cfg.head.shows_head();
        if !include && self.dump.is_none() {
            return Ok(());
        }
        let mut text = head.status_line();
        text.push_str("\r\n");
        for (n, v) in &head.headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        text.push_str("\r\n");
        match &mut self.dump {
            Some(Dump::Stdout) => self.out.emit(&Event::Verbatim {
                kind: "head",
                bytes: text.as_bytes(),
            })?,
            Some(Dump::File(path, file)) => {
                let f = open_file(path, file, "-D")?;
                write_to(f, path, text.as_bytes())?;
            }
            None => {}
        }
        if include {
            match &mut self.sink {
                Sink::File(path, file) => {
                    let f = open_file(path, file, "-o")?;
                    write_to(f, path, text.as_bytes())?;
                }
                _ => self.out.emit(&Event::Verbatim {
                    kind: "head",
                    bytes: text.as_bytes(),
                })?,
            }
        }
        Ok(())
    }

    fn on_head(&mut self, head: Head) -> Result<()> {
        self.show_head(&head)?;
        self.take_cookies(&head);
        self.last_head = Some(head.clone());
        let target = match self.cfg.redirects {
            Redirects::Follow { max } => {
                follow_target(&self.request.url, &head, self.redirects, max)
            }
            Redirects::Report => None,
        };
        if let Some(target) = target {
            let next = target.map_err(|e| match e {
                RedirectError::Unusable(e) => Error::new(Exit::Protocol, e.url, e.why),
                e => Error::new(Exit::Protocol, self.request.url.as_str(), e.to_string()),
            })?;
            self.write_head(&head)?;
            self.current.redirect = Some(next);
            self.current.head = Some(head);
            return Ok(());
        }
        let transient = (self.cfg.retry.count > 0)
            .then(|| transient(&head, unix_now()))
            .flatten();
        if let Some(after) = transient {
            if let Some(delay) = self.retry_delay(after) {
                self.current.retry = Some((format!("{} {}", head.status, head.reason), delay));
                self.current.head = Some(head);
                return Ok(());
            }
        }
        if self.cfg.fail && head.status >= 400 {
            return Err(Error::new(
                Exit::HttpStatus,
                format!("{} {}", self.request.method, self.request.url),
                format!("server returned {} {}", head.status, head.reason),
            ));
        }
        self.write_head(&head)?;
        if let Some(max) = self.cfg.max_filesize {
            let length = head
                .header("content-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            if length.is_some_and(|l| l > max as u64) && head.header("content-encoding").is_none() {
                return Err(self.too_large());
            }
        }
        if self.cfg.compressed {
            if let Some(value) = head.header("content-encoding") {
                match decode::Coding::of(value) {
                    Ok(Some(coding)) => {
                        let limit = self.cfg.max_filesize.map_or(u64::MAX, |m| m as u64);
                        let d = decode::ContentDecoder::new(coding, limit).map_err(|e| self.decode_error(e))?;
                        self.current.decoder = Some(d);
                    }
                    Ok(None) => {}
                    Err(name) => self.out.warn(&format!(
                        "Content-Encoding {name:?} is not one netkit decodes; the body is passed on as received"
                    )),
                }
            }
        }
        if let Sink::File(path, file) = &mut self.sink {
            open_file(path, file, "-o")?;
            if self.out.can_draw_progress() {
                let now = Instant::now();
                self.progress = Some(Progress {
                    started: now,
                    last: now.checked_sub(PROGRESS_EVERY).unwrap_or(now),
                    total: head
                        .header("content-length")
                        .and_then(|v| v.trim().parse().ok()),
                    got: 0,
                });
            }
        }
        self.current.head = Some(head);
        Ok(())
    }

    fn too_large(&self) -> Error {
        Error::failed(
            self.request.url.as_str(),
            format!(
                "the body is larger than --max-filesize {}",
                units::bytes(self.cfg.max_filesize.unwrap_or(0) as u64)
            ),
        )
    }

    fn decode_error(&self, e: decode::DecodeError) -> Error {
        match e {
            decode::DecodeError::TooLarge(_) => self.too_large(),
            decode::DecodeError::Corrupt(why) => Error::new(
                Exit::Protocol,
                self.request.url.as_str(),
                format!("cannot decode the body: {why}"),
            ),
        }
    }

    fn on_body(&mut self, data: &[u8]) -> Result<()> {
        if self.current.redirect.is_some() || self.current.retry.is_some() {
            return Ok(());
        }
        let Some(mut d) = self.current.decoder.take() else {
            return self.deliver(data);
        };
        let r = d.feed(data, &mut |b| self.deliver(b));
        self.current.decoder = Some(d);
        r.map_err(|e| e.map_or_else(|sink| sink, |d| self.decode_error(d)))
    }

    /// The body's end: the decoder's last bytes.
    fn end_body(&mut self) -> Result<()> {
        let Some(mut d) = self.current.decoder.take() else {
            return Ok(());
        };
        d.finish(&mut |b| self.deliver(b))
            .map_err(|e| e.map_or_else(|sink| sink, |d| self.decode_error(d)))
    }

    /// Body bytes (decoded) to their sink.
    fn deliver(&mut self, data: &[u8]) -> Result<()> {
        self.current.delivered += data.len() as u64;
        if let Some(max) = self.cfg.max_filesize {
            if self.current.delivered > max as u64 {
                return Err(self.too_large());
            }
        }
        match &mut self.sink {
            Sink::Stdout => self.out.emit(&Event::Data {
                id: 0,
                peer: self.exchange_remote().into(),
                bytes: data,
            })?,
            Sink::File(path, Some(file)) => file.write_all(data).map_err(|e| {
                Error::failed(
                    format!("write {}", path.display()),
                    crate::error::describe_io(&e),
                )
            })?,
            Sink::File(_, None) => {}
            Sink::Json(body) => {
                if body.len() + data.len() > MAX_JSON_BODY {
                    return Err(Error::failed(
                        "--json",
                        format!(
                            "body over {} (use -o FILE)",
                            units::bytes(MAX_JSON_BODY as u64)
                        ),
                    ));
                }
                body.extend_from_slice(data);
            }
        }
        if let Some(p) = &mut self.progress {
            p.got += data.len() as u64;
            let now = Instant::now();
            if now.saturating_duration_since(p.last) >= PROGRESS_EVERY {
                p.last = now;
                let line = progress_line(p, now);
                self.out.progress(Some(&line));
            }
        }
        Ok(())
    }

    fn exchange_remote(&self) -> std::net::SocketAddr {
        self.exchange
            .as_ref()
            .and_then(|e| e.remote)
            .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// After any exchange call: a finished response leads to the next
    /// request (a redirect) or to the end.
    fn after_step(&mut self, cx: &mut Ctx<HttpTimer>) -> anyhow::Result<()> {
        let Some(reusable) = self.current.done.take() else {
            return Ok(());
        };
        let Some(mut ex) = self.exchange.take() else {
            return Ok(());
        };
        if let Some((why, delay)) = self.current.retry.take() {
            ex.abandon(cx);
            self.retry(cx, &why, delay);
            return Ok(());
        }
        if let Some(next) = self.current.redirect.take() {
            self.redirect_phases = add_phases(&self.redirect_phases, &ex.timing);
            self.pool.keep(cx, &mut ex, reusable);
            self.follow(next);
            return self.begin(cx);
        }
        Ok(self.finish(&ex)?)
    }

    /// Rewrites the request for a redirect (see [`redirected`]).
    fn follow(&mut self, next: Url) {
        let status = self.current.head.as_ref().map_or(302, |h| h.status);
        self.redirects += 1;
        self.redirect_time = self.started.elapsed();
        self.request = redirected(&self.request, status, next);
    }

    fn finish(&mut self, ex: &Exchange<HttpTimer>) -> Result<()> {
        if self.progress.take().is_some() {
            self.out.progress(None);
        }
        if let Some(Dump::File(path, Some(file))) = &mut self.dump {
            file.flush().map_err(|e| {
                Error::failed(
                    format!("write {}", path.display()),
                    crate::error::describe_io(&e),
                )
            })?;
        }
        if let Sink::File(path, Some(file)) = &mut self.sink {
            file.flush().map_err(|e| {
                Error::failed(
                    format!("write {}", path.display()),
                    crate::error::describe_io(&e),
                )
            })?;
        }
        let head = self.current.head.take().unwrap_or_else(|| Head {
            version: 1,
            status: 0,
            reason: String::new(),
            headers: Vec::new(),
            size: 0,
        });
        let body = match &mut self.sink {
            Sink::Json(b) => Some(std::mem::take(b)),
            _ => None,
        };
        let report = HttpReport {
            url: self.request.url.to_string(),
            method: self.request.method.clone(),
            status: head.status,
            reason: head.reason.clone(),
            version: format!("HTTP/1.{}", head.version),
            headers: head.headers,
            remote: ex.remote,
            size_header: ex.bytes_head(),
            size_download: ex.bytes_body(),
            size_upload: self.request.body.len() as u64,
            redirects: self.redirects,
            timing: self.timing(ex),
            time_redirect: self.redirect_time,
            body,
            show_timing: self.cfg.timing,
        };
        if self.out.is_json() || self.cfg.timing {
            self.out.emit(&Event::HttpResponse(&report))?;
        }
        if self.cfg.write_out.is_some() {
            self.report = Some(HttpReport {
                body: None,
                ..report
            });
        }
        self.result = Some(Ok(Exit::Ok));
        Ok(())
    }
}

/// curl's timings for the whole operation: each phase summed over the
/// transfers (each measured from its own start), the total from the start
/// of the first; `time_redirect` is when the last transfer began.
fn add_phases(a: &client::Timing, b: &client::Timing) -> client::Timing {
    client::Timing {
        namelookup: a.namelookup.saturating_add(b.namelookup),
        connect: a.connect.saturating_add(b.connect),
        appconnect: a.appconnect.saturating_add(b.appconnect),
        pretransfer: a.pretransfer.saturating_add(b.pretransfer),
        starttransfer: a.starttransfer.saturating_add(b.starttransfer),
        total: a.total.saturating_add(b.total),
    }
}

impl HttpCmd<'_> {
    /// curl's `-w` variables, after the run ended with exit `code`.
    fn write_out_vars(&self, code: u8, errormsg: String) -> writeout::Vars {
        use writeout::Value::{Code, Int, Str, Time};
        let (timing, remote, size_download, size_header, time_redirect) = match &self.report {
            Some(r) => (
                r.timing,
                r.remote,
                r.size_download,
                r.size_header,
                r.time_redirect,
            ),
            None => match &self.exchange {
                Some(ex) => (
                    self.timing(ex),
                    ex.remote,
                    ex.bytes_body(),
                    ex.bytes_head(),
                    self.redirect_time,
                ),
                None => (
                    client::Timing {
                        total: self.started.elapsed(),
                        ..self.redirect_phases
                    },
                    None,
                    0,
                    0,
                    self.redirect_time,
                ),
            },
        };
        let status = self.last_head.as_ref().map_or(0, |h| h.status);
        let headers = self
            .last_head
            .as_ref()
            .map(|h| h.headers.clone())
            .unwrap_or_default();
        let content_type = self
            .last_head
            .as_ref()
            .and_then(|h| h.header("content-type"))
            .unwrap_or("")
            .to_string();
        let secs = timing.total.as_secs_f64();
        let speed = if secs > 0.0 {
            (size_download as f64 / secs) as u64
        } else {
            0
        };
        let version = self
            .last_head
            .as_ref()
            .map_or(String::new(), |h| format!("1.{}", h.version));
        writeout::Vars {
            values: vec![
                ("content_type", Str(content_type)),
                ("errormsg", Str(errormsg)),
                ("exitcode", Int(u64::from(code))),
                ("http_code", Code(status)),
                ("http_version", Str(version)),
                ("method", Str(self.request.method.clone())),
                ("num_redirects", Int(u64::from(self.redirects))),
                (
                    "remote_ip",
                    Str(remote.map_or(String::new(), |a| a.ip().to_string())),
                ),
                (
                    "remote_port",
                    Int(remote.map_or(0, |a| u64::from(a.port()))),
                ),
                ("response_code", Code(status)),
                ("size_download", Int(size_download)),
                ("size_header", Int(size_header)),
                ("size_upload", Int(self.request.body.len() as u64)),
                ("speed_download", Int(speed)),
                ("time_appconnect", Time(timing.appconnect)),
                ("time_connect", Time(timing.connect)),
                ("time_namelookup", Time(timing.namelookup)),
                ("time_pretransfer", Time(timing.pretransfer)),
                ("time_redirect", Time(time_redirect)),
                ("time_starttransfer", Time(timing.starttransfer)),
                ("time_total", Time(timing.total)),
                ("url_effective", Str(self.request.url.to_string())),
            ],
            headers,
        }
    }

    fn timing(&self, last: &Exchange<HttpTimer>) -> client::Timing {
        let mut t = add_phases(&self.redirect_phases, &last.timing);
        t.total = self.started.elapsed().max(t.total).max(self.redirect_time);
        t
    }
}

fn progress_line(p: &Progress, now: Instant) -> String {
    let elapsed = now.saturating_duration_since(p.started);
    let rate = units::rate(p.got, elapsed);
    match p.total {
        Some(total) if total > 0 => {
            let frac = (p.got as f64 / total as f64).min(1.0);
            let filled = (frac * 30.0) as usize;
            let bar: String = "#".repeat(filled) + &"-".repeat(30 - filled);
            let secs = elapsed.as_secs_f64();
            // Unknown ("-") before the first byte, and past 100 years (a
            // server announcing 16 EiB and trickling bytes).
            let eta = (p.got > 0 && secs > 0.0)
                .then(|| total.saturating_sub(p.got) as f64 / (p.got as f64 / secs))
                .and_then(|left| Duration::try_from_secs_f64(left).ok())
                .filter(|left| *left <= crate::config::MAX_DURATION)
                .map_or_else(|| "-".to_string(), units::duration);
            format!(
                "[{bar}] {:>3.0}%  {} of {}  {rate}  ETA {eta}",
                frac * 100.0,
                units::bytes(p.got),
                units::bytes(total)
            )
        }
        _ => format!("{}  {rate}", units::bytes(p.got)),
    }
}

impl Handler for HttpCmd<'_> {
    type Timer = HttpTimer;

    fn ready(&mut self, cx: &mut Ctx<HttpTimer>, token: Token, event: &MioEvent) -> Result<()> {
        match token {
            SOCKET => {
                if let Some(ex) = self.exchange.as_mut() {
                    ex.ready(cx, event);
                    self.pump(cx);
                }
                Ok(())
            }
            SIGNAL if self.signals.take() => {
                self.result = Some(Ok(Exit::Interrupted));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn timeout(&mut self, cx: &mut Ctx<HttpTimer>, timer: HttpTimer) -> Result<()> {
        match timer {
            HttpTimer::Connect => {
                if let Some(ex) = self.exchange.as_mut() {
                    ex.timed_out(cx);
                    self.pump(cx);
                }
            }
            HttpTimer::MaxTime(attempt) if attempt == self.attempt && self.exchange.is_some() => {
                let max = self.cfg.max_time.unwrap_or_default();
                let e = Error::timeout(
                    self.request.url.as_str(),
                    format!("--max-time {} reached", humantime::format_duration(max)),
                );
                self.fail(cx, e);
            }
            HttpTimer::MaxTime(_) => {}
            HttpTimer::Retry => self.start_attempt(cx),
        }
        Ok(())
    }

    fn finished(&mut self, _cx: &mut Ctx<HttpTimer>) -> Result<Option<Exit>> {
        match self.result.take() {
            Some(Ok(exit)) => Ok(Some(exit)),
            Some(Err(e)) => {
                let exit = exit_of(&e);
                self.failure = Some(e);
                Ok(Some(exit))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(total: Option<u64>, got: u64, elapsed: Duration) -> String {
        let started = Instant::now();
        let p = Progress {
            started,
            last: started,
            total,
            got,
        };
        progress_line(&p, started + elapsed)
    }

    #[test]
    fn eta_of_an_absurd_length_is_unknown_not_a_panic() {
        let line = at(Some(u64::MAX), 1, Duration::from_secs(3));
        assert!(line.ends_with("ETA -"), "{line}");
        let line = at(Some(u64::MAX), u64::MAX - 1, Duration::from_nanos(1));
        assert!(line.contains("100%"), "{line}");
        let line = at(Some(u64::MAX), 0, Duration::ZERO);
        assert!(line.ends_with("ETA -"), "{line}");
    }

    #[test]
    fn eta_of_a_normal_download() {
        let line = at(Some(1000), 500, Duration::from_secs(5));
        assert!(line.contains(" 50%"), "{line}");
        assert!(line.ends_with("ETA 5.00 s"), "{line}");
        assert_eq!(
            at(None, 2048, Duration::from_secs(1)),
            "2.00 KiB  2.00 KiB/s"
        );
    }
}
