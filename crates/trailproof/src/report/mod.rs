//! Verdicts, the ordered report of a run and its summary; the report document ([`doc`]) every
//! output renders; the AWS CLI's text (module `text`) and the JSON document (module `json`).

pub mod doc;
mod json;
pub mod lake;
mod text;

pub use text::{entry_line, escape_controls, needs_escape, TextWriter, KEYS_LINE_PREFIX};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::layout::Chain;
use crate::state::Head;
use crate::time::display;

/// Whether something was proven intact, proven not intact, or could not be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Verified.
    Valid,
    /// Verified to be wrong: tampered, missing, moved, unsigned.
    Invalid,
    /// No verdict could be reached (unreadable, no signature available). Never counted valid.
    NotChecked,
}

impl Status {
    /// `valid`, `invalid` or `not_checked`, as the JSON reports write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Invalid => "invalid",
            Status::NotChecked => "not_checked",
        }
    }
}

/// The verdict on one digest file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DigestOutcome {
    /// Signature verified with a CloudTrail key.
    Valid,
    /// The object does not exist.
    NotFound,
    /// Not gzip, not JSON, or a required field is missing.
    InvalidFormat {
        /// What is wrong.
        reason: String,
    },
    /// The signature does not verify (or the signature metadata is missing).
    SignatureFailed,
    /// The digest names another bucket/key than where it was read from.
    Moved {
        /// `s3://bucket/key` the digest names.
        claimed: String,
    },
    /// No known key has the digest's fingerprint.
    PublicKeyNotFound {
        /// The trail's home region.
        region: String,
        /// The fingerprint the digest names.
        fingerprint: String,
    },
    /// Another failure the AWS CLI reports with its own message (e.g. a signature that is not hex).
    Other {
        /// The message after `INVALID: `.
        message: String,
    },
    /// No signature was available to verify (no metadata and no successor to learn it from).
    NotVerified {
        /// Why.
        reason: String,
    },
    /// The digest could not be read.
    Unreadable {
        /// The cause.
        cause: String,
    },
    /// Signed while its public key was not valid (a check beyond the AWS CLI).
    KeyNotValid {
        /// The key's fingerprint.
        fingerprint: String,
        /// When the digest was signed (end time, or backfill generation time).
        signed: String,
        /// The key's validity, `START to END`.
        validity: String,
    },
    /// Larger than a limit: not judged, and never called tampered.
    TooLarge {
        /// Which limit, and the flag that raises it.
        reason: String,
    },
}

impl DigestOutcome {
    /// Valid, invalid or not checked.
    pub fn status(&self) -> Status {
        match self {
            DigestOutcome::Valid => Status::Valid,
            DigestOutcome::NotVerified { .. }
            | DigestOutcome::Unreadable { .. }
            | DigestOutcome::TooLarge { .. } => Status::NotChecked,
            _ => Status::Invalid,
        }
    }

    /// Machine-readable name of the verdict.
    pub fn code(&self) -> &'static str {
        match self {
            DigestOutcome::Valid => "valid",
            DigestOutcome::NotFound => "not_found",
            DigestOutcome::InvalidFormat { .. } => "invalid_format",
            DigestOutcome::SignatureFailed => "signature_failed",
            DigestOutcome::Moved { .. } => "moved",
            DigestOutcome::PublicKeyNotFound { .. } => "public_key_not_found",
            DigestOutcome::Other { .. } => "other",
            DigestOutcome::NotVerified { .. } => "not_verified",
            DigestOutcome::Unreadable { .. } => "unreadable",
            DigestOutcome::KeyNotValid { .. } => "key_not_valid",
            DigestOutcome::TooLarge { .. } => "too_large",
        }
    }

    /// The verdict as the AWS CLI words it (after the tab).
    pub fn message(&self) -> String {
        match self {
            DigestOutcome::Valid => "valid".to_owned(),
            DigestOutcome::NotFound => "INVALID: not found".to_owned(),
            DigestOutcome::InvalidFormat { .. } => "INVALID: invalid format".to_owned(),
            DigestOutcome::SignatureFailed => "INVALID: signature verification failed".to_owned(),
            DigestOutcome::Moved { .. } => {
                "INVALID: has been moved from its original location".to_owned()
            }
            DigestOutcome::PublicKeyNotFound {
                region,
                fingerprint,
            } => format!(
                "INVALID: public key not found in region {region} for fingerprint {fingerprint}"
            ),
            DigestOutcome::Other { message } => format!("INVALID: {message}"),
            DigestOutcome::NotVerified { reason } => format!("NOT CHECKED: {reason}"),
            DigestOutcome::Unreadable { cause } => {
                format!("NOT CHECKED: could not be read: {cause}")
            }
            DigestOutcome::KeyNotValid {
                fingerprint,
                signed,
                validity,
            } => format!(
                "INVALID: signed at {signed}, outside the validity of public key {fingerprint} ({validity})"
            ),
            DigestOutcome::TooLarge { reason } => format!("NOT CHECKED: {reason}"),
        }
    }
}

