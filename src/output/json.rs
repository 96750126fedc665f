//! The `--json` sink: one NDJSON object per event on stdout.
//!
//! Every object has `"event"` (its name) and `"ts"` (RFC 3339, UTC,
//! milliseconds). Payloads are `"text"` when they are UTF-8 and `"bytes"`
//! (standard base64) otherwise. A multi-byte character split across two reads
//! is held back and sent with the next chunk of the same connection, so a
//! UTF-8 stream is never reported as bytes just because of where a read ended.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::event::{ConnId, Event, HttpRequestRecord};

#[derive(Default)]
pub struct JsonSink {
    /// Trailing bytes of an incomplete UTF-8 character, per connection.
    carry: HashMap<ConnId, Vec<u8>>,
}

fn secs(d: Duration) -> Value {
    json!((d.as_secs_f64() * 1e6).round() / 1e6)
}

fn begin(name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("event".into(), json!(name));
    m.insert(
        "ts".into(),
        json!(humantime::format_rfc3339_millis(SystemTime::now()).to_string()),
    );
    m
}

fn finish(m: Map<String, Value>, out: &mut Vec<u8>) {
    // Serializing a Map of plain values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &Value::Object(m));
    out.push(b'\n');
}

/// Puts `payload` under `"text"` if it is UTF-8, else under `"bytes"`.
pub fn put_payload(m: &mut Map<String, Value>, payload: &[u8]) {
    match std::str::from_utf8(payload) {
        Ok(text) => m.insert("text".into(), json!(text)),
        Err(_) => m.insert(
            "bytes".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(payload)),
        ),
    };
}

impl JsonSink {
    pub fn render(&mut self, event: &Event, out: &mut Vec<u8>) {
        match event {
            Event::Data { id, peer, bytes } => self.data(*id, peer, bytes, out),
            Event::Closed { id, .. } => {
                if let Some(rest) = self.carry.remove(id) {
                    let mut m = begin("data");
                    m.insert("id".into(), json!(id));
                    put_payload(&mut m, &rest);
                    finish(m, out);
                }
                finish(fields(event), out);
            }
            // Heads are for people (-v); the response event carries them.
            Event::HttpHead { .. } => {}
            _ => finish(fields(event), out),
        }
    }

    fn data(&mut self, id: ConnId, peer: &crate::net::Peer, bytes: &[u8], out: &mut Vec<u8>) {
        let joined;
        let mut chunk = bytes;
        if let Some(mut held) = self.carry.remove(&id) {
            held.extend_from_slice(bytes);
            joined = held;
            chunk = &joined;
        }
        // Hold back an incomplete character at the very end (at most 3 bytes).
        let cut = match std::str::from_utf8(chunk) {
            Err(e) if e.error_len().is_none() && chunk.len() - e.valid_up_to() <= 3 => {
                e.valid_up_to()
            }
            _ => chunk.len(),
        };
        let (now, later) = chunk.split_at(cut);
        if !later.is_empty() {
            self.carry.insert(id, later.to_vec());
        }
        if now.is_empty() {
            return;
        }
        let mut m = begin("data");
        m.insert("id".into(), json!(id));
        m.insert("peer".into(), json!(peer.to_string()));
        put_payload(&mut m, now);
        finish(m, out);
    }
}

/// A request as httpbin shows it: `method`, `path`, `query` (the raw string
/// or null), `args` (the query decoded), `http_version`, `headers` (repeated
/// names joined with ", "), and `body` (UTF-8) or `body_base64`.
pub fn request_fields(r: &HttpRequestRecord, m: &mut Map<String, Value>) {
    m.insert("method".into(), json!(r.method));
    m.insert("target".into(), json!(r.target));
    m.insert("path".into(), json!(r.path));
    m.insert("query".into(), json!(r.query));
    let mut args = Map::new();
    for (k, v) in url::form_urlencoded::parse(r.query.unwrap_or("").as_bytes()) {
        match args.get_mut(k.as_ref()) {
            Some(Value::Array(list)) => list.push(json!(v)),
            Some(prev) => *prev = json!([prev.clone(), v]),
            None => {
                args.insert(k.into_owned(), json!(v));
            }
        }
    }
    m.insert("args".into(), Value::Object(args));
    m.insert(
        "http_version".into(),
        json!(format!("HTTP/1.{}", r.version)),
    );
    let mut headers = Map::new();
    for (n, v) in r.headers {
        match headers.get_mut(n.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            _ => {
                headers.insert(n.clone(), json!(v));
            }
        }
    }
    m.insert("headers".into(), Value::Object(headers));
    match std::str::from_utf8(r.body) {
        Ok(text) => m.insert("body".into(), json!(text)),
        Err(_) => m.insert(
            "body_base64".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(r.body)),
        ),
    };
}

