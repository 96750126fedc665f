//! `http listen`'s driver: bind, announce, then the server core with
//! [`HttpCodec`] per client and [`HttpRoom`] reporting the requests.

use std::time::Duration;

use mio::Interest;

use super::codec::{self, HttpCodec, HttpRoom, HttpShared};
use crate::config::httpd::HttpListenConfig;
use crate::error::{Error, Exit, Result};
use crate::event::Event;
use crate::net;
use crate::output::Output;
use crate::reactor::signal::Signals;
use crate::reactor::Reactor;
use crate::server as core;

/// Serves as `config` says until SIGINT (or `-c N` requests).
pub fn run(config: HttpListenConfig, out: &mut Output) -> Result<Exit> {
    let HttpListenConfig {
        at,
        tls,
        httpd: config,
    } = config;
    net::raise_fd_limit();
    let (mut listener, _cleanup) = at.open()?;
    let addr = listener.local().map_err(|e| Error::io("listen", &e))?;
    let mut reactor: Reactor<core::Timer> = Reactor::new()?;
    reactor
        .registry()
        .register(&mut listener, core::LISTENER, Interest::READABLE)
        .map_err(|e| Error::io("listen", &e))?;
    let signals =
        Signals::new(reactor.registry(), core::SIGNAL).map_err(|e| Error::io("signals", &e))?;
    out.emit(&Event::Listening { addr })?;
    let tick = (config.header_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let cfg = core::Config {
        max_clients: config.max_clients,
        // Reading stops while an answer (a file) is going out.
        max_queue: 2 * codec::HIGH_WATER,
        back_pressure: true,
        idle_timeout: Some(config.idle_timeout),
        tick: Some(tick),
        // No head can come before the TLS handshake is done.
        tls_handshake_timeout: config.header_timeout,
        ..core::Config::default()
    };
    let parts = core::Parts {
        listener,
        tls,
        stdin: None,
        signals,
        out,
    };
    core::run::<HttpCodec, _>(&mut reactor, cfg, HttpShared::new(config), HttpRoom, parts)
}
