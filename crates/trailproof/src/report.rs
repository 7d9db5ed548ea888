//! Verdicts, the ordered report of a run, its summary, and the two renderings: the AWS CLI's text
//! and a JSON document.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::layout::Chain;
use crate::state::Head;
use crate::time::display;

/// Whether something was proven intact, proven not intact, or could not be checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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

    fn detail(&self) -> Value {
        match self {
            DigestOutcome::InvalidFormat { reason }
            | DigestOutcome::NotVerified { reason }
            | DigestOutcome::TooLarge { reason } => json!(reason),
            DigestOutcome::KeyNotValid { validity, .. } => json!(validity),
            DigestOutcome::Moved { claimed } => json!(format!("the digest names {claimed}")),
            DigestOutcome::Other { message } => json!(message),
            DigestOutcome::Unreadable { cause } => json!(cause),
            _ => Value::Null,
        }
    }
}

/// The verdict on one log file.
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// More consecutive digests are gone than the one reported "not found".
    MissingDigests {
        /// Bucket of the chain.
        bucket: String,
        /// The key reported not found.
        after_key: String,
        /// How many more hourly digests are missing before it.
        count: u64,
        /// End of the next older digest found.
        from: DateTime<Utc>,
        /// End of the digest reported not found.
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
        /// `previousDigestHashValue` or `previousDigestSignature`.
        field: &'static str,
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
}

impl Finding {
    fn code(&self) -> &'static str {
        match self {
            Finding::MissingDigests { .. } => "missing_digests",
            Finding::LinkMismatch { .. } => "link_mismatch",
            Finding::UnreferencedLog { .. } => "unreferenced_log",
            Finding::UnreachedDigest { .. } => "unreached_digest",
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
        }
    }

    fn to_json(&self) -> Value {
        let mut v = match self {
            Finding::MissingDigests {
                bucket,
                after_key,
                count,
                from,
                to,
                backfill,
            } => {
                json!({"bucket": bucket, "key": after_key, "count": count, "from": display(*from), "to": display(*to), "backfill": backfill})
            }
            Finding::LinkMismatch {
                bucket,
                key,
                previous_key,
                field,
                expected,
                actual,
            } => {
                json!({"bucket": bucket, "key": key, "previous_key": previous_key, "field": field, "expected": expected, "actual": actual})
            }
            Finding::UnreferencedLog { bucket, key } => json!({"bucket": bucket, "key": key}),
            Finding::UnreachedDigest {
                bucket,
                key,
                backfill,
            } => json!({"bucket": bucket, "key": key, "backfill": backfill}),
        };
        v["kind"] = json!(self.code());
        v["message"] = json!(self.message());
        v
    }
}

fn head_json(h: &Head) -> Value {
    json!({"bucket": h.bucket, "key": h.key, "end_time": display(h.end_time), "signature": h.signature, "hash": h.hash})
}

/// Valid / invalid / not-checked counts of one kind of file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
        self.valid + self.invalid + self.not_checked
    }

    /// Counts one more file.
    pub fn add(&mut self, status: Status) {
        match status {
            Status::Valid => self.valid += 1,
            Status::Invalid => self.invalid += 1,
            Status::NotChecked => self.not_checked += 1,
        }
    }

    fn plus(self, o: Counts) -> Counts {
        Counts {
            valid: self.valid + o.valid,
            invalid: self.invalid + o.invalid,
            not_checked: self.not_checked + o.not_checked,
        }
    }

    fn to_json(self) -> Value {
        json!({"valid": self.valid, "invalid": self.invalid, "not_checked": self.not_checked, "total": self.total()})
    }
}

