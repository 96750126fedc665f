//! RESP2, the Redis serialization protocol, sans-IO: commands out
//! ([`command`]), replies in ([`Decoder`]).
//!
//! A reply is decoded only once it is complete: [`Decoder::decode`] first
//! scans the buffered bytes without allocating (a bulk string is skipped by
//! its length, so a rescan costs one step per element, not per byte), then
//! builds the [`Value`]. Partial input is not an error. Limits are checked
//! before anything is allocated: a bulk string over [`Limits::max_bulk`],
//! an array over [`Limits::max_len`] elements or nested deeper than
//! [`Limits::max_depth`], and a header line over [`MAX_LINE`] are errors,
//! as is any byte that is not RESP2. After an error the decoder is broken
//! for good (the connection must be dropped).

use std::fmt;

/// Longest `+`, `-`, `:`, `$` or `*` line, CRLF included.
pub const MAX_LINE: usize = 64 * 1024;

/// One reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`: the server refused the command.
    Error(String),
    Int(i64),
    /// `$-1` is `Bulk(None)`.
    Bulk(Option<Vec<u8>>),
    /// `*-1` is `Array(None)` (XREAD's timeout).
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The bytes of a bulk or simple string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(Some(b)) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The elements of a non-nil array.
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::Array(Some(v)) => Some(v),
            _ => None,
        }
    }
}

/// What the decoder refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RespError {
    /// A byte where a type marker, a digit or CRLF must be.
    Syntax(&'static str),
    /// A length over the limits.
    TooBig(&'static str),
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespError::Syntax(why) => write!(f, "malformed reply: {why}"),
            RespError::TooBig(why) => write!(f, "reply too big: {why}"),
        }
    }
}

/// Bounds on one reply.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bulk: usize,
    pub max_len: usize,
    pub max_depth: usize,
    /// Most bytes buffered for one reply not complete yet.
    pub max_reply: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bulk: 16 << 20,
            max_len: 1 << 20,
            max_depth: 8,
            max_reply: 128 << 20,
        }
    }
}

/// Appends a command (an array of bulk strings) to `out`.
pub fn command(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Replies from a byte stream.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Consumed bytes at the front of `buf`.
    head: usize,
    limits: Limits,
    broken: bool,
}

impl Decoder {
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            ..Decoder::default()
        }
    }

    /// Bytes waiting to make a reply.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Adds bytes from the connection.
    pub fn feed(&mut self, data: &[u8]) {
        if self.head > 0 && self.head >= self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete reply, `None` until one is buffered.
    pub fn decode(&mut self) -> Result<Option<Value>, RespError> {
        if self.broken {
            return Err(RespError::Syntax("after an earlier error"));
        }
        // Only the first `max_reply` bytes are looked at: the same view
        // (and so the same error) however the bytes arrived.
        let all = &self.buf[self.head..];
        let data = &all[..all.len().min(self.limits.max_reply)];
        let end = match scan(data, 0, 0, &self.limits) {
            Ok(Some(end)) => end,
            Ok(None) if all.len() > data.len() => {
                self.broken = true;
                return Err(RespError::TooBig("a reply over the limit"));
            }
            Ok(None) => return Ok(None),
            Err(e) => {
                self.broken = true;
                return Err(e);
            }
        };
        let (v, used) = build(data, 0);
        debug_assert_eq!(used, end);
        self.head += end;
        if self.head == self.buf.len() {
            self.buf.clear();
            self.head = 0;
        }
        Ok(Some(v))
    }
}

/// The line at `at` (without CRLF) and the offset after it; `None` if it
/// is not complete yet.
fn line(data: &[u8], at: usize) -> Result<Option<(&[u8], usize)>, RespError> {
    let rest = &data[at..];
    let window = &rest[..rest.len().min(MAX_LINE)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => {
            if i == 0 || rest[i - 1] != b'\r' {
                return Err(RespError::Syntax("a line not ended by CRLF"));
            }
            Ok(Some((&rest[..i - 1], at + i + 1)))
        }
        None if rest.len() >= MAX_LINE => Err(RespError::TooBig("a line over 64 KiB")),
        None => Ok(None),
    }
}

/// A decimal integer, `-1` allowed.
fn int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -n } else { n })
}

