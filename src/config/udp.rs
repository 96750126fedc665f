//! `netkit udp send | recv`: the flags lifted into [`UdpSendConfig`] and
//! [`UdpRecvConfig`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::cli::{UdpRecvArgs, UdpSendArgs};
use crate::error::{Error, Result};
use crate::net::{BindAddr, Family};
use crate::proto::hex;

/// Where `udp send`'s datagrams come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpPayloads {
    /// The MESSAGE arguments (`--hex` already decoded), one datagram each.
    Args(Vec<Vec<u8>>),
    /// A datagram per stdin line (`hex`: each line is hex).
    StdinLines { hex: bool },
    /// `--raw`: a datagram per stdin read.
    StdinChunks,
}

/// Everything `netkit udp send` does, decided (the size of each datagram
/// is checked by the driver: the limit depends on the address family the
/// name resolves to).
#[derive(Debug, Clone)]
pub struct UdpSendConfig {
    pub host: String,
    pub port: u16,
    pub family: Family,
    pub payloads: UdpPayloads,
    /// Times each datagram is sent (`-c`).
    pub count: u64,
    pub interval: Option<Duration>,
    pub broadcast: bool,
    pub source: Option<SocketAddr>,
    pub ttl: Option<u32>,
    pub multicast_if: Option<String>,
    /// `--reply`: wait for one reply per datagram, at most this long after
    /// the last (`--timeout`).
    pub reply: Option<Duration>,
}

impl UdpSendConfig {
    pub fn from_args(args: UdpSendArgs) -> Result<UdpSendConfig> {
        let payloads = if !args.messages.is_empty() {
            let mut out = Vec::with_capacity(args.messages.len());
            for (i, m) in args.messages.iter().enumerate() {
                out.push(if args.hex {
                    hex::parse(m).map_err(|e| Error::usage(format!("message {}", i + 1), e))?
                } else {
                    m.as_bytes().to_vec()
                });
            }
            UdpPayloads::Args(out)
        } else if args.raw {
            UdpPayloads::StdinChunks
        } else {
            UdpPayloads::StdinLines { hex: args.hex }
        };
        Ok(UdpSendConfig {
            host: args.host,
            port: args.port,
            family: args.family,
            payloads,
            count: args.count,
            interval: args.interval,
            broadcast: args.broadcast,
            source: args.source,
            ttl: args.ttl,
            multicast_if: args.multicast_if,
            reply: args.reply.then_some(args.timeout),
        })
    }
}

/// Everything `netkit udp recv` does, decided.
#[derive(Debug, Clone)]
pub struct UdpRecvConfig {
    pub port: u16,
    pub bind: Option<BindAddr>,
    pub family: Family,
    pub count: Option<u64>,
    pub timeout: Option<Duration>,
    pub echo: bool,
    /// `--raw`: payloads printed as they are (no source line).
    pub raw: bool,
    /// `--multicast GROUP` (checked to be a multicast address), and
    /// `--interface`.
    pub multicast: Option<(IpAddr, Option<String>)>,
}

impl UdpRecvConfig {
    pub fn from_args(args: UdpRecvArgs) -> Result<UdpRecvConfig> {
        if let Some(group) = args.multicast.filter(|g| !g.is_multicast()) {
            return Err(Error::usage(
                "--multicast",
                format!("{group} is not a multicast address (IPv4 224.0.0.0/4, IPv6 ff00::/8)"),
            ));
        }
        Ok(UdpRecvConfig {
            port: args.port,
            bind: args.bind,
            family: args.family,
            count: args.count,
            timeout: args.timeout,
            echo: args.echo,
            raw: args.raw,
            multicast: args.multicast.map(|g| (g, args.interface)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, UdpCommand};
    use crate::error::Exit;

    fn command(line: &str) -> UdpCommand {
        match crate::config::testing::command(line) {
            Command::Udp(cmd) => cmd,
            _ => panic!("not udp"),
        }
    }

    fn send(line: &str) -> Result<UdpSendConfig> {
        match command(line) {
            UdpCommand::Send(args) => UdpSendConfig::from_args(args),
            UdpCommand::Recv(_) => panic!("not udp send"),
        }
    }

    fn recv(line: &str) -> Result<UdpRecvConfig> {
        match command(line) {
            UdpCommand::Recv(args) => UdpRecvConfig::from_args(args),
            UdpCommand::Send(_) => panic!("not udp recv"),
        }
    }

    #[test]
    fn send_flags_to_config() {
        let table: &[(&str, UdpPayloads, Option<Duration>)] = &[
            ("udp send h 9", UdpPayloads::StdinLines { hex: false }, None),
            (
                "udp send --hex h 9",
                UdpPayloads::StdinLines { hex: true },
                None,
            ),
            ("udp send --raw h 9", UdpPayloads::StdinChunks, None),
            (
                "udp send h 9 a bc",
                UdpPayloads::Args(vec![b"a".to_vec(), b"bc".to_vec()]),
                None,
            ),
            (
                "udp send --hex h 9 6869",
                UdpPayloads::Args(vec![b"hi".to_vec()]),
                None,
            ),
            (
                "udp send --reply h 9 x",
                UdpPayloads::Args(vec![b"x".to_vec()]),
                Some(Duration::from_secs(2)),
            ),
            (
                "udp send --reply --timeout 5s h 9 x",
                UdpPayloads::Args(vec![b"x".to_vec()]),
                Some(Duration::from_secs(5)),
            ),
        ];
        for (line, payloads, reply) in table {
            let c = send(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!((&c.payloads, c.reply), (payloads, *reply), "{line}");
        }
    }

    #[test]
    fn usage_errors_are_raised_by_the_config_step() {
        let e = send("udp send --hex h 9 zz").unwrap_err();
        assert_eq!((e.kind, e.what.as_str()), (Exit::Usage, "message 1"));
        let e = recv("udp recv --multicast 10.0.0.1 9").unwrap_err();
        assert_eq!((e.kind, e.what.as_str()), (Exit::Usage, "--multicast"));
        let c = recv("udp recv --multicast 239.1.2.3 --interface lo 9").unwrap();
        assert_eq!(
            c.multicast,
            Some(("239.1.2.3".parse().unwrap(), Some("lo".into())))
        );
    }
}
