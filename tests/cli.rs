//! The command line itself: help, version, completions, usage errors.

use std::process::{Command, Output};

fn netkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netkit"))
        .args(args)
        .output()
        .expect("run netkit")
}

#[test]
fn version_and_help() {
    let out = netkit(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("netkit {}", env!("CARGO_PKG_VERSION"))
    );
    let help = netkit(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(text.contains("tcp"), "{text}");
    assert!(text.contains("completions"), "{text}");
    assert!(text.contains("Exit codes"), "{text}");
}

#[test]
fn every_command_has_examples_in_help() {
    for cmd in [
        &["tcp"][..],
        &["tcp", "connect"],
        &["tcp", "listen"],
        &["tcp", "check"],
        &["udp"],
        &["udp", "send"],
        &["udp", "recv"],
        &["http"],
        &["poll"],
        &["ws"],
        &["ws", "connect"],
        &["ws", "listen"],
        &["completions"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = netkit(&args);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Examples:") || text.contains("Example:"),
            "{cmd:?} --help has no examples"
        );
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = netkit(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains("netkit"), "{shell}: {script}");
        assert!(
            script.contains("connect"),
            "{shell} completes no subcommands"
        );
    }
}

#[test]
fn usage_errors_are_one_line_and_exit_2() {
    for args in [
        &["tcp", "connect", "localhost", "0"][..],
        &["tcp", "connect", "localhost", "65536"],
        &["tcp", "connect", "localhost", "abc"],
        &["tcp", "listen", "-1"],
        &["tcp", "check", "localhost", "90-80"],
        &[
            "tcp",
            "connect",
            "--connect-timeout",
            "soon",
            "localhost",
            "80",
        ],
        &["tcp", "frobnicate"],
        &["completions", "tcsh"],
    ] {
        let out = netkit(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("netkit: "), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn missing_subcommand_shows_help_and_exits_2() {
    let out = netkit(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}
