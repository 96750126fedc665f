//! A WebSocket connection after the handshake, sans-IO.
//!
//! [`Session::receive`] takes bytes from the peer and returns events;
//! sending methods append frames to an output buffer the driver writes out
//! ([`Session::output`], [`Session::consume`]). The session answers pings:
//! each one while few pongs wait to be written, then only the newest (the
//! answer to an older ping is replaced, as RFC 6455, section 5.5.3 allows),
//! so a peer that streams pings and never reads cannot grow the queue;
//! runs the close handshake (our Close, their Close, or theirs then ours)
//! and fails the connection on a protocol error: a Close with the right code
//! (1002, 1007, 1009) goes out and the session is over. Masks come from the
//! caller (clients must mask with unpredictable keys), and there is no clock:
//! the driver times the wait for the peer's Close.

use super::deflate::{Deflater, Inflater, Params};
use super::frame::{self, close_body, code, Decoder, Incoming, Role, WsError};

/// Pongs that may wait in the output before a newer ping replaces the
/// answer to an older one (a burst of pings each gets its pong, as
/// Autobahn's cases 2.10 and 2.11 expect).
pub const MAX_UNSENT_PONGS: usize = 16;

/// Where client masks come from.
pub trait MaskSource {
    fn mask(&mut self) -> [u8; 4];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
}

/// What the peer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    Message(Message),
    /// A ping (already answered).
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The close handshake is complete: the peer's code and reason, and
    /// whether the peer started it.
    Closed {
        code: Option<u16>,
        reason: String,
        by_peer: bool,
    },
    /// The peer broke the protocol; a Close with `error.code` was queued.
    Failed(WsError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// We sent Close and wait for theirs.
    CloseSent,
    Closed,
}

pub struct Session {
    role: Role,
    decoder: Decoder,
    out: Vec<u8>,
    out_head: usize,
    /// Pongs in `out` since it was last written out whole.
    unsent_pongs: usize,
    /// The newest ping not yet answered once `MAX_UNSENT_PONGS` wait (the
    /// pong's mask and payload): its pong goes into `out` when the driver
    /// asks for output or another frame is queued.
    pong: Option<(Option<[u8; 4]>, Vec<u8>)>,
    state: State,
    /// permessage-deflate for what we send, once negotiated.
    deflater: Option<Deflater>,
    /// A compressed message on its way into a frame.
    zbuf: Vec<u8>,
}

impl Session {
    pub fn new(role: Role, max_message: usize) -> Session {
        Session {
            role,
            decoder: Decoder::new(role, max_message),
            out: Vec::new(),
            out_head: 0,
            unsent_pongs: 0,
            pong: None,
            state: State::Open,
            deflater: None,
            zbuf: Vec::new(),
        }
    }

    /// Uses permessage-deflate with the parameters the handshake agreed
    /// (RFC 7692): data messages we send are compressed, compressed ones
    /// from the peer are inflated. `None`: neither.
    pub fn set_deflate(&mut self, params: Option<Params>) {
        let Some(p) = params else {
            self.deflater = None;
            self.decoder.set_inflater(None);
            return;
        };
        let (ours, theirs) = match self.role {
            Role::Client => (
                (p.client_max_window_bits, p.client_no_context_takeover),
                (p.server_max_window_bits, p.server_no_context_takeover),
            ),
            Role::Server => (
                (p.server_max_window_bits, p.server_no_context_takeover),
                (p.client_max_window_bits, p.client_no_context_takeover),
            ),
        };
        self.deflater = Some(Deflater::new(ours.0, ours.1));
        self.decoder
            .set_inflater(Some(Inflater::new(theirs.0, theirs.1)));
    }

