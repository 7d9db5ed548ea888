//! The lean `GetObject` path (`src/lean.rs`) against the SDK's own: log files and digests take
//! the lean path, a caller's HTTP client keeps the SDK, and both give the same objects, the same
//! retries and the same errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use trailproof::{Entry, LogOutcome, ObjectStore, Status, StoreError, Verdict};
use trailproof_aws::{AwsContext, CloudTrailKeys};
use trailproof_testkit::{Trail, TrailBuilder};
use trailproof_testserver::*;

const HOURS: u32 = 4;

/// A context whose S3 requests all go through the SDK (a caller's own HTTP client).
fn sdk_context(h: &Harness) -> AwsContext {
    h.context_with(&test_options(), |loader| {
        loader.http_client(aws_smithy_http_client::Builder::new().build_http())
    })
}

fn validate(h: &Harness, ctx: &AwsContext, trail: &Trail) -> trailproof::Report {
    let store = h.store(ctx);
    let keys = CloudTrailKeys::new(ctx, h.rt.handle().clone()).unwrap();
    trailproof::validate(
        &store,
        &keys,
        &chain(trail),
        &trail.trail_arn(),
        &options(trail, i64::from(HOURS)),
    )
    .unwrap()
}

fn is_lean(agent: &str) -> bool {
    agent.starts_with("trailproof/") && agent.contains("lean-get")
}

fn is_sdk(agent: &str) -> bool {
    agent.contains("aws-sdk-rust")
}

#[test]
fn log_files_and_digests_are_read_on_the_lean_path() {
    let trail = TrailBuilder::new().hours(HOURS).build();
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    let ctx = h.context(&test_options());
    h.upload(&ctx, &trail);
    let report = validate(&h, &ctx, &trail);
    assert_eq!(report.verdict(), Verdict::Valid, "{:?}", report.summary());
    assert_eq!(report, validate_in_memory(&trail, i64::from(HOURS)));

    let bucket = trail.bucket();
    let digests = trail.digests_in(trail.home_region());
    let mut gets = 0;
    for digest in &digests {
        for key in std::iter::once(&digest.key).chain(&digest.log_keys) {
            let agents = h.s3.faults.agents_of(&get_name(bucket, key));
            assert_eq!(agents.len(), 1, "{key}: one GET");
            assert!(is_lean(&agents[0]), "{key}: {agents:?}");
            gets += 1;
        }
    }
    assert!(gets > 2 * digests.len());
    // Listing and the region lookup stay with the SDK.
    let lists = h.s3.faults.agents_of(&format!("LIST /{bucket}"));
    assert!(
        !lists.is_empty() && lists.iter().all(|a| is_sdk(a)),
        "{lists:?}"
    );
}

#[test]
fn a_callers_http_client_keeps_the_sdk_path_with_the_same_retries() {
    let trail = TrailBuilder::new().hours(HOURS).build();
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    let ctx = sdk_context(&h);
    h.upload(&ctx, &trail);
    let bucket = trail.bucket();
    let digests = trail.digests_in(trail.home_region());
    let logs: Vec<&String> = digests.iter().flat_map(|d| &d.log_keys).collect();
    let faults = &h.s3.faults;
    faults.add(&get_name(bucket, logs[0]), Fault::SlowDown, Some(2));
    faults.add(&get_name(bucket, logs[1]), Fault::Reset, Some(1));
    faults.add(&get_name(bucket, logs[2]), Fault::Truncate, Some(1));
    faults.add(&get_name(bucket, logs[3]), Fault::Internal, None);
    let report = validate(&h, &ctx, &trail);
    assert_eq!(
        report.verdict(),
        Verdict::Incomplete,
        "{:?}",
        report.summary()
    );
    assert_eq!(report.summary().log_files.not_checked, 1);
    assert_eq!(report.summary().log_files.invalid, 0);
    assert_eq!(faults.count(&get_name(bucket, logs[0])), 3);
    assert_eq!(faults.count(&get_name(bucket, logs[1])), 2);
    assert_eq!(
        faults.count(&get_name(bucket, logs[2])),
        2,
        "cut, then resumed"
    );
    assert_eq!(faults.count(&get_name(bucket, logs[3])), 5, "max attempts");
    for key in [logs[0], logs[2], &digests[0].key] {
        let agents = faults.agents_of(&get_name(bucket, key));
        assert!(agents.iter().all(|a| is_sdk(a)), "{key}: {agents:?}");
    }
    let unreadable = report
        .entries
        .iter()
        .find_map(|e| match e {
            Entry::Log(l) if l.key == *logs[3] => Some(l),
            _ => None,
        })
        .unwrap();
    assert_eq!(unreadable.outcome.status(), Status::NotChecked);
    let LogOutcome::Unreadable { cause } = &unreadable.outcome else {
        panic!("{:?}", unreadable.outcome)
    };
    assert!(cause.contains("GetObject: InternalError"), "{cause}");
}

