//! The human sink: `* ...` status lines on stderr (curl -v style), chat and
//! check results on stdout, colors only where the stream is a terminal.

use std::io::Write;
use std::time::Duration;

use colored::Colorize;

use super::escape::escape;
use super::units;
use super::Level;
use crate::error::Error;
use crate::event::{Closer, Event, PortState};

pub struct Style {
    pub color_out: bool,
    pub color_err: bool,
    pub level: Level,
}

/// Renders `event`: bytes for stdout into `out`, a status line into `err`.
pub fn render(event: &Event, style: &Style, out: &mut Vec<u8>, err: &mut Vec<u8>) {
    let normal = style.level >= Level::Normal;
    let verbose = style.level >= Level::Verbose;
    let c = style.color_out;
    // `let _ =`: writing into a Vec cannot fail.
    let _ = match event {
        Event::Listening { addr } if normal => status(err, style, format!("listening on {addr}")),
        Event::ExecExit {
            id,
            pid,
            command,
            code,
            signal,
        } if normal => {
            let how = match (code, signal) {
                (Some(c), _) => format!("exited with status {c}"),
                (None, Some(s)) => format!("killed by signal {s}"),
                (None, None) => "ended".to_string(),
            };
            // Id 0 is the one connection of `tcp connect -e`.
            let who = match id {
                0 => String::new(),
                id => format!("client {id}: "),
            };
            let text = format!("{who}`{command}` (pid {pid}) {how}");
            if *code == Some(0) {
                status(err, style, text)
            } else {
                warn(err, style, text)
            }
        }
        Event::Resolved { host, addrs } if verbose => {
            let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            status(
                err,
                style,
                format!("{host} resolved to {}", list.join(", ")),
            )
        }
        Event::ConnectFailed { addr, why } if verbose => status(
            err,
            style,
            format!("{addr}: {why}; trying the next address"),
        ),
        Event::Connected {
            id,
            local,
            remote,
            accepted: false,
            time,
            ..
        } if verbose => {
            let took = time
                .map(|t| format!(" in {}", units::duration(t)))
                .unwrap_or_default();
            let _ = id;
            status(err, style, format!("connected {local} -> {remote}{took}"))
        }
        Event::Connected {
            id,
            remote,
            accepted: true,
            clients,
            ..
        } if normal => {
            let online = if *clients > 1 {
                format!(" ({clients} connected)")
            } else {
                String::new()
            };
            status(
                err,
                style,
                format!("client {id} connected from {remote}{online}"),
            )
        }
        Event::Rejected { remote, reason } if normal => {
            warn(err, style, format!("refused {remote}: {reason}"))
        }
        Event::Closed {
            id,
            remote,
            by,
            sent,
            received,
            duration,
            reason,
            clients,
        } => {
            let abnormal = matches!(by, Closer::Overflow | Closer::Idle | Closer::Error);
            if !(verbose || (normal && (abnormal || *clients > 0 || *id > 0))) {
                return;
            }
            let who = match by {
                Closer::Peer => "closed by peer".to_string(),
                Closer::Local => "closed".to_string(),
                Closer::Idle => "closed: idle timeout".to_string(),
                Closer::Overflow => "dropped: it stopped reading".to_string(),
                Closer::Error => "failed".to_string(),
                Closer::Interrupted => "closed: interrupted".to_string(),
                Closer::Abnormal => "closed abnormally".to_string(),
                Closer::Refused => "refused".to_string(),
            };
            let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
            let name = if *id > 0 {
                format!("client {id} ({remote})")
            } else {
                remote.to_string()
            };
            let line = format!(
                "{name} {who}{why} after {}: sent {}, received {}",
                units::duration(*duration),
                units::bytes(*sent),
                units::bytes(*received)
            );
            if abnormal {
                warn(err, style, line)
            } else {
                status(err, style, line)
            }
        }
        Event::Chat { from, text } => {
            let name = format!("<{}>", escape(from));
            let name = if c { name.bold().to_string() } else { name };
            writeln!(out, "{name} {}", escape(text))
        }
        Event::Joined { name, clients, .. } => {
            let line = format!("*** {} joined ({clients} here)", escape(name));
            writeln!(out, "{}", if c { line.dimmed().to_string() } else { line })
        }
        Event::Left {
            name,
            clients,
            reason,
        } => {
            let why = reason.map(|r| format!(": {r}")).unwrap_or_default();
            let line = format!("*** {} left{why} ({clients} here)", escape(name));
            writeln!(out, "{}", if c { line.dimmed().to_string() } else { line })
        }
        Event::Check {
            addr,
            state,
            time,
            error,
            ..
        } => {
            let word = format!("{:<8}", state.as_str());
            let word = match (c, state) {
                (false, _) => word,
                (true, PortState::Open) => word.green().bold().to_string(),
                (true, PortState::Closed) => word.red().to_string(),
                (true, PortState::Timeout) => word.yellow().to_string(),
            };
            let detail = match (time, error) {
                (Some(t), _) if *state == PortState::Open => units::duration(*t),
                (_, Some(e)) => e.to_string(),
                _ => String::new(),
            };
            writeln!(out, "{:<22} {word} {detail}", addr.to_string()).map(|_| {
                // Trailing spaces would make the line harder to grep.
                while out.last() == Some(&b' ') {
                    out.pop();
                }
                if out.last() != Some(&b'\n') {
                    out.push(b'\n');
                }
            })
        }
        Event::Datagram { from, bytes } => {
            let head = format!("{from}  {}", units::bytes(bytes.len() as u64));
            let head = if c { head.cyan().to_string() } else { head };
            match printable(bytes) {
                Some("") => writeln!(out, "{head}"),
                // One datagram, one line: its one trailing line end goes;
                // another line break or CR shows it escaped (tabs stay).
                Some(text) => {
                    let body = text
                        .strip_suffix("\r\n")
                        .or_else(|| text.strip_suffix('\n'))
                        .unwrap_or(text);
                    if body.contains(['\n', '\r']) {
                        writeln!(out, "{head}  {}", escape(body))
                    } else {
                        writeln!(out, "{head}  {body}")
                    }
                }
                None => {
                    let r = writeln!(out, "{head}  (binary)");
                    super::hexdump::rows(" ", 0, bytes, out);
                    r
                }
            }
        }
        Event::Sent { to, length } if verbose => status(
            err,
            style,
            format!("sent {} to {to}", units::bytes(*length as u64)),
        ),
        Event::UdpSummary {
            sent,
            received,
            bytes_sent,
            bytes_received,
            elapsed,
            drops,
        } if normal => {
            let mut parts = Vec::new();
            if *sent > 0 {
                let s = if *sent == 1 { "" } else { "s" };
                parts.push(format!(
                    "sent {sent} datagram{s} ({})",
                    units::bytes(*bytes_sent)
                ));
            }
            let secs = elapsed.as_secs_f64();
            let rate = if secs > 0.0 {
                *received as f64 / secs
            } else {
                0.0
            };
            parts.push(format!(
                "received {received} ({}) in {}, {rate:.0}/s",
                units::bytes(*bytes_received),
                units::duration(*elapsed)
            ));
            if let Some(d) = drops {
                parts.push(format!("{d} dropped by the kernel"));
            }
            status(err, style, parts.join("; "))
        }
        Event::HttpHead { sent, lines } if verbose => {
            let mark = if *sent { ">" } else { "<" };
            for line in lines.iter() {
                let line = escape(line);
                let _ = if style.color_err {
                    let text = if *sent {
                        line.green().to_string()
                    } else {
                        line.cyan().to_string()
                    };
                    writeln!(err, "{} {text}", mark.bold())
                } else {
                    writeln!(err, "{mark} {line}")
                };
            }
            Ok(())
        }
        Event::HttpRequest(r) if r.brief => {
            if normal {
                status(
                    err,
                    style,
                    format!(
                        "{} \"{} {} HTTP/1.{}\" {}",
                        r.remote, r.method, r.target, r.version, r.status
                    ),
                )
            } else {
                Ok(())
            }
        }
        Event::HttpRequest(r) => {
            request_text(r, out);
            Ok(())
        }
        Event::HttpResponse(report) if report.show_timing => {
            timing_breakdown(report, style.color_err, err);
            Ok(())
        }
        Event::WsOpen {
            id,
            remote,
            path,
            protocol,
            clients,
        } if verbose || (normal && *clients > 0) => {
            let proto = protocol
                .map(|p| format!(", subprotocol {p}"))
                .unwrap_or_default();
            let who = if *clients > 0 {
                format!("client {id} ")
            } else {
                String::new()
            };
            status(err, style, format!("{who}{remote} opened {path}{proto}"))
        }
        Event::Message { text, bytes, .. } => match text {
            Some(t) => writeln!(out, "{t}"),
            None => out.write_all(bytes),
        },
        Event::WsClose {
            id,
            remote,
            code,
            reason,
            by,
            clients,
        } if normal => {
            let what = match code {
                Some(c) => format!("{c} ({})", crate::proto::ws::session::describe_code(*c)),
                None => "no close code".to_string(),
            };
            let why = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            let who = if *clients > 0 || *id > 0 {
                format!("client {id} ({remote})")
            } else {
                remote.to_string()
            };
            let line = format!("{who} closed by {by}, {what}{why}");
            if matches!(*by, "peer" | "local") {
                status(err, style, line)
            } else {
                warn(err, style, line)
            }
        }
        Event::WsControl { kind, data, .. } if normal => {
            let data = String::from_utf8_lossy(data);
            if data.is_empty() {
                status(err, style, format!("received {kind}"))
            } else {
                status(err, style, format!("received {kind}: {data}"))
            }
        }
        Event::Reconnect {
            attempt,
            delay,
            url,
            reason,
        } if normal => status(
            err,
            style,
            format!(
                "{reason}; reconnecting to {url} in {} (attempt {attempt})",
                humantime::format_duration(*delay)
            ),
        ),
        Event::PollResult(r) => {
            let target = if r.to_stderr { &mut *err } else { &mut *out };
            let color = if r.to_stderr { style.color_err } else { c };
            poll_line(r, color, target);
            Ok(())
        }
        Event::BenchResult(r) => {
            if r.header {
                out.extend_from_slice(
                    format!(
                        "{:<10} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>14} {:>9} {:>5} {:>5} {:>6}\n",
                        "transport", "clients", "messages", "p50", "p95", "p99", "max",
                        "req/msg", "empty", "bytes/msg", "lost", "dup", "conns"
                    )
                    .as_bytes(),
                );
            }
            let ms = |s: f64| format!("{:.2} ms", s * 1000.0);
            let share = if r.requests > 0 {
                r.empty_responses as f64 * 100.0 / r.requests as f64
            } else {
                0.0
            };
            out.extend_from_slice(
                format!(
                    "{:<10} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9.2} {:>14} {:>9.0} {:>5} {:>5} {:>6}\n",
                    r.transport,
                    r.clients,
                    r.messages,
                    ms(r.latency_p50),
                    ms(r.latency_p95),
                    ms(r.latency_p99),
                    ms(r.latency_max),
                    r.requests_per_message,
                    format!("{} ({share:.0}%)", r.empty_responses),
                    r.bytes_per_message,
                    r.lost,
                    r.duplicated,
                    r.connections
                )
                .as_bytes(),
            );
            Ok(())
        }
        Event::PollSummary(s) if normal => {
            let _ = status(
                err,
                style,
                format!(
                    "{} poll{} in {}: {}{} errors; {} received",
                    s.requests,
                    if s.requests == 1 { "" } else { "s" },
                    units::duration(s.elapsed),
                    poll_counts(s),
                    s.errors,
                    units::bytes(s.bytes)
                ),
            );
            if let (Some(min), Some(p50), Some(p95), Some(max)) = (s.min, s.p50, s.p95, s.max) {
                let spark = s
                    .sparkline
                    .as_deref()
                    .map(|l| format!("  {l}"))
                    .unwrap_or_default();
                let _ = status(
                    err,
                    style,
                    format!(
                        "latency min {}, p50 {}, p95 {}, max {}{spark}",
                        units::duration(min),
                        units::duration(p50),
                        units::duration(p95),
                        units::duration(max)
                    ),
                );
            }
            status(
                err,
                style,
                format!(
                    "uptime {}; {}",
                    s.uptime.map_or("n/a".to_string(), |u| format!("{u:.1}%")),
                    match s.nothing_new {
                        Some(n) => format!("{n:.1}% of successful polls brought nothing new"),
                        None => "nothing new: n/a (no poll succeeded)".to_string(),
                    }
                ),
            )
        }
        Event::TlsCert(r) => {
            let verdict = match (&r.error, c) {
                (None, false) => "verified".to_string(),
                (None, true) => "verified".green().bold().to_string(),
                (Some(_), false) => "NOT VERIFIED".to_string(),
                (Some(_), true) => "NOT VERIFIED".red().bold().to_string(),
            };
            let mut text = format!(
                "{}:{} ({})  {verdict}  {} {}",
                r.host, r.port, r.addr, r.session.version, r.session.cipher
            );
            if let Some(alpn) = &r.session.alpn {
                text.push_str(&format!(" ALPN {alpn}"));
            }
            text.push('\n');
            if let Some(why) = &r.error {
                text.push_str(&format!("  {why}\n"));
            }
            for (n, cert) in r.chain.iter().enumerate() {
                text.push_str(&format!("  {n} subject  {}\n", cert.subject));
                if !cert.sans.is_empty() {
                    text.push_str(&format!("    SANs     {}\n", cert.sans.join(", ")));
                }
                text.push_str(&format!("    issuer   {}\n", cert.issuer));
                let mut expiry =
                    format!("    expires  {}", crate::net::tls::rfc3339(cert.not_after));
                if n == 0 {
                    if let Some(days) = r.days_left {
                        if days < 0 {
                            expiry.push_str(&format!(" (expired {} days ago)", -days));
                        } else {
                            expiry.push_str(&format!(" ({days} days left)"));
                        }
                    }
                }
                text.push_str(&expiry);
                text.push('\n');
            }
            out.extend_from_slice(text.as_bytes());
            Ok(())
        }
        Event::PeerTls { id, remote, info } if verbose => {
            let mut text = format!(
                "client {id} ({remote}): TLS {} {}",
                info.version, info.cipher
            );
            if let Some(alpn) = &info.alpn {
                text.push_str(&format!(", ALPN {alpn}"));
            }
            status(err, style, text)
        }
        Event::TlsSession(info) if verbose => {
            let mut text = format!("TLS: {} {}", info.version, info.cipher);
            if let Some(alpn) = &info.alpn {
                text.push_str(&format!(", ALPN {alpn}"));
            }
            if let Some(subject) = &info.subject {
                text.push_str(&format!("; certificate {subject}"));
            }
            if let Some(until) = &info.not_after {
                text.push_str(&format!(", expires {until}"));
            }
            status(err, style, text)
        }
        Event::CheckSummary {
            open,
            closed,
            timeout,
            elapsed,
        } if normal => status(
            err,
            style,
            format!(
                "{open} open, {closed} closed, {timeout} timed out in {}",
                units::duration(*elapsed)
            ),
        ),
        Event::ClientConnected {
            local,
            remote,
            reused,
        } if verbose => {
            let how = if *reused {
                "reusing the connection to"
            } else {
                "connected to"
            };
            status(err, style, format!("{how} {remote} from {local}"))
        }
        Event::ClientTls(info) if verbose => {
            let mut text = format!("TLS: {} {}", info.version, info.cipher);
            if let Some(alpn) = &info.alpn {
                text.push_str(&format!(", ALPN {alpn}"));
            }
            status(err, style, text)
        }
        Event::Verbatim { bytes, .. } => {
            out.extend_from_slice(bytes);
            Ok(())
        }
        _ => Ok(()),
    };
}

