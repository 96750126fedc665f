//! A listening socket of either family, so the servers (the one-client
//! pipe, the multi-client core, exec) are written once for `tcp listen` and
//! `unix listen`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mio::event::Source;
use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::{Interest, Registry, Token};

use super::canonical;

/// Who is at the other end: an IP address and port, or (a Unix socket's
/// clients being unnamed) the socket path or `@name` they connected to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Ip(SocketAddr),
    Unix(Arc<str>),
}

impl Peer {
    /// The IP address for events that only know those (unspecified for a
    /// Unix socket).
    pub fn ip(&self) -> SocketAddr {
        match self {
            Peer::Ip(a) => *a,
            Peer::Unix(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        }
    }
}

impl From<SocketAddr> for Peer {
    fn from(a: SocketAddr) -> Peer {
        Peer::Ip(a)
    }
}

/// An IP address and port, else a Unix socket's path.
impl std::str::FromStr for Peer {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Peer, Self::Err> {
        Ok(match s.parse() {
            Ok(a) => Peer::Ip(a),
            Err(_) => Peer::Unix(Arc::from(s)),
        })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Ip(a) => a.fmt(f),
            Peer::Unix(p) => f.write_str(p),
        }
    }
}

/// A bound, non-blocking listener.
pub enum Listener {
    Tcp(TcpListener),
    /// With the `PATH` or `@name` it was bound to.
    Unix(UnixListener, Arc<str>),
}

/// An accepted connection.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// One accepted client: its socket, who it is, and our end's address.
pub struct Accept {
    pub stream: Stream,
    pub peer: Peer,
    pub local: Peer,
}

impl Listener {
    pub fn unix(listener: UnixListener, path: &str) -> Listener {
        Listener::Unix(listener, Arc::from(path))
    }

    /// Our address as reported in `listening`.
    pub fn local(&self) -> io::Result<Peer> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(Peer::Ip),
            Listener::Unix(_, path) => Ok(Peer::Unix(path.clone())),
        }
    }

    /// The next waiting client: `Ok(None)` when none waits; an error only
    /// when the process is out of descriptors or memory (a client that
    /// hung up while waiting is skipped).
    pub fn accept(&self) -> io::Result<Option<Accept>> {
        loop {
            let got = match self {
                Listener::Tcp(l) => l.accept().and_then(|(s, peer)| {
                    let _ = s.set_nodelay(true);
                    let local = s.local_addr()?;
                    Ok(Accept {
                        stream: Stream::Tcp(s),
                        peer: Peer::Ip(canonical(peer)),
                        local: Peer::Ip(canonical(local)),
                    })
                }),
                Listener::Unix(l, path) => l.accept().map(|(s, _)| Accept {
                    stream: Stream::Unix(s),
                    peer: Peer::Unix(path.clone()),
                    local: Peer::Unix(path.clone()),
                }),
            };
            match got {
                Ok(a) => return Ok(Some(a)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE)
                            | Some(libc::ENFILE)
                            | Some(libc::ENOBUFS)
                            | Some(libc::ENOMEM)
                    ) =>
                {
                    return Err(e)
                }
                Err(_) => continue,
            }
        }
    }
}

impl Source for Listener {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.register(r, t, i),
            Listener::Unix(l, _) => l.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.reregister(r, t, i),
            Listener::Unix(l, _) => l.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Listener::Tcp(l) => l.deregister(r),
            Listener::Unix(l, _) => l.deregister(r),
        }
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
        }
    }
}

impl io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl io::Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl std::os::fd::AsRawFd for Stream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

impl crate::reactor::conn::Stream for Stream {
    fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        }
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }
}
