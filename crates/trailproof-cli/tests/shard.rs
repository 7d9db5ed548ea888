//! Sharded runs: the parts of a run cut into (chain, window) items and merged print exactly what
//! the single run prints (stdout, stderr, exit status; text and JSON), on every recorded
//! scenario of `testdata/` cut at every hour (each digest boundary is then a window boundary:
//! deleted digests, broken links, logging gaps and tampering all sit at or between boundaries),
//! and on an organization found by discovery. Merges refuse parts of other runs, missing and
//! duplicate shards, and malformed parts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use trailproof_testkit::{fmt_time, TrailBuilder};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A recorded scenario: its `validate --archive` flags.
struct Scenario {
    name: String,
    base: Vec<String>,
}

fn scenarios() -> Vec<Scenario> {
    let mut all: Vec<Scenario> = fs::read_dir(testdata())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("scenario.json").is_file())
        .map(|e| {
            let dir = e.path();
            let meta: serde_json::Value =
                serde_json::from_slice(&fs::read(dir.join("scenario.json")).unwrap()).unwrap();
            let mut base = vec![
                "--archive".to_owned(),
                dir.join("archive").display().to_string(),
                "--public-keys".to_owned(),
                dir.join("public-keys.json").display().to_string(),
            ];
            for entry in fs::read_dir(&dir).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(bucket) = name.strip_prefix("bucket-") {
                    base.push("--archive-bucket".into());
                    base.push(format!("{bucket}={}", entry.path().display()));
                }
            }
            base.extend(
                meta["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned()),
            );
            Scenario {
                name: e.file_name().to_string_lossy().into_owned(),
                base,
            }
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// The run id every shard and merge of these tests shares (as an array job's id would be).
const RUN: &str = "test-run";

fn trailproof(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(args)
        .arg("--no-progress")
        .env("TRAILPROOF_RUN_ID", RUN)
        .output()
        .unwrap()
}

fn merge_cmd(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .arg("merge")
        .args(args)
        .env("TRAILPROOF_RUN_ID", RUN)
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

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs the `n` shards of `validate ARGS` into `dir` and returns the part files.
fn shards(args: &[String], window: &str, n: u32, dir: &Path) -> Vec<String> {
    let pattern = dir.join("part-{index}.json").display().to_string();
    for m in 1..=n {
        let mut a = vec!["validate".to_owned()];
        a.extend(args.iter().cloned());
        a.extend(strings(&[
            "--shard",
            &format!("{m}/{n}"),
            "--shard-window",
            window,
            "--partial",
            &pattern,
        ]));
        let out = trailproof(&a);
        assert_eq!(out.status.code(), Some(0), "shard {m}/{n}: {}", show(&out));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains(&format!("shard {m}/{n} of run {RUN}:")),
            "{said}"
        );
    }
    (1..=n)
        .map(|m| dir.join(format!("part-{m}.json")).display().to_string())
        .collect()
}

/// The single run and the merge of its shards, for each format: equal outputs, or the first
/// difference.
fn compare(label: &str, args: &[String], window: &str, n: u32) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let parts = shards(args, window, n, dir.path());
    let verbose = args.iter().any(|a| a == "--verbose");
    for format in ["text", "json"] {
        let mut single = vec!["validate".to_owned()];
        single.extend(args.iter().cloned());
        single.extend(strings(&["--format", format]));
        let want = trailproof(&single);
        let mut m = parts.clone();
        m.extend(strings(&["--format", format]));
        if verbose {
            m.push("--verbose".into());
        }
        let got = merge_cmd(&m);
        if (&want.stdout, &want.stderr, want.status.code())
            != (&got.stdout, &got.stderr, got.status.code())
        {
            return Err(format!(
                "{label}, window {window}, {n} shards, {format}:\n=== single\n{}\n=== merged\n{}",
                show(&want),
                show(&got)
            ));
        }
    }
    Ok(())
}

#[test]
fn merged_shards_print_what_the_single_run_prints_on_every_scenario() {
    let all = scenarios();
    assert!(all.len() >= 30, "{} scenarios", all.len());
    let configs: [(&str, u32); 7] = [
        ("1h", 1),
        ("1h", 2),
        ("1h", 3),
        ("1h", 4),
        ("1h", 7),
        ("2h", 3),
        ("30d", 2),
    ];
    // Two workers: each scenario's runs are independent.
    let failures: Vec<String> = std::thread::scope(|scope| {
        let (a, b): (Vec<_>, Vec<_>) = all.iter().enumerate().partition(|(i, _)| i % 2 == 0);
        let work = |list: Vec<(usize, &Scenario)>| {
            let mut failures = Vec::new();
            for (_, s) in list {
                for (window, n) in configs {
                    if let Err(e) = compare(&s.name, &s.base, window, n) {
                        failures.push(e);
                        break;
                    }
                }
            }
            failures
        };
        let h = scope.spawn(move || work(a));
        let mut f = work(b);
        f.extend(h.join().unwrap());
        f
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// An organization of two accounts and two regions, one log tampered in the middle of a chain,
/// one digest deleted at a window boundary of another: discovery, per-chain lines and totals.
#[test]
fn merged_shards_of_an_organization_equal_the_single_run() {
    let member = |account: &str, seed: u64| {
        TrailBuilder::new()
            .organization("o-abc123")
            .account(account)
            .regions(&["us-east-1", "eu-west-1"])
            .hours(8)
            .logs_per_hour(2)
            .seed(seed)
            .build()
    };
    let a = member("111111111111", 1);
    let b = member("222222222222", 2);
    let mut archive = a.archive.clone();
    archive.merge(b.archive.clone());
    archive.modify_log("trail-bucket", &b.digests_in("eu-west-1")[3].log_keys[0]);
    archive.delete("trail-bucket", &a.digests_in("us-east-1")[4].key.clone());
    let (dir, mut args) = archive_args(&archive, &a.trail_arn(), a.start(), 8);
    args.extend(strings(&["--all-accounts", "--all-regions"]));
    for (window, n) in [("1h", 1), ("1h", 2), ("1h", 3), ("1h", 4), ("3h", 7)] {
        compare("organization", &args, window, n).unwrap_or_else(|e| panic!("{e}"));
    }
    // The merge is not trivially valid: the verdict is the single run's.
    let parts = shards(&args, "1h", 3, dir.path());
    let out = merge_cmd(&parts);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Chains (4):"), "{stdout}");
}

/// A cut tail, a whole range deleted, and a signed stop: the merge reports each as the single
/// run does (the newest window's shard checks the newest edge).
#[test]
fn merged_shards_report_the_newest_edge_as_the_single_run_does() {
    let cut = TrailBuilder::new()
        .regions(&["us-east-1", "eu-west-1"])
        .hours(8)
        .logs_per_hour(2)
        .build();
    let mut archive = cut.archive.clone();
    for d in cut.digests_in("us-east-1").iter().rev().take(3) {
        archive.delete("trail-bucket", &d.key.clone());
    }
    for d in cut.digests_in("eu-west-1").iter().rev().take(7) {
        archive.delete("trail-bucket", &d.key.clone());
    }
    let (_dir, mut args) = archive_args(&archive, &cut.trail_arn(), cut.start(), 8);
    args.extend(strings(&["--all-regions"]));
    for (window, n) in [("1h", 1), ("1h", 3), ("2h", 2), ("3h", 5)] {
        compare("cut tail", &args, window, n).unwrap_or_else(|e| panic!("{e}"));
    }
    let mut single = vec!["validate".to_owned()];
    single.extend(args.iter().cloned());
    let out = trailproof(&single);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .matches("TAIL MISSING")
            .count(),
        2,
        "{}",
        show(&out)
    );
    let stopped = TrailBuilder::new()
        .hours(8)
        .logs_per_hour(2)
        .stop_event("StopLogging", 5, 8)
        .build();
    let (_dir, args) = archive_args(&stopped.archive, &stopped.trail_arn(), stopped.start(), 8);
    for (window, n) in [("1h", 2), ("3h", 3)] {
        compare("signed stop", &args, window, n).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// `archive`'s trail bucket and public keys written to a folder, and the archive-mode flags
/// that validate `hours` of `arn` from `start` there.
fn archive_args(
    archive: &trailproof_testkit::Archive,
    arn: &str,
    start: chrono::DateTime<chrono::Utc>,
    hours: i64,
) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    archive.write_bucket("trail-bucket", &root).unwrap();
    let keys = dir.path().join("keys.json");
    fs::write(&keys, archive.public_keys_json()).unwrap();
    let args = strings(&[
        "--archive",
        &root.display().to_string(),
        "--public-keys",
        &keys.display().to_string(),
        "--trail-arn",
        arn,
        "--start-time",
        &fmt_time(start),
        "--end-time",
        &fmt_time(start + chrono::Duration::hours(hours)),
    ]);
    (dir, args)
}

fn six_hours() -> (tempfile::TempDir, Vec<String>) {
    let trail = TrailBuilder::new().hours(6).logs_per_hour(2).build();
    archive_args(&trail.archive, &trail.trail_arn(), trail.start(), 6)
}

#[test]
fn parts_are_bound_to_one_run_and_an_old_part_never_survives_a_new_shard() {
    let (dir, args) = six_hours();
    let target = dir.path().join("part-{index}.json").display().to_string();
    let shard_of = |base: &[String], m: u32, extra: &[&str], env_run: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
        cmd.arg("validate")
            .args(base)
            .args(["--shard", &format!("{m}/2"), "--partial", &target])
            .args(extra)
            .env_remove("TRAILPROOF_RUN_ID")
            .env_remove("SLURM_ARRAY_JOB_ID")
            .env_remove("AWS_BATCH_JOB_ID");
        if let Some(r) = env_run {
            cmd.env("TRAILPROOF_RUN_ID", r);
        }
        cmd.output().unwrap()
    };
    let shard = |m: u32, extra: &[&str], env_run: Option<&str>| shard_of(&args, m, extra, env_run);
    // No run id at all: refused before anything is read or written.
    let out = shard(1, &[], None);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--run-id is required with --shard"),
        "{}",
        show(&out)
    );
    // Run "old" writes both parts; run "new" is given another id.
    for m in 1..=2 {
        assert_eq!(shard(m, &["--run-id", "old"], None).status.code(), Some(0));
    }
    let part = |m: u32| dir.path().join(format!("part-{m}.json"));
    let merge = |id: &str| {
        Command::new(env!("CARGO_BIN_EXE_trailproof"))
            .args(["merge", "--run-id", id])
            .arg(part(1))
            .arg(part(2))
            .env_remove("TRAILPROOF_RUN_ID")
            .output()
            .unwrap()
    };
    assert_eq!(merge("old").status.code(), Some(0));
    let out = merge("new");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "partial report {} belongs to run old, not to run new",
            part(1).display()
        )),
        "{}",
        show(&out)
    );
    // The merge without an id is refused too.
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .arg("merge")
        .arg(part(1))
        .env_remove("TRAILPROOF_RUN_ID")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--run-id is required"));
    // A shard of run "new" that fails after it started removes the old part first: the merge
    // then names a missing shard, never the old verdict.
    let mut broken = args.clone();
    let at = broken.iter().position(|a| a == "--archive").unwrap() + 1;
    broken[at] = "/nonexistent/trailproof".to_owned();
    let out = shard_of(&broken, 2, &["--run-id", "new"], None);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(!part(2).exists(), "the old part was removed");
    // The id also comes from the environment (TRAILPROOF_RUN_ID; an array job's own id).
    assert_eq!(shard(2, &[], Some("new")).status.code(), Some(0));
    let out = merge("new");
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("belongs to run old"));
}

