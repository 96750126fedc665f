//! A plain or TLS connection behind one interface, so the HTTP exchange,
//! the WebSocket client and the server core do not care which they have.

use std::io;
use std::time::Instant;

use std::net::SocketAddr;

use mio::event::{Event, Source};
use mio::net::UnixStream;

use crate::net::tls::TlsConn;
use crate::reactor::conn::{Conn, Read};

pub enum Transport {
    Plain(Conn),
    Tls(Box<TlsConn>),
    /// `--unix-socket PATH`.
    Unix(Conn<UnixStream>),
    /// `--unix-socket PATH` with https or wss.
    UnixTls(Box<TlsConn<UnixStream>>),
}

impl Transport {
    pub fn ready(&mut self, event: &Event) {
        match self {
            Transport::Plain(c) => c.ready(event),
            Transport::Unix(c) => c.ready(event),
            Transport::Tls(t) => t.set_ready(
                event.is_readable() || event.is_read_closed() || event.is_error(),
                event.is_writable() || event.is_write_closed() || event.is_error(),
            ),
            Transport::UnixTls(t) => t.set_ready(
                event.is_readable() || event.is_read_closed() || event.is_error(),
                event.is_writable() || event.is_write_closed() || event.is_error(),
            ),
        }
    }

    pub fn read(&mut self, buf: &mut [u8], now: Instant) -> io::Result<Read> {
        match self {
            Transport::Plain(c) => c.read(buf, now),
            Transport::Unix(c) => c.read(buf, now),
            Transport::Tls(t) => t.read(buf),
            Transport::UnixTls(t) => t.read(buf),
        }
    }

    /// Queues `data` (whole) and sends what the socket takes now.
    pub fn send(&mut self, data: &[u8], now: Instant) -> io::Result<()> {
        match self {
            Transport::Plain(c) => c.send(data, usize::MAX, now).map(|_| ()),
            Transport::Unix(c) => c.send(data, usize::MAX, now).map(|_| ()),
            Transport::Tls(t) => t.send(data),
            Transport::UnixTls(t) => t.send(data),
        }
    }

    pub fn flush(&mut self, now: Instant) -> io::Result<()> {
        match self {
            Transport::Plain(c) => c.flush(now),
            Transport::Unix(c) => c.flush(now),
            Transport::Tls(t) => t.flush(),
            Transport::UnixTls(t) => t.flush(),
        }
    }

    /// Whether bytes are still waiting to be sent.
    pub fn pending(&self) -> bool {
        match self {
            Transport::Plain(c) => c.queued() > 0,
            Transport::Unix(c) => c.queued() > 0,
            Transport::Tls(t) => t.pending() || t.is_handshaking(),
            Transport::UnixTls(t) => t.pending() || t.is_handshaking(),
        }
    }

    /// Bytes accepted but not yet written to the socket.
    pub fn queued(&self) -> usize {
        match self {
            Transport::Plain(c) => c.queued(),
            Transport::Unix(c) => c.queued(),
            Transport::Tls(t) => t.queued(),
            Transport::UnixTls(t) => t.queued(),
        }
    }

    pub fn handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) | Transport::Unix(_) => false,
            Transport::Tls(t) => t.is_handshaking(),
            Transport::UnixTls(t) => t.is_handshaking(),
        }
    }

    /// The socket, to deregister it.
    pub fn stream_mut(&mut self) -> &mut dyn Source {
        match self {
            Transport::Plain(c) => &mut c.stream,
            Transport::Tls(t) => &mut t.stream,
            Transport::Unix(c) => &mut c.stream,
            Transport::UnixTls(t) => &mut t.stream,
        }
    }

    /// (remote, local) for TCP; `None` for a Unix socket.
    pub fn addrs(&self) -> Option<(SocketAddr, SocketAddr)> {
        let stream = match self {
            Transport::Plain(c) => &c.stream,
            Transport::Tls(t) => &t.stream,
            Transport::Unix(_) | Transport::UnixTls(_) => return None,
        };
        Some((stream.peer_addr().ok()?, stream.local_addr().ok()?))
    }

    /// Shuts the socket down both ways (best effort).
    pub fn shutdown(&mut self) {
        let _ = match self {
            Transport::Plain(c) => c.stream.shutdown(std::net::Shutdown::Both),
            Transport::Tls(t) => t.stream.shutdown(std::net::Shutdown::Both),
            Transport::Unix(c) => c.stream.shutdown(std::net::Shutdown::Both),
            Transport::UnixTls(t) => t.stream.shutdown(std::net::Shutdown::Both),
        };
    }

    /// Ends the connection politely (close_notify for TLS).
    pub fn close(&mut self) {
        match self {
            Transport::Tls(t) => t.close(),
            Transport::UnixTls(t) => t.close(),
            _ => {}
        }
    }
}
