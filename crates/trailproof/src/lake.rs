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
//! the small [`ResultFolder`] trait ([`StoreFolder`] over any [`ObjectStore`], [`LocalFolder`]
//! over a directory), keys through a [`PublicKeySource`]. Tampering is a verdict in the
//! [`LakeReport`], never an `Err`.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rayon::prelude::*;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::store::{ObjectReader, ObjectStore};
use crate::time::display;
use crate::validate::{Parallelism, Progress, PublicKeySource};
use crate::{Error, Status, StoreError, Verdict};

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

/// The folder a query's results were saved to.
pub trait ResultFolder: Sync {
    /// How `name` is shown in the report: `s3://bucket/prefix/name`, or a path.
    fn location(&self, name: &str) -> String;

    /// Opens the object `name` of the folder (a name already checked not to leave it).
    /// [`StoreError::NotFound`] when it does not exist; any other error means it could not be read.
    fn open(&self, name: &str) -> Result<ObjectReader, StoreError>;

    /// Every object in the folder, below it included, as names relative to it.
    fn list(&self) -> Result<Vec<String>, StoreError>;
}

/// A query folder in an [`ObjectStore`]: the objects under `prefix` in `bucket` (S3, memory, or a
/// local copy of a bucket).
#[derive(Clone, Copy)]
pub struct StoreFolder<'a> {
    store: &'a dyn ObjectStore,
    bucket: &'a str,
    prefix: &'a str,
}

impl std::fmt::Debug for StoreFolder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreFolder")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<'a> StoreFolder<'a> {
    /// The folder `prefix` of `bucket`. `prefix` is used as given: the AWS CLI appends a `/`
    /// when it is missing (see [`folder_prefix`]).
    pub fn new(store: &'a dyn ObjectStore, bucket: &'a str, prefix: &'a str) -> Self {
        StoreFolder {
            store,
            bucket,
            prefix,
        }
    }
}

/// `--s3-prefix` as the AWS CLI uses it: empty stays empty, otherwise it ends with `/`.
pub fn folder_prefix(prefix: Option<&str>) -> String {
    match prefix {
        None | Some("") => String::new(),
        Some(p) if p.ends_with('/') => p.to_owned(),
        Some(p) => format!("{p}/"),
    }
}

impl ResultFolder for StoreFolder<'_> {
    fn location(&self, name: &str) -> String {
        format!("s3://{}/{}{name}", self.bucket, self.prefix)
    }

    fn open(&self, name: &str) -> Result<ObjectReader, StoreError> {
        self.store
            .open(self.bucket, &format!("{}{name}", self.prefix))
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        self.store.list(self.bucket, self.prefix, "", &mut |key| {
            if let Some(name) = key.strip_prefix(self.prefix) {
                names.push(name.to_owned());
            }
            ControlFlow::Continue(())
        })?;
        Ok(names)
    }
}

/// A query folder on disk (`--local-export-path`): every file below it counts, whatever its name.
#[derive(Clone, Debug)]
pub struct LocalFolder {
    dir: PathBuf,
}

impl LocalFolder {
    /// The folder `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LocalFolder { dir: dir.into() }
    }

    fn error(&self, name: &str, e: io::Error) -> StoreError {
        let bucket = self.dir.display().to_string();
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StoreError::NotFound {
                bucket,
                key: name.to_owned(),
            },
            _ => StoreError::unreadable(&bucket, name, e),
        }
    }
}

/// Folders below a local query folder that are listed (results are written flat; deeper is
/// not CloudTrail's and not worth a walk without end).
const MAX_LOCAL_DEPTH: usize = 8;

