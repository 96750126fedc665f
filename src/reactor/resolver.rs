//! Name resolution off the loop thread.
//!
//! `getaddrinfo` blocks, for as long as the system resolver likes: run on
//! the event-loop thread it would freeze every timer and connection. A
//! [`Lookup`] runs it on a thread of its own and answers through a socket
//! pair registered under the caller's token (one byte when the result is
//! ready, as the signal bridge does; any number of lookups and a stdin
//! `Waker` can coexist). The caller forwards the token's events
//! ([`Lookup::ready`]) and the timer ([`Lookup::timed_out`]): a lookup is
//! bounded by the timeout it was started with. When that expires the caller
//! reports it and drops the lookup; the thread finishes in the background
//! and its answer goes nowhere. A [`Resolver`] bounds the lookups still
//! running, timed out or not, so a resolver that never answers cannot
//! pile up threads.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use mio::net::UnixStream;
use mio::{Interest, Token};

use super::{Ctx, TimerId};

/// Lookups (running or abandoned after a timeout) one resolver allows at once.
pub const MAX_LOOKUPS: usize = 8;

/// `host, port -> addresses`, blocking; run on a worker thread.
pub type LookupFn = Arc<dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync>;

/// The system resolver (getaddrinfo). Its own failures come back typed, a
/// [`LookupError`] inside the I/O error (see [`lookup_error`]), so callers
/// decide by the code, not by the words.
pub fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let Ok(name) = std::ffi::CString::new(host) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "host name contains a NUL byte",
        ));
    };
    // SAFETY: zeroed addrinfo is a valid "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_socktype = libc::SOCK_STREAM;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `name` is NUL-terminated, `hints` and `res` are valid pointers.
    let code = unsafe { libc::getaddrinfo(name.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if code == libc::EAI_SYSTEM {
        return Err(io::Error::last_os_error());
    }
    if code != 0 {
        // SAFETY: gai_strerror returns a static NUL-terminated string.
        let text = unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(code)) }
            .to_string_lossy()
            .into_owned();
        return Err(io::Error::other(LookupError { code, text }));
    }
    let mut addrs = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: `cur` walks the list getaddrinfo returned, freed below.
        let ai = unsafe { &*cur };
        let len = ai.ai_addrlen as usize;
        if !ai.ai_addr.is_null() {
            if ai.ai_family == libc::AF_INET && len >= std::mem::size_of::<libc::sockaddr_in>() {
                // SAFETY: an AF_INET entry of that length is a sockaddr_in.
                let sin =
                    unsafe { std::ptr::read_unaligned(ai.ai_addr as *const libc::sockaddr_in) };
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                addrs.push(SocketAddr::new(ip.into(), port));
            } else if ai.ai_family == libc::AF_INET6
                && len >= std::mem::size_of::<libc::sockaddr_in6>()
            {
                // SAFETY: an AF_INET6 entry of that length is a sockaddr_in6.
                let sin6 =
                    unsafe { std::ptr::read_unaligned(ai.ai_addr as *const libc::sockaddr_in6) };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                addrs.push(SocketAddr::V6(std::net::SocketAddrV6::new(
                    ip,
                    port,
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )));
            }
        }
        cur = ai.ai_next;
    }
    // SAFETY: `res` came from a successful getaddrinfo.
    unsafe { libc::freeaddrinfo(res) };
    Ok(addrs)
}

/// A getaddrinfo failure: its `EAI_*` code and the resolver's words for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupError {
    pub code: i32,
    pub text: String,
}

impl LookupError {
    /// The name does not exist (or has no address): `EAI_NONAME`, `EAI_NODATA`.
    pub fn no_such_host(&self) -> bool {
        self.code == libc::EAI_NONAME || self.code == libc::EAI_NODATA
    }
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for LookupError {}

/// The resolver's own failure inside an I/O error from [`system_lookup`].
pub fn lookup_error(e: &io::Error) -> Option<&LookupError> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<LookupError>())
}

/// Starts lookups, at most [`MAX_LOOKUPS`] at a time (clones share the bound).
#[derive(Clone)]
pub struct Resolver {
    lookup: LookupFn,
    running: Arc<AtomicUsize>,
    max: usize,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver::new(Arc::new(system_lookup), MAX_LOOKUPS)
    }
}

