//! The command line: every clap type netkit has, and nothing else.
//!
//! Man pages (`man/`) and shell completions are generated from these
//! definitions, so help text written here is the documentation. Value parsers
//! only validate syntax; they never touch the network, with one exception: a
//! host name given to `--bind` or `--source` is resolved by its parser
//! ([`parse_bind`], [`parse_source`]), so that every command taking an
//! address takes a name without a second type for it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

const LONG_ABOUT: &str = "\
A raw-socket networking toolkit: TCP, UDP, HTTP, polling and WebSocket on one \
event loop.

Data goes to stdout and everything else to stderr, so a script piping netkit \
gets exactly the bytes it asked for. With --json, stdout carries one JSON \
object per event instead (each with \"event\" and \"ts\"). Errors are one \
line, `netkit: <what>: <why>`, and the exit code says what kind of failure it \
was. Durations are written 500ms, 5s, 2m.";

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 not so (e.g. a port closed), 2 usage, 3 name resolution,
4 refused/unreachable/reset, 5 timeout, 6 protocol error, 7 TLS, 8 HTTP status
with --fail, 130 interrupted.

Examples:
  netkit tcp listen 8080                 serve one client, like `nc -l 8080`
  netkit tcp connect example.org 80      pipe stdin/stdout through a connection
  netkit tcp check localhost 22 80 8000-8100
  netkit udp send 127.0.0.1 9999 hello   one datagram
  netkit udp recv 9999                   print datagrams with their source
  netkit http -L --timing https://host/  a request, its redirects and timings
  netkit ws connect ws://localhost:8080/ a WebSocket chat on a terminal
  netkit --json tcp listen -k 0          NDJSON events; port 0 picks a free port";

/// A raw-socket networking toolkit: TCP, UDP, HTTP, polling and WebSocket on one event loop.
#[derive(Debug, Parser)]
#[command(name = "netkit", version, about, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
#[command(propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Write NDJSON events on stdout, one object per line
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    /// When to color output
    #[arg(long, global = true, help_heading = "Global options", value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Say more on stderr (addresses, timings, byte counts)
    #[arg(
        short,
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "quiet"
    )]
    pub verbose: bool,

    /// Say nothing on stderr but errors
    #[arg(short, long, global = true, help_heading = "Global options")]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Color when the stream is a terminal and NO_COLOR is unset
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// TCP: connect, listen, check ports
    #[command(
        subcommand,
        after_help = "\
Examples:
  netkit tcp listen 9000 > file              receive one client's bytes
  netkit tcp connect host 9000 < file        send them
  netkit tcp check db 5432 || exit 1         is the port open?"
    )]
    Tcp(TcpCommand),

    /// UDP: send datagrams, receive them
    #[command(
        subcommand,
        after_help = "\
Examples:
  netkit udp recv 9999                       print datagrams with their source
  netkit udp send 127.0.0.1 9999 hello       one datagram
  netkit udp send --reply 127.0.0.1 7 ping   a probe that waits for the answer"
    )]
    Udp(UdpCommand),

    /// HTTP/1.1 request with curl's flag letters: -X -H -d -i -I -o -L -f -k -m
    #[command(after_help = "\
Examples:
  netkit http https://example.org/                    body to stdout
  netkit http -i -L http://localhost:8080/old         headers too; follow redirects
  netkit http -d 'name=value' http://localhost/form   POST a form
  netkit http -o big.iso https://host/big.iso         to a file, with a progress bar
  netkit http --timing -o /dev/null https://host/     where the time goes
  netkit http -f http://localhost/health || alert     exit 8 on a 4xx/5xx status

Exit status: 2 bad URL, 3 DNS, 4 refused, 5 timeout, 6 malformed response,
7 TLS, 8 status >= 400 with --fail.

`netkit http listen PORT` is the HTTP server (see `netkit http listen --help`).")]
    Http(HttpCommand),

    /// Poll a URL: regular, conditional or long polling; TCP probes
    #[command(after_help = "\
Examples:
  netkit poll -n 5s https://host/status           a line per poll, change detection
  netkit poll --changes -n 10s http://host/feed   print the body when it changes
  netkit poll --until-status 200 -m 2m http://localhost:8080/health
  netkit poll tcp://localhost:5432 --until-ok -m 60s   wait until the port is up
  netkit poll --long http://localhost:8080/events      long polling

Exit status: 0 when an --until condition is met (or the count/time runs out
without one), 1 when --count or --max-time runs out before the condition.")]
    Poll(PollArgs),

    /// Polling vs long polling vs WebSocket on a chat server, measured
    #[command(after_help = "\
Examples:
  netkit bench --transport all --clients 100 --messages 1000 --rate 50
  netkit bench http://localhost:8091/ --transport poll --interval 500ms
  netkit --json bench --svg latency.svg

Without a URL the bench starts its own `ws listen --chat` on 127.0.0.1.
Exit status: 1 when a message was lost or duplicated.")]
    Bench(BenchArgs),

    /// WebSocket: a client (interactive chat on a terminal) and a server
    #[command(
        subcommand,
        after_help = "\
Examples:
  netkit ws listen --chat 8080               a chat room
  netkit ws connect ws://localhost:8080/     join it from a terminal
  netkit ws connect --send hi -c 1 ws://localhost:8080/   from a script"
    )]
    Ws(WsCommand),

    /// Unix domain sockets: connect, listen (PATH, or @name for a Linux abstract name)
    #[command(
        subcommand,
        after_help = "\
Examples:
  netkit unix connect /run/app.sock < request      like nc -U
  netkit unix listen /tmp/app.sock > received      one client, like nc -lU
  netkit unix listen --broker /tmp/bus.sock         relay every client to the others"
    )]
    Unix(UnixCommand),

    /// TLS: check certificates (chain, expiry, verification)
    #[command(
        subcommand,
        after_help = "\
Examples:
  netkit tls check example.org                      chain, expiry, verification
  netkit tls check --warn-days 14 a.org b.org:8443  exit 1 if one expires within 14 days
  netkit --json tls check --cacert ca.pem localhost:4433"
    )]
    Tls(TlsCommand),

    /// Print a shell completion script
    #[command(after_help = "Example:\n  netkit completions bash > /etc/bash_completion.d/netkit")]
    Completions {
        /// The shell to generate for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum UnixCommand {
    /// Connect to a Unix socket and pipe stdin to it and it to stdout
    #[command(after_help = "\
Examples:
  netkit unix connect /run/app.sock < request      like nc -U
  netkit unix connect @app                         a Linux abstract socket
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | netkit unix connect /run/nginx.sock

Exit status: 0 when both directions ended cleanly, 2 bad flag, 4 nothing
listens there or the peer reset, 5 --idle-timeout.")]
    Connect(UnixConnectArgs),
    /// Listen on a Unix socket: one client like `nc -lU`, many (-k), or relay between them
    #[command(after_help = "\
Examples:
  netkit unix listen /tmp/app.sock > received      one client, like nc -lU
  netkit unix listen @app                          a Linux abstract socket
  netkit unix listen --chat /tmp/room.sock         a chat room for `nc -U`
  netkit unix listen -k -e cat /tmp/echo.sock      a process per client

Exit status: 0 when the client's session (or -e process) ended cleanly, 1
address in use (a live listener) or the -e process exited non-zero, 4 the
client reset, 5 --idle-timeout, 130 SIGINT.")]
    Listen(UnixListenArgs),
}

