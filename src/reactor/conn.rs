//! A buffered, edge-triggered TCP connection.
//!
//! The socket is registered once for READABLE | WRITABLE. Readiness is kept as
//! two flags set by events and cleared by `WouldBlock`, so a driver may stop
//! reading (back-pressure) and resume later without losing an edge. Writes go
//! straight to the socket while nothing is queued; whatever the kernel does
//! not take is kept in a bounded [`OutBuf`] and flushed on the next WRITABLE
//! edge. A short write is normal, never an error.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use mio::event::Event;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

/// The outcome of one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Data(usize),
    /// Nothing more until the next READABLE edge.
    WouldBlock,
    /// The peer closed its sending side.
    Eof,
}

/// Bytes accepted by the connection but not yet by the kernel.
#[derive(Debug, Default)]
pub struct OutBuf {
    buf: Vec<u8>,
    head: usize,
}

/// Capacity kept after the queue drains; more is given back.
const KEEP_CAPACITY: usize = 64 * 1024;

impl OutBuf {
    pub fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn front(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    pub fn push(&mut self, data: &[u8]) {
        if self.head > 0 && self.head >= self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
        self.buf.extend_from_slice(data);
    }

    pub fn consume(&mut self, n: usize) {
        self.head += n;
        if self.head == self.buf.len() {
            self.head = 0;
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteSide {
    Open,
    /// Shut down once the queue is flushed.
    ShutdownPending,
    Shut,
}

/// A stream socket a [`Conn`] can carry: TCP, or a Unix domain socket.
pub trait Stream: io::Read + io::Write + mio::event::Source + std::os::fd::AsRawFd {
    fn shutdown_write(&self) -> io::Result<()>;
    fn take_error(&self) -> io::Result<Option<io::Error>>;
}

impl Stream for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        TcpStream::take_error(self)
    }
}

impl Stream for UnixStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn take_error(&self) -> io::Result<Option<io::Error>> {
        UnixStream::take_error(self)
    }
}

/// A stream connection (TCP unless said otherwise) with its readiness, its
/// queue and its counters.
pub struct Conn<S = TcpStream> {
    pub stream: S,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    out: OutBuf,
    readable: bool,
    writable: bool,
    write_side: WriteSide,
    /// The peer closed its sending side (read returned 0).
    pub eof: bool,
    pub sent: u64,
    pub received: u64,
    pub started: Instant,
    pub last_active: Instant,
}

impl<S: Stream> Conn<S> {
    /// Wraps a connected stream. The addresses come from the caller because
    /// the accept or connect that produced the stream already knows them
    /// (a Unix socket has none: callers pass a placeholder).
    pub fn new(stream: S, peer: SocketAddr, local: SocketAddr, now: Instant) -> Conn<S> {
        Conn {
            stream,
            peer,
            local,
            out: OutBuf::default(),
            readable: true,
            writable: true,
            write_side: WriteSide::Open,
            eof: false,
            sent: 0,
            received: 0,
            started: now,
            last_active: now,
        }
    }

    /// Registers for both directions, edge-triggered, once.
    pub fn register(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut self.stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }

