//! HTTP/1.x server side, sans-IO: request items in, response heads out.
//!
//! [`RequestDecoder`] is fed whatever bytes arrived and returns how many it
//! consumed plus at most one [`ReqItem`]: a request head, a slice of body, or
//! the end of the request. After the end it expects the next request on the
//! same connection (keep-alive, pipelining). Partial input is never an error.
//! Bodies are framed by Content-Length or chunked encoding (trailers are read
//! and dropped); a request without either has none. A bad request is a
//! [`RequestError`] carrying the status to answer: 400 (malformed, a missing
//! Host on HTTP/1.1, a bad Content-Length or chunk), 413 (a body over the
//! limit), 431 (a head over the limit or with too many fields), 501 (a
//! Transfer-Encoding other than chunked). [`parse_head`] is the head parser
//! alone, shared with the WebSocket handshake.

use std::fmt;

use super::http::{fields, find_crlf, owned_headers, parse_chunk_size};

/// Default largest request head (request line and fields).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one request head.
pub const MAX_HEADERS: usize = 100;
/// Longest chunk-size line (size plus extensions).
const MAX_CHUNK_LINE: usize = 4096;

/// Why a request cannot be served: the status to answer and a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub status: u16,
    pub reason: String,
}

impl RequestError {
    fn new(status: u16, reason: impl Into<String>) -> RequestError {
        RequestError {
            status,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            reason(self.status),
            self.reason
        )
    }
}

impl std::error::Error for RequestError {}

/// A request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent (`/path?query`, or absolute form).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub headers: Vec<(String, String)>,
    /// Bytes the head took on the wire.
    pub size: usize,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        fields::first(&self.headers, name)
    }

    /// Every value of header `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        fields::all(&self.headers, name)
    }

    /// Whether a `Connection` header lists `token`.
    pub fn connection_has(&self, token: &str) -> bool {
        fields::connection_has(&self.headers, token)
    }

    /// Whether the client wants the connection kept open after this request.
    pub fn keep_alive(&self) -> bool {
        fields::keep_alive(self.version, &self.headers)
    }

    /// Whether the client waits for `100 Continue` before sending its body.
    pub fn expects_continue(&self) -> bool {
        self.version >= 1
            && self
                .header("expect")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
    }

    /// The path part of the target (before `?`), as sent (still encoded).
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        // Absolute form: drop `scheme://authority`.
        let t = match t.find("://") {
            Some(i) if !t.starts_with('/') => {
                let rest = &t[i + 3..];
                rest.find('/').map_or("/", |p| &rest[p..])
            }
            _ => t,
        };
        t.split(['?', '#']).next().unwrap_or(t)
    }

    /// The query part of the target (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        let q = self.target.split_once('?')?.1;
        Some(q.split('#').next().unwrap_or(q))
    }

    /// The request line, `GET / HTTP/1.1`.
    pub fn request_line(&self) -> String {
        format!("{} {} HTTP/1.{}", self.method, self.target, self.version)
    }
}

/// Parses a request head from the front of `input`: `Ok(None)` until it is
/// complete. Only syntax and size are checked here (400, 431); what a
/// server requires of the fields is [`RequestDecoder`]'s business.
pub fn parse_head(input: &[u8], max_head: usize) -> Result<Option<(usize, Request)>, RequestError> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    let used = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if input.len() > max_head => {
            return Err(RequestError::new(
                431,
                format!("request head over {} bytes", max_head),
            ))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RequestError::new(
                431,
                format!("more than {MAX_HEADERS} header fields"),
            ))
        }
        Err(e) => {
            // Quote the line as far as the byte that broke it, so the
            // reason is the same however the head arrived.
            let upto = error_prefix(input);
            return Err(RequestError::new(
                400,
                format!("malformed request ({e}): {:?}", first_line(&input[..upto])),
            ));
        }
    };
    if used > max_head {
        return Err(RequestError::new(
            431,
            format!("request head over {} bytes", max_head),
        ));
    }
    let request = Request {
        method: req.method.unwrap_or("").to_string(),
        target: req.path.unwrap_or("").to_string(),
        version: req.version.unwrap_or(1),
        headers: owned_headers(req.headers),
        size: used,
    };
    Ok(Some((used, request)))
}