fn walk_local(
    dir: &Path,
    rel: &str,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<(), (String, io::Error)> {
    let entries = std::fs::read_dir(dir).map_err(|e| (rel.to_owned(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| (rel.to_owned(), e))?;
        // A name that is not UTF-8 is still an object nobody listed: show it lossily.
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let file_type = entry.file_type().map_err(|e| (path.clone(), e))?;
        if file_type.is_dir() && depth < MAX_LOCAL_DEPTH {
            walk_local(&entry.path(), &path, depth + 1, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

impl ResultFolder for LocalFolder {
    fn location(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn open(&self, name: &str) -> Result<ObjectReader, StoreError> {
        // As in archive mode: a regular file only, never through a link, never blocking on a
        // FIFO.
        let bucket = self.dir.display().to_string();
        let (file, _) = crate::store::open_file(&bucket, name, &self.dir.join(name))?;
        Ok(Box::new(file))
    }

    fn list(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        walk_local(&self.dir, "", 0, &mut names).map_err(|(name, e)| self.error(&name, e))?;
        names.sort();
        Ok(names)
    }
}

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

/// The verdict on one object of the folder.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOutcome {
    /// The bytes hash to the sign file's `fileHashValue`.
    Valid,
    /// They do not (compared as text, like the AWS CLI: an upper-case hash does not match).
    HashMismatch {
        /// `fileHashValue` from the sign file.
        expected: String,
        /// Hex SHA-256 of the bytes.
        actual: String,
    },
    /// The sign file lists it, the folder does not hold it.
    NotFound,
    /// Its `fileName` would leave the folder (or is empty): not read.
    UnsafeName {
        /// Why.
        reason: &'static str,
    },
    /// The sign file's entry is not `{"fileHashValue": string, "fileName": string}`.
    InvalidEntry {
        /// What is wrong.
        reason: String,
    },
    /// In the folder, not listed by the sign file.
    Unlisted,
    /// It could not be read.
    Unreadable {
        /// The cause.
        cause: String,
    },
}

impl FileOutcome {
    /// Valid, invalid or not checked.
    pub fn status(&self) -> Status {
        match self {
            FileOutcome::Valid => Status::Valid,
            FileOutcome::Unreadable { .. } => Status::NotChecked,
            _ => Status::Invalid,
        }
    }

    /// Machine-readable name of the verdict.
    pub fn code(&self) -> &'static str {
        match self {
            FileOutcome::Valid => "valid",
            FileOutcome::HashMismatch { .. } => "hash_mismatch",
            FileOutcome::NotFound => "not_found",
            FileOutcome::UnsafeName { .. } => "unsafe_name",
            FileOutcome::InvalidEntry { .. } => "invalid_entry",
            FileOutcome::Unlisted => "unlisted",
            FileOutcome::Unreadable { .. } => "unreadable",
        }
    }

    /// The verdict in words, after the tab of its line.
    pub fn message(&self) -> String {
        match self {
            FileOutcome::Valid => "valid".to_owned(),
            FileOutcome::HashMismatch { expected, actual } => format!(
                "INVALID: hash value doesn't match: the sign file says {expected}, the file hashes to {actual}"
            ),
            FileOutcome::NotFound => "INVALID: not found".to_owned(),
            FileOutcome::UnsafeName { reason } => {
                format!("INVALID: file name {reason}: not read")
            }
            FileOutcome::InvalidEntry { reason } => format!("INVALID: invalid format: {reason}"),
            FileOutcome::Unlisted => "INVALID: not listed in the sign file".to_owned(),
            FileOutcome::Unreadable { cause } => {
                format!("NOT CHECKED: could not be read: {cause}")
            }
        }
    }
}

/// One object of the report: a file the sign file lists, or one it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultFile {
    /// `fileName` from the sign file, or the object's name in the folder; `None` for an entry
    /// without a string `fileName`.
    pub name: Option<String>,
    /// Where it was read (or looked for); for a name that leaves the folder, the name quoted.
    pub location: String,
    /// Position in the sign file's `files` (`None` for an unlisted object).
    pub index: Option<usize>,
    /// The verdict.
    pub outcome: FileOutcome,
}

/// The verdict on the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureOutcome {
    /// Verified with the CloudTrail key the sign file names.
    Valid,
    /// The signature does not verify under that key.
    Failed,
    /// No listed key has the sign file's fingerprint.
    PublicKeyNotFound {
        /// Region the keys were listed in.
        region: String,
        /// The sign file's `publicKeyFingerprint`.
        fingerprint: String,
    },
    /// `hashSignature` (or a `fileHashValue` it covers) is missing or not what it must be.
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The signature could not be checked (the keys could not be listed, or the sign file lacks
    /// what the lookup needs).
    NotChecked {
        /// Why.
        reason: String,
    },
}

impl SignatureOutcome {
    /// Valid, invalid or not checked.
    pub fn status(&self) -> Status {
        match self {
            SignatureOutcome::Valid => Status::Valid,
            SignatureOutcome::NotChecked { .. } => Status::NotChecked,
            _ => Status::Invalid,
        }
    }

    /// Machine-readable name of the verdict.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureOutcome::Valid => "valid",
            SignatureOutcome::Failed => "signature_failed",
            SignatureOutcome::PublicKeyNotFound { .. } => "public_key_not_found",
            SignatureOutcome::Malformed { .. } => "malformed",
            SignatureOutcome::NotChecked { .. } => "not_checked",
        }
    }

    /// The verdict in words.
    pub fn message(&self) -> String {
        match self {
            SignatureOutcome::Valid => "valid".to_owned(),
            SignatureOutcome::Failed => "INVALID: signature verification failed".to_owned(),
            SignatureOutcome::PublicKeyNotFound {
                region,
                fingerprint,
            } => format!(
                "INVALID: public key not found in region {region} for fingerprint {fingerprint}"
            ),
            SignatureOutcome::Malformed { reason } => format!("INVALID: {reason}"),
            SignatureOutcome::NotChecked { reason } => {
                format!("NOT CHECKED: signature not verified: {reason}")
            }
        }
    }
}

/// A problem with the sign file other than its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignProblem {
    /// Not a JSON object, or a field has the wrong type.
    InvalidFormat {
        /// What is wrong.
        reason: String,
    },
    /// `files` is an empty list (the AWS CLI: "No export file was found in sign file.").
    NoFiles,
    /// `hashAlgorithm` is not `SHA-256`.
    HashAlgorithm {
        /// What the sign file says (`None`: missing or not a string).
        found: Option<String>,
    },
    /// `signatureAlgorithm` is not `SHA256withRSA`.
    SignatureAlgorithm {
        /// What the sign file says (`None`: missing or not a string).
        found: Option<String>,
    },
    /// `queryCompleteTime` lies outside the validity of the key that signed.
    OutsideKeyValidity {
        /// `queryCompleteTime`.
        time: DateTime<Utc>,
        /// The key's fingerprint.
        fingerprint: String,
        /// Start of its validity, when known.
        start: Option<DateTime<Utc>>,
        /// End of its validity, when known.
        end: Option<DateTime<Utc>>,
    },
}

fn quoted(found: &Option<String>) -> String {
    match found {
        Some(s) => format!("{s:?}"),
        None => "missing".to_owned(),
    }
}

fn display_or_open(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "(unknown)".to_owned(), display)
}

impl SignProblem {
    /// Machine-readable name of the problem.
    pub fn code(&self) -> &'static str {
        match self {
            SignProblem::InvalidFormat { .. } => "invalid_format",
            SignProblem::NoFiles => "no_files",
            SignProblem::HashAlgorithm { .. } => "hash_algorithm",
            SignProblem::SignatureAlgorithm { .. } => "signature_algorithm",
            SignProblem::OutsideKeyValidity { .. } => "outside_key_validity",
        }
    }

    /// The problem in words.
    pub fn message(&self) -> String {
        match self {
            SignProblem::InvalidFormat { reason } => format!("INVALID: invalid format: {reason}"),
            SignProblem::NoFiles => "INVALID: No export file was found in sign file.".to_owned(),
            SignProblem::HashAlgorithm { found } => format!(
                "INVALID: hashAlgorithm is {}, not \"{HASH_ALGORITHM}\"",
                quoted(found)
            ),
            SignProblem::SignatureAlgorithm { found } => format!(
                "INVALID: signatureAlgorithm is {}, not \"{SIGNATURE_ALGORITHM}\"",
                quoted(found)
            ),
            SignProblem::OutsideKeyValidity {
                time,
                fingerprint,
                start,
                end,
            } => format!(
                "INVALID: queryCompleteTime {} is outside the validity of public key {fingerprint} ({} to {})",
                display(*time),
                display_or_open(*start),
                display_or_open(*end)
            ),
        }
    }
}

