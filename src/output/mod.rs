//! Sinks: the only code that writes to stdout and stderr.
//!
//! [`Output`] receives [`Event`]s and renders them for a person (human lines
//! on stderr, payload bytes untouched on stdout) or for a program (`--json`:
//! one NDJSON object per event on stdout). Payload goes through raw `write(2)`
//! on fd 1, unbuffered and uncopied, so a pipe gets exactly the bytes received
//! as soon as they arrive. A reader that closes stdout (`| head`) turns into
//! [`Error::stdout_closed`], which ends netkit quietly with status 0.

pub mod console;
pub mod escape;
mod hexdump;
mod human;
mod json;
pub use json::request_fields;
pub mod units;

use std::io::{self, IsTerminal, Write};
use std::os::fd::RawFd;

use crate::cli::{ColorChoice, Global};
use crate::error::{Error, Result};
use crate::event::Event;

pub use hexdump::{hexdump, Direction};

/// How events are rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Human,
    Json,
}

/// How much the human sink says on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    Normal,
    Verbose,
}

/// The event sink for one run.
pub struct Output {
    mode: Mode,
    level: Level,
    color_out: bool,
    color_err: bool,
    json: json::JsonSink,
    line: Vec<u8>,
    /// With [`Output::set_buffered`], stdout bytes gather here.
    stdout_buf: Vec<u8>,
    buffered: bool,
    /// `-s` without `-S`: the error line is not printed (the exit code says it).
    hide_errors: bool,
}

/// Buffered stdout is written out past this size.
const STDOUT_BUF: usize = 256 * 1024;

impl Output {
    pub fn new(global: &Global) -> Output {
        let level = if global.quiet {
            Level::Quiet
        } else if global.verbose {
            Level::Verbose
        } else {
            Level::Normal
        };
        let color_out = want_color(global.color, io::stdout().is_terminal());
        let color_err = want_color(global.color, io::stderr().is_terminal());
        if color_out || color_err {
            colored::control::set_override(true);
        }
        Output {
            mode: if global.json { Mode::Json } else { Mode::Human },
            level,
            color_out,
            color_err,
            json: json::JsonSink::default(),
            line: Vec::with_capacity(256),
            stdout_buf: Vec::new(),
            buffered: false,
            hide_errors: false,
        }
    }

    /// curl's `-s`: nothing on stderr but verbose output (with `-v`) and,
    /// when `show_errors` (`-sS`), the error line.
    pub fn silence(&mut self, show_errors: bool) {
        if self.level < Level::Verbose {
            self.level = Level::Quiet;
        }
        self.hide_errors = !show_errors;
    }

    pub fn is_json(&self) -> bool {
        self.mode == Mode::Json
    }

    /// Whether stderr gets color.
    pub fn color_err(&self) -> bool {
        self.color_err
    }

    pub fn verbose(&self) -> bool {
        self.level >= Level::Verbose
    }

    /// Gathers stdout into batches (for high event rates) until
    /// [`Output::flush`] or until buffering is turned off.
    pub fn set_buffered(&mut self, on: bool) -> Result<()> {
        self.buffered = on;
        if on {
            self.stdout_buf.reserve(STDOUT_BUF);
            Ok(())
        } else {
            self.flush()
        }
    }

    /// Writes out buffered stdout.
    pub fn flush(&mut self) -> Result<()> {
        if self.stdout_buf.is_empty() {
            return Ok(());
        }
        let result = write_stdout(&self.stdout_buf);
        self.stdout_buf.clear();
        result
    }

    fn stdout(&mut self, data: &[u8]) -> Result<()> {
        if !self.buffered {
            return write_stdout(data);
        }
        self.stdout_buf.extend_from_slice(data);
        if self.stdout_buf.len() >= STDOUT_BUF {
            self.flush()?;
        }
        Ok(())
    }

