//! permessage-deflate (RFC 7692), sans-IO: the negotiation of its four
//! parameters on both sides, and the per-message compressor and inflater.
//!
//! Negotiation. The client offers two elements, in order of preference:
//! `permessage-deflate; client_max_window_bits` and the same with
//! `client_no_context_takeover` (so that a server which wants the client to
//! drop its context between messages can say so). The server takes the
//! first offer it can honour; an offer with an unknown, repeated or invalid
//! parameter is declined (§7.1), never answered with an error. A server
//! always answers `server_no_context_takeover`: its compressor then lives
//! for one message only, so an idle client costs no compression memory
//! (a zlib compressor is a few hundred KiB; see `Deflater`); once busy
//! ([`BUSY_CLIENTS`]) it also asks new clients for
//! `client_no_context_takeover`, so that their inflate contexts are not
//! kept between messages either. A client fails
//! the handshake on any response it cannot accept (§7.1.1, §7.1.2).
//!
//! Window bits. zlib's raw deflate cannot compress with a 256-byte window
//! (`windowBits` 8; it silently uses 9, which the peer's 8-bit inflater may
//! not follow). When the peer limits our window to 8 bits we accept, but
//! send every message uncompressed (no RSV1), which RFC 7692 always
//! allows (Python `websockets` refuses such an agreement instead: its
//! client fails the handshake, its server declines the offer). Our inflater never needs fewer than 9 bits: a larger window
//! inflates whatever a smaller one produced.
//!
//! Messages. The compressor ends each message with a sync flush and strips
//! the `00 00 ff ff` trailer (§7.2.1); the inflater appends it back at the
//! end of the message (§7.2.2). Inflated output is counted against the
//! message limit as it is produced, so a small frame that inflates to
//! gigabytes fails with 1009 after at most `max_message` bytes.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

thread_local! {
    /// One spare compressor and inflater per window size (9..=15), reset,
    /// for the messages sent or received without context takeover: the
    /// next such message reuses it instead of allocating and freeing a few
    /// hundred KiB each time (which fragmented the heap: 14 KiB kept per
    /// client, measured with 10,000 clients).
    static SPARE: RefCell<Spare> = RefCell::new(Spare::default());
}

#[derive(Default)]
struct Spare {
    deflate: [Option<Box<Compress>>; 7],
    inflate: [Option<Box<Decompress>>; 7],
}

fn take_compressor(bits: u8) -> Box<Compress> {
    let spare = SPARE.with(|s| s.borrow_mut().deflate[usize::from(bits - 9)].take());
    spare.unwrap_or_else(|| {
        Box::new(Compress::new_with_window_bits(
            Compression::new(LEVEL_SMALL),
            false,
            bits,
        ))
    })
}

fn give_compressor(bits: u8, mut z: Box<Compress>, level: u32) {
    z.reset();
    if level != LEVEL_SMALL && z.set_level(Compression::new(LEVEL_SMALL)).is_err() {
        return;
    }
    SPARE.with(|s| s.borrow_mut().deflate[usize::from(bits - 9)] = Some(z));
}

fn take_inflater(bits: u8) -> Box<Decompress> {
    let spare = SPARE.with(|s| s.borrow_mut().inflate[usize::from(bits - 9)].take());
    spare.unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, bits)))
}

fn give_inflater(bits: u8, mut z: Box<Decompress>) {
    z.reset(false);
    SPARE.with(|s| s.borrow_mut().inflate[usize::from(bits - 9)] = Some(z));
}

/// The extension token.
pub const NAME: &str = "permessage-deflate";

