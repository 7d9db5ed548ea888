//! `S3Store` and `CloudTrailKeys` against a real S3-compatible server and a CloudTrail endpoint
//! on 127.0.0.1, through the real SDK: same verdicts as the in-memory store, faults retried or
//! reported as not checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use trailproof::{
    Entry, LogOutcome, ObjectStore, PublicKeySource, Report, Status, StoreError, Verdict,
};
use trailproof_aws::{describe_trail, organization_id, CloudTrailKeys, TrailInfo};
use trailproof_testkit::{Trail, TrailBuilder};
use trailproof_testserver::*;

const HOURS: u32 = 6;

fn trail() -> Trail {
    TrailBuilder::new().hours(HOURS).build()
}

/// Uploads `trail`, validates it through S3 + CloudTrail and returns both reports.
fn validate_both(trail: &Trail, key_page_size: usize) -> (Report, Report, Harness) {
    let h = Harness::start(key_page_size);
    h.cloudtrail.serve_trail(trail);
    h.cloudtrail.add_decoy_key();
    let ctx = h.context(&test_options());
    h.upload(&ctx, trail);
    let store = h.store(&ctx).page_size(4);
    let keys = CloudTrailKeys::new(&ctx, h.rt.handle().clone()).unwrap();
    let report = trailproof::validate(
        &store,
        &keys,
        &chain(trail),
        &trail.trail_arn(),
        &options(trail, i64::from(HOURS)),
    )
    .unwrap();
    (report, validate_in_memory(trail, i64::from(HOURS)), h)
}

#[test]
fn clean_trail_is_valid_like_in_memory() {
    let trail = trail();
    let (s3, memory, h) = validate_both(&trail, 1);
    assert_eq!(s3.verdict(), Verdict::Valid, "{:?}", s3.summary());
    assert!(s3.summary().log_files.valid >= u64::from(HOURS));
    assert_eq!(s3, memory);
    // The keys were read page by page (the trail's key is on the second), once.
    let calls = h.cloudtrail.state.calls_to("ListPublicKeys");
    assert_eq!(calls.len(), 2, "one key per page: {calls:?}");
    assert!(calls[0].get("NextToken").is_none() && calls[1]["NextToken"] == "page-1");
    // Listing was paginated (page size 4).
    let lists = h.s3.faults.count(&format!("LIST /{}", trail.bucket()));
    assert!(lists >= 2, "{:?}", h.s3.faults.requests());
}

#[test]
fn tampered_trails_get_the_in_memory_verdicts() {
    let base = trail();
    let bucket = base.bucket().to_owned();
    let digests = base.digests_in(base.home_region());
    let middle = digests[digests.len() / 2];
    let newest = digests[digests.len() - 1];
    let log = middle.log_keys[0].clone();

    let mut modified = base.clone();
    modified.archive.modify_log(&bucket, &log);
    let mut deleted_digest = base.clone();
    deleted_digest.archive.delete(&bucket, &middle.key);
    let mut no_signature = base.clone();
    no_signature.archive.drop_signature(&bucket, &newest.key);
    let mut deleted_log = base.clone();
    deleted_log.archive.delete(&bucket, &log);

    for (name, trail, verdict) in [
        ("modified log", &modified, Verdict::Invalid),
        ("deleted digest", &deleted_digest, Verdict::Invalid),
        (
            "newest digest without signature",
            &no_signature,
            Verdict::Invalid,
        ),
        ("deleted log", &deleted_log, Verdict::Invalid),
    ] {
        let (s3, memory, _h) = validate_both(trail, 100);
        assert_eq!(s3.verdict(), verdict, "{name}: {:?}", s3.summary());
        assert_eq!(s3.summary(), memory.summary(), "{name}");
        assert_eq!(s3, memory, "{name}");
    }
}

