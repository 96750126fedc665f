//! Proxies: which one a connection goes through (`-x URL`, or curl's
//! environment variables), and the tunnel handshake driven over a
//! [`Conn`] (the codecs are in [`crate::proto::proxy`]).
//!
//! Schemes: `http://` (CONNECT; plain `http://` requests are sent to it in
//! absolute form instead, as curl does), `socks5://` (names resolved here)
//! and `socks5h://` (names resolved by the proxy); `user:pass@` gives
//! credentials. Without a scheme, `http://`; without a port, 1080 (curl's
//! default).

use std::time::Instant;

use crate::error::{Error, Exit, Result};
use crate::net;
use crate::proto::proxy::{Handshake, Progress, ProxyError, Target};
use crate::reactor::conn::{Conn, Read, Stream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Http,
    Socks5,
    Socks5h,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proxy {
    pub kind: ProxyKind,
    pub host: String,
    pub port: u16,
    pub auth: Option<(String, String)>,
}

impl Proxy {
    /// Parses a proxy URL (a usage error if it is not one).
    pub fn parse(text: &str) -> Result<Proxy> {
        let bad = |why: &str| Error::usage(format!("proxy {}", redact(text)), why.to_string());
        let with_scheme = if text.contains("://") {
            text.to_string()
        } else {
            format!("http://{text}")
        };
        let url = url::Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
        let kind = match url.scheme() {
            "http" => ProxyKind::Http,
            "socks5" => ProxyKind::Socks5,
            "socks5h" => ProxyKind::Socks5h,
            "https" => return Err(bad("https:// proxies are not supported (use http://)")),
            other => {
                return Err(bad(&format!(
                    "unknown proxy scheme {other}:// (http, socks5 or socks5h)"
                )))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?
            .to_string();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let auth = (!url.username().is_empty())
            .then(|| (decode(url.username()), decode(url.password().unwrap_or(""))));
        Ok(Proxy {
            kind,
            host,
            port: url.port().unwrap_or(1080),
            auth,
        })
    }

    /// `scheme://host:port`, without credentials: how errors name it.
    pub fn name(&self) -> String {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        };
        format!(
            "{scheme}://{}",
            crate::tcp::host_port(&self.host, self.port)
        )
    }

    /// The handshake to reach `host:port` through this proxy. `socks5://`
    /// resolves the name here first (blocking, like curl does it).
    pub fn handshake(&self, host: &str, port: u16, family: super::Family) -> Result<Tunnel> {
        let bare = net::bare_host(host).to_string();
        let hs = match self.kind {
            ProxyKind::Http => Ok(Handshake::http_connect(
                Target::Name(bare, port),
                self.auth.clone(),
            )),
            ProxyKind::Socks5h => Handshake::socks5(Target::Name(bare, port), self.auth.clone()),
            ProxyKind::Socks5 => {
                let addr = net::resolve(&bare, port, family)?[0];
                Handshake::socks5(Target::Addr(addr), self.auth.clone())
            }
        };
        let hs = hs.map_err(|e| Error::usage(format!("proxy {}", self.name()), e.to_string()))?;
        Ok(Tunnel {
            hs,
            proxy: self.name(),
            target: crate::tcp::host_port(host, port),
        })
    }
}

/// A proxy URL with its password hidden.
fn redact(text: &str) -> String {
    match (text.find("://"), text.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***@{}", &text[..s + 3], &text[at + 1..]),
        (None, Some(at)) => format!("***@{}", &text[at + 1..]),
        _ => text.to_string(),
    }
}

/// The proxy for a request to `scheme://host`, as curl picks it:
/// `-x URL` first (`-x ""` means none), then `http_proxy` (lower case
/// only) for http, `HTTPS_PROXY`/`https_proxy` for https, then
/// `ALL_PROXY`/`all_proxy`; hosts listed in `--noproxy` (or
/// `NO_PROXY`/`no_proxy`) go direct. `env` looks a variable up (the
/// process environment, in production).
pub fn choose(
    explicit: Option<&str>,
    noproxy: Option<&str>,
    https: bool,
    host: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>> {
    let lookup = |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.is_empty()));
    let noproxy = match noproxy {
        Some(list) => Some(list.to_string()),
        None => lookup(&["no_proxy", "NO_PROXY"]),
    };
    if let Some(list) = &noproxy {
        if bypass(list, host) {
            return Ok(None);
        }
    }
    let chosen = match explicit {
        Some("") => return Ok(None),
        Some(url) => Some(url.to_string()),
        None if https => lookup(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]),
        None => lookup(&["http_proxy", "all_proxy", "ALL_PROXY"]),
    };
    chosen.map(|url| Proxy::parse(&url)).transpose()
}

/// Whether `host` is in a no-proxy list: `*`, or comma-separated names
/// matching the host or a domain it is under (a leading dot optional),
/// or IP addresses.
pub fn bypass(list: &str, host: &str) -> bool {
    let host = net::bare_host(host).to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches('.').to_ascii_lowercase();
        let entry = net::bare_host(&entry).trim_end_matches('.');
        !entry.is_empty()
            && (host == entry
                || (host.len() > entry.len()
                    && host.ends_with(entry)
                    && host.as_bytes()[host.len() - entry.len() - 1] == b'.'))
    })
}

