//! `netkit unix connect | listen PATH`: the TCP commands over a Unix domain
//! socket, like `nc -U` and `nc -lU`. `@name` is a Linux abstract name.
//! Both run on the TCP drivers ([`driver`]): the one-client pipe, the
//! multi-client server core (`-k`, `--broker`, `--chat`, `--echo`) and exec
//! (`-e`). Here the flags are lifted into their configs, with the same
//! config step as `tcp connect | listen` ([`crate::config::tcp`]).

mod driver;

use crate::cli::UnixCommand;
use crate::config::tcp::{pipe_opts, Serve};
use crate::error::{Exit, Result};
use crate::output::Output;

pub fn run(cmd: UnixCommand, out: &mut Output) -> Result<Exit> {
    match cmd {
        UnixCommand::Connect(args) => driver::connect(args.path, pipe_opts(&args.pipe), out),
        UnixCommand::Listen(args) => {
            driver::listen(&args.path, Serve::from_args(&args.serve)?, out)
        }
    }
}
