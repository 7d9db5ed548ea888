//! What the page shows, read from the JSON report (never from the run itself: `validate`,
//! `merge` and a report saved earlier all give the same page).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use trailproof::report::doc::{
    chains_lines, summary_lines, ChainDoc, DigestDoc, EntryDoc, FindingDoc, FindingStatus, LogDoc,
    Period, PublicKeys, RunDoc, Stamp, ValidationDoc,
};
use trailproof::report::lake::{LakeDoc, ListingDoc};
use trailproof::report::{Finding, Status};

pub use trailproof::report::doc::SummaryDoc as Summary;

use crate::HtmlError;

/// Valid, invalid, or could not be checked: the three states of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Verified.
    Valid,
    /// Could not be checked.
    NotChecked,
    /// Proven wrong.
    Invalid,
}

impl From<Status> for State {
    fn from(s: Status) -> State {
        match s {
            Status::Valid => State::Valid,
            Status::Invalid => State::Invalid,
            Status::NotChecked => State::NotChecked,
        }
    }
}

/// A public key that verified a digest.
#[derive(Clone, Debug)]
pub struct Key {
    pub fingerprint: String,
    pub validity: String,
}

/// A digest's place on the timeline.
#[derive(Clone, Debug)]
pub struct Digest {
    pub location: String,
    pub state: State,
    pub message: String,
    pub backfill: bool,
    /// Covered period: a valid digest's own (signed) times; for any other, whose times are
    /// whatever its unverified bytes claim, the hour its name ends with (or, without a time in
    /// its name, the hour before the digest the walk visited before it).
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub log_files: u64,
    /// Log files it lists that are not valid.
    pub bad_logs: u64,
}

/// One line of the findings: a file that is not valid, or a finding beyond the AWS CLI's.
#[derive(Clone, Debug)]
pub struct Problem {
    /// `Digest file`, `(backfill) Digest file`, `Log file`…
    pub what: String,
    pub location: String,
    pub state: State,
    /// The verdict, worded as the text report words it.
    pub message: String,
    /// More about it (the detail, expected and actual hashes…).
    pub detail: Option<String>,
}

/// A period CloudTrail's own chain says no log files were delivered.
#[derive(Clone, Debug)]
pub struct Gap {
    pub backfill: bool,
    pub from: String,
    pub to: String,
    pub from_t: Option<DateTime<Utc>>,
    pub to_t: Option<DateTime<Utc>>,
}

/// A time span painted invalid on the timeline (consecutive missing digests).
#[derive(Clone, Debug)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub state: State,
    pub label: String,
}

/// One (organization, account, region) chain.
#[derive(Clone, Debug)]
pub struct Chain {
    /// `[o-ID/]ACCOUNT REGION`.
    pub label: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub verdict: String,
    pub summary: Summary,
    pub found: Option<(String, String)>,
    pub digests: Vec<Digest>,
    pub problems: Vec<Problem>,
    pub gaps: Vec<Gap>,
    pub spans: Vec<Span>,
    /// Valid log files listed in the report (only with `--verbose`).
    pub valid_logs_listed: u64,
}

/// A validation report (`validate`, `merge`).
#[derive(Clone, Debug)]
pub struct Validation {
    pub trail_arn: String,
    pub verdict: String,
    pub exit_code: i64,
    pub requested: Option<(String, String)>,
    pub requested_t: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub found: Option<(String, String)>,
    /// The summary as the text report prints it, a line each.
    pub summary_lines: Vec<String>,
    pub key_source: Option<String>,
    pub keys: Vec<Key>,
    pub chains: Vec<Chain>,
    pub resumed_from: Option<String>,
}

/// A file of CloudTrail Lake query results.
#[derive(Clone, Debug)]
pub struct LakeFile {
    pub name: String,
    pub location: String,
    pub state: State,
    pub message: String,
    pub detail: Option<String>,
}

/// A `verify-query-results` report.
#[derive(Clone, Debug)]
pub struct Lake {
    pub verdict: String,
    pub exit_code: i64,
    pub sign_location: String,
    pub query_complete_time: Option<String>,
    pub signature_message: String,
    pub signature_state: State,
    pub sign_problems: Vec<String>,
    pub fingerprint: String,
    pub key_found: bool,
    pub key_source: String,
    pub key_region: String,
    pub files: Vec<LakeFile>,
    pub unlisted_check: String,
    pub notes: Vec<String>,
}

