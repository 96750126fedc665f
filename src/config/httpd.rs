//! The config step of `http listen`: the clap arguments lifted once into
//! what the server answers ([`HttpdMode`]), its limits and TLS settings;
//! `--dir`, `--body @FILE` and `-H` are checked here, before any socket.

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use crate::cli::HttpListenArgs;
use crate::config::tcp::{server_tls, ListenAt};
use crate::error::{Error, Result};
use crate::httpd::files;
use crate::proto::http_request::Limits;

/// `http listen PORT`.
#[derive(Debug)]
pub struct HttpListenConfig {
    /// The port (or `--unix` socket) to listen on.
    pub at: ListenAt,
    /// `--tls-cert`/`--tls-key`: https.
    pub tls: Option<Arc<ServerConfig>>,
    /// What every client shares.
    pub httpd: HttpdConfig,
}

/// What the server answers.
#[derive(Debug, Clone)]
pub enum HttpdMode {
    /// Print the request, answer `status` with `body`.
    Print { status: u16, body: Vec<u8> },
    /// Answer with the request as JSON.
    Echo { status: u16 },
    /// Serve files under this root.
    Dir(files::Root),
}

/// `http listen`'s settings, lifted from the command line once.
#[derive(Debug, Clone)]
pub struct HttpdConfig {
    pub mode: HttpdMode,
    /// Extra response fields (`-H`).
    pub headers: Vec<(String, String)>,
    pub count: Option<u64>,
    pub limits: Limits,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_clients: usize,
}

impl HttpListenConfig {
    pub fn from_args(args: HttpListenArgs) -> Result<HttpListenConfig> {
        let args = &args;
        let status = args.status.unwrap_or(200);
        let mode = if let Some(dir) = &args.dir {
            let root = std::fs::canonicalize(dir)
                .map_err(|e| Error::usage(format!("--dir {}", dir.display()), e.to_string()))?;
            if !root.is_dir() {
                return Err(Error::usage(
                    format!("--dir {}", dir.display()),
                    "not a directory",
                ));
            }
            HttpdMode::Dir(files::Root::open(root))
        } else if args.echo {
            HttpdMode::Echo { status }
        } else {
            let body = match args.body.as_deref() {
                None => Vec::new(),
                Some(b) => match b.strip_prefix('@') {
                    Some(path) => std::fs::read(path)
                        .map_err(|e| Error::usage(format!("--body @{path}"), e.to_string()))?,
                    None => b.as_bytes().to_vec(),
                },
            };
            HttpdMode::Print { status, body }
        };
        let mut headers = Vec::new();
        for h in &args.headers {
            let bad = || Error::usage("-H", format!("not `Name: value`: {h:?}"));
            let (name, value) = h.split_once(':').ok_or_else(bad)?;
            let name = name.trim();
            let value = value.trim();
            let token_ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !token_ok || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(bad());
            }
            headers.push((name.to_string(), value.to_string()));
        }
        let tls = server_tls(args.tls_cert.as_deref(), args.tls_key.as_deref(), &[])?;
        Ok(HttpListenConfig {
            at: ListenAt::new(&args.at),
            tls,
            httpd: HttpdConfig {
                mode,
                headers,
                count: args.count,
                limits: Limits {
                    max_head: args.max_head.max(256),
                    max_body: args.max_body as u64,
                },
                header_timeout: args.header_timeout,
                idle_timeout: args.idle_timeout,
                max_clients: args.max_clients as usize,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command, HttpCommand};
    use clap::Parser;

    fn config(line: &str) -> std::result::Result<HttpListenConfig, String> {
        let argv = std::iter::once("netkit").chain(line.split_whitespace());
        let cli = Cli::try_parse_from(argv).map_err(|e| format!("clap {:?}", e.kind()))?;
        match cli.command {
            Command::Http(HttpCommand::Listen(args)) => HttpListenConfig::from_args(*args)
                .map_err(|e| format!("{:?} {}: {}", e.kind, e.what, e.why)),
            _ => panic!("not http listen: {line}"),
        }
    }

    fn shape(line: &str) -> String {
        match config(line) {
            Ok(c) => {
                let mode = match &c.httpd.mode {
                    HttpdMode::Print { status, body } => {
                        format!("print {status} {:?}", String::from_utf8_lossy(body))
                    }
                    HttpdMode::Echo { status } => format!("echo {status}"),
                    HttpdMode::Dir(_) => "dir".to_string(),
                };
                format!("{mode} headers={:?}", c.httpd.headers)
            }
            Err(e) => e,
        }
    }

    #[test]
    fn flags_make_one_mode_or_a_usage_error() {
        let dir = std::env::temp_dir();
        let dir_line = format!("http listen 0 --dir {}", dir.display());
        let table = [
            ("http listen 0", "print 200 \"\" headers=[]".to_string()),
            (
                "http listen 0 --status 404 --body gone",
                "print 404 \"gone\" headers=[]".to_string(),
            ),
            ("http listen 0 --echo", "echo 200 headers=[]".to_string()),
            (
                "http listen 0 --echo --status 201",
                "echo 201 headers=[]".to_string(),
            ),
            (dir_line.as_str(), "dir headers=[]".to_string()),
            (
                "http listen 0 -H X-A:1 -H Y:two",
                "print 200 \"\" headers=[(\"X-A\", \"1\"), (\"Y\", \"two\")]".to_string(),
            ),
            (
                "http listen 0 -H novalue",
                "Usage -H: not `Name: value`: \"novalue\"".to_string(),
            ),
            (
                "http listen 0 -H Bad(name):1",
                "Usage -H: not `Name: value`: \"Bad(name):1\"".to_string(),
            ),
            (
                "http listen 0 --dir /nonexistent/netkit",
                "Usage --dir /nonexistent/netkit: No such file or directory (os error 2)"
                    .to_string(),
            ),
            (
                "http listen 0 --dir /etc/hostname",
                "Usage --dir /etc/hostname: not a directory".to_string(),
            ),
            (
                "http listen 0 --body @/nonexistent/netkit",
                "Usage --body @/nonexistent/netkit: No such file or directory (os error 2)"
                    .to_string(),
            ),
        ];
        for (line, want) in table {
            assert_eq!(shape(line), want, "{line}");
        }
    }

    #[test]
    fn limits_are_lifted_with_a_floor_on_the_head() {
        let c = config("http listen 0 --bind 127.0.0.1 --max-head 10 --max-body 5 -c 3").unwrap();
        assert!(
            matches!(&c.at, ListenAt::Tcp(b) if b.ip == Some("127.0.0.1".parse().unwrap())),
            "{:?}",
            c.at
        );
        assert_eq!((c.httpd.limits.max_head, c.httpd.limits.max_body), (256, 5));
        assert_eq!(c.httpd.count, Some(3));
        assert!(c.tls.is_none());
    }
}
