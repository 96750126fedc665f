//! The RESP2 reply decoder (`src/proto/resp.rs`), on the bytes a Redis
//! server sends.
//!
//! Input: `[n] [sizes] [bytes]` (see `netkit_fuzz`). Fed whole, byte by byte
//! and split where the fuzzer chose, the decoder must return the same
//! replies and the same error; it never panics, never keeps more than it
//! was fed, and the replies it returns, re-encoded, decode to themselves.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netkit_fuzz::proto::resp::{Decoder, Limits, RespError, Value};
use netkit_fuzz::{feeds, Split};

const LIMITS: Limits = Limits {
    max_bulk: 1024,
    max_len: 64,
    max_depth: 4,
    max_reply: 2048,
};

fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Simple(s) => out.extend_from_slice(format!("+{s}\r\n").as_bytes()),
        Value::Error(s) => out.extend_from_slice(format!("-{s}\r\n").as_bytes()),
        Value::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        Value::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
        Value::Bulk(Some(b)) => {
            out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Value::Array(None) => out.extend_from_slice(b"*-1\r\n"),
        Value::Array(Some(items)) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for i in items {
                encode(i, out);
            }
        }
    }
}

fn run(chunks: &[&[u8]]) -> (Vec<Value>, Option<RespError>) {
    let mut d = Decoder::new(LIMITS);
    let mut out = Vec::new();
    let mut fed = 0;
    for c in chunks {
        d.feed(c);
        fed += c.len();
        loop {
            match d.decode() {
                Ok(Some(v)) => out.push(v),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
        assert!(d.buffered() <= fed);
    }
    (out, None)
}

fuzz_target!(|input: &[u8]| {
    let split = Split::parse(input);
    let mut reference = None;
    for (how, chunks) in feeds(&split, 4096) {
        let got = run(&chunks);
        match &reference {
            None => reference = Some(got),
            Some(r) => assert_eq!(&got, r, "fed {how}, the decoder disagrees with whole"),
        }
    }
    if let Some((values, _)) = reference {
        // Re-encoded, the replies decode to themselves.
        let mut bytes = Vec::new();
        for v in &values {
            encode(v, &mut bytes);
        }
        let (again, err) = run(&[&bytes]);
        assert_eq!(err, None, "a decoded reply re-encodes to bad RESP");
        assert_eq!(again, values, "replies do not survive a round trip");
    }
});