/// The overall result, as a scheduler needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
            Finding::MissingDigests { count, .. } => self.extra_missing_digests += count,
            Finding::LinkMismatch { .. } => self.link_mismatches += 1,
            Finding::UnreferencedLog { .. } => self.unreferenced_logs += 1,
            Finding::UnreachedDigest { .. } => self.unreached_digests += 1,
        }
    }

    fn plus(self, o: Summary) -> Summary {
        Summary {
            digests: self.digests.plus(o.digests),
            backfill_digests: self.backfill_digests.plus(o.backfill_digests),
            log_files: self.log_files.plus(o.log_files),
            extra_missing_digests: self.extra_missing_digests + o.extra_missing_digests,
            link_mismatches: self.link_mismatches + o.link_mismatches,
            unreferenced_logs: self.unreferenced_logs + o.unreferenced_logs,
            unreached_digests: self.unreached_digests + o.unreached_digests,
        }
    }

    /// The three counted kinds of file, with the name the text reports give them, in order.
    pub fn kinds(&self) -> [(Counts, &'static str); 3] {
        [
            (self.digests, "digest"),
            (self.backfill_digests, "backfill digest"),
            (self.log_files, "log"),
        ]
    }

    /// True when no digest was examined.
    pub fn no_digests(&self) -> bool {
        self.digests.total() + self.backfill_digests.total() == 0
    }

    /// Valid, invalid, or incomplete.
    pub fn verdict(&self, findings: usize) -> Verdict {
        let invalid = self.digests.invalid + self.backfill_digests.invalid + self.log_files.invalid;
        let not_checked = self.digests.not_checked
            + self.backfill_digests.not_checked
            + self.log_files.not_checked;
        if invalid > 0 || findings > 0 {
            Verdict::Invalid
        } else if not_checked > 0 {
            Verdict::Incomplete
        } else {
            Verdict::Valid
        }
    }

    fn to_json(self) -> Value {
        json!({
            "digest_files": self.digests.to_json(),
            "backfill_digest_files": self.backfill_digests.to_json(),
            "log_files": self.log_files.to_json(),
            "extra_missing_digest_files": self.extra_missing_digests,
            "link_mismatches": self.link_mismatches,
            "unreferenced_log_files": self.unreferenced_logs,
            "unreached_digest_files": self.unreached_digests,
        })
    }
}