#[test]
fn transient_faults_are_retried() {
    let trail = trail();
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    let ctx = h.context(&test_options());
    h.upload(&ctx, &trail);
    let bucket = trail.bucket();
    let digests = trail.digests_in(trail.home_region());
    let logs: Vec<&String> = digests.iter().flat_map(|d| &d.log_keys).collect();
    let faults = &h.s3.faults;
    faults.add(&format!("LOCATION /{bucket}"), Fault::SlowDown, Some(2));
    faults.add(&format!("LIST /{bucket}"), Fault::SlowDown, Some(1));
    faults.add(&get_name(bucket, &digests[1].key), Fault::Reset, Some(2));
    faults.add(&get_name(bucket, logs[0]), Fault::SlowDown, Some(4));
    faults.add(&get_name(bucket, logs[1]), Fault::Reset, Some(3));
    faults.add(&get_name(bucket, logs[2]), Fault::Internal, Some(2));
    // Cut mid-body once: the reader resumes from where it stopped.
    faults.add(&get_name(bucket, logs[3]), Fault::Truncate, Some(1));
    // A digest cut mid-body is fetched again.
    faults.add(&get_name(bucket, &digests[2].key), Fault::Truncate, Some(1));
    let store = h.store(&ctx);
    let keys = CloudTrailKeys::new(&ctx, h.rt.handle().clone()).unwrap();
    let report = trailproof::validate(
        &store,
        &keys,
        &chain(&trail),
        &trail.trail_arn(),
        &options(&trail, i64::from(HOURS)),
    )
    .unwrap();
    assert_eq!(faults.pending(), 0, "every fault was hit");
    assert_eq!(report.verdict(), Verdict::Valid, "{:?}", report.summary());
    assert_eq!(report, validate_in_memory(&trail, i64::from(HOURS)));
    assert_eq!(
        faults.count(&get_name(bucket, logs[0])),
        5,
        "4 throttled + 1 good attempt"
    );
    assert_eq!(faults.count(&get_name(bucket, logs[1])), 4);
    assert_eq!(
        faults.count(&get_name(bucket, logs[3])),
        2,
        "the cut GET and the resuming one"
    );
}

#[test]
fn permanent_faults_are_not_checked_never_valid() {
    let trail = trail();
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    let ctx = h.context(&test_options());
    h.upload(&ctx, &trail);
    let bucket = trail.bucket();
    let digests = trail.digests_in(trail.home_region());
    let failing = digests[1].log_keys[0].clone();
    let truncated = digests[2].log_keys[0].clone();
    h.s3.faults
        .add(&get_name(bucket, &failing), Fault::Internal, None);
    h.s3.faults
        .add(&get_name(bucket, &truncated), Fault::Truncate, None);
    let store = h.store(&ctx);
    let keys = CloudTrailKeys::new(&ctx, h.rt.handle().clone()).unwrap();
    let report = trailproof::validate(
        &store,
        &keys,
        &chain(&trail),
        &trail.trail_arn(),
        &options(&trail, i64::from(HOURS)),
    )
    .unwrap();
    assert_eq!(
        report.verdict(),
        Verdict::Incomplete,
        "{:?}",
        report.summary()
    );
    let summary = report.summary();
    assert_eq!(summary.log_files.not_checked, 2);
    assert_eq!(summary.log_files.invalid, 0);
    assert_eq!(summary.digests.invalid + summary.digests.not_checked, 0);
    assert_eq!(
        h.s3.faults.count(&get_name(bucket, &failing)),
        5,
        "max attempts"
    );
    assert_eq!(
        h.s3.faults.count(&get_name(bucket, &truncated)),
        3,
        "resumed twice, cut each time"
    );

    let memory = validate_in_memory(&trail, i64::from(HOURS));
    assert_eq!(report.entries.len(), memory.entries.len());
    for (got, want) in report.entries.iter().zip(&memory.entries) {
        match (got, want) {
            (Entry::Log(g), Entry::Log(w)) if g.key == failing || g.key == truncated => {
                let LogOutcome::Unreadable { cause } = &g.outcome else {
                    panic!("{}: {:?}", g.key, g.outcome)
                };
                assert_eq!(g.outcome.status(), Status::NotChecked);
                assert_eq!(w.outcome, LogOutcome::Valid);
                if g.key == failing {
                    assert!(cause.contains("InternalError"), "{cause}");
                } else {
                    // Cut mid-body, and again on each resumption: the reader fails.
                    assert!(
                        cause.contains(truncated.as_str())
                            && cause.contains("reading the body failed"),
                        "{cause}"
                    );
                }
            }
            _ => assert_eq!(got, want),
        }
    }
}

