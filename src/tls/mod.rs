//! `netkit tls ...`: TLS as the thing looked at (certificates), rather
//! than as a transport (that is [`crate::net::tls`]).

pub mod check;

use crate::cli::TlsCommand;
use crate::error::{Exit, Result};
use crate::output::Output;

pub fn run(cmd: TlsCommand, out: &mut Output) -> Result<Exit> {
    match cmd {
        TlsCommand::Check(args) => check::run(
            crate::config::tls_check::TlsCheckConfig::from_args(args)?,
            out,
        ),
    }
}
