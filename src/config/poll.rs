//! `netkit poll URL`: the flags lifted into a [`PollConfig`].

use std::time::Duration;

use super::request::build_request;
use super::DialConfig;
use crate::cli::PollArgs;
use crate::error::{Error, Result};
use crate::http::client::ClientRequest;

/// What is polled.
#[derive(Debug, Clone)]
pub enum PollTarget {
    /// `http://` or `https://`: the request, built once.
    Http(ClientRequest),
    /// `tcp://HOST:PORT`: a connect (the name is resolved by the driver).
    Tcp { host: String, port: u16 },
}

/// How the polls are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollMode {
    /// A poll every `-n`, backing off on errors.
    Regular,
    /// `--long`: the next request leaves when a response arrives; the
    /// server is asked to hold it (`Prefer: wait=`) and each 2xx body is
    /// news.
    Long,
}

/// The `--until-*` conditions (any one ends the run with 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Until {
    pub status: Option<u16>,
    pub contains: Option<String>,
    pub change: bool,
    pub ok: bool,
}

impl Until {
    pub fn is_set(&self) -> bool {
        self.status.is_some() || self.contains.is_some() || self.change || self.ok
    }
}

/// Everything `netkit poll` does, decided.
#[derive(Debug, Clone)]
pub struct PollConfig {
    /// The URL as given (for records and the summary).
    pub url: String,
    pub target: PollTarget,
    pub dial: DialConfig,
    pub mode: PollMode,
    /// Send If-None-Match / If-Modified-Since (off with `--no-conditional`).
    pub conditional: bool,
    /// `--changes`: changed bodies to stdout.
    pub changes: bool,
    pub until: Until,
    pub interval: Duration,
    pub count: Option<u64>,
    pub max_time: Option<Duration>,
    pub backoff_max: Duration,
    pub jitter: Option<u8>,
    pub hold_timeout: Duration,
}

impl PollConfig {
    pub fn from_args(args: PollArgs) -> Result<PollConfig> {
        let target = match args.url.strip_prefix("tcp://") {
            Some(rest) => {
                let (host, port) = rest
                    .trim_end_matches('/')
                    .rsplit_once(':')
                    .ok_or_else(|| Error::usage(&args.url, "expected tcp://HOST:PORT"))?;
                let port =
                    crate::cli::parse_dest_port(port).map_err(|e| Error::usage(&args.url, e))?;
                let host = host.trim_matches(['[', ']']).to_string();
                PollTarget::Tcp { host, port }
            }
            None => PollTarget::Http(build_request(&args.url, &args.req, false)?),
        };
        Ok(PollConfig {
            target,
            dial: DialConfig::from(&args.req.dial),
            mode: if args.long {
                PollMode::Long
            } else {
                PollMode::Regular
            },
            conditional: !args.no_conditional,
            changes: args.changes,
            until: Until {
                status: args.until_status,
                contains: args.until_contains,
                change: args.until_change,
                ok: args.until_ok,
            },
            interval: args.interval,
            count: args.count,
            max_time: args.max_time,
            backoff_max: args.backoff_max,
            jitter: args.jitter,
            hold_timeout: args.hold_timeout,
            url: args.url,
        })
    }

    pub fn is_long(&self) -> bool {
        self.mode == PollMode::Long
    }

    /// Bodies are kept (to print them): `--changes` and `--long`; the
    /// poll records then go to stderr, leaving stdout to the bodies.
    pub fn keeps_bodies(&self) -> bool {
        self.changes || self.is_long()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;
    use crate::error::Exit;

    fn config(line: &str) -> Result<PollConfig> {
        match crate::config::testing::command(line) {
            Command::Poll(args) => PollConfig::from_args(args),
            _ => panic!("not poll"),
        }
    }

    #[test]
    fn flag_combinations_to_config() {
        type Check = fn(&PollConfig) -> bool;
        let table: &[(&str, Check)] = &[
            ("poll h/", |c| {
                c.mode == PollMode::Regular && c.conditional && !c.keeps_bodies()
            }),
            ("poll --no-conditional h/", |c| !c.conditional),
            ("poll --long h/", |c| {
                c.mode == PollMode::Long && c.keeps_bodies()
            }),
            ("poll --changes h/", |c| {
                c.mode == PollMode::Regular && c.changes && c.keeps_bodies()
            }),
            ("poll --until-ok h/", |c| c.until.is_set() && c.until.ok),
            ("poll h/", |c| !c.until.is_set()),
            (
                "poll tcp://[::1]:22",
                |c| matches!(&c.target, PollTarget::Tcp { host, port: 22 } if host == "::1"),
            ),
            (
                "poll -d x h/",
                |c| matches!(&c.target, PollTarget::Http(r) if r.method == "POST"),
            ),
            ("poll -k https://h/", |c| c.dial.tls.insecure),
        ];
        for (line, check) in table {
            let c = config(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert!(check(&c), "{line}: {c:?}");
        }
    }

    #[test]
    fn usage_errors_are_raised_by_the_config_step() {
        for line in [
            "poll tcp://h",
            "poll tcp://h:0",
            "poll tcp://h:x",
            "poll ftp://h/",
            "poll -H bad h/",
        ] {
            let e = config(line)
                .err()
                .unwrap_or_else(|| panic!("{line}: accepted"));
            assert_eq!(e.kind, Exit::Usage, "{line}: {e:?}");
        }
    }
}
