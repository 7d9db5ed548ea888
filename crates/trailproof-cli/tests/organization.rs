//! A whole organisation in one run, and scheduled incremental checks, end to end against a real
//! S3-compatible server and a CloudTrail endpoint on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use trailproof_testkit::{fmt_time, Archive, Trail, TrailBuilder};
use trailproof_testserver::{test_options, Harness, REGION};

const BUCKET: &str = "tpb";

fn trailproof(h: &Harness, home: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    h.point_at(&mut cmd, home);
    cmd.args(args)
        .args(["--region", REGION, "--no-progress"])
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn org_member(account: &str) -> Trail {
    TrailBuilder::new()
        .bucket(BUCKET)
        .trail_name("t")
        .organization("o-abc123")
        .account(account)
        .regions(&["us-east-1", "eu-west-1"])
        .hours(4)
        .logs_per_hour(2)
        .seed(account.bytes().map(u64::from).sum())
        .build()
}

#[test]
fn one_run_validates_every_account_and_region_of_an_organisation_trail() {
    let a = org_member("111111111111");
    let b = org_member("222222222222");
    let mut archive = a.archive.clone();
    archive.merge(b.archive.clone());
    let tampered_log = b.digests_in("eu-west-1")[2].log_keys[0].clone();
    archive.modify_log(BUCKET, &tampered_log);

    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&a);
    h.upload_archive(&h.context(&test_options()), &archive);
    let home = tempfile::tempdir().unwrap();
    let (start, end) = (
        fmt_time(a.start()),
        fmt_time(a.start() + chrono::Duration::hours(4)),
    );
    let base = [
        "validate",
        "--trail-arn",
        &a.trail_arn(),
        "--start-time",
        &start,
        "--end-time",
        &end,
    ];

    let all: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--all-accounts", "--all-regions"])
        .collect();
    let out = trailproof(&h, home.path(), &all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout.contains("Chains (4):"), "{}", text(&out));
    for (account, region, verdict) in [
        ("111111111111", "eu-west-1", "[valid]"),
        ("111111111111", "us-east-1", "[valid]"),
        ("222222222222", "eu-west-1", "[invalid]"),
        ("222222222222", "us-east-1", "[valid]"),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("  o-abc123/{account} {region}:")))
            .unwrap_or_else(|| panic!("no line for {account} {region}\n{}", text(&out)));
        assert!(line.ends_with(verdict), "{line}");
    }
    assert!(
        stdout.contains("16/16 digest files valid"),
        "{}",
        text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&tampered_log));

    // The JSON report carries the same per chain.
    let json: Vec<&str> = all.iter().copied().chain(["--format", "json"]).collect();
    let out = trailproof(&h, home.path(), &json);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["exit_code"], 1);
    let chains = doc["chains"].as_array().unwrap();
    assert_eq!(chains.len(), 4);
    let bad: Vec<_> = chains.iter().filter(|c| c["verdict"] != "valid").collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["chain"]["account_id"], "222222222222");
    assert_eq!(bad[0]["chain"]["source_region"], "eu-west-1");

    // --accounts / --regions narrow it.
    let narrow: Vec<&str> = base
        .iter()
        .copied()
        .chain(["--accounts", "111111111111", "--regions", "eu-west-1"])
        .collect();
    let out = trailproof(&h, home.path(), &narrow);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Chains (1):"),
        "{}",
        text(&out)
    );
}

/// The objects of hours before `hours` (digests ending by then, and their log files).
fn first_hours(trail: &Trail, hours: usize) -> Archive {
    let mut archive = trail.archive.clone();
    for d in &trail.digests_in(REGION)[hours..] {
        archive.objects.remove(&(BUCKET.to_owned(), d.key.clone()));
        for log in &d.log_keys {
            archive.objects.remove(&(BUCKET.to_owned(), log.clone()));
        }
    }
    archive
}

fn digest_gets(h: &Harness) -> Vec<String> {
    h.s3.faults
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET ") && r.contains("CloudTrail-Digest"))
        .collect()
}

