//! `--compressed`: response bodies in gzip, deflate, br or zstd decoded as
//! they stream, in bounded memory: compressed input goes in by small slices
//! and the output of each is handed on before the next, so a decompression
//! bomb never sits in memory, and `--max-filesize` stops it as soon as the
//! decoded size passes the limit.

use std::io::{self, Write};

/// What curl sends with `--compressed`.
pub const ACCEPT_ENCODING: &str = "deflate, gzip, br, zstd";

/// Compressed input per step: deflate expands at most ~1032:1, so one step
/// yields at most about 1 MiB.
const STEP: usize = 1024;

/// Largest zstd window accepted (2^27 = 128 MiB is the decoder's own
/// default; 2^24 keeps the decoder's memory at 16 MiB, brotli's own bound).
const ZSTD_WINDOW_LOG_MAX: u32 = 24;

/// A content coding netkit decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Gzip,
    Deflate,
    Br,
    Zstd,
}

impl Coding {
    /// The coding of a `Content-Encoding` value: `Ok(None)` for identity,
    /// `Err(name)` for one netkit does not know (or a list of several).
    pub fn of(value: &str) -> Result<Option<Coding>, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Coding::Gzip)),
            "deflate" => Ok(Some(Coding::Deflate)),
            "br" => Ok(Some(Coding::Br)),
            "zstd" => Ok(Some(Coding::Zstd)),
            other => Err(other.to_string()),
        }
    }
}

/// Why decoding stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The decoded body passed `--max-filesize`.
    TooLarge(u64),
    /// The compressed data is corrupt or truncated.
    Corrupt(String),
}

/// Collects one step's output; refuses to grow past the limit.
struct Out {
    buf: Vec<u8>,
    total: u64,
    limit: u64,
}

impl Write for Out {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.total.saturating_add(data.len() as u64) > self.limit {
            return Err(io::Error::other(LimitReached));
        }
        self.total += data.len() as u64;
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The decoded body reached its limit: the writer's own error, told apart
/// from a corrupt stream by its type (the decoders pass it through).
#[derive(Debug)]
struct LimitReached;

impl std::fmt::Display for LimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decoded size limit")
    }
}

impl std::error::Error for LimitReached {}

enum Inner {
    Gzip(flate2::write::GzDecoder<Out>),
    Zlib(flate2::write::ZlibDecoder<Out>),
    Raw(flate2::write::DeflateDecoder<Out>),
    Br(Box<brotli_decompressor::DecompressorWriter<Out>>),
    Zstd(zstd::stream::write::Decoder<'static, Out>),
    /// `deflate` before its first byte tells zlib from raw deflate.
    Pending,
}

/// A streaming decoder for one body.
pub struct ContentDecoder {
    coding: Coding,
    inner: Inner,
    limit: u64,
    fed: bool,
}

impl ContentDecoder {
    /// `limit`: most decoded bytes (`--max-filesize`), `u64::MAX` for none.
    pub fn new(coding: Coding, limit: u64) -> Result<ContentDecoder, DecodeError> {
        let out = || Out {
            buf: Vec::new(),
            total: 0,
            limit,
        };
        let inner = match coding {
            Coding::Gzip => Inner::Gzip(flate2::write::GzDecoder::new(out())),
            Coding::Deflate => Inner::Pending,
            Coding::Br => Inner::Br(Box::new(brotli_decompressor::DecompressorWriter::new(
                out(),
                4096,
            ))),
            Coding::Zstd => {
                let mut d = zstd::stream::write::Decoder::new(out())
                    .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
                d.window_log_max(ZSTD_WINDOW_LOG_MAX)
                    .map_err(|e| DecodeError::Corrupt(e.to_string()))?;
                Inner::Zstd(d)
            }
        };
        Ok(ContentDecoder {
            coding,
            inner,
            limit,
            fed: false,
        })
    }

    pub fn coding(&self) -> Coding {
        self.coding
    }

