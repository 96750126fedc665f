//! `netkit ws connect | listen`: WebSocket client and server on the reactor,
//! around the sans-IO protocol in [`crate::proto::ws`].

mod client;
mod server;

use std::io::Read as _;
use std::time::Duration;

use crate::cli::WsCommand;
use crate::error::{Exit, Result};
use crate::output::Output;
use crate::proto::ws::session::MaskSource;

/// Read buffer per connection.
pub(crate) const READ_BUF: usize = 256 * 1024;
/// Stdin (or a relay) is read only while less than this waits to be sent.
pub(crate) const HIGH_WATER: usize = 256 * 1024;
/// How long our Close may go unanswered.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How long a client waits for the server to close TCP after the close handshake.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

pub fn run(cmd: WsCommand, out: &mut Output) -> Result<Exit> {
    match cmd {
        WsCommand::Connect(args) => client::run(args, out),
        WsCommand::Listen(args) => server::run(args, out),
    }
}

/// Random bytes from the kernel, fetched 4 KiB at a time: handshake keys and
/// a fresh, unpredictable mask for every client frame, at one system call per
/// thousand frames.
pub(crate) struct Entropy {
    pool: [u8; 4096],
    used: usize,
}

impl Entropy {
    pub fn new() -> Entropy {
        let mut e = Entropy {
            pool: [0; 4096],
            used: 4096,
        };
        e.refill();
        e
    }

    fn refill(&mut self) {
        let mut filled = 0;
        while filled < self.pool.len() {
            let rest = &mut self.pool[filled..];
            // SAFETY: `rest` is valid for writes of its length.
            let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if n > 0 {
                filled += n as usize;
                continue;
            }
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // No getrandom: the same kernel source through the device.
            if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
                if f.read_exact(rest).is_ok() {
                    break;
                }
            }
            break;
        }
        self.used = 0;
    }

    pub fn bytes<const N: usize>(&mut self) -> [u8; N] {
        if self.used + N > self.pool.len() {
            self.refill();
        }
        let mut out = [0u8; N];
        out.copy_from_slice(&self.pool[self.used..self.used + N]);
        self.used += N;
        out
    }
}

impl MaskSource for Entropy {
    fn mask(&mut self) -> [u8; 4] {
        self.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_differ() {
        let mut e = Entropy::new();
        let masks: Vec<[u8; 4]> = (0..5000).map(|_| e.mask()).collect();
        let distinct: std::collections::HashSet<_> = masks.iter().collect();
        assert!(distinct.len() > 4900, "{} distinct of 5000", distinct.len());
    }
}
