//! Command-line flags: those of `aws cloudtrail validate-logs`, plus trailproof's own.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `--version`: the version and the commit built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TRAILPROOF_GIT_COMMIT"),
    ")"
);

/// `--version` in full: what this build can do.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TRAILPROOF_GIT_COMMIT"),
    ")\n",
    "features: archive, live (AWS SDK for Rust; TLS: rustls with aws-lc), sharded runs and merge, ",
    "text/json/html reports, CloudTrail Lake query results\n",
    "inflate: zlib-rs (flate2); signatures: SHA256withRSA (ring)\n",
    "reference: aws cloudtrail validate-logs of awscli 1.46.3",
);

/// Prove an AWS CloudTrail archive has not been tampered with.
#[derive(Debug, Parser)]
#[command(name = "trailproof", version = VERSION, long_version = LONG_VERSION, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate digest and log files, like `aws cloudtrail validate-logs`: from S3, or from a
    /// local copy with --archive.
    Validate(ValidateArgs),
    /// Download what a validation reads (digests with their signature metadata, the log files
    /// they list, the public keys) into a directory that `validate --archive` checks offline;
    /// validates while downloading. Re-running resumes.
    Mirror(MirrorArgs),
    /// Verify CloudTrail Lake query results saved to S3 (or copied to a folder) against their
    /// signed result_sign.json, like `aws cloudtrail verify-query-results`.
    VerifyQueryResults(VerifyQueryResultsArgs),
    /// Merge the partial reports of a sharded run (`validate --shard … --partial …`) into the
    /// report the single run prints: same lines, counts and exit status.
    Merge(MergeArgs),
    /// Verify each new digest as it lands: read S3 object events (from SQS or a file), check
    /// every new digest of the watched chains and its log files from the chain's stored head,
    /// move the head forward, and print one JSON line per digest and per finding.
    Watch(WatchArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish) to standard output.
    Completions(CompletionsArgs),
    /// Print the man page of trailproof (or of one subcommand), or write them all to a folder.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell, e.g. `trailproof completions bash > /etc/bash_completion.d/trailproof`.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// The subcommand whose page to print (default: trailproof(1) itself).
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir")]
    pub subcommand: Option<String>,
    /// Write every page (trailproof.1, trailproof-validate.1, …) into this folder instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The AWS CLI's text.
    Text,
    /// A JSON report of every file and the summary.
    Json,
    /// One self-contained HTML evidence page (timeline, findings, summary, the JSON report
    /// embedded).
    Html,
}

/// Which trail and which of its chains, where, and how hard to work: the flags `validate`,
/// `mirror` and `watch` share.
#[derive(Debug, Args)]
pub struct Trail {
    /// ARN of the trail, e.g. arn:aws:cloudtrail:us-east-1:123456789012:trail/my-trail (or give
    /// --trail-name, --home-region and --s3-bucket).
    #[arg(long, required_unless_present = "trail_name")]
    pub trail_arn: Option<String>,
    /// Name of the trail, when no ARN is given (needs --s3-bucket and --home-region or --region).
    #[arg(long, conflicts_with = "trail_arn", requires = "s3_bucket")]
    pub trail_name: Option<String>,
    /// The trail's home region, when no ARN is given (default: --region).
    #[arg(long, requires = "trail_name")]
    pub home_region: Option<String>,
    /// Every account found under the trail's prefix (organization trails: every member).
    #[arg(long)]
    pub all_accounts: bool,
    /// Every source region found for each account.
    #[arg(long)]
    pub all_regions: bool,
    /// Only these accounts (comma separated); implies discovery.
    #[arg(long, value_delimiter = ',', conflicts_with = "all_accounts")]
    pub accounts: Option<Vec<String>>,
    /// Only these source regions (comma separated); implies discovery.
    #[arg(long, value_delimiter = ',', conflicts_with = "all_regions")]
    pub regions: Option<Vec<String>>,
    /// Bucket the digest files were delivered to (default: the trail's; in archive mode, the
    /// bucket the digests name).
    #[arg(long)]
    pub s3_bucket: Option<String>,
    /// Key prefix of the trail's files (default: the trail's; in archive mode, found from the
    /// layout).
    #[arg(long)]
    pub s3_prefix: Option<String>,
    /// The account whose logs to check (organization trails: the member account).
    #[arg(long)]
    pub account_id: Option<String>,
    /// The source region whose logs to check (default: the trail's home region). Also the AWS
    /// region for API calls.
    #[arg(long)]
    pub region: Option<String>,
    /// Organization id of an organization trail (default: from AWS Organizations, or in archive
    /// mode from the layout).
    #[arg(long)]
    pub organization_id: Option<String>,
    /// AWS profile for live mode.
    #[arg(long)]
    pub profile: Option<String>,
    /// Requests in flight at once in live mode.
    #[arg(long, default_value_t = trailproof_run::DEFAULT_CONCURRENCY,
          value_parser = clap::value_parser!(u16).range(1..=512))]
    pub concurrency: u16,
    /// Worker threads (0: one per core, 1: serial); in live mode they hash what the requests
    /// bring.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub threads: u16,
    /// Largest digest file read, in bytes, as stored and inflated; a larger one is NOT CHECKED
    /// (exit 2), never called invalid.
    #[arg(long, value_name = "BYTES", default_value_t = trailproof::digest::DEFAULT_MAX_DIGEST_BYTES,
          value_parser = clap::value_parser!(u64).range(1024..=(16u64 << 30)))]
    pub max_digest_size: u64,
    /// Largest number of log files one digest may list; a digest listing more is NOT CHECKED.
    #[arg(long, value_name = "N", default_value_t = trailproof_run::DEFAULT_MAX_DIGEST_ENTRIES,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub max_digest_entries: u64,
}

