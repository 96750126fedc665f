//! The `netkit` binary: parse, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if let Some(e) = netkit::http::curl_json_misuse(std::env::args_os().skip(1)) {
        netkit::output::report_error(&e, false);
        return ExitCode::from(e.kind.code());
    }
    let cli = match netkit::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(netkit::usage_error(e).code()),
    };
    let mut out = netkit::output::Output::new(&cli.global);
    match netkit::run(cli, &mut out) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            // One line, and the exit code its typed causes give.
            let e = netkit::error::flatten(&e);
            out.error(&e);
            ExitCode::from(e.kind.code())
        }
    }
}
