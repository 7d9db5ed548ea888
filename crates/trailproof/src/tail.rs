//! Completeness at the newest edge of a chain: "valid" also means nothing is missing at the end.
//!
//! CloudTrail delivers one digest per hour per region while logging is on, even for an hour
//! without log files. A chain whose newest digest ends well before the range does (or before
//! now, less the delivery delay) was cut short: the cheapest attack on an archive is deleting the
//! newest hours. Only a stop that CloudTrail itself records explains such an end: a
//! `StopLogging`, `DeleteTrail` or `UpdateTrail` turning validation off for this trail, found
//! in a log file that a verified digest covers (so its bytes are signed), or CloudTrail's
//! `GetTrailStatus`. Anything else is a [`Finding::TailMissing`].

use std::io::Read;
use std::ops::ControlFlow;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::digest::{self, SignatureSource};
use crate::layout::{is_backfill_key, key_date, Chain, TrailArn};
use crate::report::{DigestOutcome, Finding, StopEvent};
use crate::state::Head;
use crate::store::ObjectStore;
use crate::time::{display, key_format, parse_key_time};
use crate::validate::{Options, PublicKeySource, WalkKeys};
use crate::Error;

/// How late a digest may arrive before its absence is a finding. CloudTrail writes a digest
/// for each hour within about an hour of its end (REFERENCE: "usually within an hour"), so the
/// newest digest that must be there ends at least one cadence (1 h) plus one delivery delay
/// (1 h) ago.
pub const DELIVERY_SLACK: Duration = Duration::hours(2);

/// How far back from the newest digest the explanation is searched: the log file holding the
/// stop event is delivered (and listed by a digest) within minutes of it, so the last three
/// digests hold it.
const STOP_SEARCH: Duration = Duration::hours(3);

/// Largest inflated log file read when looking for a stop event: the events that stop logging
/// are management events, in ordinary-sized files. A larger one is passed over, never trusted.
const MAX_STOP_LOG_BYTES: u64 = 64 << 20;

/// What CloudTrail's `GetTrailStatus` says of the trail (taken in live mode, from the trail's
/// home region). It comes from CloudTrail, not from the bucket, so it is trusted as much as
/// `ListPublicKeys`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrailStatus {
    /// `IsLogging`.
    pub is_logging: Option<bool>,
    /// `LatestDigestDeliveryTime`: when CloudTrail last delivered a digest of the trail.
    pub latest_digest_delivery_time: Option<DateTime<Utc>>,
    /// `LatestDigestDeliveryError`.
    pub latest_digest_delivery_error: Option<String>,
    /// `StartLoggingTime`.
    pub start_logging_time: Option<DateTime<Utc>>,
    /// `StopLoggingTime`.
    pub stop_logging_time: Option<DateTime<Utc>>,
}

impl TrailStatus {
    /// A status with the fields `GetTrailStatus` answered.
    pub fn new(
        is_logging: Option<bool>,
        latest_digest_delivery_time: Option<DateTime<Utc>>,
        latest_digest_delivery_error: Option<String>,
        start_logging_time: Option<DateTime<Utc>>,
        stop_logging_time: Option<DateTime<Utc>>,
    ) -> Self {
        TrailStatus {
            is_logging,
            latest_digest_delivery_time,
            latest_digest_delivery_error,
            start_logging_time,
            stop_logging_time,
        }
    }
}

/// What the tail check needs from the run.
pub(crate) struct Tail<'a> {
    pub store: &'a dyn ObjectStore,
    pub keys: &'a dyn PublicKeySource,
    pub options: &'a Options,
    pub chain: &'a Chain,
    pub trail_arn: &'a str,
}