#[derive(Debug, Args)]
pub struct UnixConnectArgs {
    /// Socket path, or @name for a Linux abstract socket
    pub path: String,

    #[command(flatten)]
    pub pipe: PipeArgs,
}

/// How a client pipes stdin and stdout: `tcp connect` and `unix connect`.
#[derive(Debug, Clone, Args)]
pub struct PipeArgs {
    /// End the session when no byte moves either way for this long (exit 5)
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub idle_timeout: Option<Duration>,

    /// End the session this long after stdin's EOF, even if the peer never closes (nc -q)
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub quit_after: Option<Duration>,

    /// Keep the write side open at stdin EOF (no half-close)
    #[arg(long)]
    pub no_shutdown: bool,

    /// Only send stdin; discard what the peer sends
    #[arg(long, conflicts_with = "recv_only")]
    pub send_only: bool,

    /// Only receive; do not read stdin
    #[arg(long)]
    pub recv_only: bool,

    /// Hex dump both directions on stderr (data still goes to stdout)
    #[arg(long)]
    pub hex: bool,

    /// Send each line feed from stdin as CR LF (nc -C)
    #[arg(short = 'C', long)]
    pub crlf: bool,
}

#[derive(Debug, Args)]
pub struct UnixListenArgs {
    /// Socket path (a stale file from a listener that is gone is replaced), or @name
    pub path: String,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Handshake with each host and show its certificate chain, expiry and verification
    #[command(after_help = "\
Examples:
  netkit tls check example.org                      chain, expiry, verification
  netkit tls check --warn-days 14 a.org b.org:8443  exit 1 if one expires within 14 days
  netkit tls check -x socks5h://127.0.0.1:1080 example.org   through a proxy

Exit status: 0 every host verified (and none expires within --warn-days),
1 a certificate expires within --warn-days, 3 DNS, 4 refused, 5 timeout,
7 handshake failed or certificate not trusted (unless -k).")]
    Check(TlsCheckArgs),
}

#[derive(Debug, Args)]
pub struct TlsCheckArgs {
    /// HOST or HOST:PORT ([V6]:PORT); the port defaults to 443
    #[arg(required = true, value_name = "HOST[:PORT]")]
    pub targets: Vec<String>,

    #[command(flatten)]
    pub family: Family,

    /// Give up on each address (and on the handshake) after this long
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub connect_timeout: Duration,

    /// Exit 1 when a server's certificate expires within N days
    #[arg(long, value_name = "N")]
    pub warn_days: Option<u32>,

    /// Connect through this proxy: http://, socks5:// or socks5h:// [user:pass@]host[:port]
    #[arg(short = 'x', long, value_name = "URL")]
    pub proxy: Option<String>,

    #[command(flatten)]
    pub tls_opts: TlsOpts,
}

#[derive(Debug, Subcommand)]
pub enum TcpCommand {
    /// Connect and pipe stdin to the socket and the socket to stdout
    #[command(after_help = "\
Examples:
  printf 'GET / HTTP/1.0\\r\\n\\r\\n' | netkit tcp connect example.org 80
  netkit tcp connect --hex localhost 6379 < request.bin
  tar c dir | netkit tcp connect host 9000      (and `netkit tcp listen 9000 | tar x` there)
  netkit tcp connect -e 'sh -i' host 9000       the connection talks to a process (ncat -e)")]
    Connect(ConnectArgs),

    /// Listen and serve one client (like `nc -l`), many (-k), or relay between them
    #[command(after_help = "\
Examples:
  netkit tcp listen 8080 > upload.bin           receive one client's bytes
  netkit tcp listen -k 8080                     many clients; stdin goes to all
  netkit tcp listen --broker 9000               relay every client to the others
  netkit tcp listen --chat 9000                 a chat room for `nc host 9000`
  netkit tcp listen --echo 7                    an echo server
  netkit tcp listen --tls-cert c.pem --tls-key k.pem 8443    the same over TLS
  netkit tcp listen -k -e 'tr a-z A-Z' 9000     a process per client (ncat -e)
  netkit tcp listen --sh-exec 'date; uptime' 9000

Exit status: 0 when the one client's session (or -e process) ended cleanly,
1 address in use or the -e process exited non-zero, 4 the client reset,
5 --idle-timeout, 7 a TLS failure with the one client, 130 SIGINT (how
-k/--broker/--chat/--echo end).")]
    Listen(ListenArgs),

