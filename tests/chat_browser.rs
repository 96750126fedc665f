//! The chat page in a real browser: headless Chromium driven by selenium
//! (tests/browser/chat.py). One page on WebSocket, one on long polling, one
//! on polling exchange messages with a `netkit ws connect` client in every
//! direction; each sees all messages once, in one order. Screenshots go to
//! target/ (not committed).

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

fn have_selenium() -> bool {
    Command::new("python3")
        .args(["-c", "import selenium"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn pages_on_three_transports_and_a_cli_client_see_every_message_once_in_order() {
    if !require_peer("chromedriver") || !require_peer("python3") {
        return;
    }
    if !have_selenium() {
        assert!(!in_ci(), "python3 selenium is required under CI=true");
        eprintln!("skipping: python3 selenium not installed");
        return;
    }
    let mut cmd = netkit();
    cmd.args([
        "--json",
        "ws",
        "listen",
        "--chat",
        "--bind",
        "127.0.0.1",
        "0",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let (mut server, _events, _err, _, port) = spawn_listening(&mut cmd);

    let mut cli = netkit();
    cli.args(["ws", "connect", &format!("ws://127.0.0.1:{port}/?name=cli")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut cli = Proc::spawn(&mut cli);
    let mut say = cli.take_stdin();
    let mut heard = cli.stdout_lines();
    let w = heard.next_line(TIMEOUT).expect("a welcome");
    assert!(w.starts_with("*** welcome, cli"), "{w}");

    // A second server that refuses WebSockets on `/`: the page falls back.
    let mut cmd = netkit();
    cmd.args(["--json", "ws", "listen", "--chat", "--path", "/elsewhere"])
        .args(["--bind", "127.0.0.1", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (mut no_ws, _no_ws_events, _no_ws_err, _, no_ws_port) = spawn_listening(&mut cmd);

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("target");
    let mut py = Command::new("python3");
    py.arg(root.join("tests/browser/chat.py"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(&shots)
        .arg(format!("http://127.0.0.1:{no_ws_port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut py = Proc::spawn(&mut py);
    let mut py_out = py.stdout_lines();
    let py_err = py.stderr_bytes();
    match py_out.next_line(std::time::Duration::from_secs(120)) {
        Some(l) if l == "READY\n" => {}
        other => {
            let status = py.wait(TIMEOUT);
            panic!(
                "the browser script: {other:?} ({status}): {}",
                py_err.text()
            );
        }
    }
    say.write_all(b"from cli\n").unwrap();
    say.flush().unwrap();
    let status = py.wait(std::time::Duration::from_secs(180));
    py_out.rest(TIMEOUT);
    let out = py_out.all();
    assert!(
        status.success() && out.ends_with("FALLBACK OK\nDONE\n"),
        "the browser script failed ({status}): {out}\n{}",
        py_err.text()
    );
    // The cli client heard every page, in order (not itself: plain chat).
    let mut lines = Vec::new();
    while lines.len() < 3 {
        let l = heard.next_line(TIMEOUT).expect("the pages' messages");
        if l.starts_with('<') {
            lines.push(l);
        }
    }
    assert_eq!(
        lines,
        ["<pw> from pw\n", "<pl> from pl\n", "<pp> from pp\n"],
        "{out}"
    );
    eprintln!("browser stats: {out}");
    drop(say);
    let _ = cli.wait_or_kill(TIMEOUT);
    for p in [&mut server, &mut no_ws] {
        p.signal("INT");
        let _ = p.wait_or_kill(TIMEOUT);
    }
}
