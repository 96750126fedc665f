//! Unix domain stream sockets: `PATH` or, on Linux, `@name` for an abstract
//! name. Connecting is immediate (the kernel answers at once), so it is done
//! before the loop starts.

use std::io;
use std::os::unix::net::SocketAddr as UnixAddr;
use std::path::Path;

use mio::net::{UnixListener, UnixStream};

use crate::error::{describe_io, exit_for_io, Error, Exit, Result};

/// The address `PATH` or `@name` names.
pub fn address(path: &str) -> Result<UnixAddr> {
    if path.is_empty() {
        return Err(Error::usage("unix socket", "empty path"));
    }
    let addr = match path.strip_prefix('@') {
        Some(name) => abstract_name(name.as_bytes()),
        None => UnixAddr::from_pathname(path),
    };
    addr.map_err(|e| Error::usage(format!("unix socket {path}"), describe_io(&e)))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_name(name: &[u8]) -> io::Result<UnixAddr> {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    UnixAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_name(_: &[u8]) -> io::Result<UnixAddr> {
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "abstract socket names (@name) exist only on Linux",
    ))
}

/// Connects to `path` (non-blocking once connected).
pub fn connect(path: &str) -> Result<UnixStream> {
    let addr = address(path)?;
    let what = format!("connect {path}");
    let stream = std::os::unix::net::UnixStream::connect_addr(&addr).map_err(|e| {
        let (kind, why) = match e.kind() {
            io::ErrorKind::NotFound => (
                Exit::Refused,
                "no such socket (is anything listening there?)".to_string(),
            ),
            io::ErrorKind::ConnectionRefused => (
                Exit::Refused,
                "connection refused (a stale socket file: is anything listening there?)"
                    .to_string(),
            ),
            _ => (exit_for_io(&e), describe_io(&e)),
        };
        Error::new(kind, what.clone(), why)
    })?;
    stream
        .set_nonblocking(true)
        .map_err(|e| Error::io(what, &e))?;
    Ok(UnixStream::from_std(stream))
}

/// Listens on `path`. A socket file left by a listener that is gone is
/// replaced; one with a live listener is "address in use" (exit 1).
/// Returns the listener and the [`Cleanup`] of the file it created.
pub fn listen(path: &str) -> Result<(UnixListener, Cleanup)> {
    let addr = address(path)?;
    let what = format!("listen on {path}");
    let bind = || std::os::unix::net::UnixListener::bind_addr(&addr);
    let listener = match bind() {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse && !path.starts_with('@') => {
            if live(path, &addr) {
                return Err(Error::new(
                    Exit::Failed,
                    what,
                    "address in use (another listener is there)",
                ));
            }
            // Stale: nobody accepts on it any more.
            std::fs::remove_file(path).map_err(|e| Error::io(what.clone(), &e))?;
            bind().map_err(|e| Error::io(what.clone(), &e))?
        }
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            return Err(Error::new(Exit::Failed, what, "address in use"))
        }
        Err(e) => return Err(Error::io(what, &e)),
    };
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io(what, &e))?;
    let file = (!path.starts_with('@')).then(|| path.to_string());
    Ok((UnixListener::from_std(listener), Cleanup(file)))
}

/// Whether a listener still accepts on the socket file `path`. On Linux
/// this reads /proc/net/unix rather than connecting, because a connection
/// would be a one-client listener's (`nc -lU`) only client. A listener
/// bound by a relative path is matched by file name: when unsure, live.
fn live(path: &str, addr: &UnixAddr) -> bool {
    if let Ok(table) = std::fs::read_to_string("/proc/net/unix") {
        let ours = Path::new(path);
        let canonical = std::fs::canonicalize(ours).ok();
        return table.lines().skip(1).any(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // Flags 00010000: accepting connections.
            if f.len() < 8 || f[3] != "00010000" {
                return false;
            }
            let theirs = Path::new(f[7]);
            if theirs.is_absolute() {
                theirs == ours || Some(theirs) == canonical.as_deref()
            } else {
                theirs == ours || theirs.file_name() == ours.file_name()
            }
        });
    }
    std::os::unix::net::UnixStream::connect_addr(addr).is_ok()
}

/// Removes the socket file a listener created when it drops (none for an
/// abstract `@name`), however the server ends.
pub struct Cleanup(Option<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(path) = &self.0 {
            remove(path);
        }
    }
}

/// Removes the socket file a listener created (best effort).
pub fn remove(path: &str) {
    if Path::new(path).exists() {
        let _ = std::fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert!(address("/tmp/x.sock").unwrap().as_pathname().is_some());
        assert_eq!(address("").unwrap_err().kind, Exit::Usage);
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            assert_eq!(
                address("@netkit").unwrap().as_abstract_name(),
                Some(&b"netkit"[..])
            );
        }
    }
}