#[test]
fn merges_refuse_parts_of_other_runs_missing_duplicate_and_malformed_parts() {
    let (dir, args) = six_hours();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    let parts = shards(&args, "1h", 3, &a);
    // The same trail over another range.
    let mut other = args.clone();
    let end = other.iter().position(|x| x == "--end-time").unwrap() + 1;
    other[end] =
        fmt_time(trailproof::time::parse(&other[end]).unwrap() - chrono::Duration::hours(1));
    let others = shards(&other, "1h", 3, &b);
    let refused = |list: &[&String], want: &str| {
        let out = merge_cmd(&list.iter().map(|s| (*s).clone()).collect::<Vec<_>>());
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert!(out.stdout.is_empty(), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("trailproof: error: "), "{err}");
        assert!(err.contains(want), "want {want:?}: {err}");
    };
    refused(
        &[&parts[0], &others[1], &parts[2]],
        &format!(
            "partial report {} is of another run than {} (not the same range)",
            others[1], parts[0]
        ),
    );
    refused(&[&parts[0], &parts[2]], "missing shard 2 of 3");
    refused(&[&parts[0]], "missing shards 2, 3 of 3");
    refused(
        &[&parts[0], &parts[1], &parts[1], &parts[2]],
        &format!("shard 2/3 is given twice: {} and {}", parts[1], parts[1]),
    );
    // Another shard count, another window.
    let c = dir.path().join("c");
    fs::create_dir_all(&c).unwrap();
    let four = shards(&args, "1h", 4, &c);
    refused(&[&parts[0], &four[1]], "(not the same shard count)");
    let d = dir.path().join("d");
    fs::create_dir_all(&d).unwrap();
    let two_hours = shards(&args, "2h", 3, &d);
    refused(
        &[&parts[0], &two_hours[1], &two_hours[2]],
        "(not the same window)",
    );

    // Malformed parts name the file.
    let bad = dir.path().join("bad.json");
    fs::write(&bad, b"{\"kind\": \"trailproof-partial\", \"version\": 1").unwrap();
    let bad_name = bad.display().to_string();
    refused(
        &[&parts[0], &bad_name],
        &format!("partial report {bad_name}: not JSON"),
    );
    let edited = dir.path().join("edited.json");
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&parts[1]).unwrap()).unwrap();
    doc["run"]["trail_arn"] = "arn:aws:cloudtrail:us-east-1:999999999999:trail/x".into();
    fs::write(&edited, serde_json::to_vec(&doc).unwrap()).unwrap();
    let edited_name = edited.display().to_string();
    refused(
        &[&parts[0], &edited_name, &parts[2]],
        &format!(
            "partial report {edited_name}: its run description does not match its fingerprint"
        ),
    );
    // Parts made without --verbose hold no valid log files: a --verbose merge is refused, and
    // they are smaller than parts that keep them.
    let e = dir.path().join("e");
    fs::create_dir_all(&e).unwrap();
    let make = |name: &str, extra: &[&str]| -> Vec<String> {
        let pattern = e
            .join(format!("{name}-{{index}}.json"))
            .display()
            .to_string();
        (1..=2)
            .map(|m| {
                let mut a = vec!["validate".to_owned()];
                a.extend(args.iter().cloned());
                a.extend(strings(&[
                    "--shard",
                    &format!("{m}/2"),
                    "--partial",
                    &pattern,
                ]));
                a.extend(strings(extra));
                assert_eq!(trailproof(&a).status.code(), Some(0));
                e.join(format!("{name}-{m}.json")).display().to_string()
            })
            .collect()
    };
    let text_parts = make("t", &[]);
    let verbose_parts = make("v", &["--verbose"]);
    let verbose_flag = "--verbose".to_owned();
    refused(
        &[&text_parts[0], &text_parts[1], &verbose_flag],
        "holds no entries for valid log files",
    );
    let mut single = vec!["validate".to_owned()];
    single.extend(args.iter().cloned());
    let want = trailproof(&single);
    let got = merge_cmd(&text_parts);
    assert_eq!(
        (want.stdout, want.stderr, want.status.code()),
        (got.stdout, got.stderr, got.status.code())
    );
    assert!(
        fs::metadata(&text_parts[0]).unwrap().len()
            < fs::metadata(&verbose_parts[0]).unwrap().len(),
        "a part without valid log files is smaller"
    );

    let missing = dir.path().join("nope.json").display().to_string();
    refused(&[&missing], &format!("partial report {missing}: "));
    let state_file = dir.path().join("state.json").display().to_string();
    refused(&[&state_file], "partial report");
}