    /// Whether a compression or inflation context is held now.
    pub fn holds_deflate_context(&self) -> bool {
        self.deflater.as_ref().is_some_and(Deflater::holds_context) || self.decoder.holds_context()
    }

    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// We sent Close and are waiting for the peer's.
    pub fn is_closing(&self) -> bool {
        self.state == State::CloseSent
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Bytes waiting to be written (a pending pong is queued first).
    pub fn output(&mut self) -> &[u8] {
        self.queue_pong();
        &self.out[self.out_head..]
    }

    /// Moves the pending pong, if any, to the output.
    fn queue_pong(&mut self) {
        if let Some((mask, p)) = self.pong.take() {
            frame::encode(frame::OP_PONG, true, &p, mask, &mut self.out);
            self.unsent_pongs += 1;
        }
    }

    /// Marks `n` output bytes as written.
    pub fn consume(&mut self, n: usize) {
        self.out_head += n;
        if self.out_head >= self.out.len() {
            self.out.clear();
            self.out_head = 0;
            self.unsent_pongs = 0;
            if self.out.capacity() > 256 * 1024 {
                self.out.shrink_to(64 * 1024);
            }
        } else if self.out_head > 64 * 1024 && self.out_head * 2 > self.out.len() {
            self.out.drain(..self.out_head);
            self.out_head = 0;
        }
    }

    /// Drops every queued frame (for a peer too far behind to catch up).
    pub fn discard_output(&mut self) {
        self.pong = None;
        self.unsent_pongs = 0;
        self.out.clear();
        self.out_head = 0;
    }

    /// Bytes queued, not yet handed to the socket.
    pub fn queued(&self) -> usize {
        let pong = self.pong.as_ref().map_or(0, |(mask, p)| {
            2 + p.len() + if mask.is_some() { 4 } else { 0 }
        });
        self.out.len() - self.out_head + pong
    }

    fn push(&mut self, opcode: u8, payload: &[u8], masks: &mut dyn MaskSource) {
        // The pong answers a ping that came before this frame was queued.
        self.queue_pong();
        let mask = (self.role == Role::Client).then(|| masks.mask());
        frame::encode(opcode, true, payload, mask, &mut self.out);
    }

    /// Queues a data message, compressed if permessage-deflate is on.
    fn push_data(&mut self, opcode: u8, data: &[u8], masks: &mut dyn MaskSource) {
        match self.deflater.as_mut().filter(|d| d.active()) {
            Some(d) => {
                let mut z = std::mem::take(&mut self.zbuf);
                z.clear();
                d.compress(data, &mut z);
                self.push(opcode | frame::RSV1, &z, masks);
                if z.capacity() <= 256 * 1024 {
                    self.zbuf = z;
                }
            }
            None => self.push(opcode, data, masks),
        }
    }

    pub fn send_text(&mut self, text: &str, masks: &mut dyn MaskSource) {
        if self.state == State::Open {
            self.push_data(frame::OP_TEXT, text.as_bytes(), masks);
        }
    }

    pub fn send_binary(&mut self, data: &[u8], masks: &mut dyn MaskSource) {
        if self.state == State::Open {
            self.push_data(frame::OP_BINARY, data, masks);
        }
    }

    pub fn send(&mut self, message: &Message, masks: &mut dyn MaskSource) {
        match message {
            Message::Text(t) => self.send_text(t, masks),
            Message::Binary(b) => self.send_binary(b, masks),
        }
    }

    pub fn ping(&mut self, payload: &[u8], masks: &mut dyn MaskSource) {
        if self.state == State::Open {
            self.push(frame::OP_PING, &payload[..payload.len().min(125)], masks);
        }
    }

    /// Starts the close handshake (no-op unless open).
    pub fn close(&mut self, code: u16, reason: &str, masks: &mut dyn MaskSource) {
        if self.state == State::Open {
            self.push(frame::OP_CLOSE, &close_body(code, reason), masks);
            self.state = State::CloseSent;
        }
    }

    /// Gives up on the close handshake (the peer never answered).
    pub fn abort(&mut self) {
        self.state = State::Closed;
    }

    /// Decodes peer bytes: consumed count and at most one event.
    pub fn receive(
        &mut self,
        input: &[u8],
        masks: &mut dyn MaskSource,
    ) -> (usize, Option<WsEvent>) {
        if self.state == State::Closed {
            // Nothing after the close handshake counts.
            return (input.len(), None);
        }
        match self.decoder.decode(input) {
            Ok((used, None)) => (used, None),
            Ok((used, Some(item))) => (used, Some(self.handle(item, masks))),
            Err(e) => {
                if self.state == State::Open {
                    self.push(frame::OP_CLOSE, &close_body(e.code, &e.reason), masks);
                }
                self.state = State::Closed;
                (input.len(), Some(WsEvent::Failed(e)))
            }
        }
    }

    fn handle(&mut self, item: Incoming, masks: &mut dyn MaskSource) -> WsEvent {
        match item {
            Incoming::Text(t) => WsEvent::Message(Message::Text(t)),
            Incoming::Binary(b) => WsEvent::Message(Message::Binary(b)),
            Incoming::Ping(p) => {
                if self.state == State::Open {
                    let mask = (self.role == Role::Client).then(|| masks.mask());
                    if self.pong.is_none() && self.unsent_pongs < MAX_UNSENT_PONGS {
                        frame::encode(frame::OP_PONG, true, &p, mask, &mut self.out);
                        self.unsent_pongs += 1;
                    } else {
                        // Replaces the answer to an older ping still unsent.
                        self.pong = Some((mask, p.clone()));
                    }
                }
                WsEvent::Ping(p)
            }
            Incoming::Pong(p) => WsEvent::Pong(p),
            Incoming::Close(c, reason) => {
                let by_peer = self.state == State::Open;
                if by_peer {
                    // Echo their code (RFC 6455, section 5.5.1).
                    let body = match c {
                        Some(c) => close_body(c, ""),
                        None => Vec::new(),
                    };
                    self.push(frame::OP_CLOSE, &body, masks);
                }
                self.state = State::Closed;
                WsEvent::Closed {
                    code: c,
                    reason,
                    by_peer,
                }
            }
        }
    }
}

/// A description of a close code for people.
pub fn describe_code(c: u16) -> &'static str {
    match c {
        code::NORMAL => "normal closure",
        code::GOING_AWAY => "going away",
        code::PROTOCOL => "protocol error",
        code::UNSUPPORTED => "unsupported data",
        code::NO_STATUS => "no status",
        code::ABNORMAL => "abnormal closure",
        code::INVALID_PAYLOAD => "invalid payload",
        code::POLICY => "policy violation",
        code::TOO_BIG => "message too big",
        1010 => "extension required",
        code::INTERNAL => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        3000..=3999 => "registered code",
        4000..=4999 => "application code",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl MaskSource for Fixed {
        fn mask(&mut self) -> [u8; 4] {
            [1, 2, 3, 4]
        }
    }

    /// Moves everything one side has to say to the other, returning events.
    fn pump(from: &mut Session, to: &mut Session) -> Vec<WsEvent> {
        let bytes = from.output().to_vec();
        from.consume(bytes.len());
        let mut events = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let (used, ev) = to.receive(&bytes[at..], &mut Fixed);
            at += used;
            events.extend(ev);
            if used == 0 {
                break;
            }
        }
        events
    }