/// The shortest prefix of `input` that httparse already refuses (`input`
/// itself is refused): where the request went wrong. Only on the error path.
fn error_prefix(input: &[u8]) -> usize {
    let refused = |n: usize| {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        httparse::Request::new(&mut fields)
            .parse(&input[..n])
            .is_err()
    };
    let (mut lo, mut hi) = (0, input.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if refused(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    hi
}

fn first_line(input: &[u8]) -> String {
    let start = input
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(input.len());
    let line = input[start..]
        .split(|&b| b == b'\n')
        .next()
        .unwrap_or_default();
    let line = &line[..line.len().min(80)];
    String::from_utf8_lossy(line).trim_end().to_string()
}

/// One thing decoded from the request stream.
#[derive(Debug, PartialEq, Eq)]
pub enum ReqItem<'a> {
    Head(Request),
    Body(&'a [u8]),
    /// The request is complete; the next bytes start another one.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Fixed {
        left: u64,
    },
    ChunkSize,
    ChunkData {
        left: u64,
    },
    ChunkEnd,
    Trailers,
    /// A request without a body: End is due.
    EndPending,
    /// After an error: nothing more is decoded.
    Failed,
}

/// Limits a decoder enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_head: usize,
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: MAX_HEAD,
            max_body: 16 << 20,
        }
    }
}

/// Decodes a stream of requests.
#[derive(Debug)]
pub struct RequestDecoder {
    state: State,
    limits: Limits,
    /// Body bytes of the current request so far (chunked).
    body: u64,
}

impl RequestDecoder {
    pub fn new(limits: Limits) -> RequestDecoder {
        RequestDecoder {
            state: State::Head,
            limits,
            body: 0,
        }
    }

    /// Whether the decoder waits for the start of a request (no partial
    /// request has been consumed).
    pub fn between_requests(&self) -> bool {
        self.state == State::Head
    }

