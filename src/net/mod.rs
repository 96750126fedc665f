//! Sockets: name resolution, non-blocking connect with a source address,
//! listeners, and the file-descriptor limit.
//!
//! [`resolve`] uses the system resolver (getaddrinfo) before the loop
//! starts; lookups made while it runs go through
//! [`crate::reactor::resolver`], on a thread of their own. TLS (rustls) is
//! in [`tls`].

pub mod listener;
pub mod proxy;
pub mod tls;
pub mod transport;
pub mod unix;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use mio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, Socket, Type};

pub use listener::{Accept, Listener, Peer, Stream};

pub use crate::cli::Family;
use crate::error::{describe_io, Error, Exit, Result};

/// A usage error when `ip` (given as `what`: a literal host, `--bind ADDR`)
/// is of the family that `-4`/`-6` excludes: the one place every command
/// checks that contradiction.
pub fn check_family(ip: IpAddr, family: Family, what: &str) -> Result<()> {
    let (flag, is, only) = match ip {
        IpAddr::V6(_) if family.ipv4 => ("-4", "IPv6", "IPv4"),
        IpAddr::V4(_) if family.ipv6 => ("-6", "IPv4", "IPv6"),
        _ => return Ok(()),
    };
    Err(Error::usage(
        what,
        format!("an {is} address contradicts {flag} ({only} only)"),
    ))
}

/// Every address of `host`, in resolver order, restricted by `-4`/`-6`; a
/// literal address of the excluded family is a usage error. This blocks in
/// getaddrinfo: the loop's clients use [`crate::reactor::resolver`] instead,
/// then [`pick`].
pub fn resolve(host: &str, port: u16, family: Family) -> Result<Vec<SocketAddr>> {
    let bare = bare_host(host);
    if bare.is_empty() {
        return Err(Error::usage("host", "empty host name"));
    }
    let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
        Ok(ip) => {
            check_family(ip, family, bare)?;
            vec![SocketAddr::new(ip, port)]
        }
        Err(_) => crate::reactor::resolver::system_lookup(bare, port)
            .map_err(|e| resolve_error(bare, &e))?,
    };
    pick(bare, &addrs, family)
}

/// The address a host name given to `--bind` or `--source` stands for: its
/// first IPv4 address, else its first IPv6 one (so `localhost` is
/// 127.0.0.1, as with nc). Resolved once, before the loop starts.
pub fn bind_name(name: &str) -> Result<IpAddr> {
    let bind = BindAddr::name(name)?;
    Ok(bind.ip(Family::default()))
}

/// What `--bind` names: an address, or a host name's first IPv4 and first
/// IPv6 address (looked up once, before the loop), so that `-6 --bind
/// localhost` binds ::1 and a plain `--bind localhost` 127.0.0.1, as nc does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindAddr {
    Ip(IpAddr),
    Name {
        v4: Option<IpAddr>,
        v6: Option<IpAddr>,
    },
}

impl BindAddr {
    /// Looks `name` up (exit 3 when it has no address).
    pub fn name(name: &str) -> Result<BindAddr> {
        let addrs: Vec<SocketAddr> = crate::reactor::resolver::system_lookup(bare_host(name), 0)
            .map_err(|e| resolve_error(name, &e))?;
        let v4 = addrs.iter().find(|a| a.is_ipv4()).map(SocketAddr::ip);
        let v6 = addrs.iter().find(|a| a.is_ipv6()).map(SocketAddr::ip);
        if v4.is_none() && v6.is_none() {
            return Err(Error::new(
                Exit::Resolve,
                format!("resolve {name}"),
                "no address",
            ));
        }
        Ok(BindAddr::Name { v4, v6 })
    }

    /// The address to bind under `-4`/`-6`: a name's IPv4 address unless
    /// `-6` asks for its IPv6 one (a name without one of the wanted family
    /// gives the other, which the family check then refuses).
    pub fn ip(&self, family: Family) -> IpAddr {
        match *self {
            BindAddr::Ip(ip) => ip,
            BindAddr::Name { v4, v6 } => {
                let (first, second) = if family.ipv6 { (v6, v4) } else { (v4, v6) };
                first
                    .or(second)
                    .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
            }
        }
    }
}

