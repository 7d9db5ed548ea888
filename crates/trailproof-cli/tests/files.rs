//! Files on disk: what `validate --archive` refuses to read (links, FIFOs inside the copy) and
//! where `mirror` refuses to write, each said in one line with exit status 2.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

const ARN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events";
const RANGE: [&str; 4] = [
    "--start-time",
    "2024-03-01T00:00:00Z",
    "--end-time",
    "2024-03-01T06:00:00Z",
];

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/valid-six-hours/archive")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the six clean hours, to spoil.
fn archive() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&sample(), dir.path());
    dir
}

fn run(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap(),
    )
}

fn validate(archive: &Path) -> (String, String, i32) {
    // The trust anchor stays beside the sample, outside the copy under test.
    let keys = sample()
        .with_file_name("public-keys.json")
        .display()
        .to_string();
    let archive = archive.display().to_string();
    let mut args = vec![
        "validate",
        "--archive",
        &archive,
        "--public-keys",
        &keys,
        "--trail-arn",
        ARN,
    ];
    args.extend(RANGE);
    run(&args)
}

fn logs_folder(archive: &Path) -> PathBuf {
    archive.join("AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01")
}

fn first_log(archive: &Path) -> PathBuf {
    let mut logs: Vec<PathBuf> = fs::read_dir(logs_folder(archive))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    logs.sort();
    logs.remove(0)
}

#[test]
fn the_clean_copy_is_valid() {
    let dir = archive();
    let (stdout, stderr, code) = validate(dir.path());
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn a_linked_log_file_is_refused_not_followed() {
    let dir = archive();
    let outside = tempfile::tempdir().unwrap();
    let log = first_log(dir.path());
    let moved = outside.path().join("log.json.gz");
    fs::rename(&log, &moved).unwrap();
    symlink(&moved, &log).unwrap();
    let (stdout, stderr, code) = validate(dir.path());
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.contains("is a symbolic link") || stderr.contains("is a symbolic link"),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains("10/10 log files valid"), "{stdout}");
}

#[test]
fn a_linked_region_folder_is_refused_not_followed() {
    let dir = archive();
    let outside = tempfile::tempdir().unwrap();
    let region = dir.path().join("AWSLogs/111122223333/CloudTrail/us-east-1");
    let moved = outside.path().join("us-east-1");
    fs::rename(&region, &moved).unwrap();
    symlink(&moved, &region).unwrap();
    let (stdout, stderr, code) = validate(dir.path());
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.contains("is a symbolic link") || stderr.contains("is a symbolic link"),
        "{stdout}{stderr}"
    );
    assert!(!stdout.contains("log files valid"), "{stdout}");
}

#[test]
fn a_fifo_at_a_log_path_is_not_checked_and_does_not_hang() {
    let dir = archive();
    let log = first_log(dir.path());
    fs::remove_file(&log).unwrap();
    let status = Command::new("mkfifo").arg(&log).status().unwrap();
    assert!(status.success());
    let (stdout, stderr, code) = validate(dir.path());
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stdout.contains("is a FIFO, not a regular file")
            || stderr.contains("is a FIFO, not a regular file"),
        "{stdout}{stderr}"
    );
}

fn mirror(output: &Path) -> (String, String, i32) {
    let output = output.display().to_string();
    let mut args = vec!["mirror", "--trail-arn", ARN, "--output", &output];
    args.extend(RANGE);
    run(&args)
}

#[test]
fn mirror_into_a_file_says_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    fs::write(&file, "x").unwrap();
    let (stdout, stderr, code) = mirror(&file);
    assert_eq!(
        (stdout.as_str(), stderr.as_str(), code),
        (
            "",
            format!(
                "trailproof: error: --output {}: exists and is not a directory\n",
                file.display()
            )
            .as_str(),
            2
        )
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), "x");
    let dangling = dir.path().join("dangling");
    symlink(dir.path().join("nowhere"), &dangling).unwrap();
    let (_, stderr, code) = mirror(&dangling);
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        format!(
            "trailproof: error: --output {}: exists and is not a directory\n",
            dangling.display()
        )
    );
}

#[test]
fn mirror_refuses_a_link_at_its_key_file_before_downloading() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("elsewhere.json");
    fs::write(&target, "untouched").unwrap();
    let out = dir.path().join("out");
    fs::create_dir(&out).unwrap();
    symlink(&target, out.join("public-keys.json")).unwrap();
    let (stdout, stderr, code) = mirror(&out);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        format!(
            "trailproof: error: cannot write {}: it is a symbolic link\n",
            out.join("public-keys.json").display()
        )
    );
    assert_eq!(fs::read_to_string(&target).unwrap(), "untouched");
}

/// The state is saved after the report: a state file that cannot be written adds an error line,
/// never hides what was found, and exit 1 wins over its exit 2. Likewise for a path through a
/// regular file (`ENOTDIR`): it is read as a missing state, and only saving fails.
#[test]
fn an_unwritable_state_file_does_not_hide_the_report() {
    let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-regular-file");
    fs::write(&file, "not a folder").unwrap();
    let through_a_file = file.join("state.json");
    // Nothing can be created in /proc, even by root: reading finds no file, writing fails.
    let in_proc = "/proc/trailproof-test-state.json";
    for state in [in_proc, through_a_file.to_str().unwrap()] {
        for (scenario, want) in [("invalid-log-modified", 1), ("valid-six-hours", 2)] {
            let dir = testdata.join(scenario);
            let meta: serde_json::Value = serde_json::from_slice(
                &std::fs::read(dir.join("scenario.json")).expect("scenario"),
            )
            .expect("json");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_trailproof"))
                .arg("validate")
                .arg("--archive")
                .arg(dir.join("archive"))
                .arg("--public-keys")
                .arg(dir.join("public-keys.json"))
                .args(
                    meta["args"]
                        .as_array()
                        .expect("args")
                        .iter()
                        .map(|a| a.as_str().expect("arg")),
                )
                .args(["--state", state])
                .output()
                .expect("run");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(want),
                "{state} {scenario}: {stdout}{stderr}"
            );
            assert!(
                stdout.contains("digest files valid"),
                "{state} {scenario}: {stdout}"
            );
            let error = stderr
                .lines()
                .find(|l| l.starts_with("trailproof: error: "))
                .unwrap_or_else(|| panic!("{state} {scenario}: {stderr}"));
            assert!(error.contains(state), "{state} {scenario}: {stderr}");
            if want == 1 {
                assert!(
                    stderr.contains("INVALID: hash value doesn't match"),
                    "{stderr}"
                );
            }
        }
    }
    assert_eq!(fs::read_to_string(&file).unwrap(), "not a folder");
}
