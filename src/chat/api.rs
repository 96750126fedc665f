//! The chat's HTTP API, sans-IO: the bounded message log, what a request
//! asks for, and the bytes of every answer. No sockets, no clock (times are
//! passed in).
//!
//! - `GET /messages?since=N`: the messages after cursor N, as text lines
//!   `<name> text\n`, or with `Accept: application/json` as NDJSON objects
//!   `{"seq","from","text","ts"}`. Without `since`, `If-None-Match` is the
//!   cursor; without either, the whole history. Every answer carries
//!   `ETag: "<last seq>"`. Nothing new: `304 Not Modified` to a conditional
//!   request, `204 No Content` otherwise.
//! - Long polling: `?wait=30s` (or `30`) or `Prefer: wait=30` (RFC 7240)
//!   holds the request until a message comes or the wait runs out.
//! - `POST /messages?name=bot`, the text as the body.

use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use crate::proto::http_request::{encode_response_head, Request};

/// Longest wait a client may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(120);
/// Longest name taken from `POST /messages?name=`.
pub const MAX_NAME: usize = 64;

/// A message's place in the room, the polling cursor: a number from 1 in
/// a room of one server (shown `N`), a Redis Stream ID with `--redis`
/// (`ms-n`, shown so). `N` parses as `0-N`, below every stream ID.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id {
    pub ms: u64,
    pub seq: u64,
}

impl Id {
    pub const ZERO: Id = Id { ms: 0, seq: 0 };

    /// `N` or `ms-n`.
    pub fn parse(s: &str) -> Option<Id> {
        let num = |t: &str| {
            (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u64>().ok())
                .flatten()
        };
        match s.split_once('-') {
            Some((ms, seq)) => Some(Id {
                ms: num(ms)?,
                seq: num(seq)?,
            }),
            None => Some(Id {
                ms: 0,
                seq: num(s)?,
            }),
        }
    }

    /// The ID in the JSON objects: a number, or a string for stream IDs.
    pub fn json(&self) -> serde_json::Value {
        if self.ms == 0 {
            self.seq.into()
        } else {
            self.to_string().into()
        }
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.ms == 0 {
            write!(f, "{}", self.seq)
        } else {
            write!(f, "{}-{}", self.ms, self.seq)
        }
    }
}

/// One message of the room.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: Id,
    pub from: String,
    pub text: String,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
    /// `<from> text`.
    pub line: String,
    /// `{"seq":..,"from":..,"text":..,"ts":..}`.
    pub json: String,
}

/// The last `cap` messages, numbered from 1 (or by their stream IDs).
pub struct Log {
    entries: VecDeque<Rc<Entry>>,
    cap: usize,
    last: Id,
}

impl Log {
    pub fn new(cap: usize) -> Log {
        Log {
            entries: VecDeque::new(),
            cap: cap.max(1),
            last: Id::ZERO,
        }
    }

    /// A message numbered after the last.
    pub fn push(&mut self, from: &str, text: &str, ts: u64) -> Rc<Entry> {
        let seq = Id {
            ms: self.last.ms,
            seq: self.last.seq + 1,
        };
        self.push_id(seq, from, text, ts)
    }

    /// A message with its own ID (from a stream), after the last (the
    /// caller sees to that: IDs only grow).
    pub fn push_id(&mut self, seq: Id, from: &str, text: &str, ts: u64) -> Rc<Entry> {
        self.last = seq;
        let json = serde_json::json!({"seq": seq.json(), "from": from, "text": text, "ts": ts})
            .to_string();
        let e = Rc::new(Entry {
            seq,
            from: from.to_string(),
            text: text.to_string(),
            ts,
            line: format!("<{from}> {text}"),
            json,
        });
        if self.entries.len() == self.cap {
            self.entries.pop_front();
        }
        self.entries.push_back(e.clone());
        e
    }

    /// The ID of the last message (0: none yet).
    pub fn last_seq(&self) -> Id {
        self.last
    }