    fn out(&mut self) -> Option<&mut Out> {
        Some(match &mut self.inner {
            Inner::Gzip(d) => d.get_mut(),
            Inner::Zlib(d) => d.get_mut(),
            Inner::Raw(d) => d.get_mut(),
            Inner::Br(d) => d.get_mut(),
            Inner::Zstd(d) => d.get_mut(),
            Inner::Pending => return None,
        })
    }

    fn error(&self, e: &io::Error) -> DecodeError {
        if e.get_ref().is_some_and(|inner| inner.is::<LimitReached>()) {
            DecodeError::TooLarge(self.limit)
        } else {
            DecodeError::Corrupt(format!("{}: {e}", self.name()))
        }
    }

    fn name(&self) -> &'static str {
        match self.coding {
            Coding::Gzip => "gzip",
            Coding::Deflate => "deflate",
            Coding::Br => "br",
            Coding::Zstd => "zstd",
        }
    }

    /// Feeds compressed bytes; decoded ones go to `sink` as they come.
    pub fn feed<E>(
        &mut self,
        data: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Result<DecodeError, E>> {
        if data.is_empty() {
            return Ok(());
        }
        self.fed = true;
        if matches!(self.inner, Inner::Pending) {
            let out = Out {
                buf: Vec::new(),
                total: 0,
                limit: self.limit,
            };
            // A zlib header: CM 8, and the two bytes a multiple of 31; a
            // server sending raw deflate (as some do) has neither. One byte
            // is enough to rule out zlib (CM); two settle it.
            let zlib = data[0] & 0x0f == 8
                && data
                    .get(1)
                    .is_none_or(|f| (u16::from(data[0]) * 256 + u16::from(*f)) % 31 == 0);
            self.inner = if zlib {
                Inner::Zlib(flate2::write::ZlibDecoder::new(out))
            } else {
                Inner::Raw(flate2::write::DeflateDecoder::new(out))
            };
        }
        for step in data.chunks(STEP) {
            let r = match &mut self.inner {
                Inner::Gzip(d) => d.write_all(step),
                Inner::Zlib(d) => d.write_all(step),
                Inner::Raw(d) => d.write_all(step),
                Inner::Br(d) => d.write_all(step),
                Inner::Zstd(d) => d.write_all(step),
                Inner::Pending => Ok(()),
            };
            if let Err(e) = r {
                return Err(Ok(self.error(&e)));
            }
            self.drain(sink)?;
        }
        Ok(())
    }

    fn drain<E>(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Result<DecodeError, E>> {
        if let Some(out) = self.out() {
            if !out.buf.is_empty() {
                let buf = std::mem::take(&mut out.buf);
                sink(&buf).map_err(Err)?;
                if let Some(out) = self.out() {
                    out.buf = buf;
                    out.buf.clear();
                }
            }
        }
        Ok(())
    }

    /// The body ended: the rest of the output, and an error if the
    /// compressed stream was cut short.
    pub fn finish<E>(
        &mut self,
        sink: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), Result<DecodeError, E>> {
        if !self.fed {
            return Ok(());
        }
        let r = match &mut self.inner {
            Inner::Gzip(d) => d.try_finish(),
            Inner::Zlib(d) => d.try_finish(),
            Inner::Raw(d) => d.try_finish(),
            // close() tells a cut-short stream (flush() does not).
            Inner::Br(d) => d.close(),
            Inner::Zstd(d) => d.flush(),
            Inner::Pending => Ok(()),
        };
        if let Err(e) = r {
            return Err(Ok(self.error(&e)));
        }
        self.drain(sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn decode(
        coding: Coding,
        data: &[u8],
        limit: u64,
        piece: usize,
    ) -> Result<Vec<u8>, DecodeError> {
        let mut d = ContentDecoder::new(coding, limit)?;
        let mut out = Vec::new();
        let mut sink = |b: &[u8]| -> Result<(), ()> {
            out.extend_from_slice(b);
            Ok(())
        };
        for p in data.chunks(piece.max(1)) {
            d.feed(p, &mut sink).map_err(|e| e.unwrap())?;
        }
        d.finish(&mut sink).map_err(|e| e.unwrap())?;
        Ok(out)
    }

    #[test]
    fn codings_by_name() {
        assert_eq!(Coding::of("GZIP"), Ok(Some(Coding::Gzip)));
        assert_eq!(Coding::of(" br "), Ok(Some(Coding::Br)));
        assert_eq!(Coding::of("identity"), Ok(None));
        assert_eq!(Coding::of("compress"), Err("compress".into()));
        assert_eq!(Coding::of("gzip, br"), Err("gzip, br".into()));
    }

    #[test]
    fn every_coding_whole_and_byte_by_byte() {
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| i.to_string().into_bytes())
            .collect();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&text).unwrap();
        let zlib = z.finish().unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(&text).unwrap();
        let raw = r.finish().unwrap();
        let zst = zstd::stream::encode_all(&text[..], 3).unwrap();
        // A brotli stream of one uncompressed meta-block: "hello".
        let br = [0x40, 0x00, 0x10, b'h', b'e', b'l', b'l', b'o', 0x03];
        for piece in [1, 7, 100_000] {
            assert_eq!(
                decode(Coding::Gzip, &gzip(&text), u64::MAX, piece).unwrap(),
                text
            );
            assert_eq!(
                decode(Coding::Deflate, &zlib, u64::MAX, piece).unwrap(),
                text
            );
            assert_eq!(
                decode(Coding::Deflate, &raw, u64::MAX, piece).unwrap(),
                text
            );
            assert_eq!(decode(Coding::Zstd, &zst, u64::MAX, piece).unwrap(), text);
            assert_eq!(decode(Coding::Br, &br, u64::MAX, piece).unwrap(), b"hello");
        }
    }

    /// Every decoder passes the limit through as the typed error.
    #[test]
    fn every_coding_stops_at_the_limit() {
        let zeros = vec![0u8; 4 << 20];
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&zeros).unwrap();
        let zlib = z.finish().unwrap();
        let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        r.write_all(&zeros).unwrap();
        let raw = r.finish().unwrap();
        let zst = zstd::stream::encode_all(&zeros[..], 3).unwrap();
        for (coding, data) in [
            (Coding::Gzip, gzip(&zeros)),
            (Coding::Deflate, zlib),
            (Coding::Deflate, raw),
            (Coding::Zstd, zst),
        ] {
            for piece in [4096, 1 << 20] {
                assert_eq!(
                    decode(coding, &data, 1 << 20, piece),
                    Err(DecodeError::TooLarge(1 << 20)),
                    "{coding:?}"
                );
            }
        }
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 16 << 20];
        let bomb = gzip(&zeros);
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        assert_eq!(
            decode(Coding::Gzip, &bomb, 1 << 20, 1 << 20),
            Err(DecodeError::TooLarge(1 << 20))
        );
        assert_eq!(
            decode(Coding::Gzip, &bomb, 16 << 20, 4096).unwrap().len(),
            16 << 20
        );
    }

    #[test]
    fn garbage_and_truncation_are_errors_not_panics() {
        let br = [0x40, 0x00, 0x10, b'h', b'e', b'l', b'l', b'o', 0x03];
        assert!(matches!(
            decode(Coding::Br, &br[..6], u64::MAX, 1),
            Err(DecodeError::Corrupt(_))
        ));
        let g = gzip(b"hello hello hello");
        assert!(matches!(
            decode(Coding::Gzip, &g[..g.len() - 4], u64::MAX, 3),
            Err(DecodeError::Corrupt(_))
        ));
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Br, Coding::Zstd] {
            let junk: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
            let _ = decode(coding, &junk, 1 << 20, 13);
        }
        assert_eq!(decode(Coding::Gzip, b"", u64::MAX, 1).unwrap(), b"");
    }
}
