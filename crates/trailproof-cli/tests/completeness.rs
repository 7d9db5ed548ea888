//! "Valid" means complete, from the command line: deletions at the newest edge of a chain, a
//! deleted state head, a vanished chain and planted objects never give exit 0, and never hide
//! another verdict.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Duration;
use trailproof_testkit::{fmt_time, Trail, TrailBuilder};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name)
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

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            files_below(&entry.path(), out);
        } else {
            out.push(entry.path());
        }
    }
}

/// The digests of the sample's chain, oldest first.
fn digests(root: &Path, region: &str) -> Vec<PathBuf> {
    let mut all = Vec::new();
    files_below(
        &root.join(format!("AWSLogs/111122223333/CloudTrail-Digest/{region}")),
        &mut all,
    );
    all.retain(|p| p.to_string_lossy().ends_with(".json.gz"));
    all.sort();
    all
}

/// The keys of the log files a digest lists (read with the library's own parser).
fn listed_logs(digest: &Path) -> Vec<String> {
    let bytes = fs::read(digest).unwrap();
    let parsed = trailproof::digest::parse(&bytes, &trailproof::digest::Limits::default()).unwrap();
    parsed
        .log_files()
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .collect()
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

const ARN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events";

#[test]
fn deleting_the_newest_hours_of_the_sample_day_is_a_finding_and_the_cli_lines_stay() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    copy_dir(&testdata("valid-sample-day/archive"), &root);
    let all = digests(&root, "us-east-1");
    assert_eq!(all.len(), 24);
    for digest in &all[17..] {
        for key in listed_logs(digest) {
            fs::remove_file(root.join(key)).unwrap();
        }
        fs::remove_file(digest).unwrap();
        let _ = fs::remove_file(format!("{}.meta.json", digest.display()));
    }
    let keys = testdata("valid-sample-day/public-keys.json");
    let (stdout, stderr, code) = run(&[
        "validate",
        "--archive",
        root.to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
        "--trail-arn",
        ARN,
        "--start-time",
        "2024-03-01T00:00:00Z",
        "--end-time",
        "2024-03-02T00:00:00Z",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    // The AWS CLI's lines are those it prints itself; the finding comes beside them.
    assert!(stdout.contains("\n17/17 digest files valid\n"), "{stdout}");
    assert!(
        stdout.contains("1 chains whose newest digest files are missing"),
        "{stdout}"
    );
    let newest = all[16].strip_prefix(&root).unwrap().display().to_string();
    let line = stderr
        .lines()
        .find(|l| l.contains("TAIL MISSING"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.starts_with(&format!("Digest file\ts3://trail-bucket/{newest}\t")),
        "{line}"
    );
    assert!(
        line.contains("to 2024-03-02T00:00:00Z (7 hours) is not covered"),
        "{line}"
    );
}

/// A generated trail written as a local copy, with its key file outside it.
struct Copy {
    _dir: tempfile::TempDir,
    root: PathBuf,
    keys: PathBuf,
    state: PathBuf,
    trail: Trail,
}

impl Copy {
    fn new(trail: Trail) -> Copy {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("bucket");
        trail.archive.write_bucket("trail-bucket", &root).unwrap();
        let keys = dir.path().join("keys.json");
        fs::write(&keys, trail.archive.public_keys_json()).unwrap();
        let state = dir.path().join("state.json");
        Copy {
            _dir: dir,
            root,
            keys,
            state,
            trail,
        }
    }

    fn validate(&self, hours: i64, extra: &[&str]) -> (String, String, i32) {
        let start = fmt_time(self.trail.start());
        let end = fmt_time(self.trail.start() + Duration::hours(hours));
        let arn = self.trail.trail_arn();
        let mut args = vec![
            "validate",
            "--archive",
            self.root.to_str().unwrap(),
            "--public-keys",
            self.keys.to_str().unwrap(),
            "--trail-arn",
            &arn,
            "--start-time",
            &start,
            "--end-time",
            &end,
            "--state",
            self.state.to_str().unwrap(),
        ];
        args.extend(extra);
        run(&args)
    }

    fn delete_digest(&self, region: &str, index: usize) {
        let d = &self.trail.digests_in(region)[index];
        fs::remove_file(self.root.join(&d.key)).unwrap();
    }
}

#[test]
fn state_runs_never_stay_silent_about_a_cut_tail_or_a_deleted_head() {
    let copy = Copy::new(TrailBuilder::new().hours(12).build());
    let (stdout, stderr, code) = copy.validate(6, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // The head is the digest of hour 5 (ending 06:37:12). Everything newer is deleted: the
    // next run, six hours later, finds no new digest, and says that the tail is missing.
    for i in 6..12 {
        copy.delete_digest("us-east-1", i);
    }
    let (stdout, stderr, code) = copy.validate(12, &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("No new digests since 2024-03-01T06:37:12Z"),
        "{stdout}"
    );
    assert!(stderr.contains("TAIL MISSING"), "{stderr}");
    // The head itself deleted: `not found`.
    copy.delete_digest("us-east-1", 5);
    let (stdout, stderr, code) = copy.validate(12, &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let head = &copy.trail.digests_in("us-east-1")[5].key;
    assert!(
        stderr.contains(&format!(
            "Digest file\ts3://trail-bucket/{head}\tINVALID: not found"
        )),
        "{stderr}"
    );
}

#[test]
fn a_replaced_state_head_is_invalid() {
    let copy = Copy::new(TrailBuilder::new().hours(12).build());
    let (_, _, code) = copy.validate(6, &[]);
    assert_eq!(code, 0);
    let digests = copy.trail.digests_in("us-east-1");
    // The head's file now holds another (genuine) digest's bytes.
    fs::copy(
        copy.root.join(&digests[4].key),
        copy.root.join(&digests[5].key),
    )
    .unwrap();
    let (stdout, stderr, code) = copy.validate(12, &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("INVALID: changed since the state file recorded it as the chain's head"),
        "{stderr}"
    );
}

#[test]
fn a_chain_the_state_records_is_never_dropped_in_silence() {
    let copy = Copy::new(
        TrailBuilder::new()
            .hours(6)
            .regions(&["us-east-1", "eu-west-1"])
            .build(),
    );
    let (stdout, stderr, code) = copy.validate(6, &["--all-regions"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("Chains (2):"), "{stdout}");
    // A whole region's digests vanish.
    fs::remove_dir_all(
        copy.root
            .join("AWSLogs/111122223333/CloudTrail-Digest/eu-west-1"),
    )
    .unwrap();
    let (stdout, stderr, code) = copy.validate(6, &["--all-regions"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("CloudTrail-Digest/eu-west-1: recorded in the state file, but no digest folder of it was found"),
        "{stderr}"
    );
    assert!(stdout.contains("Chains (2):"), "{stdout}");
    assert!(stdout.contains("111122223333 eu-west-1:"), "{stdout}");
    assert!(stderr.contains("INVALID: not found"), "{stderr}");
    // The state keeps the chain: the next run says the same.
    let (_, _, code) = copy.validate(6, &["--all-regions"]);
    assert_eq!(code, 1);
}

#[test]
fn a_signed_stop_keeps_a_short_chain_valid_with_an_informational_line() {
    let copy = Copy::new(
        TrailBuilder::new()
            .hours(12)
            .stop_event("StopLogging", 8, 12)
            .build(),
    );
    let (stdout, stderr, code) = copy.validate(12, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("8/8 digest files valid"), "{stdout}");
    let line = stderr
        .lines()
        .find(|l| l.contains("LOGGING STOPPED"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains("StopLogging at ")
            && line.contains("arn:aws:iam::111122223333:user/alice")
            && line.contains("event id "),
        "{line}"
    );
    // JSON: the finding is informational, the verdict valid.
    let (stdout, _, code) = copy.validate(12, &["--format", "json"]);
    assert_eq!(code, 0);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["verdict"], "valid");
    assert_eq!(doc["findings"][0]["kind"], "logging_stopped");
    assert_eq!(doc["findings"][0]["status"], "info");
    assert_eq!(doc["findings"][0]["event_name"], "StopLogging");
}

#[test]
fn planted_links_fifos_and_unusable_names_do_not_stop_the_report() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    copy_dir(&testdata("valid-six-hours/archive"), &root);
    let all = digests(&root, "us-east-1");
    // A tampered log file: the verdict that must still be printed.
    let tampered = listed_logs(&all[2]).remove(0);
    let path = root.join(&tampered);
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    fs::write(&path, bytes).unwrap();
    let folder = all[3].parent().unwrap().to_path_buf();
    // A link named like a digest of the chain, between two real ones.
    let planted = folder.join(
        "111122223333_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240301T040000Z.json.gz",
    );
    std::os::unix::fs::symlink("/etc/passwd", &planted).unwrap();
    // A FIFO and a name that is not UTF-8 in the same folder, and a link to a folder.
    let status = Command::new("mkfifo")
        .arg(folder.join("fifo.json.gz"))
        .status()
        .unwrap();
    assert!(status.success());
    fs::write(
        folder.join(std::ffi::OsStr::from_bytes(b"bad-\xff-name.json.gz")),
        b"x",
    )
    .unwrap();
    std::os::unix::fs::symlink("/tmp", folder.join("elsewhere")).unwrap();
    let keys = testdata("valid-six-hours/public-keys.json");
    let (stdout, stderr, code) = run(&[
        "validate",
        "--archive",
        root.to_str().unwrap(),
        "--public-keys",
        keys.to_str().unwrap(),
        "--trail-arn",
        ARN,
        "--start-time",
        "2024-03-01T00:00:00Z",
        "--end-time",
        "2024-03-01T06:00:00Z",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "Log file\ts3://trail-bucket/{tampered}\tINVALID: "
        )),
        "{stderr}"
    );
    let planted_key = planted.strip_prefix(&root).unwrap().display().to_string();
    assert!(
        stderr.contains(&format!("s3://trail-bucket/{planted_key}\tNOT CHECKED"))
            || stderr.contains(&format!("s3://trail-bucket/{planted_key}\tUNREACHED")),
        "{stderr}"
    );
    assert!(
        stdout.contains("6/6 digest files valid") || stdout.contains("digest files valid"),
        "{stdout}"
    );
}
