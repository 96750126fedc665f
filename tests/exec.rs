//! `-e` / `--sh-exec` (ncat's): `tcp listen`, `unix listen` and `tcp
//! connect` bridge each connection to a new process. Clients are OpenBSD
//! `nc`, `socat` and std sockets; the exit status is checked in JSON and on
//! the terminal.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;

use common::*;

/// `nc -N 127.0.0.1 PORT < data`: what came back.
fn nc_roundtrip(port: u16, data: &[u8]) -> Vec<u8> {
    let input = TempFile::with("exec-in", data);
    let out = Command::new("nc")
        .args(["-N", "127.0.0.1", &port.to_string()])
        .stdin(input.stdio())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "nc: {:?}", out.status);
    out.stdout
}

#[test]
fn listen_exec_cat_echoes_exact_bytes_and_8_mib_to_nc_then_exits_0() {
    if !require_peer("nc") {
        return;
    }
    let mut l = JsonListener::start(&["-e", "cat"], Stdio::null());
    let data = random_bytes(8 * MIB + 3, 77);
    let back = nc_roundtrip(l.port, &data);
    assert_eq!(hash(&back), hash(&data));
    assert_same_bytes("echoed by cat through netkit", &data, &back);
    assert_eq!(code(l.proc.wait(TIMEOUT)), 0, "{}", l.events.dump());
    let exit = l.events.wait("exec_exit", |_| true);
    assert_eq!(exit["command"], "cat", "{exit}");
    assert_eq!(exit["code"], 0, "{exit}");
    assert!(exit["signal"].is_null(), "{exit}");
    assert!(exit["pid"].as_u64().unwrap() > 0, "{exit}");
    let closed = l.events.wait("closed", |_| true);
    assert_eq!(closed["sent"], data.len() as u64, "{closed}");
    assert_eq!(closed["received"], data.len() as u64, "{closed}");
    assert_eq!(closed["by"], "peer", "{closed}");

    // Small and binary: byte for byte.
    let mut l = JsonListener::start(&["-e", "cat"], Stdio::null());
    let mut c = l.connect();
    c.write_all(b"abc\x00\xff\r\n").unwrap();
    assert_eq!(read_n(&mut c, 7), b"abc\x00\xff\r\n");
    shut_write(&c);
    assert_eq!(read_all(&mut c), b"");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 0);
}

#[test]
fn exec_splits_its_string_at_whitespace_without_a_shell() {
    let mut l = JsonListener::start(&["-e", "  printf  %s-%s  a  $HOME "], Stdio::null());
    let mut c = l.connect();
    // No shell: `$HOME` is passed as it is.
    assert_eq!(read_all(&mut c), b"a-$HOME");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 0);
    let exit = l.events.wait("exec_exit", |_| true);
    assert_eq!(exit["command"], "printf  %s-%s  a  $HOME", "{exit}");
}

