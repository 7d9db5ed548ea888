//! The report document: Rust types that *are* the JSON layout (version [`JSON_VERSION`]).
//!
//! Every output is a renderer of this one document. The JSON report serialises it (the entries
//! streamed from disk, see [`write_chain_head`]); the HTML page deserialises it, and a layout it
//! does not know is an error, never a page of zeros; the sentences the text report and the page
//! share (the summary, one line per chain) are written here once, from it.

use std::fmt;
use std::io::{self, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{escape_controls, Counts, Entry, Finding, LogOutcome, Report, Status, Summary};
use super::{Verdict, JSON_VERSION, KEYS_LINE_PREFIX};
use crate::layout::Chain;
use crate::state::Head;
use crate::time::display;

/// A time as reports write it (`2024-03-01T01:00:00Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(pub DateTime<Utc>);

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&display(self.0))
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&display(self.0))
    }
}

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Stamp, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Stamp(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("invalid time {text:?}: {e}")))
    }
}

/// `#[serde(with = "stamp")]`: a time field written as reports write times.
pub(crate) mod stamp {
    use super::*;

    pub fn serialize<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        Stamp(*t).serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        Ok(Stamp::deserialize(d)?.0)
    }
}

/// `#[serde(with = "opt_stamp")]`: [`stamp`] for an optional time.
pub(crate) mod opt_stamp {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        t.map(Stamp).serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Stamp>::deserialize(d)?.map(|t| t.0))
    }
}

impl From<DateTime<Utc>> for Stamp {
    fn from(t: DateTime<Utc>) -> Stamp {
        Stamp(t)
    }
}

/// A span of time: the range requested, or the range valid digests cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// First instant.
    pub start: Stamp,
    /// Last instant.
    pub end: Stamp,
}

impl Period {
    fn of(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<Period> {
        Some(Period {
            start: Stamp(start?),
            end: Stamp(end?),
        })
    }
}

/// Valid / invalid / not-checked counts of one kind of file, and their total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountsDoc {
    /// Verified.
    pub valid: u64,
    /// Proven wrong.
    pub invalid: u64,
    /// Could not be checked.
    pub not_checked: u64,
    /// All of them.
    pub total: u64,
}

impl From<Counts> for CountsDoc {
    fn from(c: Counts) -> CountsDoc {
        CountsDoc {
            valid: c.valid,
            invalid: c.invalid,
            not_checked: c.not_checked,
            total: c.total(),
        }
    }
}

/// The counts of a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryDoc {
    /// Standard digests.
    pub digest_files: CountsDoc,
    /// Backfill digests.
    pub backfill_digest_files: CountsDoc,
    /// Log files.
    pub log_files: CountsDoc,
    /// Consecutive missing digests beyond the one per run the AWS CLI reports.
    pub extra_missing_digest_files: u64,
    /// Links whose `previousDigest*` values do not match.
    pub link_mismatches: u64,
    /// Log files no valid digest lists.
    pub unreferenced_log_files: u64,
    /// Digests in range no verified digest links to.
    pub unreached_digest_files: u64,
    /// Chains whose newest digests are missing.
    pub missing_tails: u64,
}

impl From<Summary> for SummaryDoc {
    fn from(s: Summary) -> SummaryDoc {
        SummaryDoc {
            digest_files: s.digests.into(),
            backfill_digest_files: s.backfill_digests.into(),
            log_files: s.log_files.into(),
            extra_missing_digest_files: s.extra_missing_digests,
            link_mismatches: s.link_mismatches,
            unreferenced_log_files: s.unreferenced_logs,
            unreached_digest_files: s.unreached_digests,
            missing_tails: s.missing_tails,
        }
    }
}

