//! The `trailproof-bench` binary as `benches/run.sh` drives it: `gen` writes a trail and
//! describes it truly, a second `gen` with the same parameters keeps it, and `ceiling` reads
//! every log file it wrote. (Also: `cargo test` builds this binary with the test build's
//! features, so `benches/run.sh --profile dev` reuses it instead of building it again.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bench(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof-bench"))
        .args(args)
        .output()
        .expect("run trailproof-bench");
    assert!(
        out.status.success(),
        "trailproof-bench {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Log files (`.json.gz` under a `CloudTrail/` folder) below `dir`.
fn log_files(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            n += log_files(&path);
        } else if path.to_string_lossy().contains("/CloudTrail/")
            && path.to_string_lossy().ends_with(".json.gz")
        {
            n += 1;
        }
    }
    n
}

#[test]
fn gen_describes_what_it_wrote_and_ceiling_reads_all_of_it() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-cli-gen");
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let params = [
        "gen",
        "--out",
        out,
        "--hours",
        "3",
        "--logs-per-hour",
        "4",
        "--records-per-log",
        "2",
    ];
    bench(&params);
    let trail: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("trail.json")).unwrap()).unwrap();
    assert_eq!(trail["params"]["hours"], 3);
    assert_eq!(trail["digests"], 3, "{trail}");
    let logs = trail["logs"].as_u64().unwrap();
    // Four log files an hour, give or take one.
    assert!((9..=15).contains(&logs), "{trail}");
    assert_eq!(log_files(&dir.join("archive")) as u64, logs);
    assert!(dir.join("archive/public-keys.json").is_file());

    // The same parameters: kept as it is.
    let again = bench(&params);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is up to date"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let ceiling = bench(&[
        "ceiling",
        "--archive",
        dir.join("archive").to_str().unwrap(),
        "--repeat",
        "1",
        "--threads",
        "2",
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&ceiling.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(line["files"].as_u64(), Some(logs), "{line}");
        assert_eq!(line["inflated_bytes"], trail["inflated_bytes"], "{line}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