    /// Decodes from the front of `input`: bytes consumed, and the item found
    /// (`None`: more input is needed).
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<ReqItem<'a>>), RequestError> {
        let result = self.step(input);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<ReqItem<'a>>), RequestError> {
        match self.state {
            State::Head => {
                let Some((used, req)) = parse_head(input, self.limits.max_head)? else {
                    return Ok((0, None));
                };
                self.state = self.framing(&req)?;
                self.body = 0;
                Ok((used, Some(ReqItem::Head(req))))
            }
            State::EndPending | State::Fixed { left: 0 } => {
                self.state = State::Head;
                Ok((0, Some(ReqItem::End)))
            }
            State::Fixed { left } => {
                if input.is_empty() {
                    return Ok((0, None));
                }
                let n = clamp(left, input.len());
                self.state = State::Fixed {
                    left: left - n as u64,
                };
                Ok((n, Some(ReqItem::Body(&input[..n]))))
            }
            State::ChunkSize => {
                let bad = |e: super::http::HttpError| RequestError::new(400, e.to_string());
                let Some(end) = find_crlf(input, MAX_CHUNK_LINE).map_err(bad)? else {
                    return Ok((0, None));
                };
                let size = parse_chunk_size(&input[..end]).map_err(bad)?;
                if size > self.limits.max_body.saturating_sub(self.body) {
                    return Err(too_large(self.limits.max_body));
                }
                self.body += size;
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData { left: size }
                };
                Ok((end + 2, None))
            }
            State::ChunkData { left } => {
                if input.is_empty() {
                    return Ok((0, None));
                }
                let n = clamp(left, input.len());
                self.state = if n as u64 == left {
                    State::ChunkEnd
                } else {
                    State::ChunkData {
                        left: left - n as u64,
                    }
                };
                Ok((n, Some(ReqItem::Body(&input[..n]))))
            }
            State::ChunkEnd => {
                if input.len() < 2 {
                    if input.first().is_some_and(|&b| b != b'\r') {
                        return Err(RequestError::new(400, "bad chunk: no CRLF after its data"));
                    }
                    return Ok((0, None));
                }
                if &input[..2] != b"\r\n" {
                    return Err(RequestError::new(400, "bad chunk: no CRLF after its data"));
                }
                self.state = State::ChunkSize;
                Ok((2, None))
            }
            State::Trailers => {
                if input.starts_with(b"\r\n") {
                    self.state = State::Head;
                    return Ok((2, Some(ReqItem::End)));
                }
                if input.len() < 2 {
                    return Ok((0, None));
                }
                let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match httparse::parse_headers(input, &mut fields) {
                    Ok(httparse::Status::Complete((used, _))) => {
                        self.state = State::Head;
                        Ok((used, Some(ReqItem::End)))
                    }
                    Ok(httparse::Status::Partial) if input.len() > self.limits.max_head => {
                        Err(RequestError::new(431, "trailers over the head size limit"))
                    }
                    Ok(httparse::Status::Partial) => Ok((0, None)),
                    Err(httparse::Error::TooManyHeaders) => Err(RequestError::new(
                        431,
                        format!("more than {MAX_HEADERS} trailer fields"),
                    )),
                    Err(e) => Err(RequestError::new(400, format!("malformed trailers: {e}"))),
                }
            }
            State::Failed => Ok((0, None)),
        }
    }

    /// Checks what a server requires of a head and decides how its body is
    /// delimited (RFC 9112, sections 3.2 and 6).
    fn framing(&self, req: &Request) -> Result<State, RequestError> {
        let hosts = req.all("host").count();
        if req.version >= 1 && hosts == 0 {
            return Err(RequestError::new(400, "HTTP/1.1 request without Host"));
        }
        if hosts > 1 {
            return Err(RequestError::new(400, "more than one Host field"));
        }
        let mut codings: Vec<String> = Vec::new();
        for value in req.all("transfer-encoding") {
            for c in value.split(',') {
                let c = c.trim();
                if !c.is_empty() {
                    codings.push(c.to_ascii_lowercase());
                }
            }
        }
        let has_te = req.all("transfer-encoding").next().is_some();
        let has_cl = req.all("content-length").next().is_some();
        if has_te {
            if has_cl {
                return Err(RequestError::new(
                    400,
                    "both Transfer-Encoding and Content-Length",
                ));
            }
            if req.version == 0 {
                return Err(RequestError::new(400, "Transfer-Encoding in HTTP/1.0"));
            }
            if codings.len() != 1 || codings[0] != "chunked" {
                return Err(RequestError::new(
                    501,
                    format!(
                        "unsupported Transfer-Encoding {:?} (only chunked is)",
                        codings.join(", ")
                    ),
                ));
            }
            return Ok(State::ChunkSize);
        }
        let mut length: Option<u64> = None;
        for value in req.all("content-length") {
            for part in value.split(',') {
                let part = part.trim();
                let n = if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                    part.parse::<u64>().ok()
                } else {
                    None
                };
                let bad = || RequestError::new(400, format!("invalid Content-Length {value:?}"));
                let n = n.ok_or_else(bad)?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad());
                }
                length = Some(n);
            }
        }
        match length {
            Some(n) if n > self.limits.max_body => Err(too_large(self.limits.max_body)),
            Some(n) if n > 0 => Ok(State::Fixed { left: n }),
            _ => Ok(State::EndPending),
        }
    }

    /// Whether the request being decoded has a body still to come.
    pub fn body_pending(&self) -> bool {
        matches!(
            self.state,
            State::Fixed { left: 1.. }
                | State::ChunkSize
                | State::ChunkData { .. }
                | State::ChunkEnd
                | State::Trailers
        )
    }
}

fn too_large(max: u64) -> RequestError {
    RequestError::new(413, format!("body over --max-body ({max} bytes)"))
}

fn clamp(left: u64, available: usize) -> usize {
    usize::try_from(left).map_or(available, |l| l.min(available))
}