    /// Check which ports accept a connection (like `nc -z`)
    #[command(after_help = "\
Examples:
  netkit tcp check db 5432 || exit 1
  netkit tcp check --open 127.0.0.1 1-1024
  netkit --json tcp check localhost 22 80 443
  netkit tcp check --any host ssh,80,443,8000-8100   is anything there? (nc -z)

Exit status: 0 when every port is open (--any: at least one), 1 otherwise.")]
    Check(CheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum UdpCommand {
    /// Send datagrams: each MESSAGE, or each stdin line, is one datagram
    #[command(after_help = "\
Examples:
  netkit udp send 127.0.0.1 9999 hello world       two datagrams
  printf 'a\\nb\\n' | netkit udp send 127.0.0.1 9999    one datagram per line
  netkit udp send -c 5 -n 1s 127.0.0.1 9999 ping   five, a second apart
  netkit udp send --hex --reply 127.0.0.1 53 \\
    '123401000001000000000000076578616d706c6503636f6d0000010001'   a DNS query

Exit status: 4 when the port is unreachable (ICMP), 5 when --reply gets none.")]
    Send(UdpSendArgs),

    /// Receive datagrams and print each with its source
    #[command(visible_alias = "listen")]
    #[command(after_help = "\
Examples:
  netkit udp recv 9999                          print datagrams as they come
  netkit udp recv --raw 9999 > capture.bin      payloads only
  netkit udp recv -c 1 --timeout 5s 9999        wait for one datagram
  netkit udp recv --echo 9999                   an echo server
  netkit udp recv --multicast 239.1.2.3 5000    join a group")]
    Recv(UdpRecvArgs),
}

#[derive(Debug, Args)]
pub struct UdpSendArgs {
    /// Host name or address to send to
    pub host: String,

    /// Port to send to (1-65535)
    #[arg(value_parser = parse_dest_port)]
    pub port: u16,

    /// Datagrams to send; without any, each stdin line is one
    #[arg(value_name = "MESSAGE")]
    pub messages: Vec<String>,

    #[command(flatten)]
    pub family: Family,

    /// Send this many times: the MESSAGE list N times over, or each stdin line N times
    #[arg(short, long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,

    /// Wait this long between datagrams
    #[arg(short = 'n', long, value_parser = parse_duration, value_name = "DUR")]
    pub interval: Option<Duration>,

    /// Allow sending to a broadcast address (SO_BROADCAST)
    #[arg(long)]
    pub broadcast: bool,

    /// Local address to send from: ADDR or ADDR:PORT
    #[arg(long, value_parser = parse_source, value_name = "ADDR[:PORT]")]
    pub source: Option<SocketAddr>,

    /// IP time-to-live (hop limit) of the datagrams, multicast ones included
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=255), value_name = "HOPS")]
    pub ttl: Option<u32>,

    /// Send multicast out of this interface: an IPv4 address, or (IPv6) an
    /// interface name or index (IP_MULTICAST_IF / IPV6_MULTICAST_IF)
    #[arg(long, value_name = "ADDR|IFACE")]
    pub multicast_if: Option<String>,

    /// Send stdin as it comes, in chunks up to the datagram limit, not by line
    #[arg(long, conflicts_with_all = ["messages", "hex"])]
    pub raw: bool,

    /// MESSAGEs (or stdin lines) are hex bytes: `de ad be ef`
    #[arg(long)]
    pub hex: bool,

    /// Wait for replies after sending, up to one per datagram sent, and print them (exit 5 if none)
    #[arg(long)]
    pub reply: bool,

    /// How long --reply waits after the last datagram (exit 5 if none came)
    #[arg(long, value_parser = parse_duration, default_value = "2s", value_name = "DUR")]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct UdpRecvArgs {
    /// Port to listen on; 0 picks a free one and reports it
    #[arg(value_parser = parse_listen_port)]
    pub port: u16,

    /// Address or host name to bind (default: every interface, IPv6 and IPv4)
    #[arg(long, value_name = "ADDR", value_parser = parse_bind)]
    pub bind: Option<crate::net::BindAddr>,

    #[command(flatten)]
    pub family: Family,

    /// Exit 0 after this many datagrams
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop when no datagram comes for this long (exit 5 if none came, or -c was not reached)
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub timeout: Option<Duration>,

    /// Send each datagram back to its sender
    #[arg(long)]
    pub echo: bool,

    /// Write the payloads only, as they are, to stdout
    #[arg(long)]
    pub raw: bool,

    /// Join this multicast group (IPv4 or IPv6)
    #[arg(long, value_name = "GROUP")]
    pub multicast: Option<IpAddr>,

    /// Interface for --multicast: its IPv4 address, its name or its index
    #[arg(long, value_name = "IFACE", requires = "multicast")]
    pub interface: Option<String>,
}

/// How a client reaches a server: shared by `http`, `poll` and `ws connect`.
#[derive(Debug, Clone, Args)]
pub struct DialArgs {
    #[command(flatten)]
    pub family: Family,

    /// Give up on each address after this long
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub connect_timeout: Duration,

    /// Do not verify the server's certificate (says so on stderr)
    #[arg(short = 'k', long = "insecure")]
    pub insecure: bool,

    /// Trust the CA certificates in this PEM file too
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<std::path::PathBuf>,

    /// Go through this proxy: http://, socks5:// or socks5h:// [user:pass@]host[:port] ("" for none; default: http_proxy, HTTPS_PROXY, ALL_PROXY as curl)
    #[arg(short = 'x', long, value_name = "URL")]
    pub proxy: Option<String>,

    /// Hosts to reach directly, comma-separated (`*` for all; default: NO_PROXY)
    #[arg(long, value_name = "LIST")]
    pub noproxy: Option<String>,

    /// Connect to this Unix socket instead (the URL still gives Host, path and TLS name), as curl
    #[arg(long, value_name = "PATH")]
    pub unix_socket: Option<String>,
}

/// How a request is made: shared by `http` and `poll` (curl's letters).
#[derive(Debug, Clone, Args)]
pub struct RequestArgs {
    /// Request method (default GET, or POST with --data)
    #[arg(
        short = 'X',
        long = "method",
        visible_alias = "request",
        value_name = "METHOD"
    )]
    pub method: Option<String>,

    /// Extra header `Name: value` (repeatable); replaces a default of the same name, `Name:` removes it
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    #[command(flatten)]
    pub body: BodyArgs,

    /// Basic authentication `user:password`
    #[arg(short = 'u', long = "user", value_name = "USER:PASS")]
    pub user: Option<String>,

    #[command(flatten)]
    pub dial: DialArgs,
}

/// What a request sends: the `-d` family, `-G` (curl's letters).
#[derive(Debug, Clone, Default, Args)]
pub struct BodyArgs {
    /// Request body: STRING, @FILE, or @- for stdin (CR and LF of a file
    /// are dropped, as curl); repeated: joined with `&`
    #[arg(short = 'd', long = "data", visible_alias = "data-ascii", value_name = "DATA", value_parser = parse_data_arg)]
    pub data: Vec<DataArg>,

    /// Request body sent exactly as given: STRING, @FILE, or @- for stdin
    #[arg(long = "data-binary", value_name = "DATA", value_parser = parse_data_arg)]
    pub data_binary: Vec<DataArg>,

    /// Request body STRING, with no special meaning for a leading @
    #[arg(long = "data-raw", value_name = "DATA", value_parser = parse_data_arg)]
    pub data_raw: Vec<DataArg>,

    /// Form field, URL-encoded: `content`, `=content`, `name=content`,
    /// `@file`, `name@file` (as curl)
    #[arg(long = "data-urlencode", value_name = "DATA", value_parser = parse_data_arg)]
    pub data_urlencode: Vec<DataArg>,

    /// multipart/form-data field (repeatable): `name=value`, `name=@file`
    /// (an upload), `name=<file` (a field read from a file); `;type=` and
    /// `;filename=` after it
    #[arg(short = 'F', long = "form", value_name = "NAME=VALUE")]
    pub form: Vec<String>,

    /// Send the data in the URL's query string with GET (as curl's -G)
    #[arg(short = 'G', long = "get")]
    pub get: bool,
}

/// `netkit http URL` (a request) or `netkit http listen PORT` (the server).
#[derive(Debug)]
pub enum HttpCommand {
    Request(Box<HttpArgs>),
    Listen(Box<HttpListenArgs>),
}