/// The bytes a sync flush ends with, stripped from every message.
pub const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compression levels, by message size. zlib-rs's level 1 (static Huffman
/// codes, no tree to build) costs least per message, which is what a
/// stream of short messages needs (level 2 and up build a dynamic tree at
/// every flush: 7 times slower on 52-byte lines, benches/ws_deflate.sh);
/// on larger messages level 6 saves a third of the bytes (10 MiB of JSON:
/// 18.7 % of its size at level 1, 9.6 % at 6).
const LEVEL_SMALL: u32 = 1;
const LEVEL_LARGE: u32 = 6;
/// Messages from this size are compressed at `LEVEL_LARGE`.
const LARGE: usize = 1024;

/// The agreed parameters, from the point of view of the wire (server and
/// client), whichever side we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// 8..=15.
    pub server_max_window_bits: u8,
    /// 8..=15.
    pub client_max_window_bits: u8,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

impl Params {
    /// The response header value (server side).
    pub fn response(&self, client_bits_in_response: bool) -> String {
        let mut s = NAME.to_string();
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        if client_bits_in_response {
            s.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_max_window_bits
            ));
        }
        s
    }
}

/// The client's offer (two elements, see the module documentation).
pub const CLIENT_OFFER: &str = "permessage-deflate; client_max_window_bits, \
     permessage-deflate; client_max_window_bits; client_no_context_takeover";

/// One offered or answered element: its parameters, checked for syntax
/// (known names, no repeats, values in range). `None` for a window-bits
/// parameter present without a value.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Element {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<Option<u8>>,
    client_max_window_bits: Option<Option<u8>>,
}

/// An extension element's parameters: (name, value).
type ExtParams = Vec<(String, Option<String>)>;

/// Splits a header value into extension elements: (name, [(param, value)]).
/// Quoted values are unquoted (§7.1 allows the quoted-string form).
fn elements(value: &str) -> Vec<(String, ExtParams)> {
    let mut out = Vec::new();
    for element in split_outside_quotes(value, ',') {
        let mut parts = split_outside_quotes(&element, ';').into_iter();
        let name = parts.next().unwrap_or_default().trim().to_string();
        if name.is_empty() {
            continue;
        }
        let params = parts
            .map(|p| match p.split_once('=') {
                Some((k, v)) => {
                    let v = v.trim();
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v);
                    (k.trim().to_string(), Some(v.to_string()))
                }
                None => (p.trim().to_string(), None),
            })
            .collect();
        out.push((name, params));
    }
    out
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for ch in s.chars() {
        if ch == '"' {
            quoted = !quoted;
        }
        if ch == sep && !quoted {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push(ch);
        }
    }
    out
}

/// Window bits: 1 or 2 decimal digits, 8..=15, no sign, no leading zero.
fn window_bits(v: &str) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || v.starts_with('0') || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

/// Checks one element's parameters (§7.1): unknown names, repeats and
/// bad values are errors. `offer` allows `client_max_window_bits` without
/// a value (only an offer may have it so).
fn parse_element(params: &[(String, Option<String>)], offer: bool) -> Result<Element, String> {
    let mut e = Element::default();
    for (name, value) in params {
        let name = name.to_ascii_lowercase();
        let repeated = || Err(format!("{name} given twice"));
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) => {
                if e.server_no_context_takeover {
                    return repeated();
                }
                e.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) => {
                if e.client_no_context_takeover {
                    return repeated();
                }
                e.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) => {
                if e.server_max_window_bits.is_some() {
                    return repeated();
                }
                let bits = window_bits(v).ok_or(format!("{name}={v:?} is not 8..15"))?;
                e.server_max_window_bits = Some(Some(bits));
            }
            ("client_max_window_bits", v) => {
                if e.client_max_window_bits.is_some() {
                    return repeated();
                }
                let bits = match v {
                    Some(v) => Some(window_bits(v).ok_or(format!("{name}={v:?} is not 8..15"))?),
                    None if offer => None,
                    None => return Err(format!("{name} without a value")),
                };
                e.client_max_window_bits = Some(bits);
            }
            _ => {
                return Err(match value {
                    Some(v) => format!("unexpected parameter {name}={v}"),
                    None => format!("unexpected parameter {name}"),
                })
            }
        }
    }
    Ok(e)
}