#[test]
fn both_paths_give_the_same_objects_and_errors() {
    let trail = TrailBuilder::new().hours(2).build();
    let h = Harness::start(100);
    let lean_ctx = h.context(&test_options());
    let sdk_ctx = sdk_context(&h);
    h.upload(&lean_ctx, &trail);
    let bucket = trail.bucket();
    let digest = &trail.digests_in(trail.home_region())[0];
    let log = &digest.log_keys[0];
    let failing = &digest.log_keys[1];
    h.s3.faults
        .add(&get_name(bucket, failing), Fault::Internal, None);
    let lean = h.store(&lean_ctx);
    let sdk = h.store(&sdk_ctx);

    let read = |store: &dyn ObjectStore, key: &str| -> Result<Vec<u8>, String> {
        let mut bytes = Vec::new();
        let mut reader = store.open(bucket, key).map_err(|e| e.to_string())?;
        reader.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
        Ok(bytes)
    };
    let want = trail.archive.get(bucket, log).unwrap().body.clone();
    assert_eq!(read(&lean, log).unwrap(), want);
    assert_eq!(read(&sdk, log).unwrap(), want);

    let got = |store: &dyn ObjectStore, b: &str, key: &str, limit: u64| {
        store.get(b, key, limit).map_err(|e| e.to_string())
    };
    let lean_digest = got(&lean, bucket, &digest.key, 1 << 20).unwrap();
    assert_eq!(
        lean_digest,
        got(&sdk, bucket, &digest.key, 1 << 20).unwrap()
    );
    let stored = trail.archive.get(bucket, &digest.key).unwrap();
    assert_eq!(lean_digest.bytes, stored.body);
    assert_eq!(lean_digest.metadata.as_ref(), Some(&stored.metadata));

    // Errors: missing key, missing bucket, too large, and a server error after every retry.
    for (b, key, limit) in [
        (bucket, "AWSLogs/nope", 100),
        ("no-such-bucket", "k", 100),
        (bucket, digest.key.as_str(), 10),
        (bucket, failing.as_str(), 1 << 20),
    ] {
        let (l, s) = (got(&lean, b, key, limit), got(&sdk, b, key, limit));
        assert!(l.is_err(), "{key}");
        assert_eq!(l, s, "{key}");
    }
    assert!(matches!(
        lean.open(bucket, "AWSLogs/nope"),
        Err(StoreError::NotFound { .. })
    ));
    let lean_err = read(&lean, failing).unwrap_err();
    assert!(
        lean_err.contains("GetObject: InternalError") && lean_err.contains("(HTTP 500)"),
        "{lean_err}"
    );
    assert_eq!(lean_err, read(&sdk, failing).unwrap_err());
    let agents = h.s3.faults.agents_of(&get_name(bucket, failing));
    assert_eq!(
        agents.len(),
        4 * 5,
        "5 attempts each, lean and SDK, get and open"
    );
    assert_eq!(agents.iter().filter(|a| is_lean(a)).count(), 10);
}

/// Every `GetObject` the run made, by object.
fn gets_by_object(h: &Harness, bucket: &str) -> std::collections::BTreeMap<String, usize> {
    let mut by_object = std::collections::BTreeMap::new();
    for name in h.s3.faults.requests() {
        if name.starts_with(&format!("GET /{bucket}/")) {
            *by_object.entry(name).or_insert(0) += 1;
        }
    }
    by_object
}

