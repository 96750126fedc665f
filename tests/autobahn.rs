//! The Autobahn|Testsuite conformance cases (sections 1-7, 9 and 10), run by
//! `kosoku` against `netkit ws listen --echo` (server) and with kosoku as the
//! fuzzing server driving `netkit ws connect --echo` (client). Every case
//! must end OK, NON-STRICT or INFORMATIONAL; fail-fast UTF-8 (6.4.x) must
//! be strict OK.
//!
//! Sections 12 and 13 (permessage-deflate: 216 cases of 1,000 echoed
//! messages each) take minutes, so the `*_compression` tests run a
//! representative subset (every data set and every parameter set, small,
//! large and fragmented messages); `NETKIT_AUTOBAHN_FULL=1` runs all of
//! them (see benches/ws_autobahn_deflate.sh).

mod common;

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{netkit, parse_event, require_peer, Proc};
use serde_json::Value;

const SECTIONS: [&str; 9] = [
    "1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "9.*", "10.*",
];
/// Cases in those sections.
const CASES: usize = 301;

/// The permessage-deflate sections, whole.
const DEFLATE_FULL: [&str; 2] = ["12.*", "13.*"];
const DEFLATE_FULL_CASES: usize = 216;

/// A subset: each of the 5 data sets (12.x) and 7 parameter sets (13.x)
/// with 16-byte messages, 4 KiB ones, and 8 KiB ones fragmented by 256.
fn deflate_subset() -> Vec<String> {
    let mut cases = Vec::new();
    for (section, sets) in [(12, 5), (13, 7)] {
        for set in 1..=sets {
            for size in [1, 5, 11] {
                cases.push(format!("{section}.{set}.{size}"));
            }
        }
    }
    cases
}

/// The sections and case count to run for compression.
fn deflate_selection() -> (Vec<String>, usize) {
    if std::env::var_os("NETKIT_AUTOBAHN_FULL").is_some() {
        (
            DEFLATE_FULL.iter().map(|s| s.to_string()).collect(),
            DEFLATE_FULL_CASES,
        )
    } else {
        let subset = deflate_subset();
        let n = subset.len();
        (subset, n)
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netkit-autobahn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn find_index(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_index(&path) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|n| n == "index.json") {
            return Some(path);
        }
    }
    None
}

/// Checks a kosoku index: every case acceptable, 6.4.x strict. Returns
/// (strict OK, non-strict, informational).
fn check_report(dir: &Path, side: &str, expected: usize) -> (usize, usize, usize) {
    let index = find_index(dir).unwrap_or_else(|| panic!("no index.json under {}", dir.display()));
    let report: Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    let agents = report.as_object().unwrap();
    assert_eq!(
        agents.len(),
        1,
        "one agent expected: {:?}",
        agents.keys().collect::<Vec<_>>()
    );
    let cases = agents.values().next().unwrap().as_object().unwrap();
    let mut bad = BTreeMap::new();
    let (mut ok, mut non_strict, mut info) = (0, 0, 0);
    for (case, result) in cases {
        let behavior = result["behavior"].as_str().unwrap_or("?");
        let close = result["behaviorClose"].as_str().unwrap_or("?");
        match behavior {
            "OK" => ok += 1,
            "NON-STRICT" => non_strict += 1,
            "INFORMATIONAL" => info += 1,
            _ => {
                bad.insert(case.clone(), format!("{behavior}/{close}"));
            }
        }
        if !matches!(close, "OK" | "NON-STRICT" | "INFORMATIONAL") {
            bad.insert(case.clone(), format!("{behavior}/{close}"));
        }
        if case.starts_with("6.4.") && behavior != "OK" {
            bad.insert(
                case.clone(),
                format!("{behavior} (6.4.x must fail fast, strict OK)"),
            );
        }
    }
    assert!(bad.is_empty(), "{side}: failing Autobahn cases: {bad:?}");
    assert_eq!(cases.len(), expected, "{side}: expected {expected} cases");
    eprintln!("autobahn {side}: {ok} strict OK, {non_strict} non-strict, {info} informational");
    (ok, non_strict, info)
}