fn fields(event: &Event) -> Map<String, Value> {
    let mut m = begin(event.name());
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    match event {
        Event::Listening { addr } => {
            put("addr", json!(addr.to_string()));
            match addr {
                crate::net::Peer::Ip(a) => put("port", json!(a.port())),
                crate::net::Peer::Unix(path) => put("path", json!(&**path)),
            }
        }
        Event::ExecExit {
            id,
            pid,
            command,
            code,
            signal,
        } => {
            put("id", json!(id));
            put("pid", json!(pid));
            put("command", json!(command));
            put("code", json!(code));
            put("signal", json!(signal));
        }
        Event::Resolved { host, addrs } => {
            put("host", json!(host));
            let list: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
            put("addrs", json!(list));
        }
        Event::ConnectFailed { addr, why } => {
            put("addr", json!(addr.to_string()));
            put("error", json!(why));
        }
        Event::Connected {
            id,
            local,
            remote,
            accepted,
            time,
            clients,
        } => {
            put("id", json!(id));
            put("local", json!(local.to_string()));
            put("remote", json!(remote.to_string()));
            if *accepted {
                put("clients", json!(clients));
            }
            if let Some(t) = time {
                put("time_connect", secs(*t));
            }
        }
        Event::Rejected { remote, reason } => {
            put("remote", json!(remote.to_string()));
            put("reason", json!(reason));
        }
        Event::Data { id, bytes, .. } => {
            put("id", json!(id));
            put_payload(&mut m, bytes);
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
            put("id", json!(id));
            put("remote", json!(remote.to_string()));
            put("by", json!(by.as_str()));
            put("sent", json!(sent));
            put("received", json!(received));
            put("duration", secs(*duration));
            put("clients", json!(clients));
            if let Some(r) = reason {
                put("reason", json!(r));
            }
        }
        Event::Chat { from, text } => {
            put("from", json!(from));
            put("text", json!(text));
        }
        Event::Joined {
            name,
            remote,
            clients,
        } => {
            put("name", json!(name));
            put("remote", json!(remote.to_string()));
            put("clients", json!(clients));
        }
        Event::Left {
            name,
            clients,
            reason,
        } => {
            put("name", json!(name));
            put("clients", json!(clients));
            if let Some(r) = reason {
                put("reason", json!(r));
            }
        }
        Event::Check {
            host,
            addr,
            state,
            time,
            error,
        } => {
            put("host", json!(host));
            put("addr", json!(addr.ip().to_string()));
            put("port", json!(addr.port()));
            put("state", json!(state.as_str()));
            put("time", time.map_or(Value::Null, secs));
            if let Some(e) = error {
                put("error", json!(e));
            }
        }
        Event::Datagram { from, bytes } => {
            put("from", json!(from.to_string()));
            put("length", json!(bytes.len()));
            put_payload(&mut m, bytes);
        }
        Event::Sent { to, length } => {
            put("to", json!(to.to_string()));
            put("length", json!(length));
        }
        Event::UdpSummary {
            sent,
            received,
            bytes_sent,
            bytes_received,
            elapsed,
            drops,
        } => {
            put("sent", json!(sent));
            put("received", json!(received));
            put("bytes_sent", json!(bytes_sent));
            put("bytes_received", json!(bytes_received));
            put("elapsed", secs(*elapsed));
            let secs_f = elapsed.as_secs_f64();
            let rate = if secs_f > 0.0 {
                *received as f64 / secs_f
            } else {
                0.0
            };
            put("rate", json!(rate.round()));
            put("drops", drops.map_or(Value::Null, |d| json!(d)));
        }
        Event::HttpHead { sent, lines } => {
            put("sent", json!(sent));
            put("lines", json!(lines));
        }
        Event::HttpRetry {
            url,
            attempt,
            retries_left,
            delay,
            reason,
        } => {
            put("url", json!(url));
            put("attempt", json!(attempt));
            put("retries_left", json!(retries_left));
            put("delay", secs(*delay));
            put("reason", json!(reason));
        }
        Event::HttpRequest(r) => {
            put("id", json!(r.id));
            put("remote", json!(r.remote.to_string()));
            put("status", json!(r.status));
            request_fields(r, &mut m);
        }
        Event::HttpResponse(r) => {
            put("url", json!(r.url));
            put("method", json!(r.method));
            put("status", json!(r.status));
            put("reason", json!(r.reason));
            put("http_version", json!(r.version));
            put("headers", headers_object(&r.headers));
            put(
                "remote_ip",
                r.remote.map_or(Value::Null, |a| json!(a.ip().to_string())),
            );
            put(
                "remote_port",
                r.remote.map_or(Value::Null, |a| json!(a.port())),
            );
            put("size_header", json!(r.size_header));
            put("size_download", json!(r.size_download));
            put("size_upload", json!(r.size_upload));
            put("num_redirects", json!(r.redirects));
            let t = &r.timing;
            put("time_namelookup", secs(t.namelookup));
            put("time_connect", secs(t.connect));
            put("time_appconnect", secs(t.appconnect));
            put("time_pretransfer", secs(t.pretransfer));
            put("time_starttransfer", secs(t.starttransfer));
            put("time_total", secs(t.total));
            put("time_redirect", secs(r.time_redirect));
            let transfer = t.total.as_secs_f64();
            let speed = if transfer > 0.0 {
                r.size_download as f64 / transfer
            } else {
                0.0
            };
            put("speed_download", json!(speed.round()));
            if let Some(body) = &r.body {
                put_payload(&mut m, body);
            }
        }
        Event::WsOpen {
            id,
            remote,
            path,
            protocol,
            clients,
        } => {
            put("id", json!(id));
            put("remote", json!(remote.to_string()));
            put("path", json!(&**path));
            put("protocol", protocol.map_or(Value::Null, |p| json!(p)));
            put("clients", json!(clients));
        }
        Event::Message { id, text, bytes } => {
            put("id", json!(id));
            match text {
                Some(t) => put("text", json!(t)),
                None => put(
                    "bytes",
                    json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
                ),
            }
        }
        Event::WsControl { id, data, .. } => {
            put("id", json!(id));
            match std::str::from_utf8(data) {
                Ok(t) => put("text", json!(t)),
                Err(_) => put(
                    "bytes",
                    json!(base64::engine::general_purpose::STANDARD.encode(data)),
                ),
            }
        }
        Event::Reconnect {
            attempt,
            delay,
            url,
            reason,
        } => {
            put("attempt", json!(attempt));
            put("delay", secs(*delay));
            put("url", json!(url));
            put("reason", json!(reason));
        }
        Event::WsClose {
            id,
            remote,
            code,
            reason,
            by,
            clients,
        } => {
            put("id", json!(id));
            put("remote", json!(remote.to_string()));
            put("code", code.map_or(Value::Null, |c| json!(c)));
            put("reason", json!(reason));
            put("by", json!(by));
            put("clients", json!(clients));
        }
        Event::PollResult(r) => {
            put("seq", json!(r.seq));
            put("url", json!(r.url));
            put("status", r.status.map_or(Value::Null, |s| json!(s)));
            put("outcome", json!(r.outcome.as_str()));
            put(
                "changed",
                json!(r.outcome == crate::event::PollOutcome::Changed),
            );
            put("size", json!(r.size));
            put("latency", secs(r.latency));
            if let Some(e) = &r.error {
                put("error", json!(e));
            }
            if let Some(d) = r.retry_in {
                put("retry_in", secs(d));
            }
        }
        Event::BenchResult(r) => {
            put("transport", json!(r.transport));
            put("clients", json!(r.clients));
            put("messages", json!(r.messages));
            put("latency_p50", json!(r.latency_p50));
            put("latency_p95", json!(r.latency_p95));
            put("latency_p99", json!(r.latency_p99));
            put("latency_max", json!(r.latency_max));
            put("requests", json!(r.requests));
            put("empty_responses", json!(r.empty_responses));
            put("requests_per_message", json!(r.requests_per_message));
            put("bytes_per_message", json!(r.bytes_per_message));
            put("lost", json!(r.lost));
            put("duplicated", json!(r.duplicated));
            put("connections", json!(r.connections));
        }
        Event::PollSummary(s) => {
            put("requests", json!(s.requests));
            put("new", json!(s.new));
            put("changed", json!(s.changed));
            put("unchanged", json!(s.unchanged));
            put("up", json!(s.up));
            put("errors", json!(s.errors));
            put("bytes", json!(s.bytes));
            let opt = |d: Option<Duration>| d.map_or(Value::Null, secs);
            put("latency_min", opt(s.min));
            put("latency_p50", opt(s.p50));
            put("latency_p95", opt(s.p95));
            put("latency_max", opt(s.max));
            let pct = |p: Option<f64>| p.map_or(Value::Null, |p| json!((p * 10.0).round() / 10.0));
            put("uptime_pct", pct(s.uptime));
            put("nothing_new_pct", pct(s.nothing_new));
            put("elapsed", secs(s.elapsed));
        }
        Event::CheckSummary {
            open,
            closed,
            timeout,
            elapsed,
        } => {
            put("open", json!(open));
            put("closed", json!(closed));
            put("timeout", json!(timeout));
            put("elapsed", secs(*elapsed));
        }
        Event::TlsCert(r) => {
            let leaf = r.chain.first();
            put("host", json!(r.host));
            put("port", json!(r.port));
            put("addr", json!(r.addr.to_string()));
            put("subject", json!(leaf.map(|c| &c.subject)));
            put("issuer", json!(leaf.map(|c| &c.issuer)));
            put("sans", json!(leaf.map(|c| &c.sans)));
            put(
                "not_after",
                json!(leaf.map(|c| crate::net::tls::rfc3339(c.not_after))),
            );
            put("days_left", json!(r.days_left));
            put("verified", json!(r.error.is_none()));
            put("error", json!(r.error));
            put("version", json!(r.session.version));
            put("cipher", json!(r.session.cipher));
            put("alpn", json!(r.session.alpn));
            let chain: Vec<serde_json::Value> = r
                .chain
                .iter()
                .map(|c| {
                    json!({
                        "subject": c.subject,
                        "issuer": c.issuer,
                        "sans": c.sans,
                        "not_before": crate::net::tls::rfc3339(c.not_before),
                        "not_after": crate::net::tls::rfc3339(c.not_after),
                    })
                })
                .collect();
            put("chain", json!(chain));
        }
        Event::ClientConnected {
            local,
            remote,
            reused,
        } => {
            put("local", json!(local.to_string()));
            put("remote", json!(remote.to_string()));
            put("reused", json!(reused));
        }
        Event::Verbatim { bytes, .. } => match std::str::from_utf8(bytes) {
            Ok(text) => put("text", json!(text)),
            Err(_) => put(
                "bytes",
                json!(base64::engine::general_purpose::STANDARD.encode(bytes)),
            ),
        },
        Event::PeerTls { id, remote, info } => {
            put("id", json!(id));
            put("remote", json!(remote.to_string()));
            put("version", json!(info.version));
            put("cipher", json!(info.cipher));
            put("alpn", json!(info.alpn));
        }
        Event::TlsSession(info) | Event::ClientTls(info) => {
            put("version", json!(info.version));
            put("cipher", json!(info.cipher));
            put("alpn", json!(info.alpn));
            put("subject", json!(info.subject));
            put("not_after", json!(info.not_after));
        }
    }
    m
}

