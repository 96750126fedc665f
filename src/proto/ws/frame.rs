//! RFC 6455 frames: a streaming decoder that reassembles messages, and an
//! encoder.
//!
//! [`Decoder::decode`] takes whatever bytes arrived and returns how many it
//! consumed and at most one [`Incoming`] item. Every rule is checked as soon
//! as the bytes that break it are seen: header rules (reserved bits and
//! opcodes, control frames fragmented or over 125 bytes, masking by role, a
//! 64-bit length with its top bit set, continuation out of sequence) at the
//! header; the message size limit before any payload is buffered; UTF-8 of
//! text as each slice of payload is unmasked — so an invalid byte fails the
//! connection at once, mid-frame, not at the end of the message.

use super::deflate::{InflateError, Inflater, TRAILER};
use super::utf8::Utf8Validator;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The first header bit of permessage-deflate (RFC 7692): or'ed into the
/// opcode given to [`encode`], it marks a compressed message.
pub const RSV1: u8 = 0x40;

/// Close codes (RFC 6455, section 7.4.1).
pub mod code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const UNSUPPORTED: u16 = 1003;
    pub const NO_STATUS: u16 = 1005;
    pub const ABNORMAL: u16 = 1006;
    pub const INVALID_PAYLOAD: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
}

/// Which end of the connection we are: it decides who masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

/// The peer broke the protocol: close with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsError {
    pub code: u16,
    pub reason: String,
}

impl WsError {
    fn new(code: u16, reason: impl Into<String>) -> WsError {
        WsError {
            code,
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for WsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (close {})", self.reason, self.code)
    }
}

impl std::error::Error for WsError {}

/// A complete message or control frame from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A Close frame: its code (none if the frame had no body) and reason.
    Close(Option<u16>, String),
}

