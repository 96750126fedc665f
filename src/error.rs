//! Errors and exit codes.
//!
//! Every failure netkit reports is one line, `netkit: <what failed>: <why>`,
//! and one documented exit code (see the README's table; never renumber).
//! Drivers build an [`Error`] with the kind that decides the code; `main`
//! prints it once and exits. A closed stdout is not an error at all: it is
//! carried as [`Error::stdout_closed`] and ends the process quietly with 0.

use std::fmt;
use std::io;

/// The documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// The thing checked is not so, or another runtime failure.
    Failed = 1,
    /// Bad flag, bad port, bad URL, unreadable input.
    Usage = 2,
    /// Name resolution failed.
    Resolve = 3,
    /// Connection refused, unreachable or reset.
    Refused = 4,
    /// Connect, idle or overall timeout.
    Timeout = 5,
    /// The peer broke the protocol.
    Protocol = 6,
    /// TLS handshake or certificate failure.
    Tls = 7,
    /// HTTP status >= 400 with --fail.
    HttpStatus = 8,
    /// SIGINT, after a graceful close.
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A failure with its exit code: what failed (an address, a URL, a flag) and why.
#[derive(Debug)]
pub struct Error {
    pub kind: Exit,
    pub what: String,
    pub why: String,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: Exit, what: impl Into<String>, why: impl Into<String>) -> Error {
        Error {
            kind,
            what: what.into(),
            why: why.into(),
        }
    }

    pub fn usage(what: impl Into<String>, why: impl Into<String>) -> Error {
        Error::new(Exit::Usage, what, why)
    }

    pub fn failed(what: impl Into<String>, why: impl Into<String>) -> Error {
        Error::new(Exit::Failed, what, why)
    }

    pub fn timeout(what: impl Into<String>, why: impl Into<String>) -> Error {
        Error::new(Exit::Timeout, what, why)
    }

    /// An I/O error on `what`, its exit code chosen by the error's kind.
    pub fn io(what: impl Into<String>, err: &io::Error) -> Error {
        Error::new(exit_for_io(err), what, describe_io(err))
    }

    /// stdout was closed by its reader (`| head`): end quietly, exit 0.
    pub fn stdout_closed() -> Error {
        Error::new(Exit::Ok, "stdout", "closed")
    }

    /// Whether this error should be printed at all.
    pub fn is_silent(&self) -> bool {
        self.kind == Exit::Ok
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.what.is_empty() {
            f.write_str(&self.why)
        } else {
            write!(f, "{}: {}", self.what, self.why)
        }
    }
}

impl std::error::Error for Error {}

/// The exit code an I/O error deserves.
pub fn exit_for_io(err: &io::Error) -> Exit {
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::BrokenPipe
        | K::HostUnreachable
        | K::NetworkUnreachable
        | K::NetworkDown
        | K::NotConnected => Exit::Refused,
        K::TimedOut => Exit::Timeout,
        K::InvalidInput | K::NotFound | K::PermissionDenied | K::IsADirectory => Exit::Usage,
        _ => match err.raw_os_error() {
            Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) | Some(libc::EHOSTDOWN) => {
                Exit::Refused
            }
            _ => Exit::Failed,
        },
    }
}

/// A short lower-case reason for an I/O error, without "(os error N)".
pub fn describe_io(err: &io::Error) -> String {
    let text = match err.raw_os_error() {
        Some(libc::ECONNREFUSED) => return "connection refused".into(),
        Some(libc::ECONNRESET) => return "connection reset by peer".into(),
        Some(libc::EPIPE) => return "connection closed by peer (broken pipe)".into(),
        Some(libc::EADDRINUSE) => return "address already in use".into(),
        Some(libc::EADDRNOTAVAIL) => return "address not available on this host".into(),
        Some(libc::EACCES) => return "permission denied".into(),
        Some(libc::ETIMEDOUT) => return "timed out".into(),
        Some(libc::EHOSTUNREACH) => return "no route to host".into(),
        Some(libc::ENETUNREACH) => return "network unreachable".into(),
        Some(libc::EMFILE) | Some(libc::ENFILE) => {
            return "too many open files (raise `ulimit -n`)".into()
        }
        _ => err.to_string(),
    };
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    lowercase_first(text)
}

fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_uppercase() && !chars.clone().next().is_some_and(char::is_uppercase) => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_documented_codes() {
        let refused = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        assert_eq!(exit_for_io(&refused), Exit::Refused);
        assert_eq!(describe_io(&refused), "connection refused");
        let reset = io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(exit_for_io(&reset), Exit::Refused);
        let timeout = io::Error::from_raw_os_error(libc::ETIMEDOUT);
        assert_eq!(exit_for_io(&timeout), Exit::Timeout);
        let inuse = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(exit_for_io(&inuse), Exit::Failed);
        assert_eq!(describe_io(&inuse), "address already in use");
    }

    #[test]
    fn descriptions_are_one_clean_line() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        let d = describe_io(&e);
        assert!(!d.contains("os error"), "{d}");
        assert!(d.starts_with('n'), "{d}");
        assert_eq!(lowercase_first("IPv6 only"), "IPv6 only");
    }

    #[test]
    fn display_is_what_then_why() {
        let e = Error::usage("port", "not a number: abc");
        assert_eq!(e.to_string(), "port: not a number: abc");
        assert_eq!(e.kind.code(), 2);
        assert!(Error::stdout_closed().is_silent());
    }
}
