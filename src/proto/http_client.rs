//! The HTTP/1.1 client conversation, sans-IO, in the manner of quinn-proto:
//! bytes in, bytes and events out, no sockets and no clock.
//!
//! * [`ClientRequest`] and [`Origin`]: what is asked and where; [`ClientRequest::encode`]
//!   lays out the head as sent (Host, credentials from the URL, the fields,
//!   Content-Length), [`default_headers`] are the fields every request
//!   starts from.
//! * [`RoundTrip`]: one request and its response on one connection. The
//!   driver sends [`RoundTrip::wire`], feeds what arrives to
//!   [`RoundTrip::decode`] (which returns how much it used and at most one
//!   [`RoundTripEvent`]) and reports the connection's end ([`RoundTrip::closed`]) or
//!   failure. It decides whether the connection may carry the next request
//!   (`Done { reusable }`) and whether a failure means a kept-alive
//!   connection had died while idle, so that the request is sent once more
//!   on a fresh one ([`RoundTrip::retry_fresh`]).
//! * Redirects: [`redirect_target`] reads the Location of a 3xx and
//!   [`redirected`] rewrites the request for it, as curl does (301/302 turn
//!   a POST into a GET, 303 anything but HEAD; 307/308 keep method and body;
//!   Authorization and Cookie fields stay with the origin they were given
//!   for).
//!
//! The mio driver (`http::client::Exchange`) only moves bytes, resolves,
//! connects and runs TLS.

use std::fmt;
use std::io;
use std::sync::Arc;

use base64::Engine;
use url::Url;

use super::http::{encode_request, Head, HttpError, Item, ResponseDecoder};

/// A URL a request cannot go to (the scheme, no host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError {
    pub url: String,
    pub why: String,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.url, self.why)
    }
}

impl std::error::Error for UrlError {}

/// Where a request goes: connections are reused only within one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn of(url: &Url) -> Result<Origin, UrlError> {
        let bad = |why: String| UrlError {
            url: url.as_str().to_string(),
            why,
        };
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(bad(format!(
                    "unsupported scheme {other:?} (http and https are)"
                )))
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(h) => h.to_string(),
            None => return Err(bad("no host in the URL".into())),
        };
        if host.is_empty() {
            return Err(bad("no host in the URL".into()));
        }
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        Ok(Origin { https, host, port })
    }

    /// `host` or `host:port` when the port is not the scheme's default.
    pub fn host_header(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// The fields every request starts from (a `-H` of the same name replaces
/// one): `User-Agent: netkit/VERSION` and `Accept: */*`, as curl sends its own.
pub fn default_headers() -> Vec<(String, String)> {
    vec![
        (
            "User-Agent".into(),
            format!("netkit/{}", env!("CARGO_PKG_VERSION")),
        ),
        ("Accept".into(), "*/*".into()),
    ]
}

/// A request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest {
    pub method: String,
    pub url: Url,
    /// Header fields in order; Host comes first when encoded.
    pub headers: Vec<(String, String)>,
    pub body: Arc<Vec<u8>>,
}

impl ClientRequest {
    /// A GET of `url` with the default fields, then `extra` (replacing a
    /// default of the same name).
    pub fn get(url: Url, extra: Vec<(String, String)>) -> ClientRequest {
        let mut headers = default_headers();
        headers.retain(|(n, _)| !extra.iter().any(|(e, _)| e.eq_ignore_ascii_case(n)));
        headers.extend(extra);
        ClientRequest {
            method: "GET".into(),
            url,
            headers,
            body: Arc::new(Vec::new()),
        }
    }

    /// The request target: path and query.
    pub fn target(&self) -> String {
        let mut t = self.url.path().to_string();
        if let Some(q) = self.url.query() {
            t.push('?');
            t.push_str(q);
        }
        t
    }

    /// The head fields as sent: Host, credentials from the URL, the rest,
    /// and Content-Length when there is a body.
    pub fn wire_headers(&self, origin: &Origin) -> Vec<(String, String)> {
        let mut fields = Vec::with_capacity(self.headers.len() + 3);
        if !self.has("host") {
            fields.push(("Host".to_string(), origin.host_header()));
        }
        if !self.url.username().is_empty() && !self.has("authorization") {
            let user = percent_decode(self.url.username());
            let pass = percent_decode(self.url.password().unwrap_or(""));
            fields.push(("Authorization".to_string(), basic_auth(&user, &pass)));
        }
        fields.extend(self.headers.iter().cloned());
        let needs_length =
            !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
        if needs_length && !self.has("content-length") {
            fields.push(("Content-Length".to_string(), self.body.len().to_string()));
        }
        fields
    }