/// Whether the folder was listed for objects the sign file does not list.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Listing {
    /// Listed; unlisted objects are in [`LakeReport::files`] (beyond
    /// [`MAX_UNLISTED_NAMED`], counted in `more`).
    Done {
        /// Unlisted objects beyond those named.
        more: u64,
    },
    /// Not asked for, or pointless (the sign file could not be read).
    Skipped,
    /// The listing failed.
    Failed {
        /// The cause.
        cause: String,
    },
}

/// The key the sign file names, as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsed {
    /// Its fingerprint (the MD5 of its DER).
    pub fingerprint: String,
    /// Start of its validity, when known.
    pub validity_start: Option<DateTime<Utc>>,
    /// End of its validity, when known.
    pub validity_end: Option<DateTime<Utc>>,
    /// False when its validity is unknown, so `queryCompleteTime` was not checked against it.
    pub validity_checked: bool,
}

/// What the sign file says, as far as it could be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignFile {
    /// Where it was read.
    pub location: String,
    /// `region`.
    pub region: Option<String>,
    /// `queryCompleteTime`, parsed.
    pub query_complete_time: Option<DateTime<Utc>>,
    /// `publicKeyFingerprint`.
    pub fingerprint: Option<String>,
    /// `hashAlgorithm`.
    pub hash_algorithm: Option<String>,
    /// `signatureAlgorithm`.
    pub signature_algorithm: Option<String>,
}

/// The result of verifying one query's saved results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LakeReport {
    /// The sign file's fields.
    pub sign_file: SignFile,
    /// Problems with the sign file other than its signature, in the order found.
    pub sign_problems: Vec<SignProblem>,
    /// The signature's verdict.
    pub signature: SignatureOutcome,
    /// Every listed file in the sign file's order, then every unlisted object by name.
    pub files: Vec<ResultFile>,
    /// Whether the folder was listed.
    pub listing: Listing,
    /// The key the sign file names, when found.
    pub public_key: Option<KeyUsed>,
    /// Where the keys came from ([`LakeOptions::key_source`]).
    pub key_source: String,
    /// Region the keys were listed in.
    pub key_region: String,
}

impl LakeReport {
    /// Valid only when every listed file matches, the signature verifies, the sign file has no
    /// problem and nothing is unlisted; invalid when anything was proven wrong; else incomplete.
    pub fn verdict(&self) -> Verdict {
        let statuses = self
            .files
            .iter()
            .map(|f| f.outcome.status())
            .chain(std::iter::once(self.signature.status()));
        let mut not_checked = matches!(self.listing, Listing::Failed { .. });
        let mut invalid = !self.sign_problems.is_empty();
        for s in statuses {
            match s {
                Status::Invalid => invalid = true,
                Status::NotChecked => not_checked = true,
                Status::Valid => {}
            }
        }
        if invalid {
            Verdict::Invalid
        } else if not_checked {
            Verdict::Incomplete
        } else {
            Verdict::Valid
        }
    }

    /// Notes that are not problems: what was not checked and why.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(key) = &self.public_key {
            if !key.validity_checked {
                notes.push(format!(
                    "the validity of public key {} is unknown: queryCompleteTime was not checked against it",
                    key.fingerprint
                ));
            }
        }
        if let Listing::Done { more } = self.listing {
            if more > 0 {
                notes.push(format!(
                    "{more} more objects not listed in the sign file are not named"
                ));
            }
        }
        notes
    }

    /// The text output: the AWS CLI's success line on `out` when everything is valid; otherwise
    /// one tab-separated line per problem on `err` (`Sign file\tLOCATION\tINVALID: …`,
    /// `Result file\tLOCATION\tINVALID: …`), then notes.
    pub fn write_text(&self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        // Messages quote the sign file (hashes, algorithms, the fingerprint) and S3's errors:
        // escaped like the validation report's lines, so that none can forge a line.
        let mut line = |text: String| writeln!(err, "{}", crate::report::escape_controls(&text));
        let sign = &self.sign_file.location;
        for problem in &self.sign_problems {
            line(format!("Sign file\t{sign}\t{}", problem.message()))?;
        }
        if self.signature != SignatureOutcome::Valid {
            line(format!("Sign file\t{sign}\t{}", self.signature.message()))?;
        }
        for file in &self.files {
            if file.outcome != FileOutcome::Valid {
                line(format!(
                    "Result file\t{}\t{}",
                    file.location,
                    file.outcome.message()
                ))?;
            }
        }
        if let Listing::Failed { cause } = &self.listing {
            line(format!(
                "Sign file\t{sign}\tNOT CHECKED: the folder could not be listed for files the sign file does not list: {cause}"
            ))?;
        }
        for note in self.notes() {
            line(format!("Note: {note}"))?;
        }
        if self.verdict() == Verdict::Valid {
            writeln!(out, "Successfully validated sign and query result files")?;
        }
        Ok(())
    }

    /// The report as JSON (`"version": 1`).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(crate::report::lake::LakeDoc::from(self)).unwrap_or(Value::Null)
    }
}

/// Why a `fileName` cannot be read inside the folder, if it cannot.
pub fn unsafe_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.contains('/') || name.contains('\\') {
        Some("contains a path separator")
    } else if name == "." || name == ".." {
        Some("names a folder")
    } else if name.chars().any(char::is_control) {
        Some("contains a control character")
    } else {
        None
    }
}

/// Where `name` is, as printed: quoted when it holds control or format characters (S3 keys
/// may), so that an object's name cannot add or forge lines of the report, nor read as another.
fn shown(folder: &dyn ResultFolder, name: &str) -> String {
    let location = folder.location(name);
    if location.chars().any(crate::report::needs_escape) {
        format!("{location:?}")
    } else {
        location
    }
}

