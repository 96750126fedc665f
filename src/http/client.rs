//! One HTTP request and its response, on the reactor.
//!
//! An [`Exchange`] resolves and connects (or takes a kept-alive
//! [`Transport`]), runs the TLS handshake for https, sends the request and
//! decodes the response with [`ResponseDecoder`], reporting each [`Step`] to
//! the caller as it happens: the body streams through in slices of the read
//! buffer, never gathered. The caller forwards the connection's events and
//! the connect timer, and decides what the steps mean (print, follow a
//! redirect, hash for change detection). `netkit http` and `netkit poll`
//! share it; so will the WebSocket handshake.

use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use mio::event::Event as MioEvent;
use mio::Token;
use rustls::ClientConfig;
use url::Url;

use super::tls::{tls_failure, TlsConn};
use super::transport::Transport;
use crate::cli::{DialArgs, Family, RequestArgs};
use crate::error::{describe_io, exit_for_io, Error, Exit, Result};
use crate::net;
use crate::proto::http::{encode_request, Head, Item, ResponseDecoder};
use crate::reactor::buf::ReadBuf;
use crate::reactor::conn::{Conn, Read};
use crate::reactor::connector::{Connector, Outcome};
use crate::reactor::resolver::{Lookup, Resolved, Resolver};
use crate::reactor::{Ctx, TimerId};

/// The read buffer; large enough that a fast body moves in big slices.
const BUF_SIZE: usize = 256 * 1024;

/// Where a request goes: connections are reused only within one origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub https: bool,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn of(url: &Url) -> Result<Origin> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(Error::usage(
                    url.as_str(),
                    format!("unsupported scheme {other:?} (http and https are)"),
                ))
            }
        };
        let host = match url.host() {
            Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
            Some(h) => h.to_string(),
            None => return Err(Error::usage(url.as_str(), "no host in the URL")),
        };
        if host.is_empty() {
            return Err(Error::usage(url.as_str(), "no host in the URL"));
        }
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        Ok(Origin { https, host, port })
    }

    /// `host` or `host:port` when the port is not the scheme's default.
    pub fn host_header(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// Parses a URL as curl would: `host:port/path` means `http://host:port/path`.
pub fn parse_url(text: &str) -> Result<Url> {
    let full = if text.contains("://") {
        text.to_string()
    } else {
        format!("http://{text}")
    };
    if full
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with('/') || rest.is_empty())
    {
        return Err(Error::usage(text, "no host in the URL"));
    }
    let url = Url::parse(&full).map_err(|e| Error::usage(text, format!("invalid URL: {e}")))?;
    Origin::of(&url)?;
    Ok(url)
}

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub url: Url,
    /// Header fields in order; Host comes first when encoded.
    pub headers: Vec<(String, String)>,
    pub body: Arc<Vec<u8>>,
}

impl Request {
    /// The request target: path and query.
    pub fn target(&self) -> String {
        let mut t = self.url.path().to_string();
        if let Some(q) = self.url.query() {
            t.push('?');
            t.push_str(q);
        }
        t
    }

    /// The head fields as sent: Host, credentials from the URL, the rest,
    /// and Content-Length when there is a body.
    pub fn wire_headers(&self, origin: &Origin) -> Vec<(String, String)> {
        let mut fields = Vec::with_capacity(self.headers.len() + 3);
        if !self.has("host") {
            fields.push(("Host".to_string(), origin.host_header()));
        }
        if !self.url.username().is_empty() && !self.has("authorization") {
            let user = percent_decode(self.url.username());
            let pass = percent_decode(self.url.password().unwrap_or(""));
            fields.push(("Authorization".to_string(), basic_auth(&user, &pass)));
        }
        fields.extend(self.headers.iter().cloned());
        let needs_length =
            !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
        if needs_length && !self.has("content-length") {
            fields.push(("Content-Length".to_string(), self.body.len().to_string()));
        }
        fields
    }

    fn has(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The request head and body as bytes.
    pub fn encode(&self, origin: &Origin) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.body.len());
        encode_request(
            &self.method,
            &self.target(),
            &self.wire_headers(origin),
            &mut out,
        );
        out.extend_from_slice(&self.body);
        out
    }
}

/// `Basic base64(user:pass)`.
pub fn basic_auth(user: &str, pass: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!("Basic {token}")
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

pub use crate::event::HttpTiming as Timing;

/// What happened, in order.
pub enum Step<'a> {
    /// Connected (or took a kept-alive connection).
    Connected {
        remote: SocketAddr,
        local: SocketAddr,
        reused: bool,
    },
    /// An address failed; the next one is being tried.
    Retrying { addr: SocketAddr, why: String },
    /// TLS is up: version, cipher suite, ALPN.
    Secured(String),
    /// The request is going out now.
    Sending,
    /// A 1xx response (skipped).
    Interim(Head),
    /// The response head.
    Head(Head),
    /// A slice of the body.
    Body(&'a [u8]),
    /// Trailer fields of a chunked body.
    Trailers(Vec<(String, String)>),
    /// The response is complete; `reusable`: the connection may carry another.
    Done { reusable: bool },
}

/// What an exchange needs to connect.
#[derive(Clone)]
pub struct Settings {
    pub connect_timeout: Duration,
    pub family: Family,
    /// Required for https; see [`Settings::load_tls`].
    pub tls: Option<Arc<ClientConfig>>,
    /// Host names are looked up off the loop thread (clones share its bound).
    pub resolver: Resolver,
    /// `--resolve`: these addresses for HOST:PORT (`*` for any host).
    pub resolve: Vec<ResolveEntry>,
    /// `--connect-to`: connect elsewhere (the Host header and TLS name stay).
    pub connect_to: Vec<ConnectTo>,
}

/// `--resolve HOST:PORT:ADDR[,ADDR]...`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveEntry {
    pub host: String,
    pub port: u16,
    pub addrs: Vec<std::net::IpAddr>,
}