    /// Records readiness from an event.
    pub fn ready(&mut self, event: &Event) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.readable = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            self.writable = true;
        }
    }

    /// Whether a read may make progress now.
    pub fn can_read(&self) -> bool {
        self.readable && !self.eof
    }

    /// Bytes queued for the peer.
    pub fn queued(&self) -> usize {
        self.out.len()
    }

    /// Whether shutdown(Write) has been done or is waiting for the queue.
    pub fn write_closed(&self) -> bool {
        self.write_side != WriteSide::Open
    }

    /// Whether the write side is fully shut down.
    pub fn write_shut(&self) -> bool {
        self.write_side == WriteSide::Shut
    }

    /// Bytes the peer's kernel has acknowledged so far, from `TCP_INFO`
    /// (the SYN and FIN count one each); `None` where the kernel does not
    /// say (before Linux 4.1).
    pub fn bytes_acked(&self) -> Option<u64> {
        // SAFETY: getsockopt writes at most `len` bytes into the zeroed struct.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = unsafe {
            libc::getsockopt(
                self.stream.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            )
        };
        let end = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + 8;
        (rc == 0 && len as usize >= end).then_some(info.tcpi_bytes_acked)
    }

    /// One read into `buf`.
    pub fn read(&mut self, buf: &mut [u8], now: Instant) -> io::Result<Read> {
        if !self.readable || self.eof {
            return Ok(Read::WouldBlock);
        }
        loop {
            match self.stream.read(buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(Read::Eof);
                }
                Ok(n) => {
                    self.received += n as u64;
                    self.last_active = now;
                    return Ok(Read::Data(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return Ok(Read::WouldBlock);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `data`: written now as far as the kernel takes it, the rest
    /// queued. Returns `false`, queueing nothing, if the queue would exceed
    /// `limit` bytes.
    pub fn send(&mut self, data: &[u8], limit: usize, now: Instant) -> io::Result<bool> {
        if data.is_empty() {
            return Ok(true);
        }
        let mut rest = data;
        if self.out.is_empty() {
            let n = self.write_now(rest, now)?;
            rest = &rest[n..];
        }
        if rest.is_empty() {
            return Ok(true);
        }
        if self.out.len() + rest.len() > limit {
            return Ok(false);
        }
        self.out.push(rest);
        Ok(true)
    }

    /// Writes the queue until it is empty or the kernel pushes back; then
    /// performs a pending shutdown.
    pub fn flush(&mut self, now: Instant) -> io::Result<()> {
        while !self.out.is_empty() && self.writable {
            let n = {
                let front = self.out.front();
                let n = write_some(&mut self.stream, front, &mut self.writable)?;
                if n > 0 {
                    self.sent += n as u64;
                    self.last_active = now;
                }
                n
            };
            if n == 0 {
                break;
            }
            self.out.consume(n);
        }
        if self.out.is_empty() && self.write_side == WriteSide::ShutdownPending {
            self.write_side = WriteSide::Shut;
            match self.stream.shutdown_write() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Half-closes once everything queued is sent.
    pub fn shutdown_write(&mut self, now: Instant) -> io::Result<()> {
        if self.write_side == WriteSide::Open {
            self.write_side = WriteSide::ShutdownPending;
        }
        self.flush(now)
    }

    fn write_now(&mut self, data: &[u8], now: Instant) -> io::Result<usize> {
        if !self.writable {
            return Ok(0);
        }
        let mut done = 0;
        while done < data.len() {
            let n = write_some(&mut self.stream, &data[done..], &mut self.writable)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        if done > 0 {
            self.sent += done as u64;
            self.last_active = now;
        }
        Ok(done)
    }
}

/// One write; 0 and `writable = false` on WouldBlock.
fn write_some<S: Stream>(stream: &mut S, data: &[u8], writable: &mut bool) -> io::Result<usize> {
    loop {
        match stream.write(data) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *writable = false;
                return Ok(0);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbuf_queues_and_compacts() {
        let mut q = OutBuf::default();
        q.push(b"hello ");
        q.push(b"world");
        assert_eq!(q.front(), b"hello world");
        q.consume(6);
        assert_eq!(q.front(), b"world");
        q.push(b"!");
        assert_eq!(q.front(), b"world!");
        q.consume(6);
        assert!(q.is_empty());
        assert_eq!(q.front(), b"");
    }

    #[test]
    fn outbuf_gives_memory_back_when_drained() {
        let mut q = OutBuf::default();
        q.push(&vec![0u8; 1 << 20]);
        q.consume(1 << 20);
        assert!(q.buf.capacity() <= KEEP_CAPACITY);
    }

    /// A connected pair of `Conn`s: (client, accepted).
    fn pair() -> (Conn, Conn) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let a = std::net::TcpStream::connect(addr).unwrap();
        let (b, peer) = listener.accept().unwrap();
        let now = Instant::now();
        let local = a.local_addr().unwrap();
        let a = Conn::new(TcpStream::from_std(a), addr, local, now);
        let b = Conn::new(TcpStream::from_std(b), peer, addr, now);
        (a, b)
    }

    #[test]
    fn bytes_acked_counts_data_from_the_start_on_both_sides() {
        let (mut a, mut b) = pair();
        let base_a = a.bytes_acked().expect("TCP_INFO");
        let base_b = b.bytes_acked().expect("TCP_INFO");
        let now = Instant::now();
        assert!(a.send(&[1; 1000], usize::MAX, now).unwrap());
        assert!(b.send(&[2; 300], usize::MAX, now).unwrap());
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let (da, db) = (
                a.bytes_acked().unwrap() - base_a,
                b.bytes_acked().unwrap() - base_b,
            );
            assert!(da <= 1000 && db <= 300, "{da} {db}");
            if (da, db) == (1000, 300) {
                break;
            }
            assert!(Instant::now() < deadline, "acked {da} and {db}");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn short_writes_are_queued_and_limit_is_enforced() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let std_stream = std::net::TcpStream::connect(addr).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        std_stream.set_nonblocking(true).unwrap();
        let local = std_stream.local_addr().unwrap();
        let now = Instant::now();
        let mut conn = Conn::new(TcpStream::from_std(std_stream), addr, local, now);
        // Nobody reads the peer: the kernel fills up, then the queue, then the limit.
        let chunk = vec![7u8; 1 << 20];
        let mut accepted = 0usize;
        while conn.send(&chunk, 4 << 20, now).unwrap() {
            accepted += chunk.len();
            assert!(accepted < 1 << 30, "kernel never pushed back");
        }
        assert!(conn.queued() > 0);
        assert!(conn.queued() <= 4 << 20);
        assert_eq!(conn.sent as usize + conn.queued(), accepted);
    }
}
