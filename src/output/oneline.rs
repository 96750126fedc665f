//! One record, one line: a text payload shown on a line of its own (a UDP
//! datagram in `udp recv`'s human output) must not spread over several
//! lines that read like several records.

use std::borrow::Cow;

/// `text` without its one trailing line end, and with any other CR or LF
/// written as `\r` / `\n` (a backslash then doubled, so the escaping can be
/// read back). Text without inner line breaks comes back unchanged.
pub fn one_line(text: &str) -> Cow<'_, str> {
    let body = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text);
    if !body.contains(['\n', '\r']) {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len() + 8);
    for c in body.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn inner_line_breaks_are_escaped_and_one_trailing_end_dropped() {
        assert_eq!(one_line("hello"), "hello");
        assert_eq!(one_line("hello\n"), "hello");
        assert_eq!(one_line("hello\r\n"), "hello");
        assert_eq!(one_line(r"C:\dir"), r"C:\dir");
        assert_eq!(one_line("a\nb\n"), r"a\nb");
        assert_eq!(one_line("a\r\nb"), r"a\r\nb");
        assert_eq!(one_line("a\\b\nc"), r"a\\b\nc");
        assert_eq!(one_line("\n\n"), r"\n");
        assert_eq!(one_line(""), "");
    }
}