impl SummaryDoc {
    /// The three kinds of file, with the name the reports give them, in order.
    pub fn kinds(&self) -> [(CountsDoc, &'static str); 3] {
        [
            (self.digest_files, "digest"),
            (self.backfill_digest_files, "backfill digest"),
            (self.log_files, "log"),
        ]
    }

    /// The counts beyond the AWS CLI's, with the words the summary prints after each, in the
    /// summary's order.
    pub fn extras(&self) -> [(u64, &'static str); 5] {
        [
            (
                self.extra_missing_digest_files,
                "more digest files missing than reported above",
            ),
            (
                self.link_mismatches,
                "digest files whose previousDigest fields do not match the previous digest",
            ),
            (
                self.unreferenced_log_files,
                "log files in the bucket that no valid digest file lists",
            ),
            (
                self.unreached_digest_files,
                "digest files in range that no verified digest file links to",
            ),
            (
                self.missing_tails,
                "chains whose newest digest files are missing (TAIL MISSING above)",
            ),
        ]
    }

    /// True when no digest was examined.
    pub fn no_digests(&self) -> bool {
        self.digest_files.total == 0 && self.backfill_digest_files.total == 0
    }
}

/// A public key that verified a digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDoc {
    /// MD5 of its DER.
    pub fingerprint: String,
    /// Start of its validity, when known.
    pub validity_start: Option<Stamp>,
    /// End of its validity, when known.
    pub validity_end: Option<Stamp>,
    /// Where it came from.
    pub source: String,
}

/// The trust anchor of a report: where the keys came from, and those that verified a digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicKeys {
    /// `ListPublicKeys …`, or the key file's path.
    pub source: String,
    /// Each key that verified a digest.
    pub keys: Vec<KeyDoc>,
}

impl PublicKeys {
    fn of(report: &Report) -> PublicKeys {
        PublicKeys {
            source: report.key_source.clone(),
            keys: report
                .keys_used
                .iter()
                .map(|k| KeyDoc {
                    fingerprint: k.fingerprint.clone(),
                    validity_start: k.validity_start.map(Stamp),
                    validity_end: k.validity_end.map(Stamp),
                    source: report.key_source.clone(),
                })
                .collect(),
        }
    }
}

/// How a finding counts: a problem, something not checked, or information only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// Proven wrong.
    Invalid,
    /// Could not be checked.
    NotChecked,
    /// Informs only (a signed stop of logging): no problem.
    Info,
}

/// A finding beyond the AWS CLI's checks: its facts (the `kind` field names it), how it counts,
/// and the report's line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingDoc {
    /// What was found.
    #[serde(flatten)]
    pub what: Finding,
    /// How it counts.
    pub status: FindingStatus,
    /// The report's line: what, where and the verdict, tab separated.
    pub message: String,
}

impl From<&Finding> for FindingDoc {
    fn from(f: &Finding) -> FindingDoc {
        FindingDoc {
            what: f.clone(),
            status: match f.status() {
                Status::Valid => FindingStatus::Info,
                Status::Invalid => FindingStatus::Invalid,
                Status::NotChecked => FindingStatus::NotChecked,
            },
            message: f.message(),
        }
    }
}

/// One entry of the walk, in the AWS CLI's order (`type`: `digest`, `log` or `gap`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryDoc {
    /// A digest file.
    Digest(DigestDoc),
    /// A log file listed by the preceding valid digest.
    Log(LogDoc),
    /// No digest links the two times: the chain restarts.
    Gap(GapDoc),
}

/// A digest file's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestDoc {
    /// Where it was read.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// True for the backfill chain.
    pub backfill: bool,
    /// Valid, invalid or not checked.
    pub status: Status,
    /// The verdict's machine-readable name.
    pub outcome: String,
    /// The verdict as the AWS CLI words it.
    pub message: String,
    /// More about the verdict.
    pub detail: Option<String>,
    /// `digestStartTime`, when it could be parsed (trusted only when valid).
    pub start: Option<Stamp>,
    /// `digestEndTime`, when it could be parsed (trusted only when valid).
    pub end: Option<Stamp>,
    /// Number of log files it lists.
    pub log_files: u64,
}