#[test]
fn sh_exec_exit_status_is_reported_and_makes_a_one_shot_exit_1() {
    let mut l = JsonListener::start(
        &["--sh-exec", "echo hi; echo oops >&2; exit 3"],
        Stdio::null(),
    );
    let mut c = l.connect();
    assert_eq!(read_all(&mut c), b"hi\n");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 1);
    let exit = l.events.wait("exec_exit", |_| true);
    assert_eq!(exit["code"], 3, "{exit}");
    assert_eq!(exit["command"], "echo hi; echo oops >&2; exit 3");
    // The child's stderr is netkit's.
    let err = l.stderr.text();
    assert!(err.contains("oops\n"), "{err}");

    // On the terminal: one line with the status.
    let mut cmd = netkit();
    cmd.args(["tcp", "listen", "0", "--sh-exec", "exit 3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut nk = Proc::spawn(&mut cmd);
    let mut err = nk.stderr_lines();
    let port = listening_port(&err.next_line(TIMEOUT).unwrap());
    let mut c = client(([127, 0, 0, 1], port).into());
    assert_eq!(read_all(&mut c), b"");
    assert_eq!(code(nk.wait(TIMEOUT)), 1);
    let line = err.wait_for(TIMEOUT, "the exit line", |l| l.contains("exited"));
    assert!(line.contains("`exit 3` (pid "), "{line}");
    assert!(line.trim_end().ends_with("exited with status 3"), "{line}");
}

#[test]
fn a_program_that_does_not_exist_is_one_line_and_exit_1() {
    let mut l = JsonListener::start(&["-e", "/nonexistent/prog"], Stdio::null());
    let mut c = l.connect();
    let _ = c.read(&mut [0u8; 16]);
    assert_eq!(code(l.proc.wait(TIMEOUT)), 1);
    let err = l.stderr.text();
    assert_one_error_line(&err);
    assert!(err.contains("exec /nonexistent/prog"), "{err}");
}

#[test]
fn keep_open_exec_gives_three_concurrent_clients_a_process_each() {
    let mut l = JsonListener::start(&["-k", "--sh-exec", "echo $$; exec cat"], Stdio::null());
    let mut clients: Vec<_> = (0..3).map(|_| l.connect()).collect();
    let mut pids = Vec::new();
    for c in &mut clients {
        let pid = read_line(c);
        pids.push(pid.trim().parse::<u32>().unwrap());
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 3, "one process per client: {pids:?}");
    // All three open at once, each echoing only its own bytes.
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("client {i}\n").as_bytes()).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(read_line(c), format!("client {i}\n"));
    }
    for c in &clients {
        shut_write(c);
    }
    for c in &mut clients {
        assert_eq!(read_all(c), b"");
    }
    let mut reported = Vec::new();
    for _ in 0..3 {
        let e = l.events.wait("exec_exit", |_| true);
        assert_eq!(e["code"], 0, "{e}");
        reported.push(e["pid"].as_u64().unwrap() as u32);
    }
    reported.sort_unstable();
    assert_eq!(reported, pids);
    assert!(l.proc.running(), "-k keeps listening");
    l.proc.signal("INT");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 130);
}

#[test]
fn keep_open_exec_respects_max_clients() {
    let mut l = JsonListener::start(&["-k", "--max-clients", "2", "-e", "cat"], Stdio::null());
    let (mut a, _) = l.connect_and_wait();
    let (mut b, _) = l.connect_and_wait();
    let mut c = l.connect();
    let rejected = l.events.wait("rejected", |_| true);
    assert_eq!(rejected["reason"], "server full (--max-clients 2)");
    assert_eq!(
        rejected["remote"],
        c.local_addr().unwrap().to_string().as_str()
    );
    assert_eq!(read_all(&mut c), b"", "the third client is closed");
    // The two still work; once one leaves, a new client gets a process.
    a.write_all(b"a\n").unwrap();
    assert_eq!(read_line(&mut a), "a\n");
    b.write_all(b"b\n").unwrap();
    assert_eq!(read_line(&mut b), "b\n");
    shut_write(&a);
    assert_eq!(read_all(&mut a), b"");
    l.events.wait("exec_exit", |_| true);
    let (mut d, _) = l.connect_and_wait();
    d.write_all(b"d\n").unwrap();
    assert_eq!(read_line(&mut d), "d\n");
    l.proc.signal("INT");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 130);
}

#[test]
fn sigint_terminates_and_reaps_the_children() {
    let mut l = JsonListener::start(
        &["-k", "--sh-exec", "echo $$; exec sleep 1000"],
        Stdio::null(),
    );
    let mut c = l.connect();
    let pid: u32 = read_line(&mut c).trim().parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    l.proc.signal("INT");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 130);
    let exit = l.events.wait("exec_exit", |_| true);
    assert_eq!(exit["pid"], pid, "{exit}");
    assert_eq!(exit["signal"], 15, "{exit}");
    assert!(exit["code"].is_null(), "{exit}");
    let closed = l.events.wait("closed", |_| true);
    assert_eq!(closed["by"], "interrupted", "{closed}");
    // Reaped by netkit (no zombie left for init) and gone.
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the child {pid} outlived netkit"
    );
}

