//! A bounded line splitter: bytes in, complete lines out.
//!
//! Used wherever a byte stream is read as lines: the chat rooms, the server
//! console, `udp send` and `ws connect` stdin lines. A line ends at `\n`; a
//! `\r` before it is dropped. A line longer than the limit is cut at the
//! limit and reported as a line of its own, so a peer that never sends `\n`
//! cannot make the buffer grow past `max` bytes.

/// Splits a stream into lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    max: usize,
    /// The last line was cut at `max`: a `\n` right after it ends nothing.
    just_cut: bool,
}

impl LineSplitter {
    pub fn new(max: usize) -> LineSplitter {
        LineSplitter {
            buf: Vec::new(),
            max: max.max(1),
            just_cut: false,
        }
    }

    /// Feeds `data`, calling `line` for every complete line (without the end
    /// of line).
    pub fn push(&mut self, mut data: &[u8], mut line: impl FnMut(&[u8])) {
        while !data.is_empty() {
            if std::mem::take(&mut self.just_cut) && data[0] == b'\n' {
                data = &data[1..];
                continue;
            }
            let room = self.max - self.buf.len();
            let window = &data[..data.len().min(room)];
            match memchr(window) {
                Some(i) => {
                    if self.buf.is_empty() {
                        line(trim_cr(&window[..i]));
                    } else {
                        self.buf.extend_from_slice(&window[..i]);
                        line(trim_cr(&self.buf));
                        self.buf.clear();
                    }
                    data = &data[i + 1..];
                }
                None => {
                    self.buf.extend_from_slice(window);
                    data = &data[window.len()..];
                    if self.buf.len() == self.max {
                        line(&self.buf);
                        self.buf.clear();
                        self.just_cut = true;
                    }
                }
            }
        }
    }

    /// The unterminated rest at end of stream, if any.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        if self.buf.is_empty() {
            None
        } else {
            let mut rest = std::mem::take(&mut self.buf);
            if rest.last() == Some(&b'\r') {
                rest.pop();
            }
            Some(rest)
        }
    }

    /// Bytes held waiting for an end of line.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

fn memchr(haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == b'\n')
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_whole(input: &[u8], max: usize) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        s.push(input, |l| out.push(l.to_vec()));
        (out, s.finish())
    }

    fn split_bytewise(input: &[u8], max: usize) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for b in input {
            s.push(std::slice::from_ref(b), |l| out.push(l.to_vec()));
        }
        (out, s.finish())
    }

    #[test]
    fn table() {
        // (input, max, lines, unterminated rest)
        type Case<'a> = (&'a [u8], usize, &'a [&'a [u8]], Option<&'a [u8]>);
        let cases: &[Case] = &[
            (b"", 10, &[], None),
            (b"a\n", 10, &[b"a"], None),
            (b"a\r\nb\n", 10, &[b"a", b"b"], None),
            (b"\n\n", 10, &[b"", b""], None),
            (b"abc", 10, &[], Some(b"abc")),
            (b"abc\r", 10, &[], Some(b"abc")),
            (b"abcdef\n", 4, &[b"abcd", b"ef"], None),
            (b"abcd\n", 4, &[b"abcd"], None),
            (b"abcd\n\n", 4, &[b"abcd", b""], None),
            (b"hello world", 5, &[b"hello", b" worl"], Some(b"d")),
        ];
        for (input, max, lines, rest) in cases {
            let want: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
            let want_rest = rest.map(|r| r.to_vec());
            assert_eq!(
                split_whole(input, *max),
                (want.clone(), want_rest.clone()),
                "whole {input:?}"
            );
            assert_eq!(
                split_bytewise(input, *max),
                (want, want_rest),
                "bytewise {input:?}"
            );
        }
    }

    #[test]
    fn never_holds_more_than_max() {
        let mut s = LineSplitter::new(8);
        let mut n = 0;
        for _ in 0..1000 {
            s.push(b"xxx", |_| n += 1);
            assert!(s.pending() <= 8);
        }
        assert_eq!(n, 375);
    }
}