/// What a lookup came to.
pub enum Resolved {
    Pending,
    Done(io::Result<Vec<SocketAddr>>),
}

/// One lookup in flight.
pub struct Lookup {
    rx: UnixStream,
    answer: Receiver<io::Result<Vec<SocketAddr>>>,
    timer: Option<TimerId>,
    pub host: String,
    pub timeout: Duration,
}

/// Gives back a slot when the worker thread ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Resolver {
    pub fn new(lookup: LookupFn, max: usize) -> Resolver {
        Resolver {
            lookup,
            running: Arc::new(AtomicUsize::new(0)),
            max,
        }
    }

    /// Lookups whose thread has not finished.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Starts resolving `host`: the answer comes as an event on `token`,
    /// or `key` fires after `timeout` (none if too far away to arm). Fails
    /// with `TimedOut` when [`MAX_LOOKUPS`] are still running.
    pub fn start<K>(
        &self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> io::Result<Lookup> {
        let taken = self
            .running
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} earlier lookups are still running (the resolver is not answering)",
                    self.max
                ),
            ));
        }
        let slot = Slot(self.running.clone());
        let (mut wake, rx) = StdUnixStream::pair()?;
        rx.set_nonblocking(true)?;
        let mut rx = UnixStream::from_std(rx);
        cx.registry.register(&mut rx, token, Interest::READABLE)?;
        let (tx, answer) = mpsc::sync_channel(1);
        let lookup = self.lookup.clone();
        let name = host.to_string();
        let spawned = std::thread::Builder::new()
            .name("resolver".into())
            .spawn(move || {
                let _slot = slot;
                let result = lookup(&name, port);
                // The loop may have given up (timeout): then nobody listens.
                if tx.send(result).is_ok() {
                    let _ = wake.write_all(b"!");
                }
            });
        if let Err(e) = spawned {
            let _ = cx.registry.deregister(&mut rx);
            return Err(e);
        }
        let timer = cx.timers.add_after(cx.now, timeout, key);
        Ok(Lookup {
            rx,
            answer,
            timer,
            host: host.to_string(),
            timeout,
        })
    }
}

impl Lookup {
    /// An event on the lookup's token: the answer, if it came.
    pub fn ready<K>(&mut self, cx: &mut Ctx<K>) -> Resolved {
        match self.answer.try_recv() {
            Ok(result) => {
                self.cancel(cx);
                Resolved::Done(result)
            }
            Err(TryRecvError::Empty) => Resolved::Pending,
            Err(TryRecvError::Disconnected) => {
                self.cancel(cx);
                Resolved::Done(Err(io::Error::other("the resolver thread died")))
            }
        }
    }

    /// Stops listening: deregisters and cancels the timer. The thread, if
    /// still running, finishes on its own and its answer is dropped.
    pub fn cancel<K>(&mut self, cx: &mut Ctx<K>) {
        let _ = cx.registry.deregister(&mut self.rx);
        if let Some(t) = self.timer.take() {
            cx.timers.cancel(t);
        }
    }

