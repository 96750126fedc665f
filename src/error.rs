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

/// The exit code of an error chain (the command layer's `anyhow::Error`),
/// recovered from its typed causes, outermost first: a coded [`Error`]
/// says it outright; a TLS failure is 7; a malformed HTTP response, a
/// WebSocket protocol violation or an unfollowable redirect is 6; a URL
/// netkit cannot request is 2; an I/O error maps as [`exit_for_io`] says.
/// Anything else is 1.
pub fn exit_of(err: &anyhow::Error) -> Exit {
    use crate::proto::http_client::{RedirectError, UrlError};
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<Error>() {
            return e.kind;
        }
        if cause.is::<crate::net::tls::TlsFailure>() {
            return Exit::Tls;
        }
        if cause.is::<crate::proto::http::HttpError>()
            || cause.is::<crate::proto::ws::frame::WsError>()
            || cause.is::<RedirectError>()
        {
            return Exit::Protocol;
        }
        if cause.is::<UrlError>() {
            return Exit::Usage;
        }
        if let Some(e) = cause.downcast_ref::<io::Error>() {
            // A TLS failure travels inside the I/O error of its transport.
            if crate::net::tls::tls_failure(e).is_some() {
                return Exit::Tls;
            }
            return exit_for_io(e);
        }
    }
    Exit::Failed
}

/// The one line an error chain is reported as, with its exit code: a coded
/// [`Error`] as it is; otherwise the outermost context is what failed and
/// the cause under it why (an I/O error in its short words).
pub fn flatten(err: &anyhow::Error) -> Error {
    let kind = exit_of(err);
    let words = |cause: &(dyn std::error::Error + 'static)| -> String {
        if let Some(e) = cause.downcast_ref::<Error>() {
            return e.to_string();
        }
        if let Some(e) = cause.downcast_ref::<io::Error>() {
            if let Some(f) = crate::net::tls::tls_failure(e) {
                return f.to_string();
            }
            return describe_io(e);
        }
        cause.to_string()
    };
    let mut chain = err.chain();
    let Some(first) = chain.next() else {
        return Error::new(kind, "", "");
    };
    if let Some(e) = first.downcast_ref::<Error>() {
        return Error::new(kind, e.what.clone(), e.why.clone());
    }
    match chain.next() {
        Some(cause) => Error::new(kind, first.to_string(), words(cause)),
        None => Error::new(kind, "", words(first)),
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;
    use anyhow::Context as _;

    /// Chain -> exit code and line: the table the command layer relies on.
    #[test]
    fn chains_map_to_exit_codes_and_one_line() {
        use crate::net::tls::TlsFailure;
        use crate::proto::http::HttpError;
        use crate::proto::http_client::{RedirectError, UrlError};
        let io_tls = io::Error::other(TlsFailure("certificate not trusted".into()));
        let table: Vec<(anyhow::Error, Exit, &str)> = vec![
            (
                Error::usage("-H", "not a header").into(),
                Exit::Usage,
                "-H: not a header",
            ),
            (
                anyhow::Error::new(Error::timeout("x", "late")).context("outer"),
                Exit::Timeout,
                "outer: x: late",
            ),
            (
                anyhow::Error::new(HttpError::EmptyReply).context("response from h:80"),
                Exit::Protocol,
                "response from h:80: empty reply from server",
            ),
            (
                anyhow::Error::new(io_tls).context("TLS with h:443"),
                Exit::Tls,
                "TLS with h:443: certificate not trusted",
            ),
            (
                anyhow::Error::new(TlsFailure("bad".into())).context("TLS with h:443"),
                Exit::Tls,
                "TLS with h:443: bad",
            ),
            (
                anyhow::Error::new(io::Error::from_raw_os_error(libc::ECONNRESET))
                    .context("response from h:80"),
                Exit::Refused,
                "response from h:80: connection reset by peer",
            ),
            (
                anyhow::Error::new(io::Error::from_raw_os_error(libc::ETIMEDOUT))
                    .context("connect h:80"),
                Exit::Timeout,
                "connect h:80: timed out",
            ),
            (
                anyhow::Error::new(crate::proto::ws::frame::WsError {
                    code: 1002,
                    reason: "bad frame".into(),
                })
                .context("ws://h/"),
                Exit::Protocol,
                "ws://h/: bad frame (close 1002)",
            ),
            (
                anyhow::Error::new(RedirectError::BadLocation {
                    location: "x".into(),
                    why: "y".into(),
                })
                .context("http://h/"),
                Exit::Protocol,
                "http://h/: bad Location \"x\": y",
            ),
            (
                anyhow::Error::new(UrlError {
                    url: "ftp://h/".into(),
                    why: "no".into(),
                }),
                Exit::Usage,
                "ftp://h/: no",
            ),
            (
                anyhow::anyhow!("something else"),
                Exit::Failed,
                "something else",
            ),
            (
                Err::<(), _>(io::Error::from_raw_os_error(libc::ECONNREFUSED))
                    .context("connect h:1")
                    .unwrap_err(),
                Exit::Refused,
                "connect h:1: connection refused",
            ),
        ];
        for (err, exit, line) in table {
            assert_eq!(exit_of(&err), exit, "{err:#}");
            let flat = flatten(&err);
            assert_eq!(flat.kind, exit);
            assert_eq!(flat.to_string(), line, "{err:#}");
        }
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
