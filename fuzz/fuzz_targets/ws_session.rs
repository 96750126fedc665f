//! The WebSocket session (close handshake, ping answers, failing) on
//! arbitrary peer bytes, in both roles.
//!
//! Input: `[flags] [n] [sizes] [bytes from the peer]`. Flags bit 0: our role
//! (0: client, 1: server); bit 1: we start the close handshake before
//! anything arrives; bits 2-3: the message size limit (1 MiB, 16, 125, 1000).
//!
//! Fed whole, byte by byte and split where the fuzzer chose, the session must
//! report the same events and queue the same bytes. Within a run: a Closed or
//! Failed event comes at most once and last, after it the session is closed
//! and swallows everything, and the state flags agree with the events. What
//! the session queued, decoded by the peer's decoder, must be exactly: our
//! Close if we started, a Pong for each Ping received while open (past
//! `MAX_UNSENT_PONGS` unsent, only the newest one's), then the
//! echo of the peer's Close or, on failure, a Close with the error's code
//! (and its reason, cut to fit) unless our Close had gone out already.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netkit_fuzz::proto::ws::frame::{Decoder, Incoming, Role};
use netkit_fuzz::proto::ws::session::{Session, WsEvent, MAX_UNSENT_PONGS};
use netkit_fuzz::{feeds, Masks, Split};

const LIMITS: [usize; 4] = [1 << 20, 16, 125, 1000];

#[derive(Debug, PartialEq)]
struct Run {
    events: Vec<WsEvent>,
    output: Vec<u8>,
}

fn run(role: Role, max: usize, close_first: bool, chunks: &[&[u8]]) -> Run {
    let mut masks = Masks(1);
    let mut s = Session::new(role, max);
    if close_first {
        s.close(1000, "bye", &mut masks);
        assert!(s.is_closing());
    }
    let mut events = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut ended = false;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let (used, ev) = s.receive(&buf, &mut masks);
            assert!(used <= buf.len(), "consumed {used} of {}", buf.len());
            if ended {
                assert_eq!(
                    (used, &ev),
                    (buf.len(), &None),
                    "bytes after the end counted"
                );
            }
            buf.drain(..used);
            let progressed = used > 0 || ev.is_some();
            if let Some(ev) = ev {
                assert!(!ended, "an event after the end: {ev:?}");
                if matches!(ev, WsEvent::Closed { .. } | WsEvent::Failed(_)) {
                    ended = true;
                    assert!(s.is_closed() && !s.is_open() && !s.is_closing());
                }
                events.push(ev);
            }
            if !ended {
                assert!(!s.is_closed());
                assert_eq!(s.is_closing(), close_first);
                assert_eq!(s.is_open(), !close_first);
            }
            if !progressed {
                break;
            }
        }
    }
    let output = s.output().to_vec();
    assert_eq!(s.queued(), output.len());
    Run { events, output }
}

/// The frames the session must have queued, given what it reported. The
/// output is never drained here, so the first `MAX_UNSENT_PONGS` pings each
/// get a pong at once; after that only the newest ping's pong waits, and it
/// goes out before the next frame the session queues (or at the end).
fn expected_output(events: &[WsEvent], close_first: bool) -> Vec<Incoming> {
    let mut out = Vec::new();
    if close_first {
        out.push(Incoming::Close(Some(1000), "bye".into()));
    }
    let mut unsent = 0;
    let mut pending: Option<Vec<u8>> = None;
    let flush = |pending: &mut Option<Vec<u8>>, out: &mut Vec<Incoming>| {
        if let Some(p) = pending.take() {
            out.push(Incoming::Pong(p));
        }
    };
    for ev in events {
        match ev {
            WsEvent::Ping(p) if !close_first => {
                if pending.is_none() && unsent < MAX_UNSENT_PONGS {
                    out.push(Incoming::Pong(p.clone()));
                    unsent += 1;
                } else {
                    pending = Some(p.clone());
                }
            }
            WsEvent::Closed { code, by_peer, .. } => {
                assert_eq!(*by_peer, !close_first);
                if *by_peer {
                    flush(&mut pending, &mut out);
                    out.push(Incoming::Close(*code, String::new()));
                }
            }
            WsEvent::Failed(e) if !close_first => {
                flush(&mut pending, &mut out);
                let mut end = e.reason.len().min(123);
                while !e.reason.is_char_boundary(end) {
                    end -= 1;
                }
                out.push(Incoming::Close(Some(e.code), e.reason[..end].to_string()));
            }
            _ => {}
        }
    }
    flush(&mut pending, &mut out);
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
    let close_first = flags & 2 != 0;
    let max = LIMITS[usize::from(flags >> 2) & 3];
    let split = Split::parse(rest);

    let mut reference: Option<Run> = None;
    for (how, chunks) in feeds(&split, 4096) {
        let r = run(role, max, close_first, &chunks);
        match &reference {
            Some(w) => {
                assert_eq!(r.events, w.events, "fed {how}: events differ from whole");
                assert_eq!(r.output, w.output, "fed {how}: output differs from whole");
            }
            None => reference = Some(r),
        }
    }
    let Some(w) = reference else { return };

    // What we queued, as the peer reads it.
    let peer = match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let mut d = Decoder::new(peer, 1 << 20);
    let mut got = Vec::new();
    let mut at = 0;
    loop {
        let (used, item) = d
            .decode(&w.output[at..])
            .unwrap_or_else(|e| panic!("the session queued an invalid frame: {e}"));
        at += used;
        match item {
            Some(i) => got.push(i),
            None if used == 0 => break,
            None => {}
        }
    }
    assert_eq!(at, w.output.len(), "a partial frame queued");
    assert_eq!(got, expected_output(&w.events, close_first));
});