    /// The messages after `cursor` still held.
    pub fn after(&self, cursor: Id) -> impl Iterator<Item = &Rc<Entry>> {
        let skip = self.entries.partition_point(|e| e.seq <= cursor);
        self.entries.iter().skip(skip)
    }

    pub fn has_after(&self, cursor: Id) -> bool {
        self.last > cursor
    }
}

/// What a `GET /messages` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub cursor: Id,
    /// It carried `If-None-Match`: nothing new is a 304 (else 204).
    pub conditional: bool,
    pub json: bool,
    /// Long polling: hold it this long.
    pub wait: Option<Duration>,
    /// Keep the connection open after the answer.
    pub keep_alive: bool,
    /// The request's minor HTTP version.
    pub version: u8,
}

fn param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A wait: `30s`, `500ms` (humantime) or plain seconds; capped.
fn parse_wait(v: &str) -> Option<Duration> {
    let v = v.trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(v).ok()?,
    };
    Some(d.min(MAX_WAIT))
}

/// `wait=N` among the preferences of `Prefer` fields.
fn prefer_wait(req: &Request) -> Option<Duration> {
    req.all("prefer")
        .flat_map(|v| v.split([',', ';']))
        .find_map(|p| {
            let (k, v) = p.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("wait")
                .then(|| parse_wait(v.trim().trim_matches('"')))?
        })
}

/// `"12"`, `W/"12"` or `12` (or a stream ID so).
fn parse_tag(v: &str) -> Option<Id> {
    Id::parse(v.trim().trim_start_matches("W/").trim_matches('"'))
}

impl Query {
    pub fn of(req: &Request) -> Result<Query, String> {
        let q = req.query();
        let inm = req.header("if-none-match");
        let cursor = match (param(q, "since"), inm) {
            (Some(s), _) => {
                Id::parse(&s).ok_or_else(|| format!("since={s}: not a message number"))?
            }
            (None, Some(tag)) => parse_tag(tag).unwrap_or(Id::ZERO),
            (None, None) => Id::ZERO,
        };
        let wait = match param(q, "wait") {
            Some(w) => Some(parse_wait(&w).ok_or_else(|| format!("wait={w}: not a duration"))?),
            None => prefer_wait(req),
        };
        let accept = req.header("accept").unwrap_or("");
        Ok(Query {
            cursor,
            conditional: inm.is_some(),
            json: accept.contains("application/json") || accept.contains("application/x-ndjson"),
            wait: wait.filter(|w| !w.is_zero()),
            keep_alive: req.keep_alive(),
            version: req.version,
        })
    }
}

/// A complete response.
pub fn response(
    version: u8,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
    keep_alive: bool,
) -> Vec<u8> {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    let len = body.len().to_string();
    let bodiless = matches!(status, 204 | 304);
    if !bodiless {
        all.push(("Content-Length", &len));
    }
    all.push(("Cache-Control", "no-store"));
    if !keep_alive {
        all.push(("Connection", "close"));
    }
    let mut out = Vec::with_capacity(128 + body.len());
    encode_response_head(version.min(1), status, &all, &mut out);
    if !bodiless {
        out.extend_from_slice(body);
    }
    out
}

/// The messages after the cursor (200), or `None` when there are none.
pub fn messages(log: &Log, q: &Query) -> Option<Vec<u8>> {
    if !log.has_after(q.cursor) {
        return None;
    }
    let mut body = Vec::new();
    let mut last = q.cursor;
    for e in log.after(q.cursor) {
        body.extend_from_slice(if q.json { &e.json } else { &e.line }.as_bytes());
        body.push(b'\n');
        last = e.seq;
    }
    let etag = format!("\"{last}\"");
    let ctype = if q.json {
        "application/x-ndjson"
    } else {
        "text/plain; charset=utf-8"
    };
    Some(response(
        q.version,
        200,
        &[("Content-Type", ctype), ("ETag", &etag)],
        &body,
        q.keep_alive,
    ))
}