/// `--connect-to HOST1:PORT1:HOST2:PORT2`; an empty part matches any (1)
/// or keeps the original (2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    pub from_host: Option<String>,
    pub from_port: Option<u16>,
    pub to_host: Option<String>,
    pub to_port: Option<u16>,
}

/// Splits `a:b:[v6]:d` on colons outside brackets.
fn colon_fields(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn unbracket(h: &str) -> &str {
    h.strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h)
}

impl ResolveEntry {
    pub fn parse(s: &str) -> Result<ResolveEntry> {
        let bad = |why: &str| Error::usage(format!("--resolve {s}"), why.to_string());
        let f = colon_fields(s);
        if f.len() != 3 {
            return Err(bad("expected HOST:PORT:ADDR[,ADDR]..."));
        }
        let port = f[1].parse().map_err(|_| bad("bad port"))?;
        let addrs = f[2]
            .split(',')
            .map(|a| unbracket(a.trim()).parse::<std::net::IpAddr>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| bad("ADDR must be IP addresses"))?;
        if f[0].is_empty() || addrs.is_empty() {
            return Err(bad("expected HOST:PORT:ADDR[,ADDR]..."));
        }
        Ok(ResolveEntry {
            host: unbracket(f[0]).to_ascii_lowercase(),
            port,
            addrs,
        })
    }
}

impl ConnectTo {
    pub fn parse(s: &str) -> Result<ConnectTo> {
        let bad = |why: &str| Error::usage(format!("--connect-to {s}"), why.to_string());
        let f = colon_fields(s);
        if f.len() != 4 {
            return Err(bad("expected HOST1:PORT1:HOST2:PORT2 (parts may be empty)"));
        }
        let port = |p: &str| -> Result<Option<u16>> {
            if p.is_empty() {
                Ok(None)
            } else {
                p.parse().map(Some).map_err(|_| bad("bad port"))
            }
        };
        let host = |h: &str| (!h.is_empty()).then(|| unbracket(h).to_ascii_lowercase());
        Ok(ConnectTo {
            from_host: host(f[0]),
            from_port: port(f[1])?,
            to_host: host(f[2]),
            to_port: port(f[3])?,
        })
    }
}

impl Settings {
    /// Where to connect for `host:port`: `--connect-to` (the first that
    /// matches), then `--resolve` for that name (addresses, or `None` to
    /// look it up).
    fn target(&self, host: &str, port: u16) -> (String, u16, Option<Vec<SocketAddr>>) {
        let lower = host.to_ascii_lowercase();
        let (mut h, mut p) = (lower.clone(), port);
        if let Some(c) = self.connect_to.iter().find(|c| {
            c.from_host.as_ref().is_none_or(|x| *x == lower)
                && c.from_port.is_none_or(|x| x == port)
        }) {
            if let Some(t) = &c.to_host {
                h = t.clone();
            }
            if let Some(t) = c.to_port {
                p = t;
            }
        }
        let fixed = self
            .resolve
            .iter()
            .find(|r| (r.host == h || r.host == "*") && r.port == p)
            .map(|r| r.addrs.iter().map(|a| SocketAddr::new(*a, p)).collect());
        (h, p, fixed)
    }
}

impl Settings {
    pub fn new(args: &DialArgs) -> Settings {
        Settings {
            connect_timeout: args.connect_timeout,
            family: args.family,
            tls: None,
            resolver: Resolver::default(),
            resolve: Vec::new(),
            connect_to: Vec::new(),
        }
    }

    /// Builds the TLS configuration once, when the first https origin needs
    /// it (plain http never pays for loading the root store).
    pub fn load_tls(&mut self, args: &DialArgs) -> Result<()> {
        if self.tls.is_none() {
            self.tls = Some(super::tls::client_config(
                args.cacert.as_deref(),
                args.insecure,
                &[b"http/1.1"],
            )?);
        }
        Ok(())
    }
}

/// Largest `--data` body.
const MAX_DATA: u64 = 1 << 30;

