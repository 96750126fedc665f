//! The config step of `tcp connect | listen` and `unix connect | listen`:
//! the clap arguments are lifted once, here, into the settings the drivers
//! run on. Modes become enums, TLS settings are built, stdin's kind is
//! looked at, and flag combinations that make no sense are usage errors
//! before any socket is opened. The drivers never see a `cli` type.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ServerConfig};

use crate::cli::{
    ConnectArgs, ExecArgs, Family, ListenArgs, ListenAtArgs, PipeArgs, ServeArgs, TlsOpts,
};
use crate::error::{Error, Result};
use crate::exec::Program;
use crate::net::proxy::Proxy;
use crate::net::unix::Cleanup;
use crate::net::{self, BindAddr, Listener};
use crate::reactor::stdin::Kind;
use crate::server::room::ServeMode;
use crate::tcp::session::PipeOpts;

/// `tcp connect HOST PORT`.
#[derive(Debug)]
pub struct TcpConnectConfig {
    pub host: String,
    pub port: u16,
    pub family: Family,
    pub connect_timeout: Duration,
    pub source: Option<SocketAddr>,
    /// `-x`: the proxy to tunnel through.
    pub proxy: Option<Proxy>,
    /// `--tls`: the client settings and the name to send and verify.
    pub tls: Option<ClientTls>,
    /// Where the connection's bytes go: stdio or a program.
    pub to: ConnectTo,
}

/// `--tls` on `tcp connect`.
#[derive(Debug)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    /// `--sni`, else the host.
    pub name: String,
    /// `--insecure`: the driver says that nothing is verified.
    pub insecure: bool,
}

/// What `tcp connect` connects the socket to.
#[derive(Debug)]
pub enum ConnectTo {
    /// Stdin and stdout.
    Stdio(PipeOpts),
    /// `-e`/`--sh-exec`; the idle timeout still applies.
    Exec {
        program: Program,
        idle_timeout: Option<Duration>,
    },
}

/// Where `tcp listen` binds.
#[derive(Debug, Clone, Copy)]
pub struct TcpBind {
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub family: Family,
}

impl TcpBind {
    /// `--bind ADDR PORT` under `-4`/`-6`.
    pub fn new(bind: Option<BindAddr>, port: u16, family: Family) -> TcpBind {
        TcpBind {
            ip: bind.map(|b| b.ip(family)),
            port,
            family,
        }
    }
}

/// Where a server (`ws listen`, `http listen`) listens: an IP port, or
/// (`--unix PATH`) a Unix socket.
#[derive(Debug, Clone)]
pub enum ListenAt {
    Tcp(TcpBind),
    Unix(String),
}

impl ListenAt {
    /// `--unix PATH`, else `--bind ADDR PORT` under `-4`/`-6`.
    pub fn new(args: &ListenAtArgs) -> ListenAt {
        match &args.unix {
            Some(path) => ListenAt::Unix(path.clone()),
            None => ListenAt::Tcp(TcpBind::new(args.bind, args.port.unwrap_or(0), args.family)),
        }
    }

    /// Binds; a Unix socket's file is removed when the [`Cleanup`] drops.
    pub fn open(&self) -> Result<(Listener, Option<Cleanup>)> {
        match self {
            ListenAt::Tcp(b) => Ok((Listener::Tcp(net::listen(b.ip, b.port, b.family)?), None)),
            ListenAt::Unix(path) => {
                let (listener, cleanup) = net::unix::listen(path)?;
                Ok((Listener::unix(listener, path), Some(cleanup)))
            }
        }
    }
}

/// `tcp listen PORT`.
#[derive(Debug)]
pub struct TcpListenConfig {
    pub bind: TcpBind,
    /// `--tls-cert`/`--tls-key` (with `--alpn`): every client speaks TLS.
    pub tls: Option<ListenTls>,
    pub serve: Serve,
}

