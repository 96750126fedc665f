//! The interactive chat console of `ws connect` on a terminal.
//!
//! The terminal is put in non-canonical, no-echo mode (signals stay on, so
//! Ctrl-C still arrives as SIGINT); [`LineEditor`] turns keystrokes into the
//! line being typed. An incoming message clears the prompt line, prints the
//! message and redraws the prompt with what was typed so far, so messages
//! never garble the line being typed. The terminal mode is restored on drop.

use std::io;

use colored::Colorize;

use super::escape::escape;
use super::{units, write_stderr, write_stdout};
use crate::error::Result;

/// What the keystrokes amount to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Enter: a line to send.
    Submit(String),
    /// Ctrl-D on an empty line.
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Escape {
    #[default]
    None,
    /// Saw ESC.
    Start,
    /// Inside `ESC [ ...` until a final byte.
    Csi,
}

/// A minimal line editor: typing, backspace, Ctrl-U, Ctrl-W, Enter, Ctrl-D.
#[derive(Debug, Default)]
pub struct LineEditor {
    line: String,
    utf8: Vec<u8>,
    escape: Escape,
}

impl LineEditor {
    pub fn line(&self) -> &str {
        &self.line
    }

    /// Feeds raw terminal bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Action> {
        let mut actions = Vec::new();
        for &b in bytes {
            match self.escape {
                Escape::Start => {
                    self.escape = if b == b'[' || b == b'O' {
                        Escape::Csi
                    } else {
                        Escape::None
                    };
                    continue;
                }
                Escape::Csi => {
                    if (0x40..=0x7E).contains(&b) {
                        self.escape = Escape::None;
                    }
                    continue;
                }
                Escape::None => {}
            }
            match b {
                0x1B => self.escape = Escape::Start,
                b'\r' | b'\n' => actions.push(Action::Submit(std::mem::take(&mut self.line))),
                0x04 if self.line.is_empty() => actions.push(Action::Eof),
                0x7F | 0x08 => {
                    self.line.pop();
                }
                0x15 => self.line.clear(),
                0x17 => {
                    let trimmed = self.line.trim_end().len();
                    self.line.truncate(trimmed);
                    let cut = self.line.rfind(' ').map_or(0, |i| i + 1);
                    self.line.truncate(cut);
                }
                b if b < 0x20 => {}
                b => {
                    self.utf8.push(b);
                    match std::str::from_utf8(&self.utf8) {
                        Ok(s) => {
                            self.line.push_str(s);
                            self.utf8.clear();
                        }
                        Err(e) if e.error_len().is_some() || self.utf8.len() >= 4 => {
                            self.utf8.clear()
                        }
                        Err(_) => {}
                    }
                }
            }
        }
        actions
    }
}

/// The terminal's mode before we changed it.
struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    fn enter() -> io::Result<RawMode> {
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a struct we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return Err(io::Error::last_os_error());
            }
            let saved = t;
            t.c_lflag &= !(libc::ICANON | libc::ECHO);
            t.c_cc[libc::VMIN] = 1;
            t.c_cc[libc::VTIME] = 0;
            if libc::tcsetattr(0, libc::TCSANOW, &t) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(RawMode { saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enter`.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &self.saved) };
    }
}

/// The chat console.
pub struct Console {
    editor: LineEditor,
    color: bool,
    timestamps: bool,
    _raw: RawMode,
}

const PROMPT: &str = "> ";

impl Console {
    pub fn open(color: bool, timestamps: bool) -> io::Result<Console> {
        let console = Console {
            editor: LineEditor::default(),
            color,
            timestamps,
            _raw: RawMode::enter()?,
        };
        console.redraw();
        Ok(console)
    }

    /// Keystrokes in; the prompt line is redrawn.
    pub fn input(&mut self, bytes: &[u8]) -> Vec<Action> {
        let actions = self.editor.feed(bytes);
        self.redraw();
        actions
    }

    fn stamp(&self) -> String {
        if self.timestamps {
            format!("[{}] ", units::clock(std::time::SystemTime::now()))
        } else {
            String::new()
        }
    }

    /// Prints a line above the prompt.
    fn above(&self, line: &str, to_stdout: bool) -> Result<()> {
        write_stderr(b"\r\x1b[K");
        let text = format!("{line}\n");
        if to_stdout {
            write_stdout(text.as_bytes())?;
        } else {
            write_stderr(text.as_bytes());
        }
        self.redraw();
        Ok(())
    }

    /// A message from the peer (control characters shown escaped).
    pub fn incoming(&self, text: &str) -> Result<()> {
        let text = escape(text);
        let mark = if self.color {
            "<".cyan().bold().to_string()
        } else {
            "<".into()
        };
        let body = if self.color {
            text.cyan().to_string()
        } else {
            text.to_string()
        };
        self.above(&format!("{}{mark} {body}", self.stamp()), true)
    }

    pub fn outgoing(&self, text: &str) -> Result<()> {
        let text = escape(text);
        let mark = if self.color {
            ">".green().bold().to_string()
        } else {
            ">".into()
        };
        self.above(&format!("{}{mark} {text}", self.stamp()), true)
    }

    /// A status line (close reasons come from the peer: escaped).
    pub fn notice(&self, text: &str) {
        let text = escape(text);
        let line = if self.color {
            format!("* {text}").dimmed().to_string()
        } else {
            format!("* {text}")
        };
        let _ = self.above(&line, false);
    }

    fn redraw(&self) {
        let prompt = if self.color {
            PROMPT.green().bold().to_string()
        } else {
            PROMPT.into()
        };
        write_stderr(format!("\r\x1b[K{prompt}{}", self.editor.line()).as_bytes());
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        write_stderr(b"\r\x1b[K");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_editing_and_submitting() {
        let mut e = LineEditor::default();
        assert!(e.feed(b"helo\x7flo wor").is_empty());
        assert_eq!(e.line(), "hello wor");
        assert_eq!(e.feed(b"ld\r"), vec![Action::Submit("hello world".into())]);
        assert_eq!(e.line(), "");
        e.feed(b"one two\x17");
        assert_eq!(e.line(), "one ");
        e.feed(b"\x15");
        assert_eq!(e.line(), "");
        assert_eq!(e.feed(b"\x04"), vec![Action::Eof]);
    }

    #[test]
    fn arrows_are_ignored_and_utf8_is_assembled() {
        let mut e = LineEditor::default();
        e.feed(b"a\x1b[Ab\x1b[1;5C");
        assert_eq!(e.line(), "ab");
        for b in "☃".as_bytes() {
            e.feed(std::slice::from_ref(b));
        }
        assert_eq!(e.line(), "ab☃");
        e.feed(b"\x7f");
        assert_eq!(e.line(), "ab");
        assert!(
            e.feed(b"x\x04").is_empty(),
            "Ctrl-D only ends an empty line"
        );
    }
}
