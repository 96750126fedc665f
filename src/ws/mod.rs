//! `netkit ws connect | listen`: WebSocket client and server on the reactor,
//! around the sans-IO protocol in [`crate::proto::ws`].

mod client;
pub(crate) mod server;

use std::time::Duration;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::cli::WsCommand;
use crate::error::{Error, Exit, Result};
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

pub fn run(cmd: WsCommand, out: &mut Output) -> anyhow::Result<Exit> {
    match cmd {
        WsCommand::Connect(args) => client::run(
            crate::config::ws_connect::WsConnectConfig::from_args(args, out.is_json())?,
            out,
        ),
        WsCommand::Listen(args) => {
            let config = crate::config::ws_listen::WsListenConfig::from_args(args)?;
            Ok(server::run(config, out)?)
        }
    }
}

/// `N` random bytes from the kernel (getrandom, through ring), for what
/// must be unpredictable on its own: handshake keys and the mask generator's
/// key. A kernel that cannot give them is an error, never zeros.
pub(crate) fn os_random<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).map_err(|_| {
        Error::failed(
            "random numbers",
            "the kernel's random source (getrandom) failed",
        )
    })?;
    Ok(out)
}

/// Frame masks: the ChaCha20 keystream under a key from the kernel, made
/// 4 KiB at a time (a fresh nonce each time), so every client frame gets an
/// unpredictable mask without a system call per frame.
pub(crate) struct Entropy {
    key: LessSafeKey,
    nonce: u64,
    pool: [u8; 4096],
    used: usize,
}

impl Entropy {
    pub fn new() -> Result<Entropy> {
        Entropy::with_key(os_random::<32>()?)
    }

    fn with_key(key: [u8; 32]) -> Result<Entropy> {
        let key = UnboundKey::new(&CHACHA20_POLY1305, &key)
            .map_err(|_| Error::failed("random numbers", "cannot key ChaCha20"))?;
        let mut e = Entropy {
            key: LessSafeKey::new(key),
            nonce: 0,
            pool: [0; 4096],
            used: 4096,
        };
        e.refill();
        Ok(e)
    }

    fn refill(&mut self) {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.nonce.to_be_bytes());
        self.nonce += 1;
        self.pool = [0; 4096];
        // Sealing zeros leaves the keystream in the pool (the tag is not
        // needed). ok: sealing fails only past 256 GiB, and this is 4 KiB.
        let _ = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut self.pool,
        );
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
    fn keys_come_from_the_kernel_and_differ() {
        let a: [u8; 16] = os_random().unwrap();
        let b: [u8; 16] = os_random().unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0; 16]);
    }

    #[test]
    fn masks_are_a_keystream_not_zeros_and_differ_per_key() {
        let mut a = Entropy::with_key([1; 32]).unwrap();
        let mut b = Entropy::with_key([2; 32]).unwrap();
        let xs: Vec<[u8; 4]> = (0..3000).map(|_| a.mask()).collect();
        let ys: Vec<[u8; 4]> = (0..3000).map(|_| b.mask()).collect();
        assert_ne!(xs, ys);
        assert!(xs.iter().filter(|m| **m == [0; 4]).count() < 3, "zeros");
        // Past one pool (1024 masks) the stream goes on, not over again.
        assert_ne!(xs[..1000], xs[1024..2024]);
        let mut again = Entropy::with_key([1; 32]).unwrap();
        let zs: Vec<[u8; 4]> = (0..3000).map(|_| again.mask()).collect();
        assert_eq!(xs, zs, "the stream is the key's");
    }

    #[test]
    fn masks_differ() {
        let mut e = Entropy::new().unwrap();
        let masks: Vec<[u8; 4]> = (0..5000).map(|_| e.mask()).collect();
        let distinct: std::collections::HashSet<_> = masks.iter().collect();
        assert!(distinct.len() > 4900, "{} distinct of 5000", distinct.len());
    }
}