/// The verdict on one log file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum LogOutcome {
    /// The inflated bytes hash to the digest's `hashValue`.
    Valid,
    /// They do not.
    HashMismatch {
        /// `hashValue` from the digest.
        expected: String,
        /// SHA-256 of what was inflated.
        actual: String,
    },
    /// The object does not exist.
    NotFound,
    /// Bytes follow the end of the gzip stream (a second member or garbage): the AWS CLI's
    /// check since 1.45.12, made before the hash is compared.
    TrailingData {
        /// True when the extra bytes start with the gzip magic: a second member.
        second_member: bool,
    },
    /// Not a (single, complete) gzip stream.
    InvalidFormat {
        /// What is wrong.
        reason: String,
    },
    /// The object could not be read.
    Unreadable {
        /// The cause.
        cause: String,
    },
}

impl LogOutcome {
    /// Valid, invalid or not checked.
    pub fn status(&self) -> Status {
        match self {
            LogOutcome::Valid => Status::Valid,
            LogOutcome::Unreadable { .. } => Status::NotChecked,
            _ => Status::Invalid,
        }
    }

    /// Machine-readable name of the verdict.
    pub fn code(&self) -> &'static str {
        match self {
            LogOutcome::Valid => "valid",
            LogOutcome::HashMismatch { .. } => "hash_mismatch",
            LogOutcome::NotFound => "not_found",
            LogOutcome::InvalidFormat { .. } => "invalid_format",
            LogOutcome::TrailingData { .. } => "trailing_data",
            LogOutcome::Unreadable { .. } => "unreadable",
        }
    }

    /// The verdict as the AWS CLI words it.
    pub fn message(&self) -> String {
        match self {
            LogOutcome::Valid => "valid".to_owned(),
            LogOutcome::HashMismatch { .. } => "INVALID: hash value doesn't match".to_owned(),
            LogOutcome::NotFound => "INVALID: not found".to_owned(),
            LogOutcome::InvalidFormat { .. } => "INVALID: invalid format".to_owned(),
            LogOutcome::TrailingData { .. } => {
                "INVALID: unexpected data after end of compressed stream".to_owned()
            }
            LogOutcome::Unreadable { cause } => format!("NOT CHECKED: could not be read: {cause}"),
        }
    }
}

/// A digest file's place in the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestEntry {
    /// Bucket it was read from.
    pub bucket: String,
    /// Key it was read from.
    pub key: String,
    /// True for the backfill chain.
    pub backfill: bool,
    /// The verdict.
    pub outcome: DigestOutcome,
    /// `digestStartTime`, when the digest could be parsed.
    pub start: Option<DateTime<Utc>>,
    /// `digestEndTime`, when the digest could be parsed.
    pub end: Option<DateTime<Utc>>,
    /// Number of log files it lists (checked only when the digest is valid).
    pub log_files: usize,
}

/// A log file's place in the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Bucket of the log file.
    pub bucket: String,
    /// Key of the log file.
    pub key: String,
    /// The digest that lists it (shared by all its log files).
    pub digest_key: std::sync::Arc<str>,
    /// The verdict.
    pub outcome: LogOutcome,
}

/// One line of the walk, in the order the AWS CLI prints them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Entry {
    /// A digest file.
    Digest(DigestEntry),
    /// A log file listed by the preceding valid digest.
    Log(LogEntry),
    /// The chain restarts: no digest links the two times.
    Gap {
        /// True for the backfill chain.
        backfill: bool,
        /// End of the older digest.
        from: DateTime<Utc>,
        /// Start of the newer digest.
        to: DateTime<Utc>,
    },
}