/// The process environment, for [`choose`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A proxy handshake in progress over a connection to the proxy.
pub struct Tunnel {
    hs: Handshake,
    proxy: String,
    target: String,
}

impl Tunnel {
    /// Sends what the handshake has to send and reads the proxy's answer.
    /// `Some(bytes)` once the tunnel is up: what already arrived from the
    /// far end.
    pub fn pump<S: Stream>(
        &mut self,
        conn: &mut Conn<S>,
        buf: &mut [u8],
        now: Instant,
    ) -> Result<Option<Vec<u8>>> {
        loop {
            let out = self.hs.output();
            conn.send(&out, usize::MAX, now)
                .map_err(|e| self.io_error(&e))?;
            conn.flush(now).map_err(|e| self.io_error(&e))?;
            match conn.read(buf, now) {
                Ok(Read::Data(n)) => match self.hs.feed(&buf[..n]) {
                    Ok(Progress::NeedMore) => {}
                    Ok(Progress::Done(used)) => {
                        let rest = self.hs.output();
                        conn.send(&rest, usize::MAX, now)
                            .map_err(|e| self.io_error(&e))?;
                        return Ok(Some(buf[used..n].to_vec()));
                    }
                    Err(e) => return Err(self.refused(&e)),
                },
                Ok(Read::WouldBlock) => return Ok(None),
                Ok(Read::Eof) => {
                    return Err(Error::new(
                        Exit::Refused,
                        format!("proxy {}", self.proxy),
                        format!(
                            "closed the connection before the tunnel to {} was up",
                            self.target
                        ),
                    ))
                }
                Err(e) => return Err(self.io_error(&e)),
            }
        }
    }

    fn refused(&self, e: &ProxyError) -> Error {
        Error::new(
            Exit::Refused,
            format!("proxy {}", self.proxy),
            format!("no tunnel to {}: {e}", self.target),
        )
    }

    fn io_error(&self, e: &std::io::Error) -> Error {
        Error::new(
            crate::error::exit_for_io(e),
            format!("proxy {}", self.proxy),
            crate::error::describe_io(e),
        )
    }

    /// The proxy's name, for messages.
    pub fn proxy(&self) -> &str {
        &self.proxy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls() {
        let p = Proxy::parse("socks5h://us%40r:p%3Ass@127.0.0.1:9050").unwrap();
        assert_eq!(p.kind, ProxyKind::Socks5h);
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 9050));
        assert_eq!(p.auth, Some(("us@r".into(), "p:ss".into())));
        assert_eq!(p.name(), "socks5h://127.0.0.1:9050");
        let p = Proxy::parse("proxy.local").unwrap();
        assert_eq!((p.kind, p.port), (ProxyKind::Http, 1080));
        let p = Proxy::parse("http://[::1]:3128").unwrap();
        assert_eq!(p.name(), "http://[::1]:3128");
        for bad in ["ftp://x:1", "https://x:1", "http://", "socks5://:1"] {
            assert_eq!(Proxy::parse(bad).unwrap_err().kind, Exit::Usage, "{bad}");
        }
        let e = Proxy::parse("ftp://user:secret@x").unwrap_err();
        assert!(!e.what.contains("secret"), "{e}");
    }

    #[test]
    fn no_proxy_lists() {
        assert!(bypass("*", "anything"));
        assert!(bypass("example.org", "example.org"));
        assert!(bypass("example.org", "www.example.org"));
        assert!(bypass(".example.org", "www.example.org"));
        assert!(!bypass("example.org", "badexample.org"));
        assert!(bypass("localhost, 127.0.0.1", "127.0.0.1"));
        assert!(bypass("::1", "[::1]"));
        assert!(!bypass("", "x"));
    }

    #[test]
    fn choosing_as_curl_does() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let pick = |explicit, noproxy, https, host, vars| {
            choose(explicit, noproxy, https, host, &env(vars))
                .unwrap()
                .map(|p| p.name())
        };
        // HTTP_PROXY in upper case is ignored (httpoxy); lower case counts.
        assert_eq!(pick(None, None, false, "h", &[("HTTP_PROXY", "x:1")]), None);
        assert_eq!(
            pick(None, None, false, "h", &[("http_proxy", "x:1")]),
            Some("http://x:1".into())
        );
        assert_eq!(
            pick(None, None, true, "h", &[("HTTPS_PROXY", "socks5://y:2")]),
            Some("socks5://y:2".into())
        );
        assert_eq!(
            pick(None, None, true, "h", &[("ALL_PROXY", "z:3")]),
            Some("http://z:3".into())
        );
        assert_eq!(
            pick(
                None,
                None,
                false,
                "h.local",
                &[("all_proxy", "z:3"), ("NO_PROXY", "local")]
            ),
            None
        );
        assert_eq!(
            pick(Some(""), None, false, "h", &[("http_proxy", "x:1")]),
            None
        );
        assert_eq!(
            pick(Some("w:4"), None, false, "h", &[("http_proxy", "x:1")]),
            Some("http://w:4".into())
        );
        assert_eq!(pick(Some("w:4"), Some("h"), false, "h", &[]), None);
    }
}