/// A log file's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogDoc {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The digest that lists it.
    pub digest_key: String,
    /// Valid, invalid or not checked.
    pub status: Status,
    /// The verdict's machine-readable name.
    pub outcome: String,
    /// The verdict as the AWS CLI words it.
    pub message: String,
    /// The signed `hashValue`, for a hash mismatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The SHA-256 found, for a hash mismatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// More about the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A restart of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GapDoc {
    /// True for the backfill chain.
    pub backfill: bool,
    /// End of the older digest.
    pub from: Stamp,
    /// Start of the newer digest.
    pub to: Stamp,
}

impl From<&Entry> for EntryDoc {
    fn from(entry: &Entry) -> EntryDoc {
        match entry {
            Entry::Digest(d) => EntryDoc::Digest(DigestDoc {
                bucket: d.bucket.clone(),
                key: d.key.clone(),
                backfill: d.backfill,
                status: d.outcome.status(),
                outcome: d.outcome.code().to_owned(),
                message: d.outcome.message(),
                detail: d.outcome.detail(),
                start: d.start.map(Stamp),
                end: d.end.map(Stamp),
                log_files: d.log_files as u64,
            }),
            Entry::Log(l) => {
                let (mut expected, mut actual, mut detail) = (None, None, None);
                match &l.outcome {
                    LogOutcome::HashMismatch {
                        expected: e,
                        actual: a,
                    } => {
                        expected = Some(e.clone());
                        actual = Some(a.clone());
                    }
                    LogOutcome::InvalidFormat { reason: d }
                    | LogOutcome::Unreadable { cause: d } => {
                        detail = Some(d.clone());
                    }
                    LogOutcome::TrailingData { second_member } => {
                        detail = Some(
                            if *second_member {
                                "a second gzip member follows the one the digest covers"
                            } else {
                                "bytes follow the end of the gzip stream"
                            }
                            .to_owned(),
                        );
                    }
                    _ => {}
                }
                EntryDoc::Log(LogDoc {
                    bucket: l.bucket.clone(),
                    key: l.key.clone(),
                    digest_key: l.digest_key.to_string(),
                    status: l.outcome.status(),
                    outcome: l.outcome.code().to_owned(),
                    message: l.outcome.message(),
                    expected,
                    actual,
                    detail,
                })
            }
            Entry::Gap { backfill, from, to } => EntryDoc::Gap(GapDoc {
                backfill: *backfill,
                from: Stamp(*from),
                to: Stamp(*to),
            }),
        }
    }
}

/// One chain's report. `entries` is `None` only while the document is being written: writers
/// stream the entries from disk after the rest ([`write_chain_head`]); every document read back
/// has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainDoc {
    /// The layout version, [`JSON_VERSION`].
    pub version: u64,
    /// The trail.
    pub trail_arn: String,
    /// The chain.
    pub chain: Chain,
    /// The head this run resumed from (incremental runs).
    pub resumed_from: Option<Head>,
    /// The head to resume from next time.
    pub new_head: Option<Head>,
    /// True when a resumed run found nothing newer than its head.
    pub no_new_digests: bool,
    /// The range asked for.
    pub requested: Period,
    /// The range valid digests cover, if any.
    pub found: Option<Period>,
    /// Valid, invalid or incomplete.
    pub verdict: Verdict,
    /// The exit status the verdict gives.
    pub exit_code: i32,
    /// The counts.
    pub summary: SummaryDoc,
    /// The trust anchor.
    pub public_keys: PublicKeys,
    /// Findings beyond the AWS CLI's checks.
    pub findings: Vec<FindingDoc>,
    /// The walk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<EntryDoc>>,
}

