//! CloudTrail Lake signed query results: what `aws cloudtrail verify-query-results` (AWS CLI v2)
//! checks, plus what it does not.
//!
//! When a Lake query's results are saved to S3, CloudTrail writes `result_1.csv.gz`, … and one
//! `result_sign.json` in the query's folder. The sign file lists each result file with the
//! SHA-256 of its bytes *as stored* (gzip, not inflated), and signs those hashes joined by single
//! spaces, in the order listed, with RSA PKCS#1 v1.5 / SHA-256 under the CloudTrail public key
//! whose fingerprint it names. The key is looked up over `[queryCompleteTime, +20 days]`.
//!
//! Beyond the AWS CLI, [`verify_query_results`] reports every problem (the CLI stops at the
//! first), checks `hashAlgorithm` and `signatureAlgorithm`, that `queryCompleteTime` lies in the
//! key's validity, that no `fileName` leaves the folder, and reports objects in the folder that
//! the sign file does not list. The key's fingerprint is the MD5 of its DER by construction of
//! [`KeySet`](crate::KeySet): a `list-public-keys` entry whose `Fingerprint` is not is refused
//! when the keys are loaded.
//!
//! Like the digest core this is sans-IO: the sign file comes in as bytes, result files through
//! the small [`ResultFolder`] trait ([`StoreFolder`] over any
//! [`ObjectStore`](crate::ObjectStore), [`LocalFolder`] over a directory), keys through a
//! [`PublicKeySource`](crate::PublicKeySource). Tampering is a verdict in the [`LakeReport`],
//! never an `Err`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::validate::{Parallelism, Progress};
use crate::Error;

/// The sign file's name in the query's folder.
pub const SIGN_FILE_NAME: &str = "result_sign.json";
/// The only `hashAlgorithm` CloudTrail writes.
pub const HASH_ALGORITHM: &str = "SHA-256";
/// The only `signatureAlgorithm` CloudTrail writes.
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";
/// Keys are listed over `[queryCompleteTime, queryCompleteTime + 20 days]`, as the AWS CLI asks.
pub const KEY_WINDOW_DAYS: i64 = 20;
/// Largest sign file read (a sign file lists about 100 bytes per result file).
pub const MAX_SIGN_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Objects not listed by the sign file that the report names one by one; more are only counted.
pub const MAX_UNLISTED_NAMED: usize = 10_000;

mod folder;
mod report;
mod verify;

pub use folder::{folder_prefix, unsafe_name, LocalFolder, ResultFolder, StoreFolder};
pub use report::{
    FileOutcome, KeyUsed, LakeReport, Listing, ResultFile, SignFile, SignProblem, SignatureOutcome,
};
pub use verify::{verify_folder, verify_query_results};

/// How to verify.
#[derive(Clone)]
#[non_exhaustive]
pub struct LakeOptions {
    /// Region whose public keys to list; `None`: the sign file's `region`.
    pub region: Option<String>,
    /// Threads hashing result files.
    pub parallelism: Parallelism,
    /// List the folder and report objects the sign file does not list.
    pub check_unlisted: bool,
    /// Where the keys come from, for the report (`ListPublicKeys in REGION`, a file name).
    pub key_source: String,
    /// Told of each result file hashed: as [`Progress::logs_queued`] the files listed, as
    /// [`Progress::log_checked`] each file with its stored bytes.
    pub progress: Option<Arc<dyn Progress>>,
    /// Set by the caller to stop the verification (see [`LakeOptions::cancel`]).
    cancel: Option<Arc<AtomicBool>>,
}

impl std::fmt::Debug for LakeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeOptions")
            .field("region", &self.region)
            .field("parallelism", &self.parallelism)
            .field("check_unlisted", &self.check_unlisted)
            .field("key_source", &self.key_source)
            .field("progress", &self.progress.is_some())
            .field("cancel", &self.cancel.is_some())
            .finish()
    }
}

impl Default for LakeOptions {
    fn default() -> Self {
        LakeOptions {
            region: None,
            parallelism: Parallelism::Auto,
            check_unlisted: true,
            key_source: String::new(),
            progress: None,
            cancel: None,
        }
    }
}

impl LakeOptions {
    /// The defaults: the sign file's region, one thread per core, unlisted objects reported.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lists keys in `region` instead of the sign file's.
    pub fn region(mut self, region: Option<&str>) -> Self {
        self.region = region.map(str::to_owned);
        self
    }

    /// Sets the parallelism.
    pub fn parallelism(mut self, p: Parallelism) -> Self {
        self.parallelism = p;
        self
    }

    /// Turns the check for objects the sign file does not list on or off.
    pub fn check_unlisted(mut self, on: bool) -> Self {
        self.check_unlisted = on;
        self
    }

    /// Names the key source in the report.
    pub fn key_source(mut self, source: &str) -> Self {
        self.key_source = source.to_owned();
        self
    }

    /// Reports each result file hashed to `progress`.
    pub fn progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Stops the verification soon after `flag` becomes true (between files and within each
    /// one's reading); it then fails with [`Error::Cancelled`] and gives no report.
    pub fn cancel(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    }

    fn check_cancel(&self) -> Result<(), Error> {
        if self.cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
