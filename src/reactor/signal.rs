//! SIGINT as a readiness event.
//!
//! The signal handler (signal-hook's pipe action, async-signal-safe) writes a
//! byte into a socket pair whose other end is registered with the poll, so
//! Ctrl-C arrives in the loop like any other event and the driver can close
//! its connections gracefully before exiting with 130.

use std::io::{self, Read};
use std::os::unix::net::UnixStream as StdUnixStream;

use mio::net::UnixStream;
use mio::{Interest, Registry, Token};

pub struct Signals {
    rx: UnixStream,
}

impl Signals {
    /// Routes SIGINT to `token`.
    pub fn new(registry: &Registry, token: Token) -> io::Result<Signals> {
        let (tx, rx) = StdUnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, tx)?;
        let mut rx = UnixStream::from_std(rx);
        registry.register(&mut rx, token, Interest::READABLE)?;
        Ok(Signals { rx })
    }

    /// Drains pending notifications; true if a signal arrived.
    pub fn take(&mut self) -> bool {
        let mut buf = [0u8; 64];
        let mut got = false;
        loop {
            match self.rx.read(&mut buf) {
                Ok(0) => return got,
                Ok(_) => got = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return got,
            }
        }
    }
}