    /// Whether a field `name` is set (case-insensitive).
    pub fn has(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The head as sent, line by line (`-v`): request line, then fields.
    pub fn head_lines(&self, origin: &Origin) -> Vec<String> {
        let mut lines = vec![format!("{} {} HTTP/1.1", self.method, self.target())];
        lines.extend(
            self.wire_headers(origin)
                .iter()
                .map(|(n, v)| format!("{n}: {v}")),
        );
        lines
    }

    /// The request head and body as bytes.
    pub fn encode(&self, origin: &Origin) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        encode_request(
            &self.method,
            &self.target(),
            &self.wire_headers(origin),
            &mut out,
        );
        out.extend_from_slice(&self.body);
        out
    }

    /// The request as sent to an HTTP proxy for a plain `http://` URL: the
    /// absolute URL as target (no CONNECT), with the proxy's credentials.
    pub fn encode_for_proxy(&self, origin: &Origin, auth: Option<&(String, String)>) -> Vec<u8> {
        let mut url = self.url.clone();
        url.set_fragment(None);
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let mut headers = self.wire_headers(origin);
        if let Some((user, pass)) = auth {
            headers.push(("Proxy-Authorization".to_string(), basic_auth(user, pass)));
        }
        let mut out = Vec::with_capacity(256 + self.body.len());
        encode_request(&self.method, url.as_str(), &headers, &mut out);
        out.extend_from_slice(&self.body);
        out
    }
}

/// `Basic base64(user:pass)`.
pub fn basic_auth(user: &str, pass: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {token}")
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The statuses that redirect (with a Location).
pub fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// A Location that cannot be followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectError {
    /// Not a URL relative to the request's.
    BadLocation { location: String, why: String },
    /// A URL netkit cannot request (another scheme, no host).
    Unusable(UrlError),
    /// `max` redirects were followed already (`--max-redirs`).
    TooMany { max: u32 },
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectError::BadLocation { location, why } => {
                write!(f, "bad Location {location:?}: {why}")
            }
            RedirectError::Unusable(e) => write!(f, "{e}"),
            RedirectError::TooMany { max } => {
                write!(f, "more than {max} redirects (--max-redirs)")
            }
        }
    }
}

impl std::error::Error for RedirectError {}

/// Where a redirect response points: `None` when `head` is not a redirect
/// or has no Location.
pub fn redirect_target(current: &Url, head: &Head) -> Option<Result<Url, RedirectError>> {
    if !is_redirect(head.status) {
        return None;
    }
    let location = head.header("location")?;
    Some(
        current
            .join(location)
            .map_err(|e| RedirectError::BadLocation {
                location: location.to_string(),
                why: e.to_string(),
            })
            .and_then(|next| {
                Origin::of(&next)
                    .map(|_| next)
                    .map_err(RedirectError::Unusable)
            }),
    )
}

/// Where `-L` goes next after `head`, `followed` redirects into a run that
/// follows at most `max`: `None` when `head` does not redirect.
pub fn follow_target(
    current: &Url,
    head: &Head,
    followed: u32,
    max: u32,
) -> Option<Result<Url, RedirectError>> {
    let target = redirect_target(current, head)?;
    if followed >= max {
        return Some(Err(RedirectError::TooMany { max }));
    }
    Some(target)
}

/// Statuses curl's `--retry` treats as transient.
const TRANSIENT: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// Whether `head` is a transient failure worth another attempt, and after
/// how long its `Retry-After` asks for (`now_unix`: seconds since 1970, for
/// a date): `None` when it is not transient, `Some(None)` when it says
/// nothing usable.
pub fn transient(head: &Head, now_unix: u64) -> Option<Option<std::time::Duration>> {
    if !TRANSIENT.contains(&head.status) {
        return None;
    }
    Some(
        head.header("retry-after")
            .and_then(|v| super::http::retry_after(v, now_unix)),
    )
}