#[test]
fn store_operations_map_errors_and_metadata() {
    let trail = trail();
    let h = Harness::start(100);
    let ctx = h.context(&test_options());
    h.upload(&ctx, &trail);
    let bucket = trail.bucket();
    let (memory, _) = memory_store(&trail);
    let store = h.store(&ctx).page_size(2);
    let digest = &trail.digests_in(trail.home_region())[0];

    // get: bytes and user metadata round-trip, the limit is enforced.
    let got = store.get(bucket, &digest.key, 1 << 20).unwrap();
    let want = trail.archive.get(bucket, &digest.key).unwrap();
    assert_eq!(got.bytes, want.body);
    assert_eq!(got.metadata.as_ref(), Some(&want.metadata));
    assert!(want.metadata.contains_key("signature"));
    assert!(matches!(
        store.get(bucket, &digest.key, 10),
        Err(StoreError::TooLarge { limit: 10, .. })
    ));
    // open streams the same bytes.
    let mut bytes = Vec::new();
    store
        .open(bucket, &digest.log_keys[0])
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(
        bytes,
        trail.archive.get(bucket, &digest.log_keys[0]).unwrap().body
    );

    // Missing objects and buckets.
    assert!(matches!(
        store.get(bucket, "AWSLogs/nope", 100),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.open(bucket, "AWSLogs/nope"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.get("no-such-bucket", "k", 100),
        Err(StoreError::NoSuchBucket { .. })
    ));
    let err = store.list("no-such-bucket", "", "", &mut |_| ControlFlow::Continue(()));
    assert!(
        matches!(err, Err(StoreError::NoSuchBucket { .. })),
        "{err:?}"
    );

    // list: same keys as in memory, pages of 2, start_after honoured, stops when told.
    let prefix = "AWSLogs/";
    let start_after = &digest.log_keys[0];
    let collect = |s: &dyn ObjectStore| {
        let mut keys = Vec::new();
        s.list(bucket, prefix, start_after, &mut |k| {
            keys.push(k.to_owned());
            ControlFlow::Continue(())
        })
        .unwrap();
        keys
    };
    let listed = collect(&store);
    assert_eq!(listed, collect(&memory));
    assert!(listed.len() > 6 && listed.iter().all(|k| k.as_str() > start_after.as_str()));
    let lists_before = h.s3.faults.count(&format!("LIST /{bucket}"));
    let mut seen = 0;
    store
        .list(bucket, prefix, "", &mut |_| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(seen, 3);
    assert_eq!(
        h.s3.faults.count(&format!("LIST /{bucket}")) - lists_before,
        2,
        "stopped after the second page"
    );
    // The bucket's region was looked up once.
    assert_eq!(h.s3.faults.count(&format!("LOCATION /{bucket}")), 1);
}

#[test]
fn open_streams_without_waiting_for_the_whole_body() {
    let h = Harness::start(100);
    let ctx = h.context(&test_options());
    let client = ctx.s3_client(REGION);
    let body: Vec<u8> = (0..512 * 1024u32).map(|i| (i % 251) as u8).collect();
    h.rt.block_on(async {
        client.create_bucket().bucket("tpb").send().await.unwrap();
        client
            .put_object()
            .bucket("tpb")
            .key("big")
            .body(body.clone().into())
            .send()
            .await
            .unwrap();
    });
    let gate = Arc::new(tokio::sync::Notify::new());
    h.s3.faults
        .add(&get_name("tpb", "big"), Fault::Stall(gate.clone()), Some(1));
    let store = h.store(&ctx);
    let mut reader = store.open("tpb", "big").unwrap();
    // The first half arrives while the server holds the rest back.
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let mut first = vec![0u8; 1000];
        reader.read_exact(&mut first).unwrap();
        tx.send(first).unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        rest
    });
    let first = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("bytes before the end of the body");
    assert_eq!(first, body[..1000]);
    gate.notify_one();
    let rest = handle.join().unwrap();
    assert_eq!(rest, body[1000..]);
}

