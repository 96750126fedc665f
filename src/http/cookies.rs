//! curl's cookie engine, pure: `Set-Cookie` in (RFC 6265, the parts curl
//! honours), `Cookie` out for a URL, and the Netscape cookie file that
//! `-b FILE` reads and `-c FILE` writes. Time is passed in (seconds since
//! 1970); the jar is bounded.

use std::fmt::Write as _;

/// Most cookies kept; past it the oldest goes.
const MAX_COOKIES: usize = 3000;
/// Longest `name=value` kept (as browsers: 4 KiB).
const MAX_COOKIE: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// Lower-case, no leading dot.
    pub domain: String,
    /// `false`: host-only (no Domain attribute).
    pub subdomains: bool,
    pub path: String,
    pub secure: bool,
    pub http_only: bool,
    /// Seconds since 1970; 0 for a session cookie.
    pub expires: u64,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Default)]
pub struct Jar {
    cookies: Vec<Cookie>,
}

/// The default path of a request path (RFC 6265, section 5.1.4).
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].into(),
    }
}

fn domain_match(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && host.parse::<std::net::IpAddr>().is_err())
}

fn path_match(req: &str, path: &str) -> bool {
    req == path
        || (req.starts_with(path)
            && (path.ends_with('/') || req.as_bytes().get(path.len()) == Some(&b'/')))
}

