//! The HTTP/1.1 response decoder, for a GET and for a HEAD request.
//!
//! Input: `[n] [sizes] [bytes from the server]` (see `netkit_fuzz`). The bytes
//! are decoded as a kept-alive connection would: response after response
//! (up to 8), then the connection closes. Fed whole, byte by byte and split
//! where the fuzzer chose, the decoder must report the same heads, body bytes,
//! trailers, ends and errors. Within a run: every consumed count fits the
//! input, a body slice is exactly the bytes consumed, a head's `size` is what
//! it consumed, nothing is lost or invented (consumed + left over = input),
//! a HEAD response has no body, and a Content-Length body has that length
//! (or the close reports `ShortBody` with the right counts).
#![no_main]

use libfuzzer_sys::fuzz_target;
use netkit_fuzz::proto::http::{Head, HttpError, Item, ResponseDecoder};
use netkit_fuzz::{feeds, Split};

#[derive(Debug, PartialEq)]
enum Ev {
    Interim(Head),
    Head(Head),
    Body(Vec<u8>),
    Trailers(Vec<(String, String)>),
    End,
    /// The decoder failed while decoding.
    Error(HttpError),
    /// What `finish` said when the connection closed.
    Finish(Result<(), HttpError>),
}

const MAX_RESPONSES: usize = 8;

fn run(chunks: &[&[u8]], head_request: bool) -> Vec<Ev> {
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    let mut dec = ResponseDecoder::new(head_request);
    let mut buf: Vec<u8> = Vec::new();
    let mut next = chunks.iter();
    let mut events = Vec::new();
    let mut consumed = 0usize;
    let mut fed = 0usize;
    let mut responses = 0;
    // Items reported without consuming anything, in a row: End (and End
    // after trailers) only, so never more than two.
    let mut idle_items = 0;
    loop {
        match dec.decode(&buf) {
            Err(e) => {
                events.push(Ev::Error(e));
                return events;
            }
            Ok((used, item)) => {
                assert!(used <= buf.len(), "consumed {used} of {} bytes", buf.len());
                if used > 0 {
                    idle_items = 0;
                } else if item.is_some() {
                    idle_items += 1;
                    assert!(idle_items <= 2, "items without progress: {item:?}");
                }
                let progressed = used > 0 || item.is_some();
                let mut ended = false;
                match item {
                    Some(Item::Interim(h)) => {
                        assert!((100..200).contains(&h.status) && h.status != 101);
                        assert_eq!(h.size, used, "interim head size");
                        events.push(Ev::Interim(h));
                    }
                    Some(Item::Head(h)) => {
                        assert_eq!(h.size, used, "head size");
                        let _ = (h.keep_alive(), h.status_line());
                        events.push(Ev::Head(h));
                    }
                    Some(Item::Body(b)) => {
                        assert!(!b.is_empty(), "empty body item");
                        assert_eq!(b, &buf[..used], "body item is not what was consumed");
                        match events.last_mut() {
                            Some(Ev::Body(all)) => all.extend_from_slice(b),
                            _ => events.push(Ev::Body(b.to_vec())),
                        }
                    }
                    Some(Item::Trailers(t)) => events.push(Ev::Trailers(t)),
                    Some(Item::End) => {
                        assert!(dec.is_done(), "End but not done");
                        events.push(Ev::End);
                        ended = true;
                    }
                    None => {}
                }
                buf.drain(..used);
                consumed += used;
                assert_eq!(consumed + buf.len(), fed, "bytes lost or invented");
                if ended {
                    responses += 1;
                    let more = !buf.is_empty() || next.as_slice().iter().any(|c| !c.is_empty());
                    if !more || responses == MAX_RESPONSES {
                        return events;
                    }
                    dec.reset(head_request);
                    continue;
                }
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
                assert_eq!(fed, total);
                events.push(Ev::Finish(dec.finish(&buf)));
                return events;
            }
        }
    }
}

/// The body length a head announces, computed apart from the decoder:
/// `Some(n)` when the body is framed by a valid Content-Length.
fn announced_length(head: &Head, head_request: bool) -> Option<u64> {
    if head_request || matches!(head.status, 101 | 204 | 304) {
        return Some(0);
    }
    if head.all("transfer-encoding").next().is_some() {
        return None;
    }
    let mut n = None;
    for part in head.all("content-length").flat_map(|v| v.split(',')) {
        let part = part.trim();
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v = part.parse::<u64>().ok()?;
        if n.is_some_and(|n| n != v) {
            return None;
        }
        n = Some(v);
    }
    n
}

/// Checks each response of a run on its own.
fn check(events: &[Ev], head_request: bool) {
    let mut head: Option<&Head> = None;
    let mut body = 0u64;
    for ev in events {
        match ev {
            Ev::Interim(_) => assert!(head.is_none(), "interim after the final head"),
            Ev::Head(h) => {
                assert!(head.is_none(), "two heads in one response");
                head = Some(h);
                body = 0;
            }
            Ev::Body(b) => {
                let h = head.expect("body before a head");
                assert!(!head_request, "a body in a response to HEAD");
                assert!(
                    !matches!(h.status, 101 | 204 | 304),
                    "a body in a {}",
                    h.status
                );
                body += b.len() as u64;
                if let Some(n) = announced_length(h, head_request) {
                    assert!(body <= n, "body of {body} past Content-Length {n}");
                }
            }
            Ev::Trailers(_) => {
                let h = head.expect("trailers before a head");
                assert!(
                    h.all("transfer-encoding").next().is_some(),
                    "trailers, not chunked"
                );
            }
            Ev::End => {
                let h = head.take().expect("end before a head");
                if let Some(n) = announced_length(h, head_request) {
                    assert_eq!(body, n, "body length against Content-Length");
                }
            }
            Ev::Finish(Err(HttpError::ShortBody { got, want })) => {
                let h = head.expect("short body without a head");
                assert_eq!(announced_length(h, head_request), Some(*want));
                assert_eq!(*got, body);
                assert!(got < want);
            }
            Ev::Finish(_) | Ev::Error(_) => {}
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let split = Split::parse(input);
    for head_request in [false, true] {
        let mut reference: Option<Vec<Ev>> = None;
        for (how, chunks) in feeds(&split, 256) {
            let events = run(&chunks, head_request);
            match &reference {
                None => {
                    check(&events, head_request);
                    reference = Some(events);
                }
                Some(r) => assert_eq!(
                    &events, r,
                    "fed {how} (HEAD: {head_request}), the decoder disagrees with whole"
                ),
            }
        }
    }
});
