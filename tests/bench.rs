//! `netkit bench`: polling vs long polling vs WebSocket against its own
//! chat server (or a given one), one `bench_result` per transport.

mod common;

use std::process::Stdio;

use common::*;
use serde_json::Value;

fn results(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(parse_event)
        .filter(|v| v["event"] == "bench_result")
        .collect()
}

#[test]
fn all_transports_deliver_everything_once_and_report_the_trade_off() {
    let svg = std::env::temp_dir().join(format!("netkit-bench-{}.svg", std::process::id()));
    let (code, out, err) = run(
        &[
            "--json",
            "bench",
            "--transport",
            "all",
            "--clients",
            "4",
            "--messages",
            "30",
            "--rate",
            "100",
            "--interval",
            "100ms",
            "--svg",
            svg.to_str().unwrap(),
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "{err}");
    let rs = results(&out);
    let names: Vec<&str> = rs
        .iter()
        .map(|r| r["transport"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ws", "long-poll", "poll"]);
    for r in &rs {
        assert_eq!(r["clients"], 4, "{r}");
        assert_eq!(r["messages"], 30, "{r}");
        assert_eq!(r["lost"], 0, "{r}");
        assert_eq!(r["duplicated"], 0, "{r}");
        for k in [
            "latency_p50",
            "latency_p95",
            "latency_p99",
            "latency_max",
            "bytes_per_message",
        ] {
            assert!(r[k].as_f64().unwrap() > 0.0, "{k}: {r}");
        }
        let (p50, p99, max) = (
            r["latency_p50"].as_f64().unwrap(),
            r["latency_p99"].as_f64().unwrap(),
            r["latency_max"].as_f64().unwrap(),
        );
        assert!(p50 <= p99 && p99 <= max * 1.03, "{r}");
        assert!(
            r["requests"].is_u64() && r["empty_responses"].is_u64(),
            "{r}"
        );
    }
    // WebSocket sends no request; long polling about one per message;
    // polling's latency is about half its interval.
    assert_eq!(rs[0]["requests"], 0);
    assert!(
        rs[1]["requests"].as_u64().unwrap() >= 4 * 30 / 2,
        "{}",
        rs[1]
    );
    let poll_p50 = rs[2]["latency_p50"].as_f64().unwrap();
    assert!((0.01..0.2).contains(&poll_p50), "{}", rs[2]);
    let chart = std::fs::read_to_string(&svg).unwrap();
    let _ = std::fs::remove_file(&svg);
    assert!(
        chart.starts_with("<svg") && chart.contains("long-poll"),
        "{chart}"
    );
}

#[test]
fn human_mode_prints_a_table() {
    let (code, out, err) = run(
        &[
            "bench",
            "--transport",
            "ws",
            "--clients",
            "2",
            "--messages",
            "5",
            "--rate",
            "200",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "{err}");
    let text = String::from_utf8_lossy(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("transport") && lines[0].contains("p99"),
        "{text}"
    );
    assert!(lines[1].starts_with("ws "), "{text}");
}

#[test]
fn a_server_that_is_not_there_is_refused() {
    let port = free_port();
    let (code, _, err) = run(
        &[
            "bench",
            &format!("http://127.0.0.1:{port}/"),
            "--messages",
            "1",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 4, "{err}");
    assert_one_error_line(&err);
}

#[test]
fn a_mix_runs_its_groups_at_once_one_result_each() {
    let (code, out, err) = run(
        &[
            "--json",
            "bench",
            "--mix",
            "ws=5,long-poll=3",
            "--messages",
            "20",
            "--rate",
            "200",
        ],
        Stdio::null(),
    );
    assert_eq!(code, 0, "{err}");
    let rs = results(&out);
    let got: Vec<(&str, u64)> = rs
        .iter()
        .map(|r| {
            (
                r["transport"].as_str().unwrap(),
                r["clients"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, [("ws", 5), ("long-poll", 3)]);
    for r in &rs {
        assert_eq!(r["messages"], 20, "{r}");
        assert_eq!(r["lost"], 0, "{r}");
        assert_eq!(r["duplicated"], 0, "{r}");
        assert!(r["latency_max"].as_f64().unwrap() > 0.0, "{r}");
    }
    // The publisher's connection is counted once, with the first group.
    assert_eq!(rs[0]["connections"], 6);
    assert_eq!(rs[1]["connections"], 3);
    assert_eq!(rs[0]["requests"], 0);
    // Each long poller asks at least once, at most once per message and
    // once more.
    let asked = rs[1]["requests"].as_u64().unwrap();
    assert!((3..=3 * 21).contains(&asked), "{}", rs[1]);
}

#[test]
fn a_bad_mix_is_a_usage_error() {
    for mix in [
        "ws=0",
        "carrier-pigeon=3",
        "ws=2,ws=3",
        "ws",
        "ws=30000,poll=30000",
    ] {
        let (code, out, err) = run(&["bench", "--mix", mix], Stdio::null());
        assert_eq!(code, 2, "{mix}: {err}");
        assert!(out.is_empty(), "{mix}");
        assert!(err.contains("--mix"), "{mix}: {err}");
    }
    let (code, _, err) = run(&["bench", "--mix", "ws=2", "--clients", "3"], Stdio::null());
    assert_eq!(code, 2, "{err}");
}
