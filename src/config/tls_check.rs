//! `netkit tls check HOST[:PORT]...`: the flags lifted into a
//! [`TlsCheckConfig`]: targets parsed (port 443 by default) and bounded,
//! the proxy URL parsed, the TLS options as one [`TlsClientSettings`].

use std::time::Duration;

use super::TlsClientSettings;
use crate::cli::TlsCheckArgs;
use crate::error::{Error, Result};
use crate::net::proxy::Proxy;
use crate::net::Family;

/// Hosts one run checks at most.
const MAX_HOSTS: usize = 4096;

/// Everything `netkit tls check` does, decided.
#[derive(Debug, Clone)]
pub struct TlsCheckConfig {
    /// Host and port of each target, in the order given.
    pub targets: Vec<(String, u16)>,
    pub family: Family,
    /// For each address and for the handshake.
    pub connect_timeout: Duration,
    pub warn_days: Option<u32>,
    pub proxy: Option<Proxy>,
    pub tls: TlsClientSettings,
}

impl TlsCheckConfig {
    pub fn from_args(args: TlsCheckArgs) -> Result<TlsCheckConfig> {
        if args.targets.len() > MAX_HOSTS {
            return Err(Error::usage(
                "hosts",
                format!("{} hosts; at most {MAX_HOSTS} per run", args.targets.len()),
            ));
        }
        let targets = args
            .targets
            .iter()
            .map(|t| parse_target(t))
            .collect::<Result<Vec<_>>>()?;
        Ok(TlsCheckConfig {
            targets,
            family: args.family,
            connect_timeout: args.connect_timeout,
            warn_days: args.warn_days,
            proxy: args.proxy.as_deref().map(Proxy::parse).transpose()?,
            tls: TlsClientSettings::from(&args.tls_opts),
        })
    }
}

/// `host`, `host:port`, `[v6]:port` or a bare IPv6 address.
fn parse_target(target: &str) -> Result<(String, u16)> {
    let bad = |why: &str| Error::usage(format!("target {target}"), why.to_string());
    if let Some(rest) = target.strip_prefix('[') {
        let (host, tail) = rest.split_once(']').ok_or_else(|| bad("missing `]`"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => parse_port(p).ok_or_else(|| bad("not a port (1-65535)"))?,
            None if tail.is_empty() => 443,
            None => return Err(bad("expected [ADDR]:PORT")),
        };
        return Ok((host.to_string(), port));
    }
    match target.split_once(':') {
        Some((host, port)) if !port.contains(':') => {
            let port = parse_port(port).ok_or_else(|| bad("not a port (1-65535)"))?;
            if host.is_empty() {
                return Err(bad("empty host name"));
            }
            Ok((host.to_string(), port))
        }
        // Two colons or more: a bare IPv6 address.
        Some(_) => Ok((target.to_string(), 443)),
        None if target.is_empty() => Err(bad("empty host name")),
        None => Ok((target.to_string(), 443)),
    }
}

fn parse_port(text: &str) -> Option<u16> {
    text.parse::<u16>().ok().filter(|p| *p > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    #[test]
    fn targets_parse_with_default_port_443() {
        assert_eq!(
            parse_target("example.org").unwrap(),
            ("example.org".into(), 443)
        );
        assert_eq!(
            parse_target("example.org:8443").unwrap(),
            ("example.org".into(), 8443)
        );
        assert_eq!(parse_target("[::1]:4433").unwrap(), ("::1".into(), 4433));
        assert_eq!(parse_target("[::1]").unwrap(), ("::1".into(), 443));
        assert_eq!(parse_target("::1").unwrap(), ("::1".into(), 443));
        for bad in [
            "",
            "host:",
            "host:0",
            "host:70000",
            "[::1",
            "[::1]x",
            ":443",
        ] {
            assert_eq!(parse_target(bad).unwrap_err().kind, Exit::Usage, "{bad}");
        }
    }

    fn config(line: &str) -> Result<TlsCheckConfig> {
        use crate::cli::{Command, TlsCommand};
        match crate::config::testing::command(line) {
            Command::Tls(TlsCommand::Check(args)) => TlsCheckConfig::from_args(args),
            _ => panic!("not tls check"),
        }
    }

    #[test]
    fn flags_to_config() {
        let c = config("tls check -k --sni x.test --alpn h2 --alpn http/1.1 a b:8443").unwrap();
        assert_eq!(c.targets, [("a".into(), 443), ("b".into(), 8443)]);
        assert_eq!(
            c.tls,
            TlsClientSettings {
                cacert: None,
                insecure: true,
                sni: Some("x.test".into()),
                alpn: vec!["h2".into(), "http/1.1".into()],
            }
        );
        assert!(c.proxy.is_none());
        assert!(config("tls check -x socks5h://127.0.0.1:1080 a")
            .unwrap()
            .proxy
            .is_some());
        for line in ["tls check a:0", "tls check -x ftp://p a"] {
            let e = config(line)
                .err()
                .unwrap_or_else(|| panic!("{line}: accepted"));
            assert_eq!(e.kind, Exit::Usage, "{line}: {e:?}");
        }
        let many = format!("tls check{}", " h".repeat(MAX_HOSTS + 1));
        assert_eq!(config(&many).unwrap_err().what, "hosts");
    }
}
