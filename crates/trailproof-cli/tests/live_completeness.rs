//! Completeness in live mode, against the local S3 server and CloudTrail endpoint: CloudTrail's
//! `GetTrailStatus` proves a deletion at the newest edge, and log files added to the bucket are
//! found by listing the log folders of the covered hours.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use chrono::Duration;
use serde_json::json;
use trailproof_testkit::{fmt_time, Trail, TrailBuilder};
use trailproof_testserver::{test_options, Harness, REGION};

fn run(h: &Harness, trail: &Trail, hours: i64) -> (Output, String, String) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    cmd.args([
        "validate",
        "--trail-arn",
        &trail.trail_arn(),
        "--start-time",
        &fmt_time(trail.start()),
        "--end-time",
        &fmt_time(trail.start() + Duration::hours(hours)),
        "--region",
        REGION,
        "--no-progress",
    ]);
    h.point_at(&mut cmd, home.path());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

fn start(trail: &Trail) -> Harness {
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(trail);
    h
}

#[test]
fn get_trail_status_proves_that_the_newest_digests_were_deleted() {
    let mut trail = TrailBuilder::new().bucket("tpb").hours(12).build();
    let digests: Vec<_> = trail.digests_in("us-east-1").into_iter().cloned().collect();
    let h = start(&trail);
    // The intruder deletes the newest four digests (their log files stay).
    for d in &digests[8..] {
        trail.archive.delete(&d.bucket, &d.key);
    }
    h.upload(&h.context(&test_options()), &trail);
    // Without GetTrailStatus's word, the cut is still a finding (from the signed data alone).
    let (out, stdout, stderr) = run(&h, &trail, 12);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("TAIL MISSING"), "{stderr}");
    assert!(!stderr.contains("GetTrailStatus reports"), "{stderr}");
    assert_eq!(h.cloudtrail.state.calls_to("GetTrailStatus").len(), 1);
    // CloudTrail says it delivered the newest digest: proof of the deletion.
    let delivered = digests[11].end + Duration::minutes(12);
    *h.cloudtrail.state.trail_status.lock().unwrap() = json!({
        "IsLogging": true,
        "LatestDigestDeliveryTime": delivered.timestamp() as f64,
        "LatestDeliveryTime": delivered.timestamp() as f64,
    });
    let (out, stdout, stderr) = run(&h, &trail, 12);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("TAIL MISSING"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains(&format!(
            "GetTrailStatus reports a digest file delivered at {}: digest files were deleted",
            fmt_time(delivered)
        )),
        "{line}"
    );
    assert!(line.contains(&digests[7].key), "{line}");
    // The complete trail with the same status is valid.
    let whole = TrailBuilder::new().bucket("tpb").hours(12).build();
    let h2 = start(&whole);
    h2.upload(&h2.context(&test_options()), &whole);
    *h2.cloudtrail.state.trail_status.lock().unwrap() = json!({
        "IsLogging": true,
        "LatestDigestDeliveryTime": delivered.timestamp() as f64,
    });
    let (out, stdout, stderr) = run(&h2, &whole, 12);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
}

#[test]
fn a_log_file_added_to_the_bucket_is_unreferenced_in_live_mode_too() {
    let mut trail = TrailBuilder::new()
        .bucket("tpb")
        .hours(6)
        .logs_per_hour(3)
        .build();
    let h = start(&trail);
    // A copy of a genuine log file under a new name, in the middle of hour 2.
    let d = &trail.digests_in("us-east-1")[2];
    let original = d.log_keys[0].clone();
    let body = trail.archive.get("tpb", &original).unwrap().clone();
    let at = d.start + Duration::minutes(20);
    let injected = format!(
        "AWSLogs/111122223333/CloudTrail/us-east-1/{}/111122223333_CloudTrail_us-east-1_{}_Injected00000000.json.gz",
        at.format("%Y/%m/%d"),
        at.format("%Y%m%dT%H%MZ")
    );
    trail
        .archive
        .objects
        .insert(("tpb".to_owned(), injected.clone()), body);
    h.upload(&h.context(&test_options()), &trail);
    let (out, stdout, stderr) = run(&h, &trail, 6);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "Log file\ts3://tpb/{injected}\tUNREFERENCED: no valid digest file lists this log file"
        )),
        "{stderr}"
    );
    assert!(stdout.contains("1 log files in the bucket that no valid digest file lists"));
    // One LIST request per day folder of the covered hours (a page holds 1,000 keys), beside
    // the digest listing.
    let lists =
        h.s3.faults
            .requests()
            .iter()
            .filter(|r| r.starts_with("LIST "))
            .count();
    assert!(lists <= 4, "{lists} LIST requests");
}