/// `tcp listen --tls-cert`: the server's settings, and how long a client's
/// handshake may take (`--handshake-timeout`).
#[derive(Debug, Clone)]
pub struct ListenTls {
    pub config: Arc<ServerConfig>,
    pub handshake_timeout: Duration,
}

/// What a listener (`tcp listen`, `unix listen`) does with its clients.
#[derive(Debug)]
pub enum Serve {
    /// One client piped to stdin and stdout, then exit (`nc -l`).
    One(PipeOpts),
    /// Many clients at once in a room (`-k`, `--broker`, `--chat`, `--echo`).
    Many(ManyOpts),
    /// Each client bridged to its own process (`-e`/`--sh-exec`).
    Exec(ExecOpts),
}

/// The multi-client server's settings.
#[derive(Debug, Clone, Copy)]
pub struct ManyOpts {
    pub mode: ServeMode,
    pub max_clients: usize,
    pub max_queue: usize,
    pub idle_timeout: Option<Duration>,
    pub hex: bool,
    /// `--chat` echoes the console's lines to stdout unless stdin is a
    /// terminal (where they are on screen already).
    pub echo_console: bool,
}

/// `-e`/`--sh-exec` on a listener.
#[derive(Debug, Clone)]
pub struct ExecOpts {
    pub program: Program,
    /// `-k`: one process per client, at most `max_clients`; else one.
    pub keep: bool,
    pub max_clients: usize,
    pub idle_timeout: Option<Duration>,
}

/// Whether stdin is a terminal, looked at once.
fn stdin_is_tty() -> bool {
    Kind::detect() == Kind::Tty
}