#[test]
fn cloudtrail_keys_trail_and_organization() {
    let trail = TrailBuilder::new()
        .hours(2)
        .organization("o-abc123def4")
        .build();
    let h = Harness::start(1);
    h.cloudtrail.serve_trail(&trail);
    h.cloudtrail.add_decoy_key();
    let ctx = h.context(&test_options());
    let keys = CloudTrailKeys::new(&ctx, h.rt.handle().clone()).unwrap();
    // Both testkit keys (A, then B from day 15) and the decoy are valid in these 20 days.
    let (start, end) = (trail.start(), trail.start() + chrono::Duration::days(20));
    let set = keys.public_keys(REGION, start, end).unwrap();
    let (_, expected) = memory_store(&trail);
    for key in expected.iter() {
        let got = set
            .get(key.fingerprint())
            .expect("the trail's key is found on a later page");
        assert_eq!(got, key, "validity times kept");
    }
    assert!(set.len() > expected.len(), "the decoy too");
    let calls = h.cloudtrail.state.calls_to("ListPublicKeys").len();
    assert_eq!(calls, 3, "one page per key");
    let first = &h.cloudtrail.state.calls_to("ListPublicKeys")[0];
    assert_eq!(first["StartTime"].as_f64(), Some(start.timestamp() as f64));
    assert_eq!(first["EndTime"].as_f64(), Some(end.timestamp() as f64));
    // Cached.
    keys.public_keys(REGION, start, end).unwrap();
    assert_eq!(h.cloudtrail.state.calls_to("ListPublicKeys").len(), calls);

    // A fingerprint that is not the key's MD5 leaves that key out, with a warning.
    h.cloudtrail.state.keys.lock().unwrap()[0]["Fingerprint"] =
        serde_json::json!("00000000000000000000000000000000");
    let set = keys
        .public_keys(REGION, start, end + chrono::Duration::hours(1))
        .unwrap();
    let err = set.warnings().join("\n");
    assert!(
        err.contains("does not match its key") && err.contains("ListPublicKeys"),
        "{err}"
    );

    let info =
        h.rt.block_on(describe_trail(&ctx, &trail.trail_arn()))
            .unwrap();
    assert_eq!(
        info,
        TrailInfo {
            bucket: trail.bucket().to_owned(),
            prefix: None,
            is_organization_trail: true,
            home_region: REGION.to_owned(),
        }
    );
    let missing = "arn:aws:cloudtrail:us-east-1:111122223333:trail/missing";
    let err =
        h.rt.block_on(describe_trail(&ctx, missing))
            .unwrap_err()
            .to_string();
    assert!(err.contains("no such trail"), "{err}");
    assert_eq!(
        h.rt.block_on(organization_id(&ctx)).unwrap(),
        "o-abc123def4"
    );
    *h.cloudtrail.state.organization_id.lock().unwrap() = None;
    let err =
        h.rt.block_on(organization_id(&ctx))
            .unwrap_err()
            .to_string();
    assert!(err.contains("AWSOrganizationsNotInUseException"), "{err}");
}

