//! What a run is asked to do: plain values, checked by the run itself. The command fills them
//! from its flags and the Python package from its keyword arguments; the ranges and conflicts
//! the command's flags enforce are theirs to check before a value gets here.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};

/// The default of [`Selection::concurrency`]: requests in flight at once in live mode.
pub const DEFAULT_CONCURRENCY: u16 = 256;

/// The default of [`Selection::max_digest_entries`].
pub const DEFAULT_MAX_DIGEST_ENTRIES: u64 = 2_000_000;

/// The default of [`MergeConfig::max_part_size`]: a part keeps every problem of its share, and
/// every valid log file with the JSON format (a few hundred bytes each: millions fit).
pub const DEFAULT_MAX_PART_BYTES: u64 = 1 << 30;

/// The report's format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// The AWS CLI's text.
    #[default]
    Text,
    /// A JSON report of every file and the summary.
    Json,
    /// One self-contained HTML evidence page (the JSON report embedded).
    Html,
}

/// Where the report goes.
#[derive(Clone, Debug, Default)]
pub enum Output {
    /// Standard output, as it is written.
    #[default]
    Stdout,
    /// A file, replaced only once the report is complete: a run that fails leaves it as it was.
    File(PathBuf),
    /// Memory, for a program that reads the report itself; filled once the report is complete.
    Buffer(ReportBuffer),
}

/// A report kept in memory ([`Output::Buffer`]); clones share the same bytes.
#[derive(Clone, Debug, Default)]
pub struct ReportBuffer(Arc<Mutex<Vec<u8>>>);

impl ReportBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The report written so far, leaving the buffer empty.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn put(&self, bytes: Vec<u8>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = bytes;
    }
}

/// What a program embedding trailproof may add to a validation, a mirror or a Lake check.
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

/// Which trail, which range, where: what `aws cloudtrail validate-logs` is told, plus
/// discovery, state and limits. Times are text as the command takes them (parsed by the run,
/// which names a bad one).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Selection {
    /// ARN of the trail (or give `trail_name`, `home_region` and `s3_bucket`).
    pub trail_arn: Option<String>,
    /// Name of the trail, when no ARN is given.
    pub trail_name: Option<String>,
    /// The trail's home region, when no ARN is given (default: `region`).
    pub home_region: Option<String>,
    /// Every account found under the trail's prefix.
    pub all_accounts: bool,
    /// Every source region found for each account.
    pub all_regions: bool,
    /// Only these accounts; implies discovery.
    pub accounts: Option<Vec<String>>,
    /// Only these source regions; implies discovery.
    pub regions: Option<Vec<String>>,
    /// Incremental checks: the file holding each chain's newest verified digest.
    pub state: Option<PathBuf>,
    /// Log files delivered on or after this UTC time.
    pub start_time: String,
    /// Log files delivered on or before this UTC time (default: now).
    pub end_time: Option<String>,
    /// Bucket the digest files were delivered to.
    pub s3_bucket: Option<String>,
    /// Key prefix of the trail's files.
    pub s3_prefix: Option<String>,
    /// Account whose logs to validate.
    pub account_id: Option<String>,
    /// Source region whose logs to validate; also the AWS region for API calls.
    pub region: Option<String>,
    /// Organization id of an organization trail.
    pub organization_id: Option<String>,
    /// AWS profile for live mode.
    pub profile: Option<String>,
    /// Requests in flight at once in live mode (1–512).
    pub concurrency: u16,
    /// Worker threads (0: one per core, 1: serial).
    pub threads: u16,
    /// Largest digest file read, in bytes, as stored and inflated.
    pub max_digest_size: u64,
    /// Largest number of log files one digest may list.
    pub max_digest_entries: u64,
    /// No progress display (shown only when stderr is a terminal, never with JSON).
    pub no_progress: bool,
    /// Cancel flag and progress of an embedding program.
    pub hooks: Hooks,
}

impl Selection {
    /// A selection from `start_time` on, every other value at the command's default.
    pub fn new(start_time: impl Into<String>) -> Self {
        Selection {
            trail_arn: None,
            trail_name: None,
            home_region: None,
            all_accounts: false,
            all_regions: false,
            accounts: None,
            regions: None,
            state: None,
            start_time: start_time.into(),
            end_time: None,
            s3_bucket: None,
            s3_prefix: None,
            account_id: None,
            region: None,
            organization_id: None,
            profile: None,
            concurrency: DEFAULT_CONCURRENCY,
            threads: 0,
            max_digest_size: trailproof::digest::DEFAULT_MAX_DIGEST_BYTES,
            max_digest_entries: DEFAULT_MAX_DIGEST_ENTRIES,
            no_progress: false,
            hooks: Hooks::new(),
        }
    }

    /// The worker pool `threads` asks for.
    pub fn parallelism(&self) -> trailproof::Parallelism {
        match self.threads {
            1 => trailproof::Parallelism::Serial,
            0 => trailproof::Parallelism::Auto,
            n => trailproof::Parallelism::Threads(usize::from(n)),
        }
    }

    /// The digest size limits asked for.
    pub fn limits(&self) -> trailproof::digest::Limits {
        trailproof::digest::Limits::new(
            self.max_digest_size,
            usize::try_from(self.max_digest_entries).unwrap_or(usize::MAX),
        )
    }
}

/// Where a validation reads.
#[derive(Clone, Debug)]
pub enum Source {
    /// S3 and CloudTrail, with the usual AWS credentials.
    Live,
    /// A local copy of the bucket.
    Archive(ArchiveSource),
}