/// A listed file, once its entry was read.
struct Listed<'s> {
    index: usize,
    name: &'s str,
    hash: &'s str,
}

/// Reads `result_sign.json` from `folder` and verifies the folder. `Err` when the sign file
/// cannot be read at all (missing, unreadable, too large): then nothing could be checked.
pub fn verify_folder(
    folder: &dyn ResultFolder,
    keys: &dyn PublicKeySource,
    options: &LakeOptions,
) -> Result<LakeReport, Error> {
    options.check_cancel()?;
    let location = folder.location(SIGN_FILE_NAME);
    let fail = |cause: String| Error::Config(format!("{location}: {cause}"));
    let reader = folder.open(SIGN_FILE_NAME).map_err(|e| match e {
        StoreError::NotFound { .. } => fail("not found".to_owned()),
        other => fail(cause_of(&other)),
    })?;
    let mut bytes = Vec::new();
    reader
        .take(MAX_SIGN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("could not be read: {e}")))?;
    if bytes.len() as u64 > MAX_SIGN_FILE_BYTES {
        return Err(fail(format!(
            "larger than the limit of {MAX_SIGN_FILE_BYTES} bytes"
        )));
    }
    verify_query_results(&bytes, folder, keys, options)
}

fn cause_of(e: &StoreError) -> String {
    match e {
        StoreError::Unreadable { cause, .. } => cause.clone(),
        StoreError::TooLarge { limit, .. } => format!("larger than the limit of {limit} bytes"),
        other => other.to_string(),
    }
}

/// Verifies a query's saved results: `sign_file` is the bytes of its `result_sign.json`, the
/// result files are read from `folder`, keys come from `keys`.
///
/// `Err` only when the work cannot start (no thread pool); every finding about the sign file,
/// the result files and the signature is in the report.
pub fn verify_query_results(
    sign_file: &[u8],
    folder: &dyn ResultFolder,
    keys: &dyn PublicKeySource,
    options: &LakeOptions,
) -> Result<LakeReport, Error> {
    let mut report = LakeReport {
        sign_file: SignFile {
            location: folder.location(SIGN_FILE_NAME),
            ..SignFile::default()
        },
        sign_problems: Vec::new(),
        signature: SignatureOutcome::NotChecked {
            reason: "the sign file could not be read".to_owned(),
        },
        files: Vec::new(),
        listing: Listing::Skipped,
        public_key: None,
        key_source: options.key_source.clone(),
        key_region: String::new(),
    };
    let doc: Value = match serde_json::from_slice(sign_file) {
        Ok(Value::Object(map)) => Value::Object(map),
        Ok(_) => {
            report.sign_problems.push(SignProblem::InvalidFormat {
                reason: "not a JSON object".to_owned(),
            });
            return Ok(report);
        }
        Err(e) => {
            report.sign_problems.push(SignProblem::InvalidFormat {
                reason: format!("not JSON: {e}"),
            });
            return Ok(report);
        }
    };
    let text = |field: &str| doc.get(field).and_then(Value::as_str);
    let sf = &mut report.sign_file;
    sf.region = text("region").map(str::to_owned);
    sf.fingerprint = text("publicKeyFingerprint").map(str::to_owned);
    sf.hash_algorithm = text("hashAlgorithm").map(str::to_owned);
    sf.signature_algorithm = text("signatureAlgorithm").map(str::to_owned);

    // The AWS CLI requires a non-empty list (its two messages), then reads each entry's
    // `fileName` and `fileHashValue`.
    let mut listed: Vec<Listed<'_>> = Vec::new();
    let mut entries_ok = true;
    match doc.get("files") {
        Some(Value::Array(files)) if files.is_empty() => {
            report.sign_problems.push(SignProblem::NoFiles);
        }
        Some(Value::Array(files)) => {
            for (index, entry) in files.iter().enumerate() {
                let name = entry.get("fileName").and_then(Value::as_str);
                let hash = entry.get("fileHashValue").and_then(Value::as_str);
                let location = |name: &str| match unsafe_name(name) {
                    None => shown(folder, name),
                    Some(_) => format!("{name:?}"),
                };
                match (name, hash) {
                    (Some(name), Some(hash)) => listed.push(Listed { index, name, hash }),
                    (name, _) => {
                        entries_ok = false;
                        let reason = if name.is_none() {
                            format!("files[{index}] has no string \"fileName\"")
                        } else {
                            format!("files[{index}] has no string \"fileHashValue\"")
                        };
                        report.files.push(ResultFile {
                            name: name.map(str::to_owned),
                            location: name.map_or_else(|| format!("files[{index}]"), location),
                            index: Some(index),
                            outcome: FileOutcome::InvalidEntry { reason },
                        });
                    }
                }
            }
        }
        // The AWS CLI: "Invalid sign file provided."
        Some(_) => report.sign_problems.push(SignProblem::InvalidFormat {
            reason: "\"files\" is not a list".to_owned(),
        }),
        None => report.sign_problems.push(SignProblem::InvalidFormat {
            reason: "no \"files\" list".to_owned(),
        }),
    }
    if report.sign_file.hash_algorithm.as_deref() != Some(HASH_ALGORITHM) {
        report.sign_problems.push(SignProblem::HashAlgorithm {
            found: report.sign_file.hash_algorithm.clone(),
        });
    }
    if report.sign_file.signature_algorithm.as_deref() != Some(SIGNATURE_ALGORITHM) {
        report.sign_problems.push(SignProblem::SignatureAlgorithm {
            found: report.sign_file.signature_algorithm.clone(),
        });
    }

    hash_files(folder, &listed, options, &mut report.files)?;
    report.files.sort_by_key(|f| f.index.unwrap_or(usize::MAX));

    options.check_cancel()?;
    if options.check_unlisted {
        report.listing = match folder.list() {
            Ok(names) => {
                let known: BTreeSet<&str> = listed
                    .iter()
                    .map(|l| l.name)
                    .chain([SIGN_FILE_NAME])
                    .collect();
                let mut unlisted: Vec<&String> = names
                    .iter()
                    .filter(|n| !known.contains(n.as_str()))
                    .collect();
                unlisted.sort();
                unlisted.dedup();
                let more = unlisted.len().saturating_sub(MAX_UNLISTED_NAMED) as u64;
                for name in unlisted.into_iter().take(MAX_UNLISTED_NAMED) {
                    report.files.push(ResultFile {
                        name: Some(name.clone()),
                        location: shown(folder, name),
                        index: None,
                        outcome: FileOutcome::Unlisted,
                    });
                }
                Listing::Done { more }
            }
            Err(e) => Listing::Failed {
                cause: cause_of(&e),
            },
        };
    }

    let qct_text = text("queryCompleteTime");
    let qct = qct_text.and_then(crate::time::parse_cloudtrail);
    report.sign_file.query_complete_time = qct;
    match (qct_text, qct) {
        (None, _) => report.sign_problems.push(SignProblem::InvalidFormat {
            reason: "no string \"queryCompleteTime\"".to_owned(),
        }),
        (Some(t), None) => report.sign_problems.push(SignProblem::InvalidFormat {
            reason: format!("queryCompleteTime {t:?} is not a time"),
        }),
        _ => {}
    }
    if report.sign_file.fingerprint.is_none() {
        report.sign_problems.push(SignProblem::InvalidFormat {
            reason: "no string \"publicKeyFingerprint\"".to_owned(),
        });
    }
    report.key_region = options
        .region
        .clone()
        .or_else(|| report.sign_file.region.clone())
        .unwrap_or_default();
    let files_listed = matches!(doc.get("files"), Some(Value::Array(f)) if !f.is_empty());
    options.check_cancel()?;
    report.signature = match (qct, report.sign_file.fingerprint.clone()) {
        (Some(qct), Some(fingerprint)) if files_listed && entries_ok => check_signature(
            &doc,
            &listed,
            qct,
            &fingerprint,
            keys,
            &report.key_region,
            &mut report.public_key,
            &mut report.sign_problems,
        ),
        (Some(_), Some(_)) if files_listed => SignatureOutcome::Malformed {
            reason: "the signed hashes cannot be read from \"files\"".to_owned(),
        },
        (Some(_), Some(_)) => SignatureOutcome::NotChecked {
            reason: "the sign file lists no files to sign".to_owned(),
        },
        (None, _) => SignatureOutcome::NotChecked {
            reason: "no queryCompleteTime to look the public key up with".to_owned(),
        },
        (_, None) => SignatureOutcome::NotChecked {
            reason: "no publicKeyFingerprint".to_owned(),
        },
    };
    Ok(report)
}

