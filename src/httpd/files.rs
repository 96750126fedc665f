//! `--dir`: mapping a request path to a file under the root, never outside
//! it, and the pieces of a file response: Content-Type, validators
//! (Last-Modified, ETag), conditional requests, single byte ranges, and
//! directory listings.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::percent_decode_str;

use crate::proto::http_request::Request;

/// What a listing's links escape: all but unreserved characters.
const HREF: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Most entries shown in a directory listing.
const MAX_LISTING: usize = 10_000;

/// The served directory: its canonical path, and (where `openat2(2)` is
/// available) an open handle to resolve requests beneath in one call.
#[derive(Debug, Clone)]
pub struct Root {
    pub path: PathBuf,
    dir: Option<Arc<File>>,
}

impl Root {
    /// `path` must be canonical.
    pub fn open(path: PathBuf) -> Root {
        let dir = File::open(&path).ok().map(Arc::new);
        Root { path, dir }
    }
}

/// Opens `rel` beneath `dir` with `openat2(2)` and `RESOLVE_BENEATH`:
/// symlinks are followed but none may lead out (EXDEV). `None` where the
/// kernel lacks openat2. Non-blocking, so a FIFO does not hang the server.
fn open_beneath(dir: &File, rel: &Path) -> Option<io::Result<File>> {
    let rel = std::ffi::CString::new(rel.as_os_str().as_bytes()).ok()?;
    // SAFETY: open_how is plain data; all-zero is its documented default.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: the descriptor, the C string and `how` outlive the call, and
    // the size passed is the size of `how`.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::E2BIG) => None,
            _ => Some(Err(e)),
        };
    }
    // SAFETY: a descriptor openat2 just returned, owned by nobody else.
    Some(Ok(unsafe { File::from_raw_fd(fd as RawFd) }))
}

/// What a request for a path under the root comes to.
#[derive(Debug)]
pub enum Found {
    /// A file (its real path gives its type).
    File {
        file: File,
        meta: fs::Metadata,
        path: PathBuf,
    },
    /// A directory without `index.html`: its listing.
    Listing(String),
    /// A directory asked for without its trailing slash.
    Redirect(String),
    Status(u16),
}

/// Resolves the (still percent-encoded) `path` under `root` (canonical).
/// `..` segments are refused (403) before the file system is touched, and
/// whatever a symlink points to must be under the root too (403 otherwise).
pub fn find(root: &Root, path: &str) -> Found {
    let decoded: Vec<u8> = percent_decode_str(path).collect();
    if decoded.contains(&0) || !decoded.starts_with(b"/") {
        return Found::Status(400);
    }
    let mut rel = PathBuf::new();
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => return Found::Status(403),
            s => rel.push(std::ffi::OsStr::from_bytes(s)),
        }
    }
    // The common case, a regular file, in one openat2 and one fstat.
    if let Some(dir) = root.dir.as_deref().filter(|_| !rel.as_os_str().is_empty()) {
        match open_beneath(dir, &rel) {
            None => {}
            Some(Ok(file)) => match file.metadata() {
                Ok(meta) if meta.is_file() => {
                    return Found::File {
                        file,
                        meta,
                        path: rel,
                    }
                }
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => return Found::Status(403),
                Err(e) => return Found::Status(io_status(&e)),
            },
            // EXDEV: a symlink leads out, or is absolute (it may still
            // point inside): the careful way below decides.
            Some(Err(e)) if e.raw_os_error() == Some(libc::EXDEV) => {}
            Some(Err(e)) if e.raw_os_error() == Some(libc::ELOOP) => return Found::Status(403),
            Some(Err(e)) => return Found::Status(io_status(&e)),
        }
    }
    let root = root.path.as_path();
    let joined = root.join(&rel);
    let real = match fs::canonicalize(&joined) {
        Ok(p) => p,
        Err(e) => return Found::Status(io_status(&e)),
    };
    if !real.starts_with(root) {
        return Found::Status(403);
    }
    let meta = match fs::metadata(&real) {
        Ok(m) => m,
        Err(e) => return Found::Status(io_status(&e)),
    };
    if meta.is_dir() {
        if !decoded.ends_with(b"/") {
            return Found::Redirect(format!("{path}/"));
        }
        let index = real.join("index.html");
        if let Ok(m) = fs::metadata(&index) {
            if m.is_file() {
                return open(&index);
            }
        }
        return match listing(&real, &String::from_utf8_lossy(&decoded)) {
            Ok(html) => Found::Listing(html),
            Err(e) => Found::Status(io_status(&e)),
        };
    }
    if !meta.is_file() {
        return Found::Status(403);
    }
    open(&real)
}

