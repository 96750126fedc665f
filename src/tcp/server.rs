//! `tcp listen -k | --broker | --chat | --echo`: the [server core] with the
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

use std::sync::Arc;

use rustls::ServerConfig;

use super::session::BUF_SIZE;
use crate::cli::ListenArgs;
use crate::error::{Exit, Result};
use crate::output::Output;
use crate::reactor::signal::Signals;
use crate::reactor::stdin::{Kind, Stdin};
use crate::reactor::Reactor;
use crate::server::codec::{Bytes, Lines};
use crate::server::room::{Broker, Chat, Echo, Print};
use crate::server::{self, Config, Parts};

pub use crate::server::Timer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-k`: stdin to all clients, each client's data to stdout.
    Keep,
    /// `--broker`: as `-k`, and each client's data to every other client.
    Broker,
    /// `--chat`: lines relayed as `<name> text`, join and leave notices.
    Chat,
    /// `--echo`: each client's data back to it.
    Echo,
}

#[allow(clippy::too_many_arguments)]
pub fn run(
    reactor: &mut Reactor<Timer>,
    listener: mio::net::TcpListener,
    tls: Option<Arc<ServerConfig>>,
    mode: Mode,
    args: &ListenArgs,
    stdin: Option<Stdin>,
    signals: Signals,
    out: &mut Output,
) -> Result<Exit> {
    let echo_console = stdin.as_ref().is_some_and(|s| s.kind() != Kind::Tty);
    let cfg = Config {
        max_clients: args.max_clients as usize,
        max_queue: args.max_queue,
        idle_timeout: args.idle_timeout,
        handshake_timeout: None,
        tls_handshake_timeout: args.handshake_timeout,
        // TCP clients are dropped at once: SIGINT ends the loop at once.
        shutdown_grace: std::time::Duration::ZERO,
        read_buf: BUF_SIZE / 4,
        back_pressure: mode == Mode::Echo,
        hex: args.hex,
        console_line: crate::server::codec::MAX_LINE,
        tls_events: true,
        ..Config::default()
    };
    let parts = Parts {
        listener,
        tls,
        stdin,
        signals,
        out,
    };
    match mode {
        Mode::Keep => server::run::<Bytes, _>(reactor, cfg, (), Print, parts),
        Mode::Broker => server::run::<Bytes, _>(reactor, cfg, (), Broker, parts),
        Mode::Echo => server::run::<Bytes, _>(reactor, cfg, (), Echo, parts),
        Mode::Chat => server::run::<Lines, _>(reactor, cfg, (), Chat::new(echo_console), parts),
    }
}
