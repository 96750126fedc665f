//! One config step after parsing, as ripgrep lifts its flags into `HiArgs`.
//!
//! clap's structs (`crate::cli`) say what was typed; the configs here say
//! what to do: a mode enum instead of booleans re-derived in each driver,
//! the request built once (files and stdin named by `@FILE`/`@-` read
//! here, before the loop), TLS settings as one value, terminals detected
//! once, and every usage error (flag combinations, bad `--resolve`
//! entries, a `-O` URL without a file name) raised here, so a driver
//! cannot be started with an inconsistent config.
//!
//! Convention: one module per command, all of them here rather than beside
//! each driver, so that the translation from flags is read in one place
//! and the drivers' directories never name a clap type (pinned by
//! `tests/architecture.rs`). Each config is built by its `from_args`, in
//! `lib::run` or the family's dispatch (`tcp`, `udp`, `ws`, `tls`, `unix`,
//! `httpd`), and handed to the driver's `run`.

pub mod bench;
pub mod http;
pub mod httpd;
pub mod poll;
pub mod port_check;
pub mod request;
pub mod tcp;
pub mod tls_check;
pub mod udp;
pub mod ws_connect;
pub mod ws_listen;

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{DialArgs, TlsOpts};
use crate::net::Family;

/// The longest duration any flag takes (see `cli::parse_duration`).
pub use crate::cli::MAX_DURATION;

/// How a TLS client verifies and names the server: `--cacert`, `-k`,
/// `--sni`, `--alpn`. Shared by `http`, `poll`, `ws connect` and `tls
/// check` (the `http` family has no `--sni`/`--alpn`: the URL's host and
/// `http/1.1` are used).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsClientSettings {
    pub cacert: Option<PathBuf>,
    /// `-k`: the certificate is not verified (drivers say so on stderr).
    pub insecure: bool,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
}

impl From<&TlsOpts> for TlsClientSettings {
    fn from(o: &TlsOpts) -> TlsClientSettings {
        TlsClientSettings {
            cacert: o.cacert.clone(),
            insecure: o.insecure,
            sni: o.sni.clone(),
            alpn: o.alpn.clone(),
        }
    }
}

/// How a client reaches a server (`http`, `poll`, `ws connect`): address
/// family, connect timeout, TLS, proxy, `--unix-socket`.
#[derive(Debug, Clone)]
pub struct DialConfig {
    pub family: Family,
    pub connect_timeout: Duration,
    pub tls: TlsClientSettings,
    /// `-x URL` (`Some("")`: none, whatever the environment says).
    pub proxy: Option<String>,
    /// `--noproxy LIST`.
    pub noproxy: Option<String>,
    /// `--unix-socket PATH`.
    pub unix_socket: Option<String>,
}

impl DialConfig {
    /// Plain defaults: both families, 10 s to connect, verified TLS, the
    /// environment's proxy.
    pub fn new(connect_timeout: Duration) -> DialConfig {
        DialConfig {
            family: Family::default(),
            connect_timeout,
            tls: TlsClientSettings::default(),
            proxy: None,
            noproxy: None,
            unix_socket: None,
        }
    }
}

impl From<&DialArgs> for DialConfig {
    fn from(a: &DialArgs) -> DialConfig {
        DialConfig {
            family: a.family,
            connect_timeout: a.connect_timeout,
            tls: TlsClientSettings {
                cacert: a.cacert.clone(),
                insecure: a.insecure,
                sni: None,
                alpn: Vec::new(),
            },
            proxy: a.proxy.clone(),
            noproxy: a.noproxy.clone(),
            unix_socket: a.unix_socket.clone(),
        }
    }
}

/// What the config modules' table tests share.
#[cfg(test)]
pub(crate) mod testing {
    use clap::Parser as _;

    use crate::cli::{Cli, Command};

    /// `netkit LINE` (split at whitespace) parsed: the subcommand.
    pub fn command(line: &str) -> Command {
        let argv = std::iter::once("netkit").chain(line.split_whitespace());
        Cli::try_parse_from(argv)
            .unwrap_or_else(|e| panic!("{line}: {e}"))
            .command
    }
}
