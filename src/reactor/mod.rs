//! The event loop: one `mio::Poll`, timers, buffered connections, stdin,
//! name lookups off the loop thread.
//!
//! A driver implements [`Handler`]; [`Reactor::run`] waits for readiness with
//! the earliest timer deadline as the poll timeout, hands every event and
//! every expired timer to the handler, and stops when the handler reports an
//! exit status. Sources are registered edge-triggered for both directions
//! once; each source remembers its own readiness (see [`conn::Conn`]) and is
//! drained until `WouldBlock`, so no interest is ever re-registered.

pub mod buf;
pub mod conn;
pub mod connector;
pub mod resolver;
pub mod signal;
pub mod stdin;
pub mod timer;

use std::io;
use std::time::Instant;

use mio::event::Event;
use mio::{Events, Poll, Registry, Token};

use crate::error::{Error, Exit, Result};
pub use timer::{TimerId, Timers};

/// What a handler can reach while it handles an event.
pub struct Ctx<'a, K> {
    pub registry: &'a Registry,
    pub timers: &'a mut Timers<K>,
    /// The time the current batch of events was taken (one clock read per turn).
    pub now: Instant,
}

/// A driver run by the reactor.
pub trait Handler {
    /// The driver's timer keys.
    type Timer;

    /// A registered source became ready.
    fn ready(&mut self, cx: &mut Ctx<Self::Timer>, token: Token, event: &Event) -> Result<()>;

    /// A timer expired.
    fn timeout(&mut self, cx: &mut Ctx<Self::Timer>, timer: Self::Timer) -> Result<()>;

    /// Called before every wait: `Some` ends the loop with that status.
    fn finished(&mut self, cx: &mut Ctx<Self::Timer>) -> Result<Option<Exit>>;
}

/// One poll, its event buffer and its timers.
pub struct Reactor<K> {
    poll: Poll,
    events: Events,
    pub timers: Timers<K>,
}

impl<K> Reactor<K> {
    pub fn new() -> Result<Reactor<K>> {
        let poll = Poll::new().map_err(|e| Error::io("event loop", &e))?;
        Ok(Reactor {
            poll,
            events: Events::with_capacity(1024),
            timers: Timers::new(),
        })
    }

    pub fn registry(&self) -> &Registry {
        self.poll.registry()
    }

    /// A context for set-up work done before [`run`](Self::run).
    pub fn ctx(&mut self) -> Ctx<'_, K> {
        Ctx {
            registry: self.poll.registry(),
            timers: &mut self.timers,
            now: Instant::now(),
        }
    }

    /// Runs `handler` until it reports an exit status or fails.
    pub fn run<H: Handler<Timer = K>>(&mut self, handler: &mut H) -> Result<Exit> {
        loop {
            let now = Instant::now();
            let mut cx = Ctx {
                registry: self.poll.registry(),
                timers: &mut self.timers,
                now,
            };
            if let Some(exit) = handler.finished(&mut cx)? {
                return Ok(exit);
            }
            let timeout = self
                .timers
                .next_deadline()
                .map(|at| at.saturating_duration_since(now));
            if let Err(e) = self.poll.poll(&mut self.events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io("event loop", &e));
            }
            let mut cx = Ctx {
                registry: self.poll.registry(),
                timers: &mut self.timers,
                now: Instant::now(),
            };
            for event in self.events.iter() {
                handler.ready(&mut cx, event.token(), event)?;
            }
            let now = Instant::now();
            cx.now = now;
            while let Some(key) = cx.timers.pop_expired(now) {
                handler.timeout(&mut cx, key)?;
            }
        }
    }
}
