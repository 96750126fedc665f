//! Streaming UTF-8 validation that fails at the first impossible byte.
//!
//! A text message arrives in frames, frames in reads: the validator keeps the
//! state of a character split across chunks and rejects a sequence as soon
//! as a byte rules it out (an overlong form, a surrogate, a code point above
//! U+10FFFF, a stray continuation), not at the end of the message. Whole
//! runs of complete characters go through the standard library's fast
//! validator; only the ragged edges are walked byte by byte.

/// Validator state: how many continuation bytes are still owed, and the
/// range the next one must fall in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    need: u8,
    lo: u8,
    hi: u8,
}

/// The input can never become valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl Utf8Validator {
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Whether the text so far ends on a character boundary.
    pub fn is_complete(&self) -> bool {
        self.need == 0
    }

    /// Validates the next chunk.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), InvalidUtf8> {
        // Finish a character left open by the previous chunk.
        while self.need > 0 {
            let Some((&b, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.step(b)?;
            bytes = rest;
        }
        match std::str::from_utf8(bytes) {
            Ok(_) => Ok(()),
            Err(e) => {
                if e.error_len().is_some() {
                    return Err(InvalidUtf8);
                }
                // An incomplete character at the end: remember its state.
                for &b in &bytes[e.valid_up_to()..] {
                    self.step(b)?;
                }
                Ok(())
            }
        }
    }

    fn step(&mut self, b: u8) -> Result<(), InvalidUtf8> {
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                return Err(InvalidUtf8);
            }
            self.need -= 1;
            self.lo = 0x80;
            self.hi = 0xBF;
            return Ok(());
        }
        let (need, lo, hi) = match b {
            0x00..=0x7F => return Ok(()),
            0xC2..=0xDF => (1, 0x80, 0xBF),
            0xE0 => (2, 0xA0, 0xBF),
            0xE1..=0xEC | 0xEE..=0xEF => (2, 0x80, 0xBF),
            0xED => (2, 0x80, 0x9F),
            0xF0 => (3, 0x90, 0xBF),
            0xF1..=0xF3 => (3, 0x80, 0xBF),
            0xF4 => (3, 0x80, 0x8F),
            _ => return Err(InvalidUtf8),
        };
        *self = Utf8Validator { need, lo, hi };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Result<bool, InvalidUtf8> {
        let mut v = Utf8Validator::new();
        v.feed(bytes)?;
        Ok(v.is_complete())
    }

    fn bytewise(bytes: &[u8]) -> Result<bool, InvalidUtf8> {
        let mut v = Utf8Validator::new();
        for b in bytes {
            v.feed(std::slice::from_ref(b))?;
        }
        Ok(v.is_complete())
    }

    #[test]
    fn agrees_with_std_on_many_inputs() {
        let samples: &[&[u8]] = &[
            b"hello",
            "κόσμε".as_bytes(),
            "☃ snow ☃".as_bytes(),
            "𝄞 music".as_bytes(),
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
            b"\xc0\x80",
            b"\xe0\x80\x80",
            b"\xf4\x90\x80\x80",
            b"\xed\xa0\x80",
            b"\x80",
            b"\xff",
            b"\xf8\x88\x80\x80\x80",
        ];
        for s in samples {
            let std_ok = std::str::from_utf8(s).is_ok();
            assert_eq!(whole(s) == Ok(true), std_ok, "whole {s:?}");
            assert_eq!(bytewise(s) == Ok(true), std_ok, "bytewise {s:?}");
        }
    }

    #[test]
    fn incomplete_is_not_an_error_until_the_end() {
        assert_eq!(whole(b"\xe2\x98"), Ok(false));
        assert_eq!(bytewise("☃".as_bytes()), Ok(true));
    }

    #[test]
    fn fails_at_the_first_impossible_byte() {
        // U+D800 (a surrogate) is ruled out by its second byte.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ok \xed"), Ok(()));
        assert_eq!(v.feed(b"\xa0"), Err(InvalidUtf8));
        // Above U+10FFFF: ruled out by the second byte.
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"\xf4"), Ok(()));
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
    }

    #[test]
    fn every_two_byte_prefix_matches_std() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let s = [a, b];
                let std_ok = std::str::from_utf8(&s).is_ok();
                assert_eq!(whole(&s) == Ok(true), std_ok, "{s:?}");
                // A prefix std calls incomplete must not be rejected.
                if let Err(e) = std::str::from_utf8(&s) {
                    if e.error_len().is_none() {
                        assert!(bytewise(&s).is_ok(), "{s:?}");
                    }
                }
            }
        }
    }
}