    /// Renders one event. Fails only when stdout is gone.
    pub fn emit(&mut self, event: &Event) -> Result<()> {
        match self.mode {
            Mode::Json => {
                let mut line = std::mem::take(&mut self.line);
                line.clear();
                self.json.render(event, &mut line);
                let result = self.stdout(&line);
                self.line = line;
                result
            }
            Mode::Human => {
                if let Event::Data { bytes, .. } | Event::Verbatim { bytes, .. } = event {
                    return self.stdout(bytes);
                }
                let style = human::Style {
                    color_out: self.color_out,
                    color_err: self.color_err,
                    level: self.level,
                };
                let mut out = Vec::new();
                self.line.clear();
                human::render(event, &style, &mut out, &mut self.line);
                if !self.line.is_empty() {
                    write_stderr(&self.line);
                }
                if !out.is_empty() {
                    self.stdout(&out)?;
                }
                Ok(())
            }
        }
    }

    /// Hex dump of traffic on stderr (`--hex`), in either mode.
    pub fn hex(&mut self, dir: Direction, offset: u64, bytes: &[u8]) {
        self.line.clear();
        hexdump(dir, offset, bytes, self.color_err, &mut self.line);
        write_stderr(&self.line);
    }

    /// A notice on stderr for people (not an event: nothing in JSON mode).
    pub fn notice(&mut self, text: &str) {
        if self.mode == Mode::Human && self.level >= Level::Normal {
            self.line.clear();
            human::notice(text, self.color_err, &mut self.line);
            write_stderr(&self.line);
        }
    }

    /// A progress line on stderr, redrawn in place; `None` clears it.
    pub fn progress(&mut self, text: Option<&str>) {
        self.line.clear();
        self.line.extend_from_slice(b"\r");
        if let Some(t) = text {
            self.line.extend_from_slice(t.as_bytes());
        }
        self.line.extend_from_slice(b"\x1b[K");
        write_stderr(&self.line);
    }

    /// Bytes asked for on stderr as they are (`-w '%{stderr}...'`), in
    /// either mode.
    pub fn verbatim_stderr(&mut self, bytes: &[u8]) {
        write_stderr(bytes);
    }

    /// Whether stderr is a terminal a progress bar may be drawn on.
    pub fn can_draw_progress(&self) -> bool {
        self.mode == Mode::Human && self.level >= Level::Normal && io::stderr().is_terminal()
    }

    /// A warning on stderr, shown unless `-q` (even in JSON mode: it is not data).
    pub fn warn(&mut self, text: &str) {
        if self.level >= Level::Normal {
            self.line.clear();
            human::warning(text, self.color_err, &mut self.line);
            write_stderr(&self.line);
        }
    }

    /// Reports the error that ends the run: the one stderr line, plus an
    /// `error` event in JSON mode.
    pub fn error(&mut self, err: &Error) {
        if err.is_silent() {
            return;
        }
        let _ = self.flush();
        if self.mode == Mode::Json {
            self.line.clear();
            json::render_error(err, &mut self.line);
            let _ = write_stdout(&self.line);
        }
        if !self.hide_errors {
            report_error(err, self.color_err);
        }
    }
}

/// Prints `netkit: <what>: <why>` on stderr.
pub fn report_error(err: &Error, color: bool) {
    let mut line = Vec::new();
    human::error_line(err, color, &mut line);
    write_stderr(&line);
}

/// Whether a stream gets color: `--color`, then `NO_COLOR`, then the TTY test.
pub fn want_color(choice: ColorChoice, is_tty: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// Whether stderr is a terminal (for what to draw there).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// Writes all of `data` to stdout, uncopied. EPIPE becomes a quiet exit.
pub fn write_stdout(data: &[u8]) -> Result<()> {
    write_fd(1, data).map_err(|e| {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Error::stdout_closed()
        } else {
            Error::io("write to stdout", &e)
        }
    })
}

/// Writes to stderr, ignoring failure (there is nowhere left to report it).
pub fn write_stderr(data: &[u8]) {
    let _ = io::stderr().lock().write_all(data);
}

/// `write(2)` until done; waits for POLLOUT if the fd is non-blocking.
fn write_fd(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is a valid slice for the length given.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n >= 0 {
            data = &data[n as usize..];
            continue;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut pfd, 1, -1) };
            }
            _ => return Err(err),
        }
    }
    Ok(())
}
