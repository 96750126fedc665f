//! The server's side of the opening handshake: parsing a client's Upgrade
//! request.
//!
//! Input: `[n] [sizes] [bytes from the client]`. The bytes arrive as the
//! server reads them, and after each read `parse_request` sees everything so
//! far (as `ws listen` calls it). Fed whole, byte by byte and split where the
//! fuzzer chose, the verdict must be the same: the same `Upgrade` after the
//! same number of bytes, or the same refusal, or still incomplete.
//! An accepted request depends only on its head (the head alone parses the
//! same; one byte fewer is incomplete), fits the 16 KiB limit, its key is 16 bytes of base64, its
//! subprotocols are trimmed non-empty tokens. And the two sides agree: the
//! 101 the server answers (choosing one of the offered subprotocols), read
//! by the client's response decoder, passes the client's `verify_response`
//! with that subprotocol; a refusal's response reads back as its status and
//! reason, and the client refuses it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netkit_fuzz::proto::http::{Head, Item, ResponseDecoder};
use netkit_fuzz::proto::ws::handshake::{
    choose_protocol, parse_request, response_101, response_error, verify_response, Refusal,
    Upgrade, MAX_REQUEST_HEAD,
};
use netkit_fuzz::{feeds, Split};

type Verdict = Option<Result<(usize, Upgrade), Refusal>>;

fn run(chunks: &[&[u8]]) -> Verdict {
    let mut buf = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        match parse_request(&buf) {
            Ok(None) => {}
            Ok(Some((used, up))) => {
                assert!(used <= buf.len());
                return Some(Ok((used, up)));
            }
            Err(r) => return Some(Err(r)),
        }
    }
    None
}

/// Decodes a whole response: its head and body.
fn read_response(bytes: &[u8]) -> (Head, Vec<u8>) {
    let mut dec = ResponseDecoder::new(false);
    let mut at = 0;
    let mut head = None;
    let mut body = Vec::new();
    loop {
        let (used, item) = dec.decode(&bytes[at..]).expect("our own response decodes");
        at += used;
        match item {
            Some(Item::Head(h)) => head = Some(h),
            Some(Item::Body(b)) => body.extend_from_slice(b),
            Some(Item::End) => break,
            Some(other) => panic!("unexpected {other:?}"),
            None => panic!("our own response is incomplete"),
        }
    }
    assert_eq!(at, bytes.len(), "bytes after our own response");
    (head.expect("a head"), body)
}

fuzz_target!(|input: &[u8]| {
    let split = Split::parse(input);
    let data = split.data;
    let mut reference: Option<Verdict> = None;
    for (how, chunks) in feeds(&split, 256) {
        let v = run(&chunks);
        match &reference {
            Some(w) => assert_eq!(&v, w, "fed {how}: verdict differs from whole"),
            None => reference = Some(v),
        }
    }
    match reference.flatten() {
        None => {}
        Some(Ok((used, up))) => {
            assert!(used <= MAX_REQUEST_HEAD, "accepted a head of {used} bytes");
            assert_eq!(parse_request(&data[..used]), Ok(Some((used, up.clone()))));
            assert_eq!(parse_request(&data[..used - 1]), Ok(None));
            let key = up.key.as_bytes();
            assert_eq!(key.len(), 24, "key {:?}", up.key);
            for p in &up.protocols {
                assert!(
                    !p.is_empty() && !p.contains(',') && p.trim() == p,
                    "protocol {p:?}"
                );
            }
            // The server supports the last protocol offered: the first
            // offer equal to it is chosen.
            let supported: Vec<String> = up.protocols.last().cloned().into_iter().collect();
            let chosen = choose_protocol(&up.protocols, &supported);
            assert_eq!(chosen, supported.first().cloned());
            // permessage-deflate as the server answers the client's
            // offers, if it made any: the client must accept that answer.
            let offers: Vec<&str> = up
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions"))
                .map(|(_, v)| v.as_str())
                .collect();
            let deflate = netkit_fuzz::proto::ws::deflate::accept_offer(&offers, 0);
            let answer = deflate.as_ref().map(|(_, line)| line.as_str());
            let (head, body) = read_response(&response_101(&up.key, chosen.as_deref(), answer));
            assert_eq!(head.status, 101);
            assert!(body.is_empty());
            let agreed = verify_response(&head, &up.key, &up.protocols, true)
                .unwrap_or_else(|e| panic!("our own 101 refused: {e}"));
            assert_eq!(agreed.protocol, chosen);
            assert_eq!(agreed.deflate.is_some(), deflate.is_some());
        }
        Some(Err(refusal)) => {
            assert!(
                matches!(refusal.status, 400 | 405 | 426 | 431),
                "{refusal:?}"
            );
            let (head, body) = read_response(&response_error(&refusal));
            assert_eq!(head.status, refusal.status);
            assert_eq!(body, format!("{}\n", refusal.reason).into_bytes());
            let refused = verify_response(&head, "dGhlIHNhbXBsZSBub25jZQ==", &[], false);
            assert!(refused.is_err_and(|e| e.contains(&refusal.status.to_string())));
        }
    }
});