/// Checks one value at `at`: its end, `None` if incomplete.
fn scan(data: &[u8], at: usize, depth: usize, lim: &Limits) -> Result<Option<usize>, RespError> {
    let Some(&marker) = data.get(at) else {
        return Ok(None);
    };
    // The marker first: the same error however the bytes arrive.
    if !matches!(marker, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(RespError::Syntax("not a RESP2 type marker"));
    }
    let Some((body, next)) = line(data, at + 1)? else {
        return Ok(None);
    };
    match marker {
        b'+' | b'-' => {
            if body.contains(&b'\r') {
                return Err(RespError::Syntax("CR inside a simple string"));
            }
            Ok(Some(next))
        }
        b':' => int(body)
            .map(|_| Some(next))
            .ok_or(RespError::Syntax("not an integer")),
        b'$' => {
            let n = int(body).ok_or(RespError::Syntax("bad bulk length"))?;
            if n == -1 {
                return Ok(Some(next));
            }
            let n = usize::try_from(n).map_err(|_| RespError::Syntax("bad bulk length"))?;
            if n > lim.max_bulk {
                return Err(RespError::TooBig("bulk string over the limit"));
            }
            let end = next + n + 2;
            if data.len() < end {
                // The CRLF may already be visible to be checked early: no.
                return Ok(None);
            }
            if &data[next + n..end] != b"\r\n" {
                return Err(RespError::Syntax("bulk string not ended by CRLF"));
            }
            Ok(Some(end))
        }
        b'*' => {
            let n = int(body).ok_or(RespError::Syntax("bad array length"))?;
            if n == -1 {
                return Ok(Some(next));
            }
            let n = usize::try_from(n).map_err(|_| RespError::Syntax("bad array length"))?;
            if n > lim.max_len {
                return Err(RespError::TooBig("array over the limit"));
            }
            if n > 0 && depth + 1 > lim.max_depth {
                return Err(RespError::TooBig("arrays nested too deep"));
            }
            let mut at = next;
            for _ in 0..n {
                match scan(data, at, depth + 1, lim)? {
                    Some(end) => at = end,
                    None => return Ok(None),
                }
            }
            Ok(Some(at))
        }
        _ => Err(RespError::Syntax("not a RESP2 type marker")),
    }
}