impl ChainDoc {
    /// A report's document without its entries (those a writer streams, or [`Report::to_doc`]
    /// adds).
    pub fn head_of(report: &Report) -> ChainDoc {
        let summary = report.summary();
        let verdict = report.verdict();
        ChainDoc {
            version: JSON_VERSION,
            trail_arn: report.trail_arn.clone(),
            chain: report.chain.clone(),
            resumed_from: report.resumed_from.clone(),
            new_head: report.new_head.clone(),
            no_new_digests: report.resumed_from.is_some() && summary.no_digests(),
            requested: Period {
                start: Stamp(report.start),
                end: Stamp(report.end),
            },
            found: Period::of(report.found_start, report.found_end),
            verdict,
            exit_code: verdict.exit_code(),
            summary: summary.into(),
            public_keys: PublicKeys::of(report),
            findings: report.findings.iter().map(FindingDoc::from).collect(),
            entries: None,
        }
    }

    /// Findings that are problems (not the informational ones).
    pub fn problems(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.status != FindingStatus::Info)
            .count()
    }

    /// `[o-ID/]ACCOUNT REGION: counts… (found) [verdict]`: the chain's line in a multi-chain
    /// summary, for the text report and the page alike.
    pub fn chain_line(&self) -> String {
        let mut parts = Vec::new();
        for (counts, name) in self.summary.kinds() {
            let total = counts.total;
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
        let problems = self.problems();
        if problems > 0 {
            parts.push(format!("{problems} other findings"));
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
        let found = match &self.found {
            Some(p) => format!(" ({} to {})", p.start, p.end),
            None => String::new(),
        };
        escape_controls(&format!(
            "{}: {}{found} [{}]",
            self.chain.label(),
            parts.join("; "),
            self.verdict.as_str()
        ))
    }

    /// What the summary of this chain's report says.
    pub fn totals(&self) -> Totals {
        Totals {
            requested: self.requested,
            found: self.found,
            summary: self.summary,
            resumed_from: self.resumed_from.clone(),
            public_keys: self.public_keys.clone(),
        }
    }
}

/// What the summary of a run says: one chain's, or the totals of several.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// The range asked for.
    pub requested: Period,
    /// The range valid digests cover, if any.
    pub found: Option<Period>,
    /// The counts.
    pub summary: SummaryDoc,
    /// The head a one-chain run resumed from (never set for totals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<Head>,
    /// The trust anchor.
    pub public_keys: PublicKeys,
}

impl Totals {
    /// What a report (one chain's, or [`Report::totals`] of several) says in its summary.
    pub fn of(report: &Report) -> Totals {
        Totals {
            requested: Period {
                start: Stamp(report.start),
                end: Stamp(report.end),
            },
            found: Period::of(report.found_start, report.found_end),
            summary: report.summary().into(),
            resumed_from: report.resumed_from.clone(),
            public_keys: PublicKeys::of(report),
        }
    }
}

/// `Results requested for …`, `Results found for …:`, the counts and the key line: the summary
/// under the report's lines, each line without its line break, the same words in the text report
/// and on the page. A run that examined no digest says so, and has no key line.
pub fn summary_lines(t: &Totals) -> Vec<String> {
    let mut lines = vec![format!(
        "Results requested for {} to {}",
        t.requested.start, t.requested.end
    )];
    if t.summary.no_digests() {
        lines.push(match &t.resumed_from {
            Some(head) => format!(
                "No new digests since {} (s3://{}/{})",
                display(head.end_time),
                head.bucket,
                escape_controls(&head.key)
            ),
            None => "No digests found".to_owned(),
        });
        return lines;
    }
    lines.push(match &t.found {
        Some(p) => format!("Results found for {} to {}:", p.start, p.end),
        None => "No valid digests found in range".to_owned(),
    });
    lines.push(String::new());
    for (counts, name) in t.summary.kinds() {
        let total = counts.total;
        if total == 0 {
            continue;
        }
        let mut line = format!("{}/{total} {name} files valid", counts.valid);
        if counts.invalid > 0 {
            line.push_str(&format!(
                ", {}/{total} {name} files INVALID",
                counts.invalid
            ));
        }
        if counts.not_checked > 0 {
            line.push_str(&format!(
                ", {}/{total} {name} files NOT CHECKED",
                counts.not_checked
            ));
        }
        lines.push(line);
    }
    for (n, words) in t.summary.extras() {
        if n > 0 {
            lines.push(format!("{n} {words}"));
        }
    }
    // Every report that examined a digest names its trust anchor, even when no key verified.
    let fingerprints: Vec<&str> = t
        .public_keys
        .keys
        .iter()
        .map(|k| k.fingerprint.as_str())
        .collect();
    lines.push(format!(
        "{KEYS_LINE_PREFIX}{} ({})",
        escape_controls(&t.public_keys.source),
        if fingerprints.is_empty() {
            "no key verified a digest".to_owned()
        } else {
            fingerprints.join(", ")
        }
    ));
    lines
}