/// The request the shared flags describe: method, headers, body, URL.
pub fn build_request(url: &str, args: &RequestArgs, head: bool) -> Result<Request> {
    let mut url = parse_url(url)?;
    let data = join_data(args)?;
    let mut body = Vec::new();
    let mut form = false;
    let mut multipart = None;
    if !args.body.form.is_empty() {
        if data.is_some() || args.body.get {
            return Err(Error::usage(
                "-F",
                "cannot be combined with -d, --data-* or -G (as in curl)",
            ));
        }
        let boundary = format!(
            "------------------------{}",
            crate::ws::os_random::<8>()?
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        body = multipart_body(&args.body.form, &boundary)?;
        multipart = Some(boundary);
    }
    if let Some(data) = data {
        if args.body.get {
            // -G: the data goes to the query string, as curl appends it.
            let text = String::from_utf8_lossy(&data);
            let query = match url.query() {
                Some(q) if !q.is_empty() => format!("{q}&{text}"),
                _ => text.into_owned(),
            };
            url.set_query(Some(&query));
        } else {
            body = data;
            form = true;
        }
    }
    let method = match &args.method {
        Some(m) => m.to_ascii_uppercase(),
        None if head => "HEAD".into(),
        None if form || multipart.is_some() => "POST".into(),
        None => "GET".into(),
    };
    let mut headers = request_headers(args, form)?;
    if let Some(boundary) = multipart {
        // Before the -H fields, so a -H Content-Type replaces it.
        let at = headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case("accept"))
            .map_or(0, |i| i + 1);
        if !args.headers.iter().any(|h| {
            h.split(':')
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("content-type"))
        }) {
            headers.insert(
                at,
                (
                    "Content-Type".into(),
                    format!("multipart/form-data; boundary={boundary}"),
                ),
            );
        }
    }
    Ok(Request {
        method,
        url,
        headers,
        body: Arc::new(body),
    })
}

/// One `-F` part, parsed.
#[derive(Debug, PartialEq, Eq)]
struct FormPart {
    name: String,
    /// `@file`: uploaded as a file; `<file`: its content as a field.
    content: FormContent,
    content_type: Option<String>,
    filename: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum FormContent {
    Text(String),
    Upload(String),
    FromFile(String),
}

/// `name=value;type=T;filename=F`, as curl reads `-F`.
fn parse_form(arg: &str) -> Result<FormPart> {
    let Some((name, rest)) = arg.split_once('=') else {
        return Err(Error::usage(
            format!("-F {arg}"),
            "expected name=value, name=@file or name=<file",
        ));
    };
    // The value ends at the first `;` (unless double-quoted, with `\`
    // escapes); `;type=` and `;filename=` follow, other parameters are
    // skipped (as curl).
    let (value, params) = match rest.strip_prefix('"') {
        Some(quoted) => {
            let mut v = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => v.push(c),
                }
            }
            (v, &quoted[end..])
        }
        None => match rest.find(';') {
            Some(i) => (rest[..i].to_string(), &rest[i..]),
            None => (rest.to_string(), ""),
        },
    };
    let value = value.as_str();
    let params: Vec<&str> = params
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let mut part = FormPart {
        name: name.to_string(),
        content: match (value.strip_prefix('@'), value.strip_prefix('<')) {
            (Some(path), _) => FormContent::Upload(path.to_string()),
            (_, Some(path)) => FormContent::FromFile(path.to_string()),
            _ => FormContent::Text(value.to_string()),
        },
        content_type: None,
        filename: None,
    };
    for p in params {
        if let Some((k, v)) = p.split_once('=') {
            let v = v.trim_matches('"').to_string();
            match k.to_ascii_lowercase().as_str() {
                "type" => part.content_type = Some(v),
                "filename" => part.filename = Some(v),
                _ => {}
            }
        }
    }
    Ok(part)
}