/// Which trail, which range, where: the flags of `aws cloudtrail validate-logs`.
#[derive(Debug, Args)]
pub struct Selection {
    #[command(flatten)]
    pub trail: Trail,
    /// Incremental checks: read the newest verified digest of each chain from this file,
    /// validate only newer digests (proving they link to it), and record the new heads after a
    /// run that found them valid. Created when missing.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Validate log files delivered on or after this UTC time, e.g. 2015-01-08T05:21:42Z.
    #[arg(long)]
    pub start_time: String,
    /// Validate log files delivered on or before this UTC time (default: now).
    #[arg(long)]
    pub end_time: Option<String>,
    /// No progress display (it is shown only when stderr is a terminal, and never with
    /// --format json).
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Print every valid file too.
    #[arg(long)]
    pub verbose: bool,
    /// Validate a local copy: a directory holding the digest bucket's objects under their keys
    /// (what `aws s3 sync s3://BUCKET DIR` makes), with `<key>.meta.json` metadata sidecars.
    #[arg(long, value_name = "DIR")]
    pub archive: Option<PathBuf>,
    /// Another bucket of the archive, named by `s3Bucket` in digests (repeatable).
    #[arg(long, value_name = "NAME=DIR", requires = "archive")]
    pub archive_bucket: Vec<String>,
    /// Public keys: the JSON output of `aws cloudtrail list-public-keys`, obtained apart from
    /// the archive (trust rests on this file). Archive mode needs this or --fetch-public-keys.
    #[arg(long, value_name = "FILE", requires = "archive")]
    pub public_keys: Option<PathBuf>,
    /// Archive mode: get the public keys from CloudTrail's ListPublicKeys (any AWS account can
    /// read them; uses the usual AWS credentials, --profile and --region).
    #[arg(long, requires = "archive", conflicts_with = "public_keys")]
    pub fetch_public_keys: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the report to FILE instead of standard output. FILE is replaced only once the
    /// report is complete: a run that fails leaves it as it was, never half-written.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub shard: ShardArgs,
}

/// A share of a run, for array jobs (Slurm, AWS Batch, Kubernetes Indexed Jobs).
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Do shard M of N (1-based) of the run and write a partial report to --partial; `auto`
    /// reads the array job's index (Slurm, AWS Batch, Kubernetes with --shard-count). Needs
    /// --end-time. `trailproof merge` joins the parts.
    #[arg(
        long,
        value_name = "M/N|auto",
        requires = "partial",
        requires = "end_time"
    )]
    pub shard: Option<String>,
    /// The number of shards, for --shard auto on Kubernetes (Slurm and AWS Batch tell theirs).
    #[arg(long, value_name = "N", requires = "shard",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub shard_count: Option<u32>,
    /// Where the shard writes its partial report: a file or s3://BUCKET/KEY; `{index}` is
    /// replaced by the shard number.
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub partial: Option<String>,
    /// Cut each chain into windows of this length (e.g. 6h, 30d, 2w), the units of work shared
    /// out among shards [default: 30d].
    #[arg(long, value_name = "DURATION", requires = "shard")]
    pub shard_window: Option<String>,
    /// The execution this shard belongs to: every shard and the merge must name the same, so
    /// that a part left by an earlier run is never merged into a later one. Default: the array
    /// job's id (SLURM_ARRAY_JOB_ID, AWS Batch's array job id from AWS_BATCH_JOB_ID), else
    /// TRAILPROOF_RUN_ID (Kubernetes: the Job's uid through the downward API).
    #[arg(long, value_name = "ID", requires = "shard")]
    pub run_id: Option<String>,
}

