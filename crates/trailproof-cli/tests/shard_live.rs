//! Sharded runs in live mode, against a real S3-compatible server and a CloudTrail endpoint on
//! 127.0.0.1: shards read the trail from S3 and write their parts to S3 (or a local folder), the
//! merge reads them back from an S3 prefix and prints what the single run prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use trailproof_testkit::{fmt_time, TrailBuilder};
use trailproof_testserver::{test_options, Harness, REGION};

const BUCKET: &str = "tpb";

/// The job id of the AWS Batch array the shards pretend to be children of.
const BATCH_ARRAY: &str = "6f1c-array";

fn trailproof(h: &Harness, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    h.point_at(&mut cmd, home);
    for var in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_JOB_ID",
        "AWS_BATCH_JOB_ARRAY_INDEX",
        "AWS_BATCH_JOB_ID",
        "JOB_COMPLETION_INDEX",
        "TRAILPROOF_RUN_ID",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied())
        .args(args)
        .args(["--region", REGION])
        .output()
        .unwrap()
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn live_shards_with_parts_in_s3_merge_to_the_single_run() {
    let member = |account: &str, seed: u64| {
        TrailBuilder::new()
            .bucket(BUCKET)
            .trail_name("t")
            .organization("o-abc123")
            .account(account)
            .regions(&["us-east-1", "eu-west-1"])
            .hours(6)
            .logs_per_hour(2)
            .seed(seed)
            .build()
    };
    let a = member("111111111111", 11);
    let b = member("222222222222", 22);
    let mut archive = a.archive.clone();
    archive.merge(b.archive.clone());
    // Tampering inside a window, and a digest deleted at a window boundary (hourly windows).
    archive.modify_log(BUCKET, &b.digests_in("eu-west-1")[2].log_keys[0]);
    archive.delete(BUCKET, &a.digests_in("us-east-1")[3].key.clone());

    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&a);
    h.upload_archive(&h.context(&test_options()), &archive);
    let home = tempfile::tempdir().unwrap();
    let (start, end) = (
        fmt_time(a.start()),
        fmt_time(a.start() + chrono::Duration::hours(6)),
    );
    let arn = a.trail_arn();
    let base = [
        "validate",
        "--trail-arn",
        &arn,
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--all-accounts",
        "--all-regions",
        "--no-progress",
    ];
    for format in ["text", "json"] {
        let single: Vec<&str> = base.iter().copied().chain(["--format", format]).collect();
        let want = trailproof(&h, home.path(), &single, &[]);
        assert_eq!(want.status.code(), Some(1), "{}", show(&want));

        // Three shards on AWS Batch (`--shard auto`), parts in S3.
        let prefix = format!("s3://{BUCKET}/parts/{format}/");
        let partial = format!("{prefix}part-{{index}}.json");
        for index in 0..3 {
            let args: Vec<&str> = base
                .iter()
                .copied()
                .chain([
                    "--shard",
                    "auto",
                    "--shard-window",
                    "1h",
                    "--partial",
                    &partial,
                    "--format",
                    "json",
                ])
                .collect();
            let i = index.to_string();
            // A child of an AWS Batch array job: its run id is the array's job id.
            let job = format!("{BATCH_ARRAY}:{index}");
            let out = trailproof(
                &h,
                home.path(),
                &args,
                &[
                    ("AWS_BATCH_JOB_ARRAY_INDEX", i.as_str()),
                    ("AWS_BATCH_JOB_ARRAY_SIZE", "3"),
                    ("AWS_BATCH_JOB_ID", job.as_str()),
                ],
            );
            assert_eq!(out.status.code(), Some(0), "{}", show(&out));
            assert!(
                String::from_utf8_lossy(&out.stderr)
                    .contains(&format!("shard {}/3 of run {BATCH_ARRAY}:", index + 1)),
                "{}",
                show(&out)
            );
        }
        let got = trailproof(
            &h,
            home.path(),
            &[
                "merge",
                "--run-id",
                BATCH_ARRAY,
                &prefix,
                "--format",
                format,
            ],
            &[],
        );
        assert_eq!(
            (&want.stdout, &want.stderr, want.status.code()),
            (&got.stdout, &got.stderr, got.status.code()),
            "single:\n{}\nmerged:\n{}",
            show(&want),
            show(&got)
        );
    }

    // Parts read from S3 are held to --max-part-size as files are.
    let out = trailproof(
        &h,
        home.path(),
        &[
            "merge",
            "--run-id",
            BATCH_ARRAY,
            "--max-part-size",
            "1024",
            &format!("s3://{BUCKET}/parts/json/"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "trailproof: error: partial report s3://{BUCKET}/parts/json/part-1.json: larger than the limit of 1024 bytes (--max-part-size)\n"
        )
    );

    // Live shards may also write to a shared folder.
    let dir = tempfile::tempdir().unwrap();
    let pattern = dir.path().join("p-{index}.json").display().to_string();
    let mut parts = Vec::new();
    for m in 1..=2 {
        let shard = format!("{m}/2");
        let args: Vec<&str> = base
            .iter()
            .copied()
            .chain([
                "--shard",
                &shard,
                "--partial",
                &pattern,
                "--run-id",
                "folder-run",
            ])
            .collect();
        let out = trailproof(&h, home.path(), &args, &[]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        parts.push(dir.path().join(format!("p-{m}.json")).display().to_string());
    }
    let want = trailproof(&h, home.path(), &base, &[]);
    let mut merge = vec!["merge", "--run-id", "folder-run"];
    merge.extend(parts.iter().map(String::as_str));
    let got = trailproof(&h, home.path(), &merge, &[]);
    assert_eq!(
        (&want.stdout, &want.stderr, want.status.code()),
        (&got.stdout, &got.stderr, got.status.code()),
        "single:\n{}\nmerged:\n{}",
        show(&want),
        show(&got)
    );
    // An empty prefix holds no parts: an error, not an empty report.
    let out = trailproof(
        &h,
        home.path(),
        &["merge", &format!("s3://{BUCKET}/nothing/")],
        &[("TRAILPROOF_RUN_ID", BATCH_ARRAY)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no partial reports found"));
}
