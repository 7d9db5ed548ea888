//! "Valid" means complete: a chain whose newest digests were deleted is never valid, whatever
//! was cut (digests only, digests and their log files, the whole range), unless something
//! CloudTrail signed explains the end (a `StopLogging`, `DeleteTrail` or `UpdateTrail` in the
//! last verified log files). A delivery delay within the slack is not a finding.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use trailproof::{
    validate, Chain, Finding, KeySet, MemoryStore, Object, Options, Parallelism, Report, TrailArn,
    TrailStatus, Verdict,
};
use trailproof_testkit::{Trail, TrailBuilder};

fn t(s: &str) -> DateTime<Utc> {
    trailproof::time::parse(s).expect("time")
}

fn store_of(trail: &Trail) -> MemoryStore {
    trail
        .archive
        .objects
        .iter()
        .map(|(k, o)| {
            (
                k.clone(),
                Object {
                    bytes: o.body.clone(),
                    metadata: Some(o.metadata.clone()),
                },
            )
        })
        .collect()
}

fn run_on(
    trail: &Trail,
    store: &MemoryStore,
    region: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    status: Option<TrailStatus>,
) -> Report {
    let arn = TrailArn::parse(&trail.trail_arn()).expect("arn");
    let mut chain = Chain::for_trail(&arn, trail.bucket());
    chain.source_region = region.to_owned();
    let keys = KeySet::from_list_public_keys_json(trail.archive.public_keys_json().as_bytes(), "k")
        .expect("keys");
    let options = Options::new(start, end)
        .parallelism(Parallelism::Serial)
        .now(now)
        .trail_status(status);
    validate(store, &keys, &chain, &arn.arn, &options).expect("the run is carried out")
}

fn run(trail: &Trail, store: &MemoryStore, start: DateTime<Utc>, end: DateTime<Utc>) -> Report {
    run_on(
        trail,
        store,
        "us-east-1",
        start,
        end,
        t("2026-01-01T00:00:00Z"),
        None,
    )
}

fn tails(report: &Report) -> Vec<&Finding> {
    report
        .findings
        .iter()
        .filter(|f| {
            matches!(
                f,
                Finding::TailMissing { .. } | Finding::LoggingStopped { .. }
            )
        })
        .collect()
}

/// Deletes the newest `n` digests of `region` (and the log files they list when `logs`).
fn cut(trail: &Trail, store: &mut MemoryStore, region: &str, n: usize, logs: bool) {
    let digests = trail.digests_in(region);
    for d in digests.iter().rev().take(n) {
        store.remove(&d.bucket, &d.key);
        if logs {
            for l in &d.log_keys {
                store.remove(&d.bucket, l);
            }
        }
    }
}

const HOURS: u32 = 12;

fn twelve_hours() -> Trail {
    TrailBuilder::new().hours(HOURS).logs_per_hour(2).build()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every way of cutting the tail: digests only or with their log files, a range that still
    /// holds digests or none at all.
    #[test]
    fn no_cut_of_the_tail_is_valid(n in 1usize..(HOURS as usize), logs in any::<bool>(), whole_range in any::<bool>()) {
        let trail = twelve_hours();
        let mut store = store_of(&trail);
        cut(&trail, &mut store, "us-east-1", n, logs);
        let first = trail.start();
        let end = first + Duration::hours(i64::from(HOURS));
        let start = if whole_range {
            // The range the deleted digests covered, and nothing older.
            first + Duration::hours((HOURS as usize - n) as i64 + 1)
        } else {
            first
        };
        let report = run(&trail, &store, start, end);
        prop_assert_ne!(report.verdict(), Verdict::Valid, "{:?}", report.findings);
        let tail = tails(&report);
        prop_assert_eq!(tail.len(), 1);
        let Finding::TailMissing { newest_key, expected_until, .. } = tail[0] else {
            return Err(TestCaseError::fail(format!("{:?}", tail[0])));
        };
        let digests = trail.digests_in("us-east-1");
        let kept = &digests[digests.len() - n - 1];
        prop_assert_eq!(newest_key.as_deref(), Some(kept.key.as_str()));
        prop_assert_eq!(*expected_until, end);
        let message = tail[0].message();
        prop_assert!(message.contains("TAIL MISSING") && message.contains(&kept.key), "{}", message);
    }
}

#[test]
fn the_whole_trail_is_valid_and_complete() {
    let trail = twelve_hours();
    let store = store_of(&trail);
    let first = trail.start();
    let report = run(&trail, &store, first, first + Duration::hours(12));
    assert_eq!(report.verdict(), Verdict::Valid, "{:?}", report.findings);
    assert!(tails(&report).is_empty());
}

#[test]
fn a_signed_stop_explains_the_end_for_each_kind_of_stop() {
    for event in ["StopLogging", "DeleteTrail", "UpdateTrail"] {
        let trail = TrailBuilder::new()
            .hours(HOURS)
            .stop_event(event, 9, HOURS)
            .build();
        let store = store_of(&trail);
        let first = trail.start();
        let report = run(&trail, &store, first, first + Duration::hours(12));
        assert_eq!(
            report.verdict(),
            Verdict::Valid,
            "{event}: {:?}",
            report.findings
        );
        let tail = tails(&report);
        let [Finding::LoggingStopped {
            stop, newest_key, ..
        }] = tail.as_slice()
        else {
            panic!("{event}: {tail:?}");
        };
        assert_eq!(stop.event_name, event);
        assert_eq!(newest_key, &trail.digests_in("us-east-1")[8].key);
        assert!(stop.principal.ends_with(":user/alice"), "{stop:?}");
        assert!(!stop.event_id.is_empty() && stop.source.starts_with("s3://trail-bucket/"));
        let line = tail[0].message();
        assert!(
            line.contains(&format!("LOGGING STOPPED: {event} at ")),
            "{line}"
        );
    }
}

