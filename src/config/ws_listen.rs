//! The config step of `ws listen`: the clap arguments lifted once into the
//! settings the server runs on (the room as a [`ServeMode`], the TLS
//! settings built, `--chat`'s history and Redis room). The server never
//! sees a `cli` type.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use crate::cli::WsListenArgs;
use crate::config::tcp::{server_tls, ListenAt};
use crate::error::Result;
use crate::server::room::ServeMode;

/// `ws listen PORT`.
#[derive(Debug)]
pub struct WsListenConfig {
    /// The port (or `--unix` socket) to listen on.
    pub at: ListenAt,
    /// `--tls-cert`/`--tls-key`: wss://.
    pub tls: Option<Arc<ServerConfig>>,
    /// The room: print (the default), `--echo`, `--broker` or `--chat`.
    pub mode: ServeMode,
    /// With `--chat`: how many messages the log keeps (`--history`).
    pub history: usize,
    /// With `--chat --redis`: the room lives in a Redis Stream.
    pub redis: Option<RedisRoom>,
    /// `--path`: the only path upgraded.
    pub path: Option<String>,
    /// `--protocol`: the subprotocols accepted.
    pub protocols: Vec<String>,
    pub max_clients: usize,
    pub max_queue: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    pub ping_interval: Option<Duration>,
    pub max_message: usize,
    /// `--no-compress`: refuse permessage-deflate.
    pub no_compress: bool,
}

/// `--redis URL --room NAME [--redis-cacert FILE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisRoom {
    pub url: String,
    pub room: String,
    pub cacert: Option<PathBuf>,
}

impl WsListenConfig {
    pub fn from_args(args: WsListenArgs) -> Result<WsListenConfig> {
        let tls = server_tls(args.tls_cert.as_deref(), args.tls_key.as_deref(), &[])?;
        let mode =
            ServeMode::from_flags(args.chat, args.broker, args.echo).unwrap_or(ServeMode::Print);
        let redis = args.redis.map(|url| RedisRoom {
            url,
            room: args.room,
            cacert: args.redis_cacert,
        });
        Ok(WsListenConfig {
            at: ListenAt::new(&args.at),
            tls,
            mode,
            history: args.history as usize,
            redis,
            path: args.path,
            protocols: args.protocols,
            max_clients: args.max_clients as usize,
            max_queue: args.max_queue,
            handshake_timeout: args.handshake_timeout,
            idle_timeout: args.limits.idle_timeout,
            ping_interval: args.limits.ping_interval,
            max_message: args.limits.max_message,
            no_compress: args.limits.no_compress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, WsCommand};
    use crate::error::Exit;
    use clap::Parser;

    fn config(line: &str) -> std::result::Result<WsListenConfig, String> {
        let argv = std::iter::once("netkit").chain(line.split_whitespace());
        let cli = Cli::try_parse_from(argv).map_err(|e| format!("clap {:?}", e.kind()))?;
        match cli.command {
            Command::Ws(WsCommand::Listen(args)) => {
                WsListenConfig::from_args(args).map_err(|e| format!("{:?} {}", e.kind, e.what))
            }
            _ => panic!("not ws listen: {line}"),
        }
    }

    fn shape(line: &str) -> String {
        match config(line) {
            Ok(c) => {
                let redis = match &c.redis {
                    Some(r) => format!(
                        " redis {} room={} cacert={}",
                        r.url,
                        r.room,
                        r.cacert.is_some()
                    ),
                    None => String::new(),
                };
                format!("{:?} history={}{redis}", c.mode, c.history)
            }
            Err(e) => e,
        }
    }

    #[test]
    fn flags_make_one_mode() {
        let table = [
            ("ws listen 0", "Print history=1000"),
            ("ws listen 0 --echo", "Echo history=1000"),
            ("ws listen 0 --broker", "Broker history=1000"),
            ("ws listen 0 --chat", "Chat history=1000"),
            ("ws listen 0 --chat --history 5", "Chat history=5"),
            (
                "ws listen 0 --chat --redis redis://127.0.0.1:1",
                "Chat history=1000 redis redis://127.0.0.1:1 room=netkit cacert=false",
            ),
            (
                "ws listen 0 --chat --redis rediss://h --room r --redis-cacert c.pem",
                "Chat history=1000 redis rediss://h room=r cacert=true",
            ),
            ("ws listen 0 --echo --broker", "clap ArgumentConflict"),
            ("ws listen 0 --broker --chat", "clap ArgumentConflict"),
            (
                "ws listen 0 --redis redis://h",
                "clap MissingRequiredArgument",
            ),
        ];
        for (line, want) in table {
            assert_eq!(shape(line), want, "{line}");
        }
    }

    #[test]
    fn limits_and_tls_are_lifted() {
        let c = config(
            "ws listen 0 --bind 127.0.0.1 --path /p --protocol a --protocol b --max-clients 7 \
             --handshake-timeout 3s --max-queue 1KiB --no-compress",
        )
        .unwrap();
        assert!(
            matches!(&c.at, ListenAt::Tcp(b) if b.ip == Some("127.0.0.1".parse().unwrap())),
            "{:?}",
            c.at
        );
        assert_eq!(c.path.as_deref(), Some("/p"));
        assert_eq!(c.protocols, ["a", "b"]);
        assert_eq!(
            (c.max_clients, c.max_queue, c.handshake_timeout),
            (7, 1024, Duration::from_secs(3))
        );
        assert!(c.no_compress && c.tls.is_none());
        let e = config("ws listen 0 --tls-cert /nonexistent/c --tls-key /nonexistent/k");
        let e = e.unwrap_err();
        assert!(
            e.starts_with(&format!("{:?} --tls-cert", Exit::Usage)),
            "{e}"
        );
    }
}