/// Clients connected from which a server asks new clients for
/// `client_no_context_takeover` (§7.1.1.1 lets it ask whether offered or
/// not): a client's inflate context with takeover stays allocated (about
/// 46 KiB with a 15-bit window, measured: 10,000 clients that each sent one
/// message held 468 MiB), without it the context lives for one message.
pub const BUSY_CLIENTS: usize = 1000;

/// Server side: the client's `Sec-WebSocket-Extensions` values; returns the
/// parameters agreed and the response header value, or `None` (no offer of
/// permessage-deflate was acceptable: no compression, which is no error).
/// `clients`: how many are connected already (see [`BUSY_CLIENTS`]).
pub fn accept_offer(values: &[&str], clients: usize) -> Option<(Params, String)> {
    for value in values {
        for (name, params) in elements(value) {
            if !name.eq_ignore_ascii_case(NAME) {
                continue;
            }
            let Ok(e) = parse_element(&params, true) else {
                continue; // declined (§7.1): try the next offer
            };
            let p = Params {
                // Our choice, for memory: see the module documentation.
                server_no_context_takeover: true,
                client_no_context_takeover: e.client_no_context_takeover || clients >= BUSY_CLIENTS,
                server_max_window_bits: e.server_max_window_bits.flatten().unwrap_or(15),
                client_max_window_bits: e.client_max_window_bits.flatten().unwrap_or(15),
            };
            let client_bits = matches!(e.client_max_window_bits, Some(Some(_)));
            return Some((p, p.response(client_bits)));
        }
    }
    None
}

/// Client side: the server's `Sec-WebSocket-Extensions` (None if absent),
/// after we sent [`CLIENT_OFFER`] (or nothing, if `offered` is false).
pub fn accept_response(value: Option<&str>, offered: bool) -> Result<Option<Params>, String> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let els = elements(value);
    let [(name, params)] = els.as_slice() else {
        return Err(format!(
            "the server chose extensions netkit did not offer: {value:?}"
        ));
    };
    if !offered || !name.eq_ignore_ascii_case(NAME) {
        return Err(format!(
            "the server chose an extension netkit did not offer: {name:?}"
        ));
    }
    let e = parse_element(params, false)
        .map_err(|why| format!("invalid permessage-deflate response: {why}"))?;
    Ok(Some(Params {
        server_no_context_takeover: e.server_no_context_takeover,
        client_no_context_takeover: e.client_no_context_takeover,
        server_max_window_bits: e.server_max_window_bits.flatten().unwrap_or(15),
        // We offered client_max_window_bits, so any value is allowed.
        client_max_window_bits: e.client_max_window_bits.flatten().unwrap_or(15),
    }))
}

/// Our sending half: compresses whole messages.
#[derive(Debug)]
pub struct Deflater {
    /// Window bits, 9..=15, or `None` when the peer allows only 8: then
    /// nothing is compressed.
    bits: Option<u8>,
    no_context_takeover: bool,
    /// Made on the first message; dropped after each one without context
    /// takeover (a zlib compressor with a 15-bit window is about 300 KiB).
    z: Option<Box<Compress>>,
    /// The level `z` is set to (a spare one comes at `LEVEL_SMALL`).
    level: u32,
}

impl Deflater {
    pub fn new(bits: u8, no_context_takeover: bool) -> Deflater {
        Deflater {
            bits: (bits >= 9).then_some(bits.min(15)),
            no_context_takeover,
            z: None,
            level: LEVEL_SMALL,
        }
    }

    /// Whether `compress` will compress (else send the message plain).
    pub fn active(&self) -> bool {
        self.bits.is_some()
    }

    /// Whether a compression context is allocated now.
    pub fn holds_context(&self) -> bool {
        self.z.is_some()
    }