/// Whether a received close code is one a peer may send.
pub fn valid_close_code(c: u16) -> bool {
    matches!(c, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[derive(Debug, Clone, Copy)]
struct Payload {
    opcode: u8,
    fin: bool,
    left: u64,
    mask: Option<[u8; 4]>,
    /// Position in the mask cycle.
    offset: usize,
}

#[derive(Debug)]
pub struct Decoder {
    role: Role,
    max_message: usize,
    payload: Option<Payload>,
    /// The data message being assembled: its opcode, once started.
    message: Option<u8>,
    data: Vec<u8>,
    utf8: Utf8Validator,
    control: Vec<u8>,
    /// permessage-deflate, once negotiated.
    inflater: Option<Inflater>,
    /// The message being assembled is compressed (RSV1 on its first frame).
    compressed: bool,
    /// Unmasked compressed bytes on their way to the inflater.
    raw: Vec<u8>,
}

impl Decoder {
    pub fn new(role: Role, max_message: usize) -> Decoder {
        Decoder {
            role,
            max_message,
            payload: None,
            message: None,
            data: Vec::new(),
            utf8: Utf8Validator::new(),
            control: Vec::with_capacity(125),
            inflater: None,
            compressed: false,
            raw: Vec::new(),
        }
    }

    /// Accepts compressed messages (RSV1) from now on, inflated by `inflater`.
    pub fn set_inflater(&mut self, inflater: Option<Inflater>) {
        self.inflater = inflater;
    }

    /// Whether an inflate context is held now (for memory accounting).
    pub fn holds_context(&self) -> bool {
        self.inflater.as_ref().is_some_and(Inflater::holds_context)
    }

    /// Bytes of the message being assembled.
    pub fn buffered(&self) -> usize {
        self.data.len()
    }

    /// Decodes from the front of `input`: bytes consumed and the item found.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Incoming>), WsError> {
        let mut used = 0;
        loop {
            let p = match self.payload {
                Some(p) => p,
                None => match self.header(&input[used..])? {
                    Some((n, p)) => {
                        used += n;
                        self.payload = Some(p);
                        p
                    }
                    None => return Ok((used, None)),
                },
            };
            let take =
                usize::try_from(p.left).map_or(input.len() - used, |l| l.min(input.len() - used));
            if take > 0 {
                let chunk = &input[used..used + take];
                self.absorb(p, chunk)?;
                used += take;
            }
            let left = p.left - take as u64;
            let offset = p.offset + take;
            self.payload = Some(Payload { left, offset, ..p });
            if left > 0 {
                return Ok((used, None));
            }
            self.payload = None;
            if let Some(item) = self.frame_done(p)? {
                return Ok((used, Some(item)));
            }
            if used == input.len() {
                return Ok((used, None));
            }
        }
    }

    /// Parses and checks a frame header.
    fn header(&mut self, b: &[u8]) -> Result<Option<(usize, Payload)>, WsError> {
        if b.len() < 2 {
            return Ok(None);
        }
        let fin = b[0] & 0x80 != 0;
        let rsv = b[0] & 0x70;
        let opcode = b[0] & 0x0F;
        let masked = b[1] & 0x80 != 0;
        let len7 = b[1] & 0x7F;
        let control = opcode & 0x8 != 0;
        // RSV1 marks a compressed message, on its first frame only.
        let compressed = rsv == RSV1
            && self.inflater.is_some()
            && matches!(opcode, OP_TEXT | OP_BINARY)
            && self.message.is_none();
        if rsv != 0 && !compressed {
            return Err(WsError::new(
                code::PROTOCOL,
                match (rsv, self.inflater.is_some()) {
                    (RSV1, true) if control => "RSV1 set on a control frame",
                    (RSV1, true) if opcode == OP_CONTINUATION => "RSV1 set on a continuation frame",
                    _ => "reserved bits set without an extension",
                },
            ));
        }
        match opcode {
            OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => {}
            other => {
                return Err(WsError::new(
                    code::PROTOCOL,
                    format!("reserved opcode {other:#x}"),
                ))
            }
        }
        if control && !fin {
            return Err(WsError::new(code::PROTOCOL, "fragmented control frame"));
        }
        if control && len7 > 125 {
            return Err(WsError::new(code::PROTOCOL, "control frame over 125 bytes"));
        }
        match (self.role, masked) {
            (Role::Server, false) => {
                return Err(WsError::new(code::PROTOCOL, "unmasked frame from a client"))
            }
            (Role::Client, true) => {
                return Err(WsError::new(code::PROTOCOL, "masked frame from a server"))
            }
            _ => {}
        }
        if !control {
            match (opcode, self.message) {
                (OP_CONTINUATION, None) => {
                    return Err(WsError::new(
                        code::PROTOCOL,
                        "continuation frame without a message",
                    ))
                }
                (OP_TEXT | OP_BINARY, Some(_)) => {
                    return Err(WsError::new(
                        code::PROTOCOL,
                        "new message inside a fragmented one",
                    ))
                }
                _ => {}
            }
        }
        let ext = match len7 {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask_len = if masked { 4 } else { 0 };
        let need = 2 + ext + mask_len;
        if b.len() < need {
            return Ok(None);
        }
        let len: u64 = match len7 {
            126 => u64::from(u16::from_be_bytes([b[2], b[3]])),
            127 => {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&b[2..10]);
                let n = u64::from_be_bytes(raw);
                if n >> 63 != 0 {
                    return Err(WsError::new(
                        code::PROTOCOL,
                        "64-bit length with the top bit set",
                    ));
                }
                n
            }
            n => u64::from(n),
        };
        // A compressed message is limited by its inflated size (checked as
        // it inflates); its compressed bytes are never buffered whole.
        let inflating = compressed || (self.compressed && self.message.is_some());
        let limit_wire = !control && !inflating;
        if limit_wire && len > (self.max_message - self.data.len()) as u64 {
            return Err(WsError::new(
                code::TOO_BIG,
                format!("message over the limit of {} bytes", self.max_message),
            ));
        }
        let mask = masked.then(|| [b[need - 4], b[need - 3], b[need - 2], b[need - 1]]);
        if !control && self.message.is_none() {
            self.message = Some(opcode);
            self.utf8 = Utf8Validator::new();
            self.compressed = compressed;
        }
        if control {
            self.control.clear();
        }
        Ok(Some((
            need,
            Payload {
                opcode,
                fin,
                left: len,
                mask,
                offset: 0,
            },
        )))
    }

    /// Unmasks and stores a slice of payload, validating text as it goes.
    fn absorb(&mut self, p: Payload, chunk: &[u8]) -> Result<(), WsError> {
        if self.compressed && p.opcode & 0x8 == 0 {
            let mut raw = std::mem::take(&mut self.raw);
            raw.clear();
            raw.extend_from_slice(chunk);
            if let Some(mask) = p.mask {
                apply_mask(&mut raw, mask, p.offset);
            }
            // The message's last bytes: inflate them with the trailer.
            let last = p.fin && chunk.len() as u64 == p.left;
            if last {
                raw.extend_from_slice(&TRAILER);
            }
            let r = self.inflate(&raw, last);
            if last {
                self.compressed = false;
            }
            if raw.capacity() <= 64 * 1024 {
                self.raw = raw;
            }
            return r;
        }
        let target = if p.opcode & 0x8 != 0 {
            &mut self.control
        } else {
            self.grow_for(p, chunk.len());
            &mut self.data
        };
        let start = target.len();
        target.extend_from_slice(chunk);
        if let Some(mask) = p.mask {
            apply_mask(&mut target[start..], mask, p.offset);
        }
        if p.opcode & 0x8 == 0 && self.message == Some(OP_TEXT) {
            self.utf8.feed(&self.data[start..]).map_err(|_| {
                WsError::new(code::INVALID_PAYLOAD, "invalid UTF-8 in a text message")
            })?;
        }
        Ok(())
    }

    /// Inflates a piece of a compressed message into `data`, validating
    /// text as it comes out.
    fn inflate(&mut self, input: &[u8], last: bool) -> Result<(), WsError> {
        let Some(inflater) = self.inflater.as_mut() else {
            return Ok(());
        };
        let start = self.data.len();
        let r = if last && !input.is_empty() {
            inflater.inflate_last_with_trailer(input, &mut self.data, self.max_message)
        } else {
            inflater.inflate(input, last, &mut self.data, self.max_message)
        };
        r.map_err(|e| match e {
            InflateError::TooBig => WsError::new(
                code::TOO_BIG,
                format!(
                    "message over the limit of {} bytes (inflated)",
                    self.max_message
                ),
            ),
            InflateError::Corrupt(why) => WsError::new(
                code::INVALID_PAYLOAD,
                format!("invalid compressed data: {why}"),
            ),
        })?;
        if self.message == Some(OP_TEXT) {
            self.utf8.feed(&self.data[start..]).map_err(|_| {
                WsError::new(code::INVALID_PAYLOAD, "invalid UTF-8 in a text message")
            })?;
        }
        Ok(())
    }

    /// Makes room for `more` bytes of a data frame. The buffer doubles, as
    /// a `Vec` would, but never past `max_message`, and never past the end
    /// of the message once its final frame is arriving (the frame's length
    /// was checked against the limit): a message at the limit costs the
    /// limit, not up to twice; bytes announced but not sent cost nothing.
    fn grow_for(&mut self, p: Payload, more: usize) {
        let len = self.data.len();
        let need = len + more;
        if need <= self.data.capacity() {
            return;
        }
        let end = if p.fin {
            len.saturating_add(usize::try_from(p.left).unwrap_or(usize::MAX))
        } else {
            self.max_message
        };
        let want = self
            .data
            .capacity()
            .saturating_mul(2)
            .min(end.min(self.max_message))
            .max(need);
        self.data.reserve_exact(want - len);
    }

    /// A frame's payload is complete.
    fn frame_done(&mut self, p: Payload) -> Result<Option<Incoming>, WsError> {
        match p.opcode {
            OP_PING => Ok(Some(Incoming::Ping(self.control.clone()))),
            OP_PONG => Ok(Some(Incoming::Pong(self.control.clone()))),
            OP_CLOSE => parse_close(&self.control).map(Some),
            _ if !p.fin => Ok(None),
            _ => {
                if self.compressed {
                    self.inflate(&[], true)?;
                    self.compressed = false;
                }
                let kind = self.message.take().unwrap_or(OP_BINARY);
                let data = std::mem::take(&mut self.data);
                if kind == OP_TEXT {
                    if !self.utf8.is_complete() {
                        return Err(WsError::new(
                            code::INVALID_PAYLOAD,
                            "text message ends inside a character",
                        ));
                    }
                    // Validated as it arrived.
                    let text = String::from_utf8(data).map_err(|_| {
                        WsError::new(code::INVALID_PAYLOAD, "invalid UTF-8 in a text message")
                    })?;
                    Ok(Some(Incoming::Text(text)))
                } else {
                    Ok(Some(Incoming::Binary(data)))
                }
            }
        }
    }
}

fn parse_close(body: &[u8]) -> Result<Incoming, WsError> {
    match body.len() {
        0 => Ok(Incoming::Close(None, String::new())),
        1 => Err(WsError::new(
            code::PROTOCOL,
            "close frame with a 1-byte body",
        )),
        _ => {
            let c = u16::from_be_bytes([body[0], body[1]]);
            if !valid_close_code(c) {
                return Err(WsError::new(
                    code::PROTOCOL,
                    format!("invalid close code {c}"),
                ));
            }
            let reason = std::str::from_utf8(&body[2..]).map_err(|_| {
                WsError::new(code::INVALID_PAYLOAD, "invalid UTF-8 in a close reason")
            })?;
            Ok(Incoming::Close(Some(c), reason.to_string()))
        }
    }
}

/// XORs `data` with `mask`, starting at position `offset` of the mask cycle.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut m = [0u8; 4];
    for (i, b) in m.iter_mut().enumerate() {
        *b = mask[(offset + i) % 4];
    }
    let wide = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}

