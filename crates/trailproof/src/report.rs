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
    fn as_str(self) -> &'static str {
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
}

impl DigestOutcome {
    /// Valid, invalid or not checked.
    pub fn status(&self) -> Status {
        match self {
            DigestOutcome::Valid => Status::Valid,
            DigestOutcome::NotVerified { .. } | DigestOutcome::Unreadable { .. } => {
                Status::NotChecked
            }
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
        }
    }

    fn detail(&self) -> Value {
        match self {
            DigestOutcome::InvalidFormat { reason } | DigestOutcome::NotVerified { reason } => {
                json!(reason)
            }
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
}

impl Finding {
    fn code(&self) -> &'static str {
        match self {
            Finding::MissingDigests { .. } => "missing_digests",
            Finding::LinkMismatch { .. } => "link_mismatch",
            Finding::UnreferencedLog { .. } => "unreferenced_log",
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

    fn add(&mut self, status: Status) {
        match status {
            Status::Valid => self.valid += 1,
            Status::Invalid => self.invalid += 1,
            Status::NotChecked => self.not_checked += 1,
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
}

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
    /// The walk, in the AWS CLI's order. Valid log files are left out when the run was told not
    /// to keep them ([`crate::validate::Options::keep_valid_logs`]); they are then only counted
    /// in `omitted_valid_logs`.
    pub entries: Vec<Entry>,
    /// Valid log files counted but not listed in `entries`.
    pub omitted_valid_logs: u64,
    /// Findings beyond the AWS CLI's checks.
    pub findings: Vec<Finding>,
    /// The head this run resumed from (incremental runs): only newer digests were read.
    pub resumed_from: Option<Head>,
    /// The newest valid digest found: the head to resume from next time (when the verdict is
    /// valid).
    pub new_head: Option<Head>,
}

impl Report {
    /// Counts of every kind.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        s.log_files.valid += self.omitted_valid_logs;
        for entry in &self.entries {
            match entry {
                Entry::Digest(d) if d.backfill => s.backfill_digests.add(d.outcome.status()),
                Entry::Digest(d) => s.digests.add(d.outcome.status()),
                Entry::Log(l) => s.log_files.add(l.outcome.status()),
                Entry::Gap { .. } => {}
            }
        }
        for f in &self.findings {
            match f {
                Finding::MissingDigests { count, .. } => s.extra_missing_digests += count,
                Finding::LinkMismatch { .. } => s.link_mismatches += 1,
                Finding::UnreferencedLog { .. } => s.unreferenced_logs += 1,
            }
        }
        s
    }

    /// Valid, invalid, or incomplete.
    pub fn verdict(&self) -> Verdict {
        let s = self.summary();
        let invalid = s.digests.invalid + s.backfill_digests.invalid + s.log_files.invalid;
        let not_checked =
            s.digests.not_checked + s.backfill_digests.not_checked + s.log_files.not_checked;
        if invalid > 0 || !self.findings.is_empty() {
            Verdict::Invalid
        } else if not_checked > 0 {
            Verdict::Incomplete
        } else {
            Verdict::Valid
        }
    }

    /// Writes the AWS CLI's output: progress and summary to `out`, problems to `err`, valid files
    /// to `out` only when `verbose`. Same lines, spacing and streams as `validate-logs`.
    pub fn write_text(
        &self,
        verbose: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<()> {
        self.write_text_with(verbose, out, err, &[])
    }

    fn write_text_with(
        &self,
        verbose: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
        chains: &[Report],
    ) -> io::Result<()> {
        writeln!(
            out,
            "Validating log files for trail {} between {} and {}\n",
            self.trail_arn,
            display(self.start),
            display(self.end)
        )?;
        let mut double_spaced = true;
        let mut status = |message: String, is_error: bool| -> io::Result<()> {
            if is_error {
                if double_spaced {
                    write!(err, "{message}\n\n")?;
                } else {
                    write!(err, "\n{message}\n\n")?;
                }
                double_spaced = true;
            } else if verbose {
                double_spaced = false;
                writeln!(out, "{message}")?;
            }
            Ok(())
        };
        for entry in &self.entries {
            match entry {
                Entry::Digest(d) => {
                    let prefix = if d.backfill { "(backfill) " } else { "" };
                    status(
                        format!(
                            "{prefix}Digest file\ts3://{}/{}\t{}",
                            d.bucket,
                            d.key,
                            d.outcome.message()
                        ),
                        d.outcome.status() != Status::Valid,
                    )?;
                }
                Entry::Log(l) => status(
                    format!(
                        "Log file\ts3://{}/{}\t{}",
                        l.bucket,
                        l.key,
                        l.outcome.message()
                    ),
                    l.outcome.status() != Status::Valid,
                )?,
                Entry::Gap { backfill, from, to } => status(
                    format!(
                        "{}No log files were delivered by CloudTrail between {} and {}",
                        if *backfill { "(backfill) " } else { "" },
                        display(*from),
                        display(*to)
                    ),
                    true,
                )?,
            }
        }
        for finding in &self.findings {
            status(finding.message(), true)?;
        }
        if !double_spaced {
            writeln!(out)?;
        }
        if !chains.is_empty() {
            writeln!(out, "Chains ({}):", chains.len())?;
            for c in chains {
                writeln!(out, "  {}", c.chain_line())?;
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "Results requested for {} to {}",
            display(self.start),
            display(self.end)
        )?;
        let s = self.summary();
        if s.digests.total() + s.backfill_digests.total() == 0 {
            return match &self.resumed_from {
                Some(head) => writeln!(
                    out,
                    "No new digests since {} (s3://{}/{})",
                    display(head.end_time),
                    head.bucket,
                    head.key
                ),
                None => writeln!(out, "No digests found"),
            };
        }
        match (self.found_start, self.found_end) {
            (Some(a), Some(b)) => {
                writeln!(out, "Results found for {} to {}:", display(a), display(b))?
            }
            _ => writeln!(out, "No valid digests found in range")?,
        }
        for (counts, name) in [
            (s.digests, "digest"),
            (s.backfill_digests, "backfill digest"),
            (s.log_files, "log"),
        ] {
            let total = counts.total();
            if total == 0 {
                continue;
            }
            write!(out, "\n{}/{total} {name} files valid", counts.valid)?;
            if counts.invalid > 0 {
                write!(out, ", {}/{total} {name} files INVALID", counts.invalid)?;
            }
            if counts.not_checked > 0 {
                write!(
                    out,
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
        ] {
            if n > 0 {
                write!(out, "\n{n} {text}")?;
            }
        }
        writeln!(out)
    }

    /// The JSON report: every file's outcome, findings, and the summary (schema in README.md).
    pub fn to_json(&self) -> Value {
        let s = self.summary();
        let verdict = self.verdict();
        let mut digests = Vec::new();
        let mut logs = Vec::new();
        let mut gaps = Vec::new();
        for entry in &self.entries {
            match entry {
                Entry::Digest(d) => digests.push(json!({
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
                })),
                Entry::Log(l) => {
                    let mut v = json!({
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
                        LogOutcome::InvalidFormat { reason: d }
                        | LogOutcome::Unreadable { cause: d } => {
                            v["detail"] = json!(d);
                        }
                        _ => {}
                    }
                    logs.push(v)
                }
                Entry::Gap { backfill, from, to } => gaps.push(
                    json!({"backfill": backfill, "from": display(*from), "to": display(*to)}),
                ),
            }
        }
        json!({
            "version": 1,
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
            "no_new_digests": self.resumed_from.is_some() && s.digests.total() + s.backfill_digests.total() == 0,
            "requested": {"start": display(self.start), "end": display(self.end)},
            "found": match (self.found_start, self.found_end) {
                (Some(a), Some(b)) => json!({"start": display(a), "end": display(b)}),
                _ => Value::Null,
            },
            "verdict": verdict.as_str(),
            "exit_code": verdict.exit_code(),
            "summary": {
                "digest_files": s.digests.to_json(),
                "backfill_digest_files": s.backfill_digests.to_json(),
                "log_files": s.log_files.to_json(),
                "extra_missing_digest_files": s.extra_missing_digests,
                "link_mismatches": s.link_mismatches,
                "unreferenced_log_files": s.unreferenced_logs,
            },
            "digest_files": digests,
            "log_files": logs,
            "gaps": gaps,
            "findings": self.findings.iter().map(Finding::to_json).collect::<Vec<_>>(),
        })
    }
}

impl Report {
    /// `[o-ID/]ACCOUNT REGION: counts…`: one chain's line in a multi-chain summary.
    pub fn chain_line(&self) -> String {
        let c = &self.chain;
        let owner = match &c.organization_id {
            Some(o) => format!("{o}/{}", c.account_id),
            None => c.account_id.clone(),
        };
        let s = self.summary();
        let mut parts = Vec::new();
        for (counts, name) in [
            (s.digests, "digest"),
            (s.backfill_digests, "backfill digest"),
            (s.log_files, "log"),
        ] {
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
        format!(
            "{owner} {}: {}{found} [{}]",
            c.source_region,
            parts.join("; "),
            self.verdict().as_str()
        )
    }

    /// Several chains' reports as one: entries and findings in chain order, the widest range.
    pub fn merged(reports: &[Report]) -> Option<Report> {
        let first = reports.first()?;
        let mut all = first.clone();
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
            all.entries.extend(r.entries.iter().cloned());
            all.omitted_valid_logs += r.omitted_valid_logs;
            all.findings.extend(r.findings.iter().cloned());
        }
        Some(all)
    }

    /// The AWS CLI's text for several chains: every chain's problem lines, one line per chain,
    /// then the totals in the CLI's form.
    pub fn write_text_chains(
        reports: &[Report],
        verbose: bool,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> io::Result<()> {
        match Report::merged(reports) {
            Some(all) => all.write_text_with(verbose, out, err, reports),
            None => writeln!(out, "No chains found"),
        }
    }

    /// The JSON report of several chains: totals, plus each chain's own report.
    pub fn chains_to_json(reports: &[Report]) -> Value {
        let Some(all) = Report::merged(reports) else {
            return json!({"version": 1, "chains": [], "verdict": "valid", "exit_code": 0});
        };
        let mut doc = all.to_json();
        doc["chains"] = Value::Array(reports.iter().map(Report::to_json).collect());
        doc
    }
}