/// A public key that verified at least one digest of the run.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
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
#[derive(Clone, Debug, PartialEq, Eq)]
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
        for f in &self.findings {
            s.add_finding(f);
        }
        s
    }

    /// Valid, invalid, or incomplete.
    pub fn verdict(&self) -> Verdict {
        self.summary().verdict(self.findings.len())
    }

    /// Writes the AWS CLI's output: progress and summary to `out`, problems to `err`, valid files
    /// to `out` only when `verbose`. Same lines, spacing and streams as `validate-logs`.
    pub fn write_text(
        &self,
        verbose: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<()> {
        let mut w = TextWriter::new(out, err, verbose);
        w.header(&self.trail_arn, self.start, self.end);
        for entry in &self.entries {
            w.entry(entry)?;
        }
        w.finish(self, &[])
    }

    /// The JSON report: the chain, every entry kept, findings, and the summary (schema in
    /// README.md).
    pub fn to_json(&self) -> Value {
        let mut doc = self.json_fields();
        doc.insert(
            "entries".to_owned(),
            Value::Array(self.entries.iter().map(entry_json).collect()),
        );
        Value::Object(doc)
    }

    /// Every field of [`Report::to_json`] but `entries`, for writers that stream them.
    pub fn json_fields(&self) -> serde_json::Map<String, Value> {
        let s = self.summary();
        let verdict = self.verdict();
        let doc = json!({
            "version": JSON_VERSION,
            "trail_arn": self.trail_arn,
            "chain": {
                "bucket": self.chain.bucket,
                "prefix": self.chain.prefix,
                "organization_id": self.chain.organization_id,
                "account_id": self.chain.account_id,
                "source_region": self.chain.source_region,
                "home_region": self.chain.home_region,
                "trail_name": self.chain.trail_name,
            },
            "resumed_from": self.resumed_from.as_ref().map(head_json),
            "new_head": self.new_head.as_ref().map(head_json),
            "no_new_digests": self.resumed_from.is_some() && s.no_digests(),
            "requested": {"start": display(self.start), "end": display(self.end)},
            "found": found_json(self.found_start, self.found_end),
            "verdict": verdict.as_str(),
            "exit_code": verdict.exit_code(),
            "summary": s.to_json(),
            "public_keys": keys_json(&self.key_source, &self.keys_used),
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        });
        match doc {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        }
    }

    /// `[o-ID/]ACCOUNT REGION: counts…`: one chain's line in a multi-chain summary.
    pub fn chain_line(&self) -> String {
        let c = &self.chain;
        let owner = match &c.organization_id {
            Some(o) => format!("{o}/{}", c.account_id),
            None => c.account_id.clone(),
        };
        let s = self.summary();
        let mut parts = Vec::new();
        for (counts, name) in s.kinds() {
            let total = counts.total();
            if total == 0 {
                continue;
            }
            let mut part = format!("{}/{total} {name} files valid", counts.valid);
            if counts.invalid > 0 {
                part.push_str(&format!(", {}/{total} INVALID", counts.invalid));
            }
            if counts.not_checked > 0 {
                part.push_str(&format!(", {}/{total} NOT CHECKED", counts.not_checked));
            }
            parts.push(part);
        }
        if !self.findings.is_empty() {
            parts.push(format!("{} other findings", self.findings.len()));
        }
        if parts.is_empty() {
            parts.push(
                if self.resumed_from.is_some() {
                    "no new digests"
                } else {
                    "no digests found"
                }
                .to_owned(),
            );
        }
        let found = match (self.found_start, self.found_end) {
            (Some(a), Some(b)) => format!(" ({} to {})", display(a), display(b)),
            _ => String::new(),
        };
        escape_controls(&format!(
            "{owner} {}: {}{found} [{}]",
            c.source_region,
            parts.join("; "),
            self.verdict().as_str()
        ))
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

    /// The JSON report of several chains, each entry once: each chain's own report under
    /// `chains`, and the totals at the top level.
    pub fn chains_to_json(reports: &[Report]) -> Value {
        let mut doc = chains_json_fields(reports);
        doc.insert(
            "chains".to_owned(),
            Value::Array(reports.iter().map(Report::to_json).collect()),
        );
        Value::Object(doc)
    }
}

/// The top-level fields of a multi-chain JSON report, but `chains`.
pub fn chains_json_fields(reports: &[Report]) -> serde_json::Map<String, Value> {
    let Some(all) = Report::totals(reports) else {
        let mut m = serde_json::Map::new();
        m.insert("version".into(), json!(JSON_VERSION));
        return m;
    };
    let s = all.summary();
    let verdict = all.verdict();
    let doc = json!({
        "version": JSON_VERSION,
        "trail_arn": all.trail_arn,
        "requested": {"start": display(all.start), "end": display(all.end)},
        "found": found_json(all.found_start, all.found_end),
        "verdict": verdict.as_str(),
        "exit_code": verdict.exit_code(),
        "summary": s.to_json(),
        "public_keys": keys_json(&all.key_source, &all.keys_used),
    });
    match doc {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

fn found_json(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Value {
    match (a, b) {
        (Some(a), Some(b)) => json!({"start": display(a), "end": display(b)}),
        _ => Value::Null,
    }
}

fn keys_json(source: &str, keys: &[KeyUse]) -> Value {
    json!({
        "source": source,
        "keys": keys.iter().map(|k| json!({
            "fingerprint": k.fingerprint,
            "validity_start": k.validity_start.map(display),
            "validity_end": k.validity_end.map(display),
            "source": source,
        })).collect::<Vec<_>>(),
    })
}

/// One entry of the walk as JSON (`type`: `digest`, `log` or `gap`).
pub fn entry_json(entry: &Entry) -> Value {
    match entry {
        Entry::Digest(d) => json!({
            "type": "digest",
            "bucket": d.bucket,
            "key": d.key,
            "backfill": d.backfill,
            "status": d.outcome.status().as_str(),
            "outcome": d.outcome.code(),
            "message": d.outcome.message(),
            "detail": d.outcome.detail(),
            "start": d.start.map(display),
            "end": d.end.map(display),
            "log_files": d.log_files,
        }),
        Entry::Log(l) => {
            let mut v = json!({
                "type": "log",
                "bucket": l.bucket,
                "key": l.key,
                "digest_key": &*l.digest_key,
                "status": l.outcome.status().as_str(),
                "outcome": l.outcome.code(),
                "message": l.outcome.message(),
            });
            match &l.outcome {
                LogOutcome::HashMismatch { expected, actual } => {
                    v["expected"] = json!(expected);
                    v["actual"] = json!(actual);
                }
                LogOutcome::InvalidFormat { reason: d } | LogOutcome::Unreadable { cause: d } => {
                    v["detail"] = json!(d);
                }
                LogOutcome::TrailingData { second_member } => {
                    v["detail"] = json!(if *second_member {
                        "a second gzip member follows the one the digest covers"
                    } else {
                        "bytes follow the end of the gzip stream"
                    });
                }
                _ => {}
            }
            v
        }
        Entry::Gap { backfill, from, to } => json!({
            "type": "gap",
            "backfill": backfill,
            "from": display(*from),
            "to": display(*to),
        }),
    }
}

/// Replaces control characters (other than tab, which separates the fields) with `\u{…}`
/// escapes: keys come from the archive, and a newline or an escape sequence in one must not
/// split a report line or reach the terminal.
pub fn escape_controls(line: &str) -> String {
    if !line.chars().any(|c| c.is_control() && c != '\t') {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        if c.is_control() && c != '\t' {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The line the AWS CLI prints for an entry, and whether it goes to stderr; `None` for a valid
/// file when not `verbose`.
pub fn entry_line(entry: &Entry, verbose: bool) -> Option<(bool, String)> {
    let (line, is_error) = match entry {
        Entry::Digest(d) => (
            format!(
                "{}Digest file\ts3://{}/{}\t{}",
                if d.backfill { "(backfill) " } else { "" },
                d.bucket,
                d.key,
                d.outcome.message()
            ),
            d.outcome.status() != Status::Valid,
        ),
        Entry::Log(l) => (
            format!(
                "Log file\ts3://{}/{}\t{}",
                l.bucket,
                l.key,
                l.outcome.message()
            ),
            l.outcome.status() != Status::Valid,
        ),
        Entry::Gap { backfill, from, to } => (
            format!(
                "{}No log files were delivered by CloudTrail between {} and {}",
                if *backfill { "(backfill) " } else { "" },
                display(*from),
                display(*to)
            ),
            true,
        ),
    };
    (is_error || verbose).then(|| (is_error, escape_controls(&line)))
}

/// Writes the AWS CLI's text a line at a time, as the walk produces entries: the header
/// (printed before the first line), problem lines on `err`, valid lines on `out` when verbose,
/// then [`TextWriter::finish`] with the summary.
pub struct TextWriter<O: Write, E: Write> {
    /// Where the header, valid lines and summary go.
    pub out: O,
    /// Where problem lines go.
    pub err: E,
    verbose: bool,
    double_spaced: bool,
    header: Option<String>,
}

impl<O: Write, E: Write> std::fmt::Debug for TextWriter<O, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextWriter")
            .field("verbose", &self.verbose)
            .finish_non_exhaustive()
    }
}

impl<O: Write, E: Write> TextWriter<O, E> {
    /// A writer; `verbose` prints valid files too.
    pub fn new(out: O, err: E, verbose: bool) -> Self {
        TextWriter {
            out,
            err,
            verbose,
            double_spaced: true,
            header: None,
        }
    }

    /// True when valid files are printed too.
    pub fn verbose(&self) -> bool {
        self.verbose
    }

    /// The `Validating log files for trail …` line, printed before the first other line.
    pub fn header(&mut self, trail_arn: &str, start: DateTime<Utc>, end: DateTime<Utc>) {
        self.header = Some(format!(
            "Validating log files for trail {} between {} and {}\n",
            escape_controls(trail_arn),
            display(start),
            display(end)
        ));
    }

    fn flush_header(&mut self) -> io::Result<()> {
        if let Some(h) = self.header.take() {
            writeln!(self.out, "{h}")?;
            self.out.flush()?;
        }
        Ok(())
    }

    /// One entry of the walk.
    pub fn entry(&mut self, entry: &Entry) -> io::Result<()> {
        match entry_line(entry, self.verbose) {
            Some((is_error, line)) => self.line(is_error, &line),
            None => Ok(()),
        }
    }

    /// One line, spaced as the AWS CLI spaces them (problems on `err`, double spaced).
    pub fn line(&mut self, is_error: bool, message: &str) -> io::Result<()> {
        self.flush_header()?;
        if is_error {
            if self.double_spaced {
                write!(self.err, "{message}\n\n")?;
            } else {
                write!(self.err, "\n{message}\n\n")?;
            }
            self.double_spaced = true;
        } else {
            self.double_spaced = false;
            writeln!(self.out, "{message}")?;
        }
        Ok(())
    }

    /// The findings, the per-chain lines (several chains), the summary and the key line of
    /// `totals` (one chain's report, or [`Report::totals`] of several).
    pub fn finish(&mut self, totals: &Report, chains: &[Report]) -> io::Result<()> {
        self.flush_header()?;
        for finding in &totals.findings {
            self.line(true, &escape_controls(&finding.message()))?;
        }
        if !self.double_spaced {
            writeln!(self.out)?;
        }
        if !chains.is_empty() {
            writeln!(self.out, "Chains ({}):", chains.len())?;
            for c in chains {
                writeln!(self.out, "  {}", c.chain_line())?;
            }
            writeln!(self.out)?;
        }
        writeln!(
            self.out,
            "Results requested for {} to {}",
            display(totals.start),
            display(totals.end)
        )?;
        let s = totals.summary();
        if s.no_digests() {
            match &totals.resumed_from {
                Some(head) => writeln!(
                    self.out,
                    "No new digests since {} (s3://{}/{})",
                    display(head.end_time),
                    head.bucket,
                    escape_controls(&head.key)
                )?,
                None => writeln!(self.out, "No digests found")?,
            }
            return self.out.flush();
        }
        match (totals.found_start, totals.found_end) {
            (Some(a), Some(b)) => writeln!(
                self.out,
                "Results found for {} to {}:",
                display(a),
                display(b)
            )?,
            _ => writeln!(self.out, "No valid digests found in range")?,
        }
        for (counts, name) in s.kinds() {
            let total = counts.total();
            if total == 0 {
                continue;
            }
            write!(self.out, "\n{}/{total} {name} files valid", counts.valid)?;
            if counts.invalid > 0 {
                write!(
                    self.out,
                    ", {}/{total} {name} files INVALID",
                    counts.invalid
                )?;
            }
            if counts.not_checked > 0 {
                write!(
                    self.out,
                    ", {}/{total} {name} files NOT CHECKED",
                    counts.not_checked
                )?;
            }
        }
        for (n, text) in [
            (
                s.extra_missing_digests,
                "more digest files missing than reported above",
            ),
            (
                s.link_mismatches,
                "digest files whose previousDigest fields do not match the previous digest",
            ),
            (
                s.unreferenced_logs,
                "log files in the bucket that no valid digest file lists",
            ),
            (
                s.unreached_digests,
                "digest files in range that no verified digest file links to",
            ),
        ] {
            if n > 0 {
                write!(self.out, "\n{n} {text}")?;
            }
        }
        writeln!(self.out)?;
        // Every report that examined a digest names its trust anchor, even when no key verified.
        let fingerprints: Vec<&str> = totals
            .keys_used
            .iter()
            .map(|k| k.fingerprint.as_str())
            .collect();
        writeln!(
            self.out,
            "{KEYS_LINE_PREFIX}{} ({})",
            escape_controls(&totals.key_source),
            if fingerprints.is_empty() {
                "no key verified a digest".to_owned()
            } else {
                fingerprints.join(", ")
            }
        )?;
        self.out.flush()
    }
}

/// Start of the line naming the public keys, under the summary (not in the AWS CLI's output).
pub const KEYS_LINE_PREFIX: &str = "Public keys: ";
