//! What the page shows, read from the JSON report (never from the run itself: `validate`,
//! `merge` and a report saved earlier all give the same page).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

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

impl State {
    pub fn parse(s: &str) -> State {
        match s {
            "valid" => State::Valid,
            "invalid" => State::Invalid,
            // Anything else was not proven either way.
            _ => State::NotChecked,
        }
    }
}

/// `valid / invalid / not_checked / total` of one kind of file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub valid: u64,
    pub invalid: u64,
    pub not_checked: u64,
    pub total: u64,
}

impl Counts {
    fn from(v: &Value) -> Counts {
        let n = |k: &str| v[k].as_u64().unwrap_or(0);
        Counts {
            valid: n("valid"),
            invalid: n("invalid"),
            not_checked: n("not_checked"),
            total: n("total"),
        }
    }
}

/// The report's `summary`.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub digests: Counts,
    pub backfill_digests: Counts,
    pub log_files: Counts,
    /// The counts beyond the AWS CLI's, in the order and words of the text report.
    extras: Vec<(u64, &'static str)>,
}

impl Summary {
    fn from(v: &Value) -> Summary {
        Summary {
            digests: Counts::from(&v["digest_files"]),
            backfill_digests: Counts::from(&v["backfill_digest_files"]),
            log_files: Counts::from(&v["log_files"]),
            extras: trailproof::report::SUMMARY_EXTRAS
                .iter()
                .map(|(field, words)| (v[*field].as_u64().unwrap_or(0), *words))
                .collect(),
        }
    }