impl Jar {
    pub fn len(&self) -> usize {
        self.cookies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    pub fn cookies(&self) -> &[Cookie] {
        &self.cookies
    }

    fn put(&mut self, c: Cookie, now: u64) {
        self.cookies
            .retain(|o| !(o.name == c.name && o.domain == c.domain && o.path == c.path));
        if c.expires != 0 && c.expires <= now {
            return; // Expired: a deletion.
        }
        if self.cookies.len() >= MAX_COOKIES {
            self.cookies.remove(0);
        }
        self.cookies.push(c);
    }

    /// A `Set-Cookie` value received from `host` for request `path`;
    /// ignored when malformed or for another domain (as curl).
    pub fn set(&mut self, header: &str, host: &str, path: &str, now: u64) {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || name.len() + value.len() > MAX_COOKIE {
            return;
        }
        let mut c = Cookie {
            domain: host.clone(),
            subdomains: false,
            path: default_path(path),
            secure: false,
            http_only: false,
            expires: 0,
            name: name.to_string(),
            value: value.to_string(),
        };
        let mut max_age: Option<i64> = None;
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "domain" if !v.is_empty() => {
                    let d = v.trim_start_matches('.').to_ascii_lowercase();
                    if !domain_match(&host, &d) {
                        return;
                    }
                    c.subdomains = d != host || v.starts_with('.');
                    if host.parse::<std::net::IpAddr>().is_ok() {
                        c.subdomains = false;
                    }
                    c.domain = d;
                }
                "path" if v.starts_with('/') => c.path = v.to_string(),
                "secure" => c.secure = true,
                "httponly" => c.http_only = true,
                "max-age" => max_age = v.parse().ok(),
                "expires" if max_age.is_none() => {
                    // `Wed, 21-Oct-2015 07:28:00 GMT` as well as IMF-fixdate.
                    let v = v.replace('-', " ");
                    if let Some(t) = crate::proto::http::http_date(&v) {
                        c.expires = t.max(1);
                    }
                }
                _ => {}
            }
        }
        if let Some(age) = max_age {
            c.expires = if age <= 0 {
                1
            } else {
                now.saturating_add(age as u64)
            };
        }
        self.put(c, now);
    }

    /// The `Cookie` value for a request, or `None` when no cookie applies.
    pub fn header(&self, host: &str, path: &str, https: bool, now: u64) -> Option<String> {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| {
                (if c.subdomains {
                    domain_match(&host, &c.domain)
                } else {
                    host == c.domain
                }) && path_match(path, &c.path)
                    && (!c.secure || https)
                    && (c.expires == 0 || c.expires > now)
            })
            .collect();
        if matching.is_empty() {
            return None;
        }
        // Longer paths first; equal ones in the order they were set.
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        let pairs: Vec<String> = matching
            .iter()
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        Some(pairs.join("; "))
    }

    /// Reads a Netscape cookie file (as curl writes it; `#HttpOnly_`
    /// lines included, other comments and bad lines skipped).
    pub fn load(&mut self, text: &str, now: u64) {
        for line in text.lines() {
            let (line, http_only) = match line.strip_prefix("#HttpOnly_") {
                Some(l) => (l, true),
                None => (line, false),
            };
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() < 6 {
                continue;
            }
            let domain = f[0].trim_start_matches('.').to_ascii_lowercase();
            let c = Cookie {
                subdomains: f[1].eq_ignore_ascii_case("TRUE"),
                path: f[2].to_string(),
                secure: f[3].eq_ignore_ascii_case("TRUE"),
                expires: f[4].parse().unwrap_or(0),
                name: f[5].to_string(),
                value: f.get(6).copied().unwrap_or("").to_string(),
                http_only,
                domain,
            };
            if c.domain.is_empty() || c.name.len() + c.value.len() > MAX_COOKIE {
                continue;
            }
            self.put(c, now);
        }
    }

    /// The Netscape cookie file of the jar (session cookies included, as
    /// curl writes them).
    pub fn save(&self) -> String {
        let mut out = String::from(
            "# Netscape HTTP Cookie File\n# https://curl.se/docs/http-cookies.html\n# This file was generated by netkit. Edit at your own risk.\n\n",
        );
        for c in &self.cookies {
            let _ = writeln!(
                out,
                "{}{}{}\t{}\t{}\t{}\t{}\t{}\t{}",
                if c.http_only { "#HttpOnly_" } else { "" },
                if c.subdomains { "." } else { "" },
                c.domain,
                if c.subdomains { "TRUE" } else { "FALSE" },
                c.path,
                if c.secure { "TRUE" } else { "FALSE" },
                c.expires,
                c.name,
                c.value
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn set_and_send_by_domain_path_and_scheme() {
        let mut j = Jar::default();
        j.set("a=1", "Example.com", "/dir/page", NOW);
        j.set(
            "b=2; Path=/; Domain=.example.com; Secure; HttpOnly",
            "example.com",
            "/",
            NOW,
        );
        j.set("c=3; Domain=other.org", "example.com", "/", NOW);
        assert_eq!(j.len(), 2);
        assert_eq!(
            j.header("example.com", "/dir/x", false, NOW).as_deref(),
            Some("a=1")
        );
        assert_eq!(
            j.header("example.com", "/dir/x", true, NOW).as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(
            j.header("www.example.com", "/dir/x", true, NOW).as_deref(),
            Some("b=2")
        );
        assert_eq!(j.header("example.com", "/dirt", false, NOW), None);
        assert_eq!(j.header("badexample.com", "/", true, NOW), None);
    }

    #[test]
    fn expiry_and_deletion() {
        let mut j = Jar::default();
        j.set("a=1; Max-Age=10", "h", "/", NOW);
        j.set("b=2; Expires=Wed, 21-Oct-2015 07:28:00 GMT", "h", "/", NOW);
        j.set("c=3; Expires=Sun, 06 Nov 2033 08:49:37 GMT", "h", "/", NOW);
        assert_eq!(j.header("h", "/", false, NOW).as_deref(), Some("a=1; c=3"));
        assert_eq!(j.header("h", "/", false, NOW + 11).as_deref(), Some("c=3"));
        j.set("c=; Max-Age=0", "h", "/", NOW);
        assert_eq!(j.header("h", "/", false, NOW).as_deref(), Some("a=1"));
        j.set("a=new", "h", "/", NOW);
        assert_eq!(j.header("h", "/", false, NOW).as_deref(), Some("a=new"));
    }

    #[test]
    fn netscape_file_round_trip() {
        let mut j = Jar::default();
        j.set("a=1; Path=/p", "127.0.0.1", "/", NOW);
        j.set(
            "b=x y; Domain=example.com; HttpOnly; Max-Age=100",
            "www.example.com",
            "/",
            NOW,
        );
        let text = j.save();
        assert!(
            text.contains("127.0.0.1\tFALSE\t/p\tFALSE\t0\ta\t1\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "#HttpOnly_.example.com\tTRUE\t/\tFALSE\t{}\tb\tx y\n",
                NOW + 100
            )),
            "{text}"
        );
        let mut k = Jar::default();
        k.load(&text, NOW);
        assert_eq!(k.cookies(), j.cookies());
    }

    #[test]
    fn garbage_never_panics_and_the_jar_is_bounded() {
        let mut j = Jar::default();
        for h in [
            "",
            "=",
            ";",
            "novalue",
            "a=1; Domain=",
            "a=1; Max-Age=-5",
            "a=1; Expires=junk",
            "é=ü; Path=é",
        ] {
            j.set(h, "h", "", NOW);
        }
        j.load("x\ty\n\t\t\t\t\t\n#HttpOnly_\n", NOW);
        for i in 0..MAX_COOKIES + 10 {
            j.set(&format!("n{i}=v"), "h", "/", NOW);
        }
        assert!(j.len() <= MAX_COOKIES);
        j.set(&format!("big={}", "x".repeat(MAX_COOKIE)), "h", "/", NOW);
        assert!(!j.cookies().iter().any(|c| c.name == "big"));
    }
}