#[test]
fn client_eof_closes_the_childs_stdin_and_its_eof_shuts_the_socket() {
    // `sort` answers only after its stdin ends: the client's half-close
    // must reach it, and its output must still come back.
    let mut l = JsonListener::start(&["-e", "sort"], Stdio::null());
    let mut c = l.connect();
    c.write_all(b"b\nc\na\n").unwrap();
    shut_write(&c);
    assert_eq!(read_all(&mut c), b"a\nb\nc\n");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 0);

    // The child's EOF first: the client sees EOF while it can still send.
    let mut l = JsonListener::start(
        &["--sh-exec", "exec >&-; read x; echo \"$x\" >&2"],
        Stdio::null(),
    );
    let mut c = l.connect();
    assert_eq!(read_all(&mut c), b"", "EOF before the client's half-close");
    c.write_all(b"late\n").unwrap();
    shut_write(&c);
    assert_eq!(code(l.proc.wait(TIMEOUT)), 0);
    let err = l.stderr.text();
    assert!(err.contains("late\n"), "{err}");
}

#[test]
fn tcp_connect_exec_bridges_nc_l_to_the_process() {
    if !require_peer("nc") {
        return;
    }
    let data = random_bytes(2 * MIB, 5);
    let input = TempFile::with("to-connect", &data);
    let (mut nc, port, _) = nc_listener(&["-N"], Stdio::piped(), input.stdio());
    let got = nc.stdout_bytes();
    let mut cmd = netkit();
    cmd.args([
        "--json",
        "tcp",
        "connect",
        "-e",
        "cat",
        "127.0.0.1",
        &port.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut nk = Proc::spawn(&mut cmd);
    let mut events = Events::new(nk.stdout_lines());
    assert_eq!(code(nk.wait(TIMEOUT)), 0, "{}", events.dump());
    nc.wait(TIMEOUT);
    assert_same_bytes("nc -l got back", &data, &got.join());
    let exit = events.wait("exec_exit", |_| true);
    assert_eq!(exit["code"], 0, "{exit}");
    // Nothing of the connection's bytes went to netkit's stdout.
    assert!(events.rest().iter().all(|v| v["event"] != "data"));
}

#[test]
fn tcp_connect_exec_into_a_netkit_listener_and_the_status_counts() {
    let mut l = JsonListener::start(&[], Stdio::piped());
    let mut stdin = l.proc.take_stdin();
    let feeder = thread::spawn(move || {
        stdin.write_all(b"hello\n").unwrap();
    });
    let (c, out, err) = run(
        &[
            "tcp",
            "connect",
            "--sh-exec",
            "read x; echo \"got $x\"; exit 5",
            "127.0.0.1",
            &l.port.to_string(),
        ],
        Stdio::null(),
    );
    feeder.join().unwrap();
    assert_eq!(c, 1, "stderr: {err}");
    assert!(out.is_empty());
    assert!(err.contains("exited with status 5"), "{err}");
    let d = l.events.wait("data", |_| true);
    assert_eq!(payload(&d), b"got hello\n");
}

#[test]
fn exec_flags_that_need_stdio_are_usage_errors_on_connect() {
    let (c, _, err) = run(
        &[
            "tcp",
            "connect",
            "-e",
            "cat",
            "--send-only",
            "127.0.0.1",
            "9",
        ],
        Stdio::null(),
    );
    assert_eq!(c, 2, "{err}");
    assert_one_error_line(&err);
    let (c, _, err) = run(
        &["tcp", "listen", "0", "--chat", "-e", "cat"],
        Stdio::null(),
    );
    assert_eq!(c, 2, "{err}");
    // Listener flags about stdin and stdout mean nothing with a process.
    for flag in [&["--hex"][..], &["--no-shutdown"], &["--quit-after", "1s"]] {
        let mut args = vec!["tcp", "listen", "0", "-e", "cat"];
        args.extend_from_slice(flag);
        let (c, _, err) = run(&args, Stdio::null());
        assert_eq!(c, 2, "{flag:?}: {err}");
        assert_one_error_line(&err);
        assert!(err.contains(flag[0]), "{err}");
    }
}

#[test]
fn unix_listen_exec_echoes_a_mebibyte_to_socat() {
    if !require_peer("socat") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(dir).unwrap();
    let sock = dir.join(format!("nk-exec-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let path = sock.to_str().unwrap();
    let mut cmd = netkit();
    cmd.args(["--json", "unix", "listen", path, "-e", "cat"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut nk = Proc::spawn(&mut cmd);
    let mut events = Events::new(nk.stdout_lines());
    let first = events.next(TIMEOUT).unwrap();
    assert_eq!(first["path"], path, "{first}");
    let data = random_bytes(MIB + 1, 8);
    let input = TempFile::with("unix-exec-in", &data);
    let out = Command::new("socat")
        .args(["-t", "30", "-", &format!("UNIX-CONNECT:{path}")])
        .stdin(input.stdio())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_same_bytes("echoed over the unix socket", &data, &out.stdout);
    assert_eq!(code(nk.wait(TIMEOUT)), 0);
    let connected = events.wait("connected", |_| true);
    assert_eq!(connected["remote"], path, "{connected}");
    let exit = events.wait("exec_exit", |_| true);
    assert_eq!(exit["code"], 0, "{exit}");
    assert!(!sock.exists(), "the socket file is left behind");
}

#[test]
fn a_flooding_process_does_not_starve_the_others_or_sigint() {
    let mut l = JsonListener::start(
        &[
            "-k",
            "--sh-exec",
            "read x; if [ \"$x\" = flood ]; then exec yes; else echo \"got $x\"; fi",
        ],
        Stdio::null(),
    );
    let mut a = l.connect();
    a.write_all(b"flood\n").unwrap();
    // The flood is on before the second client comes.
    assert_eq!(read_n(&mut a, 4), b"y\ny\n");
    let mut reader = a.try_clone().unwrap();
    let drain = thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        total
    });
    let mut b = l.connect();
    b.write_all(b"quick\n").unwrap();
    assert_eq!(read_line(&mut b), "got quick\n");
    l.proc.signal("INT");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 130);
    drain.join().unwrap();
}

#[test]
fn a_client_reset_terminates_its_process() {
    let mut l = JsonListener::start(
        &["-k", "--sh-exec", "echo $$; exec sleep 1000"],
        Stdio::null(),
    );
    let mut c = l.connect();
    let pid: u32 = read_line(&mut c).trim().parse().unwrap();
    socket2::SockRef::from(&c)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
    drop(c); // RST
    let exit = l.events.wait("exec_exit", |_| true);
    assert_eq!(exit["pid"], pid, "{exit}");
    assert_eq!(exit["signal"], 15, "{exit}");
    let closed = l.events.wait("closed", |_| true);
    assert_eq!(closed["by"], "error", "{closed}");
    assert!(l.proc.running(), "-k keeps listening");
    l.proc.signal("INT");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 130);
}

#[test]
fn idle_timeout_ends_a_silent_connection_and_its_process_with_exit_5() {
    let mut l = JsonListener::start(
        &["--idle-timeout", "300ms", "-e", "sleep 1000"],
        Stdio::null(),
    );
    let mut c = l.connect();
    assert_eq!(read_all(&mut c), b"");
    assert_eq!(code(l.proc.wait(TIMEOUT)), 5);
    let exit = l.events.wait("exec_exit", |_| true);
    assert_eq!(exit["signal"], 15, "{exit}");
    let closed = l.events.wait("closed", |_| true);
    assert_eq!(closed["by"], "idle", "{closed}");
    assert_eq!(closed["reason"], "no data either way for 300ms", "{closed}");
}
