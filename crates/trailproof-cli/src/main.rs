//! `trailproof`: prove a CloudTrail archive has not been tampered with.
//!
//! Exit status: 0 everything valid, 1 something invalid, 2 the run could not be completed (bad
//! arguments, unreadable input, files that could not be checked).
#![forbid(unsafe_code)]

mod archive;
mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("trailproof: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: cli::Cli) -> Result<u8, trailproof::Error> {
    match args.command {
        cli::Command::Validate(v) => archive::validate(v),
    }
}
