//! A plain or TLS connection behind one interface, so the HTTP exchange (and
//! later the WebSocket client) does not care which it has.

use std::io;
use std::time::Instant;

use mio::event::Event;
use mio::net::TcpStream;

use super::tls::TlsConn;
use crate::reactor::conn::{Conn, Read};

pub enum Transport {
    Plain(Conn),
    Tls(Box<TlsConn>),
}

impl Transport {
    pub fn ready(&mut self, event: &Event) {
        match self {
            Transport::Plain(c) => c.ready(event),
            Transport::Tls(t) => t.set_ready(
                event.is_readable() || event.is_read_closed() || event.is_error(),
                event.is_writable() || event.is_write_closed() || event.is_error(),
            ),
        }
    }

    pub fn read(&mut self, buf: &mut [u8], now: Instant) -> io::Result<Read> {
        match self {
            Transport::Plain(c) => c.read(buf, now),
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// Queues `data` (whole) and sends what the socket takes now.
    pub fn send(&mut self, data: &[u8], now: Instant) -> io::Result<()> {
        match self {
            Transport::Plain(c) => c.send(data, usize::MAX, now).map(|_| ()),
            Transport::Tls(t) => t.send(data),
        }
    }

    pub fn flush(&mut self, now: Instant) -> io::Result<()> {
        match self {
            Transport::Plain(c) => c.flush(now),
            Transport::Tls(t) => t.flush(),
        }
    }

    /// Whether bytes are still waiting to be sent.
    pub fn pending(&self) -> bool {
        match self {
            Transport::Plain(c) => c.queued() > 0,
            Transport::Tls(t) => t.pending() || t.is_handshaking(),
        }
    }

    /// Bytes accepted but not yet written to the socket.
    pub fn queued(&self) -> usize {
        match self {
            Transport::Plain(c) => c.queued(),
            Transport::Tls(t) => t.queued(),
        }
    }

    pub fn handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.is_handshaking(),
        }
    }

    pub fn stream_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(c) => &mut c.stream,
            Transport::Tls(t) => &mut t.stream,
        }
    }

    /// Ends the connection politely (close_notify for TLS).
    pub fn close(&mut self) {
        if let Transport::Tls(t) = self {
            t.close();
        }
    }
}
