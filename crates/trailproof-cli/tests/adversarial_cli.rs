//! The command line against an archive whose owner is the attacker: trust comes only from a key
//! file given apart from the archive, a key file inside it is flagged, and names the attacker
//! chose cannot reach the terminal raw.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use trailproof_testkit::{fmt_time, Archive, PublicKeyEntry, TestKey, Trail, TrailBuilder};

const BUCKET: &str = "trail-bucket";

struct Run {
    stdout: String,
    stderr: String,
    code: i32,
}

fn trailproof(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(args)
        .output()
        .expect("run trailproof");
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().expect("exit status"),
    }
}

fn trail() -> Trail {
    TrailBuilder::new().hours(3).build()
}

/// The archive written to `dir/bucket`, returned with that path.
fn write_archive(archive: &Archive, dir: &Path) -> PathBuf {
    let root = dir.join("bucket");
    archive.write_bucket(BUCKET, &root).expect("write archive");
    root
}

/// `validate --archive ROOT` over the trail's three hours, plus `extra`.
fn validate(trail: &Trail, root: &Path, extra: &[&str]) -> Run {
    let root = root.display().to_string();
    let arn = trail.trail_arn();
    let start = fmt_time(trail.start());
    let end = fmt_time(trail.start() + chrono::Duration::hours(3));
    let mut args = vec![
        "validate",
        "--archive",
        &root,
        "--trail-arn",
        &arn,
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--no-progress",
    ];
    args.extend_from_slice(extra);
    trailproof(&args)
}

/// Hex SHA-256 of an object's inflated bytes: what digests record for logs and predecessors.
fn inflated_sha256(gzip: &[u8]) -> String {
    trailproof_testkit::reference_gunzip(gzip).sha256
}

