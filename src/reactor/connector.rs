//! Connecting to a list of addresses, in order, each with its own timeout.
//!
//! A [`Connector`] starts a non-blocking connect on the first address,
//! registers it under the caller's token and arms a timer under the caller's
//! timer key. The caller forwards the token's events ([`Connector::ready`])
//! and the timer ([`Connector::timed_out`]); each returns an [`Outcome`]:
//! still pending, connected, moved on to the next address after a failure,
//! or failed for good (the last address's error).

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::{Ctx, TimerId};
use crate::net;

struct Attempt {
    stream: TcpStream,
    addr: SocketAddr,
    started: Instant,
    /// `None` when the timeout is past what an `Instant` holds: no deadline.
    timer: Option<TimerId>,
}

/// What a connect step came to.
pub enum Outcome {
    /// Still in progress.
    Pending,
    /// Connected: the stream (registered READABLE | WRITABLE under the
    /// caller's token), its address and how long connect() took.
    Connected(TcpStream, SocketAddr, Duration),
    /// `addr` failed with this error; the next address is being tried.
    Retrying(SocketAddr, io::Error),
    /// Every address failed; the last error.
    Failed(io::Error),
}

pub struct Connector {
    addrs: Vec<SocketAddr>,
    next: usize,
    source: Option<SocketAddr>,
    timeout: Duration,
    attempt: Option<Attempt>,
}

impl Connector {
    pub fn new(addrs: Vec<SocketAddr>, source: Option<SocketAddr>, timeout: Duration) -> Connector {
        Connector {
            addrs,
            next: 0,
            source,
            timeout,
            attempt: None,
        }
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Starts connecting. `Pending`, or `Failed` if no address could even be tried.
    pub fn start<K: Copy>(&mut self, cx: &mut Ctx<K>, token: Token, key: K) -> Outcome {
        self.next_attempt(cx, token, key, None)
    }

    /// Gives up: cancels the attempt's timer and drops its socket.
    pub fn cancel<K>(&mut self, cx: &mut Ctx<K>) {
        if let Some(mut a) = self.attempt.take() {
            if let Some(t) = a.timer {
                cx.timers.cancel(t);
            }
            let _ = cx.registry.deregister(&mut a.stream);
        }
        self.next = self.addrs.len();
    }

    /// Handles an event on the connecting socket.
    pub fn ready<K: Copy>(&mut self, cx: &mut Ctx<K>, token: Token, key: K) -> Outcome {
        let Some(attempt) = &self.attempt else {
            return Outcome::Pending;
        };
        match net::finish_connect(&attempt.stream) {
            Ok(false) => Outcome::Pending,
            Ok(true) => {
                let Some(a) = self.attempt.take() else {
                    return Outcome::Pending;
                };
                if let Some(t) = a.timer {
                    cx.timers.cancel(t);
                }
                Outcome::Connected(
                    a.stream,
                    a.addr,
                    cx.now.saturating_duration_since(a.started),
                )
            }
            Err(e) => self.fail(cx, token, key, e, true),
        }
    }

    /// Handles the attempt's timer.
    pub fn timed_out<K: Copy>(&mut self, cx: &mut Ctx<K>, token: Token, key: K) -> Outcome {
        if self.attempt.is_none() {
            return Outcome::Pending;
        }
        let e = io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "timed out after {}",
                humantime::format_duration(self.timeout)
            ),
        );
        self.fail(cx, token, key, e, false)
    }

    fn fail<K: Copy>(
        &mut self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        e: io::Error,
        cancel: bool,
    ) -> Outcome {
        if let Some(mut a) = self.attempt.take() {
            if cancel {
                if let Some(t) = a.timer {
                    cx.timers.cancel(t);
                }
            }
            let _ = cx.registry.deregister(&mut a.stream);
            return self.next_attempt(cx, token, key, Some((a.addr, e)));
        }
        Outcome::Failed(e)
    }

    fn next_attempt<K: Copy>(
        &mut self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        mut failed: Option<(SocketAddr, io::Error)>,
    ) -> Outcome {
        while self.next < self.addrs.len() {
            let addr = self.addrs[self.next];
            self.next += 1;
            let started = Instant::now();
            let begun = net::start_connect(addr, self.source, true).and_then(|mut stream| {
                cx.registry
                    .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                    .map(|()| stream)
            });
            match begun {
                Ok(stream) => {
                    let timer = started
                        .checked_add(self.timeout)
                        .map(|at| cx.timers.add(at, key));
                    self.attempt = Some(Attempt {
                        stream,
                        addr,
                        started,
                        timer,
                    });
                    return match failed {
                        Some((a, e)) => Outcome::Retrying(a, e),
                        None => Outcome::Pending,
                    };
                }
                Err(e) => failed = Some((addr, e)),
            }
        }
        match failed {
            Some((_, e)) => Outcome::Failed(e),
            None => Outcome::Failed(io::Error::other("no address to connect to")),
        }
    }
}
