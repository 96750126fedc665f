//! The committed man pages (`man/`) must match the clap definition.
//!
//! When this fails, regenerate them and commit the result:
//!     NETKIT_UPDATE_MAN=1 cargo test --test man

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

fn render_all() -> BTreeMap<String, Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("netkit-man-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    generate_to(netkit::cli::Cli::command(), &dir);
    let pages = read_pages(&dir);
    let _ = fs::remove_dir_all(&dir);
    pages
}

/// Writes a page per command, as `clap_mangen::generate_to` does, with the
/// help's closing text (`after_help`) turned into EXAMPLES and EXIT STATUS,
/// and ENVIRONMENT and SEE ALSO added.
fn generate_to(cmd: clap::Command, dir: &Path) {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let root = cmd.get_name().to_string();
    generate(&cmd, &[root], dir);
}

fn generate(cmd: &clap::Command, path: &[String], dir: &Path) {
    let children: Vec<String> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let mut p = path.to_vec();
        p.push(sub.get_name().to_string());
        generate(sub, &p, dir);
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    man.render(&mut page).unwrap();
    let page = String::from_utf8(page).unwrap();
    let after = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let extra = sections(&after, path, &children);
    // clap_mangen puts the closing text in an EXTRA section: ours replace it.
    let page = match page.find(".SH EXTRA\n") {
        Some(start) => {
            let end = page[start + 1..]
                .find("\n.SH ")
                .map_or(page.len(), |i| start + 1 + i + 1);
            format!("{}{extra}{}", &page[..start], &page[end..])
        }
        None => match page.find(".SH VERSION\n") {
            Some(at) => format!("{}{extra}{}", &page[..at], &page[at..]),
            None => format!("{page}{extra}"),
        },
    };
    fs::write(dir.join(format!("{}.1", path.join("-"))), page).unwrap();
}

/// Text for roff: backslashes and dashes escaped, no line starting a request.
fn roff_text(line: &str) -> String {
    let t = line.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

/// The documented exit codes (README, "Exit codes").
const EXIT_CODES: &[(&str, &str)] = &[
    ("0", "success"),
    ("1", "the thing checked is not so (a port closed, an \\-\\-until condition not met), or another runtime failure"),
    ("2", "usage: bad flag, bad port, bad address, unreadable input"),
    ("3", "name resolution failed"),
    ("4", "connection refused, unreachable, or reset"),
    ("5", "timed out (connect, idle, \\-\\-max\\-time, no UDP reply)"),
    ("6", "protocol error: malformed HTTP response, too many redirects, WebSocket upgrade refused or protocol violation by the peer"),
    ("7", "TLS error: handshake failed, certificate not trusted"),
    ("8", "HTTP status >= 400 with \\-\\-fail"),
    ("130", "interrupted (SIGINT), after a graceful close"),
];

/// EXAMPLES, EXIT STATUS, ENVIRONMENT, SEE ALSO (and NOTES for any other
/// closing text) for the command at `path`.
fn sections(after: &str, path: &[String], children: &[String]) -> String {
    let mut examples = Vec::new();
    let mut status = Vec::new();
    let mut notes = Vec::new();
    for para in after.split("\n\n") {
        let mut lines = para.lines();
        let first = lines.next().unwrap_or_default();
        if first.starts_with("Example") {
            examples.extend(lines.map(|l| l.strip_prefix("  ").unwrap_or(l).to_string()));
        } else if let Some(rest) = first
            .strip_prefix("Exit status:")
            .or_else(|| first.strip_prefix("Exit codes:"))
        {
            if path.len() > 1 {
                status.push(rest.trim().to_string());
                status.extend(lines.map(str::to_string));
            }
        } else if !para.trim().is_empty() {
            notes.extend(para.lines().map(str::to_string));
        }
    }
    let mut s = String::new();
    if !examples.is_empty() {
        s.push_str(".SH EXAMPLES\n.nf\n.RS 2\n");
        for l in &examples {
            s.push_str(&roff_text(l));
            s.push('\n');
        }
        s.push_str(".RE\n.fi\n");
    }
    if !notes.is_empty() {
        s.push_str(".SH NOTES\n");
        for l in &notes {
            s.push_str(&roff_text(l));
            s.push('\n');
        }
    }
    s.push_str(".SH \"EXIT STATUS\"\n");
    if !status.is_empty() {
        for l in &status {
            s.push_str(&roff_text(l));
            s.push('\n');
        }
        s.push_str(".PP\nEvery netkit command uses the same codes:\n");
    }
    for (code, meaning) in EXIT_CODES {
        s.push_str(&format!(".TP\n\\fB{code}\\fR\n{meaning}\n"));
    }
    s.push_str(".SH ENVIRONMENT\n");
    s.push_str(".TP\n\\fBNO_COLOR\\fR\nWhen set and not empty, no color (unless \\fB\\-\\-color always\\fR).\n");
    let family = path.get(1).map(String::as_str).unwrap_or("");
    let leaf = path.get(2).map(String::as_str).unwrap_or("");
    let proxied = matches!(family, "" | "http" | "poll")
        || (family, leaf) == ("ws", "connect")
        || (family == "ws" && leaf.is_empty());
    if proxied {
        s.push_str(
            ".TP\n\\fBHTTP_PROXY\\fR, \\fBHTTPS_PROXY\\fR, \\fBALL_PROXY\\fR\n\
             The proxy for http:// (and ws://) URLs, for https:// (and wss://) URLs, and for \
             both when the first two are unset, as curl reads them; the lower\\-case names \
             are read too.\n\
             .TP\n\\fBNO_PROXY\\fR\n\
             Comma\\-separated host names and domains reached without the proxy; \\fB*\\fR \
             means every host.\n",
        );
    }
    s.push_str(".SH \"SEE ALSO\"\n");
    let mut see: Vec<String> = Vec::new();
    if path.len() > 1 {
        see.push(path[..path.len() - 1].join("-"));
    }
    for c in children {
        see.push(format!("{}-{c}", path.join("-")));
    }
    let peers: &[&str] = match family {
        "tcp" => &["nc", "ncat", "socat"],
        "udp" => &["nc", "socat"],
        "http" => &["curl"],
        "poll" => &["curl", "watch"],
        "ws" => &["websocat", "wscat"],
        "completions" => &["bash", "zsh", "fish"],
        _ => &["nc", "ncat", "socat", "curl", "websocat", "wscat"],
    };
    see.extend(peers.iter().map(|p| p.to_string()));
    let refs: Vec<String> = see
        .iter()
        .map(|p| format!("\\fB{}\\fR(1)", p.replace('-', "\\-")))
        .collect();
    s.push_str(&refs.join(", "));
    s.push('\n');
    s
}

fn read_pages(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut pages = BTreeMap::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".1") {
                pages.insert(name, fs::read(entry.path()).unwrap());
            }
        }
    }
    pages
}