#[test]
fn scheduled_runs_check_only_new_digests_and_prove_the_link_to_the_head() {
    let trail = TrailBuilder::new()
        .bucket(BUCKET)
        .trail_name("t")
        .hours(6)
        .logs_per_hour(2)
        .build();
    let digests = trail.digests_in(REGION);
    // The runs happen as the hours arrive: each run's range ends where delivery is (a range
    // ending past the newest delivered digest is a missing tail).
    let end = std::cell::RefCell::new(fmt_time(trail.start() + chrono::Duration::hours(4)));
    let start = fmt_time(trail.start());
    let arn = trail.trail_arn();

    let run = |h: &Harness, home: &Path, state: Option<&Path>| {
        let end = end.borrow().clone();
        let mut args = vec![
            "validate",
            "--trail-arn",
            &arn,
            "--start-time",
            &start,
            "--end-time",
            &end,
        ];
        let state_arg;
        if let Some(s) = state {
            state_arg = s.display().to_string();
            args.extend(["--state", &state_arg]);
        }
        trailproof(h, home, &args)
    };

    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    let ctx = h.context(&test_options());
    h.upload_archive(&ctx, &first_hours(&trail, 4));
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.json");

    // First scheduled run: four hours, all valid; the head is the fourth digest.
    let out = run(&h, home.path(), Some(&state));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(saved["kind"], "trailproof-state");
    let heads = saved["chains"].as_object().unwrap();
    assert_eq!(heads.len(), 1);
    assert_eq!(
        heads.values().next().unwrap()["key"],
        digests[3].key.as_str()
    );

    // Nothing new: fast, and says so.
    let out = run(&h, home.path(), Some(&state));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("No new digests since"),
        "{}",
        text(&out)
    );

    // An old, already checked digest is tampered with; two new hours arrive.
    let mut archive = trail.archive.clone();
    archive.edit_digest_json(BUCKET, &digests[1].key, |v| {
        v["logFiles"] = serde_json::json!([])
    });
    h.upload_archive(&ctx, &archive);
    *end.borrow_mut() = fmt_time(trail.start() + chrono::Duration::hours(6));
    let before = digest_gets(&h).len();
    let out = run(&h, home.path(), Some(&state));
    assert_eq!(
        out.status.code(),
        Some(0),
        "the link to the head holds\n{}",
        text(&out)
    );
    let fetched: Vec<String> = digest_gets(&h)[before..].to_vec();
    // The head (checked to be still what was proven) and the new digests: nothing older.
    let mut expected: Vec<String> = digests[3..]
        .iter()
        .map(|d| trailproof_testserver::get_name(BUCKET, &d.key))
        .collect();
    expected.sort();
    let mut fetched_sorted = fetched.clone();
    fetched_sorted.sort();
    assert_eq!(
        fetched_sorted, expected,
        "only the head and the new digests are read"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2/2 digest files valid"),
        "{}",
        text(&out)
    );

    // A full run (no state) finds the tampering.
    let out = run(&h, home.path(), None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&digests[1].key),
        "{}",
        text(&out)
    );
}

#[test]
fn deleting_the_digest_right_after_the_head_is_found_by_the_incremental_run() {
    let trail = TrailBuilder::new()
        .bucket(BUCKET)
        .trail_name("t")
        .hours(6)
        .logs_per_hour(1)
        .build();
    let digests = trail.digests_in(REGION);
    let (start, end) = (
        fmt_time(trail.start()),
        fmt_time(trail.start() + chrono::Duration::hours(6)),
    );
    let arn = trail.trail_arn();
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    let ctx = h.context(&test_options());
    h.upload_archive(&ctx, &first_hours(&trail, 3));
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.json").display().to_string();
    // The first run, when three hours were delivered.
    let three = fmt_time(trail.start() + chrono::Duration::hours(3));
    let args = [
        "validate",
        "--trail-arn",
        &arn,
        "--start-time",
        &start,
        "--end-time",
        &three,
        "--state",
        &state,
    ];
    assert_eq!(trailproof(&h, home.path(), &args).status.code(), Some(0));
    let args = [
        "validate",
        "--trail-arn",
        &arn,
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--state",
        &state,
    ];

    let mut rest = trail.archive.clone();
    rest.delete(BUCKET, &digests[3].key);
    h.upload_archive(&ctx, &rest);
    let out = trailproof(&h, home.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}\tINVALID: not found", digests[3].key)),
        "{}",
        text(&out)
    );
    // The head does not move past a failed run.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(
        saved["chains"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()["key"],
        digests[2].key.as_str()
    );
}

#[test]
fn a_corrupt_or_foreign_state_file_is_an_error() {
    let trail = TrailBuilder::new()
        .bucket(BUCKET)
        .trail_name("t")
        .hours(2)
        .build();
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    h.upload_archive(&h.context(&test_options()), &trail.archive);
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("state.json");
    let arn = trail.trail_arn();
    let start = fmt_time(trail.start());
    for content in [
        "{oops",
        r#"{"kind":"trailproof-state","version":1,"trail_arn":"arn:aws:cloudtrail:us-east-1:999999999999:trail/x","chains":{}}"#,
    ] {
        std::fs::write(&state, content).unwrap();
        let state_arg = state.display().to_string();
        let out = trailproof(
            &h,
            home.path(),
            &[
                "validate",
                "--trail-arn",
                &arn,
                "--start-time",
                &start,
                "--state",
                &state_arg,
            ],
        );
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("state file"),
            "{}",
            text(&out)
        );
        assert_eq!(
            std::fs::read_to_string(&state).unwrap(),
            content,
            "left as it was"
        );
    }
}
