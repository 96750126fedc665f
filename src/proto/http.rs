//! HTTP/1.1 client side, sans-IO: request heads out, response items in.
//!
//! [`ResponseDecoder`] is fed whatever bytes arrived and returns how many it
//! consumed plus at most one [`Item`]: an interim (1xx) head, the final head,
//! a slice of body, trailers, or the end. Partial input is never an error; the
//! caller keeps the unconsumed bytes and feeds them again with more. Bodies
//! are framed by Content-Length, chunked encoding (with trailers) or the end
//! of the connection; HEAD, 1xx, 204 and 304 responses have none. Limits: a
//! head (or trailer block) of at most [`MAX_HEAD`] bytes and [`MAX_HEADERS`]
//! fields, chunk-size lines of at most [`MAX_CHUNK_LINE`] bytes (hex digits
//! as RFC 9112 says, no other whitespace), at most [`MAX_INTERIM`] interim
//! responses.

use std::fmt;

/// Largest response head (and trailer block).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header fields in one head.
pub const MAX_HEADERS: usize = 128;
/// Longest chunk-size line (size plus extensions).
pub const MAX_CHUNK_LINE: usize = 4096;
/// Most interim (1xx) responses before the final one: a server that sends
/// `100 Continue` forever is broken, not slow.
pub const MAX_INTERIM: usize = 16;

/// A malformed or truncated response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    BadStatusLine(String),
    BadHeader(String),
    HeadTooLarge,
    TooManyHeaders,
    /// More than [`MAX_INTERIM`] 1xx responses.
    TooManyInterim,
    BadContentLength(String),
    BadChunk(String),
    /// The connection closed before any response byte.
    EmptyReply,
    /// The connection closed inside the head.
    TruncatedHead,
    /// The connection closed before Content-Length bytes arrived.
    ShortBody {
        got: u64,
        want: u64,
    },
    /// The connection closed inside a chunked body.
    TruncatedChunked,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadStatusLine(l) => write!(f, "malformed status line: {l:?}"),
            HttpError::BadHeader(why) => write!(f, "malformed header: {why}"),
            HttpError::HeadTooLarge => write!(f, "response head over {} KiB", MAX_HEAD / 1024),
            HttpError::TooManyHeaders => write!(f, "more than {MAX_HEADERS} header fields"),
            HttpError::TooManyInterim => {
                write!(f, "more than {MAX_INTERIM} interim (1xx) responses")
            }
            HttpError::BadContentLength(v) => write!(f, "invalid Content-Length: {v:?}"),
            HttpError::BadChunk(why) => write!(f, "bad chunk: {why}"),
            HttpError::EmptyReply => write!(f, "empty reply from server"),
            HttpError::TruncatedHead => write!(f, "connection closed inside the response head"),
            HttpError::ShortBody { got, want } => {
                write!(
                    f,
                    "body shorter than its Content-Length: got {got} of {want} bytes"
                )
            }
            HttpError::TruncatedChunked => write!(f, "connection closed inside a chunked body"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version: u8,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    /// Bytes the head took on the wire.
    pub size: usize,
}

impl Head {
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

    /// Whether the server lets the connection be reused.
    pub fn keep_alive(&self) -> bool {
        fields::keep_alive(self.version, &self.headers)
    }

    /// `HTTP/1.1 200 OK`.
    pub fn status_line(&self) -> String {
        format!("HTTP/1.{} {} {}", self.version, self.status, self.reason)
    }
}

/// One thing decoded from the response stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Item<'a> {
    /// A 1xx interim response (100 Continue, 103 Early Hints): skip it.
    Interim(Head),
    /// The final response head.
    Head(Head),
    /// Body bytes.
    Body(&'a [u8]),
    /// Trailer fields after a chunked body.
    Trailers(Vec<(String, String)>),
    /// The response is complete.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    Close,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    /// `left` bytes of a Content-Length body remain.
    Fixed {
        left: u64,
        want: u64,
    },
    ChunkSize,
    ChunkData {
        left: u64,
    },
    ChunkEnd,
    Trailers,
    /// Complete; `End` not yet reported.
    EndPending,
    Close,
    Done,
}

/// Decodes one response (call [`ResponseDecoder::reset`] for the next on a
/// kept-alive connection).
#[derive(Debug)]
pub struct ResponseDecoder {
    state: State,
    head_request: bool,
    /// Bytes seen so far (to tell an empty reply from a truncated one).
    seen: u64,
    /// Interim responses so far.
    interim: usize,
}

