//! The real AWS CLI (`aws cloudtrail validate-logs`) against the test servers: proves the
//! harness speaks S3 and CloudTrail well enough for the reference implementation, and that its
//! verdicts match ours. Runs the pinned AWS CLI 1.46.3 from its own virtual environment
//! (`tools/test` installs it; see `trailproof_testkit::prereq`); without it the test fails,
//! naming the command that installs it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trailproof::Summary;
use trailproof_testkit::{Trail, TrailBuilder};
use trailproof_testserver::*;

const HOURS: u32 = 4;

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Runs `aws cloudtrail validate-logs` for `trail` against fresh servers.
fn run_cli(aws: &PathBuf, trail: &Trail) -> Run {
    // The CLI reads only the first ListPublicKeys page: serve them all on one.
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(trail);
    h.upload(&h.context(&test_options()), trail);

    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("config");
    std::fs::write(&config, "[default]\ns3 =\n    addressing_style = path\n").unwrap();
    let end = trail.start() + chrono::Duration::hours(i64::from(HOURS));
    let mut command = Command::new(aws);
    command
        .args([
            "cloudtrail",
            "validate-logs",
            "--region",
            REGION,
            "--trail-arn",
        ])
        .arg(trail.trail_arn())
        .arg("--start-time")
        .arg(trailproof_testkit::fmt_time(trail.start()))
        .arg("--end-time")
        .arg(trailproof_testkit::fmt_time(end))
        .env("AWS_CONFIG_FILE", &config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_ENDPOINT_URL_S3", &h.s3.url)
        .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &h.cloudtrail.url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for var in trailproof_testserver::AMBIENT_AWS_VARS {
        command.env_remove(var);
    }
    let mut child = command.spawn().expect("aws starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("aws cloudtrail validate-logs did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let run = Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    // What the CLI asked for: the calls the harness must support.
    let requests = h.s3.faults.requests();
    let context = format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        run.status, run.stdout, run.stderr
    );
    assert!(
        requests.iter().any(|r| r.starts_with("LISTV1 ")),
        "{requests:?}\n{context}"
    );
    assert!(
        requests.iter().any(|r| r.starts_with("LOCATION ")),
        "{requests:?}\n{context}"
    );
    assert!(
        !h.cloudtrail.state.calls_to("DescribeTrails").is_empty(),
        "{context}"
    );
    assert!(
        !h.cloudtrail.state.calls_to("ListPublicKeys").is_empty(),
        "{context}"
    );
    run
}

fn summary_lines(s: &Summary) -> (String, String) {
    let line = |c: trailproof::Counts, what: &str| {
        let t = c.total();
        let mut l = format!("{}/{t} {what} files valid", c.valid);
        if c.invalid > 0 {
            l.push_str(&format!(", {}/{t} {what} files INVALID", c.invalid));
        }
        l
    };
    (line(s.digests, "digest"), line(s.log_files, "log"))
}

#[test]
fn aws_cli_validates_what_the_test_servers_serve() {
    let aws = trailproof_testkit::prereq::aws_command();
    let clean = TrailBuilder::new().hours(HOURS).build();
    let bucket = clean.bucket().to_owned();
    let digests = clean.digests_in(clean.home_region());
    let log = digests[1].log_keys[0].clone();
    let mut tampered = clean.clone();
    tampered.archive.modify_log(&bucket, &log);

    for (name, trail, status) in [("clean", &clean, 0), ("tampered", &tampered, 1)] {
        let run = run_cli(&aws, trail);
        let expected = validate_in_memory(trail, i64::from(HOURS)).summary();
        let (digest_line, log_line) = summary_lines(&expected);
        let context = format!(
            "{name}: status {}\nstdout:\n{}\nstderr:\n{}",
            run.status, run.stdout, run.stderr
        );
        assert_eq!(run.status, status, "{context}");
        assert!(
            run.stdout.lines().any(|l| l == digest_line),
            "{digest_line:?} in {context}"
        );
        assert!(
            run.stdout.lines().any(|l| l == log_line),
            "{log_line:?} in {context}"
        );
        if status == 1 {
            let line = format!("Log file\ts3://{bucket}/{log}\tINVALID: hash value doesn't match");
            assert!(
                run.stderr.lines().any(|l| l == line),
                "{line:?} in {context}"
            );
        }
    }
}
