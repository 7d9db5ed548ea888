//! trailproof's runs, configured by plain values: what the `trailproof` command does once its
//! flags are parsed, and what the Python package does with its keyword arguments, on one code
//! path (messages, reports and exit statuses included).
//!
//! The verification itself is the `trailproof` crate's (sans-IO); this crate chooses and opens
//! the store (a local copy, S3, a mirror), finds an archive's layout, loads the keys, discovers
//! chains, keeps the state file, cuts sharded runs and merges their parts, checks Lake query
//! results, and writes the text, JSON and HTML reports.
//!
//! A run returns its exit status: 0 everything valid, 1 something invalid, 2 something could
//! not be checked; `Err` when it could not be carried out at all.
//!
//! ```
//! use std::path::PathBuf;
//! use trailproof_run::{ArchiveKeys, ArchiveSource, Format, Output, ReportBuffer, Selection};
//! use trailproof_run::{Source, ValidateConfig};
//!
//! let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/valid-six-hours");
//! let mut selection = Selection::new("2024-03-01T00:00:00Z");
//! selection.trail_arn =
//!     Some("arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events".to_owned());
//! selection.end_time = Some("2024-03-01T06:00:00Z".to_owned());
//! let source = Source::Archive(ArchiveSource::new(
//!     scenario.join("archive"),
//!     ArchiveKeys::File(scenario.join("public-keys.json")),
//! ));
//! let report = ReportBuffer::new();
//! let mut config = ValidateConfig::new(selection, source);
//! config.format = Format::Json;
//! config.output = Output::Buffer(report.clone());
//!
//! let exit_code = trailproof_run::validate(config)?;
//! assert_eq!(exit_code, 0);
//! let json: serde_json::Value = serde_json::from_slice(&report.take()).unwrap();
//! assert_eq!(json["verdict"], "valid");
//! # Ok::<(), trailproof::Error>(())
//! ```
#![forbid(unsafe_code)]

mod archive;
mod config;
mod html;
mod lake;
mod live;
mod output;
mod progress;
mod shard;
mod watch;

pub use config::{
    ArchiveKeys, ArchiveSource, Format, Hooks, MergeConfig, MirrorConfig, Output,
    QueryResultsConfig, ReportBuffer, Selection, ShardConfig, Source, ValidateConfig,
    DEFAULT_CONCURRENCY, DEFAULT_MAX_DIGEST_ENTRIES, DEFAULT_MAX_PART_BYTES,
};

pub use watch::{
    parse_duration, DurationError, EventSource, Handled, Outcome as WatchOutcome,
    SessionConfig as WatchSessionConfig, WatchConfig, WatchSession, DEFAULT_SWEEP_INTERVAL,
};

use trailproof::Error;

/// `validate`: one chain or every chain found, from a local copy or from S3, or one shard of
/// such a run (which writes a partial report and returns 0).
pub fn validate(config: ValidateConfig) -> Result<u8, Error> {
    let plan = match &config.shard {
        Some(shard) => Some(shard::prepare(shard, &config.selection)?),
        None => None,
    };
    match config.source {
        Source::Archive(ref archive) => {
            let archive = archive.clone();
            archive::validate(config, archive, plan)
        }
        Source::Live => live::validate(config, plan),
    }
}

/// `mirror`: validates from S3 while keeping a copy of what was read.
pub fn mirror(config: MirrorConfig) -> Result<u8, Error> {
    live::mirror(config)
}

/// `merge`: the report of a sharded run, from its parts.
pub fn merge(config: MergeConfig) -> Result<u8, Error> {
    shard::merge(config)
}

/// `verify-query-results`: CloudTrail Lake query results against their signature file.
pub fn verify_query_results(config: QueryResultsConfig) -> Result<u8, Error> {
    lake::verify(config)
}

/// `watch`: verifies each new digest of the watched chains as events announce it, from the
/// chain's stored head, and moves the head forward; one JSON line per digest and finding.
pub fn watch(config: WatchConfig) -> Result<u8, Error> {
    watch::watch(config)
}

/// An error on one line, as the command prints it after `trailproof: error: `. Errors name
/// objects, paths and parts from the archive and quote S3's answers: every control and format
/// character is escaped as in the report's lines (a line break too), so that no name can end
/// the line, move the cursor or forge `trailproof: all good` after it.
pub fn error_message(e: &Error) -> String {
    trailproof::report::escape_controls(e.to_string().trim())
}
