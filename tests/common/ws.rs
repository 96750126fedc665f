//! Shared harness for the WebSocket test binaries (ws, ws_habits,
//! ws_client_exact, ws_server_exact): the chat console on a pseudo-terminal.

use std::io::Write;
use std::process::{ChildStdin, Command, Stdio};

use super::{code, Lines, Proc, TIMEOUT};

/// Runs `argv` on a pseudo-terminal (stdin, stdout and stderr; the child
/// is a session leader with the terminal as its controlling terminal, so
/// Ctrl-C is a real SIGINT). Everything the terminal shows is copied to
/// the helper's stdout; lines `type HEX` on the helper's stdin are typed
/// into the terminal. At EOF on its stdin it waits for the child and
/// exits with its status (128+N for a signal).
const PTY_CHAT: &str = r#"
import os, pty, sys, threading
argv = sys.argv[1:]
pid, master = pty.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
def pump():
    out = sys.stdout.buffer
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        out.write(data)
        out.flush()
t = threading.Thread(target=pump, daemon=True)
t.start()
for line in sys.stdin:
    line = line.strip()
    if line.startswith("type "):
        os.write(master, bytes.fromhex(line[5:]))
_, status = os.waitpid(pid, 0)
t.join(2)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"#;

/// `netkit ARGS` on a pseudo-terminal (through python3's `pty`), with
/// NO_COLOR=1 and TERM=xterm: type into it, read what it shows.
pub struct Tty {
    proc: Proc,
    input: Option<ChildStdin>,
    /// What the terminal shows, line by line.
    pub screen: Lines,
}

impl Tty {
    pub fn start(args: &[&str]) -> Tty {
        let mut proc = Proc::spawn(
            Command::new("python3")
                .arg("-c")
                .arg(PTY_CHAT)
                .arg(env!("CARGO_BIN_EXE_netkit"))
                .args(args)
                .env("NO_COLOR", "1")
                .env("TERM", "xterm")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        let input = Some(proc.take_stdin());
        let screen = proc.stdout_lines();
        Tty {
            proc,
            input,
            screen,
        }
    }

    /// Types `bytes` into the terminal, as they are (b"\r" is Enter,
    /// b"\x04" Ctrl-D, b"\x03" Ctrl-C).
    pub fn type_bytes(&mut self, bytes: &[u8]) {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let input = self.input.as_mut().unwrap();
        writeln!(input, "type {hex}").unwrap();
        input.flush().unwrap();
    }

    /// Waits for a screen line containing `what` and returns it.
    pub fn wait_screen(&mut self, what: &str) -> String {
        self.screen.wait_for(TIMEOUT, what, |l| l.contains(what))
    }

    /// Closes the helper's stdin and waits for netkit: (exit code, all the
    /// terminal showed).
    pub fn finish(mut self) -> (i32, String) {
        drop(self.input.take());
        let status = self.proc.wait(TIMEOUT);
        let _ = self.screen.rest(TIMEOUT);
        (code(status), self.screen.all())
    }
}