#[test]
fn the_home_regions_stop_explains_every_region() {
    let trail = TrailBuilder::new()
        .hours(HOURS)
        .regions(&["us-east-1", "eu-west-1"])
        .stop_event("StopLogging", 7, HOURS)
        .build();
    let store = store_of(&trail);
    let first = trail.start();
    let now = t("2026-01-01T00:00:00Z");
    let end = first + Duration::hours(12);
    let report = run_on(&trail, &store, "eu-west-1", first, end, now, None);
    assert_eq!(report.verdict(), Verdict::Valid, "{:?}", report.findings);
    assert!(matches!(
        tails(&report).as_slice(),
        [Finding::LoggingStopped { .. }]
    ));
}

#[test]
fn a_stop_followed_by_a_restart_explains_nothing() {
    // Logging stopped at hour 4 and started again at hour 6; then the newest three hours were
    // deleted. The stop is older than the cut and does not explain it.
    let trail = TrailBuilder::new()
        .hours(HOURS)
        .stop_event("StopLogging", 4, 6)
        .build();
    let mut store = store_of(&trail);
    cut(&trail, &mut store, "us-east-1", 3, true);
    let first = trail.start();
    let report = run(&trail, &store, first, first + Duration::hours(12));
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(matches!(
        tails(&report).as_slice(),
        [Finding::TailMissing { .. }]
    ));
}

#[test]
fn a_stop_event_planted_outside_the_signed_logs_explains_nothing() {
    // The attacker deletes the tail and adds a log file holding a StopLogging: no verified
    // digest lists it, so it is no explanation (and is itself unreferenced).
    let stopped = TrailBuilder::new()
        .hours(HOURS)
        .stop_event("StopLogging", 9, HOURS)
        .build();
    let genuine = twelve_hours();
    let mut store = store_of(&genuine);
    cut(&genuine, &mut store, "us-east-1", 3, true);
    let planted = &stopped.digests_in("us-east-1")[8].log_keys;
    let stop_log = planted.last().expect("the stop's log file");
    let (bucket, body) = stopped
        .archive
        .objects
        .iter()
        .find(|((_, k), _)| k == stop_log)
        .map(|((b, _), o)| (b.clone(), o.body.clone()))
        .expect("stored");
    store.put(
        &bucket,
        stop_log,
        Object {
            bytes: body,
            metadata: None,
        },
    );
    let first = genuine.start();
    let report = run(&genuine, &store, first, first + Duration::hours(12));
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(matches!(
        tails(&report).as_slice(),
        [Finding::TailMissing { .. }]
    ));
}

#[test]
fn a_delivery_delay_within_the_slack_is_not_a_finding() {
    let trail = twelve_hours();
    let store = store_of(&trail);
    let first = trail.start();
    let newest_end = trail.digests_in("us-east-1").last().expect("digests").end;
    // The range runs up to now; the newest digest ended 90 minutes ago (the next one is late).
    let now = newest_end + Duration::minutes(90);
    let report = run_on(&trail, &store, "us-east-1", first, now, now, None);
    assert_eq!(report.verdict(), Verdict::Valid, "{:?}", report.findings);
    // Three hours ago: two digests are overdue.
    let now = newest_end + Duration::hours(3);
    let report = run_on(&trail, &store, "us-east-1", first, now, now, None);
    assert_eq!(report.verdict(), Verdict::Invalid);
    let [Finding::TailMissing { expected_until, .. }] = tails(&report).as_slice() else {
        panic!("{:?}", report.findings);
    };
    assert_eq!(*expected_until, now - Duration::hours(2));
}

#[test]
fn get_trail_status_proves_a_deletion_and_explains_a_stop() {
    let trail = twelve_hours();
    let mut store = store_of(&trail);
    cut(&trail, &mut store, "us-east-1", 4, false);
    let first = trail.start();
    let end = first + Duration::hours(12);
    let now = t("2026-01-01T00:00:00Z");
    let digests = trail.digests_in("us-east-1");
    // CloudTrail delivered the (now deleted) newest digest: proof of deletion.
    let delivered = digests.last().expect("digests").end + Duration::minutes(10);
    let status = TrailStatus::new(Some(true), Some(delivered), None, None, None);
    let report = run_on(&trail, &store, "us-east-1", first, end, now, Some(status));
    let [Finding::TailMissing { evidence, .. }] = tails(&report).as_slice() else {
        panic!("{:?}", report.findings);
    };
    assert!(evidence
        .as_deref()
        .is_some_and(|e| e.contains("GetTrailStatus")));
    assert!(report
        .findings
        .iter()
        .any(|f| f.message().contains("digest files were deleted")));
    // CloudTrail says logging stopped right after the newest digest left here: explained.
    let kept_end = digests[digests.len() - 5].end;
    let stopped = TrailStatus::new(
        Some(false),
        Some(kept_end + Duration::minutes(5)),
        None,
        None,
        Some(kept_end + Duration::minutes(20)),
    );
    let report = run_on(&trail, &store, "us-east-1", first, end, now, Some(stopped));
    assert_eq!(report.verdict(), Verdict::Valid, "{:?}", report.findings);
}
