//! `unix connect` and `unix listen` on the TCP drivers, from their configs.

use crate::config::tcp::Serve;
use crate::error::{Exit, Result};
use crate::net::{self, unix, Listener};
use crate::output::Output;
use crate::tcp::listen;
use crate::tcp::session::{PipeOpts, PipeSession};

/// Connects to `path` and pipes it to stdin and stdout.
pub fn connect(path: String, opts: PipeOpts, out: &mut Output) -> Result<Exit> {
    let stream = unix::connect(&path)?;
    if out.verbose() {
        out.notice(&format!("connected to {path}"));
    }
    let session = |conn| {
        let mut session = PipeSession::new(conn, 0, opts);
        session.set_peer(net::Peer::Unix(path.as_str().into()));
        session.set_label(path.clone());
        session
    };
    listen::pipe(net::Stream::Unix(stream), session, !opts.recv_only, out)
}

/// Binds `path` and serves as `serve` says; the socket file it made goes
/// when the listener is done.
pub fn listen(path: &str, serve: Serve, out: &mut Output) -> Result<Exit> {
    let (listener, _cleanup) = unix::listen(path)?;
    listen::serve(Listener::unix(listener, path), serve, None, out)
}