    /// The lookup's timer fired: the error to report (after which the
    /// caller drops the lookup).
    pub fn timed_out<K>(&mut self, cx: &mut Ctx<K>) -> io::Error {
        self.timer = None;
        self.cancel(cx);
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "name resolution timed out after {}",
                humantime::format_duration(self.timeout)
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::Timers;
    use mio::{Events, Poll};
    use std::sync::Mutex;
    use std::time::Instant;

    const LOOKUP: Token = Token(7);

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Key {
        Tick,
        Lookup,
    }

    fn addr() -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 1], 80))
    }

    /// A lookup function that sleeps, then answers.
    fn slow(d: Duration) -> LookupFn {
        Arc::new(move |_host: &str, port| {
            std::thread::sleep(d);
            Ok(vec![SocketAddr::from(([192, 0, 2, 1], port))])
        })
    }

    /// Runs a loop: ticks every 20 ms, forwards the lookup's events and
    /// timer; returns what happened in order and the lookup's end.
    fn drive(
        resolver: &Resolver,
        timeout: Duration,
        limit: Duration,
    ) -> (Vec<&'static str>, io::Result<Vec<SocketAddr>>) {
        let mut poll = Poll::new().unwrap();
        let mut events = Events::with_capacity(16);
        let mut timers = Timers::new();
        let started = Instant::now();
        let mut lookup = {
            let mut cx = Ctx {
                registry: poll.registry(),
                timers: &mut timers,
                now: started,
            };
            cx.timers
                .add(started + Duration::from_millis(20), Key::Tick);
            resolver
                .start(&mut cx, LOOKUP, Key::Lookup, "example.test", 80, timeout)
                .unwrap()
        };
        let mut log = Vec::new();
        loop {
            assert!(started.elapsed() < limit, "no end after {limit:?}: {log:?}");
            let now = Instant::now();
            let wait = timers
                .next_deadline()
                .map(|d| d.saturating_duration_since(now));
            poll.poll(&mut events, wait).unwrap();
            let now = Instant::now();
            let mut cx = Ctx {
                registry: poll.registry(),
                timers: &mut timers,
                now,
            };
            for e in events.iter() {
                assert_eq!(e.token(), LOOKUP);
                if let Resolved::Done(r) = lookup.ready(&mut cx) {
                    log.push("resolved");
                    return (log, r);
                }
            }
            while let Some(k) = cx.timers.pop_expired(now) {
                match k {
                    Key::Tick => {
                        log.push("tick");
                        cx.timers.add(now + Duration::from_millis(20), Key::Tick);
                    }
                    Key::Lookup => {
                        log.push("timeout");
                        return (log, Err(lookup.timed_out(&mut cx)));
                    }
                }
            }
        }
    }

    #[test]
    fn timers_keep_firing_while_a_slow_lookup_runs() {
        let resolver = Resolver::new(slow(Duration::from_millis(300)), 4);
        let (log, r) = drive(&resolver, Duration::from_secs(20), Duration::from_secs(20));
        assert_eq!(r.unwrap(), vec![addr()]);
        assert_eq!(log.last(), Some(&"resolved"));
        let ticks = log.iter().filter(|&&e| e == "tick").count();
        assert!(ticks >= 5, "the loop was blocked: {log:?}");
    }

    #[test]
    fn a_lookup_past_its_timeout_is_reported_and_its_answer_dropped() {
        let resolver = Resolver::new(slow(Duration::from_millis(400)), 4);
        let (log, r) = drive(
            &resolver,
            Duration::from_millis(100),
            Duration::from_secs(20),
        );
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert_eq!(e.to_string(), "name resolution timed out after 100ms");
        assert_eq!(log.last(), Some(&"timeout"));
        assert_eq!(
            resolver.running(),
            1,
            "the thread goes on in the background"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while resolver.running() > 0 {
            assert!(Instant::now() < deadline, "the thread never finished");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_failed_lookup_is_its_error() {
        let resolver = Resolver::new(
            Arc::new(|_: &str, _| Err(io::Error::other("no such host"))),
            4,
        );
        let (_, r) = drive(&resolver, Duration::from_secs(20), Duration::from_secs(20));
        assert_eq!(r.unwrap_err().to_string(), "no such host");
    }

    #[test]
    fn lookups_still_running_are_bounded() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let g = gate.clone();
        let resolver = Resolver::new(
            Arc::new(move |_: &str, _| {
                drop(g.lock());
                Ok(Vec::new())
            }),
            2,
        );
        let poll = Poll::new().unwrap();
        let mut timers = Timers::new();
        let mut cx = Ctx {
            registry: poll.registry(),
            timers: &mut timers,
            now: Instant::now(),
        };
        let d = Duration::from_secs(60);
        let a = resolver
            .start(&mut cx, LOOKUP, Key::Lookup, "a", 1, d)
            .unwrap();
        let b = resolver
            .start(&mut cx, LOOKUP, Key::Lookup, "b", 1, d)
            .unwrap();
        let e = resolver
            .start(&mut cx, LOOKUP, Key::Lookup, "c", 1, d)
            .err()
            .expect("a third lookup");
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        drop((a, b));
        drop(held);
        let deadline = Instant::now() + Duration::from_secs(20);
        while resolver.running() > 0 {
            assert!(Instant::now() < deadline, "threads never finished");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(resolver
            .start(&mut cx, LOOKUP, Key::Lookup, "d", 1, d)
            .is_ok());
    }
}