impl Tail<'_> {
    /// Checks the newest edge of the chain. `newest_listed` is the newest standard digest key
    /// listed from `listed_from` to an hour past the run's end (the walk's own listing);
    /// `resume`, the head an incremental run started from.
    pub fn check(
        &self,
        newest_listed: Option<&str>,
        listed_from: DateTime<Utc>,
        resume: Option<&Head>,
    ) -> Result<Option<Finding>, Error> {
        let end = self.options.end;
        let expected_until = end.min(self.options.now - DELIVERY_SLACK);
        if expected_until < self.options.start {
            return Ok(None);
        }
        let newest = match newest_listed {
            Some(k) => Some(k.to_owned()),
            None => self.newest_before(listed_from)?,
        };
        let newest_time = newest.as_deref().and_then(|k| parse_key_time(key_date(k)));
        let (newest_key, newest_time) = match (newest, newest_time) {
            (Some(k), Some(t)) => (Some(k), t),
            // Nothing at all: a chain that never delivered here, unless the state says it did.
            _ => match resume {
                Some(h) => (Some(h.key.clone()), h.end_time),
                None => return Ok(None),
            },
        };
        if newest_time >= expected_until {
            return Ok(None);
        }
        let missing = |evidence| Finding::TailMissing {
            bucket: self.chain.bucket.clone(),
            folder: self.chain.digest_prefix(),
            newest_key: newest_key.clone(),
            newest_end: Some(newest_time),
            expected_until,
            evidence,
        };
        let status = self.options.trail_status.as_ref();
        // Proof first: CloudTrail delivered a digest after the newest one here.
        if let Some(delivered) = status.and_then(|s| s.latest_digest_delivery_time) {
            if delivered > newest_time + DELIVERY_SLACK && delivered <= end + DELIVERY_SLACK {
                return Ok(Some(missing(Some(format!(
                    "GetTrailStatus reports a digest file delivered at {}",
                    display(delivered)
                )))));
            }
        }
        let Some(newest_key) = newest_key.clone() else {
            return Ok(Some(missing(None)));
        };
        let mut stop = self.find_stop(self.chain, newest_time)?;
        if stop.is_none() {
            // A multi-region trail records StopLogging in its home region's logs, and an
            // organization trail in the management account's.
            if let Ok(arn) = TrailArn::parse(self.trail_arn) {
                let home = Chain {
                    account_id: arn.account_id.clone(),
                    source_region: self.chain.home_region.clone(),
                    ..self.chain.clone()
                };
                if home != *self.chain {
                    stop = self.find_stop(&home, newest_time)?;
                }
            }
        }
        if stop.is_none() {
            if let Some(s) = status.filter(|s| s.is_logging == Some(false)) {
                if let Some(t) = s
                    .stop_logging_time
                    .filter(|t| *t <= newest_time + DELIVERY_SLACK)
                {
                    stop = Some(StopEvent {
                        event_name: "GetTrailStatus".to_owned(),
                        event_time: t,
                        principal: String::new(),
                        event_id: String::new(),
                        source: "GetTrailStatus (IsLogging false, StopLoggingTime)".to_owned(),
                    });
                }
            }
        }
        Ok(Some(match stop {
            Some(stop) => Finding::LoggingStopped {
                bucket: self.chain.bucket.clone(),
                newest_key,
                stop,
            },
            None => missing(None),
        }))
    }

    /// The newest standard digest of the chain with a key time before `before`, found by going
    /// down the date folders (`YYYY/MM/DD/`) from the newest: a few listings, not the history.
    fn newest_before(&self, before: DateTime<Utc>) -> Result<Option<String>, Error> {
        let bucket = &self.chain.bucket;
        let root = format!("{}/", self.chain.digest_prefix());
        let limit = key_format(before);
        let (year_limit, month_limit, day_limit) = (
            before.format("%Y").to_string(),
            before.format("%Y/%m").to_string(),
            before.format("%Y/%m/%d").to_string(),
        );
        let mut years = self.store.list_folders(bucket, &root)?;
        years.reverse();
        for year in years {
            if folder_date(&root, &year) > year_limit.as_str() {
                continue;
            }
            let mut months = self.store.list_folders(bucket, &year)?;
            months.reverse();
            for month in months {
                if folder_date(&root, &month) > month_limit.as_str() {
                    continue;
                }
                let mut days = self.store.list_folders(bucket, &month)?;
                days.reverse();
                for day in days {
                    if folder_date(&root, &day) > day_limit.as_str() {
                        continue;
                    }
                    let mut best: Option<String> = None;
                    self.store.list(bucket, &day, "", &mut |k| {
                        if self.chain.is_digest_key(k)
                            && !is_backfill_key(k)
                            && key_date(k) < limit.as_str()
                            && parse_key_time(key_date(k)).is_some()
                            && best.as_deref().is_none_or(|b| key_date(b) < key_date(k))
                        {
                            best = Some(k.to_owned());
                        }
                        ControlFlow::Continue(())
                    })?;
                    if best.is_some() {
                        return Ok(best);
                    }
                }
            }
        }
        Ok(None)
    }

    /// The event that stopped the trail's digests, from the log files listed by the verified
    /// digests of `chain` that end in the hours up to `at`: the last event that starts or stops
    /// logging (or validation) for this trail, when it stops it.
    fn find_stop(&self, chain: &Chain, at: DateTime<Utc>) -> Result<Option<StopEvent>, Error> {
        let from = at - STOP_SEARCH;
        let (lo, hi) = (key_format(from), key_format(at));
        let mut keys_found = Vec::new();
        self.store.list(
            &chain.bucket,
            &chain.digest_prefix(),
            &chain.marker(from),
            &mut |k| {
                if !chain.is_digest_key(k) || is_backfill_key(k) {
                    return ControlFlow::Continue(());
                }
                let d = key_date(k);
                if d > hi.as_str() {
                    return ControlFlow::Break(());
                }
                if d >= lo.as_str() {
                    keys_found.push(k.to_owned());
                }
                ControlFlow::Continue(())
            },
        )?;
        if keys_found.is_empty() {
            return Ok(None);
        }
        let keys = self
            .keys
            .public_keys(&chain.home_region, from, at + DELIVERY_SLACK)?;
        let mut lookup = WalkKeys::new(self.keys, &chain.home_region, keys);
        let arn = TrailArn::parse(self.trail_arn).ok();
        let name = arn.as_ref().map_or(chain.trail_name.as_str(), |a| &a.name);
        let mut events: Vec<(DateTime<Utc>, bool, StopEvent)> = Vec::new();
        // Newest first, so that a digest without metadata learns its signature from the newer.
        let mut learnt: Option<(String, String)> = None;
        for key in keys_found.iter().rev() {
            let Ok(object) =
                self.store
                    .get(&chain.bucket, key, self.options.limits.max_digest_bytes)
            else {
                learnt = None;
                continue;
            };
            let Ok(parsed) = digest::parse(&object.bytes, &self.options.limits) else {
                learnt = None;
                continue;
            };
            let source = match object.metadata {
                Some(meta) => SignatureSource::Metadata(meta),
                None => SignatureSource::Successor(
                    learnt
                        .as_ref()
                        .filter(|(k, _)| k == key)
                        .map(|(_, s)| s.clone()),
                ),
            };
            learnt = parsed
                .previous()
                .filter(|_| !parsed.has_no_previous_link())
                .zip(parsed.previous_signature())
                .map(|((_, k), s)| (k.to_owned(), s.to_owned()));
            if digest::check(&parsed, &chain.bucket, key, &source, &mut lookup)?
                != DigestOutcome::Valid
            {
                continue;
            }
            let Ok(logs) = parsed.log_files() else {
                continue;
            };
            for log in logs {
                for (time, stops, event) in self.trail_events(&log, name, arn.as_ref()) {
                    events.push((time, stops, event));
                }
            }
        }
        events.sort_by_key(|e| e.0);
        Ok(events.pop().filter(|(_, stops, _)| *stops).map(|e| e.2))
    }

    /// The events of a log file that start (false) or stop (true) this trail's logging or
    /// validation, when the file's inflated bytes hash to what the verified digest says.
    fn trail_events(
        &self,
        log: &digest::LogFileRef,
        name: &str,
        arn: Option<&TrailArn>,
    ) -> Vec<(DateTime<Utc>, bool, StopEvent)> {
        let Ok(reader) = self.store.open(&log.bucket, &log.key) else {
            return Vec::new();
        };
        let mut inflated = Vec::new();
        let mut gz = flate2::read::GzDecoder::new(reader).take(MAX_STOP_LOG_BYTES + 1);
        if gz.read_to_end(&mut inflated).is_err() || inflated.len() as u64 > MAX_STOP_LOG_BYTES {
            return Vec::new();
        }
        if !hex::encode(Sha256::digest(&inflated)).eq_ignore_ascii_case(&log.hash) {
            return Vec::new();
        }
        let Ok(doc) = serde_json::from_slice::<Value>(&inflated) else {
            return Vec::new();
        };
        let source = format!("s3://{}/{}", log.bucket, log.key);
        let other_region = self.chain.source_region != self.chain.home_region;
        doc["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                let stops = stop_kind(r, name, arn, other_region)?;
                let time = crate::time::parse_cloudtrail(r["eventTime"].as_str()?)?;
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                Some((
                    time,
                    stops,
                    StopEvent {
                        event_name: text(&r["eventName"]),
                        event_time: time,
                        principal: text(&r["userIdentity"]["arn"]),
                        event_id: text(&r["eventID"]),
                        source: source.clone(),
                    },
                ))
            })
            .collect()
    }
}

