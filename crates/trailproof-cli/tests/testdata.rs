//! One table-driven test over `testdata/`: each directory is an archive whose name states the
//! expected verdict, with the exact stdout, stderr and exit status recorded beside it (the AWS
//! CLI's own output wherever trailproof must match it; see tools/testdata.py).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

struct Scenario {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    aws_cli_compatible: bool,
}

fn scenarios() -> Vec<Scenario> {
    let mut all: Vec<Scenario> = fs::read_dir(testdata())
        .expect("testdata/ exists")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("scenario.json").is_file())
        .map(|e| {
            let dir = e.path();
            let meta: serde_json::Value = serde_json::from_slice(
                &fs::read(dir.join("scenario.json")).expect("read scenario.json"),
            )
            .expect("scenario.json is JSON");
            Scenario {
                name: e.file_name().to_string_lossy().into_owned(),
                args: meta["args"]
                    .as_array()
                    .expect("args")
                    .iter()
                    .map(|a| a.as_str().expect("string arg").to_owned())
                    .collect(),
                aws_cli_compatible: meta["aws_cli_compatible"]
                    .as_bool()
                    .expect("aws_cli_compatible"),
                dir,
            }
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

fn run(s: &Scenario, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    cmd.arg("validate")
        .arg("--archive")
        .arg(s.dir.join("archive"))
        .arg("--public-keys")
        .arg(s.dir.join("public-keys.json"));
    for entry in fs::read_dir(&s.dir).expect("scenario dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(bucket) = name.strip_prefix("bucket-") {
            cmd.arg("--archive-bucket")
                .arg(format!("{bucket}={}", entry.path().display()));
        }
    }
    cmd.args(&s.args).args(extra);
    cmd.output().expect("run trailproof")
}

#[test]
fn every_scenario_gives_its_recorded_output() {
    let all = scenarios();
    assert!(all.len() >= 20, "testdata/ holds {} scenarios", all.len());
    let mut failures = Vec::new();
    for s in &all {
        let out = run(s, &[]);
        let expected = |ext: &str| {
            fs::read_to_string(s.dir.join(format!("expected.{ext}"))).expect("expected file")
        };
        let status = out.status.code().expect("exit status").to_string();
        let prefix_status = s.name.split('-').next().unwrap_or_default();
        let want_status = match prefix_status {
            "valid" => "0",
            "invalid" => "1",
            "not" => "2",
            other => panic!(
                "{}: name must start with valid-, invalid- or not-checked- (got {other})",
                s.name
            ),
        };
        if status != want_status {
            failures.push(format!(
                "{}: exit status {status}, the name says {want_status}",
                s.name
            ));
        }
        if status != expected("status").trim() {
            failures.push(format!(
                "{}: exit status {status}, recorded {}",
                s.name,
                expected("status").trim()
            ));
        }
        // The AWS CLI has no line naming the keys: it is checked apart, then left out.
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let (stdout_for_cli, keys_lines) = trailproof_testkit::split_keys_line(&stdout);
        let keys_line = keys_lines.first();
        // It holds a local path, so it is not recorded; it must name the key file whenever a
        // digest verified.
        match keys_line {
            Some(line) if !line.contains(&s.dir.join("public-keys.json").display().to_string()) => {
                failures.push(format!(
                    "{}: the keys line names another file: {line}",
                    s.name
                ))
            }
            None if stdout.contains(" digest files valid") && !stdout.contains("\n0/") => {
                failures.push(format!("{}: no line names the public keys", s.name))
            }
            _ => {}
        }
        let stdout_for_cli = stdout_for_cli.into_bytes();
        for (stream, actual) in [("stdout", &stdout_for_cli), ("stderr", &out.stderr)] {
            let actual = String::from_utf8_lossy(actual);
            if actual != expected(stream) {
                failures.push(format!(
                    "{} ({}): {stream} differs\n--- expected\n{}\n--- actual\n{actual}",
                    s.name,
                    if s.aws_cli_compatible {
                        "must match the AWS CLI"
                    } else {
                        "trailproof only"
                    },
                    expected(stream)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn serial_and_parallel_runs_agree() {
    for s in scenarios() {
        let serial = run(&s, &["--threads", "1"]);
        let parallel = run(&s, &["--threads", "4"]);
        assert_eq!(serial.stdout, parallel.stdout, "{}", s.name);
        assert_eq!(serial.stderr, parallel.stderr, "{}", s.name);
        assert_eq!(serial.status.code(), parallel.status.code(), "{}", s.name);
    }
}

#[test]
fn json_report_agrees_with_the_text() {
    for s in scenarios() {
        let text = run(&s, &[]);
        let json = run(&s, &["--format", "json"]);
        assert_eq!(text.status.code(), json.status.code(), "{}", s.name);
        assert!(
            json.stderr.is_empty(),
            "{}: JSON mode writes only the report",
            s.name
        );
        let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON report");
        assert_eq!(report["version"], 2);
        let entries = report["entries"].as_array().expect("entries");
        let of_type = |t: &str| -> Vec<&serde_json::Value> {
            entries.iter().filter(|e| e["type"] == t).collect()
        };
        assert_eq!(
            report["exit_code"],
            text.status.code().expect("code"),
            "{}",
            s.name
        );
        let stdout = String::from_utf8_lossy(&text.stdout);
        for (kind, name) in [("digest_files", "digest"), ("log_files", "log")] {
            let c = &report["summary"][kind];
            if c["total"].as_u64() > Some(0) {
                let line = format!("{}/{} {name} files valid", c["valid"], c["total"]);
                assert!(
                    stdout.contains(&line),
                    "{}: {line} not in\n{stdout}",
                    s.name
                );
            }
            let listed = of_type(if kind == "digest_files" {
                "digest"
            } else {
                "log"
            });
            let listed_of_kind = listed
                .iter()
                .filter(|e| kind != "digest_files" || e["backfill"] == false)
                .count() as u64;
            // Like the text, JSON lists valid log files only with --verbose (every digest
            // file always, each with the number of log files it lists).
            let verbose_run = s.args.iter().any(|a| a == "--verbose");
            let expected = if kind == "digest_files" || verbose_run {
                c["total"].as_u64()
            } else {
                Some(
                    c["invalid"].as_u64().expect("invalid")
                        + c["not_checked"].as_u64().expect("nc"),
                )
            };
            assert_eq!(Some(listed_of_kind), expected, "{}: {kind}", s.name);
            if kind == "log_files" && !verbose_run {
                let verbose = run(&s, &["--format", "json", "--verbose"]);
                let all: serde_json::Value =
                    serde_json::from_slice(&verbose.stdout).expect("JSON report");
                let logs = all["entries"]
                    .as_array()
                    .expect("entries")
                    .iter()
                    .filter(|e| e["type"] == "log")
                    .count() as u64;
                assert_eq!(Some(logs), c["total"].as_u64(), "{}: --verbose", s.name);
            }
        }
        let stderr = String::from_utf8_lossy(&text.stderr);
        for entry in of_type("log") {
            if entry["status"] != "valid" {
                let key = entry["key"].as_str().expect("key");
                assert!(
                    stderr.contains(key),
                    "{}: {key} missing from stderr",
                    s.name
                );
            }
        }
    }
}

#[test]
fn hash_mismatch_in_json_names_both_hashes() {
    let s = scenarios()
        .into_iter()
        .find(|s| s.name == "invalid-log-modified")
        .expect("scenario");
    let report: serde_json::Value =
        serde_json::from_slice(&run(&s, &["--format", "json"]).stdout).expect("JSON");
    let bad: Vec<_> = report["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|l| l["type"] == "log" && l["status"] == "invalid")
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["outcome"], "hash_mismatch");
    assert_eq!(bad[0]["expected"].as_str().map(str::len), Some(64));
    assert_eq!(bad[0]["actual"].as_str().map(str::len), Some(64));
    assert_ne!(bad[0]["expected"], bad[0]["actual"]);
}