/// `17:33:30.123  #3  200  1.2 KiB  12.3 ms  changed`
/// `1 new, 2 changed, 3 unchanged, ` (HTTP) or `4 up, ` (TCP probes): with
/// the errors, the counts add up to the polls.
fn poll_counts(s: &crate::event::PollSummary) -> String {
    let mut text = String::new();
    if s.up == 0 || s.new + s.changed + s.unchanged > 0 {
        text.push_str(&format!(
            "{} new, {} changed, {} unchanged, ",
            s.new, s.changed, s.unchanged
        ));
    }
    if s.up > 0 {
        text.push_str(&format!("{} up, ", s.up));
    }
    text
}

fn poll_line(r: &crate::event::PollRecord, color: bool, out: &mut Vec<u8>) {
    use crate::event::PollOutcome as O;
    let clock = units::clock(std::time::SystemTime::now());
    let status = match r.status {
        Some(s) => s.to_string(),
        None if r.outcome == O::Up => "up".into(),
        None => "-".into(),
    };
    let status = format!("{status:>4}");
    let status = match (color, r.status) {
        (false, _) => status,
        (true, Some(s)) if s < 300 => status.green().to_string(),
        (true, Some(s)) if s < 400 => status.cyan().to_string(),
        (true, Some(s)) if s < 500 => status.yellow().to_string(),
        (true, Some(_)) => status.red().to_string(),
        (true, None) if r.outcome == O::Up => status.green().to_string(),
        (true, None) => status.red().to_string(),
    };
    let what = match (r.outcome, &r.error) {
        (O::Failed, Some(e)) => {
            let retry = r
                .retry_in
                .map(|d| format!(" (next in {})", units::duration(d)))
                .unwrap_or_default();
            format!("error: {e}{retry}")
        }
        (O::NotModified, _) => "not modified".into(),
        (o, _) => o.as_str().into(),
    };
    let what = escape(&what).into_owned();
    let what = match (color, r.outcome) {
        (true, O::Changed) => what.bold().to_string(),
        (true, O::Failed) => what.red().to_string(),
        (true, O::Unchanged | O::NotModified) => what.dimmed().to_string(),
        _ => what,
    };
    let _ = writeln!(
        out,
        "{clock}  #{:<4} {status}  {:>9}  {:>9}  {what}",
        r.seq,
        units::bytes(r.size),
        units::duration(r.latency)
    );
}