/// A server whose clock is an hour away from this host's (either way): the lean path learns the
/// offset from the first answer's `Date` and signs with it, so one request is refused
/// (`RequestTimeTooSkewed`) and retried, and every other one is signed right the first time.
/// Listing, on the SDK, corrects its own clock the same way.
#[test]
fn a_server_clock_an_hour_off_costs_one_retry() {
    for offset in [3600, -3600] {
        let trail = TrailBuilder::new().hours(HOURS).build();
        let h = Harness::start(100);
        h.cloudtrail.serve_trail(&trail);
        let ctx = h.context(&test_options());
        h.upload(&ctx, &trail);
        h.s3.faults.set_clock_offset(offset);
        let report = validate(&h, &ctx, &trail);
        assert_eq!(report.verdict(), Verdict::Valid, "{:?}", report.summary());
        assert_eq!(report, validate_in_memory(&trail, i64::from(HOURS)));

        let bucket = trail.bucket();
        let gets = gets_by_object(&h, bucket);
        let objects: usize = trail
            .digests_in(trail.home_region())
            .iter()
            .map(|d| 1 + d.log_keys.len())
            .sum();
        assert_eq!(gets.len(), objects, "offset {offset}");
        let requests: usize = gets.values().sum();
        assert_eq!(
            requests,
            objects + 1,
            "offset {offset}: only the first request is refused: {gets:?}"
        );
        let lists = h.s3.faults.agents_of(&format!("LIST /{bucket}"));
        assert!(lists.iter().all(|a| is_sdk(a)), "{lists:?}");
    }
}

/// Without the correction the same clock makes every read fail: the check is real.
#[test]
fn a_request_signed_an_hour_off_is_refused_by_the_test_server() {
    let trail = TrailBuilder::new().hours(1).build();
    let h = Harness::start(100);
    let ctx = sdk_context(&h);
    h.upload(&ctx, &trail);
    h.s3.faults.set_clock_offset(3600);
    let client = ctx.s3_client(REGION);
    let digest = &trail.digests_in(trail.home_region())[0];
    let refused = h.rt.block_on(async {
        client
            .get_object()
            .bucket(trail.bucket())
            .key(&digest.key)
            .customize()
            .config_override(
                aws_sdk_s3::config::Config::builder()
                    .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled()),
            )
            .send()
            .await
    });
    let e = format!("{:?}", refused.unwrap_err());
    assert!(e.contains("RequestTimeTooSkewed"), "{e}");
}

/// An endpoint that fails every request: the retry budget (500 tokens, 10 per retry of a server
/// error) allows 50 retries in all, then each object gets one attempt, and the error says why.
/// Successes put tokens back.
#[test]
fn the_retry_budget_bounds_the_traffic_to_a_failing_endpoint() {
    let trail = TrailBuilder::new().hours(1).build();
    let h = Harness::start(100);
    let ctx = h.context(&test_options());
    h.upload(&ctx, &trail);
    let store = h.store(&ctx);
    let bucket = trail.bucket();
    let digest = &trail.digests_in(trail.home_region())[0];
    // Learn the bucket's region and the server's clock first.
    store.get(bucket, &digest.key, 1 << 20).unwrap();
    let before = h.s3.faults.requests().len();
    h.s3.faults
        .add_prefix(&format!("GET /{bucket}/"), Fault::Internal, None);
    let objects = 120;
    let mut errors = Vec::new();
    for i in 0..objects {
        errors.push(
            store
                .get(bucket, &format!("AWSLogs/failing-{i}"), 1 << 20)
                .unwrap_err()
                .to_string(),
        );
    }
    let requests = h.s3.faults.requests().len() - before;
    assert_eq!(requests, objects + 50, "without a budget: {}", objects * 5);
    assert!(
        errors[0].contains("InternalError") && !errors[0].contains("budget"),
        "{}",
        errors[0]
    );
    assert_eq!(
        h.s3.faults.count(&get_name(bucket, "AWSLogs/failing-0")),
        5,
        "max attempts while the budget lasts"
    );
    let last = errors.last().unwrap();
    assert!(
        last.contains("InternalError") && last.contains("retry budget is spent"),
        "{last}"
    );
    assert_eq!(
        h.s3.faults.count(&get_name(
            bucket,
            &format!("AWSLogs/failing-{}", objects - 1)
        )),
        1
    );

    // Ten first-attempt successes earn one retry back.
    h.s3.faults.clear();
    for _ in 0..10 {
        store.get(bucket, &digest.key, 1 << 20).unwrap();
    }
    h.s3.faults
        .add(&get_name(bucket, "AWSLogs/again"), Fault::Internal, None);
    let e = store.get(bucket, "AWSLogs/again", 1 << 20).unwrap_err();
    assert_eq!(
        h.s3.faults.count(&get_name(bucket, "AWSLogs/again")),
        2,
        "{e}"
    );
}
