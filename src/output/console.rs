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
    /// Inside `ESC [ ...` (or `ESC O`) until a final byte.
    Csi,
}

/// Most lines the history keeps (the oldest go first).
const HISTORY: usize = 200;
/// Most parameter bytes of one escape sequence that are kept.
const MAX_PARAMS: usize = 8;

/// A minimal line editor: typing, backspace, Delete, Ctrl-U, Ctrl-W, left
/// and right arrows, Home/End (Ctrl-A, Ctrl-E), a history of submitted
/// lines (up and down arrows), Enter, Ctrl-D.
#[derive(Debug, Default)]
pub struct LineEditor {
    /// The line being typed, as characters (the cursor is an index).
    line: Vec<char>,
    cursor: usize,
    utf8: Vec<u8>,
    escape: Escape,
    params: Vec<u8>,
    history: std::collections::VecDeque<String>,
    /// Where up/down has moved in the history (`history.len()`: the draft).
    browsing: usize,
    /// What was typed before browsing the history.
    draft: Vec<char>,
}

impl LineEditor {
    pub fn line(&self) -> String {
        self.line.iter().collect()
    }

    /// The cursor, in characters from the start of the line.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Feeds raw terminal bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Action> {
        let mut actions = Vec::new();
        for &b in bytes {
            match self.escape {
                Escape::Start => {
                    self.params.clear();
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
                        self.key(b);
                    } else if self.params.len() < MAX_PARAMS {
                        self.params.push(b);
                    }
                    continue;
                }
                Escape::None => {}
            }
            match b {
                0x1B => self.escape = Escape::Start,
                b'\r' | b'\n' => {
                    let line: String = std::mem::take(&mut self.line).into_iter().collect();
                    self.cursor = 0;
                    self.remember(&line);
                    actions.push(Action::Submit(line));
                }
                0x04 if self.line.is_empty() => actions.push(Action::Eof),
                0x04 => self.delete(),
                0x7F | 0x08 => {
                    if self.cursor > 0 {
                        self.cursor -= 1;
                        self.line.remove(self.cursor);
                    }
                }
                0x01 => self.cursor = 0,
                0x05 => self.cursor = self.line.len(),
                0x02 => self.cursor = self.cursor.saturating_sub(1),
                0x06 => self.cursor = (self.cursor + 1).min(self.line.len()),
                0x15 => {
                    self.line.drain(..self.cursor);
                    self.cursor = 0;
                }
                0x17 => {
                    let mut start = self.cursor;
                    while start > 0 && self.line[start - 1] == ' ' {
                        start -= 1;
                    }
                    while start > 0 && self.line[start - 1] != ' ' {
                        start -= 1;
                    }
                    self.line.drain(start..self.cursor);
                    self.cursor = start;
                }
                b if b < 0x20 => {}
                b => {
                    self.utf8.push(b);
                    match std::str::from_utf8(&self.utf8) {
                        Ok(s) => {
                            for c in s.chars() {
                                self.line.insert(self.cursor, c);
                                self.cursor += 1;
                            }
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

    /// The final byte of an escape sequence: arrows, Home, End, Delete.
    fn key(&mut self, last: u8) {
        match (last, self.params.as_slice()) {
            (b'A', _) => self.browse_back(),
            (b'B', _) => self.browse_forward(),
            (b'C', _) => self.cursor = (self.cursor + 1).min(self.line.len()),
            (b'D', _) => self.cursor = self.cursor.saturating_sub(1),
            (b'H', _) | (b'~', b"1") | (b'~', b"7") => self.cursor = 0,
            (b'F', _) | (b'~', b"4") | (b'~', b"8") => self.cursor = self.line.len(),
            (b'~', b"3") => self.delete(),
            _ => {}
        }
    }

    /// Deletes the character under the cursor.
    fn delete(&mut self) {
        if self.cursor < self.line.len() {
            self.line.remove(self.cursor);
        }
    }

    fn remember(&mut self, line: &str) {
        if !line.is_empty() && self.history.back().map(String::as_str) != Some(line) {
            if self.history.len() == HISTORY {
                self.history.pop_front();
            }
            self.history.push_back(line.to_string());
        }
        self.browsing = self.history.len();
        self.draft.clear();
    }

    fn browse_back(&mut self) {
        if self.browsing == 0 || self.history.is_empty() {
            return;
        }
        if self.browsing >= self.history.len() {
            self.draft = std::mem::take(&mut self.line);
            self.browsing = self.history.len();
        }
        self.browsing -= 1;
        self.show(self.history[self.browsing].chars().collect());
    }

    fn browse_forward(&mut self) {
        if self.browsing >= self.history.len() {
            return;
        }
        self.browsing += 1;
        let line = match self.history.get(self.browsing) {
            Some(l) => l.chars().collect(),
            None => std::mem::take(&mut self.draft),
        };
        self.show(line);
    }

    fn show(&mut self, line: Vec<char>) {
        self.line = line;
        self.cursor = self.line.len();
    }
}

/// What a submitted chat line asks for: wscat's slash commands, or text
/// (`//x` sends `/x`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Send(String),
    /// `/ping [text]`
    Ping(String),
    /// `/close [code] [reason]`
    Close(u16, String),
    /// `/binary HEX`
    Binary(Vec<u8>),
    /// A command that cannot be done, and why.
    Invalid(String),
}

/// Parses a submitted line.
pub fn command(line: &str) -> Command {
    let Some(rest) = line.strip_prefix('/') else {
        return Command::Send(line.to_string());
    };
    if rest.starts_with('/') {
        return Command::Send(rest.to_string());
    }
    let (name, arg) = rest.split_once(' ').unwrap_or((rest, ""));
    match name {
        "ping" => Command::Ping(arg.to_string()),
        "close" => {
            let arg = arg.trim_start();
            let (code, reason) = arg.split_once(' ').unwrap_or((arg, ""));
            if code.is_empty() {
                return Command::Close(1000, String::new());
            }
            match code.parse::<u16>() {
                Ok(c) if crate::proto::ws::frame::valid_close_code(c) => {
                    Command::Close(c, reason.to_string())
                }
                _ => Command::Invalid(format!(
                    "/close {code}: not a close code one may send (1000, 1001, 3000-4999, ...)"
                )),
            }
        }
        "binary" => match crate::proto::hex::parse(arg) {
            Ok(bytes) => Command::Binary(bytes),
            Err(e) => Command::Invalid(format!("/binary: {e}")),
        },
        _ => Command::Invalid(format!(
            "unknown command /{name}: try /ping [text], /close [code] [reason], /binary HEX (// sends a line starting with /)"
        )),
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

    /// Clears the prompt line (before a line that is not the console's).
    pub fn clear(&self) {
        write_stderr(b"\r\x1b[K");
    }

    /// Draws the prompt and the line being typed, the cursor in place.
    pub fn redraw(&self) {
        let prompt = if self.color {
            PROMPT.green().bold().to_string()
        } else {
            PROMPT.into()
        };
        let line = self.editor.line();
        let back = line.chars().count() - self.editor.cursor();
        let left = if back > 0 {
            format!("\x1b[{back}D")
        } else {
            String::new()
        };
        write_stderr(format!("\r\x1b[K{prompt}{line}{left}").as_bytes());
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
    fn unknown_escapes_are_ignored_and_utf8_is_assembled() {
        let mut e = LineEditor::default();
        e.feed(b"a\x1b[1;5Pb\x1b[Z");
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

    /// Feeds `input` whole and one byte at a time; both give `line`,
    /// `cursor` and `actions`.
    fn check(input: &[u8], line: &str, cursor: usize, actions: &[Action]) {
        let mut whole = LineEditor::default();
        let got = whole.feed(input);
        assert_eq!(
            (whole.line(), whole.cursor(), got.as_slice()),
            (line.to_string(), cursor, actions),
            "{input:?} whole"
        );
        let mut bytes = LineEditor::default();
        let mut got = Vec::new();
        for b in input {
            got.extend(bytes.feed(std::slice::from_ref(b)));
        }
        assert_eq!(
            (bytes.line(), bytes.cursor(), got.as_slice()),
            (line.to_string(), cursor, actions),
            "{input:?} by bytes"
        );
    }

    #[test]
    fn left_and_right_arrows_move_the_cursor() {
        check(b"ac\x1b[Db", "abc", 2, &[]);
        check(b"ac\x1bODb", "abc", 2, &[]);
        check(b"abc\x1b[D\x1b[D\x1b[D\x1b[Dx", "xabc", 1, &[]);
        check(b"ab\x1b[C\x1b[Cc", "abc", 3, &[]);
        check(b"abc\x1b[H>\x1b[F<", ">abc<", 5, &[]);
        check(b"abc\x01>\x05<", ">abc<", 5, &[]);
        check(b"abc\x1b[D\x7f", "ac", 1, &[]);
        check(b"abc\x1b[D\x1b[D\x1b[3~", "ac", 1, &[]);
        check(b"one two\x1b[D\x1b[D\x1b[D\x17", "two", 0, &[]);
        check(b"one two\x1b[D\x1b[D\x1b[D\x15", "two", 0, &[]);
        check(
            b"he\x1b[Dy\x1b[Cllo\r",
            "",
            0,
            &[Action::Submit("hyello".into())],
        );
        check("☃x\x1b[D\x1b[D!".as_bytes(), "!☃x", 1, &[]);
    }

    #[test]
    fn up_and_down_walk_the_history() {
        let submit = |s: &str| Action::Submit(s.into());
        check(
            b"one\rtwo\r\x1b[A",
            "two",
            3,
            &[submit("one"), submit("two")],
        );
        check(
            b"one\rtwo\r\x1b[A\x1b[A\x1b[A",
            "one",
            3,
            &[submit("one"), submit("two")],
        );
        check(
            b"one\rtwo\rdra\x1b[A\x1b[A\x1b[B\x1b[B",
            "dra",
            3,
            &[submit("one"), submit("two")],
        );
        check(
            b"one\rtwo\r\x1b[A\x1b[A\r",
            "",
            0,
            &[submit("one"), submit("two"), submit("one")],
        );
        // Repeats and empty lines are not kept twice.
        let mut e = LineEditor::default();
        e.feed(b"a\ra\r\r\x1b[A\x1b[A");
        assert_eq!(e.line(), "a");
        assert_eq!(e.history.len(), 1);
        // The history is bounded.
        let mut e = LineEditor::default();
        for i in 0..HISTORY + 10 {
            e.feed(format!("{i}\r").as_bytes());
        }
        assert_eq!(e.history.len(), HISTORY);
        assert_eq!(e.history[0], "10");
    }

    #[test]
    fn slash_commands() {
        assert_eq!(command("hello"), Command::Send("hello".into()));
        assert_eq!(command("//close"), Command::Send("/close".into()));
        assert_eq!(command("/ping"), Command::Ping("".into()));
        assert_eq!(
            command("/ping are you there"),
            Command::Ping("are you there".into())
        );
        assert_eq!(command("/close"), Command::Close(1000, "".into()));
        assert_eq!(
            command("/close 4001 see you"),
            Command::Close(4001, "see you".into())
        );
        assert_eq!(command("/close 1001"), Command::Close(1001, "".into()));
        assert_eq!(
            command("/binary de ad 00"),
            Command::Binary(vec![0xde, 0xad, 0])
        );
        assert_eq!(
            command("/binary dead00"),
            Command::Binary(vec![0xde, 0xad, 0])
        );
        for bad in [
            "/close 1006",
            "/close x",
            "/close 99999",
            "/binary zz",
            "/nope",
        ] {
            assert!(matches!(command(bad), Command::Invalid(_)), "{bad}");
        }
    }
}