// By hand: the request's arguments (a required URL) apply only when no
// subcommand is given, which clap's derive cannot say.
impl clap::FromArgMatches for HttpCommand {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        if m.subcommand_name().is_some() {
            let HttpSubcommand::Listen(args) = HttpSubcommand::from_arg_matches(m)?;
            Ok(HttpCommand::Listen(args))
        } else {
            HttpArgs::from_arg_matches(m).map(|a| HttpCommand::Request(Box::new(a)))
        }
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = HttpCommand::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for HttpCommand {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        HttpSubcommand::augment_subcommands(HttpArgs::augment_args(cmd))
            .args_conflicts_with_subcommands(true)
            .subcommand_negates_reqs(true)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        HttpCommand::augment_args(cmd)
    }
}

#[derive(Debug, Subcommand)]
pub enum HttpSubcommand {
    /// HTTP/1.1 server: print requests, answer them, --echo them, or serve --dir
    #[command(after_help = "\
Examples:
  netkit http listen 8080                       print each request, answer 200
  netkit http listen -c 1 8080 > hook.txt       wait for one webhook, then exit 0
  netkit http listen --echo 8080                answer with the request as JSON
  netkit http listen --dir ./site 8080          serve files (ranges, ETag, 304)
  netkit http listen --status 503 --body 'down' 8080")]
    Listen(Box<HttpListenArgs>),
}

/// Where `ws listen` and `http listen` listen: a port (with `--bind`,
/// `-4`/`-6`) or `--unix PATH`.
#[derive(Debug, Clone, Args)]
pub struct ListenAtArgs {
    /// Port to listen on; 0 picks a free one and reports it
    #[arg(value_parser = parse_listen_port, required_unless_present = "unix")]
    pub port: Option<u16>,

    /// Address or host name to bind (default: every interface, IPv6 and IPv4)
    #[arg(long, value_name = "ADDR", value_parser = parse_bind)]
    pub bind: Option<crate::net::BindAddr>,

    /// Listen on this Unix socket instead of a port (PATH, or @name for a Linux abstract name)
    #[arg(long, value_name = "PATH", conflicts_with_all = ["port", "bind"])]
    pub unix: Option<String>,

    #[command(flatten)]
    pub family: Family,
}

#[derive(Debug, Args)]
pub struct HttpListenArgs {
    #[command(flatten)]
    pub at: ListenAtArgs,

    /// Status of the answer (default 200)
    #[arg(long, value_name = "CODE", value_parser = clap::value_parser!(u16).range(200..600))]
    pub status: Option<u16>,

    /// Header `Name: value` added to every answer (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// Body of the answer: TEXT, or @FILE
    #[arg(long, value_name = "TEXT|@FILE", conflicts_with_all = ["echo", "dir"])]
    pub body: Option<String>,

    /// Answer with the request itself as JSON (method, path, query, headers, body)
    #[arg(long, conflicts_with = "dir")]
    pub echo: bool,

    /// Serve the files under DIR (index.html or a listing for directories)
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,

    /// Exit 0 after answering N requests
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Largest request body accepted (413 beyond)
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_body: usize,

    /// Largest request head accepted (431 beyond)
    #[arg(long, default_value = "16KiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_head: usize,

    /// A request head must arrive within this long (408, then close); with --tls-cert it bounds the TLS handshake too
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub header_timeout: Duration,

    /// Close a keep-alive connection idle this long between requests
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DUR")]
    pub idle_timeout: Duration,

    /// Refuse connections beyond this many clients at once
    #[arg(long, default_value_t = 20000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    /// Certificate chain (PEM) for https://
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// Private key (PEM) for https://
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// The URL: http://, https://; `host:port/path` means http://
    pub url: String,

    #[command(flatten)]
    pub req: RequestArgs,

    /// Send HEAD and print the response headers
    #[arg(short = 'I', long = "head")]
    pub head: bool,

    /// Follow redirects (301, 302, 303, 307, 308)
    #[arg(short = 'L', long = "location")]
    pub location: bool,

    /// Most redirects to follow with -L (exit 6 beyond)
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_redirs: u32,

    /// Write the body to FILE instead of stdout (`-` is stdout)
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,

    /// Write the body to a file named as the URL's last path segment
    #[arg(short = 'O', long = "remote-name", conflicts_with = "output")]
    pub remote_name: bool,

    /// Write every response head received to FILE (`-` is stdout)
    #[arg(short = 'D', long = "dump-header", value_name = "FILE")]
    pub dump_header: Option<std::path::PathBuf>,

    /// Print the status line and headers before the body (on stdout)
    #[arg(short = 'i', long = "include")]
    pub include: bool,

    /// Exit 8 (printing no body) when the status is 400 or above
    #[arg(short = 'f', long = "fail")]
    pub fail: bool,

    /// Show where the time went: DNS, connect, TLS, first byte, total
    #[arg(long)]
    pub timing: bool,

    /// Give up on the whole request (redirects included) after this long (0: no limit)
    #[arg(short = 'm', long = "max-time", value_parser = parse_duration, value_name = "DUR")]
    pub max_time: Option<Duration>,

    /// After the body, write FORMAT to stdout with curl's variables:
    /// `%{http_code}`, `%{time_total}`, `%header{name}`, `%{json}`, `\n`...;
    /// `@FILE` reads it from a file, `@-` from stdin
    #[arg(short = 'w', long = "write-out", value_name = "FORMAT")]
    pub write_out: Option<String>,

    /// Send cookies: `name=value; n2=v2`, or read a Netscape cookie FILE
    /// (as curl; a missing file is an empty jar); turns the cookie engine on
    #[arg(short = 'b', long = "cookie", value_name = "DATA|FILE")]
    pub cookie: Vec<String>,

    /// Keep cookies across redirects and write them all to FILE at the end
    /// (Netscape format, as curl; `-` for stdout)
    #[arg(short = 'c', long = "cookie-jar", value_name = "FILE")]
    pub cookie_jar: Option<std::path::PathBuf>,

    /// Use these addresses for HOST:PORT instead of looking HOST up
    /// (repeatable; `*` as HOST matches any)
    #[arg(long, value_name = "HOST:PORT:ADDR[,ADDR]")]
    pub resolve: Vec<String>,

    /// Connect to HOST2:PORT2 for requests to HOST1:PORT1 (repeatable; an
    /// empty part matches any, or keeps the original); Host and TLS name stay
    #[arg(long, value_name = "HOST1:PORT1:HOST2:PORT2")]
    pub connect_to: Vec<String>,

    /// Ask for a compressed body (gzip, deflate, br, zstd) and decode it
    #[arg(long)]
    pub compressed: bool,

    /// Fail (exit 1) when the body, decoded, would pass SIZE (e.g. 10M)
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    pub max_filesize: Option<usize>,

