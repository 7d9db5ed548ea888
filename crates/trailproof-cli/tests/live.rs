//! Live mode end to end, against a real S3-compatible server and a CloudTrail endpoint on
//! 127.0.0.1: for every testkit scenario, `trailproof validate` (live), and `trailproof mirror`
//! followed by `trailproof validate --archive` on the copy, print what the real
//! `aws cloudtrail validate-logs` prints on the same server.
//!
//! Runs the pinned AWS CLI 1.46.3 from its own virtual environment (`tools/test` installs it; see
//! `trailproof_testkit::prereq`), never another `aws` on PATH; without it the test fails, naming
//! the command that installs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use trailproof_testkit::scenarios::{self, Scenario};
use trailproof_testserver::{test_options, Harness, REGION};

/// Short: the local server names files after bucket and key, and file names have a limit.
const BUCKET: &str = "tpb";

fn args_with_region(s: &Scenario) -> Vec<String> {
    let mut args = s.args.clone();
    if !args.iter().any(|a| a == "--region") {
        args.extend(["--region".to_owned(), REGION.to_owned()]);
    }
    args
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The AWS CLI's output `a` and trailproof's `b` agree: the same lines, streams and status, once
/// trailproof's line naming the public keys (which the CLI has not) is set apart; that line must
/// be there whenever a digest verified.
fn same(a: &Output, b: &Output) -> bool {
    let (rest, keys) = trailproof_testkit::split_keys_line(&String::from_utf8_lossy(&b.stdout));
    let keys_lines = keys.len();
    let verified = !String::from_utf8_lossy(&a.stdout).contains("No digests found")
        && String::from_utf8_lossy(&a.stdout).contains(" digest files valid")
        && !String::from_utf8_lossy(&a.stdout).contains("\n0/");
    (keys_lines == 1 || !verified)
        && (&a.stdout[..], &a.stderr, a.status.code())
            == (rest.as_bytes(), &b.stderr, b.status.code())
}

#[test]
fn live_and_mirrored_runs_print_what_the_aws_cli_prints() {
    let aws = trailproof_testkit::prereq::aws_command();
    let mut failures = Vec::new();
    // A short trail name too: the server's file names must stay under 255 bytes.
    let all = scenarios::all_from(
        &trailproof_testkit::TrailBuilder::new()
            .bucket(BUCKET)
            .trail_name("t"),
    );
    assert!(all.len() >= 20);
    for s in &all {
        // Fresh servers per scenario; all keys on one page (the CLI reads only the first).
        let h = Harness::start(100);
        h.cloudtrail.serve_trail(&s.trail);
        h.upload_archive(&h.context(&test_options()), &s.archive);
        let home = tempfile::tempdir().unwrap();
        let args = args_with_region(s);

        let mut cli = Command::new(&aws);
        cli.args(["cloudtrail", "validate-logs"]).args(&args);
        h.point_at(&mut cli, home.path());
        let expected = cli.output().unwrap();

        let mut live = Command::new(env!("CARGO_BIN_EXE_trailproof"));
        live.arg("validate")
            .args(&args)
            .args(["--concurrency", "8"]);
        h.point_at(&mut live, home.path());
        let live = live.output().unwrap();

        let copy = home.path().join("mirror");
        let mut mirror = Command::new(env!("CARGO_BIN_EXE_trailproof"));
        mirror.arg("mirror").args(&args).arg("--output").arg(&copy);
        h.point_at(&mut mirror, home.path());
        let mirrored = mirror.output().unwrap();
        // The mirror keeps the keys it verified with; the trust anchor is a copy kept apart.
        let keys = home.path().join("keys.json");
        std::fs::copy(copy.join("public-keys.json"), &keys).unwrap();
        let mut offline = Command::new(env!("CARGO_BIN_EXE_trailproof"));
        offline
            .arg("validate")
            .args(&args)
            .arg("--archive")
            .arg(&copy)
            .arg("--public-keys")
            .arg(&keys);
        let offline = offline.output().unwrap();

        // Live, trailproof checks what the AWS CLI checks; only the stricter gzip rules and the
        // MISSING count may add findings.
        let stricter = s.difference == "stricter";
        for (how, got) in [
            ("live", &live),
            ("mirror", &mirrored),
            ("mirror + --archive", &offline),
        ] {
            let ok = if stricter {
                expected.status.code() != Some(1) || got.status.code() == Some(1)
            } else {
                same(&expected, got)
            };
            if !ok {
                failures.push(format!(
                    "{} ({how}):\n=== aws cli\n{}=== trailproof\n{}",
                    s.name,
                    show(&expected),
                    show(got)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