/// curl's guess from a file name's extension.
fn content_type_for(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map_or("", |(_, e)| e)
        .to_ascii_lowercase();
    match ext.as_str() {
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" => "text/plain",
        "htm" | "html" => "text/html",
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

/// A quoted-string value for Content-Disposition, escaped as curl does.
fn disposition_escape(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// The multipart/form-data body of the `-F` parts (RFC 7578), laid out
/// byte for byte as curl lays it out.
fn multipart_body(args: &[String], boundary: &str) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    for arg in args {
        let part = parse_form(arg)?;
        let (content, filename) = match &part.content {
            FormContent::Text(t) => (t.as_bytes().to_vec(), part.filename.clone()),
            FormContent::FromFile(path) => {
                (read_data("-F", &format!("@{path}"))?, part.filename.clone())
            }
            FormContent::Upload(path) => {
                let base = std::path::Path::new(path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.clone());
                (
                    read_data("-F", &format!("@{path}"))?,
                    Some(part.filename.clone().unwrap_or(base)),
                )
            }
        };
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disp = format!(
            "Content-Disposition: form-data; name=\"{}\"",
            disposition_escape(&part.name)
        );
        if let Some(f) = &filename {
            disp.push_str(&format!("; filename=\"{}\"", disposition_escape(f)));
        }
        body.extend_from_slice(disp.as_bytes());
        body.extend_from_slice(b"\r\n");
        let ctype = match (&part.content_type, &part.content, &filename) {
            (Some(t), _, _) => Some(t.clone()),
            (None, FormContent::Upload(_), Some(f)) => Some(content_type_for(f).to_string()),
            _ => None,
        };
        if let Some(t) = ctype {
            if t.contains(['\r', '\n']) {
                return Err(Error::usage(format!("-F {arg}"), "line break in type="));
            }
            body.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(&content);
        body.extend_from_slice(b"\r\n");
        if body.len() as u64 > MAX_DATA {
            return Err(Error::usage("-F", "over 1 GiB"));
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(body)
}

/// Every `-d`, `--data-binary`, `--data-raw`, `--data-urlencode` in
/// command-line order, joined with `&` (as curl); `None` when there is none.
fn join_data(args: &RequestArgs) -> Result<Option<Vec<u8>>> {
    let mut parts: Vec<(usize, Vec<u8>)> = Vec::new();
    for d in &args.body.data {
        let mut bytes = read_data("--data", &d.text)?;
        if d.text.starts_with('@') {
            // curl drops carriage returns and newlines from -d @FILE.
            bytes.retain(|b| !matches!(b, b'\r' | b'\n'));
        }
        parts.push((d.seq, bytes));
    }
    for d in &args.body.data_binary {
        parts.push((d.seq, read_data("--data-binary", &d.text)?));
    }
    for d in &args.body.data_raw {
        parts.push((d.seq, d.text.as_bytes().to_vec()));
    }
    for d in &args.body.data_urlencode {
        parts.push((d.seq, urlencode_arg(&d.text)?));
    }
    if parts.is_empty() {
        return Ok(None);
    }
    parts.sort_by_key(|(seq, _)| *seq);
    let mut body = Vec::new();
    for (i, (_, p)) in parts.into_iter().enumerate() {
        if i > 0 {
            body.push(b'&');
        }
        body.extend_from_slice(&p);
        if body.len() as u64 > MAX_DATA {
            return Err(Error::usage("--data", "over 1 GiB"));
        }
    }
    Ok(Some(body))
}

/// curl's `--data-urlencode` forms: `content`, `=content`, `name=content`,
/// `@file`, `name@file`.
fn urlencode_arg(arg: &str) -> Result<Vec<u8>> {
    let eq = arg.find('=');
    let at = arg.find('@');
    let (name, content) = match (eq, at) {
        (Some(e), Some(a)) if a < e => (&arg[..a], read_data("--data-urlencode", &arg[a..])?),
        (None, Some(a)) => (&arg[..a], read_data("--data-urlencode", &arg[a..])?),
        (Some(e), _) => (&arg[..e], arg.as_bytes()[e + 1..].to_vec()),
        (None, None) => ("", arg.as_bytes().to_vec()),
    };
    let mut out = Vec::with_capacity(name.len() + 1 + content.len());
    if !name.is_empty() {
        out.extend_from_slice(name.as_bytes());
        out.push(b'=');
    }
    out.extend(urlencode(&content).bytes());
    Ok(out)
}

/// Percent-encodes all but ASCII letters, digits and `-._~`, a space as
/// `+` (as curl does since 7.86 for form data).
fn urlencode(bytes: &[u8]) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::percent_encode(bytes, KEEP)
        .to_string()
        .replace("%20", "+")
}

/// The string itself, or `@FILE`, or `@-` for stdin.
fn read_data(flag: &str, data: &str) -> Result<Vec<u8>> {
    let Some(path) = data.strip_prefix('@') else {
        return Ok(data.as_bytes().to_vec());
    };
    let mut body = Vec::new();
    let what = format!("{flag} @{path}");
    let result = if path == "-" {
        io::stdin().lock().take(MAX_DATA + 1).read_to_end(&mut body)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_DATA + 1).read_to_end(&mut body))
    };
    result.map_err(|e| Error::usage(what.clone(), describe_io(&e)))?;
    if body.len() as u64 > MAX_DATA {
        return Err(Error::usage(what, "over 1 GiB"));
    }
    Ok(body)
}

/// Default headers (with `-u`), then every `-H` in order. A `-H` replaces a
/// default of the same name, and `Name:` with no value removes it.
fn request_headers(args: &RequestArgs, form: bool) -> Result<Vec<(String, String)>> {
    let mut headers: Vec<(String, String)> = vec![
        (
            "User-Agent".into(),
            format!("netkit/{}", env!("CARGO_PKG_VERSION")),
        ),
        ("Accept".into(), "*/*".into()),
    ];
    if form {
        headers.push((
            "Content-Type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
    }
    if let Some(user) = &args.user {
        let (name, pass) = user.split_once(':').unwrap_or((user, ""));
        headers.push(("Authorization".into(), basic_auth(name, pass)));
    }
    let mut custom = Vec::with_capacity(args.headers.len());
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(Error::usage(
                "-H",
                format!("not a header: {h:?} (expected 'Name: value')"),
            ));
        };
        let name = name.trim();
        if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(Error::usage("-H", format!("invalid header name in {h:?}")));
        }
        let value = value.trim();
        if value.contains(['\r', '\n']) {
            return Err(Error::usage(
                "-H",
                format!("line break in header value of {name}"),
            ));
        }
        // -H replaces a default of the same name; repeated -H all go out.
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        if !value.is_empty() {
            custom.push((name.to_string(), value.to_string()));
        }
    }
    headers.extend(custom);
    Ok(headers)
}

enum Phase {
    /// Looking the host name up (bounded by --connect-timeout).
    Resolving(Lookup),
    Connecting(Connector),
    Secure,
    Send,
    Receive,
    Done,
}

/// One request/response.
pub struct Exchange {
    origin: Origin,
    wire: Vec<u8>,
    wire_queued: bool,
    head_only: bool,
    phase: Phase,
    transport: Option<Transport>,
    decoder: ResponseDecoder,
    buf: ReadBuf,
    started: Instant,
    pub timing: Timing,
    reused: bool,
    /// Response bytes received (a reused connection that dies before any is retried).
    got_bytes: bool,
    keep_alive: bool,
    /// --connect-timeout also covers the TLS handshake.
    tls_timer: Option<TimerId>,
    connect_timeout: Duration,
    pub remote: Option<SocketAddr>,
    pub bytes_body: u64,
    pub bytes_head: u64,
    /// The name being looked up (the URL's host, or --connect-to's).
    lookup_host: String,
}

/// Lets a step callback fail the exchange.
pub type OnStep<'f> = &'f mut dyn FnMut(Step) -> Result<()>;

impl Exchange {
    /// Begins `request`, on `reuse` if given (a connection to the same origin).
    pub fn start<K: Copy>(
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        request: &Request,
        reuse: Option<Transport>,
        settings: &Settings,
        on: OnStep,
    ) -> Result<Exchange> {
        let origin = Origin::of(&request.url)?;
        let mut ex = Exchange {
            wire: request.encode(&origin),
            origin,
            wire_queued: false,
            head_only: request.method == "HEAD",
            phase: Phase::Done,
            transport: None,
            decoder: ResponseDecoder::new(request.method == "HEAD"),
            buf: ReadBuf::new(BUF_SIZE),
            started: Instant::now(),
            timing: Timing::default(),
            reused: false,
            got_bytes: false,
            keep_alive: false,
            tls_timer: None,
            connect_timeout: settings.connect_timeout,
            remote: None,
            bytes_body: 0,
            bytes_head: 0,
            lookup_host: String::new(),
        };
        match reuse {
            Some(t) => {
                ex.reused = true;
                ex.transport = Some(t);
                ex.phase = Phase::Send;
                if let Some(t) = ex.transport.as_mut() {
                    let stream = t.stream_mut();
                    let (remote, local) = (stream.peer_addr(), stream.local_addr());
                    if let (Ok(remote), Ok(local)) = (remote, local) {
                        ex.remote = Some(remote);
                        on(Step::Connected {
                            remote,
                            local,
                            reused: true,
                        })?;
                    }
                }
                ex.drive(cx, token, key, settings, on)?;
            }
            None => ex.connect(cx, token, key, settings, on)?,
        }
        Ok(ex)
    }

    fn connect<K: Copy>(
        &mut self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        settings: &Settings,
        on: OnStep,
    ) -> Result<()> {
        let host = self.origin.host.trim_matches(['[', ']']).to_string();
        let (host, port, fixed) = settings.target(&host, self.origin.port);
        if let Some(addrs) = fixed {
            let addrs = net::pick(&host, &addrs, settings.family)?;
            self.timing.namelookup = self.started.elapsed();
            return self.connect_to(cx, token, key, addrs, settings, on);
        }
        if net::is_literal(&host) {
            let addrs = net::resolve(&host, port, settings.family)?;
            self.timing.namelookup = self.started.elapsed();
            return self.connect_to(cx, token, key, addrs, settings, on);
        }
        self.lookup_host = host.clone();
        let lookup = settings
            .resolver
            .start(cx, token, key, &host, port, settings.connect_timeout)
            .map_err(|e| match e.kind() {
                io::ErrorKind::TimedOut => net::resolve_error(&host, &e),
                _ => Error::io(format!("resolve {host}"), &e),
            })?;
        self.phase = Phase::Resolving(lookup);
        Ok(())
    }

    /// The lookup answered (or failed).
    fn resolved<K: Copy>(
        &mut self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        result: io::Result<Vec<SocketAddr>>,
        settings: &Settings,
        on: OnStep,
    ) -> Result<()> {
        let host = self.lookup_host.clone();
        self.phase = Phase::Done;
        let addrs = result.map_err(|e| net::resolve_error(&host, &e))?;
        let addrs = net::pick(&host, &addrs, settings.family)?;
        self.timing.namelookup = self.started.elapsed();
        self.connect_to(cx, token, key, addrs, settings, on)
    }

    fn connect_to<K: Copy>(
        &mut self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        addrs: Vec<SocketAddr>,
        settings: &Settings,
        on: OnStep,
    ) -> Result<()> {
        let mut connector = Connector::new(addrs, None, settings.connect_timeout);
        let outcome = connector.start(cx, token, key);
        self.phase = Phase::Connecting(connector);
        self.on_connect(cx, token, key, outcome, settings, on)
    }

    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done)
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The connection, for reuse after a `Done { reusable: true }`.
    pub fn take_transport(&mut self) -> Option<Transport> {
        self.transport.take()
    }

    /// Bytes received after the response (a 101's first WebSocket frames).
    pub fn take_leftover(&mut self) -> Vec<u8> {
        self.buf.take()
    }

    /// Drops the connection (deregistering it) and its timers.
    pub fn abandon<K>(&mut self, cx: &mut Ctx<K>) {
        match &mut self.phase {
            Phase::Connecting(c) => c.cancel(cx),
            Phase::Resolving(l) => l.cancel(cx),
            _ => {}
        }
        if let Some(t) = self.tls_timer.take() {
            cx.timers.cancel(t);
        }
        if let Some(mut t) = self.transport.take() {
            let _ = cx.registry.deregister(t.stream_mut());
        }
        self.phase = Phase::Done;
    }

    /// A readiness event on the exchange's token.
    pub fn ready<K: Copy>(
        &mut self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        event: &MioEvent,
        settings: &Settings,
        on: OnStep,
    ) -> Result<()> {
        if let Phase::Resolving(l) = &mut self.phase {
            return match l.ready(cx) {
                Resolved::Pending => Ok(()),
                Resolved::Done(r) => self.resolved(cx, token, key, r, settings, on),
            };
        }
        if let Phase::Connecting(c) = &mut self.phase {
            let outcome = c.ready(cx, token, key);
            return self.on_connect(cx, token, key, outcome, settings, on);
        }
        if let Some(t) = self.transport.as_mut() {
            t.ready(event);
        }
        self.drive(cx, token, key, settings, on)
    }

    /// The connect timer fired.
    pub fn timed_out<K: Copy>(
        &mut self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        settings: &Settings,
        on: OnStep,
    ) -> Result<()> {
        if let Phase::Resolving(l) = &mut self.phase {
            let e = l.timed_out(cx);
            self.phase = Phase::Done;
            return Err(net::resolve_error(&self.lookup_host, &e));
        }
        if let Phase::Connecting(c) = &mut self.phase {
            let outcome = c.timed_out(cx, token, key);
            return self.on_connect(cx, token, key, outcome, settings, on);
        }
        if matches!(self.phase, Phase::Secure) && self.tls_timer.take().is_some() {
            return Err(Error::timeout(
                format!("TLS with {}", self.origin.authority()),
                format!(
                    "handshake not done after {} (--connect-timeout)",
                    humantime::format_duration(self.connect_timeout)
                ),
            ));
        }
        Ok(())
    }

    fn on_connect<K: Copy>(
        &mut self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        outcome: Outcome,
        settings: &Settings,
        on: OnStep,
    ) -> Result<()> {
        match outcome {
            Outcome::Pending => Ok(()),
            Outcome::Retrying(addr, e) => on(Step::Retrying {
                addr,
                why: describe_io(&e),
            }),
            Outcome::Failed(e) => {
                let mut why = describe_io(&e);
                match e.kind() {
                    io::ErrorKind::ConnectionRefused => {
                        why.push_str(" (is anything listening there?)")
                    }
                    io::ErrorKind::TimedOut => {
                        why.push_str(" (is the host up, or a firewall dropping packets?)")
                    }
                    _ => {}
                }
                Err(Error::new(
                    exit_for_io(&e),
                    format!("connect {}", self.origin.authority()),
                    why,
                ))
            }
            Outcome::Connected(stream, remote, _) => {
                self.timing.connect = self.started.elapsed();
                let local = stream.local_addr().unwrap_or(remote);
                self.remote = Some(remote);
                on(Step::Connected {
                    remote,
                    local,
                    reused: false,
                })?;
                if self.origin.https {
                    let config = settings
                        .tls
                        .clone()
                        .ok_or_else(|| Error::new(Exit::Tls, "tls", "no TLS configuration"))?;
                    let tls = TlsConn::new(stream, config, &self.origin.host)?;
                    self.transport = Some(Transport::Tls(Box::new(tls)));
                    self.phase = Phase::Secure;
                    self.tls_timer = cx.timers.add_after(cx.now, self.connect_timeout, key);
                } else {
                    self.transport =
                        Some(Transport::Plain(Conn::new(stream, remote, local, cx.now)));
                    self.timing.appconnect = self.timing.connect;
                    self.phase = Phase::Send;
                }
                self.drive(cx, token, key, settings, on)
            }
        }
    }

    /// Moves the exchange as far as the socket allows.
    fn drive<K: Copy>(
        &mut self,
        cx: &mut Ctx<K>,
        token: Token,
        key: K,
        settings: &Settings,
        on: OnStep,
    ) -> Result<()> {
        let result = self.drive_inner(cx.now, on);
        if !matches!(self.phase, Phase::Secure) {
            if let Some(t) = self.tls_timer.take() {
                cx.timers.cancel(t);
            }
        }
        match result {
            Err(e) if self.dead_reused_connection(&e) => {
                // The kept-alive connection had died: one fresh try.
                if let Some(mut t) = self.transport.take() {
                    let _ = cx.registry.deregister(t.stream_mut());
                }
                self.reused = false;
                self.wire_queued = false;
                self.buf.take();
                self.decoder.reset(self.head_only);
                self.connect(cx, token, key, settings, on)
            }
            other => other,
        }
    }

    /// A kept-alive connection that failed before any response byte was
    /// closed by the server while idle: the request never got there.
    fn dead_reused_connection(&self, e: &Error) -> bool {
        self.reused && !self.got_bytes && (e.kind == Exit::Refused || e.why.contains("empty reply"))
    }

    fn drive_inner(&mut self, now: Instant, on: OnStep) -> Result<()> {
        loop {
            let Some(transport) = self.transport.as_mut() else {
                return Ok(());
            };
            match self.phase {
                Phase::Resolving(_) | Phase::Connecting(_) | Phase::Done => return Ok(()),
                Phase::Secure => {
                    transport
                        .flush(now)
                        .map_err(|e| io_error(&self.origin, &e))?;
                    if transport.handshaking() {
                        match transport.read(self.buf.spare(), now) {
                            Ok(Read::Data(n)) => self.buf.filled(n),
                            Ok(Read::WouldBlock) => {
                                if transport.handshaking() {
                                    return Ok(());
                                }
                            }
                            Ok(Read::Eof) => {
                                return Err(Error::new(
                                    Exit::Tls,
                                    format!("TLS with {}", self.origin.authority()),
                                    "handshake failed: the server closed the connection",
                                ))
                            }
                            Err(e) => return Err(io_error(&self.origin, &e)),
                        }
                        continue;
                    }
                    self.timing.appconnect = self.started.elapsed();
                    if let Transport::Tls(t) = transport {
                        on(Step::Secured(t.describe_session()))?;
                    }
                    self.phase = Phase::Send;
                }
                Phase::Send => {
                    if !self.wire_queued {
                        self.wire_queued = true;
                        on(Step::Sending)?;
                        let wire = std::mem::take(&mut self.wire);
                        let sent = transport.send(&wire, now);
                        self.wire = wire;
                        sent.map_err(|e| io_error(&self.origin, &e))?;
                    }
                    let transport = self
                        .transport
                        .as_mut()
                        .ok_or_else(|| Error::failed("http", "no connection"))?;
                    transport
                        .flush(now)
                        .map_err(|e| io_error(&self.origin, &e))?;
                    let transport = self
                        .transport
                        .as_mut()
                        .ok_or_else(|| Error::failed("http", "no connection"))?;
                    if transport.pending() {
                        // Watch for an early response (a 413, say) while the
                        // body goes out: read until the socket has no more.
                        while matches!(self.phase, Phase::Send) && self.read_some(now, on)? {}
                        if !matches!(self.phase, Phase::Send) {
                            continue;
                        }
                        return Ok(());
                    }
                    self.timing.pretransfer = self.started.elapsed();
                    self.phase = Phase::Receive;
                }
                Phase::Receive => {
                    if !self.read_some(now, on)? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Decodes what is buffered, then reads once. `false` when the socket
    /// has nothing more now (or the exchange finished).
    fn read_some(&mut self, now: Instant, on: OnStep) -> Result<bool> {
        loop {
            let (used, item) = self
                .decoder
                .decode(self.buf.data())
                .map_err(|e| protocol_error(&self.origin, &e.to_string()))?;
            let progressed = used > 0 || item.is_some();
            match item {
                Some(Item::Interim(h)) => {
                    self.bytes_head += h.size as u64;
                    on(Step::Interim(h))?;
                }
                Some(Item::Head(h)) => {
                    self.bytes_head += h.size as u64;
                    self.keep_alive = h.keep_alive();
                    on(Step::Head(h))?;
                }
                Some(Item::Body(b)) => {
                    self.bytes_body += b.len() as u64;
                    on(Step::Body(b))?;
                }
                Some(Item::Trailers(t)) => on(Step::Trailers(t))?,
                Some(Item::End) => {
                    self.buf.consume(used);
                    return self.complete(on, true).map(|()| false);
                }
                None => {}
            }
            self.buf.consume(used);
            if !progressed {
                break;
            }
        }
        let Some(transport) = self.transport.as_mut() else {
            return Ok(false);
        };
        match transport.read(self.buf.spare(), now) {
            Ok(Read::Data(n)) => {
                if !self.got_bytes {
                    self.got_bytes = true;
                    self.timing.starttransfer = self.started.elapsed();
                }
                self.buf.filled(n);
                Ok(true)
            }
            Ok(Read::WouldBlock) => Ok(false),
            Ok(Read::Eof) => {
                self.decoder
                    .finish(self.buf.data())
                    .map_err(|e| protocol_error(&self.origin, &e.to_string()))?;
                self.complete(on, false).map(|()| false)
            }
            Err(e) => Err(io_error(&self.origin, &e)),
        }
    }

    fn complete(&mut self, on: OnStep, open: bool) -> Result<()> {
        self.timing.total = self.started.elapsed();
        if self.timing.starttransfer.is_zero() {
            self.timing.starttransfer = self.timing.total;
        }
        self.phase = Phase::Done;
        // Not reusable if the request did not all go out (an early answer).
        let sent_all = self.transport.as_ref().is_some_and(|t| !t.pending());
        let reusable = open
            && sent_all
            && self.keep_alive
            && self.buf.is_empty()
            && !self.decoder.close_delimited();
        on(Step::Done { reusable })
    }
}

fn io_error(origin: &Origin, e: &io::Error) -> Error {
    if let Some(f) = tls_failure(e) {
        return Error::new(
            Exit::Tls,
            format!("TLS with {}", origin.authority()),
            f.0.clone(),
        );
    }
    Error::new(
        exit_for_io(e),
        format!("response from {}", origin.authority()),
        describe_io(e),
    )
}

fn protocol_error(origin: &Origin, why: &str) -> Error {
    Error::new(
        Exit::Protocol,
        format!("response from {}", origin.authority()),
        why.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urlencode_forms_as_curl() {
        let enc = |a: &str| String::from_utf8(urlencode_arg(a).unwrap()).unwrap();
        assert_eq!(enc("a b&c"), "a+b%26c");
        assert_eq!(enc("=a b"), "a+b");
        assert_eq!(enc("n=a b/~-._"), "n=a+b%2F~-._");
        assert_eq!(enc("name=x=y"), "name=x%3Dy");
        assert_eq!(enc(""), "");
        assert!(urlencode_arg("n@/nonexistent/netkit").is_err());
    }

    #[test]
    fn form_parts_as_curl_reads_them() {
        let p = parse_form("f=@/tmp/a.txt;type=text/x;filename=b.txt").unwrap();
        assert_eq!(p.name, "f");
        assert_eq!(p.content, FormContent::Upload("/tmp/a.txt".into()));
        assert_eq!(p.content_type.as_deref(), Some("text/x"));
        assert_eq!(p.filename.as_deref(), Some("b.txt"));
        let p = parse_form("t=<file").unwrap();
        assert_eq!(p.content, FormContent::FromFile("file".into()));
        let p = parse_form("a=one; two").unwrap();
        assert_eq!(p.content, FormContent::Text("one".into()));
        let p = parse_form(r#"q="x; \"y\"";type=a/b"#).unwrap();
        assert_eq!(p.content, FormContent::Text(r#"x; "y""#.into()));
        assert_eq!(p.content_type.as_deref(), Some("a/b"));
        assert!(parse_form("novalue").is_err());
        for junk in ["=", "a=\"", "a=\"\\", "a=;;;", "a=;type", "é=\"ü"] {
            let _ = parse_form(junk);
        }
        assert_eq!(content_type_for("X.PNG"), "image/png");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
    }

    #[test]
    fn resolve_and_connect_to_arguments() {
        let r = ResolveEntry::parse("Host.example:443:[::1],127.0.0.1").unwrap();
        assert_eq!(r.host, "host.example");
        assert_eq!(r.port, 443);
        assert_eq!(r.addrs.len(), 2);
        assert!(ResolveEntry::parse("h:80").is_err());
        assert!(ResolveEntry::parse("h:x:1.2.3.4").is_err());
        let c = ConnectTo::parse("::[::1]:8080").unwrap();
        assert_eq!((c.from_host, c.from_port), (None, None));
        assert_eq!((c.to_host.as_deref(), c.to_port), (Some("::1"), Some(8080)));
        let mut s = Settings::new(&crate::cli::DialArgs {
            family: Default::default(),
            connect_timeout: Duration::from_secs(1),
            insecure: false,
            cacert: None,
        });
        s.connect_to
            .push(ConnectTo::parse("a.test:80:b.test:81").unwrap());
        s.resolve
            .push(ResolveEntry::parse("b.test:81:127.0.0.2").unwrap());
        let (h, p, fixed) = s.target("A.test", 80);
        assert_eq!((h.as_str(), p), ("b.test", 81));
        assert_eq!(fixed, Some(vec!["127.0.0.2:81".parse().unwrap()]));
        assert_eq!(s.target("a.test", 8080), ("a.test".into(), 8080, None));
    }

    #[test]
    fn urls_like_curl() {
        let u = parse_url("localhost:8080/x?y=1").unwrap();
        assert_eq!(u.as_str(), "http://localhost:8080/x?y=1");
        let o = Origin::of(&parse_url("https://[::1]:8443/").unwrap()).unwrap();
        assert_eq!(
            o,
            Origin {
                https: true,
                host: "[::1]".into(),
                port: 8443
            }
        );
        assert_eq!(o.host_header(), "[::1]:8443");
        assert_eq!(
            Origin::of(&parse_url("http://h/").unwrap())
                .unwrap()
                .host_header(),
            "h"
        );
        assert_eq!(parse_url("ftp://h/").unwrap_err().kind, Exit::Usage);
        assert_eq!(parse_url("http://").unwrap_err().kind, Exit::Usage);
        assert_eq!(
            parse_url("http://exa mple.com/").unwrap_err().kind,
            Exit::Usage
        );
    }

    #[test]
    fn request_head_has_host_auth_and_length() {
        let req = Request {
            method: "POST".into(),
            url: parse_url("http://al%40ice:s%3Acret@example.org:8080/p?q").unwrap(),
            headers: vec![("Accept".into(), "*/*".into())],
            body: Arc::new(b"abc".to_vec()),
        };
        let origin = Origin::of(&req.url).unwrap();
        let wire = String::from_utf8(req.encode(&origin)).unwrap();
        assert_eq!(
            wire,
            "POST /p?q HTTP/1.1\r\nHost: example.org:8080\r\n\
             Authorization: Basic YWxAaWNlOnM6Y3JldA==\r\nAccept: */*\r\nContent-Length: 3\r\n\r\nabc"
        );
    }

    #[test]
    fn basic_auth_encoding() {
        assert_eq!(basic_auth("user", "pass"), "Basic dXNlcjpwYXNz");
    }
}