/// A local copy: the digest bucket's objects under their keys, with `<key>.meta.json` sidecars.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ArchiveSource {
    /// The digest bucket's folder.
    pub dir: PathBuf,
    /// Other buckets of the archive, as `NAME=DIR` (a mapping without `=` is named as an
    /// error when the run starts).
    pub buckets: Vec<String>,
    /// Where the public keys come from.
    pub keys: ArchiveKeys,
}

impl ArchiveSource {
    /// The copy in `dir`, checked against `keys`.
    pub fn new(dir: impl Into<PathBuf>, keys: ArchiveKeys) -> Self {
        ArchiveSource {
            dir: dir.into(),
            buckets: Vec::new(),
            keys,
        }
    }
}

/// The public keys of an archive run: trust rests on them, so they come from apart from it.
#[derive(Clone, Debug)]
pub enum ArchiveKeys {
    /// None given: the run stops, saying how to give them.
    Missing,
    /// The JSON output of `aws cloudtrail list-public-keys`.
    File(PathBuf),
    /// CloudTrail's ListPublicKeys, with the usual AWS credentials.
    Fetch,
}

/// One shard of a run, for array jobs: its share of (chain, window) items goes to a part.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ShardConfig {
    /// `M/N` (1-based), or `auto` for the array job's index.
    pub shard: String,
    /// The number of shards, for `auto` on Kubernetes.
    pub shard_count: Option<u32>,
    /// Where the part goes: a file or `s3://BUCKET/KEY`; `{index}` is the shard number.
    pub partial: Option<String>,
    /// The length of the windows chains are cut into (default 30d).
    pub shard_window: Option<String>,
    /// The execution this shard belongs to.
    pub run_id: Option<String>,
}

impl ShardConfig {
    /// Shard `shard` (`M/N` or `auto`) writing its part to `partial`.
    pub fn new(shard: impl Into<String>, partial: impl Into<String>) -> Self {
        ShardConfig {
            shard: shard.into(),
            shard_count: None,
            partial: Some(partial.into()),
            shard_window: None,
            run_id: None,
        }
    }
}

/// A validation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ValidateConfig {
    /// Which trail, which range.
    pub selection: Selection,
    /// Where to read.
    pub source: Source,
    /// Every valid file in the report too.
    pub verbose: bool,
    /// The report's format.
    pub format: Format,
    /// Where the report goes.
    pub output: Output,
    /// Only this shard of the run, written as a part.
    pub shard: Option<ShardConfig>,
}

impl ValidateConfig {
    /// A text report of `selection` read from `source`, to standard output.
    pub fn new(selection: Selection, source: Source) -> Self {
        ValidateConfig {
            selection,
            source,
            verbose: false,
            format: Format::Text,
            output: Output::Stdout,
            shard: None,
        }
    }
}

/// A mirror: what a live validation reads, kept in a folder that an archive run checks.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MirrorConfig {
    /// Which trail, which range.
    pub selection: Selection,
    /// The folder to download into (created if needed).
    pub dir: PathBuf,
    /// Every valid file in the report too.
    pub verbose: bool,
    /// The format of the validation report (on standard output).
    pub format: Format,
}

impl MirrorConfig {
    /// A mirror of `selection` into `dir`, with a text report.
    pub fn new(selection: Selection, dir: impl Into<PathBuf>) -> Self {
        MirrorConfig {
            selection,
            dir: dir.into(),
            verbose: false,
            format: Format::Text,
        }
    }
}

/// A merge of a sharded run's parts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MergeConfig {
    /// The parts: files, or one `s3://BUCKET/PREFIX/` holding them all.
    pub parts: Vec<String>,
    /// The run whose parts to merge (default `TRAILPROOF_RUN_ID`).
    pub run_id: Option<String>,
    /// Every valid file in the report too.
    pub verbose: bool,
    /// The report's format.
    pub format: Format,
    /// Largest part read, in bytes.
    pub max_part_size: u64,
    /// AWS region for parts in S3.
    pub region: Option<String>,
    /// AWS profile for parts in S3.
    pub profile: Option<String>,
    /// Where the report goes.
    pub output: Output,
}

impl MergeConfig {
    /// A text merge of `parts` to standard output.
    pub fn new(parts: Vec<String>) -> Self {
        MergeConfig {
            parts,
            run_id: None,
            verbose: false,
            format: Format::Text,
            max_part_size: DEFAULT_MAX_PART_BYTES,
            region: None,
            profile: None,
            output: Output::Stdout,
        }
    }
}

/// A check of CloudTrail Lake query results: from a local folder or from S3 (exactly one).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct QueryResultsConfig {
    /// Local folder holding `result_sign.json` and the result files.
    pub local_export_path: Option<PathBuf>,
    /// Bucket the results were saved to.
    pub s3_bucket: Option<String>,
    /// Folder of the results in the bucket.
    pub s3_prefix: Option<String>,
    /// The JSON output of `aws cloudtrail list-public-keys` (default: ListPublicKeys).
    pub public_keys: Option<PathBuf>,
    /// Region whose keys to list; also the AWS region for API calls.
    pub region: Option<String>,
    /// AWS profile.
    pub profile: Option<String>,
    /// Worker threads hashing result files (0: one per core, 1: serial).
    pub threads: usize,
    /// The report's format.
    pub format: Format,
    /// Where the report goes.
    pub output: Output,
    /// Cancel flag and progress of an embedding program.
    pub hooks: Hooks,
}

impl QueryResultsConfig {
    /// No source yet, every other value at the command's default.
    pub fn new() -> Self {
        Self::default()
    }
}
