//! Errors: a check that could not be performed. Tampering is never an error, it is a verdict.

use std::fmt;
use std::path::PathBuf;

/// Why a run (or one step of it) could not be carried out.
///
/// Every variant names the object or input it concerns, so one line tells an operator what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A time given on the command line or in a file could not be understood.
    #[error("invalid time {input:?}: expected e.g. 2015-01-08T05:21:42Z, 20160129T19:00:00Z or 2024-01-01")]
    Time {
        /// The text that was given.
        input: String,
    },
    /// The requested range is empty.
    #[error("Invalid time range specified: start-time must occur before end-time")]
    TimeRange,
    /// The trail ARN does not look like `arn:aws:cloudtrail:REGION:ACCOUNT:trail/NAME`.
    #[error("Invalid trail ARN provided: {0}")]
    TrailArn(String),
    /// The public key list could not be used.
    #[error("public keys {source_name}: {reason}")]
    PublicKeys {
        /// Where the keys came from (a file path, an API call).
        source_name: String,
        /// What is wrong with them.
        reason: String,
    },
    /// No public key is valid in the window the reference CLI asks for.
    #[error("No public keys found between {start} and {end}")]
    NoPublicKeys {
        /// Start of the window, display format.
        start: String,
        /// End of the window, display format.
        end: String,
    },
    /// Listing or reading the storage failed for a reason other than a missing object.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A value or a combination of values the caller gave cannot be used: a flag that needs
    /// another, a name that is not of the form expected, no source of public keys. The message
    /// names the flag or value.
    #[error("{0}")]
    Usage(String),
    /// A local file or folder could not be read, listed, created or removed.
    #[error("{context}: {source}")]
    Io {
        /// The message before the cause, naming the path (e.g. `--archive DIR`).
        context: String,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A report, a partial report, the state file or a mirror's file could not be written.
    #[error("{context}: {source}")]
    Output {
        /// The message before the cause, naming what was written.
        context: String,
        /// Where it was written: a path, an `s3://` location, or `standard output` for the
        /// report when no file is named.
        target: String,
        /// The cause (for S3, the service's answer).
        source: std::io::Error,
    },
    /// The HTML evidence page could not be rendered from the JSON report.
    #[error("HTML rendering: {0}")]
    Render(String),
    /// An AWS configuration (credentials, profile, region) could not be loaded, or a CloudTrail
    /// or Organizations call the run depends on failed (S3 reads are [`Error::Store`]).
    #[error("{0}")]
    Aws(String),
    /// A thread pool or an async runtime could not be started.
    #[error("{context}: {source}")]
    Runtime {
        /// What could not be started.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A state file (`--state`) cannot be read, is not a trailproof state file, or cannot be
    /// written.
    #[error("state file {file}: {reason}")]
    StateFile {
        /// The file (a path, or the `s3://` location of a head store).
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A CloudTrail Lake query's sign file (`result_sign.json`) cannot be read at all (missing,
    /// unreadable, too large): nothing of the query could be checked.
    #[error("{location}: {cause}")]
    SignFile {
        /// Where it was looked for.
        location: String,
        /// Why it cannot be used.
        cause: String,
    },
    /// A state the code rules out was reached: a bug, reported rather than a panic.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A sharded run or a merge of its parts cannot go on.
    #[error("{0}")]
    Shard(#[from] crate::shard::ShardError),
    /// The caller stopped the run through [`Options::cancel`](crate::Options::cancel): nothing
    /// after that point was checked, so no verdict is given.
    #[error("cancelled")]
    Cancelled,
}

/// An error from an [`ObjectStore`](crate::store::ObjectStore).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The object does not exist (S3 `NoSuchKey`): for a digest or log file this becomes a
    /// "not found" verdict, not an error.
    #[error("s3://{bucket}/{key}: not found")]
    NotFound {
        /// Bucket of the object.
        bucket: String,
        /// Key of the object.
        key: String,
    },
    /// The bucket is not available from this store (archive mode without a directory for it).
    #[error("bucket {bucket}: {reason}")]
    NoSuchBucket {
        /// The bucket name.
        bucket: String,
        /// What would make it available.
        reason: String,
    },
    /// The object or listing exists but could not be read.
    #[error("s3://{bucket}/{key}: {cause}")]
    Unreadable {
        /// Bucket of the object or listing.
        bucket: String,
        /// Key (or listing prefix).
        key: String,
        /// The underlying cause.
        cause: String,
    },
    /// The object is larger than the limit the caller set.
    #[error("s3://{bucket}/{key}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// Bucket of the object.
        bucket: String,
        /// Key of the object.
        key: String,
        /// The limit in bytes.
        limit: u64,
    },
}

impl StoreError {
    /// Builds an [`StoreError::Unreadable`] from any displayable cause.
    pub fn unreadable(bucket: &str, key: &str, cause: impl fmt::Display) -> Self {
        StoreError::Unreadable {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            cause: cause.to_string(),
        }
    }
}
