//! Architecture rules that hold by themselves.
//!
//! `src/proto/` is sans-IO: it never imports mio or std::net and never reads
//! the clock (time is passed in), so every codec can be tested without
//! sockets, whole and one byte at a time.
//!
//! Only the sinks in `src/output/` write to stdout and stderr: drivers emit
//! events, so `--json` carries everything and the human bytes are rendered
//! in one place.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn proto_is_sans_io() {
    let proto = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/proto");
    let mut files = Vec::new();
    rust_files(&proto, &mut files);
    assert!(!files.is_empty(), "no files under src/proto");
    let forbidden = [
        "mio",
        "std::net",
        "TcpStream",
        "UdpSocket",
        "Instant::now",
        "SystemTime::now",
        "std::fs",
        "std::io::stdin",
    ];
    let mut violations = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in forbidden {
                let hit = if word == "mio" {
                    code.contains("mio::") || code.contains("use mio")
                } else {
                    code.contains(word)
                };
                if hit {
                    violations.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "src/proto must stay sans-IO (no mio, std::net or clock):\n{}",
        violations.join("\n")
    );
}

#[test]
fn main_rs_stays_tiny() {
    let main = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/main.rs");
    let lines = fs::read_to_string(main).unwrap().lines().count();
    assert!(
        lines <= 40,
        "src/main.rs has {lines} lines; logic belongs in the library"
    );
}

/// Code outside `src/output/` never writes to stdout or stderr itself: no
/// print macros, no `io::stdout()`/`io::stderr()` handles, no raw `write(2)`
/// and no direct calls of the sinks' writers. (clap's own help and version
/// output, `err.print()` in `lib.rs`, is clap writing, not netkit.)
#[test]
fn only_the_sinks_write_to_stdout_and_stderr() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let output = src.join("output");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let forbidden = [
        "print!(",
        "println!(",
        "eprint!(",
        "eprintln!(",
        "dbg!(",
        "io::stdout()",
        "io::stderr()",
        "libc::write(",
        "STDOUT_FILENO",
        "STDERR_FILENO",
        "write_stdout(",
        "write_stderr(",
    ];
    let mut violations = Vec::new();
    for file in files.iter().filter(|f| !f.starts_with(&output)) {
        let text = fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if forbidden.iter().any(|w| code.contains(w)) {
                violations.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "only src/output/ writes to stdout and stderr (emit an Event):\n{}",
        violations.join("\n")
    );
}

/// One config step (ripgrep's flags → `HiArgs`): `src/config/` lifts the
/// flags of every command into a config once (modes as enums, TLS
/// settings, the request, terminals, every usage error), and the drivers
/// take that config, never a clap type, so none can be started with an
/// inconsistent one. Only the parser, the config step, the dispatch
/// (`lib.rs`, `main.rs` and each family's `mod.rs`, which match the
/// subcommand and call `from_args`), the output set-up (`--color`, `-q`,
/// `-v`) and `net`'s re-export of `Family` name `cli::`.
#[test]
fn drivers_never_see_clap_types() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let allowed = |rel: &str| {
        rel == "cli.rs"
            || rel == "lib.rs"
            || rel == "main.rs"
            || rel == "output/mod.rs"
            || rel == "net/mod.rs"
            || rel.starts_with("config/")
            || (rel.ends_with("/mod.rs")
                && ["tcp/", "udp/", "ws/", "tls/", "unix/", "httpd/"]
                    .iter()
                    .any(|f| rel.starts_with(f)))
    };
    let mut violations = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if allowed(&rel) {
            continue;
        }
        let text = fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("cli::") || code.contains("clap::") {
                violations.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "drivers take their config (src/config/), never clap types:\n{}",
        violations.join("\n")
    );
}

/// `fuzz/` compiles `src/proto` by path with its own dependency list: a
/// crate of netkit's that `src/proto` starts using must be added there too,
/// or CI's fuzz build fails after every test passed.
#[test]
fn the_fuzz_crate_has_every_crate_proto_uses() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let deps = |path: &str| -> Vec<String> {
        let text = fs::read_to_string(root.join(path)).unwrap();
        let section = text
            .split("\n[dependencies]\n")
            .nth(1)
            .unwrap_or("")
            .split("\n[")
            .next()
            .unwrap_or("")
            .to_string();
        section
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().replace('-', "_")))
            .filter(|k| !k.is_empty() && !k.starts_with('#'))
            .collect()
    };
    let netkit = deps("Cargo.toml");
    let fuzz = deps("fuzz/Cargo.toml");
    assert!(
        netkit.contains(&"mio".to_string()),
        "read no dependencies: {netkit:?}"
    );
    let mut files = Vec::new();
    rust_files(&root.join("src/proto"), &mut files);
    let mut missing = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap();
        for krate in &netkit {
            let used = text.lines().any(|line| {
                let code = line.split("//").next().unwrap_or("");
                code.match_indices(&format!("{krate}::")).any(|(at, _)| {
                    at == 0
                        || !code[..at]
                            .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                })
            });
            if used && !fuzz.contains(krate) {
                missing.push(format!("{}: {krate}", file.display()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "crates src/proto uses but fuzz/Cargo.toml does not list:\n{}",
        missing.join("\n")
    );
}