/// Looks the key up as the AWS CLI does, checks it was valid at `queryCompleteTime`, and
/// verifies the signature over the listed hashes joined by single spaces.
#[allow(clippy::too_many_arguments)]
fn check_signature(
    doc: &Value,
    listed: &[Listed<'_>],
    qct: DateTime<Utc>,
    fingerprint: &str,
    keys: &dyn PublicKeySource,
    region: &str,
    used: &mut Option<KeyUsed>,
    problems: &mut Vec<SignProblem>,
) -> SignatureOutcome {
    let Some(end) = qct.checked_add_signed(Duration::days(KEY_WINDOW_DAYS)) else {
        return SignatureOutcome::NotChecked {
            reason: "queryCompleteTime is too late to look keys up after it".to_owned(),
        };
    };
    let set = match keys.public_keys(region, qct, end) {
        Ok(set) => set,
        Err(e) => {
            return SignatureOutcome::NotChecked {
                reason: e.to_string(),
            }
        }
    };
    // Compared as text, like the AWS CLI: KeySet holds fingerprints as lower-case MD5 hex of
    // each key's DER, so a key is only found under the fingerprint of its own bytes.
    let Some(key) = set.get(fingerprint) else {
        return SignatureOutcome::PublicKeyNotFound {
            region: region.to_owned(),
            fingerprint: fingerprint.to_owned(),
        };
    };
    let known = key.validity_start.is_some() || key.validity_end.is_some();
    *used = Some(KeyUsed {
        fingerprint: key.fingerprint().to_owned(),
        validity_start: key.validity_start,
        validity_end: key.validity_end,
        validity_checked: known,
    });
    let before = key.validity_start.is_some_and(|s| qct < s);
    let after = key.validity_end.is_some_and(|e| qct > e);
    if before || after {
        problems.push(SignProblem::OutsideKeyValidity {
            time: qct,
            fingerprint: key.fingerprint().to_owned(),
            start: key.validity_start,
            end: key.validity_end,
        });
    }
    let Some(signature_hex) = doc.get("hashSignature").and_then(Value::as_str) else {
        return SignatureOutcome::Malformed {
            reason: "no string \"hashSignature\"".to_owned(),
        };
    };
    let Ok(signature) = hex::decode(signature_hex) else {
        return SignatureOutcome::Malformed {
            reason: "hashSignature is not hex".to_owned(),
        };
    };
    let message = listed.iter().map(|l| l.hash).collect::<Vec<_>>().join(" ");
    if key.verify(message.as_bytes(), &signature) {
        SignatureOutcome::Valid
    } else {
        SignatureOutcome::Failed
    }
}

/// Hashes every listed file whose name stays in the folder, appending one entry each to `out`.
fn hash_files(
    folder: &dyn ResultFolder,
    listed: &[Listed<'_>],
    options: &LakeOptions,
    out: &mut Vec<ResultFile>,
) -> Result<(), Error> {
    if let Some(progress) = &options.progress {
        progress.logs_queued(listed.len() as u64);
    }
    let one = |l: &Listed<'_>| -> ResultFile {
        let mut hashed = 0;
        if let Some(reason) = unsafe_name(l.name) {
            if let Some(progress) = &options.progress {
                progress.log_checked(0);
            }
            return ResultFile {
                name: Some(l.name.to_owned()),
                location: format!("{:?}", l.name),
                index: Some(l.index),
                outcome: FileOutcome::UnsafeName { reason },
            };
        }
        // Once cancelled, the rest is not even opened: the run fails as a whole below.
        let outcome = if options.cancelled() {
            FileOutcome::Unreadable {
                cause: "cancelled".to_owned(),
            }
        } else {
            match folder.open(l.name) {
                Err(StoreError::NotFound { .. }) => FileOutcome::NotFound,
                Err(e) => FileOutcome::Unreadable {
                    cause: cause_of(&e),
                },
                Ok(reader) => match sha256_hex(reader, options, &mut hashed) {
                    // The AWS CLI compares hexdigest() with the recorded text as is.
                    Ok(actual) if actual == l.hash => FileOutcome::Valid,
                    Ok(actual) => FileOutcome::HashMismatch {
                        expected: l.hash.to_owned(),
                        actual,
                    },
                    Err(e) => FileOutcome::Unreadable {
                        cause: e.to_string(),
                    },
                },
            }
        };
        if let Some(progress) = &options.progress {
            progress.log_checked(hashed);
        }
        ResultFile {
            name: Some(l.name.to_owned()),
            location: shown(folder, l.name),
            index: Some(l.index),
            outcome,
        }
    };
    // One file needs no pool.
    let parallelism = match options.parallelism {
        _ if listed.len() < 2 => Parallelism::Serial,
        p => p,
    };
    match parallelism.pool("trailproof-lake")? {
        None => out.extend(listed.iter().map(one)),
        Some(pool) => {
            let hashed: Vec<ResultFile> = pool.install(|| listed.par_iter().map(one).collect());
            out.extend(hashed);
        }
    }
    // A file cut short by the cancellation is no verdict: the run gives none.
    options.check_cancel()
}

/// Hex SHA-256 of everything `reader` yields, counting the bytes in `total`; stops with an
/// error once the run is cancelled.
fn sha256_hex(
    mut reader: ObjectReader,
    options: &LakeOptions,
    total: &mut u64,
) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if options.cancelled() {
            return Err(io::Error::other("cancelled"));
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        *total = total.saturating_add(n as u64);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use crate::{KeySet, Object};
    use trailproof_testkit::lake::{scenarios, QueryResults, QueryResultsBuilder};

    fn store(r: &QueryResults) -> MemoryStore {
        r.archive
            .objects
            .iter()
            .map(|(k, o)| {
                (
                    k.clone(),
                    Object {
                        bytes: o.body.clone(),
                        metadata: None,
                    },
                )
            })
            .collect()
    }

    fn keys(r: &QueryResults) -> KeySet {
        KeySet::from_list_public_keys_json(r.public_keys_json().as_bytes(), "keys").unwrap()
    }

    fn verify(r: &QueryResults) -> LakeReport {
        let store = store(r);
        let folder = StoreFolder::new(&store, r.bucket(), r.folder());
        verify_folder(
            &folder,
            &keys(r),
            &LakeOptions::new().parallelism(Parallelism::Threads(2)),
        )
        .unwrap()
    }

    /// (file name, outcome code) in report order.
    fn outcomes(report: &LakeReport) -> Vec<(String, &'static str)> {
        report
            .files
            .iter()
            .map(|f| (f.name.clone().unwrap_or_default(), f.outcome.code()))
            .collect()
    }

    const R1: &str = "result_1.csv.gz";
    const R2: &str = "result_2.csv.gz";
    const R3: &str = "result_3.csv.gz";

    #[test]
    fn every_scenario_gets_its_verdicts() {
        struct Want {
            verdict: Verdict,
            signature: &'static str,
            problems: &'static [&'static str],
            files: &'static [(&'static str, &'static str)],
        }
        let all_valid: &[(&str, &str)] = &[(R1, "valid"), (R2, "valid"), (R3, "valid")];
        let table: Vec<(&str, Want)> = vec![
            (
                "clean",
                Want {
                    verdict: Verdict::Valid,
                    signature: "valid",
                    problems: &[],
                    files: all_valid,
                },
            ),
            (
                "modified-file",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "valid",
                    problems: &[],
                    files: &[(R1, "hash_mismatch"), (R2, "valid"), (R3, "valid")],
                },
            ),
            (
                "deleted-file",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "valid",
                    problems: &[],
                    files: &[(R1, "valid"), (R2, "not_found"), (R3, "valid")],
                },
            ),
            (
                "extra-unlisted-file",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "valid",
                    problems: &[],
                    files: &[
                        (R1, "valid"),
                        (R2, "valid"),
                        (R3, "valid"),
                        ("result_9.csv.gz", "unlisted"),
                    ],
                },
            ),
            // The files still match their entries; only the signed string's order changed.
            (
                "swapped-file-order",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "signature_failed",
                    problems: &[],
                    files: &[(R2, "valid"), (R1, "valid"), (R3, "valid")],
                },
            ),
            (
                "swapped-file-contents",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "valid",
                    problems: &[],
                    files: &[(R1, "hash_mismatch"), (R2, "hash_mismatch"), (R3, "valid")],
                },
            ),
            // Key B is published but did not sign, and was not valid at queryCompleteTime either.
            (
                "wrong-fingerprint",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "signature_failed",
                    problems: &["outside_key_validity"],
                    files: all_valid,
                },
            ),
            (
                "unknown-fingerprint",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "public_key_not_found",
                    problems: &[],
                    files: all_valid,
                },
            ),
            (
                "key-out-of-validity",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "valid",
                    problems: &["outside_key_validity"],
                    files: all_valid,
                },
            ),
            (
                "bad-hex-signature",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "malformed",
                    problems: &[],
                    files: all_valid,
                },
            ),
            (
                "corrupt-signature",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "signature_failed",
                    problems: &[],
                    files: all_valid,
                },
            ),
            (
                "wrong-algorithms",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "valid",
                    problems: &["hash_algorithm", "signature_algorithm"],
                    files: all_valid,
                },
            ),
            // The renamed entry is not read; the real file is then in the folder unlisted.
            (
                "unsafe-file-name",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "valid",
                    problems: &[],
                    files: &[
                        (R1, "valid"),
                        ("../result_2.csv.gz", "unsafe_name"),
                        (R3, "valid"),
                        (R2, "unlisted"),
                    ],
                },
            ),
            (
                "empty-files",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "not_checked",
                    problems: &["no_files"],
                    files: &[(R1, "unlisted"), (R2, "unlisted"), (R3, "unlisted")],
                },
            ),
            (
                "everything-at-once",
                Want {
                    verdict: Verdict::Invalid,
                    signature: "valid",
                    problems: &["hash_algorithm"],
                    files: &[
                        (R1, "hash_mismatch"),
                        (R2, "not_found"),
                        (R3, "valid"),
                        ("notes.txt", "unlisted"),
                    ],
                },
            ),
        ];
        let all = scenarios(&QueryResultsBuilder::new());
        assert_eq!(
            all.iter().map(|s| s.name).collect::<Vec<_>>(),
            table.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            "every scenario has a row"
        );
        for (s, (_, want)) in all.iter().zip(&table) {
            let report = verify(&s.results);
            let problems: Vec<&str> = report.sign_problems.iter().map(SignProblem::code).collect();
            let files: Vec<(String, &str)> = want
                .files
                .iter()
                .map(|(n, c)| ((*n).to_owned(), *c))
                .collect();
            assert_eq!(
                (
                    report.verdict(),
                    report.signature.code(),
                    problems,
                    outcomes(&report)
                ),
                (want.verdict, want.signature, want.problems.to_vec(), files),
                "{}: {report:#?}",
                s.name
            );
            assert_eq!(report.listing, Listing::Done { more: 0 }, "{}", s.name);
        }
    }

    #[test]
    fn the_key_used_is_reported_with_its_validity() {
        let r = QueryResultsBuilder::new().build();
        let report = verify(&r);
        let key = report.public_key.clone().unwrap();
        assert_eq!(
            key.fingerprint,
            trailproof_testkit::TestKey::a().fingerprint()
        );
        assert!(key.validity_checked);
        assert_eq!(
            key.validity_start.map(display).as_deref(),
            Some("2024-02-20T00:00:00Z")
        );
        assert_eq!(report.sign_file.region.as_deref(), Some("us-east-1"));
        assert_eq!(report.key_region, "us-east-1");
        assert!(report.notes().is_empty());
        let json = report.to_json();
        assert_eq!(json["verdict"], "valid");
        assert_eq!(json["exit_code"], 0);
        assert_eq!(json["public_key"]["validity"]["checked"], true);
        assert_eq!(
            json["sign_file"]["query_complete_time"],
            "2024-03-02T06:07:08Z"
        );
        assert_eq!(json["files"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn unknown_validity_is_said_not_checked() {
        let r = QueryResultsBuilder::new().build();
        let mut undated = KeySet::new();
        for k in keys(&r).iter() {
            let mut k = k.clone();
            k.validity_start = None;
            k.validity_end = None;
            undated.insert(k);
        }
        let store = store(&r);
        let folder = StoreFolder::new(&store, r.bucket(), r.folder());
        let report = verify_folder(&folder, &undated, &LakeOptions::new()).unwrap();
        assert_eq!(report.verdict(), Verdict::Valid);
        assert_eq!(
            report.public_key.as_ref().map(|k| k.validity_checked),
            Some(false)
        );
        let notes = report.notes();
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("unknown") && notes[0].contains("not checked"),
            "{notes:?}"
        );
        let mut out = Vec::new();
        let mut err = Vec::new();
        report.write_text(&mut out, &mut err).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Successfully validated sign and query result files\n"
        );
        assert!(String::from_utf8(err)
            .unwrap()
            .starts_with("Note: the validity of public key "));
    }

    #[test]
    fn unreadable_files_and_listings_are_not_checked() {
        /// A folder whose result_2 cannot be read and whose listing fails.
        struct Broken(MemoryStore, String, String);
        impl ResultFolder for Broken {
            fn location(&self, name: &str) -> String {
                format!("mem:{name}")
            }
            fn open(&self, name: &str) -> Result<ObjectReader, StoreError> {
                if name == R2 {
                    return Err(StoreError::unreadable("b", name, "access denied"));
                }
                self.0.open(&self.1, &format!("{}{name}", self.2))
            }
            fn list(&self) -> Result<Vec<String>, StoreError> {
                Err(StoreError::unreadable("b", "", "listing denied"))
            }
        }
        let r = QueryResultsBuilder::new().build();
        let folder = Broken(store(&r), r.bucket().to_owned(), r.folder().to_owned());
        let report = verify_folder(&folder, &keys(&r), &LakeOptions::new()).unwrap();
        assert_eq!(report.verdict(), Verdict::Incomplete);
        assert_eq!(
            report.files[1].outcome,
            FileOutcome::Unreadable {
                cause: "access denied".into()
            }
        );
        assert_eq!(
            report.listing,
            Listing::Failed {
                cause: "listing denied".into()
            }
        );
        let mut err = Vec::new();
        report.write_text(&mut Vec::new(), &mut err).unwrap();
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "Result file\tmem:result_2.csv.gz\tNOT CHECKED: could not be read: access denied\n\
             Sign file\tmem:result_sign.json\tNOT CHECKED: the folder could not be listed for files the sign file does not list: listing denied\n"
        );
    }

    #[test]
    fn a_key_source_that_fails_leaves_the_signature_not_checked() {
        struct Down;
        impl PublicKeySource for Down {
            fn public_keys(
                &self,
                region: &str,
                _: DateTime<Utc>,
                _: DateTime<Utc>,
            ) -> Result<KeySet, Error> {
                Err(Error::PublicKeys {
                    source_name: format!("ListPublicKeys in {region}"),
                    reason: "throttled".into(),
                })
            }
        }
        let r = QueryResultsBuilder::new().build();
        let store = store(&r);
        let report = verify_folder(
            &StoreFolder::new(&store, r.bucket(), r.folder()),
            &Down,
            &LakeOptions::new(),
        )
        .unwrap();
        assert_eq!(report.verdict(), Verdict::Incomplete);
        assert_eq!(
            report.signature.message(),
            "NOT CHECKED: signature not verified: public keys ListPublicKeys in us-east-1: throttled"
        );
    }

    #[test]
    fn a_missing_sign_file_is_an_error_not_a_verdict() {
        let mut r = QueryResultsBuilder::new().build();
        r.delete(trailproof_testkit::lake::SIGN_FILE);
        let store = store(&r);
        let folder = StoreFolder::new(&store, r.bucket(), r.folder());
        let err = verify_folder(&folder, &keys(&r), &LakeOptions::new())
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!("s3://lake-bucket/{}result_sign.json: not found", r.folder())
        );
    }

    #[test]
    fn object_names_cannot_forge_report_lines() {
        let mut r = QueryResultsBuilder::new().build();
        let forged = "x\nSuccessfully validated sign and query result files";
        r.put(forged, b"forged".to_vec());
        let report = verify(&r);
        assert_eq!(report.verdict(), Verdict::Invalid);
        let mut out = Vec::new();
        let mut err = Vec::new();
        report.write_text(&mut out, &mut err).unwrap();
        assert!(out.is_empty());
        let err = String::from_utf8(err).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_eq!(
            err,
            format!(
                "Result file\t\"s3://lake-bucket/{}x\\nSuccessfully validated sign and query result files\"\tINVALID: not listed in the sign file\n",
                r.folder()
            )
        );
    }

    #[test]
    fn unsafe_names() {
        for (name, want) in [
            ("result_1.csv.gz", None),
            ("", Some("is empty")),
            ("..", Some("names a folder")),
            (".", Some("names a folder")),
            ("../x", Some("contains a path separator")),
            ("/etc/passwd", Some("contains a path separator")),
            ("a\\b", Some("contains a path separator")),
            ("a\tb", Some("contains a control character")),
            ("a\u{7f}", Some("contains a control character")),
            ("..foo", None),
        ] {
            assert_eq!(unsafe_name(name), want, "{name:?}");
        }
    }

    #[test]
    fn local_folders_list_every_file_and_tell_missing_from_unreadable() {
        let r = QueryResultsBuilder::new().build();
        let dir = tempfile::tempdir().unwrap();
        r.write_folder(dir.path()).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x.meta.json"), b"{}").unwrap();
        let folder = LocalFolder::new(dir.path());
        assert_eq!(
            folder.list().unwrap(),
            vec![R1, R2, R3, SIGN_FILE_NAME, "sub/x.meta.json"]
        );
        assert!(matches!(
            folder.open("nope"),
            Err(StoreError::NotFound { .. })
        ));
        let report = verify_folder(&folder, &keys(&r), &LakeOptions::new()).unwrap();
        assert_eq!(
            outcomes(&report).last().cloned(),
            Some(("sub/x.meta.json".to_owned(), "unlisted"))
        );
        assert_eq!(
            report.files[0].location,
            dir.path().join(R1).display().to_string()
        );
    }

    /// A folder that raises the cancel flag when its `stop_at`th file is opened, as Ctrl-C
    /// would while that file is read, and counts what was opened.
    struct Interrupting<'a> {
        inner: StoreFolder<'a>,
        flag: Arc<AtomicBool>,
        stop_at: usize,
        opened: std::sync::Mutex<Vec<String>>,
    }

    impl ResultFolder for Interrupting<'_> {
        fn location(&self, name: &str) -> String {
            self.inner.location(name)
        }
        fn open(&self, name: &str) -> Result<ObjectReader, StoreError> {
            let mut opened = self.opened.lock().unwrap();
            opened.push(name.to_owned());
            if opened.len() == self.stop_at {
                self.flag.store(true, Ordering::Relaxed);
            }
            self.inner.open(name)
        }
        fn list(&self) -> Result<Vec<String>, StoreError> {
            self.inner.list()
        }
    }

    #[test]
    fn a_cancelled_verification_stops_and_gives_no_report() {
        let r = QueryResultsBuilder::new().files(20).build();
        let store = store(&r);
        let flag = Arc::new(AtomicBool::new(false));
        let folder = Interrupting {
            inner: StoreFolder::new(&store, r.bucket(), r.folder()),
            flag: flag.clone(),
            // The sign file, then three result files.
            stop_at: 4,
            opened: std::sync::Mutex::new(Vec::new()),
        };
        let options = LakeOptions::new()
            .parallelism(Parallelism::Serial)
            .cancel(flag.clone());
        let e = verify_folder(&folder, &keys(&r), &options).unwrap_err();
        assert!(matches!(e, Error::Cancelled), "{e}");
        assert_eq!(
            folder.opened.lock().unwrap().len(),
            4,
            "nothing opened after"
        );

        // Raised before the start: nothing is read at all.
        let opened_before = folder.opened.lock().unwrap().len();
        let e = verify_folder(&folder, &keys(&r), &options).unwrap_err();
        assert!(matches!(e, Error::Cancelled), "{e}");
        assert_eq!(folder.opened.lock().unwrap().len(), opened_before);

        // Without the flag the same folder verifies, and progress counts every file.
        #[derive(Default)]
        struct Count(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64);
        impl Progress for Count {
            fn logs_queued(&self, n: u64) {
                self.0.fetch_add(n, Ordering::Relaxed);
            }
            fn log_checked(&self, _bytes: u64) {
                self.1.fetch_add(1, Ordering::Relaxed);
            }
        }
        let count = Arc::new(Count::default());
        flag.store(false, Ordering::Relaxed);
        let unstopped = StoreFolder::new(&store, r.bucket(), r.folder());
        let report = verify_folder(
            &unstopped,
            &keys(&r),
            &LakeOptions::new().cancel(flag).progress(count.clone()),
        )
        .unwrap();
        assert_eq!(report.verdict(), Verdict::Valid);
        assert_eq!(count.0.load(Ordering::Relaxed), 20);
        assert_eq!(count.1.load(Ordering::Relaxed), 20);
    }
}
