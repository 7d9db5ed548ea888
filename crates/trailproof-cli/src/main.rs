//! `trailproof`: prove a CloudTrail archive has not been tampered with.
//!
//! Exit status: 0 everything valid, 1 something invalid, 2 the run could not be completed (bad
//! arguments, unreadable input, files that could not be checked).
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match trailproof_cli::parse(std::env::args_os()) {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("trailproof: {}", trailproof_cli::usage_message(&e));
            return ExitCode::from(2);
        }
    };
    match trailproof_cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = std::io::stdout().flush();
            eprintln!("trailproof: error: {}", trailproof_cli::error_message(&e));
            ExitCode::from(2)
        }
    }
}