/// The default `--max-part-size`: a part keeps every problem of its share, and every valid log
/// file with `--format json` (a few hundred bytes each: millions fit).
pub const DEFAULT_MAX_PART_BYTES: u64 = trailproof_run::DEFAULT_MAX_PART_BYTES;

/// What `trailproof merge` reads.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The partial reports: files, or one s3://BUCKET/PREFIX/ holding them all.
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<String>,
    /// The run whose parts to merge (the id its shards were given or took from the array job;
    /// default TRAILPROOF_RUN_ID). A part of any other run is refused, named.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Print every valid file too.
    #[arg(long)]
    pub verbose: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Largest partial report read, in bytes, from a file or from S3 alike; a larger one stops
    /// the merge (exit 2), named.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_PART_BYTES,
          value_parser = clap::value_parser!(u64).range(1024..=(64u64 << 30)))]
    pub max_part_size: u64,
    /// AWS region for reading parts from S3.
    #[arg(long)]
    pub region: Option<String>,
    /// AWS profile for reading parts from S3.
    #[arg(long)]
    pub profile: Option<String>,
    /// Write the report to FILE instead of standard output (replaced only once complete).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MirrorArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Directory to download into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// Print every valid file too.
    #[arg(long)]
    pub verbose: bool,
    /// Output format of the validation report.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// The flags of `aws cloudtrail verify-query-results`, plus trailproof's own.
#[derive(Debug, Args)]
pub struct VerifyQueryResultsArgs {
    /// Local folder holding result_sign.json and the result files.
    #[arg(long, value_name = "DIR")]
    pub local_export_path: Option<PathBuf>,
    /// Bucket the query results were saved to.
    #[arg(long)]
    pub s3_bucket: Option<String>,
    /// Folder of the results in the bucket (a `/` is appended when missing), e.g.
    /// AWSLogs/111122223333/CloudTrail-Lake/Query/2024/03/02/QUERY-ID/.
    #[arg(long)]
    pub s3_prefix: Option<String>,
    /// Public keys: the JSON output of `aws cloudtrail list-public-keys` (default: ListPublicKeys
    /// in the region).
    #[arg(long, value_name = "FILE")]
    pub public_keys: Option<PathBuf>,
    /// Region whose public keys to list (default: the sign file's `region`). Also the AWS region
    /// for API calls.
    #[arg(long)]
    pub region: Option<String>,
    /// AWS profile.
    #[arg(long)]
    pub profile: Option<String>,
    /// Worker threads hashing result files (0: one per core, 1: serial).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the report to FILE instead of standard output (replaced once complete).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// What `trailproof watch` watches, where it keeps the heads, and where events come from.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("events").required(true).args(["from_file", "from_sqs"])))]
pub struct WatchArgs {
    #[command(flatten)]
    pub trail: Trail,
    /// The head store: a file in the --state format, or s3://BUCKET/KEY (updated with
    /// conditional writes, so several workers can share it). Heads only move forward. For
    /// evidence, keep it in another account or bucket than the trail's.
    #[arg(long, value_name = "FILE|s3://BUCKET/KEY")]
    pub state: String,
    /// Where a chain with no head yet starts: its history from this UTC time up to the first
    /// digest announced is verified as `validate` would, e.g. 2024-03-01T00:00:00Z.
    #[arg(long)]
    pub start_time: String,
    /// Read events from a file, one JSON message per line (`-`: standard input): S3 event
    /// notifications, SNS envelopes or EventBridge events. For replays, backfills and tests.
    #[arg(long, value_name = "PATH|-", conflicts_with = "from_sqs")]
    pub from_file: Option<PathBuf>,
    /// Read events from this SQS queue (long polling). A message is deleted only once its
    /// result is recorded (head written, line printed, alert sent); one whose check could not
    /// be carried out is left for redelivery.
    #[arg(long, value_name = "QUEUE_URL")]
    pub from_sqs: Option<String>,
    /// Process the whole file, or what is queued (until a receive comes back empty), then
    /// exit: 0 all valid, 1 something invalid, 2 something not checked. Without it, an SQS
    /// watch runs until SIGTERM or SIGINT, finishing the message in hand.
    #[arg(long)]
    pub once: bool,
    /// Publish every result that is not valid to this SNS topic.
    #[arg(long, value_name = "ARN")]
    pub alert_sns_topic: Option<String>,
    /// How often every watched chain is listed from its head up to now (e.g. 30m, 1h, 3600s):
    /// digests whose events were missed are verified, and a chain whose digests stopped
    /// arriving without a signed stop is TAIL MISSING. With --once, one sweep after the events.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = trailproof_run::parse_duration)]
    pub sweep_interval: std::time::Duration,
}