/// The reason phrase for `status`.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        418 => "I'm a teapot",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Appends a response head: status line, `headers` in order, blank line.
pub fn encode_response_head(version: u8, status: u16, headers: &[(&str, &str)], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("HTTP/1.{version} {status} {}\r\n", reason(status)).as_bytes());
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crlf(text: &str) -> Vec<u8> {
        text.replace('\n', "\r\n").into_bytes()
    }

    /// What a stream decodes to, as strings: `H:<line>`, `B:<bytes>`, `E`,
    /// or `!<status>` at an error. Bodies are joined per request.
    fn decode_all(input: &[u8], limits: Limits, bytewise: bool) -> Vec<String> {
        let mut dec = RequestDecoder::new(limits);
        let mut items = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            if bytewise {
                if fed < input.len() {
                    buf.push(input[fed]);
                    fed += 1;
                }
            } else if fed == 0 {
                buf.extend_from_slice(input);
                fed = input.len();
            }
            loop {
                match dec.decode(&buf) {
                    Ok((used, item)) => {
                        let done = item.is_none() && used == 0;
                        match item {
                            Some(ReqItem::Head(r)) => items.push(format!("H:{}", r.request_line())),
                            Some(ReqItem::Body(b)) => body.extend_from_slice(b),
                            Some(ReqItem::End) => {
                                if !body.is_empty() {
                                    items.push(format!("B:{}", String::from_utf8_lossy(&body)));
                                    body.clear();
                                }
                                items.push("E".into());
                            }
                            None => {}
                        }
                        buf.drain(..used);
                        if done {
                            break;
                        }
                    }
                    Err(e) => {
                        items.push(format!("!{}", e.status));
                        return items;
                    }
                }
            }
            if fed == input.len() {
                return items;
            }
        }
    }

    fn both(input: &[u8], limits: Limits) -> Vec<String> {
        let whole = decode_all(input, limits, false);
        let bytewise = decode_all(input, limits, true);
        assert_eq!(whole, bytewise, "whole vs byte by byte");
        whole
    }

    #[test]
    fn pipelined_requests_with_every_framing() {
        let input = crlf(
            "GET /a?x=1 HTTP/1.1\nHost: h\n\n\
             POST /b HTTP/1.1\nHost: h\nContent-Length: 5\n\nhello\
             PUT /c HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n3;ext=1\nabc\n2\nde\n0\nX-T: 1\n\n\
             GET /d HTTP/1.0\n\n",
        );
        assert_eq!(
            both(&input, Limits::default()),
            vec![
                "H:GET /a?x=1 HTTP/1.1",
                "E",
                "H:POST /b HTTP/1.1",
                "B:hello",
                "E",
                "H:PUT /c HTTP/1.1",
                "B:abcde",
                "E",
                "H:GET /d HTTP/1.0",
                "E"
            ]
        );
    }

    #[test]
    fn bad_requests_get_their_status() {
        let cases: &[(&str, u16)] = &[
            ("GARBAGE\n\n", 400),
            ("GET / HTTP/1.1\n\n", 400),
            ("GET / HTTP/1.1\nHost: a\nHost: b\n\n", 400),
            ("GET / HTTP/9.9\nHost: h\n\n", 400),
            (
                "POST / HTTP/1.1\nHost: h\nTransfer-Encoding: gzip, chunked\n\n",
                501,
            ),
            ("POST / HTTP/1.1\nHost: h\nTransfer-Encoding: gzip\n\n", 501),
            (
                "POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\nContent-Length: 3\n\n",
                400,
            ),
            ("POST / HTTP/1.1\nHost: h\nContent-Length: -1\n\n", 400),
            ("POST / HTTP/1.1\nHost: h\nContent-Length: 1, 2\n\n", 400),
            ("POST / HTTP/1.1\nHost: h\nContent-Length: 101\n\n", 413),
            (
                "POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n65\n",
                413,
            ),
            (
                "POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\nzz\n",
                400,
            ),
            (
                "POST / HTTP/1.1\nHost: h\nTransfer-Encoding: chunked\n\n1\nabc\n",
                400,
            ),
        ];
        let limits = Limits {
            max_head: 1024,
            max_body: 100,
        };
        for (text, status) in cases {
            let got = both(&crlf(text), limits);
            assert_eq!(got.last(), Some(&format!("!{status}")), "{text:?}: {got:?}");
        }
    }

    #[test]
    fn head_limits_are_431() {
        let limits = Limits {
            max_head: 1024,
            max_body: 100,
        };
        let long = format!("GET / HTTP/1.1\nHost: h\nX: {}\n\n", "a".repeat(2000));
        assert_eq!(both(&crlf(&long), limits), vec!["!431"]);
        // Never completed: refused as soon as it is over the limit.
        let endless = format!("GET / HTTP/1.1\nHost: h\nX: {}", "a".repeat(2000));
        assert_eq!(both(&crlf(&endless), limits), vec!["!431"]);
        let mut many = String::from("GET / HTTP/1.1\nHost: h\n");
        for i in 0..MAX_HEADERS {
            many.push_str(&format!("X{i}: v\n"));
        }
        many.push('\n');
        assert_eq!(both(&crlf(&many), Limits::default()), vec!["!431"]);
    }

    #[test]
    fn head_accessors() {
        let raw = crlf(
            "POST http://h/p/a%20b?q=1&r=2#frag HTTP/1.1\nHost: h\nConnection: Keep-Alive, Close\nExpect: 100-continue\nContent-Length: 1\n\n",
        );
        let (used, r) = parse_head(&raw, MAX_HEAD).unwrap().unwrap();
        assert_eq!(used, raw.len());
        assert_eq!(r.path(), "/p/a%20b");
        assert_eq!(r.query(), Some("q=1&r=2"));
        assert!(!r.keep_alive());
        assert!(r.expects_continue());
        let raw = crlf("GET / HTTP/1.0\nConnection: keep-alive\n\n");
        let (_, r) = parse_head(&raw, MAX_HEAD).unwrap().unwrap();
        assert!(r.keep_alive());
        assert_eq!(r.query(), None);
        assert!(!r.expects_continue());
        for n in 0..raw.len() {
            assert_eq!(parse_head(&raw[..n], MAX_HEAD), Ok(None));
        }
    }

    #[test]
    fn the_decoder_reports_a_pending_body() {
        let mut dec = RequestDecoder::new(Limits::default());
        let raw = crlf("POST / HTTP/1.1\nHost: h\nContent-Length: 2\n\n");
        let (used, item) = dec.decode(&raw).unwrap();
        assert_eq!(used, raw.len());
        assert!(matches!(item, Some(ReqItem::Head(_))));
        assert!(dec.body_pending() && !dec.between_requests());
        assert_eq!(dec.decode(b"ok").unwrap(), (2, Some(ReqItem::Body(b"ok"))));
        assert_eq!(dec.decode(b"").unwrap(), (0, Some(ReqItem::End)));
        assert!(dec.between_requests());
    }

    #[test]
    fn garbage_never_panics() {
        // A small xorshift: the same bytes every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let alphabet = b"GET /HTTP1.0\r\n:;-chunkedTransfer-EncodingContent-Length0123456789abcdefxz \t\x00\xff";
        let limits = Limits {
            max_head: 256,
            max_body: 64,
        };
        for _ in 0..2000 {
            let mut input = b"POST / HTTP/1.1\r\nHost: h\r\n".to_vec();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 300) as usize;
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                input.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let _ = both(&input, limits);
        }
    }

    #[test]
    fn response_heads() {
        let mut out = Vec::new();
        encode_response_head(1, 404, &[("Content-Length", "0")], &mut out);
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

#[cfg(test)]
mod error_reason {
    use super::parse_head;

    #[test]
    fn a_malformed_head_gets_the_same_reason_whole_and_byte_by_byte() {
        // Found by the ws_handshake_server fuzz target: the reason quoted
        // as much of the line as had arrived.
        let head: &[u8] = b"GET /in\xffex.html HTTP/1.1\r\nHost: x\r\n\r\n";
        let whole = parse_head(head, 16 * 1024).unwrap_err();
        let mut piecewise = None;
        for n in 1..=head.len() {
            match parse_head(&head[..n], 16 * 1024) {
                Ok(None) => continue,
                other => {
                    piecewise = Some(other.unwrap_err());
                    break;
                }
            }
        }
        let piecewise = piecewise.expect("refused");
        assert_eq!(whole.status, 400);
        assert_eq!(whole.reason, piecewise.reason);
        assert!(whole.reason.contains("GET /in"), "{}", whole.reason);
    }
}
