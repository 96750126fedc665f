//! A WebSocket connection after the handshake, sans-IO.
//!
//! [`Session::receive`] takes bytes from the peer and returns events;
//! sending methods append frames to an output buffer the driver writes out
//! ([`Session::output`], [`Session::consume`]). The session answers pings,
//! runs the close handshake (our Close, their Close, or theirs then ours)
//! and fails the connection on a protocol error: a Close with the right code
//! (1002, 1007, 1009) goes out and the session is over. Masks come from the
//! caller (clients must mask with unpredictable keys), and there is no clock:
//! the driver times the wait for the peer's Close.

use super::frame::{self, close_body, code, Decoder, Incoming, Role, WsError};

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
    state: State,
}

impl Session {
    pub fn new(role: Role, max_message: usize) -> Session {
        Session {
            role,
            decoder: Decoder::new(role, max_message),
            out: Vec::new(),
            out_head: 0,
            state: State::Open,
        }
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

    /// Bytes waiting to be written.
    pub fn output(&self) -> &[u8] {
        &self.out[self.out_head..]
    }

    /// Marks `n` output bytes as written.
    pub fn consume(&mut self, n: usize) {
        self.out_head += n;
        if self.out_head >= self.out.len() {
            self.out.clear();
            self.out_head = 0;
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
        self.out.clear();
        self.out_head = 0;
    }

    /// Bytes queued, not yet handed to the socket.
    pub fn queued(&self) -> usize {
        self.out.len() - self.out_head
    }

    fn push(&mut self, opcode: u8, payload: &[u8], masks: &mut dyn MaskSource) {
        let mask = (self.role == Role::Client).then(|| masks.mask());
        frame::encode(opcode, true, payload, mask, &mut self.out);
    }

    pub fn send_text(&mut self, text: &str, masks: &mut dyn MaskSource) {
        if self.state == State::Open {
            self.push(frame::OP_TEXT, text.as_bytes(), masks);
        }
    }

    pub fn send_binary(&mut self, data: &[u8], masks: &mut dyn MaskSource) {
        if self.state == State::Open {
            self.push(frame::OP_BINARY, data, masks);
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
                    self.push(frame::OP_PONG, &p, masks);
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
}