/// `Chains (N):` and one line per chain, then a blank line: what precedes the summary of a
/// multi-chain run.
pub fn chains_lines(chains: &[ChainDoc]) -> Vec<String> {
    let mut lines = vec![format!("Chains ({}):", chains.len())];
    lines.extend(chains.iter().map(|c| format!("  {}", c.chain_line())));
    lines.push(String::new());
    lines
}

/// The report of several chains (discovery, organizations, merges): the run's head (totals),
/// then each chain's document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDoc {
    /// Everything but the chains.
    #[serde(flatten)]
    pub head: RunHead,
    /// Each chain's document.
    pub chains: Vec<ChainDoc>,
}

/// The top of a multi-chain report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHead {
    /// The layout version, [`JSON_VERSION`].
    pub version: u64,
    /// The trail (the first chain's).
    pub trail_arn: String,
    /// The widest range asked for.
    pub requested: Period,
    /// The verdict over every chain.
    pub verdict: Verdict,
    /// The exit status it gives.
    pub exit_code: i32,
    /// The totals over every chain; absent when no chain was found (nothing was checked).
    #[serde(flatten)]
    pub totals: Option<RunTotals>,
}

/// The counts of a multi-chain report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTotals {
    /// The widest range valid digests cover.
    pub found: Option<Period>,
    /// The counts summed.
    pub summary: SummaryDoc,
    /// Every key used.
    pub public_keys: PublicKeys,
}

impl RunHead {
    /// The head of a report of `reports` (at least one).
    pub fn of(reports: &[Report]) -> Option<RunHead> {
        let all = Report::totals(reports)?;
        let verdict = all.verdict();
        Some(RunHead {
            version: JSON_VERSION,
            trail_arn: all.trail_arn.clone(),
            requested: Period {
                start: Stamp(all.start),
                end: Stamp(all.end),
            },
            verdict,
            exit_code: verdict.exit_code(),
            totals: Some(RunTotals {
                found: Period::of(all.found_start, all.found_end),
                summary: all.summary().into(),
                public_keys: PublicKeys::of(&all),
            }),
        })
    }

    /// The head of a run that found no chain: nothing was checked, which is never valid.
    pub fn no_chains(trail_arn: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> RunHead {
        RunHead {
            version: JSON_VERSION,
            trail_arn: trail_arn.to_owned(),
            requested: Period {
                start: Stamp(start),
                end: Stamp(end),
            },
            verdict: Verdict::Incomplete,
            exit_code: Verdict::Incomplete.exit_code(),
            totals: None,
        }
    }

    /// What the summary says, when a chain was found.
    pub fn totals(&self) -> Option<Totals> {
        let t = self.totals.as_ref()?;
        Some(Totals {
            requested: self.requested,
            found: t.found,
            summary: t.summary,
            resumed_from: None,
            public_keys: t.public_keys.clone(),
        })
    }
}

/// A validation report read back: one chain's, or several.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValidationDoc {
    /// `validate` of one chain.
    Chain(Box<ChainDoc>),
    /// `validate` with discovery, or `merge`.
    Run(Box<RunDoc>),
}

