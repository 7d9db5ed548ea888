//! `trailproof`: prove a CloudTrail archive has not been tampered with.
//!
//! Exit status: 0 everything valid, 1 something invalid, 2 the run could not be completed (bad
//! arguments, unreadable input, files that could not be checked).
#![forbid(unsafe_code)]

mod archive;
mod cli;
mod html;
mod lake;
mod live;
mod output;
mod progress;
mod shard;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = match cli::Cli::try_parse() {
        Ok(args) => args,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line, like every other error: the problem without clap's usage and hint.
            let text = e.render().to_string();
            let problem: Vec<&str> = text
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("trailproof: {}", problem.join(" "));
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = std::io::stdout().flush();
            // One line, whatever the cause's own formatting (SDK errors span several).
            let message: Vec<String> = e
                .to_string()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            eprintln!("trailproof: error: {}", message.join("; "));
            ExitCode::from(2)
        }
    }
}

fn run(args: cli::Cli) -> Result<u8, trailproof::Error> {
    match args.command {
        cli::Command::Validate(v) if v.archive.is_some() => archive::validate(v),
        cli::Command::Validate(v) => live::validate(v),
        cli::Command::Mirror(m) => live::mirror(m),
        cli::Command::VerifyQueryResults(q) => lake::verify(q),
        cli::Command::Merge(m) => shard::merge(m),
    }
}