    /// Appends the compressed form of `data` to `out`, trailer stripped.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let bits = self.bits.unwrap_or(15);
        if self.z.is_none() {
            self.level = LEVEL_SMALL;
        }
        let z = self.z.get_or_insert_with(|| take_compressor(bits));
        let level = if data.len() >= LARGE {
            LEVEL_LARGE
        } else {
            LEVEL_SMALL
        };
        // Between messages nothing is pending (each ends with a sync
        // flush), so the change cannot fail; if it did, the level stays.
        if level != self.level && z.set_level(Compression::new(level)).is_ok() {
            self.level = level;
        }
        let start = out.len();
        let base_in = z.total_in();
        loop {
            let done_in = (z.total_in() - base_in) as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve((data.len() - done_in) / 2 + 128);
            }
            let status = z.compress_vec(&data[done_in..], out, FlushCompress::Sync);
            let done_in = (z.total_in() - base_in) as usize;
            // A sync flush is complete once all input is taken and the
            // output was not filled (zlib's own rule, avail_out != 0).
            let finished = done_in == data.len() && out.len() < out.capacity();
            if finished || status.is_err() {
                break;
            }
        }
        if out[start..].ends_with(&TRAILER) {
            out.truncate(out.len() - 4);
        }
        if out.len() == start {
            // Empty output cannot happen after a sync flush; keep a valid
            // empty block anyway (§7.2.3.6).
            out.push(0x00);
        }
        if self.no_context_takeover {
            if let Some(z) = self.z.take() {
                give_compressor(bits, z, self.level);
            }
        }
    }
}

/// Our receiving half: inflates one message at a time, fed in pieces.
#[derive(Debug)]
pub struct Inflater {
    bits: u8,
    no_context_takeover: bool,
    z: Option<Box<Decompress>>,
    /// The message's data had a final block (BFINAL, §7.2.3.4): the rest
    /// of it is ignored and the next message starts a new stream.
    ended: bool,
}

/// Inflation failed: the data is not deflate, or is too big.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    Corrupt(String),
    TooBig,
}

impl Inflater {
    pub fn new(bits: u8, no_context_takeover: bool) -> Inflater {
        Inflater {
            bits: bits.clamp(9, 15),
            no_context_takeover,
            z: None,
            ended: false,
        }
    }

    pub fn holds_context(&self) -> bool {
        self.z.is_some()
    }

    /// Inflates `input` (part of a message), appending to `out`, which may
    /// not grow past `limit`. `last`: the message ends here (the trailer
    /// is appended and, without context takeover, the context released).
    pub fn inflate(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let bits = self.bits;
        let z = self.z.get_or_insert_with(|| take_inflater(bits));
        // After a final block, the rest of the message (§7.2.3.4 shows a
        // 0x00 there, the start of the block the trailer would end) is
        // ignored, as zlib's own users do.
        if !self.ended {
            self.ended = Self::run(z, input, out, limit)?;
        }
        if last {
            if !self.ended {
                Self::run(z, &TRAILER, out, limit)?;
            }
            if self.no_context_takeover || self.ended {
                if let Some(z) = self.z.take() {
                    give_inflater(bits, z);
                }
            }
            self.ended = false;
        }
        Ok(())
    }

    /// Inflates the last piece of a message with the trailer already
    /// appended by the caller (one pass instead of two).
    pub fn inflate_last_with_trailer(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let bits = self.bits;
        let z = self.z.get_or_insert_with(|| take_inflater(bits));
        if !self.ended {
            self.ended = Self::run(z, input, out, limit)?;
        }
        if self.no_context_takeover || self.ended {
            if let Some(z) = self.z.take() {
                give_inflater(bits, z);
            }
        }
        self.ended = false;
        Ok(())
    }

