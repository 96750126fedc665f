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

/// The config step: `tcp connect|listen`, `unix connect|listen`, `-e`,
/// `ws listen` (with the chat) and `http listen` lift their flags once, in
/// their config module, and hand the drivers a config. The drivers never
/// name a clap (`cli::`) type; only the config modules and the families'
/// dispatch (`mod.rs`) do.
#[test]
fn listen_and_pipe_drivers_never_see_clap_types() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let drivers = [
        "tcp/connect.rs",
        "tcp/listen.rs",
        "tcp/server.rs",
        "tcp/session.rs",
        "unix/driver.rs",
        "exec/mod.rs",
        "ws/server.rs",
        "chat/mod.rs",
        "chat/api.rs",
        "chat/redis.rs",
        "httpd/serve.rs",
        "httpd/codec.rs",
        "httpd/files.rs",
        "httpd/respond.rs",
    ];
    let mut violations = Vec::new();
    for name in drivers {
        let file = src.join(name);
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("cli::") {
                violations.push(format!("src/{name}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "drivers take their config (tcp/config.rs, ws/listen_config.rs, httpd/config.rs), \
         never clap types:\n{}",
        violations.join("\n")
    );
}