    #[test]
    fn whole_conversation_with_close_handshake() {
        let mut client = Session::new(Role::Client, 1 << 20);
        let mut server = Session::new(Role::Server, 1 << 20);
        client.send_text("hello", &mut Fixed);
        client.ping(b"p", &mut Fixed);
        assert_eq!(
            pump(&mut client, &mut server),
            vec![
                WsEvent::Message(Message::Text("hello".into())),
                WsEvent::Ping(b"p".to_vec())
            ]
        );
        server.send_binary(&[0, 1, 2], &mut Fixed);
        assert_eq!(
            pump(&mut server, &mut client),
            vec![
                WsEvent::Pong(b"p".to_vec()),
                WsEvent::Message(Message::Binary(vec![0, 1, 2]))
            ]
        );
        client.close(1000, "bye", &mut Fixed);
        assert!(client.is_closing());
        client.send_text("ignored after close", &mut Fixed);
        assert_eq!(
            pump(&mut client, &mut server),
            vec![WsEvent::Closed {
                code: Some(1000),
                reason: "bye".into(),
                by_peer: true
            }]
        );
        assert!(server.is_closed());
        assert_eq!(
            pump(&mut server, &mut client),
            vec![WsEvent::Closed {
                code: Some(1000),
                reason: String::new(),
                by_peer: false
            }]
        );
        assert!(client.is_closed());
    }

    #[test]
    fn protocol_error_fails_with_the_right_code() {
        let mut server = Session::new(Role::Server, 1 << 20);
        // An unmasked frame from a client.
        let (_, ev) = server.receive(&[0x81, 0x01, b'x'], &mut Fixed);
        assert!(matches!(ev, Some(WsEvent::Failed(e)) if e.code == 1002));
        assert_eq!(
            &server.output()[..4],
            &[
                0x88,
                0x02 + "unmasked frame from a client".len() as u8,
                0x03,
                0xEA
            ]
        );
        assert!(server.is_closed());
        assert_eq!(server.receive(b"anything", &mut Fixed), (8, None));
    }