/// `--timing`: each phase as an aligned bar scaled to the total.
fn timing_breakdown(r: &crate::event::HttpReport, color: bool, err: &mut Vec<u8>) {
    const WIDTH: f64 = 40.0;
    let t = &r.timing;
    let phases = [
        ("DNS lookup", Duration::ZERO, t.namelookup),
        ("TCP connect", t.namelookup, t.connect),
        ("TLS handshake", t.connect, t.appconnect),
        ("Request sent", t.appconnect, t.pretransfer),
        ("First byte", t.pretransfer, t.starttransfer),
        ("Body transfer", t.starttransfer, t.total),
    ];
    let total = t.total.as_secs_f64().max(1e-9);
    for (name, from, to) in phases {
        let d = to.saturating_sub(from);
        let eighths = (d.as_secs_f64() / total * WIDTH * 8.0).round() as usize;
        let mut bar = "█".repeat(eighths / 8);
        if !eighths.is_multiple_of(8) {
            bar.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8 - 1]);
        }
        let bar = if color { bar.cyan().to_string() } else { bar };
        let _ = writeln!(err, "  {name:<15} {:>10}  {bar}", units::duration(d));
    }
    let _ = writeln!(err, "  {:<15} {:>10}", "Total", units::duration(t.total));
    let mut tail = format!(
        "  {} {} {}, {} received at {}",
        r.version,
        r.status,
        escape(&r.reason),
        units::bytes(r.size_download),
        units::rate(
            r.size_download,
            t.total
                .saturating_sub(t.starttransfer)
                .max(Duration::from_micros(1))
        )
    );
    if r.redirects > 0 {
        tail.push_str(&format!(
            " after {} redirect{} ({})",
            r.redirects,
            if r.redirects == 1 { "" } else { "s" },
            units::duration(r.time_redirect)
        ));
    }
    let _ = writeln!(err, "{tail}");
}