/// What a report holds.
#[derive(Clone, Debug)]
pub enum Doc {
    Validation(Validation),
    Lake(Lake),
}

#[cfg(test)]
pub fn time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The time a CloudTrail object's name carries: `…_20240301T0100Z…` (log files) or
/// `…_20240301T010000Z.json.gz` (digests), for objects the report gives no time for.
pub fn time_in_key(key: &str) -> Option<DateTime<Utc>> {
    let name = key.rsplit('/').next()?;
    name.split('_').find_map(|part| {
        let part = part.strip_suffix(".json.gz").unwrap_or(part);
        let digits = part.strip_suffix('Z')?;
        let parsed = match digits.len() {
            15 => NaiveDateTime::parse_from_str(digits, "%Y%m%dT%H%M%S").ok(),
            13 => NaiveDateTime::parse_from_str(digits, "%Y%m%dT%H%M").ok(),
            _ => None,
        };
        parsed.map(|t| t.and_utc())
    })
}

fn location(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

fn period(p: Option<&Period>) -> Option<(String, String)> {
    p.map(|p| (p.start.to_string(), p.end.to_string()))
}

fn keys(k: &PublicKeys) -> (Option<String>, Vec<Key>) {
    let keys = k
        .keys
        .iter()
        .map(|k| Key {
            fingerprint: k.fingerprint.clone(),
            validity: match (k.validity_start, k.validity_end) {
                (Some(a), Some(b)) => format!("{a} to {b}"),
                (Some(a), None) => format!("from {a}"),
                (None, Some(b)) => format!("until {b}"),
                (None, None) => String::new(),
            },
        })
        .collect();
    (Some(k.source.clone()), keys)
}

fn chain(doc: &ChainDoc) -> Chain {
    let c = &doc.chain;
    let mut walk = Walked {
        chain: Chain {
            label: c.label(),
            bucket: c.bucket.clone(),
            prefix: c.prefix.clone(),
            verdict: doc.verdict.as_str().to_owned(),
            summary: doc.summary,
            found: period(doc.found.as_ref()),
            digests: Vec::new(),
            problems: Vec::new(),
            gaps: Vec::new(),
            spans: Vec::new(),
            valid_logs_listed: 0,
        },
        digest_index: HashMap::new(),
        walked: None,
    };
    for e in doc.entries.iter().flatten() {
        match e {
            EntryDoc::Digest(d) => walk.digest(d),
            EntryDoc::Log(l) => walk.log(l),
            EntryDoc::Gap(g) => walk.chain.gaps.push(Gap {
                backfill: g.backfill,
                from: g.from.to_string(),
                to: g.to.to_string(),
                from_t: Some(g.from.0),
                to_t: Some(g.to.0),
            }),
        }
    }
    let mut chain = walk.chain;
    for f in &doc.findings {
        finding(&mut chain, f);
    }
    chain
}

/// A chain as its entries are read, in the walk's order (newest first).
struct Walked<'d> {
    chain: Chain,
    /// Invalid log files mark the digest that lists them, found by key.
    digest_index: HashMap<&'d str, usize>,
    /// The start of the digest the walk visited last: where one with no trusted time of its
    /// own sits.
    walked: Option<DateTime<Utc>>,
}

impl<'d> Walked<'d> {
    fn digest(&mut self, d: &'d DigestDoc) {
        let state = State::from(d.status);
        let hour = chrono::Duration::hours(1);
        // Only a verified signature makes a digest's own times trustworthy: an invalid
        // one could claim any hour, and paint a tampered hour valid or hide elsewhere.
        let claimed = match state {
            State::Valid => d.start.zip(d.end).map(|(a, b)| (a.0, b.0)),
            _ => None,
        };
        let (start, end) = match claimed {
            Some((start, end)) => (Some(start), Some(end)),
            None => {
                let end = time_in_key(&d.key).or(self.walked);
                (end.and_then(|t| t.checked_sub_signed(hour)), end)
            }
        };
        if start.is_some() {
            self.walked = start;
        }
        let chain = &mut self.chain;
        self.digest_index.insert(&d.key, chain.digests.len());
        chain.digests.push(Digest {
            location: location(&d.bucket, &d.key),
            state,
            message: d.message.clone(),
            backfill: d.backfill,
            start,
            end,
            log_files: d.log_files,
            bad_logs: 0,
        });
        if state != State::Valid {
            chain.problems.push(Problem {
                what: format!("{}Digest file", if d.backfill { "(backfill) " } else { "" }),
                location: location(&d.bucket, &d.key),
                state,
                message: d.message.clone(),
                detail: d.detail.clone(),
            });
        }
    }