/// Problems the AWS CLI does not look for, reported apart from its counts.
///
/// Its serde form is the JSON report's layout of a finding (the `kind` field names the
/// variant; times as the report writes them), which partial reports use too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Finding {
    /// More consecutive digests are gone than the one reported "not found".
    MissingDigests {
        /// Bucket of the chain.
        bucket: String,
        /// The key reported not found.
        #[serde(rename = "key")]
        after_key: String,
        /// How many more hourly digests are missing before it.
        count: u64,
        /// End of the next older digest found.
        #[serde(with = "doc::stamp")]
        from: DateTime<Utc>,
        /// End of the digest reported not found.
        #[serde(with = "doc::stamp")]
        to: DateTime<Utc>,
        /// True for the backfill chain.
        backfill: bool,
    },
    /// A digest's `previousDigest*` field does not describe the digest it links to.
    LinkMismatch {
        /// Bucket of the newer digest.
        bucket: String,
        /// The newer digest.
        key: String,
        /// The digest it links to.
        previous_key: String,
        /// The field that differs.
        field: LinkField,
        /// What the newer digest says.
        expected: String,
        /// What the previous digest is.
        actual: String,
    },
    /// A log file of the chain's account and region that no valid digest lists.
    UnreferencedLog {
        /// Bucket of the log file.
        bucket: String,
        /// Key of the log file.
        key: String,
    },
    /// A digest listed in range that the walk never reached: no verified digest links to it,
    /// so it is not part of what CloudTrail signed (an object added to the digest folder).
    UnreachedDigest {
        /// Bucket of the digest.
        bucket: String,
        /// Key of the digest.
        key: String,
        /// True for the backfill chain.
        backfill: bool,
    },
    /// The chain's newest digest ends before the range does (or before now, less the delivery
    /// delay), and nothing CloudTrail signed or said explains it: the newest digests, and the
    /// log files they list, may have been deleted. CloudTrail delivers a digest every hour
    /// while logging is on, even for an hour without log files.
    TailMissing {
        /// Bucket of the chain.
        bucket: String,
        /// The chain's digest folder (`…/CloudTrail-Digest/REGION`).
        folder: String,
        /// The newest digest of the chain found (or the state's head when nothing was found).
        #[serde(rename = "key")]
        newest_key: Option<String>,
        /// Its time (key time: its `digestEndTime`).
        #[serde(with = "doc::opt_stamp")]
        newest_end: Option<DateTime<Utc>>,
        /// Until when digests were expected: the range's end, or now less the delivery slack.
        #[serde(with = "doc::stamp")]
        expected_until: DateTime<Utc>,
        /// What proves that digests were delivered after the newest found, when anything does.
        evidence: Option<String>,
    },
    /// The chain's digest folder could not be listed (a link, a folder that cannot be read, a
    /// listing refused): nothing in it was checked.
    Unlisted {
        /// Bucket of the chain.
        bucket: String,
        /// The folder that could not be listed.
        folder: String,
        /// Why.
        cause: String,
    },
    /// The chain ends early because logging stopped (or the trail was deleted, or validation
    /// turned off), as a signed log file, or CloudTrail's own trail status, says. Informational:
    /// not a problem, and the verdict stays valid.
    LoggingStopped {
        /// Bucket of the chain.
        bucket: String,
        /// The newest digest of the chain found.
        #[serde(rename = "key")]
        newest_key: String,
        /// The event that explains the end.
        #[serde(flatten)]
        stop: StopEvent,
    },
}

/// The `previousDigest*` field a [`Finding::LinkMismatch`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkField {
    /// `previousDigestS3Object`.
    #[serde(rename = "previousDigestS3Object")]
    S3Object,
    /// `previousDigestHashValue`.
    #[serde(rename = "previousDigestHashValue")]
    HashValue,
    /// `previousDigestSignature`.
    #[serde(rename = "previousDigestSignature")]
    Signature,
}

impl LinkField {
    /// The field's name in a digest.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkField::S3Object => "previousDigestS3Object",
            LinkField::HashValue => "previousDigestHashValue",
            LinkField::Signature => "previousDigestSignature",
        }
    }
}

