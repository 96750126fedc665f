//! Names in a chat room (`tcp listen --chat`, `ws listen --chat`).
//!
//! A name is shown to everybody as `<name> text`, so nobody may pass for
//! somebody else: [`clean`] keeps a requested name to one short line of
//! printable text without `<` or `>`, and [`Names::claim`] makes it unique in
//! the room (`ann`, `ann-2`, `ann-3`, ...; compared without case, so `Ann`
//! is taken too once `ann` is). The console's name, `server`, is always
//! taken.

use std::collections::HashMap;

/// The name lines from the server's console go out under.
pub const CONSOLE: &str = "server";

/// Longest name, in characters.
pub const MAX_NAME: usize = 32;

/// Invisible characters that reorder or hide text (bidi controls, zero
/// widths, the BOM): `ann\u{202E}` would look like somebody else.
fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

/// A requested name made safe to show: control and invisible characters,
/// `<` and `>` dropped, runs of white space made one space, the ends
/// trimmed, at most [`MAX_NAME`] characters. `None` if nothing is left.
pub fn clean(raw: &str) -> Option<String> {
    let mut name = String::new();
    let mut space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            space = !name.is_empty();
            continue;
        }
        if c.is_control() || invisible(c) || c == '<' || c == '>' {
            continue;
        }
        if space {
            name.push(' ');
            space = false;
        }
        name.push(c);
    }
    let name: String = name.chars().take(MAX_NAME).collect();
    let name = name.trim_end();
    (!name.is_empty()).then(|| name.to_string())
}

/// The names in use in one room.
#[derive(Debug)]
pub struct Names {
    /// Lowercased names in use, each with the lowercased base it was made
    /// from and its suffix (1: none).
    taken: HashMap<String, (String, u64)>,
    /// Per base, a suffix below which every suffix is taken: the search
    /// for a free one starts after it (10,000 clients named `ann` cost
    /// 10,000 probes, not 50 million).
    hint: HashMap<String, u64>,
}

impl Default for Names {
    fn default() -> Names {
        Names::new()
    }
}

impl Names {
    /// A room where only [`CONSOLE`] is taken.
    pub fn new() -> Names {
        Names {
            taken: HashMap::from([(CONSOLE.to_string(), (CONSOLE.to_string(), 1))]),
            hint: HashMap::new(),
        }
    }

    /// Takes a name for a newcomer: `wanted` cleaned, or `fallback` (the
    /// guest name) when there is nothing left of it; a taken name gets the
    /// first free suffix `-2`, `-3`, ... (shortened to stay within
    /// [`MAX_NAME`]).
    pub fn claim(&mut self, wanted: Option<&str>, fallback: &str) -> String {
        let base = wanted
            .and_then(clean)
            .or_else(|| clean(fallback))
            .unwrap_or_else(|| "guest".to_string());
        let key = base.to_lowercase();
        let mut name = base.clone();
        let mut n = 1u64;
        if self.taken.contains_key(&key) {
            n = self.hint.get(&key).copied().unwrap_or(1);
            loop {
                n += 1;
                let suffix = format!("-{n}");
                let keep = MAX_NAME.saturating_sub(suffix.chars().count());
                let stem: String = base.chars().take(keep).collect();
                name = format!("{}{suffix}", stem.trim_end());
                if !self.taken.contains_key(&name.to_lowercase()) {
                    break;
                }
            }
            self.hint.insert(key.clone(), n);
        }
        self.taken.insert(name.to_lowercase(), (key, n));
        name
    }

    /// Frees a name claimed before.
    pub fn release(&mut self, name: &str) {
        let Some((base, n)) = self.taken.remove(&name.to_lowercase()) else {
            return;
        };
        if n > 1 {
            if let Some(h) = self.hint.get_mut(&base) {
                *h = (*h).min(n - 1);
                if *h <= 1 {
                    self.hint.remove(&base);
                }
            }
        }
    }

