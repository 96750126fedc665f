//! What to answer to one request: bytes (the head, and the body when it is
//! in memory) and maybe a piece of a file to send after them.

use std::fs::File;

use super::files::{self, Found};
use super::{HttpdConfig, HttpdMode};
use crate::event::HttpRequestRecord;
use crate::proto::http_request::{encode_response_head, reason, Request, RequestError};

/// Files up to this size go out with their head in one write; larger ones
/// are sent from the file (`sendfile(2)` on plain connections).
pub const INLINE_FILE: u64 = 64 * 1024;

/// A piece of a file to send after the head: `[offset, end)`.
#[derive(Debug)]
pub struct FileBody {
    pub file: File,
    pub offset: u64,
    pub end: u64,
}

/// The answer to one request.
#[derive(Debug)]
pub struct Answer {
    pub bytes: Vec<u8>,
    pub file: Option<FileBody>,
    pub status: u16,
    /// Close the connection once it is written.
    pub close: bool,
}

/// Answers `req` (whose body is `body`) as `config` says.
/// `last`: the final request of `-c N`, answered with `Connection: close`.
pub fn answer(
    config: &HttpdConfig,
    req: &Request,
    body: &[u8],
    date: &str,
    rec: &HttpRequestRecord,
    last: bool,
) -> Answer {
    let close = last || !req.keep_alive();
    let head_only = req.method == "HEAD";
    let mut fields: Vec<(&str, String)> = Vec::new();
    let (status, content, file) = match &config.mode {
        HttpdMode::Print { status, body } => (*status, body.clone(), None),
        HttpdMode::Echo { status } => {
            let mut m = serde_json::Map::new();
            crate::output::request_fields(rec, &mut m);
            let mut text =
                serde_json::to_vec_pretty(&serde_json::Value::Object(m)).unwrap_or_default();
            text.push(b'\n');
            fields.push(("Content-Type", "application/json".into()));
            (*status, text, None)
        }
        HttpdMode::Dir(root) => {
            let _ = body;
            serve(root, req, &mut fields)
        }
    };
    let mut bytes = Vec::with_capacity(256 + content.len());
    let length = match &file {
        Some(f) => f.end - f.offset,
        None => content.len() as u64,
    };
    let length = length.to_string();
    let no_body = status == 304 || status == 204 || (100..200).contains(&status);
    let mut head: Vec<(&str, &str)> = vec![("Server", "netkit"), ("Date", date)];
    for (n, v) in &fields {
        head.push((n, v));
    }
    if !no_body {
        head.push(("Content-Length", &length));
    }
    for (n, v) in &config.headers {
        head.push((n, v));
    }
    if close {
        head.push(("Connection", "close"));
    } else if req.version == 0 {
        head.push(("Connection", "keep-alive"));
    }
    encode_response_head(req.version, status, &head, &mut bytes);
    let mut file = file;
    if head_only || no_body {
        file = None;
    } else if let Some(f) = file.take() {
        if f.end - f.offset > INLINE_FILE || !read_into(&f, &mut bytes) {
            file = Some(f);
        }
    } else {
        bytes.extend_from_slice(&content);
    }
    Answer {
        bytes,
        file,
        status,
        close,
    }
}

/// Reads a small file piece after the head; false if it could not be read
/// whole (then it is sent from the file, which reports the error).
fn read_into(f: &FileBody, out: &mut Vec<u8>) -> bool {
    use std::os::unix::fs::FileExt;
    let start = out.len();
    let want = (f.end - f.offset) as usize;
    out.resize(start + want, 0);
    let mut done = 0;
    while done < want {
        match f
            .file
            .read_at(&mut out[start + done..], f.offset + done as u64)
        {
            Ok(0) | Err(_) => {
                out.truncate(start);
                return false;
            }
            Ok(n) => done += n,
        }
    }
    true
}

fn serve(
    root: &files::Root,
    req: &Request,
    fields: &mut Vec<(&'static str, String)>,
) -> (u16, Vec<u8>, Option<FileBody>) {
    if req.method != "GET" && req.method != "HEAD" {
        fields.push(("Allow", "GET, HEAD".into()));
        return status_page(405, fields);
    }
    match files::find(root, req.path()) {
        Found::Status(s) => status_page(s, fields),
        Found::Redirect(to) => {
            let to = match req.query() {
                Some(q) => format!("{to}?{q}"),
                None => to,
            };
            fields.push(("Location", to));
            status_page(301, fields)
        }
        Found::Listing(html) => {
            fields.push(("Content-Type", "text/html; charset=utf-8".into()));
            (200, html.into_bytes(), None)
        }
        Found::File { file, meta, path } => {
            let (etag, mtime) = files::validators(&meta);
            let len = meta.len();
            fields.push(("Last-Modified", files::http_date(mtime)));
            fields.push(("ETag", etag.clone()));
            if files::not_modified(req, &etag, mtime) {
                return (304, Vec::new(), None);
            }
            fields.push((
                "Content-Type",
                files::content_type(&path.to_string_lossy()).into(),
            ));
            fields.push(("Accept-Ranges", "bytes".into()));
            match files::range(req, len, &etag, mtime) {
                Ok(None) => (
                    200,
                    Vec::new(),
                    Some(FileBody {
                        file,
                        offset: 0,
                        end: len,
                    }),
                ),
                Ok(Some((start, last))) => {
                    fields.push(("Content-Range", format!("bytes {start}-{last}/{len}")));
                    (
                        206,
                        Vec::new(),
                        Some(FileBody {
                            file,
                            offset: start,
                            end: last + 1,
                        }),
                    )
                }
                Err(files::Unsatisfiable) => {
                    fields.retain(|(n, _)| *n != "Content-Type");
                    fields.push(("Content-Range", format!("bytes */{len}")));
                    status_page(416, fields)
                }
            }
        }
    }
}

fn status_page(
    status: u16,
    fields: &mut Vec<(&'static str, String)>,
) -> (u16, Vec<u8>, Option<FileBody>) {
    fields.push(("Content-Type", "text/plain; charset=utf-8".into()));
    (
        status,
        format!("{status} {}\n", reason(status)).into_bytes(),
        None,
    )
}

/// The answer to a request that could not be decoded; the connection is
/// closed after it.
pub fn refusal(err: &RequestError, date: &str) -> Vec<u8> {
    let body = format!("{} {}: {}\n", err.status, reason(err.status), err.reason);
    let length = body.len().to_string();
    let mut out = Vec::with_capacity(200 + body.len());
    encode_response_head(
        1,
        err.status,
        &[
            ("Server", "netkit"),
            ("Date", date),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", &length),
            ("Connection", "close"),
        ],
        &mut out,
    );
    out.extend_from_slice(body.as_bytes());
    out
}

/// Reads a file piece into `buf` (for TLS, where `sendfile` cannot help).
pub fn read_chunk(f: &mut FileBody, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let want = buf.len().min((f.end - f.offset) as usize);
    let n = f.file.read_at(&mut buf[..want], f.offset)?;
    if n == 0 && want > 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the file shrank while it was being sent",
        ));
    }
    f.offset += n as u64;
    Ok(n)
}