/// Nothing new: 304 to a conditional request, 204 otherwise. The ETag is
/// the log's last ID, or the client's stream ID when that is later (it
/// read further on another server of the room, which this one has not
/// caught up with: going back would repeat messages). A plain number
/// ahead of the log is forgotten (a restarted server numbers from 1).
pub fn nothing_new(log: &Log, q: &Query) -> Vec<u8> {
    let last = match q.cursor.ms {
        0 => log.last_seq(),
        _ => q.cursor.max(log.last_seq()),
    };
    let etag = format!("\"{last}\"");
    let status = if q.conditional { 304 } else { 204 };
    response(q.version, status, &[("ETag", &etag)], b"", q.keep_alive)
}

/// The name and text of a `POST /messages?name=`: the body, its last line
/// end dropped, control characters but newlines and tabs replaced.
pub fn posted(req: &Request, body: &[u8]) -> (String, String) {
    let name: String = param(req.query(), "name")
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control() && !c.is_whitespace() && *c != '<' && *c != '>')
        .take(MAX_NAME)
        .collect();
    let name = if name.is_empty() { "http".into() } else { name };
    let text = String::from_utf8_lossy(body);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() && c != '\t' { ' ' } else { c })
        .collect();
    (name, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http_request::parse_head;

    fn req(text: &str) -> Request {
        let raw = text.replace('\n', "\r\n");
        parse_head(raw.as_bytes(), 1 << 14).unwrap().unwrap().1
    }

    fn log3() -> Log {
        let mut log = Log::new(1000);
        log.push("ann", "hi", 1);
        log.push("bob", "yo", 2);
        log.push("ann", "bye", 3);
        log
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn messages_after_the_cursor_as_lines_with_the_last_seq_as_etag() {
        let q = Query::of(&req("GET /messages?since=1 HTTP/1.1\nHost: x\n\n")).unwrap();
        assert_eq!(
            text(messages(&log3(), &q).unwrap()),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nETag: \"3\"\r\n\
             Content-Length: 19\r\nCache-Control: no-store\r\n\r\n<bob> yo\n<ann> bye\n"
        );
    }

    #[test]
    fn json_when_accepted() {
        let q = Query::of(&req(
            "GET /messages?since=2 HTTP/1.1\nHost: x\nAccept: application/json\n\n",
        ))
        .unwrap();
        let t = text(messages(&log3(), &q).unwrap());
        assert!(
            t.ends_with("\r\n\r\n{\"seq\":3,\"from\":\"ann\",\"text\":\"bye\",\"ts\":3}\n"),
            "{t}"
        );
    }

    #[test]
    fn if_none_match_is_the_cursor_and_nothing_new_is_304_or_204() {
        let log = log3();
        let q = Query::of(&req(
            "GET /messages HTTP/1.1\nHost: x\nIf-None-Match: \"3\"\n\n",
        ))
        .unwrap();
        assert_eq!(q.cursor, Id { ms: 0, seq: 3 });
        assert!(messages(&log, &q).is_none());
        assert_eq!(
            text(nothing_new(&log, &q)),
            "HTTP/1.1 304 Not Modified\r\nETag: \"3\"\r\nCache-Control: no-store\r\n\r\n"
        );
        let q = Query::of(&req("GET /messages?since=3 HTTP/1.1\nHost: x\n\n")).unwrap();
        assert_eq!(
            text(nothing_new(&log, &q)),
            "HTTP/1.1 204 No Content\r\nETag: \"3\"\r\nCache-Control: no-store\r\n\r\n"
        );
        // since wins over If-None-Match.
        let q = Query::of(&req(
            "GET /messages?since=1 HTTP/1.1\nHost: x\nIf-None-Match: \"3\"\n\n",
        ))
        .unwrap();
        assert_eq!(q.cursor, Id { ms: 0, seq: 1 });
    }

    #[test]
    fn waits_from_the_query_or_prefer() {
        let w = |r: &str| Query::of(&req(r)).unwrap().wait;
        assert_eq!(
            w("GET /messages?wait=30s HTTP/1.1\nHost: x\n\n"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            w("GET /messages?wait=5 HTTP/1.1\nHost: x\n\n"),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            w("GET /messages HTTP/1.1\nHost: x\nPrefer: respond-async, wait=9\n\n"),
            Some(Duration::from_secs(9))
        );
        assert_eq!(
            w("GET /messages?wait=1h HTTP/1.1\nHost: x\n\n"),
            Some(MAX_WAIT)
        );
        assert_eq!(w("GET /messages HTTP/1.1\nHost: x\n\n"), None);
        assert!(Query::of(&req("GET /messages?wait=soon HTTP/1.1\nHost: x\n\n")).is_err());
        assert!(Query::of(&req("GET /messages?since=x HTTP/1.1\nHost: x\n\n")).is_err());
    }

    #[test]
    fn the_log_keeps_the_last_cap_messages() {
        let mut log = Log::new(2);
        for i in 1..=5 {
            log.push("a", &format!("m{i}"), i);
        }
        let n = |seq| Id { ms: 0, seq };
        let seqs: Vec<u64> = log.after(n(0)).map(|e| e.seq.seq).collect();
        assert_eq!(seqs, [4, 5]);
        let seqs: Vec<u64> = log.after(n(4)).map(|e| e.seq.seq).collect();
        assert_eq!(seqs, [5]);
        assert_eq!(log.after(n(5)).count(), 0);
        assert_eq!(log.after(n(u64::MAX)).count(), 0);
    }

    #[test]
    fn stream_ids_are_cursors_and_etags() {
        let mut log = Log::new(2);
        for (ms, seq) in [(1700, 0), (1700, 1), (1800, 0)] {
            log.push_id(Id { ms, seq }, "a", "m", ms);
        }
        let q = Query::of(&req("GET /messages?since=1700-0 HTTP/1.1\nHost: x\n\n")).unwrap();
        assert_eq!(q.cursor, Id { ms: 1700, seq: 0 });
        let q = Query::of(&req(
            "GET /messages HTTP/1.1\nHost: x\nAccept: application/json\nIf-None-Match: W/\"1700-1\"\n\n",
        ))
        .unwrap();
        let t = text(messages(&log, &q).unwrap());
        assert!(t.contains("ETag: \"1800-0\"\r\n"), "{t}");
        assert!(
            t.ends_with("\r\n\r\n{\"seq\":\"1800-0\",\"from\":\"a\",\"text\":\"m\",\"ts\":1800}\n"),
            "{t}"
        );
        // A client ahead (it read further on another server) keeps its
        // cursor; a plain number ahead is forgotten.
        let q = Query::of(&req(
            "GET /messages HTTP/1.1\nHost: x\nIf-None-Match: \"1900-0\"\n\n",
        ))
        .unwrap();
        assert!(messages(&log, &q).is_none());
        assert!(text(nothing_new(&log, &q)).contains("ETag: \"1900-0\"\r\n"));
        let q = Query::of(&req("GET /messages?since=99 HTTP/1.1\nHost: x\n\n")).unwrap();
        assert!(text(nothing_new(&log3(), &q)).contains("ETag: \"3\"\r\n"));
        // A plain number is before every stream ID: the whole log.
        let q = Query::of(&req("GET /messages?since=0 HTTP/1.1\nHost: x\n\n")).unwrap();
        assert_eq!(
            text(messages(&log, &q).unwrap()).matches("<a> m\n").count(),
            2
        );
        for bad in ["1-", "-1", "1-2-3", "x", "", "+1"] {
            assert_eq!(Id::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn posted_names_and_texts_are_cleaned() {
        let r = req("POST /messages?name=b%3Co%20t HTTP/1.1\nHost: x\n\n");
        assert_eq!(
            posted(&r, b"hello\x07 there\n"),
            ("bot".to_string(), "hello  there".to_string())
        );
        let r = req("POST /messages HTTP/1.1\nHost: x\n\n");
        assert_eq!(posted(&r, b"x\r\n").0, "http");
    }
}