    /// The three kinds of file with the names the text report gives them.
    pub fn kinds(&self) -> [(Counts, &'static str); 3] {
        [
            (self.digests, "digest"),
            (self.backfill_digests, "backfill digest"),
            (self.log_files, "log"),
        ]
    }

    pub fn no_digests(&self) -> bool {
        self.digests.total + self.backfill_digests.total == 0
    }

    /// The extra counts with the words of the text report.
    pub fn extras(&self) -> &[(u64, &'static str)] {
        &self.extras
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
    pub resumed_from: Option<String>,
    pub digests: Vec<Digest>,
    pub problems: Vec<Problem>,
    pub gaps: Vec<Gap>,
    pub spans: Vec<Span>,
    /// Valid log files listed in the report (only with `--verbose`).
    pub valid_logs_listed: u64,
    /// Findings beyond the AWS CLI's checks.
    pub findings: u64,
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
    pub summary: Option<Summary>,
    pub key_source: Option<String>,
    pub keys: Vec<Key>,
    /// True when the report is of several chains (discovery).
    pub multi: bool,
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

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn opt_s(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

pub fn time(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn range(v: &Value) -> Option<(String, String)> {
    Some((opt_s(&v["start"])?, opt_s(&v["end"])?))
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

fn location(entry: &Value) -> String {
    format!("s3://{}/{}", s(&entry["bucket"]), s(&entry["key"]))
}

fn keys(v: &Value) -> (Option<String>, Vec<Key>) {
    let keys = v["keys"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|k| Key {
                    fingerprint: s(&k["fingerprint"]),
                    validity: match (k["validity_start"].as_str(), k["validity_end"].as_str()) {
                        (Some(a), Some(b)) => format!("{a} to {b}"),
                        (Some(a), None) => format!("from {a}"),
                        (None, Some(b)) => format!("until {b}"),
                        (None, None) => String::new(),
                    },
                })
                .collect()
        })
        .unwrap_or_default();
    (opt_s(&v["source"]), keys)
}

fn chain(doc: &Value) -> Chain {
    let c = &doc["chain"];
    let owner = match c["organization_id"].as_str() {
        Some(o) => format!("{o}/{}", s(&c["account_id"])),
        None => s(&c["account_id"]),
    };
    let mut chain = Chain {
        label: format!("{owner} {}", s(&c["source_region"])),
        bucket: s(&c["bucket"]),
        prefix: opt_s(&c["prefix"]),
        verdict: s(&doc["verdict"]),
        summary: Summary::from(&doc["summary"]),
        found: range(&doc["found"]),
        resumed_from: head(&doc["resumed_from"]),
        digests: Vec::new(),
        problems: Vec::new(),
        gaps: Vec::new(),
        spans: Vec::new(),
        valid_logs_listed: 0,
        // Informational findings (a signed stop of logging) are no problem.
        findings: doc["findings"].as_array().map_or(0, |a| {
            a.iter().filter(|f| f["status"] != "info").count() as u64
        }),
    };
    // Invalid log files mark the digest that lists them, found by key.
    let mut digest_index: std::collections::HashMap<String, usize> =
        std::collections::HashMap::new();
    // The start of the digest the walk visited last (newest first): where one with no trusted
    // time of its own sits.
    let mut walked: Option<DateTime<Utc>> = None;
    for e in doc["entries"].as_array().into_iter().flatten() {
        let state = State::parse(e["status"].as_str().unwrap_or(""));
        match e["type"].as_str() {
            Some("digest") => {
                let backfill = e["backfill"].as_bool().unwrap_or(false);
                let key = s(&e["key"]);
                let hour = chrono::Duration::hours(1);
                // Only a verified signature makes a digest's own times trustworthy: an invalid
                // one could claim any hour, and paint a tampered hour valid or hide elsewhere.
                let claimed = match state {
                    State::Valid => e["start"]
                        .as_str()
                        .and_then(time)
                        .zip(e["end"].as_str().and_then(time)),
                    _ => None,
                };
                let (start, end) = match claimed {
                    Some((start, end)) => (Some(start), Some(end)),
                    None => {
                        let end = time_in_key(&key).or(walked);
                        (end.and_then(|t| t.checked_sub_signed(hour)), end)
                    }
                };
                if start.is_some() {
                    walked = start;
                }
                digest_index.insert(key, chain.digests.len());
                chain.digests.push(Digest {
                    location: location(e),
                    state,
                    message: s(&e["message"]),
                    backfill,
                    start,
                    end,
                    log_files: e["log_files"].as_u64().unwrap_or(0),
                    bad_logs: 0,
                });
                if state != State::Valid {
                    chain.problems.push(Problem {
                        what: format!("{}Digest file", if backfill { "(backfill) " } else { "" }),
                        location: location(e),
                        state,
                        message: s(&e["message"]),
                        detail: opt_s(&e["detail"]),
                    });
                }
            }
            Some("log") => {
                if state == State::Valid {
                    chain.valid_logs_listed += 1;
                    continue;
                }
                if let Some(d) = e["digest_key"]
                    .as_str()
                    .and_then(|k| digest_index.get(k))
                    .and_then(|&i| chain.digests.get_mut(i))
                {
                    d.bad_logs += 1;
                }
                let detail = match (e["expected"].as_str(), e["actual"].as_str()) {
                    (Some(x), Some(a)) => Some(format!("expected SHA-256 {x}, found {a}")),
                    _ => opt_s(&e["detail"]),
                };
                chain.problems.push(Problem {
                    what: "Log file".to_owned(),
                    location: location(e),
                    state,
                    message: s(&e["message"]),
                    detail,
                });
            }
            Some("gap") => {
                let (from, to) = (s(&e["from"]), s(&e["to"]));
                chain.gaps.push(Gap {
                    backfill: e["backfill"].as_bool().unwrap_or(false),
                    from_t: time(&from),
                    to_t: time(&to),
                    from,
                    to,
                });
            }
            _ => {}
        }
    }
    for f in doc["findings"].as_array().into_iter().flatten() {
        let message = s(&f["message"]);
        // The message is the text report's line: what, where, verdict, tab separated.
        let mut parts = message.splitn(3, '\t');
        let what = parts.next().unwrap_or_default().to_owned();
        let location = parts.next().unwrap_or_default().to_owned();
        let verdict = parts.next().unwrap_or_default().to_owned();
        let detail = match f["kind"].as_str() {
            Some("link_mismatch") => Some(format!(
                "{} says {}, the previous digest has {}",
                s(&f["key"]),
                s(&f["expected"]),
                s(&f["actual"])
            )),
            _ => None,
        };
        let state = match f["status"].as_str() {
            Some("info") => State::Valid,
            Some("not_checked") => State::NotChecked,
            _ => State::Invalid,
        };
        let when = match f["kind"].as_str() {
            Some("missing_digests") => f["from"]
                .as_str()
                .and_then(time)
                .zip(f["to"].as_str().and_then(time)),
            // The hours nothing covers, from the newest digest found to when one was due.
            Some("tail_missing") => f["newest_end"]
                .as_str()
                .and_then(time)
                .zip(f["expected_until"].as_str().and_then(time)),
            Some("logging_stopped" | "unlisted") => None,
            _ => time_in_key(&s(&f["key"])).map(|t| (t - chrono::Duration::hours(1), t)),
        };
        if let Some((from, to)) = when {
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
    chain
}

fn head(v: &Value) -> Option<String> {
    if v.is_null() {
        return None;
    }
    Some(format!(
        "{} (s3://{}/{})",
        s(&v["end_time"]),
        s(&v["bucket"]),
        s(&v["key"])
    ))
}

fn validation(doc: &Value) -> Validation {
    let multi = doc.get("chains").is_some();
    let chains: Vec<Chain> = if multi {
        doc["chains"]
            .as_array()
            .into_iter()
            .flatten()
            .map(chain)
            .collect()
    } else {
        vec![chain(doc)]
    };
    let (key_source, keys) = keys(&doc["public_keys"]);
    let requested = range(&doc["requested"]);
    Validation {
        trail_arn: s(&doc["trail_arn"]),
        verdict: s(&doc["verdict"]),
        exit_code: doc["exit_code"].as_i64().unwrap_or(2),
        requested_t: requested
            .as_ref()
            .and_then(|(a, b)| Some((time(a)?, time(b)?))),
        requested,
        found: range(&doc["found"]),
        summary: doc.get("summary").map(Summary::from),
        key_source,
        keys,
        multi,
        chains,
        resumed_from: head(&doc["resumed_from"]),
    }
}

fn lake(doc: &Value) -> Lake {
    let sf = &doc["sign_file"];
    let pk = &doc["public_key"];
    let listing = &doc["unlisted_check"];
    Lake {
        verdict: s(&doc["verdict"]),
        exit_code: doc["exit_code"].as_i64().unwrap_or(2),
        sign_location: s(&sf["location"]),
        query_complete_time: opt_s(&sf["query_complete_time"]),
        signature_message: s(&sf["signature"]["message"]),
        signature_state: State::parse(sf["status"].as_str().unwrap_or("")),
        sign_problems: sf["problems"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| s(&p["message"]))
            .collect(),
        fingerprint: s(&pk["fingerprint"]),
        key_found: pk["found"].as_bool().unwrap_or(false),
        key_source: s(&pk["source"]),
        key_region: s(&pk["region"]),
        files: doc["files"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| LakeFile {
                name: s(&f["name"]),
                location: s(&f["location"]),
                state: State::parse(f["status"].as_str().unwrap_or("")),
                message: s(&f["message"]),
                detail: match (f["expected"].as_str(), f["actual"].as_str()) {
                    (Some(x), Some(a)) => Some(format!("expected {x}, found {a}")),
                    _ => opt_s(&f["detail"]),
                },
            })
            .collect(),
        unlisted_check: match listing["status"].as_str() {
            Some("done") if listing["more_unlisted"].as_bool() == Some(true) => {
                "done (more unlisted files than shown)".to_owned()
            }
            Some("not_checked") => format!("NOT CHECKED: {}", s(&listing["cause"])),
            Some(other) => other.to_owned(),
            None => String::new(),
        },
        notes: doc["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(s)
            .collect(),
    }
}

/// Reads a report: a validation (one chain, or `chains`) or query results (`sign_file`).
pub fn read(doc: &Value) -> Result<Doc, HtmlError> {
    if !doc.is_object() {
        return Err(HtmlError::Layout(
            "the document is not a JSON object".into(),
        ));
    }
    if doc.get("sign_file").is_some() {
        return Ok(Doc::Lake(lake(doc)));
    }
    if doc.get("chain").is_some() || doc.get("chains").is_some() {
        return Ok(Doc::Validation(validation(doc)));
    }
    Err(HtmlError::Layout(
        "neither `chain`, `chains` nor `sign_file`: not a trailproof report".into(),
    ))
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