fn open(path: &Path) -> Found {
    match File::open(path).and_then(|f| f.metadata().map(|m| (f, m))) {
        Ok((file, meta)) => Found::File {
            file,
            meta,
            path: path.to_path_buf(),
        },
        Err(e) => Found::Status(io_status(&e)),
    }
}

fn io_status(e: &io::Error) -> u16 {
    match e.kind() {
        io::ErrorKind::PermissionDenied => 403,
        _ => 404,
    }
}

fn listing(dir: &Path, shown: &str) -> io::Result<String> {
    let mut names: Vec<(String, bool)> = Vec::new();
    for entry in fs::read_dir(dir)?.take(MAX_LISTING) {
        let entry = entry?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        names.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
    }
    names.sort();
    let title = html_escape(shown);
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n<body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if shown != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in names {
        let slash = if is_dir { "/" } else { "" };
        let href: String = percent_encoding::utf8_percent_encode(&name, HREF).collect();
        html.push_str(&format!(
            "<li><a href=\"{href}{slash}\">{}{slash}</a></li>\n",
            html_escape(&name)
        ));
    }
    html.push_str("</ul></body></html>\n");
    Ok(html)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Content-Type by file extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "txt" | "log" | "md" | "csv" | "rs" | "py" | "sh" | "toml" | "yaml" | "yml" => {
            "text/plain; charset=utf-8"
        }
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "avif" => "image/avif",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// The validators of a file: its ETag and its modification time (seconds).
pub fn validators(meta: &fs::Metadata) -> (String, u64) {
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    let etag = format!(
        "\"{:x}-{:x}-{:x}\"",
        mtime.as_secs(),
        mtime.subsec_nanos(),
        meta.len()
    );
    (etag, mtime.as_secs())
}

/// Whether the client's copy is current (RFC 9110, 13.2.2): If-None-Match
/// decides when present, else If-Modified-Since.
pub fn not_modified(req: &Request, etag: &str, mtime: u64) -> bool {
    if let Some(inm) = req.header("if-none-match") {
        return inm
            .split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == etag);
    }
    req.header("if-modified-since")
        .and_then(parse_http_date)
        .is_some_and(|since| mtime <= since)
}