/// `host` without the brackets of an IPv6 literal.
pub fn bare_host(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Whether `host` is an IP address (no lookup needed).
pub fn is_literal(host: &str) -> bool {
    bare_host(host).parse::<IpAddr>().is_ok()
}

/// A failed lookup of `host` (exit 3; 5 for a lookup that timed out).
pub fn resolve_error(host: &str, e: &io::Error) -> Error {
    if e.kind() == io::ErrorKind::TimedOut {
        return Error::timeout(format!("resolve {host}"), e.to_string());
    }
    Error::new(Exit::Resolve, format!("resolve {host}"), resolver_reason(e))
}

/// The addresses `-4`/`-6` allow, in order; an error if none.
pub fn pick(host: &str, addrs: &[SocketAddr], family: Family) -> Result<Vec<SocketAddr>> {
    let wanted: Vec<SocketAddr> = addrs
        .iter()
        .copied()
        .filter(|a| !(family.ipv4 && a.is_ipv6() || family.ipv6 && a.is_ipv4()))
        .collect();
    if wanted.is_empty() {
        if addrs.is_empty() {
            return Err(Error::new(
                Exit::Resolve,
                format!("resolve {host}"),
                "no address",
            ));
        }
        let which = if family.ipv4 { "IPv4" } else { "IPv6" };
        return Err(Error::new(
            Exit::Resolve,
            format!("resolve {host}"),
            format!("no {which} address (found {})", list(addrs)),
        ));
    }
    Ok(wanted)
}

/// The resolver's words for a failed lookup, with a hint decided by its
/// code (`EAI_NONAME`, `EAI_NODATA`: no such host), never by the words.
fn resolver_reason(e: &io::Error) -> String {
    let Some(lookup) = crate::reactor::resolver::lookup_error(e) else {
        return describe_io(e);
    };
    // "Name or service not known" as "name or service not known".
    let mut reason = describe_io(&io::Error::other(lookup.text.clone()));
    if lookup.no_such_host() {
        reason.push_str(" (no such host)");
    }
    reason
}

/// An IPv4-mapped IPv6 address (from a dual-stack listener) as plain IPv4.
pub fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => addr,
        },
        v4 => v4,
    }
}

/// How long a server waits before accepting again after running out of
/// file descriptors (with edge-triggered readiness, no new event would come).
pub const ACCEPT_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// What [`Acceptor::next`] found.
pub enum Accepted {
    Client(Accept),
    /// Nothing waiting (or accepting is paused).
    None,
    /// Out of descriptors: accepting pauses until [`Acceptor::resume`],
    /// which the caller's retry timer (already armed) should call.
    Exhausted(io::Error),
}

/// A listener that pauses, instead of spinning, when the process runs out
/// of file descriptors.
pub struct Acceptor {
    pub listener: Listener,
    paused: bool,
}

impl Acceptor {
    pub fn new(listener: Listener) -> Acceptor {
        Acceptor {
            listener,
            paused: false,
        }
    }

    /// The next waiting client; on exhaustion arms `retry` and pauses.
    pub fn next<K>(&mut self, cx: &mut crate::reactor::Ctx<K>, retry: K) -> Accepted {
        if self.paused {
            return Accepted::None;
        }
        match self.listener.accept() {
            Ok(Some(a)) => Accepted::Client(a),
            Ok(None) => Accepted::None,
            Err(e) => {
                self.paused = true;
                cx.timers.add(cx.now + ACCEPT_RETRY, retry);
                Accepted::Exhausted(e)
            }
        }
    }

    pub fn resume(&mut self) {
        self.paused = false;
    }
}

