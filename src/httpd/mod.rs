//! `netkit http listen PORT`: the HTTP/1.1 server.
//!
//! Three ways to answer, one per run: print each request and answer a fixed
//! response (`--status`, `-H`, `--body`), `--echo` the request back as JSON,
//! or serve files under `--dir`. Requests are decoded by the sans-IO
//! [`RequestDecoder`](crate::proto::http_request::RequestDecoder); what to
//! answer is decided in [`respond`] from the request alone.
//!
//! It runs on the shared server core (`src/server/`): [`codec::HttpCodec`]
//! is the per-client protocol, [`codec::HttpRoom`] reports the requests.

pub mod codec;
pub mod files;
pub mod respond;

use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;

use mio::Interest;

use crate::cli::HttpListenArgs;
use crate::error::{Error, Exit, Result};
use crate::event::Event;
use crate::http::tls;
use crate::net;
use crate::output::Output;
use crate::proto::http_request::Limits;
use crate::reactor::signal::Signals;
use crate::reactor::Reactor;
use crate::server as core;
use codec::{HttpCodec, HttpRoom, HttpShared};

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Print the request, answer `status` with `body`.
    Print { status: u16, body: Vec<u8> },
    /// Answer with the request as JSON.
    Echo { status: u16 },
    /// Serve files under this root.
    Dir(files::Root),
}

/// `http listen`'s settings, lifted from the command line once.
#[derive(Debug, Clone)]
pub struct Config {
    pub mode: Mode,
    /// Extra response fields (`-H`).
    pub headers: Vec<(String, String)>,
    pub count: Option<u64>,
    pub limits: Limits,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_clients: usize,
}

pub fn run(args: HttpListenArgs, out: &mut Output) -> Result<Exit> {
    let (config, tls) = configure(&args)?;
    net::raise_fd_limit();
    let mut listener = net::listen(args.bind.map(|b| b.ip(args.family)), args.port, args.family)?;
    let addr = listener.local_addr().map_err(|e| Error::io("listen", &e))?;
    let mut reactor: Reactor<core::Timer> = Reactor::new()?;
    reactor
        .registry()
        .register(&mut listener, core::LISTENER, Interest::READABLE)
        .map_err(|e| Error::io("listen", &e))?;
    let signals =
        Signals::new(reactor.registry(), core::SIGNAL).map_err(|e| Error::io("signals", &e))?;
    out.emit(&Event::Listening { addr })?;
    let tick = (config.header_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let cfg = core::Config {
        max_clients: config.max_clients,
        // Reading stops while an answer (a file) is going out.
        max_queue: 2 * codec::HIGH_WATER,
        back_pressure: true,
        idle_timeout: Some(config.idle_timeout),
        // No head can come before the TLS handshake is done.
        tls_handshake_timeout: config.header_timeout,
        tick: Some(tick),
        ..core::Config::default()
    };
    let parts = core::Parts {
        listener,
        tls,
        stdin: None,
        signals,
        out,
    };
    core::run::<HttpCodec, _>(&mut reactor, cfg, HttpShared::new(config), HttpRoom, parts)
}

fn configure(args: &HttpListenArgs) -> Result<(Config, Option<Arc<ServerConfig>>)> {
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
        Mode::Dir(files::Root::open(root))
    } else if args.echo {
        Mode::Echo { status }
    } else {
        let body = match args.body.as_deref() {
            None => Vec::new(),
            Some(b) => match b.strip_prefix('@') {
                Some(path) => std::fs::read(path)
                    .map_err(|e| Error::usage(format!("--body @{path}"), e.to_string()))?,
                None => b.as_bytes().to_vec(),
            },
        };
        Mode::Print { status, body }
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
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(tls::server_config(c, k)?),
        _ => None,
    };
    Ok((
        Config {
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
        tls,
    ))
}