/// Header fields as an object keyed by lower-case name; a repeated field
/// (Set-Cookie) becomes an array of its values.
fn headers_object(headers: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (name, value) in headers {
        let key = name.to_ascii_lowercase();
        match m.get_mut(&key) {
            None => {
                m.insert(key, json!(value));
            }
            Some(Value::Array(list)) => list.push(json!(value)),
            Some(first) => {
                let prev = first.take();
                *first = json!([prev, value]);
            }
        }
    }
    Value::Object(m)
}

/// `{"event":"error","what":..,"why":..,"exit":N}`.
pub fn render_error(err: &Error, out: &mut Vec<u8>) {
    let mut m = begin("error");
    m.insert("what".into(), json!(err.what));
    m.insert("why".into(), json!(err.why));
    m.insert("exit".into(), json!(err.kind.code()));
    finish(m, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(sink: &mut JsonSink, events: &[Event]) -> Vec<Value> {
        let mut out = Vec::new();
        for e in events {
            sink.render(e, &mut out);
        }
        out.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    fn data(bytes: &[u8]) -> Event<'_> {
        Event::Data {
            id: 1,
            peer: "127.0.0.1:9".parse().unwrap(),
            bytes,
        }
    }

    #[test]
    fn every_event_has_name_and_timestamp() {
        let mut sink = JsonSink::default();
        let v = lines(
            &mut sink,
            &[Event::Listening {
                addr: "[::]:4000".parse::<std::net::SocketAddr>().unwrap().into(),
            }],
        );
        assert_eq!(v[0]["event"], "listening");
        assert_eq!(v[0]["port"], 4000);
        assert!(v[0]["ts"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn text_and_bytes() {
        let mut sink = JsonSink::default();
        let v = lines(&mut sink, &[data(b"hi\n"), data(&[0xff, 0x00])]);
        assert_eq!(v[0]["text"], "hi\n");
        assert_eq!(v[1]["bytes"], "/wA=");
        assert!(v[1].get("text").is_none());
    }

    #[test]
    fn split_character_is_carried_to_the_next_chunk() {
        let snow = "☃".as_bytes(); // e2 98 83
        let mut sink = JsonSink::default();
        let v = lines(&mut sink, &[data(&[b'a', snow[0]]), data(&snow[1..])]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["text"], "a");
        assert_eq!(v[1]["text"], "☃");
    }

    #[test]
    fn held_bytes_are_flushed_at_close() {
        let mut sink = JsonSink::default();
        let closed = Event::Closed {
            id: 1,
            remote: "127.0.0.1:9".parse().unwrap(),
            by: crate::event::Closer::Peer,
            sent: 0,
            received: 1,
            duration: Duration::from_millis(5),
            reason: None,
            clients: 0,
        };
        let v = lines(&mut sink, &[data(&[0xe2]), closed]);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0]["bytes"], "4g==");
        assert_eq!(v[1]["event"], "closed");
        assert_eq!(v[1]["by"], "peer");
        assert_eq!(v[1]["duration"], 0.005);
    }

    #[test]
    fn http_response_fields_are_named_like_curl() {
        let report = crate::event::HttpReport {
            url: "http://h/".into(),
            method: "GET".into(),
            status: 200,
            reason: "OK".into(),
            version: "HTTP/1.1".into(),
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Set-Cookie".into(), "a=1".into()),
                ("Set-Cookie".into(), "b=2".into()),
            ],
            size_download: 2,
            body: Some(b"hi".to_vec()),
            ..Default::default()
        };
        let mut sink = JsonSink::default();
        let v = lines(&mut sink, &[Event::HttpResponse(&report)]);
        assert_eq!(v[0]["event"], "http_response");
        assert_eq!(v[0]["status"], 200);
        assert_eq!(v[0]["headers"]["content-type"], "text/plain");
        assert_eq!(v[0]["headers"]["set-cookie"], json!(["a=1", "b=2"]));
        assert_eq!(v[0]["text"], "hi");
        for field in [
            "time_namelookup",
            "time_connect",
            "time_appconnect",
            "time_starttransfer",
            "time_total",
        ] {
            assert!(v[0][field].is_number(), "{field}");
        }
    }

    #[test]
    fn error_event() {
        let mut out = Vec::new();
        render_error(&Error::usage("port", "bad"), &mut out);
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["event"], "error");
        assert_eq!(v["exit"], 2);
    }
}
