//! The `--hex` traffic dump: direction, offset, sixteen bytes, ASCII.
//!
//! ```text
//! > 00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 30 0d 0a  |GET / HTTP/1.0..|
//! < 00000000  48 54 54 50 2f 31 2e 31  20 32 30 30 20 4f 4b     |HTTP/1.1 200 OK|
//! ```
//! `>` is what netkit sent, `<` what it received; offsets count each
//! direction's bytes from the start of the connection.

use colored::Colorize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Sent,
    Received,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the dump of `bytes`, which start at stream offset `offset`.
pub fn hexdump(dir: Direction, offset: u64, bytes: &[u8], color: bool, out: &mut Vec<u8>) {
    let marker = match dir {
        Direction::Sent => ">",
        Direction::Received => "<",
    };
    let marker = if !color {
        marker.to_string()
    } else if dir == Direction::Sent {
        marker.green().bold().to_string()
    } else {
        marker.cyan().bold().to_string()
    };
    rows(&marker, offset, bytes, out);
}

/// Appends hex rows, each line starting with `marker`.
pub fn rows(marker: &str, offset: u64, bytes: &[u8], out: &mut Vec<u8>) {
    for (i, row) in bytes.chunks(16).enumerate() {
        out.extend_from_slice(marker.as_bytes());
        let off = offset + (i as u64) * 16;
        out.extend_from_slice(format!(" {off:08x}  ").as_bytes());
        for col in 0..16 {
            match row.get(col) {
                Some(&b) => {
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 15)]);
                    out.push(b' ');
                }
                None => out.extend_from_slice(b"   "),
            }
            if col == 7 {
                out.push(b' ');
            }
        }
        out.extend_from_slice(b" |");
        out.extend(row.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b
            } else {
                b'.'
            }
        }));
        out.extend_from_slice(b"|\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(dir: Direction, offset: u64, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        hexdump(dir, offset, bytes, false, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn full_and_partial_rows() {
        let text = dump(Direction::Sent, 0, b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(
            text,
            "> 00000000  47 45 54 20 2f 20 48 54  54 50 2f 31 2e 30 0d 0a  |GET / HTTP/1.0..|\n\
             > 00000010  0d 0a                                             |..|\n"
        );
    }

    #[test]
    fn offsets_continue_and_direction_shows() {
        let text = dump(Direction::Received, 0x20, &[0, 255, b'a']);
        assert_eq!(
            text,
            "< 00000020  00 ff 61                                          |..a|\n"
        );
        assert!(dump(Direction::Sent, 0, b"").is_empty());
    }
}
