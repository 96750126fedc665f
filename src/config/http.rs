//! `netkit http URL`: curl's flags lifted into an [`HttpConfig`].

use std::fs::File;
use std::io::Read as _;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::request::build_request;
use super::DialConfig;
use crate::cli::HttpArgs;
use crate::error::{describe_io, Error, Result};
use crate::http::client::{ClientRequest, ConnectTo, ResolveEntry};
use crate::http::{cookies, decode, writeout};

/// Which response heads are shown with the body (`-i`, `-I`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadOutput {
    /// The body only (curl's default).
    BodyOnly,
    /// `-i`: each head, then the body.
    WithBody,
    /// `-I`: a HEAD request, its head shown.
    Only,
}

impl HeadOutput {
    pub fn shows_head(self) -> bool {
        self != HeadOutput::BodyOnly
    }
}

/// `-L`: follow redirects (at most `max`), or report the redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    Report,
    Follow { max: u32 },
}

/// Where the body goes: stdout (the `--json` event under `--json`), or
/// `-o FILE`/`-O`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyTarget {
    Stdout,
    File(PathBuf),
}

/// `-D/--dump-header` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpTarget {
    Stdout,
    File(PathBuf),
}

/// `-s` and `-S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silence {
    Off,
    /// `-s`: no progress, no notices, no error line.
    Silent,
    /// `-sS`: silent but errors are still shown.
    SilentShowErrors,
}

impl Silence {
    /// Read first, before the rest of the config is built, so that `-s`
    /// also hides the config step's own usage errors (as curl does).
    pub fn of(args: &HttpArgs) -> Silence {
        match (args.silent, args.show_error) {
            (false, _) => Silence::Off,
            (true, false) => Silence::Silent,
            (true, true) => Silence::SilentShowErrors,
        }
    }
}

/// `--retry` and its companions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: none).
    pub count: u32,
    pub delay: Option<Duration>,
    pub max_time: Option<Duration>,
    pub all_errors: bool,
    pub connrefused: bool,
}

/// `-b` and `-c`: the cookie engine.
#[derive(Debug, Default)]
pub struct CookieConfig {
    /// The jar (when the engine is on: `-b FILE` or `-c`), loaded.
    pub jar: Option<cookies::Jar>,
    /// `-b NAME=VALUE` strings, sent as given.
    pub strings: Vec<String>,
    /// `-c FILE` (`-` for stdout): where the jar is saved at the end.
    pub save_to: Option<PathBuf>,
    /// A `-H Cookie:` of the user's, which the engine leaves alone.
    pub user_header: bool,
}

/// Everything `netkit http` does, decided.
#[derive(Debug)]
pub struct HttpConfig {
    /// The request, built once (`--compressed`'s Accept-Encoding included).
    pub request: ClientRequest,
    pub dial: DialConfig,
    pub resolve: Vec<ResolveEntry>,
    pub connect_to: Vec<ConnectTo>,
    pub head: HeadOutput,
    pub body: BodyTarget,
    pub dump: Option<DumpTarget>,
    /// `-w`, parsed.
    pub write_out: Option<Vec<writeout::Piece>>,
    pub cookies: CookieConfig,
    pub redirects: Redirects,
    pub fail: bool,
    pub timing: bool,
    pub compressed: bool,
    pub max_filesize: Option<usize>,
    pub max_time: Option<Duration>,
    pub retry: RetryPolicy,
    /// Applied to the output by `lib::run` before this config is built
    /// (see [`Silence::of`]); kept here for the record.
    pub silence: Silence,
}