/// What an attacker does after changing a log: recompute every hash and link, and sign every
/// digest with their own key.
fn forge_chain(archive: &mut Archive, trail: &Trail, log: &str, attacker: &TestKey) {
    archive.modify_log(BUCKET, log);
    let new_hash = inflated_sha256(&archive.get(BUCKET, log).expect("log").body);
    let mut previous: Option<(String, String)> = None;
    for d in trail.digests_in("us-east-1") {
        let prev = previous.clone();
        archive.edit_digest_json(BUCKET, &d.key, |v| {
            if let Some(files) = v["logFiles"].as_array_mut() {
                for f in files {
                    if f["s3Object"] == log {
                        f["hashValue"] = Value::from(new_hash.as_str());
                    }
                }
            }
            v["digestPublicKeyFingerprint"] = Value::from(attacker.fingerprint());
            if let Some((hash, signature)) = &prev {
                v["previousDigestHashValue"] = Value::from(hash.as_str());
                v["previousDigestSignature"] = Value::from(signature.as_str());
            }
        });
        archive.resign_digest(BUCKET, &d.key, attacker);
        let object = archive.get(BUCKET, &d.key).expect("digest");
        previous = Some((
            inflated_sha256(&object.body),
            object.metadata["signature"].clone(),
        ));
    }
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

#[test]
fn archive_mode_without_a_key_flag_is_refused() {
    let trail = trail();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_archive(&trail.archive, dir.path());
    // Even with a key file lying in the archive, nothing is read from it by default.
    std::fs::write(
        root.join("public-keys.json"),
        trail.archive.public_keys_json(),
    )
    .expect("keys");
    let run = validate(&trail, &root, &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("trailproof: error: ") && run.stderr.contains("--public-keys"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_doctored_key_file_inside_the_archive_is_flagged_and_the_genuine_one_fails_the_forgery() {
    let trail = trail();
    let attacker = TestKey::unknown();
    let mut archive = trail.archive.clone();
    let log = trail.digests_in("us-east-1")[1].log_keys[0].clone();
    forge_chain(&mut archive, &trail, &log, &attacker);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_archive(&archive, dir.path());

    // The attacker's key list, planted in the archive.
    let mut doctored = archive.clone();
    doctored.public_keys = vec![PublicKeyEntry::for_key(
        &attacker,
        false,
        trail.start() - chrono::Duration::days(10),
        trail.start() + chrono::Duration::days(10),
    )];
    let planted = root.join("public-keys.json");
    std::fs::write(&planted, doctored.public_keys_json()).expect("keys");
    let planted_arg = planted.display().to_string();
    let run = validate(&trail, &root, &["--public-keys", &planted_arg]);
    // The forgery is consistent, so against its own key it passes: the warning is what tells.
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("trust then rests on the archive"),
        "{}",
        run.stderr
    );
    let keys_line = last_line(&run.stdout);
    assert!(
        keys_line.starts_with("Public keys: ")
            && keys_line.contains(&planted_arg)
            && keys_line.contains("inside the archive")
            && keys_line.contains(&attacker.fingerprint()),
        "{}",
        run.stdout
    );

    // The same archive against CloudTrail's keys, obtained apart from it.
    let genuine = dir.path().join("genuine-keys.json");
    std::fs::write(&genuine, trail.archive.public_keys_json()).expect("keys");
    let genuine_arg = genuine.display().to_string();
    let run = validate(&trail, &root, &["--public-keys", &genuine_arg]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        !run.stderr.contains("trust then rests on the archive"),
        "{}",
        run.stderr
    );
    for d in trail.digests_in("us-east-1") {
        assert!(
            run.stderr
                .lines()
                .any(|l| l.contains(&d.key) && l.contains("INVALID")),
            "{} not reported: {}",
            d.key,
            run.stderr
        );
    }
    // Every report names its key source, even when no key verified anything.
    let keys_line = last_line(&run.stdout);
    assert!(
        keys_line.starts_with("Public keys: ") && keys_line.contains(&genuine_arg),
        "stdout:\n{}",
        run.stdout
    );

    // JSON names the source too.
    let run = validate(
        &trail,
        &root,
        &["--public-keys", &genuine_arg, "--format", "json"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let json: Value = serde_json::from_str(&run.stdout).expect("JSON report");
    assert!(
        json["public_keys"].to_string().contains(&genuine_arg),
        "public_keys: {}",
        json["public_keys"]
    );
}

#[test]
fn control_characters_in_a_signed_log_key_are_escaped() {
    let trail = trail();
    let mut archive = trail.archive.clone();
    let newest = trail
        .digests_in("us-east-1")
        .last()
        .map(|d| d.key.clone())
        .expect("digests");
    let evil = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/evil\nLog file\ts3://x/y\tvalid\u{1b}[2Jgone.json.gz";
    archive.edit_digest_json(BUCKET, &newest, |v| {
        let files = v["logFiles"].as_array_mut().expect("logFiles");
        files.push(serde_json::json!({
            "s3Bucket": BUCKET,
            "s3Object": evil,
            "hashValue": "0".repeat(64),
            "hashAlgorithm": "SHA-256",
            "newestEventTime": "2024-03-01T03:00:00Z",
            "oldestEventTime": "2024-03-01T02:59:00Z",
        }));
    });
    // Signed by CloudTrail's key: a digest the verifier accepts.
    archive.resign_digest(BUCKET, &newest, &TestKey::a());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_archive(&archive, dir.path());
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, trail.archive.public_keys_json()).expect("keys");
    let keys_arg = keys.display().to_string();
    let run = validate(&trail, &root, &["--public-keys", &keys_arg]);
    // Such a key cannot be held in a local copy: NOT CHECKED, never valid.
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    for out in [&run.stdout, &run.stderr] {
        assert!(
            !out.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "raw control character in {out:?}"
        );
    }
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("evil"))
        .unwrap_or_else(|| panic!("the log is not reported: {}", run.stderr));
    assert!(
        line.contains("evil\\u{a}Log file\ts3://x/y\tvalid\\u{1b}[2Jgone.json.gz")
            && line.contains("NOT CHECKED: could not be read"),
        "{line:?}"
    );
    // The newline did not split the line: no line starts with the injected text.
    assert!(
        !run.stderr
            .lines()
            .any(|l| l.starts_with("Log file\ts3://x/y")),
        "{}",
        run.stderr
    );
}

#[test]
fn an_absurd_thread_count_is_a_usage_error() {
    let trail = trail();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_archive(&trail.archive, dir.path());
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, trail.archive.public_keys_json()).expect("keys");
    let keys_arg = keys.display().to_string();
    let run = validate(
        &trail,
        &root,
        &["--public-keys", &keys_arg, "--threads", "100000000"],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    // One line, like every other error of the command.
    let errors: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].starts_with("trailproof: error: "),
        "{}",
        run.stderr
    );
    assert!(
        errors[0].contains("--threads") && errors[0].contains("100000000"),
        "{}",
        run.stderr
    );
}

#[test]
fn accounts_naming_no_chain_checks_nothing_and_is_not_valid() {
    let trail = trail();
    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_archive(&trail.archive, dir.path());
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, trail.archive.public_keys_json()).expect("keys");
    let keys_arg = keys.display().to_string();
    let run = validate(
        &trail,
        &root,
        &["--public-keys", &keys_arg, "--accounts", "000000000000"],
    );
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("000000000000"), "{}", run.stderr);
}
