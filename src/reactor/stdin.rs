//! Standard input, bridged into the event loop.
//!
//! epoll accepts pipes, sockets and terminals but refuses regular files and
//! `/dev/null`, and a terminal's file description is shared with the shell
//! (making it non-blocking would break the shell after we exit). So:
//!
//! * a pipe or a socket is made non-blocking and registered directly (its
//!   flags are restored on drop): the fast path, no copy, no thread;
//! * a terminal, a regular file, `/dev/null` or any other device is read by a
//!   helper thread that hands chunks over a bounded channel (four chunks of
//!   64 KiB) and wakes the loop with a `mio::Waker`;
//! * a closed fd 0 reads as an immediate EOF.

use std::io;
use std::os::fd::RawFd;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token, Waker};

pub use super::conn::Read;

const FD: RawFd = 0;
const CHUNK: usize = 64 * 1024;
const CHANNEL_CHUNKS: usize = 4;

/// What fd 0 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tty,
    Pipe,
    Socket,
    File,
    /// `/dev/null` and other character devices that are not terminals.
    Device,
    Closed,
}

impl Kind {
    pub fn detect() -> Kind {
        // SAFETY: fstat writes into the zeroed struct we pass.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(FD, &mut st) } != 0 {
            return Kind::Closed;
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => Kind::Pipe,
            libc::S_IFSOCK => Kind::Socket,
            libc::S_IFREG => Kind::File,
            libc::S_IFCHR if unsafe { libc::isatty(FD) } == 1 => Kind::Tty,
            _ => Kind::Device,
        }
    }
}

enum Source {
    Direct {
        saved_flags: libc::c_int,
    },
    Thread {
        rx: Receiver<io::Result<Vec<u8>>>,
        chunk: Vec<u8>,
        pos: usize,
        _waker: Arc<Waker>,
    },
    Done,
}

/// Stdin as a readiness source.
pub struct Stdin {
    kind: Kind,
    source: Source,
    readable: bool,
    pub eof: bool,
}

impl Stdin {
    /// Starts watching stdin; its readiness arrives on `token`.
    pub fn open(registry: &Registry, token: Token) -> io::Result<Stdin> {
        let kind = Kind::detect();
        let source = match kind {
            Kind::Closed => Source::Done,
            Kind::Pipe | Kind::Socket => {
                // SAFETY: plain fcntl calls on fd 0.
                let saved_flags = unsafe { libc::fcntl(FD, libc::F_GETFL) };
                if saved_flags < 0 {
                    return Err(io::Error::last_os_error());
                }
                if unsafe { libc::fcntl(FD, libc::F_SETFL, saved_flags | libc::O_NONBLOCK) } < 0 {
                    return Err(io::Error::last_os_error());
                }
                registry.register(&mut SourceFd(&FD), token, Interest::READABLE)?;
                Source::Direct { saved_flags }
            }
            Kind::Tty | Kind::File | Kind::Device => {
                let waker = Arc::new(Waker::new(registry, token)?);
                let (tx, rx) = mpsc::sync_channel(CHANNEL_CHUNKS);
                let thread_waker = Arc::clone(&waker);
                thread::Builder::new()
                    .name("stdin".into())
                    .spawn(move || reader_thread(tx, &thread_waker))?;
                Source::Thread {
                    rx,
                    chunk: Vec::new(),
                    pos: 0,
                    _waker: waker,
                }
            }
        };
        let eof = matches!(source, Source::Done);
        Ok(Stdin {
            kind,
            source,
            readable: true,
            eof,
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Records a readiness event.
    pub fn ready(&mut self) {
        self.readable = true;
    }

    /// Whether a read may make progress now.
    pub fn can_read(&self) -> bool {
        self.readable && !self.eof
    }

    /// One read into `buf`.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<Read> {
        if self.eof {
            return Ok(Read::Eof);
        }
        if !self.readable {
            return Ok(Read::WouldBlock);
        }
        let result = match &mut self.source {
            Source::Done => Ok(Read::Eof),
            Source::Direct { .. } => loop {
                // SAFETY: `buf` is valid for writes of its length.
                let n = unsafe { libc::read(FD, buf.as_mut_ptr().cast(), buf.len()) };
                if n > 0 {
                    break Ok(Read::Data(n as usize));
                }
                if n == 0 {
                    break Ok(Read::Eof);
                }
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => break Ok(Read::WouldBlock),
                    _ => break Err(e),
                }
            },
            Source::Thread { rx, chunk, pos, .. } => {
                if *pos >= chunk.len() {
                    match rx.try_recv() {
                        Ok(Ok(next)) => {
                            *chunk = next;
                            *pos = 0;
                        }
                        Ok(Err(e)) => return Err(e),
                        Err(TryRecvError::Empty) => {
                            self.readable = false;
                            return Ok(Read::WouldBlock);
                        }
                        Err(TryRecvError::Disconnected) => {
                            self.eof = true;
                            return Ok(Read::Eof);
                        }
                    }
                }
                let n = buf.len().min(chunk.len() - *pos);
                buf[..n].copy_from_slice(&chunk[*pos..*pos + n]);
                *pos += n;
                Ok(Read::Data(n))
            }
        };
        match result {
            Ok(Read::Eof) => {
                self.eof = true;
                self.close();
            }
            Ok(Read::WouldBlock) => self.readable = false,
            _ => {}
        }
        result
    }

    /// Stops reading stdin (restores its flags).
    pub fn close(&mut self) {
        if let Source::Direct { saved_flags } = self.source {
            // SAFETY: restoring the flags we read at open.
            unsafe { libc::fcntl(FD, libc::F_SETFL, saved_flags) };
        }
        self.source = Source::Done;
        self.eof = true;
    }
}

impl Drop for Stdin {
    fn drop(&mut self) {
        self.close();
    }
}

fn reader_thread(tx: SyncSender<io::Result<Vec<u8>>>, waker: &Waker) {
    loop {
        let mut chunk = vec![0u8; CHUNK];
        // SAFETY: `chunk` is valid for writes of its length.
        let n = unsafe { libc::read(FD, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n == 0 {
            break;
        }
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            let _ = tx.send(Err(e));
            break;
        }
        chunk.truncate(n as usize);
        if tx.send(Ok(chunk)).is_err() {
            return;
        }
        let _ = waker.wake();
    }
    drop(tx);
    let _ = waker.wake();
}
