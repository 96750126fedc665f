//! A read buffer with a consumed front: bytes arrive at the end, a decoder
//! takes them from the front, and the unread rest moves to the start only
//! when the end runs out of room.

/// Fixed-capacity receive buffer.
#[derive(Debug)]
pub struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ReadBuf {
    /// A buffer of `capacity` bytes.
    pub fn new(capacity: usize) -> ReadBuf {
        ReadBuf {
            buf: vec![0; capacity],
            start: 0,
            end: 0,
        }
    }

    /// Bytes received, not yet consumed.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` bytes at the front as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Room to read into (empty only when the unread bytes fill the buffer).
    pub fn spare(&mut self) -> &mut [u8] {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Records that `n` bytes were read into [`ReadBuf::spare`].
    pub fn filled(&mut self, n: usize) {
        self.end = (self.end + n).min(self.buf.len());
    }

    /// Appends bytes (they must fit).
    pub fn extend(&mut self, data: &[u8]) {
        let spare = self.spare();
        let n = data.len().min(spare.len());
        spare[..n].copy_from_slice(&data[..n]);
        self.filled(n);
    }

    /// Takes the unread bytes out.
    pub fn take(&mut self) -> Vec<u8> {
        let rest = self.data().to_vec();
        self.start = 0;
        self.end = 0;
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_consume_compact() {
        let mut b = ReadBuf::new(8);
        b.spare()[..5].copy_from_slice(b"hello");
        b.filled(5);
        assert_eq!(b.data(), b"hello");
        b.consume(3);
        assert_eq!(b.data(), b"lo");
        assert_eq!(b.spare().len(), 3);
        b.extend(b"abc");
        assert_eq!(b.data(), b"loabc");
        // The end is reached: the unread bytes move to the front.
        assert_eq!(b.spare().len(), 3);
        assert_eq!(b.data(), b"loabc");
        assert_eq!(b.take(), b"loabc");
        assert!(b.is_empty());
        assert_eq!(b.spare().len(), 8);
    }
}