/// Appends one frame. `mask` is required from clients, forbidden from
/// servers. `opcode` may carry [`RSV1`] (a compressed message).
pub fn encode(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    out.push(if fin { 0x80 } else { 0 } | opcode);
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            let start = out.len();
            out.extend_from_slice(payload);
            apply_mask(&mut out[start..], m, 0);
        }
        None => out.extend_from_slice(payload),
    }
}

/// A Close frame body: code and reason (the reason cut to fit 125 bytes).
pub fn close_body(c: u16, reason: &str) -> Vec<u8> {
    let mut body = c.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    body.extend_from_slice(&reason.as_bytes()[..end]);
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn frame(opcode: u8, fin: bool, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut out = Vec::new();
        encode(opcode, fin, payload, masked.then_some(MASK), &mut out);
        out
    }

    /// Decodes everything, fed whole and byte by byte; both must agree.
    fn decode_all(role: Role, input: &[u8]) -> (Vec<Incoming>, Option<WsError>) {
        let run = |step: usize| {
            let mut d = Decoder::new(role, 1 << 20);
            let mut items = Vec::new();
            let mut buf: Vec<u8> = Vec::new();
            let mut fed = 0;
            loop {
                match d.decode(&buf) {
                    Err(e) => return (items, Some(e)),
                    Ok((used, item)) => {
                        buf.drain(..used);
                        let progressed = used > 0 || item.is_some();
                        if let Some(i) = item {
                            items.push(i);
                        }
                        if progressed {
                            continue;
                        }
                    }
                }
                if fed == input.len() {
                    return (items, None);
                }
                let n = step.min(input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
        };
        let whole = run(usize::MAX);
        assert_eq!(whole, run(1), "whole and byte-by-byte disagree");
        whole
    }

    #[test]
    fn rfc_examples() {
        // RFC 6455, section 5.7.
        let (items, err) = decode_all(Role::Client, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!((items, err), (vec![Incoming::Text("Hello".into())], None));
        let masked = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let (items, _) = decode_all(Role::Server, &masked);
        assert_eq!(items, vec![Incoming::Text("Hello".into())]);
        assert_eq!(frame(OP_TEXT, true, b"Hello", true), masked);
        let fragmented = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
        assert_eq!(
            decode_all(Role::Client, &fragmented).0,
            vec![Incoming::Text("Hello".into())]
        );
    }

    #[test]
    fn three_length_forms() {
        for n in [0usize, 125, 126, 65535, 65536, 200_000] {
            let payload: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let bytes = frame(OP_BINARY, true, &payload, true);
            let header = match n {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            };
            assert_eq!(bytes.len(), header + 4 + n);
            let mut d = Decoder::new(Role::Server, 1 << 20);
            assert_eq!(
                d.decode(&bytes).unwrap(),
                (bytes.len(), Some(Incoming::Binary(payload)))
            );
        }
    }

    #[test]
    fn control_frames_between_fragments() {
        let mut input = frame(OP_TEXT, false, b"frag", false);
        input.extend(frame(OP_PING, true, b"ping!", false));
        input.extend(frame(OP_CONTINUATION, true, b"ment", false));
        let (items, err) = decode_all(Role::Client, &input);
        assert_eq!(err, None);
        assert_eq!(
            items,
            vec![
                Incoming::Ping(b"ping!".to_vec()),
                Incoming::Text("fragment".into())
            ]
        );
    }

    #[test]
    fn protocol_violations_are_1002() {
        let cases: Vec<(Role, Vec<u8>)> = vec![
            (Role::Client, vec![0xC1, 0x00]),                          // RSV1
            (Role::Client, vec![0x83, 0x00]),                          // reserved opcode 3
            (Role::Client, vec![0x8B, 0x00]),                          // reserved control opcode
            (Role::Client, vec![0x09, 0x00]),                          // fragmented ping
            (Role::Client, frame(OP_PING, true, &[0; 126], false)),    // control over 125
            (Role::Server, frame(OP_TEXT, true, b"hi", false)),        // unmasked from a client
            (Role::Client, frame(OP_TEXT, true, b"hi", true)),         // masked from a server
            (Role::Client, frame(OP_CONTINUATION, true, b"x", false)), // nothing to continue
            (
                Role::Client,
                [
                    frame(OP_TEXT, false, b"a", false),
                    frame(OP_TEXT, true, b"b", false),
                ]
                .concat(),
            ),
            (Role::Client, vec![0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0]), // top bit of 64-bit length
            (Role::Client, vec![0x88, 0x01, 0x03]),                      // 1-byte close body
            (
                Role::Client,
                frame(OP_CLOSE, true, &close_body(1005, ""), false),
            ),
            (
                Role::Client,
                frame(OP_CLOSE, true, &close_body(999, ""), false),
            ),
            (
                Role::Client,
                frame(OP_CLOSE, true, &close_body(2000, ""), false),
            ),
        ];
        for (i, (role, input)) in cases.iter().enumerate() {
            let (_, err) = decode_all(*role, input);
            assert_eq!(err.map(|e| e.code), Some(code::PROTOCOL), "case {i}");
        }
    }

    #[test]
    fn invalid_utf8_fails_fast_mid_frame() {
        let mut input = frame(
            OP_TEXT,
            true,
            b"\xce\xba\xe1\xbd\xb9\xf4\x90\x80\x80more text",
            false,
        );
        // Cut the frame right after the impossible byte: the error comes already.
        input.truncate(2 + 7);
        let mut d = Decoder::new(Role::Client, 1 << 20);
        assert_eq!(d.decode(&input).unwrap_err().code, code::INVALID_PAYLOAD);
        let (_, err) = decode_all(Role::Client, &frame(OP_CLOSE, true, b"\x03\xe8\xff", false));
        assert_eq!(err.map(|e| e.code), Some(code::INVALID_PAYLOAD));
        let (_, err) = decode_all(Role::Client, &frame(OP_TEXT, true, b"\xe2\x98", false));
        assert_eq!(err.map(|e| e.code), Some(code::INVALID_PAYLOAD));
    }

    #[test]
    fn size_limit_is_checked_before_buffering() {
        let mut d = Decoder::new(Role::Client, 1000);
        // Only the header of a 2^62-byte frame: refused at once, nothing reserved.
        let header = [0x82, 0x7F, 0x40, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(d.decode(&header).unwrap_err().code, code::TOO_BIG);
        let mut d = Decoder::new(Role::Client, 1000);
        let mut input = frame(OP_BINARY, false, &[0; 600], false);
        input.extend(frame(OP_CONTINUATION, true, &[0; 600], false));
        // The first fragment fits; the second would pass the limit.
        assert_eq!(d.decode(&input).unwrap_err().code, code::TOO_BIG);
        assert_eq!(d.buffered(), 600);
    }

    #[test]
    fn close_frames() {
        let (items, _) = decode_all(
            Role::Client,
            &frame(OP_CLOSE, true, &close_body(1000, "bye"), false),
        );
        assert_eq!(items, vec![Incoming::Close(Some(1000), "bye".into())]);
        let (items, _) = decode_all(Role::Client, &frame(OP_CLOSE, true, b"", false));
        assert_eq!(items, vec![Incoming::Close(None, String::new())]);
        for c in [1000, 1001, 1003, 1007, 1011, 1012, 3000, 4999] {
            assert!(valid_close_code(c), "{c}");
        }
        for c in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(!valid_close_code(c), "{c}");
        }
        assert_eq!(close_body(1000, &"é".repeat(100)).len(), 124);
    }

    #[test]
    fn mask_offsets() {
        let mut a = b"abcdefghijklmnopqrs".to_vec();
        let orig = a.clone();
        apply_mask(&mut a[..5], MASK, 0);
        apply_mask(&mut a[5..], MASK, 5);
        let mut b = orig.clone();
        apply_mask(&mut b, MASK, 0);
        assert_eq!(a, b);
        apply_mask(&mut b, MASK, 0);
        assert_eq!(b, orig);
    }

    /// Decodes a message of exactly the limit, fed in pieces of `step`:
    /// its buffer never grows past the limit.
    fn capacity_at_the_limit(frames: &[(u8, bool, usize)], step: usize) -> usize {
        const LIMIT: usize = 1_000_000;
        let mut d = Decoder::new(Role::Server, LIMIT);
        let mut input = Vec::new();
        for &(opcode, fin, len) in frames {
            encode(opcode, fin, &vec![b'a'; len], Some(MASK), &mut input);
        }
        let mut pending: Vec<u8> = Vec::new();
        let mut got = None;
        for piece in input.chunks(step) {
            pending.extend_from_slice(piece);
            loop {
                let (used, item) = d.decode(&pending).unwrap();
                pending.drain(..used);
                if let Some(item) = item {
                    got = Some(item);
                }
                if used == 0 || pending.is_empty() {
                    break;
                }
            }
        }
        match got {
            Some(Incoming::Binary(b)) => {
                assert_eq!(b.len(), LIMIT);
                b.capacity()
            }
            Some(Incoming::Text(t)) => {
                assert_eq!(t.len(), LIMIT);
                t.capacity()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_message_at_the_limit_allocates_no_more_than_the_limit() {
        let cases: &[&[(u8, bool, usize)]] = &[
            &[(OP_BINARY, true, 1_000_000)],
            &[(OP_TEXT, true, 1_000_000)],
            &[
                (OP_BINARY, false, 300_000),
                (OP_CONTINUATION, false, 300_000),
                (OP_CONTINUATION, true, 400_000),
            ],
            &[
                (OP_TEXT, false, 1),
                (OP_CONTINUATION, false, 524_287),
                (OP_CONTINUATION, true, 475_712),
            ],
        ];
        for frames in cases {
            for step in [64 * 1024, 4096, 1_100_000] {
                let cap = capacity_at_the_limit(frames, step);
                assert!(cap <= 1_000_000, "{frames:?} by {step}: capacity {cap}");
            }
        }
    }

    /// Decodes with permessage-deflate on, fed whole and byte by byte.
    fn decode_deflated(input: &[u8], limit: usize) -> (Vec<Incoming>, Option<WsError>) {
        let run = |step: usize| {
            let mut d = Decoder::new(Role::Client, limit);
            d.set_inflater(Some(Inflater::new(15, false)));
            let mut items = Vec::new();
            let mut buf: Vec<u8> = Vec::new();
            for piece in input.chunks(step) {
                buf.extend_from_slice(piece);
                loop {
                    match d.decode(&buf) {
                        Err(e) => return (items, Some(e)),
                        Ok((used, item)) => {
                            buf.drain(..used);
                            let progressed = used > 0 || item.is_some();
                            items.extend(item);
                            if !progressed || buf.is_empty() {
                                break;
                            }
                        }
                    }
                }
            }
            (items, None)
        };
        let whole = run(input.len().max(1));
        assert_eq!(whole, run(1), "whole and byte-by-byte disagree");
        whole
    }

    #[test]
    fn compressed_messages_rfc_7692() {
        // §7.2.3.1, then §7.2.3.2's second message (context takeover), a
        // ping between fragments of a compressed message (§7.2.3.5 splits
        // "Hello" over two frames), and an uncompressed message.
        let mut input = frame(
            OP_TEXT | RSV1,
            true,
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            false,
        );
        input.extend(frame(
            OP_TEXT | RSV1,
            true,
            &[0xf2, 0x00, 0x11, 0x00, 0x00],
            false,
        ));
        input.extend(frame(OP_TEXT | RSV1, false, &[0xf2, 0x48, 0xcd], false));
        input.extend(frame(OP_PING, true, b"p", false));
        input.extend(frame(
            OP_CONTINUATION,
            true,
            &[0xc9, 0xc9, 0x07, 0x00],
            false,
        ));
        input.extend(frame(OP_BINARY, true, b"plain", false));
        let (items, err) = decode_deflated(&input, 1000);
        assert_eq!(err, None);
        assert_eq!(
            items,
            vec![
                Incoming::Text("Hello".into()),
                Incoming::Text("Hello".into()),
                Incoming::Ping(b"p".to_vec()),
                Incoming::Text("Hello".into()),
                Incoming::Binary(b"plain".to_vec()),
            ]
        );
    }

    #[test]
    fn compressed_rule_breaking() {
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let cases: Vec<(Vec<u8>, u16)> = vec![
            // RSV1 on a continuation frame.
            (
                [
                    frame(OP_TEXT | RSV1, false, &hello[..3], false),
                    frame(OP_CONTINUATION | RSV1, true, &hello[3..], false),
                ]
                .concat(),
                code::PROTOCOL,
            ),
            // RSV1 on a control frame.
            (frame(OP_PING | RSV1, true, b"", false), code::PROTOCOL),
            // RSV2, RSV3.
            (frame(OP_TEXT | 0x20, true, b"", false), code::PROTOCOL),
            (frame(OP_TEXT | 0x10, true, b"", false), code::PROTOCOL),
            // Not deflate.
            (
                frame(OP_BINARY | RSV1, true, &[0xff; 8], false),
                code::INVALID_PAYLOAD,
            ),
            // Compressed invalid UTF-8.
            (
                frame(OP_TEXT | RSV1, true, &[0xfa, 0x0f, 0x00], false),
                code::INVALID_PAYLOAD,
            ),
        ];
        for (i, (input, want)) in cases.iter().enumerate() {
            let (_, err) = decode_deflated(input, 1000);
            assert_eq!(err.map(|e| e.code), Some(*want), "case {i}");
        }
        // Without the extension, RSV1 is a protocol error as before.
        let (_, err) = decode_all(Role::Client, &frame(OP_TEXT | RSV1, true, &hello, false));
        assert_eq!(err.map(|e| e.code), Some(code::PROTOCOL));
    }

    #[test]
    fn a_decompression_bomb_fails_at_the_limit_while_inflating() {
        let mut z = Vec::new();
        crate::proto::ws::deflate::Deflater::new(15, true).compress(&vec![b'a'; 10 << 20], &mut z);
        assert!(z.len() < 200_000);
        // Only the first fifth of the frame: 2 MiB inflated already breaks 1 MiB.
        let whole = frame(OP_TEXT | RSV1, true, &z, true);
        let part = &whole[..whole.len() / 5];
        let mut d = Decoder::new(Role::Server, 1 << 20);
        d.set_inflater(Some(Inflater::new(15, false)));
        let err = d.decode(part).unwrap_err();
        assert_eq!(err.code, code::TOO_BIG);
        assert!(d.buffered() <= 1 << 20);
        assert!(d.data.capacity() <= 1 << 20);
    }
}
