//! The `trailproof` command as a library: the binary is argument parsing and error printing
//! around [`run`], and programs that embed trailproof (the Python package) run the very same
//! code path, flags, messages and report included, rather than a copy of it.
//!
//! Exit status: 0 everything valid, 1 something invalid, 2 the run could not be completed (bad
//! arguments, unreadable input, files that could not be checked).
#![forbid(unsafe_code)]

mod archive;
pub mod cli;
mod docs;
mod html;
mod lake;
mod live;
mod output;
mod progress;
mod shard;

use std::ffi::OsString;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use clap::Parser as _;

pub use clap;
pub use cli::Cli;

/// What a program embedding the command may add to a `validate`, `mirror` or
/// `verify-query-results` run.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Hooks {
    /// Stops the run soon after it becomes true; the run then fails with
    /// [`trailproof::Error::Cancelled`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// Told how the run advances (the progress display is not shown then).
    pub progress: Option<Arc<dyn trailproof::Progress>>,
}

impl Hooks {
    /// No cancel flag, no progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the run soon after `flag` becomes true.
    pub fn cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Reports advancement to `progress`.
    pub fn progress(mut self, progress: Arc<dyn trailproof::Progress>) -> Self {
        self.progress = Some(progress);
        self
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("cancel", &self.cancel.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Parses a command line, the program name first, as the binary does.
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    Cli::try_parse_from(args)
}

/// A usage error on one line, like every other error: clap's problem without its usage and
/// hint.
pub fn usage_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let problem: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    problem.join(" ")
}

/// An error on one line, as the binary prints it after `trailproof: error: `. Errors name
/// objects, paths and parts from the archive and quote S3's answers: every control and format
/// character is escaped as in the report's lines (a line break too), so that no name can end
/// the line, move the cursor or forge `trailproof: all good` after it.
pub fn error_message(e: &trailproof::Error) -> String {
    trailproof::report::escape_controls(e.to_string().trim())
}

/// Runs a parsed command and returns its exit status; `Err` when the run could not be carried
/// out (exit status 2).
pub fn run(args: Cli) -> Result<u8, trailproof::Error> {
    run_with(args, Hooks::new())
}

/// [`run`] with a cancel flag or progress for `validate`, `mirror` and
/// `verify-query-results` (whose result files count as log files).
pub fn run_with(args: Cli, hooks: Hooks) -> Result<u8, trailproof::Error> {
    match args.command {
        cli::Command::Validate(mut v) => {
            v.selection.hooks = hooks;
            let plan = match v.shard.shard {
                Some(_) => Some(shard::prepare(&v.shard, &v.selection)?),
                None => None,
            };
            if v.archive.is_some() {
                archive::validate(v, plan)
            } else {
                live::validate(v, plan)
            }
        }
        cli::Command::Mirror(mut m) => {
            m.selection.hooks = hooks;
            live::mirror(m)
        }
        cli::Command::VerifyQueryResults(mut q) => {
            q.hooks = hooks;
            lake::verify(q)
        }
        cli::Command::Merge(m) => shard::merge(m),
        cli::Command::Completions(c) => docs::completions(&c),
        cli::Command::Man(m) => docs::man(&m),
    }
}
