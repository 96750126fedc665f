//! The request the flags describe, built once in the config step: curl's
//! `-X`, `-H`, `-u`, the `-d` family, `-G` and `-F` (files named by `@FILE`
//! and `@-` are read here, before the loop starts), and the WebSocket
//! handshake's GET with its `-H` fields.

use std::io::{self, Read as _};
use std::sync::Arc;

use crate::cli::RequestArgs;
use crate::error::{describe_io, Error, Result};
use crate::http::client::parse_url;
use crate::proto::http_client::{basic_auth, default_headers, ClientRequest};

/// Largest `--data` body.
const MAX_DATA: u64 = 1 << 30;

/// The request the shared flags describe: method, headers, body, URL.
pub fn build_request(url: &str, args: &RequestArgs, head: bool) -> Result<ClientRequest> {
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
    Ok(ClientRequest {
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
    let mut headers = default_headers();
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
    with_custom_headers(headers, &args.headers)
}

/// A GET of `url` with the default fields and the `-H` fields `custom`
/// (the WebSocket handshake's start).
pub fn get_request(url: &str, custom: &[String]) -> Result<ClientRequest> {
    let url = parse_url(url)?;
    Ok(ClientRequest {
        method: "GET".into(),
        url,
        headers: with_custom_headers(default_headers(), custom)?,
        body: Arc::new(Vec::new()),
    })
}

/// `headers`, then every `-H` of `custom` in order (replacing a field of
/// the same name; `Name:` with no value removes it).
fn with_custom_headers(
    mut headers: Vec<(String, String)>,
    custom_args: &[String],
) -> Result<Vec<(String, String)>> {
    let mut custom = Vec::with_capacity(custom_args.len());
    for h in custom_args {
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
}
