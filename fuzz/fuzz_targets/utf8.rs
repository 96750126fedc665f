//! The streaming UTF-8 validator against `std::str::from_utf8`.
//!
//! Input: `[n] [sizes] [bytes]`. Fed whole, byte by byte and split where
//! the fuzzer chose, the validator's verdict must be std's: valid (every
//! chunk accepted and complete at the end), incomplete (every chunk
//! accepted, not complete), or invalid. When invalid it must fail on the
//! chunk holding the first byte that rules the text out (the first `k` such
//! that `bytes[..=k]` is no prefix of valid UTF-8), not before, not after.
//! After each accepted chunk, `is_complete` must say whether the bytes so
//! far are valid UTF-8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netkit_fuzz::proto::ws::utf8::Utf8Validator;
use netkit_fuzz::{feeds, Split};

/// Where std says the bytes become impossible, if they do.
fn first_impossible(bytes: &[u8]) -> Option<usize> {
    let e = std::str::from_utf8(bytes).err()?;
    let len = e.error_len()?;
    let start = e.valid_up_to();
    // The byte that rules the sequence out is its last one or the one after.
    (start..=(start + len).min(bytes.len() - 1)).find(|&k| {
        std::str::from_utf8(&bytes[..=k])
            .err()
            .is_some_and(|e| e.error_len().is_some())
    })
}

fuzz_target!(|input: &[u8]| {
    let split = Split::parse(input);
    let bytes = split.data;
    let std_result = std::str::from_utf8(bytes);
    let bad = first_impossible(bytes);
    assert_eq!(
        bad.is_some(),
        std_result.as_ref().is_err_and(|e| e.error_len().is_some())
    );
    // Bytes before `valid_up_to` are valid text: a prefix is complete
    // exactly when it ends on one of its character boundaries.
    let valid_up_to = match &std_result {
        Ok(_) => bytes.len(),
        Err(e) => e.valid_up_to(),
    };
    let valid = std::str::from_utf8(&bytes[..valid_up_to]).expect("valid_up_to");
    for (how, chunks) in feeds(&split, usize::MAX) {
        let mut v = Utf8Validator::new();
        let mut at = 0;
        let mut failed_at = None;
        for chunk in &chunks {
            let end = at + chunk.len();
            match v.feed(chunk) {
                Ok(()) => {
                    let complete = end <= valid_up_to && valid.is_char_boundary(end);
                    assert_eq!(
                        v.is_complete(),
                        complete,
                        "{how}: is_complete after {end} bytes"
                    );
                }
                Err(_) => {
                    failed_at = Some((at, end));
                    break;
                }
            }
            at = end;
        }
        match (bad, failed_at) {
            (None, None) => {
                assert_eq!(v.is_complete(), std_result.is_ok(), "{how}: final verdict");
            }
            (Some(k), Some((start, end))) => assert!(
                start <= k && k < end,
                "{how}: failed on bytes {start}..{end}, the first impossible byte is {k}"
            ),
            (Some(k), None) => panic!("{how}: accepted invalid UTF-8 (impossible at {k})"),
            (None, Some((start, end))) => {
                panic!("{how}: rejected bytes {start}..{end} of a valid or incomplete text")
            }
        }
    }
});