impl std::fmt::Display for LinkField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The record that explains why a chain ends: a `StopLogging`, `DeleteTrail` or `UpdateTrail`
/// (validation off) event from a verified log file, or `GetTrailStatus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopEvent {
    /// `StopLogging`, `DeleteTrail`, `UpdateTrail`, or `GetTrailStatus`.
    pub event_name: String,
    /// When it happened.
    #[serde(with = "doc::stamp")]
    pub event_time: DateTime<Utc>,
    /// Who did it (`userIdentity.arn`), when known.
    pub principal: String,
    /// Its `eventID`, when it is an event.
    pub event_id: String,
    /// Where it was read: `s3://bucket/key` of the verified log file, or `GetTrailStatus`.
    pub source: String,
}

impl Finding {
    /// Invalid for a problem; valid for a line that only informs (a signed stop of logging).
    pub fn status(&self) -> Status {
        match self {
            Finding::LoggingStopped { .. } => Status::Valid,
            Finding::Unlisted { .. } => Status::NotChecked,
            _ => Status::Invalid,
        }
    }

    /// One line for stderr. Worded without `INVALID` so the CLI-compatible lines stay comparable.
    pub fn message(&self) -> String {
        match self {
            Finding::MissingDigests {
                bucket,
                after_key,
                count,
                from,
                to,
                backfill,
            } => format!(
                "{}Digest file\ts3://{bucket}/{after_key}\tMISSING: {count} more digest file{} between {} and {} not found either",
                if *backfill { "(backfill) " } else { "" },
                if *count == 1 { "" } else { "s" },
                display(*from),
                display(*to)
            ),
            Finding::LinkMismatch {
                bucket,
                key,
                previous_key,
                field,
                ..
            } => format!(
                "Digest file\ts3://{bucket}/{key}\tBROKEN LINK: {field} does not match s3://{bucket}/{previous_key}"
            ),
            Finding::UnreferencedLog { bucket, key } => {
                format!("Log file\ts3://{bucket}/{key}\tUNREFERENCED: no valid digest file lists this log file")
            }
            Finding::UnreachedDigest {
                bucket,
                key,
                backfill,
            } => format!(
                "{}Digest file\ts3://{bucket}/{key}\tUNREACHED: no verified digest file links to this digest file",
                if *backfill { "(backfill) " } else { "" }
            ),
            Finding::TailMissing {
                bucket,
                folder,
                newest_key,
                newest_end,
                expected_until,
                evidence,
            } => {
                let (what, place) = match newest_key {
                    Some(k) => ("Digest file", format!("s3://{bucket}/{k}")),
                    None => ("Digest folder", format!("s3://{bucket}/{folder}/")),
                };
                let from = newest_end.map_or_else(|| "the start".to_owned(), display);
                let hours = newest_end.map(|t| {
                    let s = (*expected_until - t).num_seconds().max(0);
                    (s + 3599) / 3600
                });
                let span = match hours {
                    Some(1) => " (1 hour)".to_owned(),
                    Some(h) => format!(" ({h} hours)"),
                    None => String::new(),
                };
                let why = match evidence {
                    Some(e) => format!("; {e}: digest files were deleted"),
                    None => "; no StopLogging, DeleteTrail or UpdateTrail turning validation off was found in the trail's last verified log files".to_owned(),
                };
                format!(
                    "{what}\t{place}\tTAIL MISSING: the chain ends here, but CloudTrail delivers a digest file every hour while logging is on: {from} to {}{span} is not covered{why}",
                    display(*expected_until)
                )
            }
            Finding::LoggingStopped {
                bucket,
                newest_key,
                stop,
            } => format!(
                "Digest file\ts3://{bucket}/{newest_key}\tLOGGING STOPPED: {} at {} by {} (event id {}, in {}): no digest file is expected after this one",
                stop.event_name,
                display(stop.event_time),
                if stop.principal.is_empty() { "an unknown principal" } else { &stop.principal },
                if stop.event_id.is_empty() { "none" } else { &stop.event_id },
                stop.source
            ),
            Finding::Unlisted {
                bucket,
                folder,
                cause,
            } => format!(
                "Digest folder\ts3://{bucket}/{folder}/\tNOT CHECKED: could not be listed: {cause}"
            ),
        }
    }
}