/// `Some(true)` for a successful event that stops this trail's digests, `Some(false)` for one
/// that starts them again, `None` for anything else. For a chain of another region than the
/// trail's home (`other_region`), making the trail single-region stops it too.
fn stop_kind(
    record: &Value,
    name: &str,
    arn: Option<&TrailArn>,
    other_region: bool,
) -> Option<bool> {
    if record["eventSource"].as_str() != Some("cloudtrail.amazonaws.com")
        || !record["errorCode"].is_null()
    {
        return None;
    }
    let params = &record["requestParameters"];
    let target = params["name"]
        .as_str()
        .or_else(|| params["trailName"].as_str())?;
    let ours = target == name
        || arn.is_some_and(|a| target == a.arn)
        || target
            .rsplit_once(":trail/")
            .is_some_and(|(_, n)| n == name);
    if !ours {
        return None;
    }
    match record["eventName"].as_str()? {
        "StopLogging" | "DeleteTrail" => Some(true),
        "StartLogging" | "CreateTrail" => Some(false),
        "UpdateTrail" => {
            let validation_off = params["enableLogFileValidation"].as_bool().map(|on| !on);
            let single_region = params["isMultiRegionTrail"]
                .as_bool()
                .filter(|_| other_region)
                .map(|multi| !multi);
            match (validation_off, single_region) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), _) | (_, Some(false)) => Some(false),
                (None, None) => None,
            }
        }
        _ => None,
    }
}