    /// Retry up to N times on a transient failure: a timeout or a 408, 429,
    /// 500, 502, 503 or 504 response (as curl), after 1 s doubling, or after
    /// the server's Retry-After
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retry: u32,

    /// Wait this long between retries instead of the doubling back-off
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub retry_delay: Option<Duration>,

    /// Start no retry that would begin later than this after the first try
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub retry_max_time: Option<Duration>,

    /// With --retry, retry on every failure (with -f, any status >= 400 too)
    #[arg(long)]
    pub retry_all_errors: bool,

    /// With --retry, retry when the connection is refused too
    #[arg(long)]
    pub retry_connrefused: bool,

    /// Silent, as curl: no progress, no notices, no error line (see -S)
    #[arg(short = 's', long = "silent")]
    pub silent: bool,

    /// With -s, still print the error line (curl's -sS)
    #[arg(short = 'S', long = "show-error")]
    pub show_error: bool,
}

/// Which transports `netkit bench` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchTransport {
    Poll,
    LongPoll,
    Ws,
    All,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The chat server (`ws listen --chat`); default: one started on
    /// 127.0.0.1. Several (servers of one room, `--redis`): the clients and
    /// the publishers are spread over them in turn
    #[arg(value_name = "URL")]
    pub url: Vec<String>,

    /// Which transport to measure
    #[arg(long, value_enum, default_value = "all")]
    pub transport: BenchTransport,

    /// Receiving clients per transport
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=MAX_BENCH_CLIENTS as i64))]
    pub clients: u32,

    /// Messages published per transport
    #[arg(long, default_value_t = 100, value_name = "M", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub messages: u64,

    /// Messages published per second
    #[arg(long, default_value_t = 50.0, value_name = "R", value_parser = parse_rate)]
    pub rate: f64,

    /// The polling clients' interval
    #[arg(long, value_parser = parse_duration, default_value = "1s", value_name = "DUR")]
    pub interval: Duration,

    /// Run several transports at once, clients per transport (e.g.
    /// ws=10000,long-poll=1000: one message reaches both groups together);
    /// replaces --transport and --clients
    #[arg(long, value_name = "T=N,...", value_parser = parse_mix, conflicts_with_all = ["transport", "clients"])]
    pub mix: Option<Mix>,

    /// Write a latency chart (SVG) to FILE
    #[arg(long, value_name = "FILE")]
    pub svg: Option<std::path::PathBuf>,
}

/// `--mix ws=10000,long-poll=1000`: clients per transport, run together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix(pub Vec<(BenchTransport, u32)>);

/// Most receiving clients one bench run opens (`--clients`, `--mix`).
pub const MAX_BENCH_CLIENTS: u32 = 50_000;

fn parse_mix(s: &str) -> Result<Mix, String> {
    let mut groups: Vec<(BenchTransport, u32)> = Vec::new();
    for part in s.split(',') {
        let (name, n) = part
            .split_once('=')
            .ok_or_else(|| format!("expected TRANSPORT=CLIENTS, got {part:?}"))?;
        let t = match name.trim() {
            "ws" => BenchTransport::Ws,
            "long-poll" => BenchTransport::LongPoll,
            "poll" => BenchTransport::Poll,
            other => return Err(format!("unknown transport {other:?} (ws, long-poll, poll)")),
        };
        let n: u32 = n
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("expected a number of clients above 0, got {n:?}"))?;
        if groups.iter().any(|&(g, _)| g == t) {
            return Err(format!("{name} is given twice"));
        }
        groups.push((t, n));
    }
    let total: u64 = groups.iter().map(|&(_, n)| u64::from(n)).sum();
    if total > u64::from(MAX_BENCH_CLIENTS) {
        return Err(format!(
            "{total} clients in all; at most {MAX_BENCH_CLIENTS}"
        ));
    }
    Ok(Mix(groups))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1e6 => Ok(r),
        _ => Err("expected a rate above 0 (messages per second)".into()),
    }
}

#[derive(Debug, Args)]
pub struct PollArgs {
    /// What to poll: http:// or https:// (requests), tcp://HOST:PORT (connects)
    pub url: String,

    #[command(flatten)]
    pub req: RequestArgs,

    /// Time between the starts of two polls (backs off on errors)
    #[arg(short = 'n', long, value_parser = parse_duration, default_value = "1s", value_name = "DUR")]
    pub interval: Duration,

    /// Stop after this many polls
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop after this long
    #[arg(short = 'm', long = "max-time", value_parser = parse_duration, value_name = "DUR")]
    pub max_time: Option<Duration>,

    /// Print the body (on stdout) only when it changed: a change watcher
    #[arg(long)]
    pub changes: bool,

    /// Do not send If-None-Match / If-Modified-Since
    #[arg(long)]
    pub no_conditional: bool,

    /// Stop (exit 0) when the status is CODE
    #[arg(long, value_name = "CODE", value_parser = clap::value_parser!(u16).range(100..600))]
    pub until_status: Option<u16>,

    /// Stop (exit 0) when the body contains TEXT
    #[arg(long, value_name = "TEXT")]
    pub until_contains: Option<String>,

    /// Stop (exit 0) at the first change after the first poll
    #[arg(long)]
    pub until_change: bool,

    /// Stop (exit 0) at the first success (2xx, or a TCP connect)
    #[arg(long)]
    pub until_ok: bool,

    /// Longest interval while backing off after errors
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DUR")]
    pub backoff_max: Duration,

    /// Spread intervals randomly by up to this percentage
    #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u8).range(0..=100))]
    pub jitter: Option<u8>,

    /// Long polling: the next request leaves as soon as a response arrives;
    /// each 2xx body goes to stdout (status lines to stderr)
    #[arg(long)]
    pub long: bool,