/// `a, b, c` for error messages.
pub fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Starts a non-blocking connect to `addr`, from `source` if given;
/// `nodelay` for connections that will carry interactive data.
pub fn start_connect(
    addr: SocketAddr,
    source: Option<SocketAddr>,
    nodelay: bool,
) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    if let Some(src) = source {
        if src.is_ipv4() != addr.is_ipv4() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("source {src} and destination {addr} are different address families"),
            ));
        }
        socket.set_reuse_address(true)?;
        socket.bind(&src.into())?;
    }
    if nodelay {
        socket.set_tcp_nodelay(true)?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Connects a socket whose previous connect was refused to `addr` (Linux
/// allows it; the first try only resets the socket with ECONNABORTED).
pub fn reconnect(stream: &TcpStream, addr: SocketAddr) -> io::Result<()> {
    let sock = socket2::SockRef::from(stream);
    for _ in 0..2 {
        match sock.connect(&addr.into()) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::from_raw_os_error(libc::ECONNABORTED))
}

/// After a WRITABLE (or error) event on a connecting stream: `Ok(true)` when
/// connected, `Ok(false)` when still in progress, `Err` when it failed.
pub fn finish_connect(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Binds a TCP listener. Without `bind`, every interface: a dual-stack
/// `[::]` socket, or `0.0.0.0` where IPv6 is missing or `-4` was given.
pub fn listen(bind: Option<IpAddr>, port: u16, family: Family) -> Result<TcpListener> {
    let socket = bind_first(bind, port, family, "listen on", |addr, dual_stack| {
        let socket = bound_socket(addr, dual_stack, Type::STREAM, true)?;
        // The kernel caps this at net.core.somaxconn.
        socket.listen(4096)?;
        Ok(socket)
    })?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Binds a UDP socket the way [`listen`] binds a TCP one. `reuse` lets
/// several receivers share the port (multicast).
pub fn bind_udp(bind: Option<IpAddr>, port: u16, family: Family, reuse: bool) -> Result<Socket> {
    bind_first(bind, port, family, "bind", |addr, dual_stack| {
        bound_socket(addr, dual_stack, Type::DGRAM, reuse)
    })
}

/// Tries the bind candidates in order; the error names the address and, for
/// the common failures, what to do.
fn bind_first(
    bind: Option<IpAddr>,
    port: u16,
    family: Family,
    verb: &str,
    make: impl Fn(SocketAddr, bool) -> io::Result<Socket>,
) -> Result<Socket> {
    if let Some(ip) = bind {
        check_family(ip, family, &format!("--bind {ip}"))?;
    }
    let candidates: Vec<IpAddr> = match bind {
        Some(ip) => vec![ip],
        None if family.ipv4 => vec![Ipv4Addr::UNSPECIFIED.into()],
        None if family.ipv6 => vec![Ipv6Addr::UNSPECIFIED.into()],
        None => vec![Ipv6Addr::UNSPECIFIED.into(), Ipv4Addr::UNSPECIFIED.into()],
    };
    let dual_stack = bind.is_none() && !family.ipv6;
    let mut last = None;
    for ip in candidates {
        let addr = SocketAddr::new(ip, port);
        match make(addr, dual_stack) {
            Ok(socket) => return Ok(socket),
            Err(e) => {
                let fatal = matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRINUSE) | Some(libc::EACCES)
                );
                last = Some((addr, e));
                if fatal {
                    break;
                }
            }
        }
    }
    let (addr, e) = last.unwrap_or_else(|| {
        (
            SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port),
            io::Error::other("no address to bind"),
        )
    });
    let mut why = describe_io(&e);
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => {
            why.push_str(" (another program is using it; pick another port, or 0 for any)")
        }
        Some(libc::EACCES) if port < 1024 => why.push_str(" (ports below 1024 need privileges)"),
        _ => {}
    }
    let kind = if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) {
        Exit::Usage
    } else {
        Exit::Failed
    };
    Err(Error::new(kind, format!("{verb} {addr}"), why))
}

