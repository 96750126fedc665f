//! `netkit bench [URL]`: the flags lifted into a [`BenchConfig`]: the runs
//! to make (one per transport, or `--mix` groups at once) and the server's
//! URL checked.

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{BenchArgs, BenchTransport};
use crate::error::{Error, Result};

/// How a group of receivers gets the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchKind {
    Ws,
    LongPoll,
    Poll,
}

impl BenchKind {
    fn of(t: BenchTransport) -> BenchKind {
        match t {
            BenchTransport::Ws | BenchTransport::All => BenchKind::Ws,
            BenchTransport::LongPoll => BenchKind::LongPoll,
            BenchTransport::Poll => BenchKind::Poll,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BenchKind::Ws => "ws",
            BenchKind::LongPoll => "long-poll",
            BenchKind::Poll => "poll",
        }
    }
}

/// The chat servers measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchServer {
    /// None given: one is started on 127.0.0.1.
    Spawn,
    /// HOST and PORT of each URL given (resolved by the driver): servers
    /// of one room (`--redis`), the clients spread over them in turn.
    At(Vec<(String, u16)>),
}

/// Groups of receivers measured at once: how, and how many.
pub type BenchRun = Vec<(BenchKind, usize)>;

/// Everything `netkit bench` does, decided.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub server: BenchServer,
    /// The runs, one after the other; each is groups of receivers at once.
    pub runs: Vec<BenchRun>,
    pub messages: u64,
    pub rate: f64,
    pub interval: Duration,
    pub svg: Option<PathBuf>,
}

impl BenchConfig {
    pub fn from_args(args: BenchArgs) -> Result<BenchConfig> {
        let server = if args.url.is_empty() {
            BenchServer::Spawn
        } else {
            let at = |url: &String| -> Result<(String, u16)> {
                let u = url::Url::parse(url).map_err(|e| Error::usage(url, e.to_string()))?;
                let host = u
                    .host_str()
                    .ok_or_else(|| Error::usage(url, "no host"))?
                    .trim_matches(['[', ']'])
                    .to_string();
                Ok((host, u.port_or_known_default().unwrap_or(80)))
            };
            BenchServer::At(args.url.iter().map(at).collect::<Result<_>>()?)
        };
        let n = args.clients as usize;
        let runs = match (&args.mix, args.transport) {
            (Some(mix), _) => vec![mix
                .0
                .iter()
                .map(|&(t, n)| (BenchKind::of(t), n as usize))
                .collect()],
            (None, BenchTransport::All) => vec![
                vec![(BenchKind::Ws, n)],
                vec![(BenchKind::LongPoll, n)],
                vec![(BenchKind::Poll, n)],
            ],
            (None, t) => vec![vec![(BenchKind::of(t), n)]],
        };
        Ok(BenchConfig {
            server,
            runs,
            messages: args.messages,
            rate: args.rate,
            interval: args.interval,
            svg: args.svg,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;
    use crate::error::Exit;
    use BenchKind::*;

    fn config(line: &str) -> Result<BenchConfig> {
        match crate::config::testing::command(line) {
            Command::Bench(args) => BenchConfig::from_args(args),
            _ => panic!("not bench"),
        }
    }

    #[test]
    fn flags_to_runs() {
        let table: &[(&str, Vec<BenchRun>)] = &[
            (
                "bench",
                vec![vec![(Ws, 10)], vec![(LongPoll, 10)], vec![(Poll, 10)]],
            ),
            ("bench --transport poll --clients 3", vec![vec![(Poll, 3)]]),
            (
                "bench --mix ws=5,long-poll=2",
                vec![vec![(Ws, 5), (LongPoll, 2)]],
            ),
        ];
        for (line, runs) in table {
            let c = config(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!(&c.runs, runs, "{line}");
            assert_eq!(c.server, BenchServer::Spawn);
        }
        let c = config("bench http://[::1]:8080/").unwrap();
        assert_eq!(c.server, BenchServer::At(vec![("::1".into(), 8080)]));
        let c = config("bench http://a:1/ http://b/").unwrap();
        assert_eq!(
            c.server,
            BenchServer::At(vec![("a".into(), 1), ("b".into(), 80)])
        );
        assert_eq!(config("bench no-scheme").unwrap_err().kind, Exit::Usage);
    }
}