impl ResponseDecoder {
    /// `head_request`: the request was HEAD, so the response has no body.
    pub fn new(head_request: bool) -> ResponseDecoder {
        ResponseDecoder {
            state: State::Head,
            head_request,
            seen: 0,
            interim: 0,
        }
    }

    /// Prepares for the next response on the same connection.
    pub fn reset(&mut self, head_request: bool) {
        *self = ResponseDecoder::new(head_request);
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Whether the body runs until the connection closes.
    pub fn close_delimited(&self) -> bool {
        self.state == State::Close
    }

    /// Decodes from the front of `input`: bytes consumed, and the item found
    /// (`None`: more input is needed).
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Item<'a>>), HttpError> {
        let (used, item) = self.step(input)?;
        self.seen += used as u64;
        Ok((used, item))
    }

    fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Item<'a>>), HttpError> {
        match self.state {
            State::Head => self.head(input),
            State::Fixed { left, want } => {
                if left == 0 {
                    self.state = State::Done;
                    return Ok((0, Some(Item::End)));
                }
                if input.is_empty() {
                    return Ok((0, None));
                }
                let n = clamp(left, input.len());
                self.state = State::Fixed {
                    left: left - n as u64,
                    want,
                };
                Ok((n, Some(Item::Body(&input[..n]))))
            }
            State::Close => {
                if input.is_empty() {
                    return Ok((0, None));
                }
                Ok((input.len(), Some(Item::Body(input))))
            }
            State::ChunkSize => {
                let Some(end) = find_crlf(input, MAX_CHUNK_LINE)? else {
                    return Ok((0, None));
                };
                let size = parse_chunk_size(&input[..end])?;
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
                Ok((n, Some(Item::Body(&input[..n]))))
            }
            State::ChunkEnd => {
                if input.len() < 2 {
                    return Ok((0, None));
                }
                if &input[..2] != b"\r\n" {
                    return Err(HttpError::BadChunk("no CRLF after chunk data".into()));
                }
                self.state = State::ChunkSize;
                Ok((2, None))
            }
            State::Trailers => {
                if input.starts_with(b"\r\n") {
                    self.state = State::Done;
                    return Ok((2, Some(Item::End)));
                }
                let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                match httparse::parse_headers(input, &mut fields) {
                    Ok(httparse::Status::Complete((used, parsed))) => {
                        let trailers = owned_headers(parsed);
                        // The caller sees the trailers now and End on the next call.
                        self.state = State::EndPending;
                        Ok((used, Some(Item::Trailers(trailers))))
                    }
                    Ok(httparse::Status::Partial) if input.len() > MAX_HEAD => {
                        Err(HttpError::HeadTooLarge)
                    }
                    Ok(httparse::Status::Partial) => Ok((0, None)),
                    Err(httparse::Error::TooManyHeaders) => Err(HttpError::TooManyHeaders),
                    Err(e) => Err(HttpError::BadHeader(format!("in trailers: {e}"))),
                }
            }
            State::EndPending => {
                self.state = State::Done;
                Ok((0, Some(Item::End)))
            }
            State::Done => Ok((0, None)),
        }
    }

    fn head<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Item<'a>>), HttpError> {
        if input.is_empty() {
            return Ok((0, None));
        }
        // Catch a non-HTTP reply at its first line instead of waiting for a
        // head end that may never come.
        let probe = &input[..input.len().min(5)];
        if !b"HTTP/".starts_with(probe) {
            if input.contains(&b'\n') || input.len() >= 80 {
                return Err(HttpError::BadStatusLine(first_line(input)));
            }
            return Ok((0, None));
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut fields);
        let used = match resp.parse(input) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) if input.len() > MAX_HEAD => {
                return Err(HttpError::HeadTooLarge)
            }
            Ok(httparse::Status::Partial) => return Ok((0, None)),
            Err(httparse::Error::TooManyHeaders) => return Err(HttpError::TooManyHeaders),
            Err(httparse::Error::Status | httparse::Error::Version | httparse::Error::NewLine) => {
                // Report the whole line, however the bytes arrived.
                if input.contains(&b'\n') || input.len() >= 80 {
                    return Err(HttpError::BadStatusLine(first_line(input)));
                }
                return Ok((0, None));
            }
            Err(e) => return Err(HttpError::BadHeader(e.to_string())),
        };
        if used > MAX_HEAD {
            return Err(HttpError::HeadTooLarge);
        }
        let head = Head {
            version: resp.version.unwrap_or(1),
            status: resp.code.unwrap_or(0),
            reason: resp.reason.unwrap_or("").to_string(),
            headers: owned_headers(resp.headers),
            size: used,
        };
        if (100..200).contains(&head.status) && head.status != 101 {
            self.interim += 1;
            if self.interim > MAX_INTERIM {
                return Err(HttpError::TooManyInterim);
            }
            return Ok((used, Some(Item::Interim(head))));
        }
        self.state = match self.framing(&head)? {
            Framing::Length(n) => State::Fixed { left: n, want: n },
            Framing::Chunked => State::ChunkSize,
            Framing::Close => State::Close,
        };
        Ok((used, Some(Item::Head(head))))
    }

    /// How the body of `head` is delimited (RFC 9112, section 6.3).
    fn framing(&self, head: &Head) -> Result<Framing, HttpError> {
        if self.head_request || head.status == 204 || head.status == 304 || head.status == 101 {
            return Ok(Framing::Length(0));
        }
        if let Some(te) = head.all("transfer-encoding").last() {
            let last = te.rsplit(',').next().unwrap_or("").trim();
            return Ok(if last.eq_ignore_ascii_case("chunked") {
                Framing::Chunked
            } else {
                Framing::Close
            });
        }
        let mut length: Option<u64> = None;
        for value in head.all("content-length") {
            for part in value.split(',') {
                let part = part.trim();
                let n = if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
                    part.parse::<u64>().ok()
                } else {
                    None
                };
                let n = n.ok_or_else(|| HttpError::BadContentLength(value.to_string()))?;
                if length.is_some_and(|l| l != n) {
                    return Err(HttpError::BadContentLength(value.to_string()));
                }
                length = Some(n);
            }
        }
        Ok(match length {
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        })
    }

    /// The connection closed, leaving `rest` undecoded: the end of a
    /// close-delimited body, or an error.
    pub fn finish(&mut self, rest: &[u8]) -> Result<(), HttpError> {
        match self.state {
            State::Head if !rest.is_empty() && bad_status_line(rest) => {
                Err(HttpError::BadStatusLine(first_line(rest)))
            }
            State::Head if self.seen == 0 && rest.is_empty() => Err(HttpError::EmptyReply),
            State::Done | State::EndPending => Ok(()),
            State::Close => {
                self.state = State::Done;
                Ok(())
            }
            State::Head => Err(HttpError::TruncatedHead),
            State::Fixed { left: 0, .. } => {
                self.state = State::Done;
                Ok(())
            }
            State::Fixed { left, want } => Err(HttpError::ShortBody {
                got: want - left,
                want,
            }),
            _ => Err(HttpError::TruncatedChunked),
        }
    }
}