/// `YYYY`, `YYYY/MM` or `YYYY/MM/DD` of a date folder below `root`.
fn folder_date<'a>(root: &str, folder: &'a str) -> &'a str {
    folder
        .strip_prefix(root)
        .unwrap_or(folder)
        .trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arn() -> TrailArn {
        TrailArn::parse("arn:aws:cloudtrail:us-east-1:111122223333:trail/t").unwrap()
    }

    #[test]
    fn stop_events_are_recognised_for_this_trail_only() {
        let rec = |name: &str, target: &str, extra: Value| {
            let mut r = json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": name,
                "requestParameters": {"name": target}});
            if let (Some(r), Some(e)) = (r.as_object_mut(), extra.as_object()) {
                for (k, v) in e {
                    r.insert(k.clone(), v.clone());
                }
            }
            r
        };
        let a = arn();
        assert_eq!(
            stop_kind(&rec("StopLogging", "t", json!({})), "t", Some(&a), false),
            Some(true)
        );
        assert_eq!(
            stop_kind(&rec("StopLogging", &a.arn, json!({})), "t", Some(&a), false),
            Some(true)
        );
        assert_eq!(
            stop_kind(
                &rec("StopLogging", "other", json!({})),
                "t",
                Some(&a),
                false
            ),
            None
        );
        assert_eq!(
            stop_kind(
                &rec("StopLogging", "t", json!({"errorCode": "AccessDenied"})),
                "t",
                Some(&a),
                false
            ),
            None,
            "a failed call stops nothing"
        );
        assert_eq!(
            stop_kind(&rec("DeleteTrail", "t", json!({})), "t", Some(&a), false),
            Some(true)
        );
        assert_eq!(
            stop_kind(&rec("StartLogging", "t", json!({})), "t", Some(&a), false),
            Some(false)
        );
        let mut off = rec("UpdateTrail", "t", json!({}));
        off["requestParameters"]["enableLogFileValidation"] = json!(false);
        assert_eq!(stop_kind(&off, "t", Some(&a), false), Some(true));
        off["requestParameters"]["enableLogFileValidation"] = json!(true);
        assert_eq!(stop_kind(&off, "t", Some(&a), false), Some(false));
        assert_eq!(
            stop_kind(&rec("UpdateTrail", "t", json!({})), "t", Some(&a), false),
            None
        );
        let mut single = rec("UpdateTrail", "t", json!({}));
        single["requestParameters"]["isMultiRegionTrail"] = json!(false);
        assert_eq!(
            stop_kind(&single, "t", Some(&a), false),
            None,
            "the home region goes on"
        );
        assert_eq!(
            stop_kind(&single, "t", Some(&a), true),
            Some(true),
            "other regions stop"
        );
        let mut elsewhere = rec("StopLogging", "t", json!({}));
        elsewhere["eventSource"] = json!("s3.amazonaws.com");
        assert_eq!(stop_kind(&elsewhere, "t", Some(&a), false), None);
    }
}