    /// With --long: re-issue a request the server has held this long (the
    /// server is asked for `Prefer: wait=` a second less)
    #[arg(long, value_parser = parse_duration, default_value = "60s", value_name = "DUR")]
    pub hold_timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum WsCommand {
    /// Connect to a WebSocket server: chat on a terminal, a message per line on pipes
    #[command(after_help = "\
Examples:
  netkit ws connect ws://localhost:8080/chat           interactive on a terminal
  echo '{\"op\":\"ping\"}' | netkit ws connect ws://localhost:8080/api
  netkit ws connect --send hello -c 1 ws://localhost:8080/   one request, one reply
  netkit --json ws connect wss://host/feed                    NDJSON message events
  netkit ws connect --echo ws://localhost:9001/           echo what the server sends
  netkit ws connect --autoreconnect -H 'Authorization: Bearer T' wss://host/feed
  netkit ws connect --base64 ws://localhost:8080/bin      binary messages as base64 lines

Exit status: 0 clean close (the server's Close 1000 or 1001); 1 the server
closed with 1008, 1011-1014 or 3000-4999; 4 the connection dropped without a
Close (1006); 5 idle timeout or Close unanswered; 6 handshake refused, protocol
violation by the server, or its Close with another code (1002, 1003, 1007, ...);
7 TLS.")]
    Connect(WsConnectArgs),

    /// Serve WebSocket clients: print their messages, --echo, --broker or --chat
    #[command(after_help = "\
Examples:
  netkit ws listen 8080                    messages to stdout, stdin lines to every client
  netkit ws listen --echo 9001             an echo server
  netkit ws listen --chat 8080             a chat room: ws://host:8080/?name=ann
  netkit ws listen --tls-cert c.pem --tls-key k.pem 8443   wss://")]
    Listen(WsListenArgs),
}

/// Keepalive and limits of a WebSocket connection, either side.
#[derive(Debug, Clone, Args)]
pub struct WsLimits {
    /// Send a ping this often (the server pings every client)
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub ping_interval: Option<Duration>,

    /// Close when no message moves either way for this long (the client then exits 5)
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub idle_timeout: Option<Duration>,

    /// Largest incoming message (close 1009 beyond)
    #[arg(long, default_value = "64MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_message: usize,

    /// No permessage-deflate compression (the client does not offer it, the server refuses it)
    #[arg(long)]
    pub no_compress: bool,
}

#[derive(Debug, Args)]
pub struct WsConnectArgs {
    /// ws:// or wss:// URL
    pub url: String,

    /// Extra handshake header `Name: value` (repeatable)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// Origin header to send
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,

    /// Ask for this subprotocol (repeatable, in order of preference)
    #[arg(long = "protocol", value_name = "NAME")]
    pub protocols: Vec<String>,

    /// Send stdin as binary messages (chunks) instead of a text message per line; print binary messages raw
    #[arg(long)]
    pub binary: bool,

    /// Binary messages as base64 lines: incoming ones printed so, stdin lines decoded and sent as binary (websocat --base64)
    #[arg(long, conflicts_with = "binary")]
    pub base64: bool,

    /// Show pings and pongs received (human lines on stderr, `ping`/`pong` events) (wscat -P)
    #[arg(short = 'P', long)]
    pub show_ping_pong: bool,

    /// Send this text message (repeatable), then wait for as many replies (or -c)
    #[arg(long = "send", value_name = "MSG")]
    pub send: Vec<String>,

    /// Close after this many incoming messages (stdin is still sent; its end does not close)
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Send every incoming message back (stdin is not read)
    #[arg(long)]
    pub echo: bool,

    /// Only receive: stdin is not read at all (as websocat -u)
    #[arg(long)]
    pub recv_only: bool,

    /// No Close at stdin EOF: wait for the server's Close or the connection's end (as websocat -n)
    #[arg(long)]
    pub no_close: bool,

    /// When the connection drops or the server closes, connect again (0.5s back-off doubling to 10s); stdin's end ends it (websocat's autoreconnect:)
    #[arg(long)]
    pub autoreconnect: bool,

    /// After stdin ends, send Close once the server has been quiet this long (0: at once)
    #[arg(long, value_parser = parse_duration, default_value = "300ms", value_name = "DUR")]
    pub linger: Duration,

    #[command(flatten)]
    pub limits: WsLimits,

    #[command(flatten)]
    pub dial: DialArgs,
}

#[derive(Debug, Args)]
pub struct WsListenArgs {
    #[command(flatten)]
    pub at: ListenAtArgs,

    /// Send each message back to its sender
    #[arg(long, conflicts_with_all = ["broker", "chat"])]
    pub echo: bool,

    /// Relay each message to every other client
    #[arg(long, conflicts_with = "chat")]
    pub broker: bool,

    /// A chat room: messages relayed as `<name> text`, join and leave
    /// notices; on the same port the chat page (`GET /`) and the polling
    /// and long-polling API (`GET|POST /messages`)
    #[arg(long)]
    pub chat: bool,

    /// With --chat: how many messages the log keeps for polling clients
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub history: u64,

    /// With --chat: keep the room in a Redis Stream shared by every server
    /// given the same URL and --room (redis://[user:pass@]host[:port][/db],
    /// rediss:// over TLS)
    #[arg(long, value_name = "URL", requires = "chat", value_parser = parse_redis_url)]
    pub redis: Option<String>,

    /// With a rediss:// --redis: trust the certificates in this PEM file too
    #[arg(long, value_name = "FILE", requires = "redis")]
    pub redis_cacert: Option<std::path::PathBuf>,

    /// With --redis: the room's name; its stream is the key `netkit:room:NAME`
    #[arg(long, value_name = "NAME", default_value = "netkit")]
    pub room: String,

    /// Only accept handshakes for this path (404 otherwise)
    #[arg(long, value_name = "PATH")]
    pub path: Option<String>,

    /// Subprotocols to accept (repeatable; the client's first match is chosen)
    #[arg(long = "protocol", value_name = "NAME")]
    pub protocols: Vec<String>,

    /// Refuse connections beyond this many clients at once
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    /// Drop a client whose handshake (TLS and the Upgrade request) is not done in this long (HTTP 408)
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub handshake_timeout: Duration,

    #[command(flatten)]
    pub limits: WsLimits,

    /// Most bytes queued for one client; a client that falls behind is closed with 1008
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_queue: usize,

    /// Certificate chain (PEM) for wss://
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// Private key (PEM) for wss://
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

/// Address family restriction shared by client commands.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Family {
    /// Use IPv4 addresses only
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,

    /// Use IPv6 addresses only
    #[arg(short = '6')]
    pub ipv6: bool,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Host name or address to connect to
    pub host: String,

    /// Port to connect to (1-65535)
    #[arg(value_parser = parse_dest_port)]
    pub port: u16,

    #[command(flatten)]
    pub family: Family,

    /// Give up on each address after this long
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR")]
    pub connect_timeout: Duration,

    /// Local address to connect from: ADDR or ADDR:PORT
    #[arg(long, value_parser = parse_source, value_name = "ADDR[:PORT]")]
    pub source: Option<SocketAddr>,

    #[command(flatten)]
    pub pipe: PipeArgs,

    /// Speak TLS over the connection (the certificate is verified)
    #[arg(long)]
    pub tls: bool,

    /// Connect through this proxy: http://, socks5:// or socks5h:// [user:pass@]host[:port]
    #[arg(short = 'x', long, value_name = "URL")]
    pub proxy: Option<String>,

    #[command(flatten)]
    pub tls_opts: TlsOpts,

    #[command(flatten)]
    pub exec: ExecArgs,
}

/// How a TLS client verifies and names the server: `tcp connect --tls`
/// and `tls check`.
#[derive(Debug, Clone, Args)]
pub struct TlsOpts {
    /// Trust the CA certificates in this PEM file too (a server certificate found in it is trusted as is)
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<std::path::PathBuf>,

    /// Do not verify the server's certificate (says so on stderr)
    #[arg(short = 'k', long = "insecure")]
    pub insecure: bool,

    /// Server name to send (SNI) and to verify (default: HOST)
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,

    /// Offer this ALPN protocol (repeatable, in order of preference)
    #[arg(long, value_name = "PROTO")]
    pub alpn: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Port to listen on; 0 picks a free one and reports it
    #[arg(value_parser = parse_listen_port)]
    pub port: u16,

    /// Address or host name to bind (default: every interface, IPv6 and IPv4)
    #[arg(long, value_name = "ADDR", value_parser = parse_bind)]
    pub bind: Option<crate::net::BindAddr>,

    #[command(flatten)]
    pub family: Family,

    /// Speak TLS to every client with this certificate chain (PEM), in every mode but -e
    #[arg(long, value_name = "FILE", requires = "tls_key", conflicts_with_all = ["exec", "sh_exec"])]
    pub tls_cert: Option<std::path::PathBuf>,

    /// The private key (PEM) for --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,

    /// With --tls-cert: accept this ALPN protocol (repeatable, in order of preference)
    #[arg(long, value_name = "PROTO", requires = "tls_cert")]
    pub alpn: Vec<String>,

    /// With --tls-cert: drop a client whose TLS handshake is not done in this long (one client: exit 5)
    #[arg(long, value_parser = parse_duration, default_value = "10s", value_name = "DUR", requires = "tls_cert")]
    pub handshake_timeout: Duration,

    #[command(flatten)]
    pub serve: ServeArgs,
}

/// What a listener does with its clients: `tcp listen` and `unix listen`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Keep listening: serve many clients at once; stdin goes to all of them
    #[arg(short, long)]
    pub keep_open: bool,

    /// Relay each client's data to every other client (implies -k)
    #[arg(long, conflicts_with_all = ["chat", "echo", "exec", "sh_exec"])]
    pub broker: bool,

    /// A chat room: relay lines as `<userN> text` with join and leave notices (implies -k)
    #[arg(long, conflicts_with_all = ["echo", "exec", "sh_exec"])]
    pub chat: bool,

    /// Send each client's data back to it (implies -k)
    #[arg(long, conflicts_with_all = ["exec", "sh_exec"])]
    pub echo: bool,

    /// Refuse connections beyond this many clients at once
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_clients: u32,

    /// Close a client when no byte moves either way for this long
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub idle_timeout: Option<Duration>,

    /// Most bytes queued for one client; a client that stops reading is dropped past it
    #[arg(long, default_value = "1MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_queue: usize,

    /// Keep the write side open at stdin EOF (single-client mode)
    #[arg(long)]
    pub no_shutdown: bool,

    /// End the session this long after stdin's EOF, even if the client never closes (single-client mode; nc -q)
    #[arg(long, value_parser = parse_duration, value_name = "DUR")]
    pub quit_after: Option<Duration>,

    /// Hex dump both directions on stderr
    #[arg(long)]
    pub hex: bool,

    /// Send each line feed from stdin as CR LF (nc -C; one client only)
    #[arg(short = 'C', long, conflicts_with_all = ["keep_open", "broker", "chat", "echo", "exec", "sh_exec"])]
    pub crlf: bool,

    #[command(flatten)]
    pub exec: ExecArgs,
}

/// `-e`/`--sh-exec` (ncat's): each connection talks to a new process.
#[derive(Debug, Clone, Default, Args)]
pub struct ExecArgs {
    /// Connect the connection to a new process's stdin and stdout (with -k, one per client): PROG and its arguments in one string, split at whitespace, no shell (ncat -e)
    #[arg(
        short = 'e',
        long = "exec",
        value_name = "'PROG ARGS'",
        conflicts_with = "sh_exec"
    )]
    pub exec: Option<String>,

    /// As -e, but the command runs under /bin/sh -c (quotes, pipes, redirections)
    #[arg(long, value_name = "CMD")]
    pub sh_exec: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Host name or address to check
    pub host: String,

    /// Ports, ranges, service names and comma lists of them: 22 80 8000-8100 22,80-90 ssh,https
    #[arg(required = true, value_parser = parse_port_list, value_name = "PORT|A-B|NAME,...")]
    pub ports: Vec<PortList>,

    #[command(flatten)]
    pub family: Family,

    /// Give up on a port after this long (it is reported as `timeout`)
    #[arg(long, value_parser = parse_duration, default_value = "2s", value_name = "DUR")]
    pub timeout: Duration,

    /// Connections in flight at once
    #[arg(long, default_value_t = 500, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// List only the open ports
    #[arg(long)]
    pub open: bool,

    /// Exit 0 when at least one port is open, as `nc -z` does (default: only when all are)
    #[arg(long)]
    pub any: bool,
}