    fn run(
        z: &mut Decompress,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<bool, InflateError> {
        let corrupt = |e: flate2::DecompressError| InflateError::Corrupt(e.to_string());
        let base_in = z.total_in();
        loop {
            let done = (z.total_in() - base_in) as usize;
            if out.len() == out.capacity() {
                if out.len() >= limit {
                    // At the limit: one more byte of output is too many.
                    let mut probe = [0u8; 1];
                    let before = z.total_out();
                    let status = z
                        .decompress(&input[done..], &mut probe, FlushDecompress::Sync)
                        .map_err(corrupt)?;
                    if z.total_out() > before {
                        return Err(InflateError::TooBig);
                    }
                    let used = (z.total_in() - base_in) as usize;
                    if status == Status::StreamEnd {
                        return Ok(true);
                    }
                    if used == input.len() || used == done {
                        return Ok(false);
                    }
                    continue;
                }
                // Doubling, as a Vec would, but never past the limit.
                let room = out.capacity().max(4096).min(limit - out.len());
                out.reserve_exact(room);
            }
            let before_out = out.len();
            let status = z
                .decompress_vec(&input[done..], out, FlushDecompress::Sync)
                .map_err(corrupt)?;
            let used = (z.total_in() - base_in) as usize;
            if status == Status::StreamEnd {
                return Ok(true);
            }
            // Done once all input is taken and the output was not filled
            // (zlib's rule: more output can be pending only then).
            if used == input.len() && out.len() < out.capacity() {
                return Ok(false);
            }
            if used == done && out.len() == before_out && out.len() < out.capacity() {
                return Ok(false); // no progress possible (BufError)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7692_examples_inflate() {
        // §7.2.3.1: "Hello" compressed.
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        // §7.2.3.2: the same message twice with context takeover.
        let second = [0xf2, 0x00, 0x11, 0x00, 0x00];
        // §7.2.3.3: no compression (a stored block).
        let stored = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        // §7.2.3.4: BFINAL set.
        let bfinal = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        for step in [usize::MAX, 1] {
            let mut inf = Inflater::new(15, false);
            // After a final block the stream is over: a new one follows.
            for msg in [
                &hello[..],
                &second[..],
                &stored[..],
                &bfinal[..],
                &hello[..],
            ] {
                let mut out = Vec::new();
                let chunks: Vec<&[u8]> = msg.chunks(step.min(msg.len())).collect();
                for (i, c) in chunks.iter().enumerate() {
                    inf.inflate(c, i + 1 == chunks.len(), &mut out, 1000)
                        .unwrap();
                }
                assert_eq!(out, b"Hello", "{msg:02x?} by {step}");
            }
        }
    }

    #[test]
    fn rfc_7692_hello_compresses_to_the_example() {
        let mut d = Deflater::new(15, false);
        let mut out = Vec::new();
        d.compress(b"Hello", &mut out);
        assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // With context takeover the second is shorter (a back-reference).
        let mut again = Vec::new();
        d.compress(b"Hello", &mut again);
        assert!(again.len() < out.len(), "{again:02x?}");
        let mut inf = Inflater::new(15, false);
        for m in [&out, &again] {
            let mut o = Vec::new();
            inf.inflate(m, true, &mut o, 100).unwrap();
            assert_eq!(o, b"Hello");
        }
        // Without takeover, every message is the first.
        let mut d = Deflater::new(15, true);
        for _ in 0..2 {
            let mut o = Vec::new();
            d.compress(b"Hello", &mut o);
            assert_eq!(o, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
            assert!(!d.holds_context());
        }
        // An empty message.
        let mut o = Vec::new();
        d.compress(b"", &mut o);
        assert_eq!(o, [0x00]);
        let mut back = Vec::new();
        Inflater::new(15, true)
            .inflate(&o, true, &mut back, 10)
            .unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn round_trips_every_window() {
        let text: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("{{\"n\":{},\"s\":\"{}\"}},", i % 977, i % 13).into_bytes())
            .collect();
        for bits in 8..=15 {
            for nct in [false, true] {
                let mut d = Deflater::new(bits, nct);
                let mut inf = Inflater::new(bits, nct);
                for msg in [&text[..1000], &text[..], &text[5..70_000], b""] {
                    let mut c = Vec::new();
                    if d.active() {
                        d.compress(msg, &mut c);
                    } else {
                        assert_eq!(bits, 8);
                        continue;
                    }
                    let mut o = Vec::new();
                    for (i, piece) in c.chunks(997).enumerate() {
                        let last = (i + 1) * 997 >= c.len();
                        inf.inflate(piece, last, &mut o, usize::MAX).unwrap();
                    }
                    if c.is_empty() {
                        inf.inflate(&[], true, &mut o, usize::MAX).unwrap();
                    }
                    assert_eq!(o, msg, "bits {bits} nct {nct}");
                    assert_eq!(inf.holds_context(), !nct);
                }
            }
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 50 << 20];
        let mut c = Vec::new();
        Deflater::new(15, true).compress(&zeros, &mut c);
        assert!(c.len() < 1_000_000, "{}", c.len());
        let mut out = Vec::new();
        let r = Inflater::new(15, false).inflate(&c, true, &mut out, 1 << 20);
        assert_eq!(r, Err(InflateError::TooBig));
        assert!(out.capacity() <= 1 << 20, "{}", out.capacity());
    }

    #[test]
    fn garbage_is_corrupt() {
        let mut out = Vec::new();
        let r = Inflater::new(15, false).inflate(&[0xff; 10], true, &mut out, 1000);
        assert!(matches!(r, Err(InflateError::Corrupt(_))), "{r:?}");
    }

    #[test]
    fn server_negotiation() {
        let ok = |v: &str| accept_offer(&[v], 0).map(|(_, r)| r);
        assert_eq!(
            ok("permessage-deflate").as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        assert_eq!(
            ok("permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
        assert_eq!(
            ok("permessage-deflate; client_max_window_bits=10; server_max_window_bits=\"9\"")
                .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10")
        );
        assert_eq!(
            ok("permessage-deflate; client_no_context_takeover; server_no_context_takeover")
                .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        // Malformed offers are declined; the next acceptable one is taken.
        for bad in [
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=+9",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
            "permessage-deflate; foo",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
            assert_eq!(
                ok(&format!(
                    "{bad}, permessage-deflate; client_max_window_bits=12"
                ))
                .as_deref(),
                Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=12"),
                "{bad}"
            );
        }
        // Our own client's offer.
        let (p, _) = accept_offer(&[CLIENT_OFFER], 0).unwrap();
        assert_eq!(
            p,
            Params {
                server_no_context_takeover: true,
                ..Params::default()
            }
        );
        // Over two header fields.
        assert!(accept_offer(&["foo", "permessage-deflate"], 0).is_some());
        // A busy server asks clients not to keep their context.
        assert_eq!(
            accept_offer(&["permessage-deflate"], BUSY_CLIENTS)
                .map(|(_, r)| r)
                .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        assert!(
            !accept_offer(&["permessage-deflate"], BUSY_CLIENTS - 1)
                .unwrap()
                .0
                .client_no_context_takeover
        );
    }

    #[test]
    fn client_checks_the_response() {
        assert_eq!(accept_response(None, true), Ok(None));
        assert_eq!(
            accept_response(Some("permessage-deflate"), true),
            Ok(Some(Params::default()))
        );
        assert_eq!(
            accept_response(
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9"),
                true
            ),
            Ok(Some(Params {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 10,
                client_max_window_bits: 9,
            }))
        );
        for bad in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; foo=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate, permessage-deflate",
            "x-webkit-deflate-frame",
        ] {
            assert!(accept_response(Some(bad), true).is_err(), "{bad}");
        }
        assert!(accept_response(Some("permessage-deflate"), false).is_err());
    }
}
