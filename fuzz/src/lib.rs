//! Shared by the fuzz targets: how an input says where to split its data.
//!
//! Every target reads its input as
//!
//! ```text
//! [flags] [n] [size_1 .. size_n] [data ...]
//! ```
//!
//! (the flags byte only for targets that take one): `n % 16` chunk sizes
//! follow, each byte `b` meaning a read of `b + 1` bytes, used in turn and
//! cycled until the data is used up. `n = 0` feeds the data in one piece. So a
//! hand-made seed is `\x00` followed by the protocol bytes (or `\x00\x00`
//! after a flags byte), and the fuzzer mutates the split points along with
//! the data.
//!
//! [`proto`] is netkit's `src/proto`, compiled here by path: it is sans-IO and
//! needs nothing else from the crate, so the fuzz build skips netkit's
//! networking, TLS and CLI dependencies.

#[path = "../../src/proto/mod.rs"]
pub mod proto;

/// The chunk sizes an input asked for, and its data.
pub struct Split<'a> {
    pub sizes: Vec<usize>,
    pub data: &'a [u8],
}

impl<'a> Split<'a> {
    /// Reads `[n] [sizes] [data]` from `input`.
    pub fn parse(input: &'a [u8]) -> Split<'a> {
        let Some((&n, rest)) = input.split_first() else {
            return Split {
                sizes: Vec::new(),
                data: &[],
            };
        };
        let n = usize::from(n % 16).min(rest.len());
        Split {
            sizes: rest[..n].iter().map(|&b| usize::from(b) + 1).collect(),
            data: &rest[n..],
        }
    }

    /// The pieces the data arrives in, as the fuzzer chose them.
    pub fn chunks(&self) -> Vec<&'a [u8]> {
        pieces(self.data, &self.sizes)
    }
}

/// Cuts `data` into pieces of the given sizes, cycled (one piece if none).
pub fn pieces<'a>(data: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    if sizes.is_empty() {
        return vec![data];
    }
    let mut out = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < data.len() {
        let n = sizes[i % sizes.len()].min(data.len() - at);
        out.push(&data[at..at + n]);
        at += n;
        i += 1;
    }
    out
}

/// One byte at a time.
pub fn bytewise(data: &[u8]) -> Vec<&[u8]> {
    data.chunks(1).collect()
}

/// The ways a target feeds its data: whole, byte by byte (when that is
/// cheap enough: parsers that rescan a partial head are quadratic), and as
/// the fuzzer split it.
pub fn feeds<'a>(split: &Split<'a>, bytewise_limit: usize) -> Vec<(&'static str, Vec<&'a [u8]>)> {
    let mut out = vec![("whole", vec![split.data]), ("split", split.chunks())];
    if split.data.len() <= bytewise_limit {
        out.push(("bytewise", bytewise(split.data)));
    }
    out
}

/// A deterministic mask source for client sessions and encoders.
pub struct Masks(pub u32);

impl Masks {
    pub fn next_mask(&mut self) -> [u8; 4] {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0.to_be_bytes()
    }
}

impl proto::ws::session::MaskSource for Masks {
    fn mask(&mut self) -> [u8; 4] {
        self.next_mask()
    }
}

/// Reads structure from fuzz bytes; past the end every read is zero.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
