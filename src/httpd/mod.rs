//! `netkit http listen PORT`: the HTTP/1.1 server.
//!
//! Three ways to answer, one per run: print each request and answer a fixed
//! response (`--status`, `-H`, `--body`), `--echo` the request back as JSON,
//! or serve files under `--dir`. Requests are decoded by the sans-IO
//! [`RequestDecoder`](crate::proto::http_request::RequestDecoder); what to
//! answer is decided in [`respond`] from the request alone.
//!
//! It runs on the shared server core (`src/server/`): [`codec::HttpCodec`]
//! is the per-client protocol, [`codec::HttpRoom`] reports the requests.

pub mod codec;
pub mod files;
pub mod respond;
mod serve;

use crate::cli::HttpListenArgs;
pub use crate::config::httpd::{HttpListenConfig, HttpdConfig, HttpdMode};
use crate::error::{Exit, Result};
use crate::output::Output;

pub fn run(args: HttpListenArgs, out: &mut Output) -> Result<Exit> {
    serve::run(HttpListenConfig::from_args(args)?, out)
}
