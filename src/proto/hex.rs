//! Hex text to bytes, for binary probes typed on a command line.
//!
//! Accepts `deadbeef`, `de ad be ef`, `de:ad:be:ef`, `0xde 0xad` and any mix
//! of spaces, tabs, colons and dashes between bytes. A byte is always two
//! digits; an odd digit count or a non-hex character is an error that says
//! where.

/// Parses hex text into bytes.
pub fn parse(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut high: Option<u8> = None;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if high.is_none() && c == b'0' && matches!(bytes.get(i + 1), Some(b'x') | Some(b'X')) {
            i += 2;
            continue;
        }
        match c {
            b' ' | b'\t' | b':' | b'-' | b'\r' | b'\n' if high.is_none() => {}
            _ => {
                let Some(v) = digit(c) else {
                    let shown = text[i..].chars().next().unwrap_or('?');
                    return Err(format!("invalid hex: {shown:?} at position {}", i + 1));
                };
                match high.take() {
                    None => high = Some(v),
                    Some(h) => out.push(h << 4 | v),
                }
            }
        }
        i += 1;
    }
    if high.is_some() {
        return Err("invalid hex: odd number of digits".into());
    }
    Ok(out)
}

fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(parse("deadbeef"), Ok(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(parse("DE AD be:ef"), Ok(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(parse("0x01 0x02"), Ok(vec![1, 2]));
        assert_eq!(parse("00-ff"), Ok(vec![0, 255]));
        assert_eq!(parse(""), Ok(vec![]));
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(parse("zz"), Err("invalid hex: 'z' at position 1".into()));
        assert_eq!(
            parse("abc"),
            Err("invalid hex: odd number of digits".into())
        );
        assert!(parse("a b").is_err(), "a separator may not split a byte");
        assert!(parse("éé").is_err());
    }
}
