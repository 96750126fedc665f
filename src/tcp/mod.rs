//! `netkit tcp connect | listen | check`.
//!
//! Each subcommand is a driver: a [`crate::reactor::Handler`] that wires
//! sockets, stdin and signals to the shared [`session::PipeSession`] pipe or the
//! multi-client [`server`], and reports through [`crate::output::Output`].

mod check;
mod connect;
pub(crate) mod listen;
mod server;
pub mod session;

use mio::Token;

use crate::cli::TcpCommand;
use crate::error::{Exit, Result};
use crate::output::Output;

pub(crate) const STDIN: Token = Token(0);
pub(crate) const SIGNAL: Token = Token(1);
pub(crate) const SOCKET: Token = Token(2);
pub(crate) const LISTENER: Token = Token(3);
/// Client `k` of a multi-client server is `Token(CLIENT_BASE + k)`.
pub(crate) const CLIENT_BASE: usize = 16;

pub fn run(cmd: TcpCommand, out: &mut Output) -> Result<Exit> {
    match cmd {
        TcpCommand::Connect(args) => {
            connect::run(crate::config::tcp::TcpConnectConfig::from_args(args)?, out)
        }
        TcpCommand::Listen(args) => {
            listen::run(crate::config::tcp::TcpListenConfig::from_args(args)?, out)
        }
        TcpCommand::Check(args) => check::run(
            crate::config::port_check::PortCheckConfig::from_args(args)?,
            out,
        ),
    }
}

/// `host:port`, with brackets around an IPv6 literal.
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
