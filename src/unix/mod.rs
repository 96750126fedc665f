//! `netkit unix connect | listen PATH`: the TCP commands over a Unix domain
//! socket, like `nc -U` and `nc -lU`. `@name` is a Linux abstract name.
//! Both run on the TCP drivers: the one-client pipe, the multi-client
//! server core (`-k`, `--broker`, `--chat`, `--echo`) and exec (`-e`).

use crate::cli::{UnixCommand, UnixConnectArgs, UnixListenArgs};
use crate::error::{Exit, Result};
use crate::net::{self, unix, Listener};
use crate::output::Output;
use crate::tcp::session::PipeSession;
use crate::tcp::{config, listen};

pub fn run(cmd: UnixCommand, out: &mut Output) -> Result<Exit> {
    match cmd {
        UnixCommand::Connect(args) => connect(args, out),
        UnixCommand::Listen(args) => listen(args, out),
    }
}

fn connect(args: UnixConnectArgs, out: &mut Output) -> Result<Exit> {
    let stream = unix::connect(&args.path)?;
    if out.verbose() {
        out.notice(&format!("connected to {}", args.path));
    }
    let opts = config::pipe_opts(&args.pipe);
    let path = args.path;
    let session = |conn| {
        let mut session = PipeSession::new(conn, 0, opts);
        session.set_peer(net::Peer::Unix(path.as_str().into()));
        session.set_label(path.clone());
        session
    };
    listen::pipe(
        net::Stream::Unix(stream),
        session,
        !args.pipe.recv_only,
        out,
    )
}

fn listen(args: UnixListenArgs, out: &mut Output) -> Result<Exit> {
    let serve = config::Serve::from_args(&args.serve)?;
    let (listener, created) = unix::listen(&args.path)?;
    let result = listen::serve(Listener::unix(listener, &args.path), serve, None, out);
    if created {
        unix::remove(&args.path);
    }
    result
}
