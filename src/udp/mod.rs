//! `netkit udp send | recv`: datagrams on the same reactor, events and sinks
//! as TCP. Message boundaries are kept exactly: one argument, one stdin line
//! or one `--raw` chunk is one datagram, and one datagram received is one
//! event.

mod batch;
mod recv;
mod send;

use std::net::SocketAddr;

use mio::Token;

use crate::cli::UdpCommand;
use crate::config::udp::{UdpRecvConfig, UdpSendConfig};
use crate::error::{Exit, Result};
use crate::output::Output;

pub(crate) const STDIN: Token = Token(0);
pub(crate) const SIGNAL: Token = Token(1);
pub(crate) const SOCKET: Token = Token(2);

pub fn run(cmd: UdpCommand, out: &mut Output) -> Result<Exit> {
    match cmd {
        UdpCommand::Send(args) => send::run(UdpSendConfig::from_args(args)?, out),
        UdpCommand::Recv(args) => recv::run(UdpRecvConfig::from_args(args)?, out),
    }
}

/// The largest UDP payload to `dest`: 65,535 less the 8-byte UDP header and,
/// for IPv4 only, the 20-byte IP header (IPv6's length field excludes its own).
pub fn max_payload(dest: SocketAddr) -> usize {
    if dest.is_ipv4() {
        65_507
    } else {
        65_527
    }
}