#[test]
fn man_pages_are_current() {
    let man_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man");
    let want = render_all();
    if std::env::var_os("NETKIT_UPDATE_MAN").is_some() {
        fs::create_dir_all(&man_dir).unwrap();
        for old in read_pages(&man_dir).keys() {
            fs::remove_file(man_dir.join(old)).unwrap();
        }
        for (name, body) in &want {
            fs::write(man_dir.join(name), body).unwrap();
        }
        return;
    }
    let have = read_pages(&man_dir);
    let stale: Vec<&String> = want
        .keys()
        .chain(have.keys())
        .filter(|name| want.get(*name) != have.get(*name))
        .collect();
    assert!(
        stale.is_empty(),
        "man pages are stale ({stale:?}); regenerate them with\n    \
         NETKIT_UPDATE_MAN=1 cargo test --test man\nand commit man/"
    );
    for family in ["netkit.1", "netkit-tcp.1", "netkit-completions.1"] {
        assert!(want.contains_key(family), "no man page {family}");
    }
}

#[test]
fn every_page_has_examples_exit_status_environment_and_see_also() {
    let man_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("man");
    let pages = read_pages(&man_dir);
    assert!(pages.len() >= 14, "{:?}", pages.keys());
    for (name, body) in &pages {
        let text = String::from_utf8_lossy(body);
        for section in [
            ".SH EXAMPLES\n",
            ".SH \"EXIT STATUS\"\n",
            ".SH ENVIRONMENT\n",
            ".SH \"SEE ALSO\"\n",
        ] {
            assert!(text.contains(section), "{name}: no {section:?}");
        }
        assert!(!text.contains(".SH EXTRA"), "{name}");
        assert!(text.contains("\\fB130\\fR\ninterrupted"), "{name}");
        assert!(text.contains("\\fBNO_COLOR\\fR"), "{name}");
        if name != "netkit.1" {
            assert!(
                text.contains("\\fBnetkit"),
                "{name}: SEE ALSO names no netkit page"
            );
        }
    }
    let ws = String::from_utf8_lossy(&pages["netkit-ws-connect.1"]);
    assert!(
        ws.contains("\\fBHTTP_PROXY\\fR"),
        "ws connect: no proxy variables"
    );
    assert!(
        ws.contains("\\fBwebsocat\\fR(1)"),
        "ws connect: no websocat in SEE ALSO"
    );
    let check = String::from_utf8_lossy(&pages["netkit-tcp-check.1"]);
    assert!(check.contains("\\fBnc\\fR(1)"));
    assert!(
        check.contains(".SH EXAMPLES\n.nf\n.RS 2\nnetkit tcp check db 5432 || exit 1\n"),
        "{check}"
    );
}
