//! `-w/--write-out FORMAT`: curl's format language, parsed and rendered
//! without I/O. `%{name}` is a variable, `%header{name}` a response header,
//! `%{json}` every variable as one JSON object, `%{stdout}`/`%{stderr}`
//! switch the stream, `%%` is `%`, and `\n`, `\r`, `\t` are control
//! characters. Anything else is copied as is (as curl does).

use std::fmt::Write as _;
use std::time::Duration;

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Var(String),
    Header(String),
    Json,
    Stdout,
    Stderr,
}

/// Parses a format string; never fails (bad syntax is literal text).
pub fn parse(format: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        let after = &rest[c.len_utf8()..];
        match c {
            '\\' => match after.chars().next() {
                Some('n') => {
                    text.push('\n');
                    rest = &after[1..];
                }
                Some('r') => {
                    text.push('\r');
                    rest = &after[1..];
                }
                Some('t') => {
                    text.push('\t');
                    rest = &after[1..];
                }
                _ => {
                    text.push('\\');
                    rest = after;
                }
            },
            '%' => {
                if let Some(tail) = after.strip_prefix('%') {
                    text.push('%');
                    rest = tail;
                    continue;
                }
                let (header, body) = match after.strip_prefix("header{") {
                    Some(b) => (true, b),
                    None => match after.strip_prefix('{') {
                        Some(b) => (false, b),
                        None => {
                            text.push('%');
                            rest = after;
                            continue;
                        }
                    },
                };
                let Some(end) = body.find('}') else {
                    // Unterminated: literal, as curl.
                    text.push('%');
                    rest = after;
                    continue;
                };
                let name = &body[..end];
                rest = &body[end + 1..];
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(match (header, name) {
                    (true, n) => Piece::Header(n.to_string()),
                    (false, "json") => Piece::Json,
                    (false, "stdout") => Piece::Stdout,
                    (false, "stderr") => Piece::Stderr,
                    (false, n) => Piece::Var(n.to_string()),
                });
            }
            _ => {
                text.push(c);
                rest = after;
            }
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

/// A variable's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(u64),
    /// An HTTP status, printed as three digits (`000` when none).
    Code(u16),
    /// Seconds, printed with six decimals.
    Time(Duration),
    Str(String),
}

impl Value {
    fn text(&self, out: &mut String) {
        let _ = match self {
            Value::Int(n) => write!(out, "{n}"),
            Value::Code(c) => write!(out, "{c:03}"),
            Value::Time(d) => write!(out, "{:.6}", d.as_secs_f64()),
            Value::Str(s) => write!(out, "{s}"),
        };
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Value::Int(n) => (*n).into(),
            Value::Code(c) => (*c).into(),
            Value::Time(d) => serde_json::Number::from_f64((d.as_secs_f64() * 1e6).round() / 1e6)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::Str(s) => s.as_str().into(),
        }
    }
}

/// What a format can refer to.
#[derive(Debug, Default)]
pub struct Vars {
    /// Variables by curl's names, in the order `%{json}` lists them.
    pub values: Vec<(&'static str, Value)>,
    /// The last response's header fields.
    pub headers: Vec<(String, String)>,
}

/// The rendered output: bytes for stdout, bytes for stderr, and the
/// unknown variable names (for a warning).
#[derive(Debug, Default, PartialEq)]
pub struct Rendered {
    pub stdout: String,
    pub stderr: String,
    pub unknown: Vec<String>,
}

pub fn render(pieces: &[Piece], vars: &Vars) -> Rendered {
    let mut r = Rendered::default();
    let mut to_stderr = false;
    for p in pieces {
        let out = if to_stderr {
            &mut r.stderr
        } else {
            &mut r.stdout
        };
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => match vars.values.iter().find(|(n, _)| *n == name.as_str()) {
                Some((_, v)) => v.text(out),
                None => r.unknown.push(name.clone()),
            },
            Piece::Header(name) => {
                let values: Vec<&str> = vars
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
                    .collect();
                out.push_str(&values.join(", "));
            }
            Piece::Json => {
                let map: serde_json::Map<String, serde_json::Value> = vars
                    .values
                    .iter()
                    .map(|(n, v)| ((*n).to_string(), v.json()))
                    .collect();
                out.push_str(&serde_json::Value::Object(map).to_string());
            }
            Piece::Stdout => to_stderr = false,
            Piece::Stderr => to_stderr = true,
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            values: vec![
                ("http_code", Value::Code(200)),
                ("time_total", Value::Time(Duration::from_micros(1_234_567))),
                ("size_download", Value::Int(42)),
                ("url_effective", Value::Str("http://h/p".into())),
            ],
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Set-Cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
            ],
        }
    }

    fn out(format: &str) -> String {
        render(&parse(format), &vars()).stdout
    }

    #[test]
    fn variables_and_escapes() {
        assert_eq!(out("%{http_code}\\n"), "200\n");
        assert_eq!(out("%{time_total}\\t%{size_download}\\r"), "1.234567\t42\r");
        assert_eq!(out("100%% %{url_effective}"), "100% http://h/p");
        assert_eq!(
            out("%header{content-type}|%header{Set-Cookie}|%header{none}"),
            "text/plain|a=1, b=2|"
        );
        let none = Vars {
            values: vec![("http_code", Value::Code(0))],
            headers: vec![],
        };
        assert_eq!(render(&parse("%{http_code}"), &none).stdout, "000");
    }

    #[test]
    fn odd_syntax_is_literal_as_curl() {
        assert_eq!(out("%"), "%");
        assert_eq!(out("50%x"), "50%x");
        assert_eq!(out("%{http_code"), "%{http_code");
        assert_eq!(out("a\\\\b\\q\\"), "a\\\\b\\q\\");
        assert_eq!(out("é%{http_code}ü"), "é200ü");
        assert_eq!(out(""), "");
    }

    #[test]
    fn unknown_variables_print_nothing_and_are_reported() {
        let r = render(&parse("[%{nope}]"), &vars());
        assert_eq!(r.stdout, "[]");
        assert_eq!(r.unknown, ["nope"]);
    }

    #[test]
    fn stderr_switch_and_json() {
        let r = render(&parse("a%{stderr}b%{stdout}c"), &vars());
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("ac", "b"));
        let j: serde_json::Value = serde_json::from_str(&out("%{json}")).unwrap();
        assert_eq!(j["http_code"], 200);
        assert_eq!(j["time_total"], 1.234567);
        assert_eq!(j["size_download"], 42);
        assert_eq!(j["url_effective"], "http://h/p");
    }

    #[test]
    fn parsing_one_char_at_a_time_never_panics() {
        let format = "x%{http_code}\\n%header{a}%%%{";
        for i in 0..=format.len() {
            if format.is_char_boundary(i) {
                let _ = render(&parse(&format[..i]), &vars());
            }
        }
    }
}