/// Why a JSON report cannot be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocError {
    /// Not JSON, or JSON whose fields are not the layout's.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// A layout version this build does not know.
    #[error("layout version {found} is not the version {expected} this trailproof writes")]
    Version {
        /// The document's `version`.
        found: String,
        /// The version this build writes.
        expected: u64,
    },
    /// Something else about the layout.
    #[error("{0}")]
    Layout(String),
}

impl ValidationDoc {
    /// Reads a JSON validation report, strictly: an unknown version, a missing or misspelt field
    /// is an error, never a default.
    pub fn from_value(value: serde_json::Value) -> Result<ValidationDoc, DocError> {
        let version = &value["version"];
        if version.as_u64() != Some(JSON_VERSION) {
            return Err(DocError::Version {
                found: version.to_string(),
                expected: JSON_VERSION,
            });
        }
        if value.get("chains").is_some() {
            let run: RunDoc = serde_json::from_value(value)?;
            // A flattened `Option` reads as absent when any of its fields is wrong: insist.
            if run.head.totals.is_none() && !run.chains.is_empty() {
                return Err(DocError::Layout(
                    "the totals of a multi-chain report are missing or malformed".into(),
                ));
            }
            check_entries(&run.chains)?;
            Ok(ValidationDoc::Run(Box::new(run)))
        } else {
            let chain: ChainDoc = serde_json::from_value(value)?;
            check_entries(std::slice::from_ref(&chain))?;
            Ok(ValidationDoc::Chain(Box::new(chain)))
        }
    }
}

fn check_entries(chains: &[ChainDoc]) -> Result<(), DocError> {
    for c in chains {
        if c.version != JSON_VERSION {
            return Err(DocError::Version {
                found: c.version.to_string(),
                expected: JSON_VERSION,
            });
        }
        if c.entries.is_none() {
            return Err(DocError::Layout(format!(
                "the report of {} has no `entries`",
                c.chain.label()
            )));
        }
    }
    Ok(())
}

/// Writes a chain's document without closing it, `entries` not yet written: the caller writes
/// `,"entries":[…]}` after, streaming them from wherever they were spooled.
pub fn write_chain_head(out: &mut dyn Write, doc: &ChainDoc) -> io::Result<()> {
    write_open(out, doc)
}

/// Writes the top of a multi-chain report without closing it, `chains` not yet written.
pub fn write_run_head(out: &mut dyn Write, head: &RunHead) -> io::Result<()> {
    write_open(out, head)
}

/// Serialises an object and leaves it open (its closing brace off), for fields streamed after.
fn write_open(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(value)?;
    if bytes.pop() != Some(b'}') {
        return Err(io::Error::other("a report document is not a JSON object"));
    }
    out.write_all(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_from_another_layout_is_refused() {
        let v = serde_json::json!({"version": 3, "chain": {}});
        assert!(matches!(
            ValidationDoc::from_value(v),
            Err(DocError::Version { .. })
        ));
        // A renamed count is an error, not a zero.
        let mut doc = serde_json::to_value(SummaryDoc::default()).unwrap();
        assert!(serde_json::from_value::<SummaryDoc>(doc.clone()).is_ok());
        let counts = doc["digest_files"].as_object_mut().unwrap();
        let valid = counts.remove("valid").unwrap();
        counts.insert("valid_files".into(), valid);
        assert!(serde_json::from_value::<SummaryDoc>(doc).is_err());
    }

    #[test]
    fn times_read_back_as_written() {
        let t = Stamp(
            DateTime::parse_from_rfc3339("2024-03-01T01:00:00Z")
                .unwrap()
                .into(),
        );
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, "\"2024-03-01T01:00:00Z\"");
        assert_eq!(serde_json::from_str::<Stamp>(&text).unwrap(), t);
        assert!(serde_json::from_str::<Stamp>("\"yesterday\"").is_err());
    }
}