/// Whether `input` cannot start a valid response head.
fn bad_status_line(input: &[u8]) -> bool {
    if !b"HTTP/".starts_with(&input[..input.len().min(5)]) {
        return true;
    }
    let mut fields = [httparse::EMPTY_HEADER; 1];
    matches!(
        httparse::Response::new(&mut fields).parse(input),
        Err(httparse::Error::Status | httparse::Error::Version)
    )
}

fn clamp(left: u64, available: usize) -> usize {
    usize::try_from(left).map_or(available, |l| l.min(available))
}

/// Header-field lookups shared by requests and responses.
pub(crate) mod fields {
    /// The first value of `name` (case-insensitive).
    pub fn first<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all<'a>(
        headers: &'a [(String, String)],
        name: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a `Connection` field lists `token`.
    pub fn connection_has(headers: &[(String, String)], token: &str) -> bool {
        all(headers, "connection")
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection stays open after this message: HTTP/1.1
    /// unless `Connection: close`, HTTP/1.0 only with `keep-alive`.
    pub fn keep_alive(version: u8, headers: &[(String, String)]) -> bool {
        if version >= 1 {
            !connection_has(headers, "close")
        } else {
            connection_has(headers, "keep-alive")
        }
    }
}

pub(crate) fn owned_headers(parsed: &[httparse::Header]) -> Vec<(String, String)> {
    parsed
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

fn first_line(input: &[u8]) -> String {
    let line = input.split(|&b| b == b'\n').next().unwrap_or(input);
    let line = &line[..line.len().min(80)];
    String::from_utf8_lossy(line).trim_end().to_string()
}

/// Position of the CRLF ending a line of at most `max` bytes.
pub(crate) fn find_crlf(input: &[u8], max: usize) -> Result<Option<usize>, HttpError> {
    match input.windows(2).position(|w| w == b"\r\n") {
        Some(i) if i <= max => Ok(Some(i)),
        Some(_) => Err(HttpError::BadChunk("chunk-size line too long".into())),
        None if input.len() > max + 1 => {
            Err(HttpError::BadChunk("chunk-size line too long".into()))
        }
        None => Ok(None),
    }
}

/// `chunk-size [ chunk-ext ]` (RFC 9112, section 7.1): hex digits, then
/// nothing, or extensions after `;` (spaces and tabs allowed before it).
pub(crate) fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let invalid = || {
        let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
        HttpError::BadChunk(format!("invalid size line {shown:?}"))
    };
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(invalid());
    }
    let rest = &line[digits..];
    let ws = rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    match rest.get(ws) {
        None if ws == 0 => {}
        Some(b';') => {
            // Extensions are ignored, but must not hide control bytes.
            if rest[ws..]
                .iter()
                .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
            {
                return Err(invalid());
            }
        }
        _ => return Err(invalid()),
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => b - b'A' + 10,
        };
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(d)))
            .ok_or_else(|| HttpError::BadChunk("chunk size too large (over 64 bits)".into()))?;
    }
    Ok(size)
}