/// Waits until `f` holds (or fails the test after 20 s).
fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn prefetch_keeps_requests_in_flight_in_order_and_frees_what_is_not_read() {
    use trailproof::Intent;
    let trail = TrailBuilder::new().hours(HOURS).logs_per_hour(4).build();
    let h = Harness::start(100);
    let ctx = h.context(&test_options());
    h.upload(&ctx, &trail);
    let bucket = trail.bucket();
    let store = Arc::new(h.store(&ctx).concurrency(3));
    let logs: Vec<String> = trail
        .digests_in(trail.home_region())
        .iter()
        .flat_map(|d| d.log_keys.clone())
        .collect();
    assert!(logs.len() >= 16);
    let gets = |keys: &[String]| -> usize {
        keys.iter()
            .map(|k| h.s3.faults.count(&get_name(bucket, k)))
            .sum()
    };
    let body = |key: &str| trail.archive.get(bucket, key).unwrap().body.clone();

    // Three requests at a time, the first ones first; the first is held back by the server.
    let gate = Arc::new(tokio::sync::Notify::new());
    h.s3.faults.add(
        &get_name(bucket, &logs[0]),
        Fault::Stall(gate.clone()),
        Some(1),
    );
    let first: Vec<(&str, &str)> = logs[..8].iter().map(|k| (bucket, k.as_str())).collect();
    let guard = store.prefetch(&first, Intent::Open);
    eventually("three requests started", || gets(&logs[..8]) == 3);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(gets(&logs[..8]), 3, "no more than --concurrency in flight");
    assert_eq!(gets(&logs[..3]), 3, "in the order announced");
    gate.notify_one();
    for key in &logs[..8] {
        let mut bytes = Vec::new();
        store
            .open(bucket, key)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes, body(key));
    }
    drop(guard);
    assert_eq!(gets(&logs[..8]), 8, "each object requested once");

    // Announced but never read: dropping the guard frees their places for the next ones.
    let unread: Vec<(&str, &str)> = logs[8..12].iter().map(|k| (bucket, k.as_str())).collect();
    let guard = store.prefetch(&unread, Intent::Open);
    eventually("three of them fetched", || gets(&logs[8..12]) == 3);
    std::thread::sleep(Duration::from_millis(100));
    drop(guard);
    let next: Vec<(&str, &str)> = logs[12..16].iter().map(|k| (bucket, k.as_str())).collect();
    let guard = store.prefetch(&next, Intent::Open);
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = {
        let store = store.clone();
        let bucket = bucket.to_owned();
        let keys = logs[12..16].to_vec();
        std::thread::spawn(move || {
            for key in keys {
                let mut bytes = Vec::new();
                store
                    .open(&bucket, &key)
                    .unwrap()
                    .read_to_end(&mut bytes)
                    .unwrap();
                tx.send((key, bytes)).unwrap();
            }
        })
    };
    for _ in 12..16 {
        let (key, bytes) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("places held by unread objects were freed");
        assert_eq!(bytes, body(&key));
    }
    reader.join().unwrap();
    drop(guard);
    // An object dropped from the prefetch is read directly when asked for after all.
    let mut bytes = Vec::new();
    store
        .open(bucket, &logs[8])
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes, body(&logs[8]));

    // Digests: fetched whole with their metadata, the limit enforced.
    let digests: Vec<String> = trail
        .digests_in(trail.home_region())
        .iter()
        .map(|d| d.key.clone())
        .collect();
    let announced: Vec<(&str, &str)> = digests.iter().map(|k| (bucket, k.as_str())).collect();
    let guard = store.prefetch(&announced, Intent::Get { limit: 1 << 20 });
    for key in &digests {
        let got = store.get(bucket, key, 1 << 20).unwrap();
        let want = trail.archive.get(bucket, key).unwrap();
        assert_eq!(
            (&got.bytes, got.metadata.as_ref()),
            (&want.body, Some(&want.metadata))
        );
    }
    drop(guard);
    assert_eq!(gets(&digests), digests.len());
    let guard = store.prefetch(&announced[..1], Intent::Get { limit: 10 });
    assert!(matches!(
        store.get(bucket, &digests[0], 10),
        Err(StoreError::TooLarge { limit: 10, .. })
    ));
    drop(guard);
    // A body too large to be read with its request is streamed after it.
    let big: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 253) as u8).collect();
    h.rt.block_on(async {
        ctx.s3_client(REGION)
            .put_object()
            .bucket(bucket)
            .key("big")
            .body(big.clone().into())
            .send()
            .await
            .unwrap();
    });
    let guard = store.prefetch(&[(bucket, "big")], Intent::Open);
    let mut bytes = Vec::new();
    store
        .open(bucket, "big")
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    assert_eq!(bytes, big);
    drop(guard);
    // A missing object announced is reported as missing.
    let guard = store.prefetch(&[(bucket, "AWSLogs/nope")], Intent::Open);
    assert!(matches!(
        store.open(bucket, "AWSLogs/nope"),
        Err(StoreError::NotFound { .. })
    ));
    drop(guard);
}

#[test]
fn cloudtrail_keys_past_the_cached_ranges_keep_every_warning() {
    let trail = TrailBuilder::new().hours(2).build();
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    // A second entry whose fingerprint is not its key's MD5: left out, with a warning.
    {
        let mut keys = h.cloudtrail.state.keys.lock().unwrap();
        let mut bad = keys[0].clone();
        bad["Fingerprint"] = serde_json::json!("00000000000000000000000000000000");
        keys.push(bad);
    }
    let ctx = h.context(&test_options());
    let keys = CloudTrailKeys::new(&ctx, h.rt.handle().clone()).unwrap();
    // As a watch asks: one new range per digest, from the head to the digest; more ranges
    // than the cache keeps.
    let start = trail.start();
    let ranges = 200;
    for i in 0..ranges {
        let end = start + chrono::Duration::hours(i + 1);
        assert!(!keys.public_keys(REGION, start, end).unwrap().is_empty());
    }
    assert_eq!(
        h.cloudtrail.state.calls_to("ListPublicKeys").len(),
        ranges as usize
    );
    // The newest range is still cached.
    keys.public_keys(REGION, start, start + chrono::Duration::hours(ranges))
        .unwrap();
    assert_eq!(
        h.cloudtrail.state.calls_to("ListPublicKeys").len(),
        ranges as usize
    );
    // The warning of every range, those let go included, once.
    let warnings = keys.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("does not match its key"),
        "{warnings:?}"
    );
}