/// The payload as text, if it is UTF-8 without control characters other
/// than tab and line ends.
fn printable(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .then_some(text)
}

/// A `* ...` line; whatever came from a peer in it is escaped.
/// A request as it came (line endings made `\n`): request line, fields, a
/// blank line, then the body, as text when it is printable UTF-8 (a newline
/// added if it lacks one) or as a hex dump.
fn request_text(r: &crate::event::HttpRequestRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(format!("{} {} HTTP/1.{}\n", r.method, r.target, r.version).as_bytes());
    for (n, v) in r.headers {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    if r.body.is_empty() {
        return;
    }
    let printable = std::str::from_utf8(r.body).is_ok_and(|t| {
        !t.chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    });
    if printable {
        out.extend_from_slice(r.body);
        if !r.body.ends_with(b"\n") {
            out.push(b'\n');
        }
    } else {
        super::hexdump::rows("", 0, r.body, out);
    }
}

fn status(err: &mut Vec<u8>, style: &Style, text: String) -> std::io::Result<()> {
    let text = escape(&text);
    if style.color_err {
        writeln!(err, "{} {}", "*".cyan(), text)
    } else {
        writeln!(err, "* {text}")
    }
}

/// A `! ...` line; whatever came from a peer in it is escaped.
fn warn(err: &mut Vec<u8>, style: &Style, text: String) -> std::io::Result<()> {
    let text = escape(&text);
    if style.color_err {
        writeln!(err, "{} {}", "!".yellow().bold(), text.yellow())
    } else {
        writeln!(err, "! {text}")
    }
}

/// A free-form status line.
pub fn notice(text: &str, color: bool, err: &mut Vec<u8>) {
    let style = Style {
        color_out: false,
        color_err: color,
        level: Level::Normal,
    };
    let _ = status(err, &style, text.to_string());
}

/// A free-form warning line.
pub fn warning(text: &str, color: bool, err: &mut Vec<u8>) {
    let style = Style {
        color_out: false,
        color_err: color,
        level: Level::Normal,
    };
    let _ = warn(err, &style, text.to_string());
}

/// `netkit: <what>: <why>`.
pub fn error_line(e: &Error, color: bool, err: &mut Vec<u8>) {
    let prefix = if color {
        "netkit:".red().bold().to_string()
    } else {
        "netkit:".to_string()
    };
    let _ = writeln!(err, "{prefix} {}", escape(&e.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_plain(event: &Event, level: Level) -> (String, String) {
        let style = Style {
            color_out: false,
            color_err: false,
            level,
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        render(event, &style, &mut out, &mut err);
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn listening_goes_to_stderr_unless_quiet() {
        let ev = Event::Listening {
            addr: "0.0.0.0:8080"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        };
        assert_eq!(
            render_plain(&ev, Level::Normal).1,
            "* listening on 0.0.0.0:8080\n"
        );
        assert_eq!(render_plain(&ev, Level::Quiet).1, "");
    }

    #[test]
    fn check_lines_are_aligned_on_stdout() {
        let ev = Event::Check {
            host: "localhost",
            addr: "127.0.0.1:22".parse().unwrap(),
            state: PortState::Open,
            time: Some(Duration::from_micros(120)),
            error: None,
        };
        let (out, err) = render_plain(&ev, Level::Quiet);
        assert_eq!(out, "127.0.0.1:22           open     120 µs\n");
        assert_eq!(err, "");
        let closed = Event::Check {
            host: "localhost",
            addr: "127.0.0.1:23".parse().unwrap(),
            state: PortState::Closed,
            time: None,
            error: Some("connection refused"),
        };
        assert_eq!(
            render_plain(&closed, Level::Normal).0,
            "127.0.0.1:23           closed   connection refused\n"
        );
    }

    #[test]
    fn peer_text_is_shown_escaped() {
        let ev = Event::Chat {
            from: "a\x1bb",
            text: "hi\x1b[2J\r",
        };
        assert_eq!(
            render_plain(&ev, Level::Quiet).0,
            "<a\\x1bb> hi\\x1b[2J\\r\n"
        );
        let ev = Event::Left {
            name: "x\ny",
            clients: 1,
            reason: None,
        };
        assert_eq!(
            render_plain(&ev, Level::Normal).0,
            "*** x\\ny left (1 here)\n"
        );
        let ev = Event::WsClose {
            id: 0,
            remote: "127.0.0.1:80".parse().unwrap(),
            code: Some(1000),
            reason: "bye\u{9b}2J",
            by: "peer",
            clients: 0,
        };
        assert_eq!(
            render_plain(&ev, Level::Normal).1,
            "* 127.0.0.1:80 closed by peer, 1000 (normal closure): bye\\u{9b}2J\n"
        );
        // The data stream stays exact.
        let ev = Event::Message {
            id: 1,
            text: Some("a\x1b[1m"),
            bytes: b"a\x1b[1m",
        };
        assert_eq!(render_plain(&ev, Level::Normal).0, "a\x1b[1m\n");
    }

    #[test]
    fn chat_room_is_shown_on_stdout() {
        let ev = Event::Chat {
            from: "user2",
            text: "hello",
        };
        assert_eq!(render_plain(&ev, Level::Quiet).0, "<user2> hello\n");
        let ev = Event::Joined {
            name: "user3",
            remote: "127.0.0.1:5000".parse().unwrap(),
            clients: 3,
        };
        assert_eq!(
            render_plain(&ev, Level::Normal).0,
            "*** user3 joined (3 here)\n"
        );
    }

    #[test]
    fn datagrams_show_source_length_and_payload() {
        let from = "127.0.0.1:4000".parse().unwrap();
        let ev = Event::Datagram {
            from,
            bytes: b"hello\n",
        };
        assert_eq!(
            render_plain(&ev, Level::Quiet).0,
            "127.0.0.1:4000  6 B  hello\n"
        );
        let ev = Event::Datagram {
            from,
            bytes: b"a\nb\r\n",
        };
        assert_eq!(
            render_plain(&ev, Level::Quiet).0,
            "127.0.0.1:4000  5 B  a\\nb\n",
            "a datagram holding a line break is still one line"
        );
        let ev = Event::Datagram {
            from,
            bytes: &[0xff, 0x00],
        };
        assert_eq!(
            render_plain(&ev, Level::Quiet).0,
            "127.0.0.1:4000  2 B  (binary)\n  00000000  ff 00                                             |..|\n"
        );
    }

    #[test]
    fn error_line_is_one_line() {
        let mut err = Vec::new();
        error_line(&Error::usage("port", "not a port"), false, &mut err);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "netkit: port: not a port\n"
        );
    }
}