impl HttpConfig {
    /// Builds the config; files and stdin named by `-d @`, `-w @` and `-b`
    /// are read here, in that order.
    pub fn from_args(args: HttpArgs) -> Result<HttpConfig> {
        let head = match (args.head, args.include) {
            (true, _) => HeadOutput::Only,
            (false, true) => HeadOutput::WithBody,
            (false, false) => HeadOutput::BodyOnly,
        };
        let mut request = build_request(&args.url, &args.req, head == HeadOutput::Only)?;
        if args.compressed {
            add_accept_encoding(&mut request);
        }
        let body = match &args.output {
            Some(p) if p.as_os_str() == "-" => BodyTarget::Stdout,
            Some(p) => BodyTarget::File(p.clone()),
            None if args.remote_name => BodyTarget::File(remote_name(&request.url)?),
            None => BodyTarget::Stdout,
        };
        let dump = args.dump_header.as_ref().map(|p| {
            if p.as_os_str() == "-" {
                DumpTarget::Stdout
            } else {
                DumpTarget::File(p.clone())
            }
        });
        let write_out = args.write_out.as_deref().map(read_write_out).transpose()?;
        let cookies = load_cookies(&args)?;
        let resolve = args
            .resolve
            .iter()
            .map(|r| ResolveEntry::parse(r))
            .collect::<Result<Vec<_>>>()?;
        let connect_to = args
            .connect_to
            .iter()
            .map(|c| ConnectTo::parse(c))
            .collect::<Result<Vec<_>>>()?;
        Ok(HttpConfig {
            request,
            dial: DialConfig::from(&args.req.dial),
            resolve,
            connect_to,
            head,
            body,
            dump,
            write_out,
            cookies,
            redirects: if args.location {
                Redirects::Follow {
                    max: args.max_redirs,
                }
            } else {
                Redirects::Report
            },
            fail: args.fail,
            timing: args.timing,
            compressed: args.compressed,
            max_filesize: args.max_filesize,
            max_time: args.max_time,
            retry: RetryPolicy {
                count: args.retry,
                delay: args.retry_delay,
                max_time: args.retry_max_time,
                all_errors: args.retry_all_errors,
                connrefused: args.retry_connrefused,
            },
            silence: Silence::of(&args),
        })
    }
}

/// `--compressed`: Accept-Encoding after Accept, unless a `-H` gave one.
fn add_accept_encoding(request: &mut ClientRequest) {
    if request
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"))
    {
        return;
    }
    let at = request
        .headers
        .iter()
        .position(|(n, _)| n.eq_ignore_ascii_case("accept"))
        .map_or(request.headers.len(), |i| i + 1);
    request.headers.insert(
        at,
        ("Accept-Encoding".into(), decode::ACCEPT_ENCODING.into()),
    );
}

/// `-O`: the URL's last path segment, as curl takes it (not decoded).
fn remote_name(url: &Url) -> Result<PathBuf> {
    let name = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::usage(
            format!("-O {url}"),
            "the URL has no file name to save as (use -o FILE)",
        ));
    }
    Ok(PathBuf::from(name))
}

/// Largest cookie file read.
const MAX_COOKIE_FILE: u64 = 16 << 20;

/// `-b` (strings and files) and `-c`: the jar (when the engine is on) and
/// the literal cookie strings.
fn load_cookies(args: &HttpArgs) -> Result<CookieConfig> {
    let mut jar = args.cookie_jar.as_ref().map(|_| cookies::Jar::default());
    let mut strings = Vec::new();
    for b in &args.cookie {
        if b.contains('=') {
            strings.push(b.trim().to_string());
            continue;
        }
        let j = jar.get_or_insert_with(cookies::Jar::default);
        let mut t = String::new();
        let text = if b == "-" {
            std::io::stdin()
                .lock()
                .take(MAX_COOKIE_FILE)
                .read_to_string(&mut t)
        } else {
            File::open(b).and_then(|f| f.take(MAX_COOKIE_FILE).read_to_string(&mut t))
        };
        match text {
            Ok(_) => j.load(&t, crate::http::unix_now()),
            // As curl: a cookie file that is not there yet is an empty jar.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::usage(format!("-b {b}"), describe_io(&e))),
        }
    }
    let user_header = args.req.headers.iter().any(|h| {
        h.split(':')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("cookie"))
    });
    Ok(CookieConfig {
        jar,
        strings,
        save_to: args.cookie_jar.clone(),
        user_header,
    })
}

