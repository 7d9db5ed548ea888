//! The JSON report (layout version [`JSON_VERSION`]).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::*;
use crate::state::Head;
use crate::time::display;

impl DigestOutcome {
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

impl Finding {
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
            Finding::TailMissing {
                bucket,
                folder,
                newest_key,
                newest_end,
                expected_until,
                evidence,
            } => json!({
                "bucket": bucket,
                "folder": folder,
                "key": newest_key,
                "newest_end": newest_end.map(display),
                "expected_until": display(*expected_until),
                "evidence": evidence,
            }),
            Finding::LoggingStopped {
                bucket,
                newest_key,
                stop,
            } => json!({
                "bucket": bucket,
                "key": newest_key,
                "event_name": stop.event_name,
                "event_time": display(stop.event_time),
                "principal": stop.principal,
                "event_id": stop.event_id,
                "source": stop.source,
            }),
            Finding::Unlisted {
                bucket,
                folder,
                cause,
            } => json!({"bucket": bucket, "folder": folder, "cause": cause}),
        };
        v["kind"] = json!(self.code());
        v["status"] = json!(match self.status() {
            Status::Valid => "info",
            other => other.as_str(),
        });
        v["message"] = json!(self.message());
        v
    }
}

fn head_json(h: &Head) -> Value {
    json!({"bucket": h.bucket, "key": h.key, "end_time": display(h.end_time), "signature": h.signature, "hash": h.hash})
}

impl Counts {
    fn to_json(self) -> Value {
        json!({"valid": self.valid, "invalid": self.invalid, "not_checked": self.not_checked, "total": self.total()})
    }
}

impl Summary {
    fn to_json(self) -> Value {
        let mut v = json!({
            "digest_files": self.digests.to_json(),
            "backfill_digest_files": self.backfill_digests.to_json(),
            "log_files": self.log_files.to_json(),
        });
        for (n, field, _) in self.extras() {
            v[field] = json!(n);
        }
        v
    }
}

impl Report {
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
