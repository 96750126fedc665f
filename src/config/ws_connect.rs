//! `netkit ws connect URL`: the flags lifted into a [`WsConnectConfig`].

use std::time::Duration;

use super::request::get_request;
use super::DialConfig;
use crate::cli::WsConnectArgs;
use crate::error::{Error, Result};
use crate::http::client::ClientRequest;
use crate::reactor::stdin::Kind;

/// What stdin is for, decided once from the flags and the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsInput {
    /// A text message per line (stdin is a pipe or a file).
    Lines,
    /// `--binary`: stdin chunks as binary messages.
    Binary,
    /// stdin is a terminal (and the output is not `--json`): the
    /// interactive console with its `/ping`, `/close` commands.
    Chat,
    /// `--send`, `--echo` or `--recv-only`: stdin is not read.
    Ignored,
}

/// Everything `netkit ws connect` does, decided.
#[derive(Debug, Clone)]
pub struct WsConnectConfig {
    /// The URL as given (ws:// or wss://), for messages and events.
    pub url: String,
    /// The handshake's GET (http:// or https://) with the `-H` fields; the
    /// driver adds the key and the WebSocket fields to each attempt.
    pub request: ClientRequest,
    pub dial: DialConfig,
    pub origin: Option<String>,
    pub protocols: Vec<String>,
    /// permessage-deflate offered (off with `--no-compress`).
    pub compress: bool,
    pub input: WsInput,
    /// `--send` messages, sent once the connection opens.
    pub send: Vec<String>,
    /// `--echo`: incoming messages sent back.
    pub echo: bool,
    /// Close after this many incoming messages (`-c`, or one per `--send`).
    pub want: Option<u64>,
    pub binary: bool,
    pub base64: bool,
    pub show_ping_pong: bool,
    pub no_close: bool,
    pub autoreconnect: bool,
    pub linger: Duration,
    pub ping_interval: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub max_message: usize,
}

impl WsConnectConfig {
    /// `json`: the output is `--json` (no interactive console then).
    pub fn from_args(args: WsConnectArgs, json: bool) -> Result<WsConnectConfig> {
        let stdin_is_terminal = Kind::detect() == Kind::Tty;
        Self::build(args, json, stdin_is_terminal)
    }

    fn build(args: WsConnectArgs, json: bool, stdin_is_terminal: bool) -> Result<WsConnectConfig> {
        let request = get_request(&http_url(&args.url)?, &args.headers)?;
        let scripted = args.echo || !args.send.is_empty() || args.recv_only;
        let input = if scripted {
            WsInput::Ignored
        } else if stdin_is_terminal && !json {
            WsInput::Chat
        } else if args.binary {
            WsInput::Binary
        } else {
            WsInput::Lines
        };
        let want = args
            .count
            .or_else(|| (!args.send.is_empty() && !args.echo).then_some(args.send.len() as u64));
        Ok(WsConnectConfig {
            request,
            dial: DialConfig::from(&args.dial),
            origin: args.origin,
            protocols: args.protocols,
            compress: !args.limits.no_compress,
            input,
            send: args.send,
            echo: args.echo,
            want,
            binary: args.binary,
            base64: args.base64,
            show_ping_pong: args.show_ping_pong,
            no_close: args.no_close,
            autoreconnect: args.autoreconnect,
            linger: args.linger,
            ping_interval: args.limits.ping_interval,
            idle_timeout: args.limits.idle_timeout,
            max_message: args.limits.max_message,
            url: args.url,
        })
    }
}

/// `ws://` → `http://`, `wss://` → `https://`.
fn http_url(url: &str) -> Result<String> {
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("ws://").map(|_| &url[5..]) {
        Ok(format!("http://{rest}"))
    } else if let Some(rest) = lower.strip_prefix("wss://").map(|_| &url[6..]) {
        Ok(format!("https://{rest}"))
    } else if !url.contains("://") {
        Ok(format!("http://{url}"))
    } else {
        Err(Error::usage(
            url,
            "unsupported scheme (ws:// and wss:// are)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, WsCommand};
    use crate::error::Exit;

    fn config(line: &str, json: bool, tty: bool) -> Result<WsConnectConfig> {
        match crate::config::testing::command(line) {
            Command::Ws(WsCommand::Connect(args)) => WsConnectConfig::build(args, json, tty),
            _ => panic!("not ws connect"),
        }
    }

    #[test]
    fn flag_combinations_to_config() {
        // (command line, --json, stdin is a terminal, input, want)
        let table: &[(&str, bool, bool, WsInput, Option<u64>)] = &[
            ("ws connect ws://h/", false, false, WsInput::Lines, None),
            ("ws connect ws://h/", false, true, WsInput::Chat, None),
            ("ws connect ws://h/", true, true, WsInput::Lines, None),
            (
                "ws connect --binary ws://h/",
                false,
                false,
                WsInput::Binary,
                None,
            ),
            (
                "ws connect --binary ws://h/",
                false,
                true,
                WsInput::Chat,
                None,
            ),
            (
                "ws connect --send a --send b ws://h/",
                false,
                true,
                WsInput::Ignored,
                Some(2),
            ),
            (
                "ws connect --send a --echo ws://h/",
                false,
                false,
                WsInput::Ignored,
                None,
            ),
            (
                "ws connect --send a -c 5 ws://h/",
                false,
                false,
                WsInput::Ignored,
                Some(5),
            ),
            (
                "ws connect --recv-only ws://h/",
                false,
                true,
                WsInput::Ignored,
                None,
            ),
            (
                "ws connect --echo ws://h/",
                false,
                false,
                WsInput::Ignored,
                None,
            ),
            (
                "ws connect -c 3 ws://h/",
                false,
                false,
                WsInput::Lines,
                Some(3),
            ),
        ];
        for &(line, json, tty, input, want) in table {
            let c = config(line, json, tty).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_eq!(
                (c.input, c.want),
                (input, want),
                "{line} json={json} tty={tty}"
            );
        }
        let c = config("ws connect wss://h/p", false, false).unwrap();
        assert_eq!(c.request.url.as_str(), "https://h/p");
        assert_eq!(c.url, "wss://h/p");
        assert!(c.compress);
        assert!(
            !config("ws connect --no-compress h", false, false)
                .unwrap()
                .compress
        );
    }

    #[test]
    fn usage_errors_are_raised_by_the_config_step() {
        for line in [
            "ws connect http://h/",
            "ws connect -H nocolon ws://h/",
            "ws connect ws://",
        ] {
            let e = config(line, false, false)
                .err()
                .unwrap_or_else(|| panic!("{line}: accepted"));
            assert_eq!(e.kind, Exit::Usage, "{line}: {e:?}");
        }
    }
}