/// The first flag given of `flags`, as a usage error saying `why`.
fn refuse(flags: &[(bool, &'static str)], why: &str) -> Result<()> {
    match flags.iter().find(|(set, _)| *set) {
        Some((_, flag)) => Err(Error::usage(*flag, why.to_string())),
        None => Ok(()),
    }
}

/// The pipe's settings from the flags `tcp connect` and `unix connect` share.
pub fn pipe_opts(args: &PipeArgs) -> PipeOpts {
    PipeOpts {
        send_only: args.send_only,
        recv_only: args.recv_only,
        no_shutdown: args.no_shutdown,
        hex: args.hex,
        idle_timeout: args.idle_timeout,
        quit_after: args.quit_after,
        crlf: args.crlf,
        stdin_tty: stdin_is_tty(),
    }
}

/// The program `-e`/`--sh-exec` ask for, if any.
pub fn program(args: &ExecArgs) -> Result<Option<Program>> {
    if let Some(e) = &args.exec {
        let argv: Vec<String> = e.split_whitespace().map(String::from).collect();
        if argv.is_empty() {
            return Err(Error::usage("-e", "empty command"));
        }
        return Ok(Some(Program::Argv(argv, e.trim().to_string())));
    }
    if let Some(c) = &args.sh_exec {
        if c.trim().is_empty() {
            return Err(Error::usage("--sh-exec", "empty command"));
        }
        return Ok(Some(Program::Shell(c.clone())));
    }
    Ok(None)
}

impl TcpConnectConfig {
    pub fn from_args(args: ConnectArgs) -> Result<TcpConnectConfig> {
        let tls = client_tls(&args)?;
        let program = program(&args.exec)?;
        let to = match program {
            Some(program) => {
                let p = &args.pipe;
                refuse(
                    &[
                        (args.tls, "--tls"),
                        (p.send_only, "--send-only"),
                        (p.recv_only, "--recv-only"),
                        (p.crlf, "--crlf"),
                        (p.hex, "--hex"),
                        (p.quit_after.is_some(), "--quit-after"),
                        (p.no_shutdown, "--no-shutdown"),
                    ],
                    "cannot be used with -e/--sh-exec",
                )?;
                ConnectTo::Exec {
                    program,
                    idle_timeout: p.idle_timeout,
                }
            }
            None => ConnectTo::Stdio(pipe_opts(&args.pipe)),
        };
        let proxy = args.proxy.as_deref().map(Proxy::parse).transpose()?;
        Ok(TcpConnectConfig {
            host: args.host,
            port: args.port,
            family: args.family,
            connect_timeout: args.connect_timeout,
            source: args.source,
            proxy,
            tls,
            to,
        })
    }
}

/// The TLS settings for `--tls`; the TLS flags without it are a usage
/// error.
fn client_tls(args: &ConnectArgs) -> Result<Option<ClientTls>> {
    let o: &TlsOpts = &args.tls_opts;
    if !args.tls {
        refuse(
            &[
                (o.cacert.is_some(), "--cacert"),
                (o.insecure, "--insecure"),
                (o.sni.is_some(), "--sni"),
                (!o.alpn.is_empty(), "--alpn"),
            ],
            "only means something with --tls",
        )?;
        return Ok(None);
    }
    let alpn: Vec<&[u8]> = o.alpn.iter().map(|p| p.as_bytes()).collect();
    let config = net::tls::client_config(o.cacert.as_deref(), o.insecure, &alpn)?;
    Ok(Some(ClientTls {
        config,
        name: o.sni.clone().unwrap_or_else(|| args.host.clone()),
        insecure: o.insecure,
    }))
}

impl TcpListenConfig {
    pub fn from_args(args: ListenArgs) -> Result<TcpListenConfig> {
        Ok(TcpListenConfig {
            bind: TcpBind::new(args.bind, args.port, args.family),
            tls: server_tls(
                args.tls_cert.as_deref(),
                args.tls_key.as_deref(),
                &args.alpn,
            )?
            .map(|config| ListenTls {
                config,
                handshake_timeout: args.handshake_timeout,
            }),
            serve: Serve::from_args(&args.serve)?,
        })
    }
}

/// `--tls-cert` and `--tls-key` (with `--alpn`): a listener's TLS settings,
/// for `tcp listen`, `ws listen` and `http listen` alike.
pub fn server_tls(
    cert: Option<&Path>,
    key: Option<&Path>,
    alpn: &[String],
) -> Result<Option<Arc<ServerConfig>>> {
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    let config = net::tls::server_config(cert, key)?;
    if alpn.is_empty() {
        return Ok(Some(config));
    }
    let mut config = Arc::unwrap_or_clone(config);
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Some(Arc::new(config)))
}

impl Serve {
    pub fn from_args(args: &ServeArgs) -> Result<Serve> {
        if let Some(program) = program(&args.exec)? {
            refuse(
                &[
                    (args.hex, "--hex"),
                    (args.no_shutdown, "--no-shutdown"),
                    (args.quit_after.is_some(), "--quit-after"),
                ],
                "cannot be used with -e/--sh-exec",
            )?;
            return Ok(Serve::Exec(ExecOpts {
                program,
                keep: args.keep_open,
                max_clients: if args.keep_open {
                    args.max_clients as usize
                } else {
                    1
                },
                idle_timeout: args.idle_timeout,
            }));
        }
        let mode = ServeMode::from_flags(args.chat, args.broker, args.echo)
            .or(args.keep_open.then_some(ServeMode::Print));
        Ok(match mode {
            Some(mode) => Serve::Many(ManyOpts {
                mode,
                max_clients: args.max_clients as usize,
                max_queue: args.max_queue,
                idle_timeout: args.idle_timeout,
                hex: args.hex,
                echo_console: !stdin_is_tty(),
            }),
            None => Serve::One(PipeOpts {
                no_shutdown: args.no_shutdown,
                hex: args.hex,
                idle_timeout: args.idle_timeout,
                quit_after: args.quit_after,
                crlf: args.crlf,
                stdin_tty: stdin_is_tty(),
                ..PipeOpts::default()
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, TcpCommand, UnixCommand};
    use crate::error::Exit;

    use crate::config::testing::command as parse;

    fn listen(line: &str) -> Result<TcpListenConfig> {
        match parse(line) {
            Command::Tcp(TcpCommand::Listen(args)) => TcpListenConfig::from_args(args),
            _ => panic!("not tcp listen: {line}"),
        }
    }

    fn unix_serve(line: &str) -> Result<Serve> {
        match parse(line) {
            Command::Unix(UnixCommand::Listen(args)) => Serve::from_args(&args.serve),
            _ => panic!("not unix listen: {line}"),
        }
    }

    fn connect(line: &str) -> Result<TcpConnectConfig> {
        match parse(line) {
            Command::Tcp(TcpCommand::Connect(args)) => TcpConnectConfig::from_args(args),
            _ => panic!("not tcp connect: {line}"),
        }
    }

    /// What a listener's config comes to, in a word.
    fn shape(serve: &Serve) -> String {
        match serve {
            Serve::One(o) => format!(
                "one hex={} crlf={} no_shutdown={} quit={:?}",
                o.hex, o.crlf, o.no_shutdown, o.quit_after
            ),
            Serve::Many(m) => format!("many {:?} max={} hex={}", m.mode, m.max_clients, m.hex),
            Serve::Exec(e) => format!(
                "exec {:?} keep={} max={}",
                e.program.text(),
                e.keep,
                e.max_clients
            ),
        }
    }

    fn usage(flag: &str) -> String {
        format!("usage {flag}")
    }

    fn outcome<T>(r: Result<T>, ok: impl Fn(&T) -> String) -> String {
        match r {
            Ok(c) => ok(&c),
            Err(e) => {
                assert_eq!(e.kind, Exit::Usage, "{e:?}");
                usage(&e.what)
            }
        }
    }

    #[test]
    fn listen_flags_make_one_mode() {
        let table = [
            (
                "tcp listen 0",
                "one hex=false crlf=false no_shutdown=false quit=None",
            ),
            (
                "tcp listen 0 --hex -C --no-shutdown",
                "one hex=true crlf=true no_shutdown=true quit=None",
            ),
            (
                "tcp listen 0 --quit-after 1s",
                "one hex=false crlf=false no_shutdown=false quit=Some(1s)",
            ),
            ("tcp listen 0 -k", "many Print max=1000 hex=false"),
            (
                "tcp listen 0 -k --max-clients 3 --hex",
                "many Print max=3 hex=true",
            ),
            ("tcp listen 0 --broker", "many Broker max=1000 hex=false"),
            ("tcp listen 0 -k --broker", "many Broker max=1000 hex=false"),
            ("tcp listen 0 --chat", "many Chat max=1000 hex=false"),
            ("tcp listen 0 --echo", "many Echo max=1000 hex=false"),
            ("tcp listen 0 -e cat", "exec \"cat\" keep=false max=1"),
            (
                "tcp listen 0 -k -e cat --max-clients 5",
                "exec \"cat\" keep=true max=5",
            ),
            ("tcp listen 0 --sh-exec tr", "exec \"tr\" keep=false max=1"),
            ("tcp listen 0 -e cat --hex", "usage --hex"),
            ("tcp listen 0 -e cat --no-shutdown", "usage --no-shutdown"),
            ("tcp listen 0 -e cat --quit-after 1s", "usage --quit-after"),
        ];
        for (line, want) in table {
            let got = outcome(listen(line), |c| shape(&c.serve));
            assert_eq!(got, want, "{line}");
        }
    }

    #[test]
    fn unix_listen_shares_the_modes() {
        let table = [
            (
                "unix listen /x",
                "one hex=false crlf=false no_shutdown=false quit=None",
            ),
            ("unix listen /x -k", "many Print max=1000 hex=false"),
            ("unix listen /x --chat", "many Chat max=1000 hex=false"),
            ("unix listen /x -e cat", "exec \"cat\" keep=false max=1"),
            ("unix listen /x -e cat --hex", "usage --hex"),
        ];
        for (line, want) in table {
            assert_eq!(outcome(unix_serve(line), shape), want, "{line}");
        }
    }

    #[test]
    fn listen_tls_is_built_once_or_refused() {
        let c = listen("tcp listen 0 --bind 127.0.0.1 -k").unwrap();
        assert!(c.tls.is_none());
        assert_eq!(c.bind.ip, Some("127.0.0.1".parse().unwrap()));
        let e =
            listen("tcp listen 0 --tls-cert /nonexistent/c --tls-key /nonexistent/k").unwrap_err();
        assert_eq!(e.what, "--tls-cert /nonexistent/c", "{e:?}");
    }

    #[test]
    fn connect_flags_make_one_config() {
        let shape = |c: &TcpConnectConfig| -> String {
            let to = match &c.to {
                ConnectTo::Stdio(o) => format!(
                    "stdio send_only={} recv_only={} hex={} crlf={}",
                    o.send_only, o.recv_only, o.hex, o.crlf
                ),
                ConnectTo::Exec { program, .. } => format!("exec {:?}", program.text()),
            };
            let tls = match &c.tls {
                Some(t) => format!(" tls name={} insecure={}", t.name, t.insecure),
                None => String::new(),
            };
            let proxy = match &c.proxy {
                Some(p) => format!(" proxy {}:{}", p.host, p.port),
                None => String::new(),
            };
            format!("{to}{tls}{proxy}")
        };
        let table = [
            ("tcp connect h 1", "stdio send_only=false recv_only=false hex=false crlf=false"),
            ("tcp connect h 1 --send-only --hex", "stdio send_only=true recv_only=false hex=true crlf=false"),
            ("tcp connect h 1 --recv-only -C", "stdio send_only=false recv_only=true hex=false crlf=true"),
            ("tcp connect h 1 --tls", "stdio send_only=false recv_only=false hex=false crlf=false tls name=h insecure=false"),
            ("tcp connect h 1 --tls -k --sni n", "stdio send_only=false recv_only=false hex=false crlf=false tls name=n insecure=true"),
            ("tcp connect h 1 -x p:8", "stdio send_only=false recv_only=false hex=false crlf=false proxy p:8"),
            ("tcp connect h 1 -e cat", "exec \"cat\""),
            ("tcp connect h 1 --sh-exec tr", "exec \"tr\""),
            ("tcp connect h 1 --sni n", "usage --sni"),
            ("tcp connect h 1 -k", "usage --insecure"),
            ("tcp connect h 1 --alpn h2", "usage --alpn"),
            ("tcp connect h 1 --cacert f", "usage --cacert"),
            ("tcp connect h 1 -e cat --tls", "usage --tls"),
            ("tcp connect h 1 -e cat --send-only", "usage --send-only"),
            ("tcp connect h 1 -e cat --recv-only", "usage --recv-only"),
            ("tcp connect h 1 -e cat -C", "usage --crlf"),
            ("tcp connect h 1 -e cat --hex", "usage --hex"),
            ("tcp connect h 1 -e cat --quit-after 1s", "usage --quit-after"),
            ("tcp connect h 1 -e cat --no-shutdown", "usage --no-shutdown"),
        ];
        for (line, want) in table {
            assert_eq!(outcome(connect(line), shape), want, "{line}");
        }
    }

    #[test]
    fn empty_programs_are_usage_errors() {
        let empty = |exec: Option<&str>, sh: Option<&str>| {
            let args = ExecArgs {
                exec: exec.map(String::from),
                sh_exec: sh.map(String::from),
            };
            program(&args).map(|p| p.map(|p| p.text().to_string()))
        };
        assert_eq!(empty(None, None).unwrap(), None);
        assert_eq!(
            empty(Some(" cat  -n "), None).unwrap().as_deref(),
            Some("cat  -n")
        );
        assert_eq!(empty(Some("  "), None).unwrap_err().what, "-e");
        assert_eq!(empty(None, Some(" ")).unwrap_err().what, "--sh-exec");
    }
}
