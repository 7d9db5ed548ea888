//! The command line's errors: one line on stderr naming what and where, exit status 2, and
//! nothing on stdout.

use std::path::{Path, PathBuf};
use std::process::Command;

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/valid-six-hours/archive")
}

const ARN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events";

fn trailproof(args: &[&str]) -> (String, String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(args)
        .output()
        .expect("run trailproof");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().expect("exit status"),
    )
}

fn archive_args<'a>(archive: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["validate", "--archive", archive];
    args.extend_from_slice(extra);
    args
}

#[test]
fn errors_are_one_line_and_exit_2() {
    let archive = sample().display().to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (
            archive_args(&archive, &["--trail-arn", "arn:aws:s3:::bucket", "--start-time", "2024-03-01"]),
            "trailproof: error: Invalid trail ARN provided: arn:aws:s3:::bucket\n".to_owned(),
        ),
        (
            archive_args(&archive, &["--trail-arn", ARN, "--start-time", "yesterday"]),
            "trailproof: error: invalid time \"yesterday\": expected e.g. 2015-01-08T05:21:42Z, 20160129T19:00:00Z or 2024-01-01\n".to_owned(),
        ),
        (
            archive_args(&archive, &["--trail-arn", ARN, "--start-time", "2024-03-02", "--end-time", "2024-03-01"]),
            "trailproof: error: Invalid time range specified: start-time must occur before end-time\n".to_owned(),
        ),
        (
            vec!["validate", "--archive", "/nonexistent/archive", "--trail-arn", ARN, "--start-time", "2024-03-01"],
            "trailproof: error: --archive /nonexistent/archive: not a directory\n".to_owned(),
        ),
        (
            archive_args(&archive, &["--trail-arn", ARN, "--start-time", "2024-03-01", "--public-keys", "/nonexistent/keys.json"]),
            "trailproof: error: public keys /nonexistent/keys.json: No such file or directory (os error 2)\n".to_owned(),
        ),
        (
            archive_args(&archive, &["--trail-arn", ARN, "--start-time", "2024-03-01", "--archive-bucket", "nodir"]),
            "trailproof: error: --archive-bucket nodir: expected NAME=DIR\n".to_owned(),
        ),
    ];
    for (args, want) in cases {
        let (stdout, stderr, code) = trailproof(&args);
        assert_eq!(
            (stdout.as_str(), stderr.as_str(), code),
            ("", want.as_str(), 2),
            "{args:?}"
        );
    }
}

#[test]
fn archive_mode_without_keys_says_how_to_give_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, stderr, code) = trailproof(&[
        "validate",
        "--archive",
        &dir.path().display().to_string(),
        "--trail-arn",
        ARN,
        "--start-time",
        "2024-03-01",
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--public-keys FILE")
            && stderr.contains("--fetch-public-keys")
            && stderr.contains("list-public-keys"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_bad_key_file_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, "{\"PublicKeyList\":[{\"Value\":\"AAAA\"}]}").expect("write");
    let archive = sample().display().to_string();
    let keys_arg = keys.display().to_string();
    let (stdout, stderr, code) = trailproof(&archive_args(
        &archive,
        &[
            "--trail-arn",
            ARN,
            "--start-time",
            "2024-03-01",
            "--public-keys",
            &keys_arg,
        ],
    ));
    assert_eq!(code, 2);
    assert_eq!(stdout, "");
    assert!(
        stderr.starts_with(&format!(
            "trailproof: error: public keys {keys_arg}: no usable key: Value is not an RSA public key"
        )),
        "{stderr}"
    );
}

#[test]
fn no_public_keys_is_an_error_like_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, "{\"PublicKeyList\":[]}").expect("write");
    let archive = sample().display().to_string();
    let keys_arg = keys.display().to_string();
    let (_, stderr, code) = trailproof(&archive_args(
        &archive,
        &[
            "--trail-arn",
            ARN,
            "--start-time",
            "2024-03-01T00:00:00Z",
            "--end-time",
            "2024-03-01T06:00:00Z",
            "--public-keys",
            &keys_arg,
        ],
    ));
    assert_eq!(code, 2);
    assert_eq!(
        stderr,
        "trailproof: error: No public keys found between 2024-03-01T00:00:00Z and 2024-03-01T08:00:00Z\n"
    );
}

#[test]
fn live_mode_without_credentials_says_so() {
    // No credentials anywhere, and no instance metadata lookups from a test.
    let home = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(["validate", "--trail-arn", ARN, "--start-time", "2024-03-01"])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .expect("run trailproof");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with("trailproof: error: ") && stderr.contains("credentials"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    let (_, stderr, code) = trailproof(&["validate", "--start-time", "2024-03-01"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--trail-arn"), "{stderr}");
}
