//! Text from a peer made safe for a terminal.
//!
//! A close reason, a chat line, a reason phrase or a name comes from the
//! other end; printed as is, `\x1b[2J` would clear the user's screen and
//! `\r` would overwrite what came before. Everything rendered for a person
//! goes through [`escape`]: control characters (and the invisible ones that
//! reorder text) are shown as escapes, printable Unicode stays as it is.
//! The data stream (bytes piped to stdout) is never escaped.

use std::borrow::Cow;
use std::fmt::Write;

/// Characters that would act on the terminal instead of being shown: C0
/// and C1 controls, DEL, and the format characters that reorder or hide
/// text (bidi controls, zero widths, the BOM).
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// `text` with control characters shown as `\t`, `\n`, `\r`, `\x1b` (C0 and
/// DEL) or `\u{9b}` (C1 and invisible format characters). Borrowed when
/// there is nothing to escape.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if unsafe_char(c) && (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_printable_text_is_kept() {
        let cases = [
            (
                "plain text, ünïcødé ☃ 名前 \\ \"q\"",
                "plain text, ünïcødé ☃ 名前 \\ \"q\"",
            ),
            ("bye\x1b[2J", "bye\\x1b[2J"),
            ("a\tb\r\nc", "a\\tb\\r\\nc"),
            ("\x00\x07\x08\x7f", "\\x00\\x07\\x08\\x7f"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("\u{85}", "\\u{85}"),
            ("abc\u{202E}fed", "abc\\u{202e}fed"),
            ("zero\u{200B}width\u{FEFF}", "zero\\u{200b}width\\u{feff}"),
            ("", ""),
        ];
        for (raw, shown) in cases {
            assert_eq!(escape(raw), shown, "{raw:?}");
        }
    }

    #[test]
    fn nothing_to_escape_borrows() {
        assert!(matches!(escape("fine"), Cow::Borrowed("fine")));
    }
}