/// The run description of an edited part, its fingerprint made to match again (as anyone who
/// can write the part can do).
fn refingerprint(doc: &mut serde_json::Value) {
    use sha2::Digest as _;
    let mut run: trailproof::shard::RunInfo = serde_json::from_value(doc["run"].clone()).unwrap();
    run.fingerprint = String::new();
    let bytes = serde_json::to_vec(&run).unwrap();
    doc["run"]["fingerprint"] = hex::encode(sha2::Sha256::digest(&bytes)).into();
}

/// A part whose run is out of range (window, shard count, chains, windows, items) stops the
/// merge with exit 2 and a message naming it, never a panic or an allocation of its numbers;
/// so does a part larger than --max-part-size.
#[test]
fn parts_out_of_range_are_refused_naming_the_part() {
    let (dir, args) = six_hours();
    let parts = shards(&args, "1h", 3, dir.path());
    let original: serde_json::Value =
        serde_json::from_slice(&fs::read(&parts[1]).unwrap()).unwrap();
    let start = original["run"]["start"].as_str().unwrap().to_owned();
    let ten_days_before =
        fmt_time(trailproof::time::parse(&start).unwrap() - chrono::Duration::days(10));
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Edit, String)> = vec![
        (
            "huge-window",
            Box::new(|d| d["run"]["window_seconds"] = i64::MAX.into()),
            format!("window_seconds {} is out of range", i64::MAX),
        ),
        (
            "short-window",
            Box::new(|d| d["run"]["window_seconds"] = 60.into()),
            "window_seconds 60 is out of range".to_owned(),
        ),
        (
            "shards",
            Box::new(|d| d["run"]["shards"] = 4_000_000_000u64.into()),
            "shards 4000000000 is out of range".to_owned(),
        ),
        (
            "chains",
            Box::new(|d| d["run"]["chain_count"] = 1_000_000_000_000_000u64.into()),
            "chain_count 1000000000000000 is out of range".to_owned(),
        ),
        (
            "windows",
            Box::new(|d| d["run"]["start"] = "1970-01-01T00:00:00Z".into()),
            "windows of 3600 s is more than 100000 windows".to_owned(),
        ),
        (
            "items",
            Box::new(move |d| {
                d["run"]["chain_count"] = 1_000_000u64.into();
                d["run"]["start"] = ten_days_before.clone().into();
            }),
            "chains in 247 windows are more than 10000000 items".to_owned(),
        ),
    ];
    for (name, edit, want) in cases {
        let mut doc = original.clone();
        edit(&mut doc);
        refingerprint(&mut doc);
        let file = dir.path().join(format!("{name}.json"));
        fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
        let file = file.display().to_string();
        let out = merge_cmd(&[parts[0].clone(), file.clone(), parts[2].clone()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", show(&out));
        assert!(out.stdout.is_empty(), "{name}: {}", show(&out));
        assert!(
            err.starts_with(&format!("trailproof: error: partial report {file}: ")),
            "{name}: {err}"
        );
        assert!(err.contains(&want), "{name}: want {want:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
    }

    // The size cap, on files (S3: tests/shard_live.rs).
    let out = merge_cmd(&[
        "--max-part-size".to_owned(),
        "1024".to_owned(),
        parts[0].clone(),
        parts[1].clone(),
        parts[2].clone(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err,
        format!(
            "trailproof: error: partial report {}: larger than the limit of 1024 bytes (--max-part-size)\n",
            parts[0]
        )
    );
    // Within the cap, the same parts merge.
    let out = merge_cmd(&parts);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn shard_flags_are_checked() {
    let (dir, args) = six_hours();
    let part = dir.path().join("p.json").display().to_string();
    let run = |extra: &[&str]| {
        let mut a = vec!["validate".to_owned()];
        a.extend(args.iter().cloned());
        a.extend(strings(extra));
        trailproof(&a)
    };
    let refused = |out: Output, want: &str| {
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "want {want:?}: {err}");
    };
    let state = dir.path().join("state.json").display().to_string();
    refused(
        run(&["--shard", "1/2", "--partial", &part, "--state", &state]),
        "--state cannot be used with --shard",
    );
    refused(
        run(&["--shard", "3/2", "--partial", &part]),
        "shard 3 is not between 1 and 2",
    );
    refused(run(&["--shard", "1/2"]), "--partial");
    refused(
        run(&[
            "--shard",
            "1/2",
            "--partial",
            &part,
            "--shard-window",
            "10m",
        ]),
        "--shard-window",
    );
    refused(
        run(&["--shard", "1/2", "--partial", &part, "--shard-count", "3"]),
        "disagree",
    );
    refused(
        run(&["--shard", "auto", "--partial", &part]),
        "no array job found",
    );
    // --end-time is required: all shards must cut the same range.
    let mut no_end = vec!["validate".to_owned()];
    let at = args.iter().position(|x| x == "--end-time").unwrap();
    no_end.extend(args[..at].iter().cloned());
    no_end.extend(args[at + 2..].iter().cloned());
    no_end.extend(strings(&["--shard", "1/2", "--partial", &part]));
    refused(trailproof(&no_end), "--end-time");
    // Kubernetes: the index from the environment, the count from the flag.
    let mut a = vec!["validate".to_owned()];
    a.extend(args.iter().cloned());
    let pattern = dir.path().join("k-{index}.json").display().to_string();
    a.extend(strings(&[
        "--shard",
        "auto",
        "--shard-count",
        "2",
        "--partial",
        &pattern,
    ]));
    // The Job's uid comes in TRAILPROOF_RUN_ID (the downward API, as deploy/kubernetes sets).
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(&a)
        .env("JOB_COMPLETION_INDEX", "1")
        .env("TRAILPROOF_RUN_ID", "0f4c2a9e-job-uid")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("SLURM_ARRAY_JOB_ID")
        .env_remove("AWS_BATCH_JOB_ARRAY_INDEX")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 2/2 of run 0f4c2a9e-job-uid:"));
    assert!(dir.path().join("k-2.json").is_file());
}

/// A digest planted in an older window, newer than the one a verified link names: the single
/// walk jumps over it (UNREACHED); a sharded run cannot jump into the middle of a window it did
/// not walk, so it reports the broken link at the boundary. Either way the verdict is invalid.
#[test]
fn a_link_into_the_middle_of_an_older_window_is_a_break_never_valid() {
    let trail = TrailBuilder::new().hours(6).logs_per_hour(2).build();
    let digests = trail.digests_in(trail.home_region());
    let (older, newer) = (&digests[2].key, &digests[3].key);
    // Same folder, a key time ten minutes after the linked digest's: the same hourly window.
    let stamp = &older[older.len() - 24..older.len() - 8];
    let t = trailproof::time::parse_key_time(stamp).unwrap() + chrono::Duration::minutes(10);
    let planted = format!(
        "{}{}{}",
        &older[..older.len() - 24],
        t.format("%Y%m%dT%H%M%SZ"),
        &older[older.len() - 8..]
    );
    assert_eq!(
        trailproof::time::parse_key_time(stamp)
            .unwrap()
            .format("%H")
            .to_string(),
        t.format("%H").to_string(),
        "the planted digest must share the linked digest's hour"
    );
    let mut archive = trail.archive.clone();
    archive.copy_object("trail-bucket", older, &planted);
    let (dir, args) = archive_args(&archive, &trail.trail_arn(), trail.start(), 6);
    let mut single = vec!["validate".to_owned()];
    single.extend(args.iter().cloned());
    let want = trailproof(&single);
    assert_eq!(want.status.code(), Some(1), "{}", show(&want));
    assert!(String::from_utf8_lossy(&want.stderr).contains("UNREACHED"));
    let parts = shards(&args, "1h", 2, dir.path());
    let got = merge_cmd(&parts);
    assert_eq!(got.status.code(), Some(1), "{}", show(&got));
    let err = String::from_utf8_lossy(&got.stderr);
    assert!(
        err.contains(&format!(
            "s3://trail-bucket/{newer}\tBROKEN LINK: previousDigestS3Object does not match s3://trail-bucket/{planted}"
        )),
        "{}",
        show(&got)
    );
    // With a window holding both, the sharded run walks it as the single run does.
    compare("planted", &args, "1d", 2).unwrap_or_else(|e| panic!("{e}"));
}
