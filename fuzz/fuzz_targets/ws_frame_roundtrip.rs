//! Frames made by the encoder decode to exactly the messages they carry.
//!
//! Input: `[flags] [n] [sizes] [script]`. Flags bit 0: who sends (0: a
//! server, unmasked; 1: a client, masked); bit 1: allow a frame over 64 KiB
//! (else payloads add up to 8 KB at most). The script builds a valid
//! conversation: text and binary messages (text from the fuzz bytes, made
//! valid UTF-8), each cut into fragments at arbitrary byte positions (inside
//! characters too), with pings between fragments, lengths in all
//! three header forms, and at most one Close (a valid code and a reason up
//! to 123 bytes) at the end. Encoded with `frame::encode` and fed split
//! where the fuzzer chose (and whole), the decoder must give back the same
//! messages, no error, and consume every byte. Each frame's size is checked
//! against its header form.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netkit_fuzz::proto::ws::frame::{self, close_body, Decoder, Incoming, Role};
use netkit_fuzz::{feeds, Bytes, Masks, Split};

const CODES: [u16; 12] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1014, 3000, 4999,
];

/// Payload bytes of length `n`, cycled from `seed` (so long forms are cheap).
fn payload(seed: &[u8], n: usize) -> Vec<u8> {
    if seed.is_empty() {
        return vec![b'x'; n];
    }
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let k = seed.len().min(n - out.len());
        out.extend_from_slice(&seed[..k]);
    }
    out
}

struct Script {
    wire: Vec<u8>,
    expect: Vec<Incoming>,
    masks: Option<Masks>,
}

impl Script {
    fn frame(&mut self, opcode: u8, fin: bool, payload: &[u8]) {
        let mask = self.masks.as_mut().map(Masks::next_mask);
        let before = self.wire.len();
        frame::encode(opcode, fin, payload, mask, &mut self.wire);
        let ext = match payload.len() {
            0..=125 => 0,
            126..=65535 => 2,
            _ => 8,
        };
        let size = 2 + ext + if mask.is_some() { 4 } else { 0 } + payload.len();
        assert_eq!(
            self.wire.len() - before,
            size,
            "frame size for {} bytes",
            payload.len()
        );
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let client_sends = flags & 1 == 1;
    let split = Split::parse(rest);
    let mut b = Bytes(split.data);
    let mut s = Script {
        wire: Vec::new(),
        expect: Vec::new(),
        masks: client_sends.then_some(Masks(u32::from(flags))),
    };
    let mut messages = 0;
    // Payload bytes left for this input (lengths are cut to fit): with flags
    // bit 1, room for one frame of the 64-bit length form; else 8 KB.
    // Every byte costs (coverage tracing), and long runs are the slow ones.
    let mut budget: usize = if flags & 2 != 0 { 70_000 } else { 8_000 };
    while !b.is_empty() && messages < 16 {
        messages += 1;
        // Kind: (op & 7) % 5 (text, binary, ping, pong, close).
        let op = b.u8();
        // Length: a byte, or (bit 3 or 4) 126 to 2173 (the 16-bit form),
        // or (bits 3 and 4) past 64 KiB (the 64-bit form).
        let len = if op & 0x18 == 0x18 {
            65536 + usize::from(b.u8())
        } else if op & 0x18 != 0 {
            126 + usize::from(b.u16() % 2048)
        } else {
            usize::from(b.u8())
        };
        let len = len.min(budget);
        budget -= len;
        let seed = b.take(len.min(64));
        match (op & 7) % 5 {
            0 | 1 => {
                let (opcode, body, item) = if (op & 7) % 5 == 0 {
                    let text = String::from_utf8_lossy(&payload(seed, len)).into_owned();
                    let bytes = text.as_bytes().to_vec();
                    (frame::OP_TEXT, bytes, Incoming::Text(text))
                } else {
                    let bytes = payload(seed, len);
                    (frame::OP_BINARY, bytes.clone(), Incoming::Binary(bytes))
                };
                // Fragments: cut points from the script, anywhere in the bytes.
                let cuts = usize::from(b.u8() % 4);
                let mut points: Vec<usize> = (0..cuts)
                    .map(|_| usize::from(b.u16()) % (body.len() + 1))
                    .collect();
                points.sort_unstable();
                let mut start = 0;
                for (i, &p) in points
                    .iter()
                    .chain(std::iter::once(&body.len()))
                    .enumerate()
                {
                    let last = i == points.len();
                    let opcode = if i == 0 {
                        opcode
                    } else {
                        frame::OP_CONTINUATION
                    };
                    s.frame(opcode, last, &body[start..p.max(start)]);
                    start = p.max(start);
                    // A control frame between fragments, now and then.
                    if !last && op & 0x20 != 0 {
                        let ping = payload(seed, len.min(125));
                        s.frame(frame::OP_PING, true, &ping);
                        s.expect.push(Incoming::Ping(ping));
                    }
                }
                s.expect.push(item);
            }
            2 => {
                let p = payload(seed, len.min(125));
                s.frame(frame::OP_PING, true, &p);
                s.expect.push(Incoming::Ping(p));
            }
            3 => {
                let p = payload(seed, len.min(125));
                s.frame(frame::OP_PONG, true, &p);
                s.expect.push(Incoming::Pong(p));
            }
            _ => {
                if op & 0x40 != 0 {
                    s.frame(frame::OP_CLOSE, true, &[]);
                    s.expect.push(Incoming::Close(None, String::new()));
                } else {
                    let code = CODES[usize::from(b.u8()) % CODES.len()];
                    let reason = String::from_utf8_lossy(&payload(seed, len)).into_owned();
                    let body = close_body(code, &reason);
                    assert!(body.len() <= 125);
                    let cut =
                        std::str::from_utf8(&body[2..]).expect("close_body cuts on a boundary");
                    assert!(reason.starts_with(cut));
                    s.frame(frame::OP_CLOSE, true, &body);
                    s.expect.push(Incoming::Close(Some(code), cut.to_string()));
                }
                break;
            }
        }
    }

    let role = if client_sends {
        Role::Server
    } else {
        Role::Client
    };
    let wire = Split {
        sizes: split.sizes.clone(),
        data: &s.wire,
    };
    // Not byte by byte: `ws_frame` does that, and here it would dominate.
    for (how, chunks) in feeds(&wire, 0) {
        let mut d = Decoder::new(role, 1 << 20);
        let mut got = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut consumed = 0;
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                let (used, item) = d
                    .decode(&buf)
                    .unwrap_or_else(|e| panic!("fed {how}: valid frames refused: {e}"));
                buf.drain(..used);
                consumed += used;
                let progressed = used > 0 || item.is_some();
                got.extend(item);
                if !progressed {
                    break;
                }
            }
        }
        assert_eq!(consumed, s.wire.len(), "fed {how}: bytes left undecoded");
        assert_eq!(got, s.expect, "fed {how}: decoded differently");
    }
});