fn bound_socket(addr: SocketAddr, dual_stack: bool, ty: Type, reuse: bool) -> io::Result<Socket> {
    let proto = if ty == Type::STREAM {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let socket = Socket::new(
        Domain::for_address(addr),
        ty.nonblocking().cloexec(),
        Some(proto),
    )?;
    if reuse {
        socket.set_reuse_address(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(!dual_stack)?;
    }
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Raises the soft limit on open files to the hard limit; returns the new soft limit.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let want = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
                return want.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

#[cfg(test)]
mod tests {

    use crate::reactor::resolver::{system_lookup, LookupError};

    /// The "no such host" hint follows the resolver's code, not its words.
    #[test]
    fn resolver_failures_are_told_by_their_code() {
        let err = |code, text: &str| {
            io::Error::other(LookupError {
                code,
                text: text.into(),
            })
        };
        let e = resolve_error(
            "nx.test",
            &err(libc::EAI_NONAME, "Name or service not known"),
        );
        assert_eq!(e.kind, Exit::Resolve);
        assert_eq!(
            e.to_string(),
            "resolve nx.test: name or service not known (no such host)"
        );
        let e = resolve_error(
            "nx.test",
            &err(libc::EAI_NODATA, "No address associated with hostname"),
        );
        assert!(e.why.ends_with(" (no such host)"), "{e}");
        // Words that look alike do not decide: a temporary failure has no hint.
        let e = resolve_error("h", &err(libc::EAI_AGAIN, "name not known, try again"));
        assert_eq!(e.why, "name not known, try again");
        let e = resolve_error("h", &io::Error::from_raw_os_error(libc::ETIMEDOUT));
        assert_eq!(e.kind, Exit::Timeout);
    }

    #[test]
    fn the_system_lookup_sets_the_port() {
        let addrs = system_lookup("127.0.0.1", 8080).unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:8080".parse().unwrap()]);
        let addrs = system_lookup("::1", 9).unwrap();
        assert_eq!(addrs, vec!["[::1]:9".parse().unwrap()]);
        let e = system_lookup("a\0b", 1).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
    use super::*;

    #[test]
    fn a_bind_name_gives_the_address_of_the_family_asked_for() {
        let name = BindAddr::Name {
            v4: Some("127.0.0.1".parse().unwrap()),
            v6: Some("::1".parse().unwrap()),
        };
        let v6 = Family {
            ipv4: false,
            ipv6: true,
        };
        let v4 = Family {
            ipv4: true,
            ipv6: false,
        };
        assert_eq!(name.ip(Family::default()).to_string(), "127.0.0.1");
        assert_eq!(name.ip(v4).to_string(), "127.0.0.1");
        assert_eq!(name.ip(v6).to_string(), "::1");
        // Only IPv4: -6 gets it, and the family check refuses it (exit 2).
        let only4 = BindAddr::Name {
            v4: Some("127.0.0.1".parse().unwrap()),
            v6: None,
        };
        let ip = only4.ip(v6);
        assert_eq!(
            check_family(ip, v6, "--bind").unwrap_err().kind,
            Exit::Usage
        );
    }

    #[test]
    fn literals_do_not_touch_the_resolver() {
        let v = resolve("127.0.0.1", 80, Family::default()).unwrap();
        assert_eq!(v, vec!["127.0.0.1:80".parse().unwrap()]);
        let v = resolve("[::1]", 80, Family::default()).unwrap();
        assert_eq!(v, vec!["[::1]:80".parse().unwrap()]);
    }

    #[test]
    fn mapped_addresses_are_shown_as_ipv4() {
        let a: SocketAddr = "[::ffff:127.0.0.1]:80".parse().unwrap();
        assert_eq!(canonical(a), "127.0.0.1:80".parse().unwrap());
        let b: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(canonical(b), b);
    }

    const ONLY4: Family = Family {
        ipv4: true,
        ipv6: false,
    };
    const ONLY6: Family = Family {
        ipv4: false,
        ipv6: true,
    };

    #[test]
    fn a_literal_of_the_excluded_family_is_a_usage_error() {
        let e = resolve("127.0.0.1", 80, ONLY6).unwrap_err();
        assert_eq!(e.kind, Exit::Usage);
        assert_eq!(
            e.to_string(),
            "127.0.0.1: an IPv4 address contradicts -6 (IPv6 only)"
        );
        let e = resolve("[::1]", 80, ONLY4).unwrap_err();
        assert_eq!(e.kind, Exit::Usage);
        assert_eq!(
            e.to_string(),
            "::1: an IPv6 address contradicts -4 (IPv4 only)"
        );
        assert!(resolve("::1", 80, ONLY6).is_ok());
        assert!(resolve("127.0.0.1", 80, ONLY4).is_ok());
    }

    #[test]
    fn a_bind_address_of_the_excluded_family_is_a_usage_error() {
        let e = listen(Some("::1".parse().unwrap()), 0, ONLY4).unwrap_err();
        assert_eq!(e.kind, Exit::Usage);
        assert_eq!(
            e.to_string(),
            "--bind ::1: an IPv6 address contradicts -4 (IPv4 only)"
        );
        let e = bind_udp(Some("127.0.0.1".parse().unwrap()), 0, ONLY6, false).unwrap_err();
        assert_eq!(e.kind, Exit::Usage);
        assert_eq!(
            e.to_string(),
            "--bind 127.0.0.1: an IPv4 address contradicts -6 (IPv6 only)"
        );
    }

    #[test]
    fn unknown_host_is_a_resolve_error() {
        let e = resolve("nonexistent.invalid", 80, Family::default()).unwrap_err();
        assert_eq!(e.kind, Exit::Resolve);
        assert_eq!(e.what, "resolve nonexistent.invalid");
    }
}
