//! The client's side of the opening handshake: reading the server's answer
//! to the Upgrade request (key `dGhlIHNhbXBsZSBub25jZQ==`, subprotocols
//! `chat` and `superchat` offered).
//!
//! Input: `[n] [sizes] [bytes from the server]`. The response decoder reads
//! the head as `ws connect` does (interim 1xx heads skipped), then
//! `verify_response` judges a 101. Fed whole, byte by byte and split where
//! the fuzzer chose, the outcome must be the same: the same heads and the
//! same verdict after the same number of bytes (what follows the head is
//! the first WebSocket frames and must be left untouched), or the same
//! error, or still incomplete. An accepted 101 carries the right
//! `Sec-WebSocket-Accept`, `Upgrade: websocket`, `Connection: Upgrade`, and
//! a subprotocol that was offered or none.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netkit_fuzz::proto::http::{Head, HttpError, Item, ResponseDecoder};
use netkit_fuzz::proto::ws::handshake::{accept_key, verify_response};
use netkit_fuzz::{feeds, Split};

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

#[derive(Debug, PartialEq)]
enum Outcome {
    Incomplete,
    Error(HttpError),
    /// The final head, what was consumed up to its end, and for a 101 the
    /// verdict.
    Head {
        interim: Vec<Head>,
        head: Head,
        used: usize,
        verdict: Option<Result<Option<String>, String>>,
    },
}

fn run(chunks: &[&[u8]], offered: &[String]) -> Outcome {
    let mut dec = ResponseDecoder::new(false);
    let mut buf: Vec<u8> = Vec::new();
    let mut consumed = 0;
    let mut interim = Vec::new();
    let mut next = chunks.iter();
    loop {
        match dec.decode(&buf) {
            Err(e) => return Outcome::Error(e),
            Ok((used, item)) => {
                assert!(used <= buf.len());
                consumed += used;
                let item = match item {
                    Some(Item::Interim(h)) => Some(Item::Interim(h)),
                    Some(Item::Head(h)) => Some(Item::Head(h)),
                    Some(other) => panic!("{other:?} before the head"),
                    None => None,
                };
                buf.drain(..used);
                match item {
                    Some(Item::Interim(h)) => {
                        assert_eq!(h.size, used);
                        interim.push(h);
                        continue;
                    }
                    Some(Item::Head(head)) => {
                        assert_eq!(head.size, used);
                        // We offered permessage-deflate too, so the
                        // extension answer is parsed as well.
                        let verdict = (head.status == 101).then(|| {
                            verify_response(&head, KEY, offered, true).map(|a| a.protocol)
                        });
                        return Outcome::Head {
                            interim,
                            head,
                            used: consumed,
                            verdict,
                        };
                    }
                    Some(_) => unreachable!(),
                    None if used > 0 => continue,
                    None => {}
                }
            }
        }
        match next.next() {
            Some(c) => buf.extend_from_slice(c),
            None => return Outcome::Incomplete,
        }
    }
}

fn has_token(v: Option<&str>, token: &str) -> bool {
    v.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

fuzz_target!(|input: &[u8]| {
    let split = Split::parse(input);
    let offered = vec!["chat".to_string(), "superchat".to_string()];
    let mut reference: Option<Outcome> = None;
    for (how, chunks) in feeds(&split, 256) {
        let o = run(&chunks, &offered);
        match &reference {
            Some(w) => assert_eq!(&o, w, "fed {how}: outcome differs from whole"),
            None => reference = Some(o),
        }
    }
    if let Some(Outcome::Head {
        head,
        used,
        verdict: Some(Ok(protocol)),
        ..
    }) = reference
    {
        assert!(used <= split.data.len());
        assert_eq!(head.status, 101);
        assert_eq!(
            head.header("sec-websocket-accept").map(str::trim),
            Some(accept_key(KEY).as_str())
        );
        assert!(has_token(head.header("upgrade"), "websocket"));
        assert!(head.connection_has("upgrade"));
        if let Some(p) = protocol {
            assert!(offered.contains(&p), "{p:?} was not offered");
        }
    }
});
