//! A loopback fault proxy for the integration tests: it listens on
//! 127.0.0.1 (port 0), connects every client it accepts to one upstream
//! address, and forwards the bytes both ways through one [`Fault`] per
//! direction: pass them through, deliver them one byte per write, stall for a
//! while every N bytes, read them slowly in small chunks (so the sender meets
//! back-pressure), reset both connections after N bytes (SO_LINGER 0, so the
//! peers see RST, not FIN), or half-close early (after N bytes the receiver
//! gets a FIN while the other direction goes on). Two plain threads per
//! connection, std::net only. A FIN from one side is passed on as a FIN and
//! a reset as a reset, so a clean pass-through is invisible to both peers.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// What the proxy does to the bytes of one direction.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Forward as read (up to 64 KiB per write).
    Pass,
    /// Write each byte on its own, pausing `pause` after each.
    OneByte { pause: Duration },
    /// After every `every` bytes, forward nothing for `pause`.
    Stall { every: u64, pause: Duration },
    /// Read at most `chunk` bytes at a time and pause `pause` between reads.
    SlowRead { chunk: usize, pause: Duration },
    /// Forward `after` bytes, then reset both connections (RST both ways).
    Reset { after: u64 },
    /// Forward `after` bytes, then half-close toward the receiver (FIN); what
    /// the sender sends later is read and dropped. The other direction goes on.
    HalfClose { after: u64 },
}

/// Bytes each direction forwarded, over all connections.
#[derive(Default, Debug)]
pub struct Counts {
    /// Client to upstream.
    pub up: AtomicU64,
    /// Upstream to client.
    pub down: AtomicU64,
    /// Connections reset by a [`Fault::Reset`].
    pub resets: AtomicU64,
}

/// A running proxy; it stops accepting when dropped (connections already
/// proxied run until their peers close).
pub struct FaultProxy {
    pub port: u16,
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Proxies 127.0.0.1:`port` to `upstream`: `up` applies to the bytes
    /// from the client to the upstream, `down` to the bytes coming back.
    pub fn start(upstream: SocketAddr, up: Fault, down: Fault) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (counts.clone(), stop.clone());
        thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        // The upstream refusing is the test's business: the
                        // client sees a reset.
                        match TcpStream::connect(upstream) {
                            Ok(server) => connect_pair(client, server, up, down, &c),
                            Err(_) => reset(&client),
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(2));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        FaultProxy { port, counts, stop }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn up(&self) -> u64 {
        self.counts.up.load(Ordering::SeqCst)
    }

    pub fn down(&self) -> u64 {
        self.counts.down.load(Ordering::SeqCst)
    }

    pub fn resets(&self) -> u64 {
        self.counts.resets.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn connect_pair(client: TcpStream, server: TcpStream, up: Fault, down: Fault, c: &Arc<Counts>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let clone = |s: &TcpStream| s.try_clone().expect("clone a proxied socket");
    let both = || [clone(&client), clone(&server)];
    let (b1, b2) = (both(), both());
    let (c2, s2) = (clone(&client), clone(&server));
    let (cu, cd) = (c.clone(), c.clone());
    thread::spawn(move || pump(client, server, up, &cu.up, &cu, b1));
    thread::spawn(move || pump(s2, c2, down, &cd.down, &cd, b2));
}

/// Resets a connection now: SO_LINGER 0, then disconnect the socket
/// (connect to AF_UNSPEC), which sends RST whichever thread still holds a
/// descriptor of it, and wakes any read blocked on it.
pub fn reset(s: &TcpStream) {
    let sock = socket2::SockRef::from(s);
    let _ = sock.set_linger(Some(Duration::ZERO));
    // Connecting to AF_UNSPEC is Linux's way to abort a TCP socket in place.
    let addr = libc::sockaddr {
        sa_family: libc::AF_UNSPEC as libc::sa_family_t,
        sa_data: [0; 14],
    };
    // SAFETY: a valid descriptor and a sockaddr of the size given.
    unsafe {
        libc::connect(
            s.as_raw_fd(),
            &addr,
            std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
        );
    }
}

/// Forwards `from` to `to` under `fault` until EOF or an error. `both` are
/// the two sockets of the connection, reset together by [`Fault::Reset`].
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    fault: Fault,
    counter: &AtomicU64,
    counts: &Counts,
    both: [TcpStream; 2],
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent: u64 = 0;
    let mut next_stall = match fault {
        Fault::Stall { every, .. } => every,
        _ => u64::MAX,
    };
    loop {
        let mut want = buf.len();
        match fault {
            Fault::SlowRead { chunk, .. } => want = chunk.clamp(1, buf.len()),
            Fault::Reset { after } | Fault::HalfClose { after } => {
                if sent >= after {
                    if let Fault::Reset { .. } = fault {
                        counts.resets.fetch_add(1, Ordering::SeqCst);
                        reset(&both[0]);
                        reset(&both[1]);
                        return;
                    }
                    let _ = to.shutdown(Shutdown::Write);
                    // Drain what the sender still sends, so it never blocks.
                    while matches!(from.read(&mut buf), Ok(n) if n > 0) {}
                    return;
                }
                want = want.min((after - sent) as usize);
            }
            Fault::Stall { .. } => want = want.min((next_stall - sent) as usize),
            _ => {}
        }
        let n = match from.read(&mut buf[..want]) {
            Ok(0) => {
                // A FIN goes on as a FIN.
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // A reset (or any failure) goes on as a reset.
                reset(&to);
                return;
            }
        };
        let wrote = match fault {
            Fault::OneByte { pause } => buf[..n].iter().try_for_each(|b| {
                to.write_all(std::slice::from_ref(b))?;
                counter.fetch_add(1, Ordering::SeqCst);
                if !pause.is_zero() {
                    thread::sleep(pause);
                }
                Ok::<(), io::Error>(())
            }),
            _ => to.write_all(&buf[..n]).map(|()| {
                counter.fetch_add(n as u64, Ordering::SeqCst);
            }),
        };
        if wrote.is_err() {
            reset(&from);
            return;
        }
        sent += n as u64;
        match fault {
            Fault::SlowRead { pause, .. } => thread::sleep(pause),
            Fault::Stall { every, pause } if sent >= next_stall => {
                thread::sleep(pause);
                next_stall += every;
            }
            _ => {}
        }
    }
}
