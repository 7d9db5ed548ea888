//! Fixtures for the Python package's tests (crates/trailproof-py/tests), from the same testkit
//! and the same local S3 + CloudTrail servers the Rust tests use:
//!
//! - `pyfixture write NAME DIR`: writes a trail archive to `DIR/archive` (other buckets beside
//!   it as `DIR/bucket-NAME`) and its keys to `DIR/public-keys.json`, and prints
//!   `{"args": [...]}`, the flags that validate it. NAME: `long` (many log files: a run of
//!   seconds) or `organization` (two accounts in two regions, one log file of one chain changed).
//!   NAME `lake` or `lake-tampered` writes saved CloudTrail Lake query results to `DIR/results`
//!   instead (one result file changed in the second), with the `verify-query-results` flags.
//! - `pyfixture serve NAME`: serves a testkit scenario (or `organization`) on 127.0.0.1 and
//!   prints one line, `{"env": {VAR: value or null}, "args": [...]}`: the environment that
//!   points an AWS client at the servers (null: unset it) and the flags of a live run. Serves
//!   until its standard input is closed. NAME `lake-long` serves saved Lake query results of
//!   many files (a check of seconds), their keys listed by the CloudTrail server, with the
//!   `verify-query-results` flags.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use trailproof_testkit::{fmt_time, scenarios, Archive, Trail, TrailBuilder};
use trailproof_testserver::{test_options, Harness, REGION};

/// Short: the local server names files after bucket and key, and file names have a limit.
const BUCKET: &str = "tpb";

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

/// A trail (for the servers' DescribeTrails), the archive holding it, and the flags.
fn fixture(name: &str) -> Option<(Trail, Archive, Vec<String>)> {
    let range = |t: &Trail, hours: i64| {
        vec![
            "--trail-arn".to_owned(),
            t.trail_arn(),
            "--start-time".to_owned(),
            fmt_time(t.start()),
            "--end-time".to_owned(),
            fmt_time(t.start() + chrono::Duration::hours(hours)),
        ]
    };
    match name {
        "long" => {
            let t = TrailBuilder::new()
                .bucket(BUCKET)
                .hours(24)
                .logs_per_hour(250)
                .records_per_log(40)
                .build();
            let args = range(&t, 24);
            Some((t.clone(), t.archive, args))
        }
        "organization" => {
            let (a, b) = (org_member("111111111111"), org_member("222222222222"));
            let mut archive = a.archive.clone();
            archive.merge(b.archive.clone());
            archive.modify_log(BUCKET, &b.digests_in("eu-west-1")[2].log_keys[0]);
            let mut args = range(&a, 4);
            args.extend(["--all-accounts".to_owned(), "--all-regions".to_owned()]);
            Some((a, archive, args))
        }
        _ => scenarios::all_from(&TrailBuilder::new().bucket(BUCKET).trail_name("t"))
            .into_iter()
            .find(|s| s.name == name)
            .map(|s| (s.trail, s.archive, s.args)),
    }
}

fn write(archive: &Archive, dir: &Path) -> std::io::Result<()> {
    for bucket in archive.buckets() {
        let target = if bucket == BUCKET {
            dir.join("archive")
        } else {
            dir.join(format!("bucket-{bucket}"))
        };
        std::fs::create_dir_all(&target)?;
        archive.write_bucket(&bucket, &target)?;
    }
    std::fs::write(dir.join("public-keys.json"), archive.public_keys_json())
}

fn write_lake(tampered: bool, dir: &Path) -> std::io::Result<()> {
    let mut results = trailproof_testkit::QueryResultsBuilder::new().build();
    if tampered {
        let name = results.file_names()[1].clone();
        results.modify_file(&name);
    }
    let folder = dir.join("results");
    std::fs::create_dir_all(&folder)?;
    results.write_folder(&folder)?;
    let keys = dir.join("public-keys.json");
    std::fs::write(&keys, results.public_keys_json())?;
    let args = [
        "--local-export-path".to_owned(),
        folder.display().to_string(),
        "--public-keys".to_owned(),
        keys.display().to_string(),
    ];
    println!("{}", json!({ "args": args }));
    Ok(())
}

/// Files of `serve lake-long`.
const LAKE_LONG_FILES: u32 = 1000;

fn serve_lake() {
    let results = trailproof_testkit::QueryResultsBuilder::new()
        .bucket(BUCKET)
        .files(LAKE_LONG_FILES)
        .build();
    let h = Harness::start(100);
    let keys: serde_json::Value = serde_json::from_str(&results.public_keys_json()).unwrap();
    h.cloudtrail.add_public_keys(&keys);
    h.upload_archive(&h.context(&test_options()), &results.archive);
    let args = vec![
        "--s3-bucket".to_owned(),
        results.bucket().to_owned(),
        "--s3-prefix".to_owned(),
        results.folder().to_owned(),
    ];
    announce(&h, args);
}

fn serve(trail: &Trail, archive: &Archive, args: Vec<String>) {
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(trail);
    h.upload_archive(&h.context(&test_options()), archive);
    announce(&h, args);
}

/// Prints the environment and flags of a run against `h`, then serves until standard input
/// closes.
fn announce(h: &Harness, mut args: Vec<String>) {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("trailproof");
    h.point_at(&mut cmd, home.path());
    let env: BTreeMap<String, Option<String>> = cmd
        .get_envs()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.map(|v| v.to_string_lossy().into_owned()),
            )
        })
        .collect();
    if !args.iter().any(|a| a == "--region") {
        args.extend(["--region".to_owned(), REGION.to_owned()]);
    }
    println!("{}", json!({"env": env, "args": args}));
    // Serves until the test closes the pipe (or dies, which closes it too).
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (command, name, dir) = match argv.as_slice() {
        ["write", name, dir] => ("write", *name, Some(Path::new(*dir))),
        ["serve", name] => ("serve", *name, None),
        _ => {
            eprintln!("usage: pyfixture write NAME DIR | pyfixture serve NAME");
            return ExitCode::from(2);
        }
    };
    if (command, name) == ("serve", "lake-long") {
        serve_lake();
        return ExitCode::SUCCESS;
    }
    if let (Some(dir), "lake" | "lake-tampered") = (dir, name) {
        return match write_lake(name == "lake-tampered", dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pyfixture: {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    let Some((trail, archive, args)) = fixture(name) else {
        eprintln!("pyfixture: no fixture {name}");
        return ExitCode::from(2);
    };
    match (command, dir) {
        ("write", Some(dir)) => {
            if let Err(e) = write(&archive, dir) {
                eprintln!("pyfixture: {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            println!("{}", json!({"args": args}));
        }
        _ => serve(&trail, &archive, args),
    }
    ExitCode::SUCCESS
}