    #[test]
    fn output_is_consumed_in_pieces() {
        let mut s = Session::new(Role::Server, 1 << 20);
        s.send_binary(&[7; 300], &mut Fixed);
        let total = s.queued();
        s.consume(100);
        assert_eq!(s.queued(), total - 100);
        s.consume(total - 100);
        assert_eq!(s.queued(), 0);
    }

    /// Client frames carrying `payload` as pings, masked.
    fn client_pings(n: usize, payload: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
        let mut bytes = Vec::new();
        for i in 0..n {
            frame::encode(
                frame::OP_PING,
                true,
                &payload(i),
                Some([9, 8, 7, 6]),
                &mut bytes,
            );
        }
        bytes
    }

    /// Feeds `bytes` in pieces of `step`, keeping what the session leaves
    /// (an incomplete header) as the drivers do; returns the pings seen.
    fn feed(s: &mut Session, bytes: &[u8], step: usize) -> usize {
        let mut pings = 0;
        let mut pending = Vec::new();
        for piece in bytes.chunks(step) {
            pending.extend_from_slice(piece);
            let mut at = 0;
            while at < pending.len() {
                let (used, ev) = s.receive(&pending[at..], &mut Fixed);
                at += used;
                if matches!(ev, Some(WsEvent::Ping(_))) {
                    pings += 1;
                }
                if used == 0 {
                    break;
                }
            }
            pending.drain(..at);
        }
        assert!(pending.is_empty());
        pings
    }

    #[test]
    fn a_ping_flood_leaves_a_bounded_number_of_pongs_pending() {
        // Payloads of varying length: past MAX_UNSENT_PONGS, the newest
        // ping's pong replaces the unsent answer to older ones (RFC 6455,
        // section 5.5.3).
        let payload = |i: usize| format!("p{}", i % 977).into_bytes();
        let pings = client_pings(10_000, payload);
        let mut expected = Vec::new();
        for i in 0..MAX_UNSENT_PONGS {
            frame::encode(frame::OP_PONG, true, &payload(i), None, &mut expected);
        }
        frame::encode(frame::OP_PONG, true, &payload(9_999), None, &mut expected);
        for step in [pings.len(), 1] {
            let mut server = Session::new(Role::Server, 1 << 20);
            assert_eq!(feed(&mut server, &pings, step), 10_000);
            assert_eq!(server.queued(), expected.len());
            assert_eq!(server.output(), &expected[..]);
        }
    }

    #[test]
    fn pongs_written_out_make_room_for_more() {
        let mut server = Session::new(Role::Server, 1 << 20);
        let pings = client_pings(40, |i| vec![i as u8]);
        feed(&mut server, &pings, pings.len());
        let n = server.output().len();
        server.consume(n);
        // Another burst: each ping is answered again, up to the bound.
        let pings = client_pings(3, |i| vec![100 + i as u8]);
        feed(&mut server, &pings, 1);
        let mut expected = Vec::new();
        for i in 0..3 {
            frame::encode(frame::OP_PONG, true, &[100 + i], None, &mut expected);
        }
        assert_eq!(server.output(), &expected[..]);
    }

    #[test]
    fn a_client_session_answers_a_ping_flood_with_masked_pongs() {
        let mut pings = Vec::new();
        for i in 0..10_000u32 {
            frame::encode(frame::OP_PING, true, &i.to_be_bytes(), None, &mut pings);
        }
        let mut client = Session::new(Role::Client, 1 << 20);
        assert_eq!(feed(&mut client, &pings, pings.len()), 10_000);
        let mut expected = Vec::new();
        for i in (0..MAX_UNSENT_PONGS as u32).chain([9_999]) {
            frame::encode(
                frame::OP_PONG,
                true,
                &i.to_be_bytes(),
                Some([1, 2, 3, 4]),
                &mut expected,
            );
        }
        assert_eq!(client.queued(), expected.len());
        assert_eq!(client.output(), &expected[..]);
    }