/// Valid / invalid / not-checked counts of one kind of file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Verified.
    pub valid: u64,
    /// Proven wrong.
    pub invalid: u64,
    /// Could not be checked.
    pub not_checked: u64,
}

impl Counts {
    /// All files counted.
    pub fn total(&self) -> u64 {
        // Saturating: a merged part's counts are whatever the file says.
        self.valid
            .saturating_add(self.invalid)
            .saturating_add(self.not_checked)
    }

    /// Counts one more file.
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Valid => self.valid = self.valid.saturating_add(1),
            Status::Invalid => self.invalid = self.invalid.saturating_add(1),
            Status::NotChecked => self.not_checked = self.not_checked.saturating_add(1),
        }
    }

    fn plus(self, o: Counts) -> Counts {
        Counts {
            valid: self.valid.saturating_add(o.valid),
            invalid: self.invalid.saturating_add(o.invalid),
            not_checked: self.not_checked.saturating_add(o.not_checked),
        }
    }
}

/// The overall result, as a scheduler needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Everything in range verified. Exit status 0.
    Valid,
    /// Something was proven wrong. Exit status 1.
    Invalid,
    /// Nothing was proven wrong, but something could not be checked. Exit status 2.
    Incomplete,
}

impl Verdict {
    /// The process exit status for this verdict.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Incomplete => 2,
        }
    }

    /// `valid`, `invalid` or `incomplete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Incomplete => "incomplete",
        }
    }
}

/// Counts over a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Standard digests.
    pub digests: Counts,
    /// Backfill digests.
    pub backfill_digests: Counts,
    /// Log files.
    pub log_files: Counts,
    /// Consecutive missing digests beyond the one per run of deletions the CLI reports.
    pub extra_missing_digests: u64,
    /// Chain links whose `previousDigest*` values do not match.
    pub link_mismatches: u64,
    /// Log files no valid digest lists.
    pub unreferenced_logs: u64,
    /// Digests listed in range that no verified digest links to.
    pub unreached_digests: u64,
    /// Chains whose newest digests are missing (no signed explanation).
    #[serde(default)]
    pub missing_tails: u64,
}

impl Summary {
    /// Counts one more entry of the walk.
    pub fn add_entry(&mut self, entry: &Entry) {
        match entry {
            Entry::Digest(d) if d.backfill => self.backfill_digests.add(d.outcome.status()),
            Entry::Digest(d) => self.digests.add(d.outcome.status()),
            Entry::Log(l) => self.log_files.add(l.outcome.status()),
            Entry::Gap { .. } => {}
        }
    }

    /// Counts one more finding.
    pub fn add_finding(&mut self, finding: &Finding) {
        match finding {
            Finding::MissingDigests { count, .. } => {
                self.extra_missing_digests = self.extra_missing_digests.saturating_add(*count)
            }
            Finding::LinkMismatch { .. } => {
                self.link_mismatches = self.link_mismatches.saturating_add(1)
            }
            Finding::UnreferencedLog { .. } => {
                self.unreferenced_logs = self.unreferenced_logs.saturating_add(1)
            }
            Finding::UnreachedDigest { .. } => {
                self.unreached_digests = self.unreached_digests.saturating_add(1)
            }
            Finding::TailMissing { .. } => {
                self.missing_tails = self.missing_tails.saturating_add(1)
            }
            Finding::LoggingStopped { .. } | Finding::Unlisted { .. } => {}
        }
    }

    pub(crate) fn plus(self, o: Summary) -> Summary {
        Summary {
            digests: self.digests.plus(o.digests),
            backfill_digests: self.backfill_digests.plus(o.backfill_digests),
            log_files: self.log_files.plus(o.log_files),
            extra_missing_digests: self
                .extra_missing_digests
                .saturating_add(o.extra_missing_digests),
            link_mismatches: self.link_mismatches.saturating_add(o.link_mismatches),
            unreferenced_logs: self.unreferenced_logs.saturating_add(o.unreferenced_logs),
            unreached_digests: self.unreached_digests.saturating_add(o.unreached_digests),
            missing_tails: self.missing_tails.saturating_add(o.missing_tails),
        }
    }