/// `-w FORMAT`, `-w @FILE`, `-w @-` (stdin).
fn read_write_out(arg: &str) -> Result<Vec<writeout::Piece>> {
    let Some(path) = arg.strip_prefix('@') else {
        return Ok(writeout::parse(arg));
    };
    const MAX_FORMAT: u64 = 1 << 20;
    let mut text = String::new();
    let what = format!("-w @{path}");
    let r = if path == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_FORMAT)
            .read_to_string(&mut text)
    } else {
        File::open(path).and_then(|f| f.take(MAX_FORMAT).read_to_string(&mut text))
    };
    r.map_err(|e| Error::usage(what, describe_io(&e)))?;
    Ok(writeout::parse(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Command, HttpCommand};
    use crate::error::Exit;

    fn config(line: &str) -> Result<HttpConfig> {
        match crate::config::testing::command(line) {
            Command::Http(HttpCommand::Request(args)) => HttpConfig::from_args(*args),
            _ => panic!("not http"),
        }
    }

    #[test]
    fn flag_combinations_to_config() {
        type Check = fn(&HttpConfig) -> bool;
        let table: &[(&str, Check)] = &[
            ("http h/", |c| {
                c.head == HeadOutput::BodyOnly && c.request.method == "GET"
            }),
            ("http -i h/", |c| c.head == HeadOutput::WithBody),
            ("http -I h/", |c| {
                c.head == HeadOutput::Only && c.request.method == "HEAD"
            }),
            ("http -I -i h/", |c| c.head == HeadOutput::Only),
            ("http -d a=1 h/", |c| {
                c.request.method == "POST" && *c.request.body == b"a=1"
            }),
            ("http -G -d a=1 h/?x", |c| {
                c.request.method == "GET" && c.request.url.query() == Some("x&a=1")
            }),
            ("http -L h/", |c| {
                c.redirects == Redirects::Follow { max: 10 }
            }),
            ("http h/", |c| c.redirects == Redirects::Report),
            ("http -o - h/", |c| c.body == BodyTarget::Stdout),
            ("http -o f h/", |c| c.body == BodyTarget::File("f".into())),
            ("http -O h/a/b.txt", |c| {
                c.body == BodyTarget::File("b.txt".into())
            }),
            ("http -D - h/", |c| c.dump == Some(DumpTarget::Stdout)),
            ("http -s h/", |c| c.silence == Silence::Silent),
            ("http -sS h/", |c| c.silence == Silence::SilentShowErrors),
            ("http -k h/", |c| c.dial.tls.insecure),
            ("http --compressed h/", |c| {
                c.request
                    .headers
                    .iter()
                    .any(|(n, _)| n == "Accept-Encoding")
            }),
            ("http --compressed -H Accept-Encoding:x h/", |c| {
                c.request
                    .headers
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("accept-encoding"))
                    .count()
                    == 1
            }),
            ("http -b a=1 h/", |c| {
                c.cookies.strings == ["a=1"] && c.cookies.jar.is_none()
            }),
            ("http -c - h/", |c| c.cookies.jar.is_some()),
            ("http -b a=1 -H Cookie:x h/", |c| c.cookies.user_header),
            ("http --resolve h:80:127.0.0.1 h/", |c| c.resolve.len() == 1),
            ("http --retry 3 --retry-connrefused h/", |c| {
                c.retry.count == 3 && c.retry.connrefused && !c.retry.all_errors
            }),
        ];
        for (line, check) in table {
            let c = config(line).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert!(check(&c), "{line}: {c:?}");
        }
    }

    #[test]
    fn usage_errors_are_raised_by_the_config_step() {
        for line in [
            "http -O h/",
            "http -F a=b -d c h/",
            "http -F a=b -G h/",
            "http -H nocolon h/",
            "http --resolve h:80 h/",
            "http --connect-to a:b:c h/x",
            "http ftp://h/",
            "http -d @/nonexistent/netkit h/",
            "http -w @/nonexistent/netkit h/",
        ] {
            let e = config(line)
                .err()
                .unwrap_or_else(|| panic!("{line}: accepted"));
            assert_eq!(e.kind, Exit::Usage, "{line}: {e:?}");
        }
    }
}