/// Appends a request head: request line, `headers` in order, blank line.
pub fn encode_request(method: &str, target: &str, headers: &[(String, String)], out: &mut Vec<u8>) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A `Retry-After` value (RFC 9110, section 10.2.3): delay-seconds, or an
/// HTTP-date turned into a delay from `now_unix` (seconds since 1970; a
/// date in the past is no delay). `None` when it is neither.
pub fn retry_after(value: &str, now_unix: u64) -> Option<std::time::Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return Some(std::time::Duration::from_secs(
            v.parse::<u64>().unwrap_or(u64::MAX).min(1 << 40),
        ));
    }
    let at = http_date(v)?;
    Some(std::time::Duration::from_secs(at.saturating_sub(now_unix)))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as seconds since 1970.
pub fn http_date(s: &str) -> Option<u64> {
    let rest = s.split_once(", ")?.1;
    let mut it = rest.split(' ');
    let day: u64 = it.next()?.parse().ok()?;
    let month = match it.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let (h, m, sec): (u64, u64, u64) = (
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
        hms.next()?.parse().ok()?,
    );
    if it.next()? != "GMT" || it.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1970..=9999).contains(&year) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), for years >= 1970.
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    Some(days * 86_400 + h * 3600 + m * 60 + sec)
}

#[cfg(test)]
mod retry_after_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn seconds_and_dates() {
        assert_eq!(retry_after("3", 0), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(" 0 ", 0), Some(Duration::ZERO));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date("Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_770),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_999),
            Some(Duration::ZERO)
        );
        assert!(retry_after("99999999999999999999999", 0).is_some());
    }

    #[test]
    fn garbage_is_none_and_never_panics() {
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 99 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
        ] {
            assert_eq!(retry_after(bad, 0), None, "{bad:?}");
        }
        let s = "Sun, 06 Nov 1994 08:49:37 GMT";
        for i in 0..s.len() {
            let _ = retry_after(&s[..i], 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a decoder made of a whole response.
    #[derive(Debug, Default, PartialEq)]
    struct Seen {
        interim: Vec<u16>,
        status: Option<u16>,
        body: Vec<u8>,
        trailers: Vec<(String, String)>,
        ended: bool,
    }

    /// Feeds `input` in pieces of `step` bytes (as a socket would), then EOF
    /// if `eof`.
    fn run(input: &[u8], step: usize, head_request: bool, eof: bool) -> Result<Seen, HttpError> {
        let mut dec = ResponseDecoder::new(head_request);
        let mut seen = Seen::default();
        let mut buf: Vec<u8> = Vec::new();
        let mut fed = 0;
        loop {
            let (used, item) = dec.decode(&buf)?;
            let progressed = used > 0 || item.is_some();
            match item {
                Some(Item::Interim(h)) => seen.interim.push(h.status),
                Some(Item::Head(h)) => seen.status = Some(h.status),
                Some(Item::Body(b)) => seen.body.extend_from_slice(b),
                Some(Item::Trailers(t)) => seen.trailers = t,
                Some(Item::End) => {
                    seen.ended = true;
                    return Ok(seen);
                }
                None => {}
            }
            buf.drain(..used);
            if progressed {
                continue;
            }
            if fed < input.len() {
                let n = step.min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            } else {
                if eof {
                    dec.finish(&buf)?;
                    seen.ended = dec.is_done();
                }
                return Ok(seen);
            }
        }
    }

    /// Runs whole and one byte at a time; both must agree.
    fn both(input: &[u8], head_request: bool, eof: bool) -> Result<Seen, HttpError> {
        let whole = run(input, usize::MAX, head_request, eof);
        let bytewise = run(input, 1, head_request, eof);
        assert_eq!(whole, bytewise, "whole and byte-by-byte disagree");
        whole
    }

    #[test]
    fn content_length() {
        let s = both(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            false,
            false,
        )
        .unwrap();
        assert_eq!(s.status, Some(200));
        assert_eq!(s.body, b"hello");
        assert!(s.ended);
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                      5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Sum: 42\r\n\r\n";
        let s = both(input, false, false).unwrap();
        assert_eq!(s.body, b"hello world");
        assert_eq!(s.trailers, vec![("X-Sum".to_string(), "42".to_string())]);
        assert!(s.ended);
    }

    #[test]
    fn chunked_without_trailers() {
        let s = both(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
            false,
            false,
        )
        .unwrap();
        assert_eq!(s.body, b"0123456789");
        assert!(s.ended);
    }

    #[test]
    fn close_delimited() {
        let s = both(b"HTTP/1.0 200 OK\r\n\r\nuntil the end", false, true).unwrap();
        assert_eq!(s.body, b"until the end");
        assert!(s.ended);
    }

    #[test]
    fn no_body_responses() {
        for input in [
            &b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"[..],
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        ] {
            let s = both(input, false, false).unwrap();
            assert!(s.body.is_empty() && s.ended);
        }
        let s = both(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            true,
            false,
        )
        .unwrap();
        assert!(s.body.is_empty() && s.ended, "HEAD has no body");
    }

    #[test]
    fn interim_responses_are_skipped() {
        let input = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                      HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
        let s = both(input, false, false).unwrap();
        assert_eq!(s.interim, vec![100, 103]);
        assert_eq!(s.status, Some(201));
        assert_eq!(s.body, b"ok");
    }

    #[test]
    fn garbage_status_line() {
        let e = both(b"SSH-2.0-OpenSSH_9.2\r\n", false, true).unwrap_err();
        assert_eq!(e, HttpError::BadStatusLine("SSH-2.0-OpenSSH_9.2".into()));
        let e = both(b"garbage", false, true).unwrap_err();
        assert_eq!(e, HttpError::BadStatusLine("garbage".into()));
        assert!(matches!(
            both(b"HTTP/1.1 abc OK\r\n\r\n", false, true),
            Err(HttpError::BadStatusLine(_))
        ));
    }

    #[test]
    fn bad_chunk_size() {
        let e = both(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false,
            true,
        )
        .unwrap_err();
        assert!(matches!(e, HttpError::BadChunk(_)), "{e}");
        let e = both(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
            false,
            true,
        )
        .unwrap_err();
        assert!(matches!(e, HttpError::BadChunk(_)), "{e}");
    }

    #[test]
    fn short_body_and_truncations() {
        let e = both(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            false,
            true,
        )
        .unwrap_err();
        assert_eq!(e, HttpError::ShortBody { got: 3, want: 10 });
        assert_eq!(both(b"", false, true).unwrap_err(), HttpError::EmptyReply);
        assert_eq!(
            both(b"HTTP/1.1 200 OK\r\nA: b", false, true).unwrap_err(),
            HttpError::TruncatedHead
        );
        assert_eq!(
            both(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                false,
                true
            )
            .unwrap_err(),
            HttpError::TruncatedChunked
        );
    }

    #[test]
    fn conflicting_or_invalid_content_length() {
        assert!(matches!(
            both(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                false,
                true
            ),
            Err(HttpError::BadContentLength(_))
        ));
        assert!(matches!(
            both(
                b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                false,
                true
            ),
            Err(HttpError::BadContentLength(_))
        ));
        let s = both(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok",
            false,
            false,
        )
        .unwrap();
        assert_eq!(s.body, b"ok");
    }

    #[test]
    fn head_limits() {
        let mut big = b"HTTP/1.1 200 OK\r\n".to_vec();
        while big.len() <= MAX_HEAD {
            big.extend_from_slice(
                b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        // Too many fields is found first for this filler; either limit is fine.
        let e = run(&big, usize::MAX, false, true).unwrap_err();
        assert!(
            matches!(e, HttpError::HeadTooLarge | HttpError::TooManyHeaders),
            "{e}"
        );
        let mut long = b"HTTP/1.1 200 OK\r\nX-Long: ".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        assert_eq!(
            run(&long, 4096, false, true).unwrap_err(),
            HttpError::HeadTooLarge
        );
        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            run(&many, usize::MAX, false, true).unwrap_err(),
            HttpError::TooManyHeaders
        );
    }

    #[test]
    fn an_endless_run_of_interim_responses_is_an_error() {
        let mut input = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM);
        input.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let s = both(&input, false, false).unwrap();
        assert_eq!(s.interim.len(), MAX_INTERIM);
        assert_eq!(s.body, b"ok");
        let input = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM + 1);
        assert_eq!(
            both(&input, false, false).unwrap_err(),
            HttpError::TooManyInterim
        );
    }

    fn chunked(size_line: &str) -> Result<Seen, HttpError> {
        let input = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{size_line}\r\nhello\r\n0\r\n\r\n"
        );
        both(input.as_bytes(), false, true)
    }

    #[test]
    fn chunk_size_is_hex_digits_only() {
        for good in [
            "5",
            "05",
            "0000000000000000000005",
            "5;name=value",
            "5 ;name",
            "5\t; a=\"b c\"",
            "5;",
        ] {
            let s = chunked(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
            assert_eq!(s.body, b"hello", "{good:?}");
        }
        for bad in [
            " 5",
            "5 ",
            "\t5",
            "5\t",
            "\u{a0}5",
            "5\u{a0}",
            "\u{2003}5",
            "\u{b}5",
            "+5",
            "0x5",
            "5 5",
            "",
            ";ext",
            "5;ext\u{1}",
            "5\n",
        ] {
            assert!(
                matches!(chunked(bad), Err(HttpError::BadChunk(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn chunk_size_overflowing_u64_is_an_error() {
        let e = chunked("10000000000000000").unwrap_err();
        assert!(
            matches!(&e, HttpError::BadChunk(why) if why.contains("too large")),
            "{e}"
        );
        // The largest size is accepted (and then the body is short).
        let e = chunked("ffffffffffffffff").unwrap_err();
        assert_eq!(e, HttpError::TruncatedChunked);
    }

    #[test]
    fn keep_alive_rules() {
        let h = |v: u8, conn: Option<&str>| Head {
            version: v,
            status: 200,
            reason: "OK".into(),
            headers: conn
                .map(|c| vec![("Connection".into(), c.into())])
                .unwrap_or_default(),
            size: 0,
        };
        assert!(h(1, None).keep_alive());
        assert!(!h(1, Some("close")).keep_alive());
        assert!(!h(0, None).keep_alive());
        assert!(h(0, Some("Keep-Alive")).keep_alive());
    }

    #[test]
    fn two_responses_on_one_connection() {
        let mut dec = ResponseDecoder::new(false);
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let (n, item) = dec.decode(input).unwrap();
        assert!(matches!(item, Some(Item::Head(_))));
        let (m, item) = dec.decode(&input[n..]).unwrap();
        assert_eq!(item, Some(Item::Body(b"a")));
        let (_, item) = dec.decode(&input[n + m..]).unwrap();
        assert_eq!(item, Some(Item::End));
        dec.reset(false);
        let (_, item) = dec.decode(&input[n + m..]).unwrap();
        assert!(matches!(item, Some(Item::Head(h)) if h.status == 404));
    }

    #[test]
    fn request_encoding() {
        let mut out = Vec::new();
        encode_request(
            "GET",
            "/a?b=c",
            &[
                ("Host".into(), "example.org".into()),
                ("Accept".into(), "*/*".into()),
            ],
            &mut out,
        );
        assert_eq!(
            out,
            b"GET /a?b=c HTTP/1.1\r\nHost: example.org\r\nAccept: */*\r\n\r\n"
        );
    }
}
