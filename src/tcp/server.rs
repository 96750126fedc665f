//! `tcp listen | unix listen` with `-k | --broker | --chat | --echo`: the [server core] with the
//! [`Bytes`] codec (the [`Lines`] codec for `--chat`) and a room.
//!
//! Every client has its own bounded outbound queue (`--max-queue`): a
//! client that stops reading while others talk is dropped once its queue is
//! full, so the others never wait for it. In `--echo` mode the queue is
//! back-pressure instead: a client that does not read its echoes is simply
//! not read from until it does.
//!
//! With `--tls-cert` every client speaks TLS under the codec: it enters the
//! room once its handshake is done, and a failed handshake ends that client
//! alone (reported in its `closed` event).
//!
//! [server core]: crate::server

use super::session::BUF_SIZE;
use crate::config::tcp::{ListenTls, ManyOpts};
use crate::error::{Exit, Result};
use crate::output::Output;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::Stdin;
use crate::reactor::Reactor;
use crate::server::codec::{Bytes, Lines};
use crate::server::room::{Broker, Chat, Echo, Print, ServeMode};
use crate::server::{self, Config, Parts};

pub use crate::server::Timer;

pub fn run(
    reactor: &mut Reactor<Timer>,
    listener: crate::net::Listener,
    tls: Option<ListenTls>,
    many: ManyOpts,
    stdin: Option<Stdin>,
    signals: Signals,
    out: &mut Output,
) -> Result<Exit> {
    let cfg = Config {
        max_clients: many.max_clients,
        max_queue: many.max_queue,
        idle_timeout: many.idle_timeout,
        handshake_timeout: None,
        tls_handshake_timeout: tls
            .as_ref()
            .map_or(crate::server::TLS_HANDSHAKE_TIMEOUT, |t| {
                t.handshake_timeout
            }),
        // TCP clients are dropped at once: SIGINT ends the loop at once.
        shutdown_grace: std::time::Duration::ZERO,
        read_buf: BUF_SIZE / 4,
        back_pressure: many.mode == ServeMode::Echo,
        hex: many.hex,
        console_line: crate::server::codec::MAX_LINE,
        tls_events: true,
        ..Config::default()
    };
    let parts = Parts {
        listener,
        tls: tls.map(|t| t.config),
        stdin,
        signals,
        out,
    };
    match many.mode {
        ServeMode::Print => server::run::<Bytes, _>(reactor, cfg, (), Print, parts),
        ServeMode::Broker => server::run::<Bytes, _>(reactor, cfg, (), Broker, parts),
        ServeMode::Echo => server::run::<Bytes, _>(reactor, cfg, (), Echo, parts),
        ServeMode::Chat => {
            server::run::<Lines, _>(reactor, cfg, (), Chat::new(many.echo_console), parts)
        }
    }
}