    /// Names taken, the console's included.
    pub fn len(&self) -> usize {
        self.taken.len()
    }

    pub fn is_empty(&self) -> bool {
        self.taken.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_names() {
        let cases: &[(&str, Option<&str>)] = &[
            ("ann", Some("ann")),
            ("<admin> x", Some("admin x")),
            ("  ann \t lee  ", Some("ann lee")),
            ("a\x1b[2Jb\nc", Some("a[2Jb c")),
            ("ann\u{202E}nimda", Some("annnimda")),
            ("\x07\r\n<>", None),
            ("", None),
            ("   ", None),
            ("ünïcødé 名前", Some("ünïcødé 名前")),
            ("\u{85}x\u{9b}", Some("x")),
        ];
        for (raw, want) in cases {
            assert_eq!(clean(raw).as_deref(), *want, "{raw:?}");
        }
    }

    #[test]
    fn names_are_at_most_32_characters() {
        let long = "é".repeat(40);
        assert_eq!(clean(&long).unwrap().chars().count(), MAX_NAME);
        // Cut before a space: no trailing space left.
        let spaced = format!("{} tail", "a".repeat(31));
        assert_eq!(clean(&spaced).unwrap(), "a".repeat(31));
    }

    #[test]
    fn taken_names_get_a_suffix() {
        let mut names = Names::new();
        assert_eq!(names.claim(Some("ann"), "user1"), "ann");
        assert_eq!(names.claim(Some("ann"), "user2"), "ann-2");
        assert_eq!(names.claim(Some("ANN"), "user3"), "ANN-3");
        assert_eq!(names.claim(Some(" ann "), "user4"), "ann-4");
        // Somebody asking for a suffixed name does not get somebody's.
        assert_eq!(names.claim(Some("ann-2"), "user5"), "ann-2-2");
        names.release("ann");
        assert_eq!(names.claim(Some("ann"), "user6"), "ann");
        // Nothing usable: the guest name; it is unique too.
        assert_eq!(names.claim(Some("<\x1b>"), "user7"), "user7");
        assert_eq!(names.claim(None, "user7"), "user7-2");
        assert_eq!(names.claim(Some("user7"), "user9"), "user7-3");
        // Nobody speaks as the console.
        assert_eq!(names.claim(Some("Server"), "user10"), "Server-2");
        assert_eq!(names.len(), 10);
    }

    #[test]
    fn many_of_one_name_take_the_first_free_suffix_quickly() {
        let mut names = Names::new();
        // One probe each (a quadratic search took minutes in a debug build).
        for i in 1..=20_000u64 {
            let got = names.claim(Some("ann"), "u");
            let want = if i == 1 {
                "ann".to_string()
            } else {
                format!("ann-{i}")
            };
            assert_eq!(got, want);
        }
        names.release("ann-7");
        names.release("ann-3");
        assert_eq!(names.claim(Some("ann"), "u"), "ann-3");
        assert_eq!(names.claim(Some("ann"), "u"), "ann-7");
        assert_eq!(names.claim(Some("ann"), "u"), "ann-20001");
        for i in 2..=20_001 {
            names.release(&format!("ann-{i}"));
        }
        assert!(names.hint.is_empty(), "hints go with the names");
        assert_eq!(names.claim(Some("ann"), "u"), "ann-2");
    }

    #[test]
    fn a_suffix_keeps_a_long_name_within_the_limit() {
        let mut names = Names::new();
        let long = "x".repeat(40);
        assert_eq!(names.claim(Some(&long), "u"), "x".repeat(32));
        assert_eq!(
            names.claim(Some(&long), "u"),
            format!("{}-2", "x".repeat(30))
        );
        for _ in 3..=10 {
            names.claim(Some(&long), "u");
        }
        assert_eq!(
            names.claim(Some(&long), "u"),
            format!("{}-11", "x".repeat(29))
        );
    }
}