    fn log(&mut self, l: &LogDoc) {
        let chain = &mut self.chain;
        let state = State::from(l.status);
        if state == State::Valid {
            chain.valid_logs_listed += 1;
            return;
        }
        if let Some(d) = self
            .digest_index
            .get(l.digest_key.as_str())
            .and_then(|&i| chain.digests.get_mut(i))
        {
            d.bad_logs += 1;
        }
        let detail = match (&l.expected, &l.actual) {
            (Some(x), Some(a)) => Some(format!("expected SHA-256 {x}, found {a}")),
            _ => l.detail.clone(),
        };
        chain.problems.push(Problem {
            what: "Log file".to_owned(),
            location: location(&l.bucket, &l.key),
            state,
            message: l.message.clone(),
            detail,
        });
    }
}

/// A finding as a problem of the chain, and as a span of its timeline when it has hours.
fn finding(chain: &mut Chain, f: &FindingDoc) {
    // The message is the text report's line: what, where, verdict, tab separated.
    let mut parts = f.message.splitn(3, '\t');
    let what = parts.next().unwrap_or_default().to_owned();
    let location = parts.next().unwrap_or_default().to_owned();
    let verdict = parts.next().unwrap_or_default().to_owned();
    let detail = match &f.what {
        Finding::LinkMismatch {
            key,
            expected,
            actual,
            ..
        } => Some(format!(
            "{key} says {expected}, the previous digest has {actual}"
        )),
        _ => None,
    };
    let state = match f.status {
        FindingStatus::Info => State::Valid,
        FindingStatus::NotChecked => State::NotChecked,
        FindingStatus::Invalid => State::Invalid,
    };
    if let Some((from, to)) = finding_hours(&f.what) {
        chain.spans.push(Span {
            from,
            to,
            state,
            label: verdict.clone(),
        });
    }
    chain.problems.push(Problem {
        what,
        location,
        state,
        message: verdict,
        detail,
    });
}

/// The hours a finding is about, where it names them.
fn finding_hours(what: &Finding) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    match what {
        Finding::MissingDigests { from, to, .. } => Some((*from, *to)),
        // The hours nothing covers, from the newest digest found to when one was due.
        Finding::TailMissing {
            newest_end,
            expected_until,
            ..
        } => newest_end.map(|t| (t, *expected_until)),
        Finding::LinkMismatch { key, .. }
        | Finding::UnreferencedLog { key, .. }
        | Finding::UnreachedDigest { key, .. } => {
            time_in_key(key).map(|t| (t - chrono::Duration::hours(1), t))
        }
        _ => None,
    }
}

fn head(h: Option<&trailproof::Head>) -> Option<String> {
    let h = h?;
    Some(format!(
        "{} (s3://{}/{})",
        Stamp(h.end_time),
        h.bucket,
        h.key
    ))
}

fn validation(doc: &ValidationDoc) -> Validation {
    match doc {
        ValidationDoc::Chain(c) => {
            let (key_source, keys) = keys(&c.public_keys);
            Validation {
                trail_arn: c.trail_arn.clone(),
                verdict: c.verdict.as_str().to_owned(),
                exit_code: i64::from(c.exit_code),
                requested_t: Some((c.requested.start.0, c.requested.end.0)),
                requested: period(Some(&c.requested)),
                found: period(c.found.as_ref()),
                summary_lines: summary_lines(&c.totals()),
                key_source,
                keys,
                chains: vec![chain(c)],
                resumed_from: head(c.resumed_from.as_ref()),
            }
        }
        ValidationDoc::Run(run) => {
            let RunDoc { head: h, chains } = &**run;
            let (key_source, keys) = match &h.totals {
                Some(t) => keys(&t.public_keys),
                None => (None, Vec::new()),
            };
            let mut lines = Vec::new();
            if chains.is_empty() {
                lines.push("No chains found: nothing was checked".to_owned());
            } else {
                lines.extend(chains_lines(chains));
            }
            if let Some(t) = h.totals() {
                lines.extend(summary_lines(&t));
            }
            Validation {
                trail_arn: h.trail_arn.clone(),
                verdict: h.verdict.as_str().to_owned(),
                exit_code: i64::from(h.exit_code),
                requested_t: Some((h.requested.start.0, h.requested.end.0)),
                requested: period(Some(&h.requested)),
                found: h.totals.as_ref().and_then(|t| period(t.found.as_ref())),
                summary_lines: lines,
                key_source,
                keys,
                chains: chains.iter().map(chain).collect(),
                resumed_from: None,
            }
        }
    }
}