    /// True when no digest was examined.
    pub fn no_digests(&self) -> bool {
        self.digests.total() == 0 && self.backfill_digests.total() == 0
    }

    /// Valid, invalid, or incomplete.
    pub fn verdict(&self, findings: usize) -> Verdict {
        let kinds = [self.digests, self.backfill_digests, self.log_files];
        if kinds.iter().any(|c| c.invalid > 0) || findings > 0 {
            Verdict::Invalid
        } else if kinds.iter().any(|c| c.not_checked > 0) {
            Verdict::Incomplete
        } else {
            Verdict::Valid
        }
    }
}

/// A public key that verified at least one digest of the run.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyUse {
    /// MD5 of its DER, as digests name it.
    pub fingerprint: String,
    /// Start of its validity, when known.
    pub validity_start: Option<DateTime<Utc>>,
    /// End of its validity, when known.
    pub validity_end: Option<DateTime<Utc>>,
}

/// Version of the JSON report layout (2: one `entries` array in walk order, each entry once).
pub const JSON_VERSION: u64 = 2;

/// The result of validating one chain over a time range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The trail ARN, for the header line.
    pub trail_arn: String,
    /// The chain validated (bucket, account, source region…).
    pub chain: Chain,
    /// Requested start.
    pub start: DateTime<Utc>,
    /// Requested end.
    pub end: DateTime<Utc>,
    /// Earliest time covered by a valid digest (clamped to the request).
    pub found_start: Option<DateTime<Utc>>,
    /// Latest time covered by a valid digest (clamped to the request).
    pub found_end: Option<DateTime<Utc>>,
    /// The walk, in the AWS CLI's order: empty when the entries were streamed to a sink
    /// ([`crate::validate::Options::stream_entries`]); valid log files are left out when the
    /// run was told not to keep them. [`Report::counts`] counts every entry either way.
    pub entries: Vec<Entry>,
    /// Counts of every entry of the walk, kept or not (findings are counted by
    /// [`Report::summary`]).
    pub counts: Summary,
    /// Findings beyond the AWS CLI's checks.
    pub findings: Vec<Finding>,
    /// The head this run resumed from (incremental runs): only newer digests were read.
    pub resumed_from: Option<Head>,
    /// The newest valid digest found: the head to resume from next time (when the verdict is
    /// valid).
    pub new_head: Option<Head>,
    /// Where the public keys came from.
    pub key_source: String,
    /// Every public key that verified a digest, by fingerprint.
    pub keys_used: Vec<KeyUse>,
}

impl Report {
    /// Counts of every kind.
    pub fn summary(&self) -> Summary {
        let mut s = self.counts;
        s.extra_missing_digests = 0;
        s.link_mismatches = 0;
        s.unreferenced_logs = 0;
        s.unreached_digests = 0;
        s.missing_tails = 0;
        for f in &self.findings {
            s.add_finding(f);
        }
        s
    }

    /// Valid, invalid, or incomplete.
    pub fn verdict(&self) -> Verdict {
        let invalid = self
            .findings
            .iter()
            .filter(|f| f.status() == Status::Invalid)
            .count();
        match self.summary().verdict(invalid) {
            Verdict::Valid if self.problems() > invalid => Verdict::Incomplete,
            v => v,
        }
    }

    /// Findings that are problems (not the informational ones).
    pub fn problems(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.status() != Status::Valid)
            .count()
    }

    /// Several chains' reports as one, without their entries: the counts summed, findings in
    /// chain order, the widest range, every key used.
    pub fn totals(reports: &[Report]) -> Option<Report> {
        let first = reports.first()?;
        let mut all = first.clone();
        all.entries = Vec::new();
        all.resumed_from = None;
        all.new_head = None;
        for r in &reports[1..] {
            all.start = all.start.min(r.start);
            all.end = all.end.max(r.end);
            all.found_start = match (all.found_start, r.found_start) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            all.found_end = match (all.found_end, r.found_end) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            all.counts = all.counts.plus(r.counts);
            all.findings.extend(r.findings.iter().cloned());
            all.keys_used.extend(r.keys_used.iter().cloned());
        }
        all.keys_used.sort();
        all.keys_used.dedup();
        Some(all)
    }
}
