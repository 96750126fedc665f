//! Every example in the README runs, so the README cannot rot.
//!
//! Code blocks fenced as ```` ```sh example ```` (optionally `exit=N`) are
//! extracted and run one after another with bash, each in a fresh directory
//! with the freshly built `netkit` first on PATH. An example starts the local
//! peers it needs itself; whatever it leaves running is killed with its
//! process group when it ends. The exit status must be the one declared
//! (0 unless `exit=N`).

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{require_peer, Proc};

struct Example {
    line: usize,
    code: String,
    exit: i32,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut current: Option<Example> = None;
    for (n, line) in readme.lines().enumerate() {
        match &mut current {
            None => {
                let Some(info) = line.strip_prefix("```") else {
                    continue;
                };
                let words: Vec<&str> = info.split_whitespace().collect();
                if words.first() == Some(&"sh") && words.contains(&"example") {
                    let exit = words
                        .iter()
                        .find_map(|w| w.strip_prefix("exit="))
                        .map_or(0, |v| v.parse().expect("exit=N in a README example"));
                    current = Some(Example {
                        line: n + 1,
                        code: String::new(),
                        exit,
                    });
                }
            }
            Some(ex) => {
                if line.starts_with("```") {
                    found.extend(current.take());
                } else {
                    ex.code.push_str(line);
                    ex.code.push('\n');
                }
            }
        }
    }
    found
}

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_netkit"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn readme_examples_run() {
    if !require_peer("python3") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let all = examples(&readme);
    assert!(all.len() >= 20, "only {} README examples found", all.len());
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut failures = Vec::new();
    for ex in &all {
        let dir =
            std::env::temp_dir().join(format!("netkit-readme-{}-{}", std::process::id(), ex.line));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("set -eo pipefail\n{}", ex.code))
            .current_dir(&dir)
            .env("PATH", &path)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut p = Proc::spawn(&mut cmd);
        let out = p.stdout_bytes();
        let err = p.stderr_bytes();
        let status = p.wait_or_kill(Duration::from_secs(30));
        // The example's leftovers (background servers) go with its group, and
        // with them the last holders of its stdout and stderr.
        // SAFETY: kill(2) on the process group the example leads.
        unsafe { libc::kill(-(p.id() as i32), libc::SIGKILL) };
        let (out, err) = (out.text(), err.text());
        let code = status.and_then(|s| s.code());
        if code != Some(ex.exit) {
            failures.push(format!(
                "README.md:{}: exit {code:?}, expected {}\n--- script\n{}--- stdout\n{out}--- stderr\n{err}",
                ex.line, ex.exit, ex.code
            ));
        }
        if err.contains("panicked") {
            failures.push(format!("README.md:{}: a panic\n{err}", ex.line));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(
        failures.is_empty(),
        "{} README examples failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn examples_are_found() {
    let text =
        "a\n```sh example\necho hi\n```\n```sh\nnot run\n```\n```sh example exit=3\nexit 3\n```\n";
    let found = examples(text);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].code, "echo hi\n");
    assert_eq!(found[1].exit, 3);
    assert_eq!(found[1].line, 8);
}