    #[test]
    fn a_pong_keeps_its_place_before_later_frames() {
        let mut server = Session::new(Role::Server, 1 << 20);
        feed(&mut server, &client_pings(2, |i| vec![b'a' + i as u8]), 1);
        server.send_text("after", &mut Fixed);
        feed(&mut server, &client_pings(1, |_| b"c".to_vec()), 1);
        let mut expected = Vec::new();
        frame::encode(frame::OP_PONG, true, b"a", None, &mut expected);
        frame::encode(frame::OP_PONG, true, b"b", None, &mut expected);
        frame::encode(frame::OP_TEXT, true, b"after", None, &mut expected);
        frame::encode(frame::OP_PONG, true, b"c", None, &mut expected);
        assert_eq!(server.queued(), expected.len());
        assert_eq!(server.output(), &expected[..]);
        server.consume(expected.len());
        assert_eq!(server.queued(), 0);
        // Past the bound, the newest answer still goes before a later frame.
        let pings = client_pings(MAX_UNSENT_PONGS + 2, |i| vec![i as u8]);
        feed(&mut server, &pings, pings.len());
        server.send_text("later", &mut Fixed);
        let mut expected = Vec::new();
        for i in (0..MAX_UNSENT_PONGS).chain([MAX_UNSENT_PONGS + 1]) {
            frame::encode(frame::OP_PONG, true, &[i as u8], None, &mut expected);
        }
        frame::encode(frame::OP_TEXT, true, b"later", None, &mut expected);
        assert_eq!(server.output(), &expected[..]);
        server.consume(expected.len());
        // A pong goes before our Close; none after it.
        feed(&mut server, &client_pings(1, |_| b"d".to_vec()), 1);
        server.close(1000, "", &mut Fixed);
        feed(&mut server, &client_pings(1, |_| b"e".to_vec()), 1);
        let mut expected = Vec::new();
        frame::encode(frame::OP_PONG, true, b"d", None, &mut expected);
        frame::encode(
            frame::OP_CLOSE,
            true,
            &close_body(1000, ""),
            None,
            &mut expected,
        );
        assert_eq!(server.output(), &expected[..]);
    }

    #[test]
    fn permessage_deflate_both_ways_controls_plain() {
        for params in [
            Params::default(),
            Params {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 9,
                client_max_window_bits: 8,
            },
        ] {
            let mut client = Session::new(Role::Client, 1 << 20);
            let mut server = Session::new(Role::Server, 1 << 20);
            client.set_deflate(Some(params));
            server.set_deflate(Some(params));
            let text = "compress me ".repeat(1000);
            client.send_text(&text, &mut Fixed);
            client.ping(b"p", &mut Fixed);
            let out = client.output().to_vec();
            // RSV1 on the message unless our window would be 8 bits; the
            // ping is never compressed.
            let rsv1 = params.client_max_window_bits > 8;
            assert_eq!(out[0], 0x81 | if rsv1 { 0x40 } else { 0 });
            if rsv1 {
                assert!(out.len() < 200, "{}", out.len());
            }
            assert_eq!(
                pump(&mut client, &mut server),
                vec![
                    WsEvent::Message(Message::Text(text.clone())),
                    WsEvent::Ping(b"p".to_vec())
                ]
            );
            // The pong for the client's ping, plain; then two compressed
            // messages (the second uses the first's context, if kept).
            let mut pong = Vec::new();
            frame::encode(frame::OP_PONG, true, b"p", None, &mut pong);
            assert_eq!(&server.output()[..pong.len()], &pong[..]);
            assert_eq!(
                pump(&mut server, &mut client),
                vec![WsEvent::Pong(b"p".to_vec())]
            );
            for _ in 0..2 {
                server.send_binary(text.as_bytes(), &mut Fixed);
                assert_eq!(server.output()[0], 0xC2);
                assert_eq!(
                    pump(&mut server, &mut client),
                    vec![WsEvent::Message(Message::Binary(text.clone().into_bytes()))]
                );
            }
            // Without context takeover nothing is held between messages.
            let nct = params.server_no_context_takeover && params.client_no_context_takeover;
            assert_eq!(server.holds_deflate_context(), !nct);
            client.close(1000, "", &mut Fixed);
            assert_eq!(client.output()[0], 0x88);
        }
    }
}