/// One item of a port list: a port or range, or a service name (`ssh`)
/// looked up when the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortItem {
    Range(PortRange),
    Service(String),
}

/// One PORT argument of `tcp check`: `22`, `8000-8100`, `ssh` or a comma
/// list of them (`22,80-90,https`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortList(pub Vec<PortItem>);

/// `22,80-90,https`: an item starting with a digit is a port or range, any
/// other is a service name.
pub fn parse_port_list(s: &str) -> Result<PortList, String> {
    s.split(',')
        .map(|item| {
            let item = item.trim();
            match item.bytes().next() {
                None => Err(format!("empty item in port list {s:?}")),
                Some(b) if b.is_ascii_digit() => parse_port_range(item).map(PortItem::Range),
                Some(_) => Ok(PortItem::Service(item.to_string())),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map(PortList)
}

/// An inclusive port range; a single port is `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

impl PortRange {
    pub fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn iter(&self) -> impl Iterator<Item = u16> {
        self.first..=self.last
    }
}

/// A destination port: 1-65535.
pub fn parse_dest_port(s: &str) -> Result<u16, String> {
    match parse_listen_port(s) {
        Ok(0) => Err("port 0 is not a destination; use 1-65535".into()),
        Ok(p) => Ok(p),
        Err(e) => Err(e.replace("0-65535", "1-65535")),
    }
}

/// A port to bind: 0-65535 (0 lets the system choose).
pub fn parse_listen_port(s: &str) -> Result<u16, String> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("not a port number: {s:?} (expected 0-65535)"));
    }
    s.parse::<u16>()
        .map_err(|_| format!("port out of range: {s} (expected 0-65535)"))
}

/// A `--redis` URL, checked (kept as given).
pub fn parse_redis_url(s: &str) -> Result<String, String> {
    crate::chat::redis::RedisUrl::parse(s).map(|_| s.to_string())
}