/// The fields that carry credentials: they go only to the origin they were
/// given for (as curl, since CVE-2022-27776).
const CREDENTIALS: [&str; 2] = ["authorization", "cookie"];

/// `request` rewritten to follow a `status` redirect to `next` (RFC 9110,
/// section 15.4, as curl does it): 303 turns anything but HEAD into a GET
/// without body, 301 and 302 a POST; 307 and 308 keep method and body.
/// Across origins the credentials are dropped.
pub fn redirected(request: &ClientRequest, status: u16, next: Url) -> ClientRequest {
    let mut req = request.clone();
    let to_get = match status {
        303 => req.method != "HEAD",
        301 | 302 => req.method == "POST",
        _ => false,
    };
    if to_get {
        req.method = "GET".into();
        req.body = Arc::new(Vec::new());
        req.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
    }
    let same_origin = match (Origin::of(&request.url), Origin::of(&next)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same_origin {
        req.headers
            .retain(|(n, _)| !CREDENTIALS.iter().any(|c| n.eq_ignore_ascii_case(c)));
    }
    req.url = next;
    req
}

/// What a round trip reports, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum RoundTripEvent<'a> {
    /// A 1xx response (skipped).
    Interim(Head),
    /// The response head.
    Head(Head),
    /// A slice of the body (of the input given to `decode`).
    Body(&'a [u8]),
    /// Trailer fields of a chunked body.
    Trailers(Vec<(String, String)>),
    /// The response is complete; `reusable`: the connection may carry another.
    Done { reusable: bool },
}

/// How the connection failed, for [`RoundTrip::retry_fresh`].
#[derive(Debug, Clone, Copy)]
pub enum Failure<'e> {
    /// The response could not be decoded (an empty reply among others).
    Response(&'e HttpError),
    /// The connection failed with this kind of I/O error.
    Io(io::ErrorKind),
}

/// One request and its response on one connection.
#[derive(Debug)]
pub struct RoundTrip {
    wire: Vec<u8>,
    head_only: bool,
    decoder: ResponseDecoder,
    /// On a kept-alive connection that carried an earlier response.
    reused: bool,
    /// Any response byte received.
    got_bytes: bool,
    keep_alive: bool,
    done: bool,
    /// Head bytes (interim heads too) and body bytes received.
    pub bytes_head: u64,
    pub bytes_body: u64,
}

impl RoundTrip {
    /// `request` to `origin`, sent as `wire` (see [`ClientRequest::encode`]);
    /// `reused`: on a kept-alive connection.
    pub fn new(wire: Vec<u8>, head_only: bool, reused: bool) -> RoundTrip {
        RoundTrip {
            wire,
            head_only,
            decoder: ResponseDecoder::new(head_only),
            reused,
            got_bytes: false,
            keep_alive: false,
            done: false,
            bytes_head: 0,
            bytes_body: 0,
        }
    }

    /// The bytes to send: the request head and body.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    pub fn reused(&self) -> bool {
        self.reused
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether any response byte arrived.
    pub fn got_bytes(&self) -> bool {
        self.got_bytes
    }

    /// `n` response bytes arrived; `true` for the first ones.
    pub fn received(&mut self, n: usize) -> bool {
        let first = n > 0 && !self.got_bytes;
        self.got_bytes |= n > 0;
        first
    }

    /// Decodes from the front of `input` (everything received and not yet
    /// used): bytes used and at most one event. `all_sent`: the request
    /// went out whole (an early answer leaves the connection unusable).
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
        all_sent: bool,
    ) -> Result<(usize, Option<RoundTripEvent<'a>>), HttpError> {
        if self.done {
            return Ok((0, None));
        }
        let (used, item) = self.decoder.decode(input)?;
        let event = match item {
            None => None,
            Some(Item::Interim(h)) => {
                self.bytes_head += h.size as u64;
                Some(RoundTripEvent::Interim(h))
            }
            Some(Item::Head(h)) => {
                self.bytes_head += h.size as u64;
                self.keep_alive = h.keep_alive();
                Some(RoundTripEvent::Head(h))
            }
            Some(Item::Body(b)) => {
                self.bytes_body += b.len() as u64;
                Some(RoundTripEvent::Body(b))
            }
            Some(Item::Trailers(t)) => Some(RoundTripEvent::Trailers(t)),
            Some(Item::End) => {
                self.done = true;
                let reusable = all_sent
                    && self.keep_alive
                    && used == input.len()
                    && !self.decoder.close_delimited();
                Some(RoundTripEvent::Done { reusable })
            }
        };
        Ok((used, event))
    }

    /// The connection closed, leaving `rest` undecoded: the end of a
    /// close-delimited body (`Done`, not reusable), or an error.
    pub fn closed(&mut self, rest: &[u8]) -> Result<RoundTripEvent<'static>, HttpError> {
        self.decoder.finish(rest)?;
        self.done = true;
        Ok(RoundTripEvent::Done { reusable: false })
    }

    /// Whether `failure` means the kept-alive connection had been closed by
    /// the server while idle, so the request never got there: it is sent
    /// once more on a fresh connection (see [`RoundTrip::fresh`]).
    pub fn retry_fresh(&self, failure: Failure) -> bool {
        use io::ErrorKind as K;
        if !self.reused || self.got_bytes {
            return false;
        }
        match failure {
            Failure::Response(e) => *e == HttpError::EmptyReply,
            Failure::Io(kind) => matches!(
                kind,
                K::ConnectionReset
                    | K::ConnectionAborted
                    | K::ConnectionRefused
                    | K::BrokenPipe
                    | K::NotConnected
            ),
        }
    }

    /// The same request, to be sent on a fresh connection.
    pub fn fresh(&self) -> RoundTrip {
        RoundTrip::new(self.wire.clone(), self.head_only, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event with its body owned, to compare conversations.
    #[derive(Debug, PartialEq, Eq)]
    enum Seen {
        Interim(u16),
        Head(u16, String),
        Body(Vec<u8>),
        Trailers(Vec<(String, String)>),
        Done { reusable: bool },
    }

    /// How a test delivers the server's bytes.
    #[derive(Clone, Copy)]
    enum Feed {
        Whole,
        Bytewise,
    }

    /// Feeds `response` as the driver does (a buffer of what arrived and was
    /// not used yet), then the connection's end when `close`. Body slices are
    /// joined, so whole and bytewise feeding compare equal.
    fn converse(
        rt: &mut RoundTrip,
        response: &[u8],
        feed: Feed,
        close: bool,
    ) -> Result<Vec<Seen>, HttpError> {
        let mut seen = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let chunks: Vec<&[u8]> = match feed {
            Feed::Whole => vec![response],
            Feed::Bytewise => response.chunks(1).collect(),
        };
        let push = |seen: &mut Vec<Seen>, e: RoundTripEvent| match e {
            RoundTripEvent::Interim(h) => seen.push(Seen::Interim(h.status)),
            RoundTripEvent::Head(h) => seen.push(Seen::Head(h.status, h.reason)),
            RoundTripEvent::Body(b) => match seen.last_mut() {
                Some(Seen::Body(v)) => v.extend_from_slice(b),
                _ => seen.push(Seen::Body(b.to_vec())),
            },
            RoundTripEvent::Trailers(t) => seen.push(Seen::Trailers(t)),
            RoundTripEvent::Done { reusable } => seen.push(Seen::Done { reusable }),
        };
        for chunk in chunks {
            rt.received(chunk.len());
            buf.extend_from_slice(chunk);
            loop {
                let (used, event) = rt.decode(&buf, true)?;
                let progressed = used > 0 || event.is_some();
                if let Some(e) = event {
                    push(&mut seen, e);
                }
                buf.drain(..used);
                if !progressed {
                    break;
                }
            }
        }
        if close && !rt.is_done() {
            let e = rt.closed(&buf)?;
            push(&mut seen, e);
        }
        Ok(seen)
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn wire_of(req: &ClientRequest) -> String {
        String::from_utf8(req.encode(&Origin::of(&req.url).unwrap())).unwrap()
    }

    fn ua() -> String {
        format!("User-Agent: netkit/{}\r\n", env!("CARGO_PKG_VERSION"))
    }

    #[test]
    fn a_get_with_the_default_fields_and_a_kept_alive_answer() {
        let req = ClientRequest::get(url("http://example.org:8080/a?b=1"), Vec::new());
        assert_eq!(
            wire_of(&req),
            format!(
                "GET /a?b=1 HTTP/1.1\r\nHost: example.org:8080\r\n{}Accept: */*\r\n\r\n",
                ua()
            )
        );
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for feed in [Feed::Whole, Feed::Bytewise] {
            let mut rt = RoundTrip::new(req.encode(&Origin::of(&req.url).unwrap()), false, false);
            let seen = converse(&mut rt, response, feed, false).unwrap();
            assert_eq!(
                seen,
                vec![
                    Seen::Head(200, "OK".into()),
                    Seen::Body(b"hello".to_vec()),
                    Seen::Done { reusable: true },
                ]
            );
            assert_eq!((rt.bytes_head, rt.bytes_body), (38, 5));
        }
    }

    #[test]
    fn extra_fields_replace_the_defaults() {
        let req = ClientRequest::get(
            url("http://h/"),
            vec![("accept".into(), "text/html".into())],
        );
        assert_eq!(
            wire_of(&req),
            format!(
                "GET / HTTP/1.1\r\nHost: h\r\n{}accept: text/html\r\n\r\n",
                ua()
            )
        );
    }

    #[test]
    fn closing_answers_are_not_reused() {
        let cases: [(&[u8], bool); 4] = [
            (
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi",
                false,
            ),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", false),
            (
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
                true,
            ),
        ];
        for (response, reusable) in cases {
            for feed in [Feed::Whole, Feed::Bytewise] {
                let mut rt = RoundTrip::new(Vec::new(), false, false);
                let seen = converse(&mut rt, response, feed, false).unwrap();
                assert_eq!(seen.last(), Some(&Seen::Done { reusable }), "{seen:?}");
                assert!(seen.contains(&Seen::Body(b"hi".to_vec())));
            }
        }
    }

    #[test]
    fn a_close_delimited_body_ends_with_the_connection() {
        for feed in [Feed::Whole, Feed::Bytewise] {
            let mut rt = RoundTrip::new(Vec::new(), false, false);
            let seen = converse(&mut rt, b"HTTP/1.1 200 OK\r\n\r\nuntil the end", feed, true);
            assert_eq!(
                seen.unwrap(),
                vec![
                    Seen::Head(200, "OK".into()),
                    Seen::Body(b"until the end".to_vec()),
                    Seen::Done { reusable: false },
                ]
            );
        }
    }

    #[test]
    fn interim_heads_trailers_and_head_requests() {
        let response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\
            Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n";
        for feed in [Feed::Whole, Feed::Bytewise] {
            let mut rt = RoundTrip::new(Vec::new(), false, false);
            let seen = converse(&mut rt, response, feed, false).unwrap();
            assert_eq!(
                seen,
                vec![
                    Seen::Interim(100),
                    Seen::Head(200, "OK".into()),
                    Seen::Body(b"abc".to_vec()),
                    Seen::Trailers(vec![("X-Sum".into(), "1".into())]),
                    Seen::Done { reusable: true },
                ]
            );
            // HEAD: a Content-Length but no body.
            let mut rt = RoundTrip::new(Vec::new(), true, false);
            let seen = converse(
                &mut rt,
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",
                feed,
                false,
            );
            assert_eq!(
                seen.unwrap(),
                vec![Seen::Head(200, "OK".into()), Seen::Done { reusable: true }]
            );
        }
    }

    #[test]
    fn an_early_answer_or_extra_bytes_spoil_the_connection() {
        let response = b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n";
        let mut rt = RoundTrip::new(Vec::new(), false, false);
        let (used, e) = rt.decode(response, false).unwrap();
        assert!(matches!(e, Some(RoundTripEvent::Head(_))));
        let (_, e) = rt.decode(&response[used..], false).unwrap();
        assert_eq!(e, Some(RoundTripEvent::Done { reusable: false }));
        let mut rt = RoundTrip::new(Vec::new(), false, false);
        let both = b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let (used, _) = rt.decode(both, true).unwrap();
        let (_, e) = rt.decode(&both[used..], true).unwrap();
        assert_eq!(e, Some(RoundTripEvent::Done { reusable: false }));
    }

    #[test]
    fn a_dead_kept_connection_is_retried_once_on_a_fresh_one() {
        let req = ClientRequest::get(url("http://h/"), Vec::new());
        let wire = req.encode(&Origin::of(&req.url).unwrap());
        // The server had closed the idle connection: EOF before any byte.
        let mut rt = RoundTrip::new(wire.clone(), false, true);
        let e = converse(&mut rt, b"", Feed::Whole, true).unwrap_err();
        assert_eq!(e, HttpError::EmptyReply);
        assert!(rt.retry_fresh(Failure::Response(&e)));
        for kind in [io::ErrorKind::ConnectionReset, io::ErrorKind::BrokenPipe] {
            assert!(rt.retry_fresh(Failure::Io(kind)));
        }
        assert!(!rt.retry_fresh(Failure::Io(io::ErrorKind::TimedOut)));
        // The fresh attempt sends the same bytes and is not retried again.
        let mut fresh = rt.fresh();
        assert_eq!(fresh.wire(), &wire[..]);
        assert!(!fresh.reused());
        let e = converse(&mut fresh, b"", Feed::Whole, true).unwrap_err();
        assert!(!fresh.retry_fresh(Failure::Response(&e)));
        // A response that had begun is not retried, whatever happens next.
        for feed in [Feed::Whole, Feed::Bytewise] {
            let mut rt = RoundTrip::new(wire.clone(), false, true);
            let e = converse(&mut rt, b"HTTP/1.1 200 OK\r\nContent-Le", feed, true).unwrap_err();
            assert_eq!(e, HttpError::TruncatedHead);
            assert!(!rt.retry_fresh(Failure::Response(&e)));
            assert!(!rt.retry_fresh(Failure::Io(io::ErrorKind::ConnectionReset)));
        }
    }

    /// A POST redirected: 301/302 to GET, 303 to GET, 307/308 kept; the
    /// next request's bytes as they go out, after the first conversation.
    #[test]
    fn redirect_conversations_rewrite_the_request_as_curl() {
        let mut post = ClientRequest::get(
            url("http://a.test/form"),
            vec![
                (
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
                ("Authorization".into(), "Basic eDp5".into()),
                ("Cookie".into(), "s=1".into()),
            ],
        );
        post.method = "POST".into();
        post.body = Arc::new(b"a=1".to_vec());
        for (status, method, body) in [
            (301, "GET", ""),
            (302, "GET", ""),
            (303, "GET", ""),
            (307, "POST", "a=1"),
            (308, "POST", "a=1"),
        ] {
            for feed in [Feed::Whole, Feed::Bytewise] {
                let response = format!(
                    "HTTP/1.1 {status} Moved\r\nLocation: /next?x\r\nContent-Length: 0\r\n\r\n"
                );
                let mut rt = RoundTrip::new(Vec::new(), false, false);
                let mut heads = Vec::new();
                let mut buf = Vec::new();
                let chunks: Vec<&[u8]> = match feed {
                    Feed::Whole => vec![response.as_bytes()],
                    Feed::Bytewise => response.as_bytes().chunks(1).collect(),
                };
                for c in chunks {
                    buf.extend_from_slice(c);
                    while let (used, Some(e)) = rt.decode(&buf, true).unwrap() {
                        if let RoundTripEvent::Head(h) = e {
                            heads.push(h);
                        }
                        buf.drain(..used);
                    }
                }
                assert!(rt.is_done());
                let head = &heads[0];
                let next = redirect_target(&post.url, head).unwrap().unwrap();
                let req = redirected(&post, status, next);
                let mut want = format!(
                    "{method} /next?x HTTP/1.1\r\nHost: a.test\r\n{}Accept: */*\r\n",
                    ua()
                );
                if method == "POST" {
                    want.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
                }
                want.push_str("Authorization: Basic eDp5\r\nCookie: s=1\r\n");
                if method == "POST" {
                    want.push_str("Content-Length: 3\r\n");
                }
                want.push_str("\r\n");
                want.push_str(body);
                assert_eq!(wire_of(&req), want, "{status}");
            }
        }
    }

    #[test]
    fn credentials_stay_with_their_origin() {
        let req = ClientRequest::get(
            url("http://a.test/"),
            vec![
                ("Authorization".into(), "Basic eDp5".into()),
                ("cookie".into(), "s=1".into()),
                ("X-Other".into(), "kept".into()),
            ],
        );
        for (to, kept) in [
            ("http://a.test:80/b", true),
            ("http://b.test/", false),
            ("https://a.test/", false),
            ("http://a.test:8080/", false),
        ] {
            let next = redirected(&req, 302, url(to));
            assert_eq!(next.has("authorization"), kept, "{to}");
            assert_eq!(next.has("cookie"), kept, "{to}");
            assert!(next.has("x-other"));
            assert_eq!(next.method, "GET");
        }
        // HEAD stays HEAD through a 303; a GET through 301.
        let mut head = req.clone();
        head.method = "HEAD".into();
        assert_eq!(redirected(&head, 303, url("http://a.test/")).method, "HEAD");
        let mut put = req.clone();
        put.method = "PUT".into();
        assert_eq!(redirected(&put, 301, url("http://a.test/")).method, "PUT");
        assert_eq!(redirected(&put, 303, url("http://a.test/")).method, "GET");
    }

    #[test]
    fn redirect_targets() {
        let head = |status: u16, location: Option<&str>| Head {
            version: 1,
            status,
            reason: String::new(),
            headers: location
                .map(|l| vec![("Location".to_string(), l.to_string())])
                .unwrap_or_default(),
            size: 0,
        };
        let base = url("http://a.test/dir/page");
        assert_eq!(redirect_target(&base, &head(200, Some("/x"))), None);
        assert_eq!(redirect_target(&base, &head(302, None)), None);
        assert_eq!(
            redirect_target(&base, &head(307, Some("other"))),
            Some(Ok(url("http://a.test/dir/other")))
        );
        assert!(matches!(
            redirect_target(&base, &head(301, Some("ftp://a.test/"))),
            Some(Err(RedirectError::Unusable(_)))
        ));
        assert!(matches!(
            redirect_target(&base, &head(301, Some("http://[::1"))),
            Some(Err(RedirectError::BadLocation { .. }))
        ));
        // -L: the limit counts followed redirects; a final answer is fine.
        let hop = head(302, Some("/x"));
        assert!(matches!(follow_target(&base, &hop, 1, 2), Some(Ok(_))));
        let over = follow_target(&base, &hop, 2, 2).unwrap().unwrap_err();
        assert_eq!(over.to_string(), "more than 2 redirects (--max-redirs)");
        assert_eq!(follow_target(&base, &head(200, None), 9, 2), None);
    }

    #[test]
    fn transient_statuses_and_their_retry_after() {
        let head = |status: u16, after: Option<&str>| Head {
            version: 1,
            status,
            reason: String::new(),
            headers: after
                .map(|a| vec![("Retry-After".to_string(), a.to_string())])
                .unwrap_or_default(),
            size: 0,
        };
        assert_eq!(transient(&head(200, Some("5")), 0), None);
        assert_eq!(transient(&head(404, None), 0), None);
        assert_eq!(transient(&head(503, None), 0), Some(None));
        assert_eq!(
            transient(&head(429, Some("7")), 0),
            Some(Some(std::time::Duration::from_secs(7)))
        );
        assert_eq!(transient(&head(502, Some("soon")), 0), Some(None));
        // A date: the delay from now; in the past, none.
        let date = "Thu, 01 Jan 1970 00:01:40 GMT";
        assert_eq!(
            transient(&head(503, Some(date)), 40),
            Some(Some(std::time::Duration::from_secs(60)))
        );
    }

    #[test]
    fn the_sent_head_line_by_line() {
        let mut req = ClientRequest::get(url("http://h:8080/p?q"), Vec::new());
        req.method = "PUT".into();
        req.body = Arc::new(b"abc".to_vec());
        let lines = req.head_lines(&Origin::of(&req.url).unwrap());
        assert_eq!(
            lines,
            [
                "PUT /p?q HTTP/1.1".to_string(),
                "Host: h:8080".into(),
                ua().trim_end().into(),
                "Accept: */*".into(),
                "Content-Length: 3".into(),
            ]
        );
    }

    #[test]
    fn junk_never_panics_bytewise() {
        let inputs: [&[u8]; 4] = [
            b"\x16\x03\x01\x00",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"",
        ];
        for input in inputs {
            for feed in [Feed::Whole, Feed::Bytewise] {
                let mut rt = RoundTrip::new(Vec::new(), false, false);
                let _ = converse(&mut rt, input, feed, true);
            }
        }
    }
}