/// A Range no byte of the file satisfies (416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// A single byte range of a file of `len` bytes: `Ok(None)` to send it all
/// (no Range, several ranges, an If-Range that does not match), `Err(Unsatisfiable)`
/// for 416.
pub fn range(
    req: &Request,
    len: u64,
    etag: &str,
    mtime: u64,
) -> Result<Option<(u64, u64)>, Unsatisfiable> {
    let Some(value) = req.header("range") else {
        return Ok(None);
    };
    if let Some(if_range) = req.header("if-range") {
        let if_range = if_range.trim();
        let current = if if_range.starts_with('"') {
            if_range == etag
        } else {
            parse_http_date(if_range) == Some(mtime)
        };
        if !current {
            return Ok(None);
        }
    }
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let Some(n) = num(b) else { return Ok(None) };
        if n == 0 || len == 0 {
            return Err(Unsatisfiable);
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let Some(start) = num(a) else { return Ok(None) };
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            match num(b) {
                Some(e) if e >= start => e.min(len.saturating_sub(1)),
                _ => return Ok(None),
            }
        };
        if start >= len {
            return Err(Unsatisfiable);
        }
        (start, end)
    };
    Ok(Some((start, end)))
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: u64) -> String {
    let days = secs / 86400;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Now as an HTTP date.
pub fn now_date() -> String {
    http_date(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs(),
    )
}

/// Parses an IMF-fixdate (the form every current client sends).
pub fn parse_http_date(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let _day = parts.next()?;
    let d: u32 = parts.next()?.parse().ok()?;
    let mon = parts.next()?;
    let m = MONTHS.iter().position(|&x| x == mon)? as u32 + 1;
    let y: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let mi: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT" || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if days < 0 {
        return None;
    }
    Some(days as u64 * 86400 + h * 3600 + mi * 60 + sec)
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http_request::parse_head;

    fn req(fields: &str) -> Request {
        let raw = format!("GET / HTTP/1.1\r\nHost: h\r\n{fields}\r\n");
        parse_head(raw.as_bytes(), 1 << 14).unwrap().unwrap().1
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(http_date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(parse_http_date("yesterday"), None);
        for t in [951782400u64, 1709164800, 4102444800] {
            assert_eq!(parse_http_date(&http_date(t)), Some(t));
        }
    }

    #[test]
    fn ranges() {
        let r = |v: &str| range(&req(&format!("Range: {v}\r\n")), 100, "\"e\"", 5);
        assert_eq!(r("bytes=0-9"), Ok(Some((0, 9))));
        assert_eq!(r("bytes=90-"), Ok(Some((90, 99))));
        assert_eq!(r("bytes=-10"), Ok(Some((90, 99))));
        assert_eq!(r("bytes=-500"), Ok(Some((0, 99))));
        assert_eq!(r("bytes=50-500"), Ok(Some((50, 99))));
        assert_eq!(r("bytes=100-"), Err(Unsatisfiable));
        assert_eq!(r("bytes=-0"), Err(Unsatisfiable));
        assert_eq!(r("bytes=0-1,5-6"), Ok(None));
        assert_eq!(r("bytes=5-1"), Ok(None));
        assert_eq!(r("items=0-1"), Ok(None));
        let stale = req("Range: bytes=0-1\r\nIf-Range: \"old\"\r\n");
        assert_eq!(range(&stale, 100, "\"e\"", 5), Ok(None));
        let fresh = req("Range: bytes=0-1\r\nIf-Range: \"e\"\r\n");
        assert_eq!(range(&fresh, 100, "\"e\"", 5), Ok(Some((0, 1))));
    }

    #[test]
    fn conditionals() {
        assert!(not_modified(
            &req("If-None-Match: \"a\", W/\"e\"\r\n"),
            "\"e\"",
            5
        ));
        assert!(!not_modified(&req("If-None-Match: \"a\"\r\n"), "\"e\"", 5));
        let ims = format!("If-Modified-Since: {}\r\n", http_date(1000));
        assert!(not_modified(&req(&ims), "\"e\"", 1000));
        assert!(!not_modified(&req(&ims), "\"e\"", 1001));
    }

    #[test]
    fn types() {
        assert_eq!(content_type("/a/b.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type("/a.b/c"), "application/octet-stream");
        assert_eq!(content_type("/x.png"), "image/png");
    }

    #[test]
    fn nothing_outside_the_root() {
        let base = std::env::temp_dir().join(format!("netkit-files-{}", std::process::id()));
        let root = base.join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(base.join("secret"), "s").unwrap();
        fs::write(root.join("sub/a.txt"), "a").unwrap();
        let _ = std::os::unix::fs::symlink(base.join("secret"), root.join("link"));
        let root = Root::open(fs::canonicalize(&root).unwrap());
        assert!(matches!(find(&root, "/sub/a.txt"), Found::File { .. }));
        assert!(matches!(find(&root, "/sub/%61.txt"), Found::File { .. }));
        assert!(matches!(find(&root, "/../secret"), Found::Status(403)));
        assert!(matches!(find(&root, "/%2e%2e/secret"), Found::Status(403)));
        assert!(matches!(
            find(&root, "/sub/%2E%2E/%2e%2e/secret"),
            Found::Status(403)
        ));
        assert!(matches!(find(&root, "/link"), Found::Status(403)));
        assert!(matches!(find(&root, "/nope"), Found::Status(404)));
        assert!(matches!(find(&root, "/a%00b"), Found::Status(400)));
        assert!(matches!(find(&root, "/sub"), Found::Redirect(ref l) if l == "/sub/"));
        match find(&root, "/sub/") {
            Found::Listing(html) => assert!(html.contains("<a href=\"a.txt\">a.txt</a>")),
            other => panic!("{other:?}"),
        }
        let _ = fs::remove_dir_all(&base);
    }
}