/// `80` or `8000-8100`.
pub fn parse_port_range(s: &str) -> Result<PortRange, String> {
    let (first, last) = match s.split_once('-') {
        Some((a, b)) => (parse_dest_port(a)?, parse_dest_port(b)?),
        None => {
            let p = parse_dest_port(s)?;
            (p, p)
        }
    };
    if first > last {
        return Err(format!("empty range {s}: {first} is above {last}"));
    }
    Ok(PortRange { first, last })
}

/// The longest duration any flag takes: 100 years (of 365.25 days). Far
/// beyond any real timeout, and small enough that adding it to an `Instant`
/// or multiplying it for backoff and jitter stays in range.
pub const MAX_DURATION: Duration = Duration::from_secs(3_155_760_000);

/// A humantime duration: `500ms`, `5s`, `2m`; a bare number means seconds.
/// Negative, non-finite and over [`MAX_DURATION`] are refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let too_large = || format!("duration too large: {s:?} (at most 100 years)");
    let d = if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() || secs < 0.0 {
            return Err(format!(
                "not a duration: {s:?} (a finite number of seconds, 0 or more)"
            ));
        }
        Duration::try_from_secs_f64(secs).map_err(|_| too_large())?
    } else {
        humantime::parse_duration(s).map_err(|e| {
            if matches!(e, humantime::DurationError::NumberOverflow) {
                too_large()
            } else {
                format!("not a duration: {s:?} ({e}); try 500ms, 5s, 2m")
            }
        })?
    };
    if d > MAX_DURATION {
        return Err(too_large());
    }
    Ok(d)
}

/// A `-d`-family value and its place among them on the command line (curl
/// joins the data of every `-d`, `--data-*` flag with `&` in that order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataArg {
    pub seq: usize,
    pub text: String,
}

/// clap parses values in command-line order, so a counter records it.
fn parse_data_arg(s: &str) -> Result<DataArg, String> {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    Ok(DataArg {
        seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        text: s.to_string(),
    })
}

/// `1MiB`, `64KiB`, `512k`, `1000`.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("not a size: {s:?}; try 64KiB or 1MiB")),
    };
    match n.checked_mul(mult) {
        Some(v) if v > 0 => Ok(v),
        _ => Err(format!("size out of range: {s:?}")),
    }
}

/// `ADDR`, `ADDR:PORT` or `[V6]:PORT`, where ADDR may be a host name
/// (resolved at once); the port defaults to 0 (any).
pub fn parse_source(s: &str) -> Result<SocketAddr, crate::error::Error> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = s.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 0));
    }
    // `name:port`, or a bare name.
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p.parse::<u16>().ok()),
        _ => (s, Some(0)),
    };
    let Some(port) = port else {
        return Err(crate::error::Error::usage(
            "--source",
            format!("not an address: {s:?} (expected ADDR or ADDR:PORT)"),
        ));
    };
    if !is_host_name(host) {
        return Err(crate::error::Error::usage(
            "--source",
            format!("not an address or host name: {s:?}"),
        ));
    }
    crate::net::bind_name(host).map(|ip| SocketAddr::new(ip, port))
}

/// Whether `s` is spelled like a host name (letters, digits, `-`, `_`, `.`;
/// at most 253 characters): only those are looked up.
fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A `--bind` address: an IP address, or a host name resolved at once (its
/// first IPv4 address, else its first IPv6 one).
pub fn parse_bind(s: &str) -> Result<crate::net::BindAddr, crate::error::Error> {
    match crate::net::bare_host(s).parse::<IpAddr>() {
        Ok(ip) => Ok(crate::net::BindAddr::Ip(ip)),
        Err(_) if !is_host_name(s) => Err(crate::error::Error::usage(
            "--bind",
            format!("not an address or host name: {s:?}"),
        )),
        Err(_) => crate::net::BindAddr::name(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ports() {
        assert_eq!(parse_dest_port("80"), Ok(80));
        assert!(parse_dest_port("0").is_err());
        assert!(parse_dest_port("65536").is_err());
        assert!(parse_dest_port("abc").is_err());
        assert!(parse_dest_port("-1").is_err());
        assert_eq!(parse_listen_port("0"), Ok(0));
        assert_eq!(
            parse_port_range("8000-8002"),
            Ok(PortRange {
                first: 8000,
                last: 8002
            })
        );
        assert!(parse_port_range("9-8").is_err());
        assert_eq!(parse_port_range("22").map(|r| r.len()), Ok(1));
        let range = |first, last| PortItem::Range(PortRange { first, last });
        assert_eq!(
            parse_port_list("22,80-90,ssh"),
            Ok(PortList(vec![
                range(22, 22),
                range(80, 90),
                PortItem::Service("ssh".into())
            ]))
        );
        assert_eq!(
            parse_port_list("http-alt"),
            Ok(PortList(vec![PortItem::Service("http-alt".into())]))
        );
        for bad in ["", "22,", ",22", "22,,80", "90-80,22", "22,0", "1-70000"] {
            assert!(parse_port_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
        assert_eq!(parse_duration("100years"), Ok(MAX_DURATION));
        for bad in [
            "1e20",
            "inf",
            "NaN",
            "-1",
            "101years",
            "18446744073709551616s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert!(parse_size("0").is_err());
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn sources() {
        let source = |s: &str| parse_source(s).map_err(|e| e.to_string());
        assert_eq!(source("127.0.0.1"), Ok("127.0.0.1:0".parse().unwrap()));
        assert_eq!(
            source("127.0.0.1:4000"),
            Ok("127.0.0.1:4000".parse().unwrap())
        );
        assert_eq!(source("[::1]:5"), Ok("[::1]:5".parse().unwrap()));
        assert_eq!(source("::1"), Ok("[::1]:0".parse().unwrap()));
        assert!(source("no-such-host.invalid").is_err());
        assert!(source("localhost:x").is_err());
        assert_eq!(source("localhost:7").map(|a| a.port()), Ok(7));
        let any = Family::default();
        let v6 = Family {
            ipv4: false,
            ipv6: true,
        };
        assert_eq!(parse_bind("127.0.0.1").unwrap().ip(v6), Ipv4Addr::LOCALHOST);
        assert_eq!(parse_bind("[::1]").unwrap().ip(any), Ipv6Addr::LOCALHOST);
        assert_eq!(
            parse_bind("localhost").unwrap().ip(any),
            Ipv4Addr::LOCALHOST
        );
        for bad in ["", "not an ip", "a/b", "x:y:z"] {
            let e = parse_bind(bad).unwrap_err();
            assert_eq!(e.kind, crate::error::Exit::Usage, "{bad}");
        }
        assert_eq!(
            parse_source("a b").unwrap_err().kind,
            crate::error::Exit::Usage
        );
    }
}
