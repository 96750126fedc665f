//! `netkit tcp check HOST PORT|A-B...`: the flags lifted into a
//! [`PortCheckConfig`]: the port lists flattened in order (service names
//! looked up in /etc/services here), bounded, and the report and verdict
//! as enums.

use std::time::Duration;

use crate::cli::{CheckArgs, PortItem, PortList, PortRange};
use crate::error::{Error, Result};
use crate::net::Family;

/// Most ports one run will check (every port of 16 hosts' worth).
const MAX_PORTS: usize = 1 << 20;

/// Which results are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortReport {
    All,
    /// `--open`: open ports only.
    OpenOnly,
}

/// When the run succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortVerdict {
    /// Every port is open.
    AllOpen,
    /// `--any`: one open port is enough.
    AnyOpen,
}

/// Everything `netkit tcp check` does, decided.
#[derive(Debug, Clone)]
pub struct PortCheckConfig {
    pub host: String,
    /// In the order given; never empty.
    pub ports: Vec<u16>,
    pub family: Family,
    pub timeout: Duration,
    pub concurrency: u32,
    pub report: PortReport,
    pub verdict: PortVerdict,
}

impl PortCheckConfig {
    pub fn from_args(args: CheckArgs) -> Result<PortCheckConfig> {
        let ranges = port_ranges(&args.ports)?;
        let total: usize = ranges.iter().map(|r| r.len()).sum();
        if total > MAX_PORTS {
            return Err(Error::usage(
                "ports",
                format!("{total} ports to check; at most {MAX_PORTS} per run"),
            ));
        }
        Ok(PortCheckConfig {
            host: args.host,
            ports: ranges.iter().flat_map(|r| r.iter()).collect(),
            family: args.family,
            timeout: args.timeout,
            concurrency: args.concurrency,
            report: if args.open {
                PortReport::OpenOnly
            } else {
                PortReport::All
            },
            verdict: if args.any {
                PortVerdict::AnyOpen
            } else {
                PortVerdict::AllOpen
            },
        })
    }
}

/// Where service names are looked up, as getservbyname does.
const SERVICES: &str = "/etc/services";

/// The services known without /etc/services (a minimal container).
const BUILTIN_SERVICES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("telnet", 23),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("pop3", 110),
    ("imap", 143),
    ("ldap", 389),
    ("https", 443),
    ("submission", 587),
    ("imaps", 993),
    ("pop3s", 995),
    ("mysql", 3306),
    ("postgresql", 5432),
    ("redis", 6379),
];

/// The port ranges of the PORT arguments, service names looked up in
/// /etc/services (or, if it cannot be read, a small built-in table).
fn port_ranges(lists: &[PortList]) -> Result<Vec<PortRange>> {
    let mut services: Option<Option<String>> = None;
    let mut ranges = Vec::new();
    for item in lists.iter().flat_map(|l| &l.0) {
        match item {
            PortItem::Range(r) => ranges.push(*r),
            PortItem::Service(name) => {
                let table = services.get_or_insert_with(|| std::fs::read_to_string(SERVICES).ok());
                let port = service_port(name, table.as_deref()).ok_or_else(|| {
                    let place = if table.is_some() {
                        SERVICES
                    } else {
                        "the built-in table (no /etc/services)"
                    };
                    Error::usage(
                        format!("port {name}"),
                        format!("unknown TCP service name (not in {place})"),
                    )
                })?;
                ranges.push(PortRange {
                    first: port,
                    last: port,
                });
            }
        }
    }
    Ok(ranges)
}

/// The TCP port of service `name` (or one of its aliases, any case) in
/// the text of an /etc/services file, or in the built-in table without one.
fn service_port(name: &str, services: Option<&str>) -> Option<u16> {
    let Some(text) = services else {
        return BUILTIN_SERVICES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, p)| p);
    };
    text.lines().find_map(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut words = line.split_whitespace();
        let first = words.next()?;
        let (port, proto) = words.next()?.split_once('/')?;
        if proto != "tcp" {
            return None;
        }
        let port = port.parse::<u16>().ok().filter(|&p| p > 0)?;
        std::iter::once(first)
            .chain(words)
            .any(|n| n.eq_ignore_ascii_case(name))
            .then_some(port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::parse_port_list;
    use crate::error::Exit;

    const SAMPLE: &str = "# comment\n\
        ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol\n\
        domain\t\t53/udp\n\
        domain\t\t53/tcp\n\
        http\t\t80/tcp\t\twww\t# WorldWideWeb HTTP\n\
        bad\t\tx/tcp\n\
        zero\t\t0/tcp\n\
        \n\
        https\t\t443/udp\n\
        https\t\t443/tcp\n";

    #[test]
    fn services_come_from_the_file() {
        assert_eq!(service_port("ssh", Some(SAMPLE)), Some(22));
        assert_eq!(service_port("SSH", Some(SAMPLE)), Some(22));
        assert_eq!(service_port("www", Some(SAMPLE)), Some(80));
        assert_eq!(service_port("domain", Some(SAMPLE)), Some(53));
        assert_eq!(service_port("https", Some(SAMPLE)), Some(443));
        for unknown in ["bad", "zero", "mysql", "comment", "#", "tcp"] {
            assert_eq!(service_port(unknown, Some(SAMPLE)), None, "{unknown}");
        }
        assert_eq!(service_port("ssh", Some("")), None);
    }

    #[test]
    fn without_the_file_a_small_table_answers() {
        assert_eq!(service_port("ssh", None), Some(22));
        assert_eq!(service_port("https", None), Some(443));
        assert_eq!(service_port("postgresql", None), Some(5432));
        assert_eq!(service_port("gopher", None), None);
    }

    #[test]
    fn lists_flatten_in_order() {
        let lists = [
            parse_port_list("22,80-81").unwrap(),
            parse_port_list("7").unwrap(),
        ];
        let ports: Vec<u16> = port_ranges(&lists)
            .unwrap()
            .iter()
            .flat_map(|r| r.iter())
            .collect();
        assert_eq!(ports, vec![22, 80, 81, 7]);
        let unknown = [parse_port_list("no-such-service").unwrap()];
        let e = port_ranges(&unknown).unwrap_err();
        assert_eq!(e.kind, Exit::Usage);
        assert!(
            e.to_string().starts_with("port no-such-service: unknown"),
            "{e}"
        );
    }

    fn config(line: &str) -> Result<PortCheckConfig> {
        use crate::cli::{Command, TcpCommand};
        match crate::config::testing::command(line) {
            Command::Tcp(TcpCommand::Check(args)) => PortCheckConfig::from_args(args),
            _ => panic!("not tcp check"),
        }
    }

    #[test]
    fn flags_to_config() {
        let table: &[(&str, &[u16], PortReport, PortVerdict)] = &[
            (
                "tcp check h 22",
                &[22],
                PortReport::All,
                PortVerdict::AllOpen,
            ),
            (
                "tcp check --open h 1-3",
                &[1, 2, 3],
                PortReport::OpenOnly,
                PortVerdict::AllOpen,
            ),
            (
                "tcp check --any h 9 8",
                &[9, 8],
                PortReport::All,
                PortVerdict::AnyOpen,
            ),
        ];
        for &(line, ports, report, verdict) in table {
            let c = config(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!(
                (c.ports.as_slice(), c.report, c.verdict),
                (ports, report, verdict),
                "{line}"
            );
        }
        // 17 times every port is over the bound: refused before any socket.
        let line = format!("tcp check h{}", " 1-65535".repeat(17));
        let e = config(&line).unwrap_err();
        assert_eq!((e.kind, e.what.as_str()), (Exit::Usage, "ports"));
    }
}