fn lake(doc: &LakeDoc) -> Lake {
    let sf = &doc.sign_file;
    let pk = &doc.public_key;
    Lake {
        verdict: doc.verdict.as_str().to_owned(),
        exit_code: i64::from(doc.exit_code),
        sign_location: sf.location.clone(),
        query_complete_time: sf.query_complete_time.map(|t| t.to_string()),
        signature_message: sf.signature.message.clone(),
        signature_state: State::from(sf.status),
        sign_problems: sf.problems.iter().map(|p| p.message.clone()).collect(),
        fingerprint: pk.fingerprint.clone().unwrap_or_default(),
        key_found: pk.found,
        key_source: pk.source.clone(),
        key_region: pk.region.clone(),
        files: doc
            .files
            .iter()
            .map(|f| LakeFile {
                name: f.name.clone().unwrap_or_default(),
                location: f.location.clone(),
                state: State::from(f.status),
                message: f.message.clone(),
                detail: match (&f.expected, &f.actual) {
                    (Some(x), Some(a)) => Some(format!("expected {x}, found {a}")),
                    _ => f.detail.clone(),
                },
            })
            .collect(),
        unlisted_check: match &doc.unlisted_check {
            ListingDoc::Done { more_unlisted: 0 } => "done".to_owned(),
            ListingDoc::Done { more_unlisted } => {
                format!("done ({more_unlisted} more unlisted files than shown)")
            }
            ListingDoc::Skipped => "skipped".to_owned(),
            ListingDoc::NotChecked { cause } => format!("NOT CHECKED: {cause}"),
        },
        notes: doc.notes.clone(),
    }
}

/// Reads a report: a validation (one chain, or `chains`) or query results (`sign_file`). A
/// layout this build does not know is an error, never a page of defaults.
pub fn read(doc: Value) -> Result<Doc, HtmlError> {
    if !doc.is_object() {
        return Err(HtmlError::Layout(
            "the document is not a JSON object".into(),
        ));
    }
    if doc.get("sign_file").is_some() {
        let l = LakeDoc::from_value(doc).map_err(|e| HtmlError::Layout(e.to_string()))?;
        return Ok(Doc::Lake(lake(&l)));
    }
    if doc.get("chain").is_some() || doc.get("chains").is_some() {
        let v = ValidationDoc::from_value(doc).map_err(|e| HtmlError::Layout(e.to_string()))?;
        return Ok(Doc::Validation(validation(&v)));
    }
    Err(HtmlError::Layout(
        "neither `chain`, `chains` nor `sign_file`: not a trailproof report".into(),
    ))
}

/// A chain's document with `entries`, valid, for tests that need one.
#[cfg(test)]
pub(crate) fn test_chain(account: &str, entries: Vec<EntryDoc>) -> ChainDoc {
    use trailproof::report::doc::Stamp;
    let t = |s: &str| Stamp(time(s).expect("time"));
    ChainDoc {
        version: trailproof::report::JSON_VERSION,
        trail_arn: "arn:aws:cloudtrail:us-east-1:1:trail/t".into(),
        chain: trailproof::Chain {
            bucket: "b".into(),
            prefix: None,
            organization_id: Some("o-1".into()),
            account_id: account.into(),
            source_region: "us-east-1".into(),
            home_region: "us-east-1".into(),
            trail_name: "t".into(),
        },
        resumed_from: None,
        new_head: None,
        no_new_digests: false,
        requested: Period {
            start: t("2024-03-01T00:00:00Z"),
            end: t("2024-03-02T00:00:00Z"),
        },
        found: None,
        verdict: trailproof::Verdict::Valid,
        exit_code: 0,
        summary: Summary::default(),
        public_keys: PublicKeys {
            source: "keys.json".into(),
            keys: Vec::new(),
        },
        findings: Vec::new(),
        entries: Some(entries),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_object_names() {
        assert_eq!(
            time_in_key("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/03/01/1_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T010000Z.json.gz"),
            time("2024-03-01T01:00:00Z")
        );
        assert_eq!(
            time_in_key("AWSLogs/1/CloudTrail/us-east-1/2024/03/01/1_CloudTrail_us-east-1_20240301T0105Z_abc.json.gz"),
            time("2024-03-01T01:05:00Z")
        );
        assert_eq!(time_in_key("a/<script>.json.gz"), None);
    }
}
