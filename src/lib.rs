//! netkit: a raw-socket networking toolkit on one `mio` event loop.
//!
//! `main.rs` parses the command line and calls [`run`]; everything else lives
//! here so that tests (man pages, architecture rules) can reach the same code.
//!
//! * [`cli`]: every clap type.
//! * [`proto`]: sans-IO protocol code.
//! * [`reactor`]: the event loop, connections, stdin, timers, signals.
//! * [`tcp`], [`udp`], [`http`], [`poll`], [`ws`], [`tls`], [`unix`]: the command
//!   drivers.
//! * [`event`] and [`output`]: what drivers report and how it is rendered.
//! * [`error`]: one-line errors and the documented exit codes.

pub mod bench;
pub mod chat;
pub mod cli;
pub mod config;
pub mod error;
pub mod event;
pub mod exec;
pub mod http;
pub mod httpd;
pub mod net;
pub mod output;
pub mod poll;
pub mod proto;
pub mod reactor;
pub mod server;
pub mod tcp;
pub mod tls;
pub mod udp;
pub mod unix;
pub mod ws;

use clap::CommandFactory;

use cli::{Cli, Command};
use error::{Error, Exit};
use output::Output;

/// Runs a parsed command line. The error is a chain (`anyhow`): `main`
/// reports it as one line and takes the exit code from its typed causes
/// ([`error::exit_of`]); families that still return a coded [`Error`] join
/// the chain as its only cause.
pub fn run(cli: Cli, out: &mut Output) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Tcp(cmd) => Ok(tcp::run(cmd, out)?),
        Command::Udp(cmd) => Ok(udp::run(cmd, out)?),
        Command::Http(cli::HttpCommand::Request(args)) => {
            // -s hides the config step's own errors too.
            match config::http::Silence::of(&args) {
                config::http::Silence::Off => {}
                config::http::Silence::Silent => out.silence(false),
                config::http::Silence::SilentShowErrors => out.silence(true),
            }
            http::run(config::http::HttpConfig::from_args(*args)?, out)
        }
        Command::Http(cli::HttpCommand::Listen(args)) => Ok(httpd::run(*args, out)?),
        Command::Poll(args) => poll::run(config::poll::PollConfig::from_args(args)?, out),
        Command::Bench(args) => Ok(bench::run(
            config::bench::BenchConfig::from_args(args)?,
            out,
        )?),
        Command::Ws(cmd) => ws::run(cmd, out),
        Command::Tls(cmd) => Ok(tls::run(cmd, out)?),
        Command::Unix(cmd) => Ok(unix::run(cmd, out)?),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "netkit", &mut script);
            out.emit(&event::Event::Verbatim {
                kind: "completions",
                bytes: &script,
            })?;
            Ok(Exit::Ok)
        }
    }
}

/// Turns a clap parse failure into netkit's one-line usage error (exit 2),
/// or prints help/version (exit 0).
pub fn usage_error(err: clap::Error) -> Exit {
    use clap::error::ErrorKind as K;
    match err.kind() {
        K::DisplayHelp | K::DisplayVersion => {
            let _ = err.print();
            Exit::Ok
        }
        K::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            Exit::Usage
        }
        _ => {
            // A value parser that resolves a name (`--bind HOST`) fails with
            // netkit's own error and its exit code (3 when the name is unknown).
            let own = std::error::Error::source(&err).and_then(|e| e.downcast_ref::<Error>());
            if let Some(e) = own.filter(|e| e.kind != Exit::Usage) {
                let color =
                    output::want_color(cli::ColorChoice::Auto, output::stderr_is_terminal());
                output::report_error(e, color);
                return e.kind;
            }
            let text = err.render().to_string();
            let mut parts = Vec::new();
            for line in text.lines() {
                if line.trim().is_empty() {
                    break;
                }
                parts.push(line.trim());
            }
            let message = parts.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            let color = output::want_color(cli::ColorChoice::Auto, output::stderr_is_terminal());
            output::report_error(
                &Error::usage("usage", format!("{message} (see --help)")),
                color,
            );
            Exit::Usage
        }
    }
}
