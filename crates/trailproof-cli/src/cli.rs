//! Command-line flags: those of `aws cloudtrail validate-logs`, plus trailproof's own.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Prove an AWS CloudTrail archive has not been tampered with.
#[derive(Debug, Parser)]
#[command(name = "trailproof", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate digest and log files, like `aws cloudtrail validate-logs`.
    Validate(ValidateArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The AWS CLI's text.
    Text,
    /// A JSON report of every file and the summary.
    Json,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// ARN of the trail, e.g. arn:aws:cloudtrail:us-east-1:123456789012:trail/my-trail.
    #[arg(long)]
    pub trail_arn: String,
    /// Validate log files delivered on or after this UTC time, e.g. 2015-01-08T05:21:42Z.
    #[arg(long)]
    pub start_time: String,
    /// Validate log files delivered on or before this UTC time (default: now).
    #[arg(long)]
    pub end_time: Option<String>,
    /// Bucket the digest files were delivered to (default: the trail's; in archive mode, the
    /// bucket the digests name).
    #[arg(long)]
    pub s3_bucket: Option<String>,
    /// Key prefix of the trail's files (default: the trail's; in archive mode, found from the
    /// layout).
    #[arg(long)]
    pub s3_prefix: Option<String>,
    /// Account whose logs to validate (organization trails: the member account).
    #[arg(long)]
    pub account_id: Option<String>,
    /// Source region whose logs to validate (default: the trail's home region).
    #[arg(long)]
    pub region: Option<String>,
    /// Print every valid file too.
    #[arg(long)]
    pub verbose: bool,
    /// Validate a local copy: a directory holding the digest bucket's objects under their keys
    /// (what `aws s3 sync s3://BUCKET DIR` makes), with `<key>.meta.json` metadata sidecars.
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,
    /// Another bucket of the archive, named by `s3Bucket` in digests (repeatable).
    #[arg(long, value_name = "NAME=DIR")]
    pub archive_bucket: Vec<String>,
    /// Public keys: the JSON output of `aws cloudtrail list-public-keys` (default in archive
    /// mode: DIR/public-keys.json).
    #[arg(long, value_name = "FILE")]
    pub public_keys: Option<PathBuf>,
    /// Organization id of an organization trail (default in archive mode: found from the layout).
    #[arg(long)]
    pub organization_id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Worker threads (0: one per core, 1: serial).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}