fn kosoku(mode: &str, addr: &str, outdir: &Path, sections: &[String]) -> Command {
    let mut cmd = Command::new("kosoku");
    cmd.arg("-m")
        .arg(mode)
        .arg("-o")
        .arg(outdir)
        .current_dir(outdir);
    for s in sections {
        cmd.arg("-i").arg(s);
    }
    cmd.arg(addr).stdout(Stdio::null()).stderr(Stdio::piped());
    cmd
}

fn run_server(name: &str, sections: &[String], expected: usize) {
    if !require_peer("kosoku") {
        return;
    }
    let dir = temp_dir(name);
    let mut server = Proc::spawn(
        netkit()
            .args([
                "--json",
                "ws",
                "listen",
                "--echo",
                "--bind",
                "127.0.0.1",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let mut lines = server.stdout_lines();
    let first = lines
        .next_line(common::TIMEOUT)
        .expect("no listening event");
    let port = parse_event(&first)["port"].as_u64().unwrap();
    let mut cmd = kosoku(
        "fuzzingclient",
        &format!("127.0.0.1:{port}"),
        &dir,
        sections,
    );
    cmd.arg("-p").arg("2");
    let mut run = Proc::spawn(&mut cmd);
    let status = run.wait(Duration::from_secs(900));
    let err = run.stderr_bytes().text();
    assert!(status.success(), "kosoku failed: {err}");
    assert!(server.running(), "the server died during the suite");
    check_report(&dir, name, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_client(name: &str, sections: &[String], expected: usize) {
    if !require_peer("kosoku") {
        return;
    }
    let dir = temp_dir(name);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _fuzzer = Proc::spawn(&mut kosoku("fuzzingserver", &addr, &dir, sections));
    let start = Instant::now();
    while TcpStream::connect(&addr).is_err() {
        assert!(
            start.elapsed() < common::TIMEOUT,
            "kosoku fuzzingserver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let count = netkit()
        .args([
            "ws",
            "connect",
            "-c",
            "1",
            &format!("ws://{addr}/getCaseCount"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        count.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    let n: usize = String::from_utf8_lossy(&count.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(n, expected);
    for case in 1..=n {
        let url = format!("ws://{addr}/runCase?case={case}&agent=netkit");
        let mut p = Proc::spawn(
            netkit()
                .args(["-q", "ws", "connect", "--echo", &url])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let status = p.wait(Duration::from_secs(120));
        let err = p.stderr_bytes().text();
        assert!(!err.contains("panicked"), "case {case}: {err}");
        // Exit codes vary by case (0 clean, 6 protocol violation, 1 abnormal):
        // the verdict is Autobahn's, below.
        assert!(status.code().is_some(), "case {case} died by a signal");
    }
    let update = netkit()
        .args([
            "-q",
            "ws",
            "connect",
            "-c",
            "1",
            &format!("ws://{addr}/updateReports?agent=netkit"),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(update.status.code().is_some());
    let start = Instant::now();
    while find_index(&dir).is_none() {
        assert!(start.elapsed() < common::TIMEOUT, "kosoku wrote no report");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    check_report(&dir, name, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sections() -> Vec<String> {
    SECTIONS.iter().map(|s| s.to_string()).collect()
}

#[test]
fn server_passes_autobahn() {
    run_server("server", &sections(), CASES);
}

#[test]
fn client_passes_autobahn() {
    run_client("client", &sections(), CASES);
}

#[test]
fn server_passes_autobahn_compression() {
    let (sections, n) = deflate_selection();
    run_server("server-deflate", &sections, n);
}

#[test]
fn client_passes_autobahn_compression() {
    let (sections, n) = deflate_selection();
    run_client("client-deflate", &sections, n);
}
