//! The WebSocket frame decoder on arbitrary bytes, in both roles.
//!
//! Input: `[flags] [n] [sizes] [bytes from the peer]`. Flags bit 0: our role
//! (0: client, reading a server's unmasked frames; 1: server, reading a
//! client's masked frames); bits 1-2: the message size limit (1 MiB, 16,
//! 125 or 1000 bytes).
//!
//! Fed whole, byte by byte and split where the fuzzer chose, the decoder
//! must report the same items and the same error. Every error must appear
//! as soon as the bytes that cause it are there: the bytes up to the one
//! where the byte-by-byte run failed, fed whole, give the same error, and
//! one byte fewer gives none. Items respect the limits (control payloads
//! up to 125 bytes, messages up to the size limit, close codes a peer may
//! send), and what was decoded, encoded again by the encoder (masked by a
//! client), decodes to the same items.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netkit_fuzz::proto::ws::frame::{
    self, close_body, valid_close_code, Decoder, Incoming, Role, WsError,
};
use netkit_fuzz::{feeds, Masks, Split};

const LIMITS: [usize; 4] = [1 << 20, 16, 125, 1000];

#[derive(Debug, PartialEq)]
struct Run {
    items: Vec<Incoming>,
    /// The error, and how many bytes had been fed when it came.
    error: Option<(WsError, usize)>,
    /// Bytes consumed.
    used: usize,
}

fn run(role: Role, max: usize, chunks: &[&[u8]]) -> Run {
    let mut d = Decoder::new(role, max);
    let mut items = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut consumed = 0;
    let mut next = chunks.iter();
    loop {
        match d.decode(&buf) {
            Err(e) => {
                return Run {
                    items,
                    error: Some((e, fed)),
                    used: consumed,
                }
            }
            Ok((used, item)) => {
                assert!(used <= buf.len(), "consumed {used} of {}", buf.len());
                assert!(d.buffered() <= max, "buffered {} over {max}", d.buffered());
                buf.drain(..used);
                consumed += used;
                let progressed = used > 0 || item.is_some();
                items.extend(item);
                if progressed {
                    continue;
                }
            }
        }
        match next.next() {
            Some(c) => {
                buf.extend_from_slice(c);
                fed += c.len();
            }
            None => {
                return Run {
                    items,
                    error: None,
                    used: consumed,
                }
            }
        }
    }
}

fn check_items(items: &[Incoming], max: usize) {
    for item in items {
        match item {
            Incoming::Text(t) => assert!(t.len() <= max),
            Incoming::Binary(b) => assert!(b.len() <= max),
            Incoming::Ping(p) | Incoming::Pong(p) => assert!(p.len() <= 125),
            Incoming::Close(code, reason) => {
                assert!(reason.len() <= 123);
                match code {
                    Some(c) => assert!(valid_close_code(*c), "close code {c}"),
                    None => assert!(reason.is_empty()),
                }
            }
        }
    }
}

/// Encodes `items` as single frames, masked when a client sends them.
fn encode(items: &[Incoming], role: Role) -> Vec<u8> {
    let mut masks = Masks(7);
    let mut out = Vec::new();
    for item in items {
        let (opcode, payload) = match item {
            Incoming::Text(t) => (frame::OP_TEXT, t.as_bytes().to_vec()),
            Incoming::Binary(b) => (frame::OP_BINARY, b.clone()),
            Incoming::Ping(p) => (frame::OP_PING, p.clone()),
            Incoming::Pong(p) => (frame::OP_PONG, p.clone()),
            Incoming::Close(Some(c), reason) => (frame::OP_CLOSE, close_body(*c, reason)),
            Incoming::Close(None, _) => (frame::OP_CLOSE, Vec::new()),
        };
        // We decoded as `role`, so the peer who sent these masks if we are the server.
        let mask = (role == Role::Server).then(|| masks.next_mask());
        frame::encode(opcode, true, &payload, mask, &mut out);
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let role = if flags & 1 == 0 {
        Role::Client
    } else {
        Role::Server
    };
    let max = LIMITS[usize::from(flags >> 1) & 3];
    let split = Split::parse(rest);
    let data = split.data;

    let mut reference: Option<Run> = None;
    for (how, chunks) in feeds(&split, 4096) {
        let r = run(role, max, &chunks);
        match &reference {
            Some(w) => {
                // Where the error surfaced depends on the reads; what it is may not.
                assert_eq!(r.items, w.items, "fed {how}: items differ from whole");
                assert_eq!(
                    r.error.as_ref().map(|e| &e.0),
                    w.error.as_ref().map(|e| &e.0),
                    "fed {how}: error differs from whole"
                );
                if r.error.is_none() {
                    assert_eq!(r.used, w.used, "fed {how}: consumed differs");
                }
                if how == "bytewise" {
                    if let Some((e, at)) = &r.error {
                        // Fails as soon as the bytes that break a rule arrive.
                        let upto = run(role, max, &[&data[..*at]]);
                        assert_eq!(upto.error.as_ref().map(|e| &e.0), Some(e));
                        assert_eq!(upto.items, r.items);
                        let before = run(role, max, &[&data[..at - 1]]);
                        assert_eq!(before.error, None, "an error before byte {at}");
                    }
                }
            }
            None => {
                check_items(&r.items, max);
                if r.error.is_none() {
                    assert!(r.used <= data.len());
                }
                reference = Some(r);
            }
        }
    }

    // Round trip: what was decoded, encoded again, decodes the same.
    let Some(w) = reference else { return };
    let again = encode(&w.items, role);
    let r = run(role, max, &split_like(&again, &split.sizes));
    assert_eq!(r.error, None, "re-encoded items fail to decode");
    assert_eq!(r.items, w.items, "re-encoded items decode differently");
    assert_eq!(r.used, again.len());
});

fn split_like<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    netkit_fuzz::pieces(data, sizes)
}
