//! Proxy handshakes, sans-IO: HTTP `CONNECT` and SOCKS5 (RFC 1928, with the
//! username/password method of RFC 1929).
//!
//! A [`Handshake`] is driven with bytes: [`Handshake::output`] says what to
//! send, [`Handshake::feed`] takes what the proxy answered (any amount,
//! partial or more than one message) and reports when the tunnel is up,
//! with how much of the input was the proxy's and how much already belongs
//! to the tunnel. A refusal or a malformed answer is a [`ProxyError`].

use core::net::{IpAddr, SocketAddr};
use std::fmt;

/// The most a proxy's answer head may take (HTTP CONNECT).
const MAX_HEAD: usize = 16 * 1024;

/// Where the tunnel should lead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A host name the proxy resolves (socks5h, HTTP CONNECT).
    Name(String, u16),
    /// An address resolved here (socks5).
    Addr(SocketAddr),
}

impl Target {
    /// `host:port`, brackets around IPv6.
    pub fn authority(&self) -> String {
        match self {
            Target::Name(h, p) if h.contains(':') => format!("[{h}]:{p}"),
            Target::Name(h, p) => format!("{h}:{p}"),
            Target::Addr(a) => a.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyError {
    /// The proxy answered, and said no.
    Refused(String),
    /// The answer is not the protocol.
    Malformed(String),
    /// A request that cannot be expressed (a name over 255 bytes...).
    Invalid(String),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Refused(s) | ProxyError::Malformed(s) | ProxyError::Invalid(s) => {
                f.write_str(s)
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More of the answer is needed (everything fed was consumed).
    NeedMore,
    /// The tunnel is up; the first `n` bytes of the last input were the
    /// proxy's, the rest is tunnel data.
    Done(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// HTTP: reading the answer head.
    HttpHead,
    /// SOCKS5: waiting for the method choice.
    Method,
    /// SOCKS5: waiting for the username/password verdict.
    Auth,
    /// SOCKS5: waiting for the CONNECT reply.
    Reply,
    Done,
}

#[derive(Debug)]
pub struct Handshake {
    state: State,
    out: Vec<u8>,
    /// The answer so far (only the current message).
    input: Vec<u8>,
    target: Target,
    auth: Option<(String, String)>,
}

impl Handshake {
    /// `CONNECT host:port` with optional Basic proxy credentials.
    pub fn http_connect(target: Target, auth: Option<(String, String)>) -> Handshake {
        let authority = target.authority();
        let mut out = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some((user, pass)) = &auth {
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            out.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
        }
        out.push_str("\r\n");
        Handshake {
            state: State::HttpHead,
            out: out.into_bytes(),
            input: Vec::new(),
            target,
            auth,
        }
    }

    /// SOCKS5: offers "no authentication", and username/password when given.
    pub fn socks5(target: Target, auth: Option<(String, String)>) -> Result<Handshake, ProxyError> {
        if let Target::Name(host, _) = &target {
            if host.is_empty() || host.len() > 255 {
                return Err(ProxyError::Invalid(
                    "SOCKS5 host names are 1 to 255 bytes".into(),
                ));
            }
        }
        if let Some((user, pass)) = &auth {
            if user.is_empty() || user.len() > 255 || pass.len() > 255 {
                return Err(ProxyError::Invalid(
                    "SOCKS5 user names are 1 to 255 bytes, passwords at most 255".into(),
                ));
            }
        }
        let out = if auth.is_some() {
            vec![5, 2, 0x00, 0x02]
        } else {
            vec![5, 1, 0x00]
        };
        Ok(Handshake {
            state: State::Method,
            out,
            input: Vec::new(),
            target,
            auth,
        })
    }

    /// Bytes to send now (taken).
    pub fn output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the proxy's answer.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, ProxyError> {
        let mut used = 0;
        while used < data.len() {
            if self.state == State::Done {
                return Ok(Progress::Done(used));
            }
            // Take one byte at a time into the message; each state knows
            // when its message is whole.
            self.input.push(data[used]);
            used += 1;
            self.step()?;
        }
        if self.state == State::Done {
            Ok(Progress::Done(used))
        } else {
            Ok(Progress::NeedMore)
        }
    }

    fn step(&mut self) -> Result<(), ProxyError> {
        match self.state {
            State::HttpHead => {
                if self.input.len() > MAX_HEAD {
                    return Err(ProxyError::Malformed(format!(
                        "an answer head over {} KiB",
                        MAX_HEAD / 1024
                    )));
                }
                if self.input.ends_with(b"\r\n\r\n") || self.input.ends_with(b"\n\n") {
                    self.http_answer()?;
                    self.input.clear();
                    self.state = State::Done;
                }
            }
            State::Method if self.input.len() == 2 => {
                if self.input[0] != 5 {
                    return Err(ProxyError::Malformed(format!(
                        "not a SOCKS5 answer (version {})",
                        self.input[0]
                    )));
                }
                let method = self.input[1];
                self.input.clear();
                match (method, &self.auth) {
                    (0x00, _) => self.request(),
                    (0x02, Some((user, pass))) => {
                        self.out.extend_from_slice(&[1, user.len() as u8]);
                        self.out.extend_from_slice(user.as_bytes());
                        self.out.push(pass.len() as u8);
                        self.out.extend_from_slice(pass.as_bytes());
                        self.state = State::Auth;
                    }
                    (0xFF, None) => {
                        return Err(ProxyError::Refused(
                            "it requires authentication (give user:pass@ in the proxy URL)".into(),
                        ))
                    }
                    (0xFF, Some(_)) => {
                        return Err(ProxyError::Refused(
                            "no acceptable authentication method".into(),
                        ))
                    }
                    (m, _) => {
                        return Err(ProxyError::Malformed(format!(
                            "it chose an authentication method not offered ({m:#04x})"
                        )))
                    }
                }
            }
            State::Auth if self.input.len() == 2 => {
                let status = self.input[1];
                self.input.clear();
                if status != 0 {
                    return Err(ProxyError::Refused(
                        "authentication failed (wrong user name or password)".into(),
                    ));
                }
                self.request();
            }
            State::Reply => {
                let i = &self.input;
                if i.len() < 5 {
                    return Ok(());
                }
                if i[0] != 5 {
                    return Err(ProxyError::Malformed(format!(
                        "not a SOCKS5 reply (version {})",
                        i[0]
                    )));
                }
                if i[1] != 0 {
                    return Err(ProxyError::Refused(socks_reply(i[1]).into()));
                }
                let len = match i[3] {
                    1 => 4 + 4 + 2,
                    4 => 4 + 16 + 2,
                    3 => 4 + 1 + i[4] as usize + 2,
                    t => {
                        return Err(ProxyError::Malformed(format!(
                            "unknown address type {t} in its reply"
                        )))
                    }
                };
                if i.len() == len {
                    self.input.clear();
                    self.state = State::Done;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Queues the SOCKS5 CONNECT request.
    fn request(&mut self) {
        self.out.extend_from_slice(&[5, 1, 0]);
        let port = match &self.target {
            Target::Name(host, port) => {
                match host.trim_matches(['[', ']']).parse::<IpAddr>() {
                    Ok(ip) => push_ip(&mut self.out, ip),
                    Err(_) => {
                        self.out.push(3);
                        self.out.push(host.len() as u8);
                        self.out.extend_from_slice(host.as_bytes());
                    }
                }
                *port
            }
            Target::Addr(a) => {
                push_ip(&mut self.out, a.ip());
                a.port()
            }
        };
        self.out.extend_from_slice(&port.to_be_bytes());
        self.state = State::Reply;
    }

    fn http_answer(&self) -> Result<(), ProxyError> {
        let head = String::from_utf8_lossy(&self.input);
        let line = head.lines().next().unwrap_or("").trim();
        let mut parts = line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status = parts.next().unwrap_or("");
        let reason = parts.next().unwrap_or("").trim();
        if !version.starts_with("HTTP/") || status.len() != 3 {
            return Err(ProxyError::Malformed(format!(
                "not an HTTP answer: {:?}",
                line.chars().take(60).collect::<String>()
            )));
        }
        let code: u16 = status
            .parse()
            .map_err(|_| ProxyError::Malformed(format!("bad status {status:?}")))?;
        if (200..300).contains(&code) {
            return Ok(());
        }
        Err(ProxyError::Refused(
            format!("{code} {reason}").trim().to_string(),
        ))
    }
}

fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            out.push(1);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(4);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// RFC 1928's reply codes in words.
fn socks_reply(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by its rules",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused by the destination",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the answers whole and one byte at a time (stopping once the
    /// tunnel is up); returns, for both, the outcome (`Ok(bytes of the
    /// answers that were the proxy's)`) and everything sent.
    fn converse(
        make: impl Fn() -> Handshake,
        answers: &[&[u8]],
    ) -> Vec<(Result<usize, ProxyError>, Vec<u8>)> {
        let mut runs = Vec::new();
        for bytewise in [false, true] {
            let mut hs = make();
            let mut sent = hs.output();
            let mut total = 0;
            let mut outcome = Ok(0);
            'answers: for answer in answers {
                let pieces: Vec<&[u8]> = if bytewise {
                    answer.chunks(1).collect()
                } else {
                    vec![answer]
                };
                for piece in pieces {
                    let step = hs.feed(piece);
                    sent.extend(hs.output());
                    match step {
                        Ok(Progress::NeedMore) => total += piece.len(),
                        Ok(Progress::Done(n)) => {
                            outcome = Ok(total + n);
                            break 'answers;
                        }
                        Err(e) => {
                            outcome = Err(e);
                            break 'answers;
                        }
                    }
                }
            }
            if outcome == Ok(0) && !hs.is_done() {
                outcome = Err(ProxyError::Malformed("unfinished".into()));
            }
            runs.push((outcome, sent));
        }
        assert_eq!(runs[0], runs[1], "whole and byte by byte differ");
        runs
    }

    #[test]
    fn http_connect_succeeds_and_keeps_tunnel_bytes() {
        let mut hs = Handshake::http_connect(
            Target::Name("example.org".into(), 443),
            Some(("u".into(), "p".into())),
        );
        assert_eq!(
            hs.output(),
            b"CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n"
        );
        let answer = b"HTTP/1.1 200 Connection established\r\nX: y\r\n\r\nTUNNEL";
        assert_eq!(hs.feed(answer), Ok(Progress::Done(answer.len() - 6)));
        assert!(hs.is_done());
        let runs = converse(
            || Handshake::http_connect(Target::Name("h".into(), 1), None),
            &[b"HTTP/1.0 200 OK\r\n\r\n"],
        );
        assert_eq!(runs[0].0, Ok(19));
    }

    #[test]
    fn http_connect_refusals_and_garbage() {
        let runs = converse(
            || Handshake::http_connect(Target::Name("h".into(), 1), None),
            &[b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"],
        );
        assert_eq!(
            runs[0].0,
            Err(ProxyError::Refused(
                "407 Proxy Authentication Required".into()
            ))
        );
        let runs = converse(
            || Handshake::http_connect(Target::Name("h".into(), 1), None),
            &[b"SSH-2.0-OpenSSH\r\n\r\n"],
        );
        assert!(matches!(runs[0].0, Err(ProxyError::Malformed(_))));
        let mut hs = Handshake::http_connect(Target::Name("h".into(), 1), None);
        assert!(matches!(
            hs.feed(&vec![b'a'; MAX_HEAD + 1]),
            Err(ProxyError::Malformed(_))
        ));
    }

    #[test]
    fn socks5_without_auth_by_name() {
        let runs = converse(
            || Handshake::socks5(Target::Name("example.org".into(), 80), None).unwrap(),
            &[&[5, 0], &[5, 0, 0, 1, 127, 0, 0, 1, 0x1F, 0x90, b'x']],
        );
        assert_eq!(runs[0].0, Ok(12));
        let mut want = vec![5, 1, 0, 5, 1, 0, 3, 11];
        want.extend_from_slice(b"example.org");
        want.extend_from_slice(&[0, 80]);
        assert_eq!(runs[0].1, want);
    }

    #[test]
    fn socks5_with_auth_by_address() {
        let target = Target::Addr("[::1]:443".parse().unwrap());
        let runs = converse(
            || Handshake::socks5(target.clone(), Some(("user".into(), "pw".into()))).unwrap(),
            &[
                &[5, 2],
                &[1, 0],
                &[5, 0, 0, 3, 4, b'h', b'o', b's', b't', 1, 187],
            ],
        );
        assert_eq!(runs[0].0, Ok(15));
        let mut want = vec![5, 2, 0, 2, 1, 4];
        want.extend_from_slice(b"user");
        want.push(2);
        want.extend_from_slice(b"pw");
        want.extend_from_slice(&[5, 1, 0, 4]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        want.extend_from_slice(&[1, 187]);
        assert_eq!(runs[0].1, want);
    }

    #[test]
    fn socks5_failures_are_named() {
        let t = || Target::Name("h".into(), 1);
        let runs = converse(|| Handshake::socks5(t(), None).unwrap(), &[&[5, 0xFF]]);
        assert!(matches!(&runs[0].0, Err(ProxyError::Refused(s)) if s.contains("authentication")));
        let runs = converse(
            || Handshake::socks5(t(), Some(("u".into(), "bad".into()))).unwrap(),
            &[&[5, 2], &[1, 1]],
        );
        assert!(matches!(&runs[0].0, Err(ProxyError::Refused(s)) if s.contains("wrong")));
        let runs = converse(
            || Handshake::socks5(t(), None).unwrap(),
            &[&[5, 0], &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]],
        );
        assert_eq!(
            runs[0].0,
            Err(ProxyError::Refused(
                "connection refused by the destination".into()
            ))
        );
        let runs = converse(|| Handshake::socks5(t(), None).unwrap(), &[&[4, 0]]);
        assert!(matches!(runs[0].0, Err(ProxyError::Malformed(_))));
        let runs = converse(
            || Handshake::socks5(t(), None).unwrap(),
            &[&[5, 0], &[5, 0, 0, 9, 0]],
        );
        assert!(matches!(runs[0].0, Err(ProxyError::Malformed(_))));
        assert!(Handshake::socks5(Target::Name("x".repeat(256), 1), None).is_err());
        assert!(Handshake::socks5(t(), Some((String::new(), "p".into()))).is_err());
    }
}
