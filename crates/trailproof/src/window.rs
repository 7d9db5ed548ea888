//! What the walk of a (chain, window) item of a sharded run leaves for the merge, and the link
//! rules the walk and the stitch both apply: kept here so that the walk
//! ([`crate::validate_windows`]) and the merge ([`crate::shard`]) do not depend on each other.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::layout::key_date;
use crate::report::LinkField;
use crate::report::{Entry, Finding, KeyUse, Summary};
use crate::state::Head;
use crate::time::parse_key_time;

/// A window of key times of one chain: digests whose key time is at or after `start` and before
/// `end` (up to and including `end` for the newest window, which ends an hour after the run, as
/// the single run lists).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// First key time of the window.
    pub start: DateTime<Utc>,
    /// End of the window (excluded, but for the newest).
    pub end: DateTime<Utc>,
    /// The newest window of the run.
    pub newest: bool,
    /// The oldest window of the run: its walk goes on past its start as the single run does.
    pub oldest: bool,
}

/// What the link check of a digest needs: the SHA-256 of its inflated bytes and the signature
/// its metadata holds (none in a copy without metadata).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkFacts {
    /// Hex SHA-256 of the inflated digest.
    pub hash: String,
    /// The signature from its metadata.
    pub signature: Option<String>,
}

/// The first digest a window's walk visited (its newest listed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstDigest {
    /// Its bucket.
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// Set when its signature verified: what a link to it is checked against.
    pub link: Option<LinkFacts>,
}

/// How a window's walk would go on past the window's start, in the single run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Exit {
    /// It stops: its last valid digest started before the run's start.
    #[default]
    End,
    /// To the newest listed digest of the older windows.
    NextListed,
    /// Likewise, after a digest not found: how many more are missing depends on that digest.
    AfterMissing {
        /// Bucket of the missing digest.
        bucket: String,
        /// Key of the missing digest.
        key: String,
    },
    /// Likewise, after a valid digest that links to none: a gap when the older digest ends
    /// before this one starts.
    AfterNoPrevious {
        /// Start of the digest that links to none.
        start: Option<DateTime<Utc>>,
    },
    /// Along the link of a verified digest into an older window (or another bucket).
    Link {
        /// Bucket of the verified digest.
        from_bucket: String,
        /// The verified digest.
        successor_key: String,
        /// `previousDigestS3Bucket`.
        bucket: String,
        /// `previousDigestS3Object`.
        key: String,
        /// `previousDigestSignature`.
        signature: Option<String>,
        /// `previousDigestHashValue`.
        hash: Option<String>,
    },
}

/// One walk (standard or backfill) of a window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindResult {
    /// Its entries, in walk order (valid log files included).
    pub entries: Vec<Entry>,
    /// Its findings, in walk order.
    pub findings: Vec<Finding>,
    /// Listed digests of the window it never reached.
    pub unreached: Vec<Finding>,
    /// The first digest it visited; none when the window lists none.
    pub first: Option<FirstDigest>,
    /// How the walk goes on past the window.
    pub exit: Exit,
}

/// What a shard found in one (chain, window) item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowResult {
    /// The standard chain's walk.
    pub standard: KindResult,
    /// The backfill chain's walk.
    pub backfill: KindResult,
    /// Counts of its entries.
    pub counts: Summary,
    /// Earliest time a valid digest covers (clamped to the run's range).
    pub found_start: Option<DateTime<Utc>>,
    /// Latest time a valid digest covers (clamped to the run's range).
    pub found_end: Option<DateTime<Utc>>,
    /// The newest valid standard digest.
    pub new_head: Option<Head>,
    /// Keys that verified its digests.
    pub keys_used: Vec<KeyUse>,
    /// The times its valid digests cover, for the unreferenced-log check.
    pub covered: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Log files in that time no valid digest of the window lists (the merge keeps those the
    /// single run would report).
    pub unreferenced: Vec<Finding>,
    /// The chain's tail finding (newest window only): the digests missing at its newest edge,
    /// or the stop that explains its end.
    #[serde(default)]
    pub tail: Vec<Finding>,
}

/// The union of time spans, sorted, touching spans joined (as the unreferenced-log check joins
/// the spans of valid digests).
pub fn union(
    mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)>,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    spans.sort();
    let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// How far from the edges of the time valid digests cover a log file must lie to be called
/// unreferenced.
pub(crate) const UNREFERENCED_MARGIN: Duration = Duration::minutes(5);

/// After a digest was not found, counts the further hourly digests missing between it and the
/// next older one found (the AWS CLI reports a run of deletions as one).
pub(crate) fn count_more_missing(
    bucket: &str,
    missing_key: &str,
    older: Option<DateTime<Utc>>,
    backfill: bool,
    findings: &mut Vec<Finding>,
) {
    let (Some(missing_end), Some(older_end)) = (parse_key_time(key_date(missing_key)), older)
    else {
        return;
    };
    let hours = ((missing_end - older_end).num_seconds() as f64 / 3600.0).round() as i64;
    if hours > 1 {
        findings.push(Finding::MissingDigests {
            bucket: bucket.to_owned(),
            after_key: missing_key.to_owned(),
            count: (hours - 1) as u64,
            from: older_end,
            to: missing_end,
            backfill,
        });
    }
}

/// Compares what a verified successor (`successor_key`, naming `previous_key`) says about a
/// digest with what the digest is: the check inside a chain and at a window boundary alike.
pub(crate) fn check_link_facts(
    successor_key: &str,
    previous_key: &str,
    hash: Option<&str>,
    signature: Option<&str>,
    bucket: &str,
    digest: &LinkFacts,
    findings: &mut Vec<Finding>,
) {
    let mut mismatch = |field, expected: &str, actual: &str| {
        findings.push(Finding::LinkMismatch {
            bucket: bucket.to_owned(),
            key: successor_key.to_owned(),
            previous_key: previous_key.to_owned(),
            field,
            expected: expected.to_owned(),
            actual: actual.to_owned(),
        })
    };
    match hash {
        Some(h) if !h.eq_ignore_ascii_case(&digest.hash) => {
            mismatch(LinkField::HashValue, h, &digest.hash)
        }
        None => mismatch(LinkField::HashValue, "", &digest.hash),
        _ => {}
    }
    if let Some(actual) = &digest.signature {
        match signature {
            Some(s) if s.eq_ignore_ascii_case(actual) => {}
            other => mismatch(LinkField::Signature, other.unwrap_or(""), actual),
        }
    }
}