/// Builds the value [`scan`] found complete and valid.
fn build(data: &[u8], at: usize) -> (Value, usize) {
    let marker = data[at];
    let rest = &data[at + 1..];
    // ok: scan saw the CRLF.
    let i = rest.iter().position(|&b| b == b'\n').unwrap_or(0);
    let body = &rest[..i.saturating_sub(1)];
    let next = at + 1 + i + 1;
    let text = || String::from_utf8_lossy(body).into_owned();
    match marker {
        b'+' => (Value::Simple(text()), next),
        b'-' => (Value::Error(text()), next),
        b':' => (Value::Int(int(body).unwrap_or(0)), next),
        b'$' => match int(body).and_then(|n| usize::try_from(n).ok()) {
            Some(n) => (
                Value::Bulk(Some(data[next..next + n].to_vec())),
                next + n + 2,
            ),
            None => (Value::Bulk(None), next),
        },
        _ => match int(body).and_then(|n| usize::try_from(n).ok()) {
            Some(n) => {
                let mut items = Vec::with_capacity(n);
                let mut at = next;
                for _ in 0..n {
                    let (v, end) = build(data, at);
                    items.push(v);
                    at = end;
                }
                (Value::Array(Some(items)), at)
            }
            None => (Value::Array(None), next),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(Some(s.as_bytes().to_vec()))
    }

    /// Every reply and the error, if any, fed in pieces of `step`.
    fn decode(input: &[u8], step: usize, lim: Limits) -> (Vec<Value>, Option<RespError>) {
        let mut d = Decoder::new(lim);
        let mut out = Vec::new();
        for piece in input.chunks(step.max(1)) {
            d.feed(piece);
            loop {
                match d.decode() {
                    Ok(Some(v)) => out.push(v),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    fn all_ways(input: &[u8], lim: Limits) -> (Vec<Value>, Option<RespError>) {
        let whole = decode(input, input.len(), lim);
        for step in [1, 2, 3, 7] {
            assert_eq!(decode(input, step, lim), whole, "step {step}");
        }
        whole
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        command(&[b"XADD", b"k", b"*", b"text", b"a\r\nb"], &mut out);
        assert_eq!(
            out,
            b"*5\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n*\r\n$4\r\ntext\r\n$4\r\na\r\nb\r\n"
        );
    }

    #[test]
    fn every_type_whole_and_byte_by_byte() {
        let input = b"+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n$5\r\nhe\r\no\r\n$-1\r\n$0\r\n\r\n\
*-1\r\n*0\r\n*2\r\n*2\r\n$2\r\nid\r\n*2\r\n$4\r\ntext\r\n$2\r\nhi\r\n:1\r\n";
        let (got, err) = all_ways(input, Limits::default());
        assert_eq!(err, None);
        assert_eq!(
            got,
            [
                Value::Simple("OK".into()),
                Value::Error("ERR wrong".into()),
                Value::Int(42),
                Value::Int(-7),
                bulk("he\r\no"),
                Value::Bulk(None),
                bulk(""),
                Value::Array(None),
                Value::Array(Some(vec![])),
                Value::Array(Some(vec![
                    Value::Array(Some(vec![
                        bulk("id"),
                        Value::Array(Some(vec![bulk("text"), bulk("hi")])),
                    ])),
                    Value::Int(1),
                ])),
            ]
        );
    }

    #[test]
    fn malformed_replies_are_errors_after_the_good_ones() {
        for (input, want) in [
            (&b"+OK\r\n?x\r\n"[..], "not a RESP2 type marker"),
            (b"+OK\r\n$3\r\nabcd\r\n", "bulk string not ended by CRLF"),
            (b"+OK\r\n:12a\r\n", "not an integer"),
            (b"+OK\r\n$-2\r\n", "bad bulk length"),
            (b"+OK\r\n*-5\r\n", "bad array length"),
            (b"+OK\r\n+no cr\n", "a line not ended by CRLF"),
            (b"+OK\r\n:99999999999999999999\r\n", "not an integer"),
            // Found by fuzzing: a bad marker before a bad line end.
            (b"+OK\r\n?x\n", "not a RESP2 type marker"),
        ] {
            let (got, err) = all_ways(input, Limits::default());
            assert_eq!(got, [Value::Simple("OK".into())], "{input:?}");
            assert_eq!(err, Some(RespError::Syntax(want)), "{input:?}");
        }
    }

    #[test]
    fn limits_are_checked_before_allocating() {
        let lim = Limits {
            max_bulk: 4,
            max_len: 2,
            max_depth: 2,
            max_reply: 24,
        };
        let too_big = |input: &[u8]| all_ways(input, lim).1;
        assert_eq!(
            too_big(b"$5\r\n"),
            Some(RespError::TooBig("bulk string over the limit"))
        );
        assert_eq!(
            too_big(b"$9223372036854775807\r\n"),
            Some(RespError::TooBig("bulk string over the limit"))
        );
        assert_eq!(
            too_big(b"*3\r\n"),
            Some(RespError::TooBig("array over the limit"))
        );
        assert_eq!(
            too_big(b"*1\r\n*1\r\n*1\r\n"),
            Some(RespError::TooBig("arrays nested too deep"))
        );
        assert_eq!(all_ways(b"*1\r\n*1\r\n$4\r\nabcd\r\n", lim).1, None);
        assert_eq!(
            too_big(b"*2\r\n*2\r\n$4\r\nabcd\r\n$4\r\nabcd\r\n"),
            Some(RespError::TooBig("a reply over the limit"))
        );
        let mut long = b"+".to_vec();
        long.resize(MAX_LINE + 10, b'a');
        assert_eq!(
            decode(&long, long.len(), Limits::default()).1,
            Some(RespError::TooBig("a line over 64 KiB"))
        );
    }

    #[test]
    fn partial_input_waits_and_an_error_sticks() {
        let mut d = Decoder::new(Limits::default());
        d.feed(b"*2\r\n$3\r\nabc\r\n");
        assert_eq!(d.decode(), Ok(None));
        assert_eq!(d.buffered(), 13);
        d.feed(b":1\r\n");
        assert!(matches!(d.decode(), Ok(Some(Value::Array(Some(_))))));
        assert_eq!(d.buffered(), 0);
        d.feed(b"!");
        assert!(d.decode().is_err());
        d.feed(b"+OK\r\n");
        assert!(d.decode().is_err());
    }
}
