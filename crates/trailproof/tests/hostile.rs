//! Hostile inputs, one table: every file under `tests/hostile/` is named
//! `<expected outcome>--<what it is>`; each must yield exactly that verdict (or error), without a
//! panic, and never "valid".
//!
//! - `digests/*.json`: a digest's inflated JSON (`@BUCKET@`, `@KEY@`, `@FP@`, `@START@`, `@END@`
//!   filled in, then gzipped); `digests/*.raw`: the stored bytes as they are. Each replaces the
//!   newest digest of a signed three-hour trail, keeping its signature metadata.
//! - `logs/*.raw`: replaces a log file the (valid) digest lists.
//! - `keys/*.json`: a `list-public-keys` file; `ok--` parses, `error--` is a typed error.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use trailproof::{
    validate, Chain, Entry, KeySet, MemoryStore, Object, Options, Parallelism, Report, Status,
    TrailArn,
};
use trailproof_testkit::{Trail, TrailBuilder};

fn dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile")
        .join(kind)
}

fn cases(kind: &str) -> Vec<(String, String, PathBuf)> {
    let mut v: Vec<_> = fs::read_dir(dir(kind))
        .expect("hostile dir")
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let expected = name.split("--").next().expect("name").to_owned();
            (name, expected, e.path())
        })
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

struct Setup {
    trail: Trail,
    keys: KeySet,
    chain: Chain,
    arn: String,
}

fn setup() -> Setup {
    let trail = TrailBuilder::new().hours(3).build();
    let keys =
        KeySet::from_list_public_keys_json(trail.archive.public_keys_json().as_bytes(), "keys")
            .expect("keys");
    let arn = TrailArn::parse(&trail.trail_arn()).expect("arn");
    let chain = Chain::for_trail(&arn, trail.bucket());
    Setup {
        trail,
        keys,
        chain,
        arn: arn.arn,
    }
}

fn run(s: &Setup, replace: &str, body: Vec<u8>) -> Report {
    run_with(s, replace, body, trailproof::digest::Limits::default())
}

fn run_with(s: &Setup, replace: &str, body: Vec<u8>, limits: trailproof::digest::Limits) -> Report {
    let mut store = MemoryStore::new();
    for ((bucket, key), o) in &s.trail.archive.objects {
        let bytes = if key == replace {
            body.clone()
        } else {
            o.body.clone()
        };
        store.put(
            bucket,
            key,
            Object {
                bytes,
                metadata: Some(o.metadata.clone()),
            },
        );
    }
    let options = Options::new(
        s.trail.start(),
        s.trail.start() + chrono::Duration::hours(3),
    )
    .parallelism(Parallelism::Serial)
    .limits(limits);
    validate(&store, &s.keys, &s.chain, &s.arn, &options)
        .expect("a hostile file is a verdict, not an error")
}

fn digest_outcome(report: &Report, key: &str) -> (String, Status) {
    report
        .entries
        .iter()
        .find_map(|e| match e {
            Entry::Digest(d) if d.key == key => {
                Some((d.outcome.code().to_owned(), d.outcome.status()))
            }
            _ => None,
        })
        .expect("digest reported")
}

fn fill(template: &str, s: &Setup, key: &str) -> Vec<u8> {
    let d = s.trail.digests_in("us-east-1");
    let newest = d.last().expect("digest");
    template
        .replace("@BUCKET@", s.trail.bucket())
        .replace("@KEY@", key)
        .replace("@FP@", &trailproof_testkit::TestKey::a().fingerprint())
        .replace("@START@", &trailproof_testkit::fmt_time(newest.start))
        .replace("@END@", &trailproof_testkit::fmt_time(newest.end))
        .into_bytes()
}

#[test]
fn hostile_digests_get_their_named_verdict() {
    let s = setup();
    let key = s
        .trail
        .digests_in("us-east-1")
        .last()
        .expect("digest")
        .key
        .clone();
    let mut failures = Vec::new();
    for (name, expected, path) in cases("digests") {
        let raw = fs::read(&path).expect("read");
        let body = if name.ends_with(".json") {
            gzip(&fill(
                &String::from_utf8(raw).expect("templates are UTF-8"),
                &s,
                &key,
            ))
        } else {
            raw
        };
        let (code, status) = digest_outcome(&run(&s, &key, body), &key);
        if code != expected || status == Status::Valid {
            failures.push(format!("{name}: got {code}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn generated_hostile_digests() {
    let s = setup();
    let key = s
        .trail
        .digests_in("us-east-1")
        .last()
        .expect("digest")
        .key
        .clone();
    let template =
        fs::read_to_string(dir("digests").join("signature_failed--unsigned-content.json"))
            .expect("read");
    let big_string = template.replace(
        "\"newestEventTime\":null",
        &format!("\"newestEventTime\":\"{}\"", "A".repeat(4 << 20)),
    );
    let entries = vec![r#"{"s3Bucket":"b","s3Object":"k","hashValue":"00"}"#; 100_000].join(",");
    let many_logs = template.replace("\"logFiles\":[]", &format!("\"logFiles\":[{entries}]"));
    for (what, body, expected) in [
        (
            "4 MiB string",
            gzip(&fill(&big_string, &s, &key)),
            "signature_failed",
        ),
        (
            "100,000 log entries",
            gzip(&fill(&many_logs, &s, &key)),
            "signature_failed",
        ),
        // Inflates within the limit, and is not JSON.
        (
            "64 MiB of spaces",
            gzip(&vec![b' '; 64 << 20]),
            "invalid_format",
        ),
    ] {
        let (code, status) = digest_outcome(&run(&s, &key, body), &key);
        assert_eq!(code, expected, "{what}");
        assert_ne!(status, Status::Valid, "{what}");
    }
}

/// Gzip of `head`, then `fill` repeated to `len` bytes in all, then `tail`: a bomb.
fn bomb(head: &str, fill: &[u8], len: usize, tail: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(head.as_bytes()).expect("in memory");
    let piece = fill.repeat((1 << 20) / fill.len());
    let mut written = head.len();
    while written < len {
        e.write_all(&piece).expect("in memory");
        written += piece.len();
    }
    e.write_all(tail.as_bytes()).expect("in memory");
    e.finish().expect("in memory")
}

/// A digest that inflates past `--max-digest-size` is NOT CHECKED, naming the flag, whatever it
/// inflates to and however it is shaped (the first pass stops parsing a value that runs long,
/// and measures the rest): never invalid, never an error.
#[test]
fn bombs_over_the_size_limit_are_not_checked() {
    let s = setup();
    let key = s
        .trail
        .digests_in("us-east-1")
        .last()
        .expect("digest")
        .key
        .clone();
    let check = |what: &str, body: Vec<u8>, limits: trailproof::digest::Limits| {
        let report = run_with(&s, &key, body, limits);
        let d = report
            .entries
            .iter()
            .find_map(|e| match e {
                Entry::Digest(d) if d.key == key => Some(d.clone()),
                _ => None,
            })
            .expect("digest reported");
        assert_eq!(d.outcome.status(), Status::NotChecked, "{what}");
        assert!(
            d.outcome.message().contains("--max-digest-size"),
            "{what}: {}",
            d.outcome.message()
        );
        assert_eq!(report.verdict(), trailproof::Verdict::Incomplete, "{what}");
    };
    // The classic: 1 GiB of zeros, under the default limits.
    check(
        "1 GiB of zeros",
        bomb("", &[0], 1 << 30, ""),
        trailproof::digest::Limits::default(),
    );
    // Shapes a streaming parser could be made to buffer, against a small limit.
    let small = trailproof::digest::Limits::new(8 << 20, 2_000_000);
    for (what, head, fill, tail) in [
        (
            "one long unknown field",
            r#"{"newestEventTime":""#,
            &b"A"[..],
            "\"}",
        ),
        ("one long kept field", r#"{"digestS3Object":""#, b"A", "\"}"),
        ("a long key", r#"{""#, b"A", "\":1}"),
        ("a long string, not an object", r#"""#, b"A", "\""),
        ("deep arrays", r#"{"logFiles":["#, b"[", ""),
        ("many entries", r#"{"logFiles":["#, b"{},", "{}]}"),
        (
            "a long array in a kept field",
            r#"{"digestEndTime":["#,
            b"[],",
            "[]]}",
        ),
        (
            "a long array in an entry",
            r#"{"logFiles":[["#,
            b"1,",
            "1]]}",
        ),
    ] {
        check(what, bomb(head, fill, 16 << 20, tail), small);
    }
}

#[test]
fn hostile_logs_get_their_named_verdict() {
    let s = setup();
    let log = s.trail.digests_in("us-east-1")[1].log_keys[0].clone();
    let mut failures = Vec::new();
    for (name, expected, path) in cases("logs") {
        let report = run(&s, &log, fs::read(&path).expect("read"));
        let outcome = report
            .entries
            .iter()
            .find_map(|e| match e {
                Entry::Log(l) if l.key == log => Some(l.outcome.clone()),
                _ => None,
            })
            .expect("log reported");
        if outcome.code() != expected || outcome.status() == Status::Valid {
            failures.push(format!("{name}: got {outcome:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_log_bomb_costs_time_not_memory_and_is_a_mismatch() {
    // 256 MiB of inflated data streamed through the hasher in 64 KiB pieces.
    let s = setup();
    let log = s.trail.digests_in("us-east-1")[1].log_keys[0].clone();
    let report = run(&s, &log, gzip(&vec![0u8; 256 << 20]));
    assert_eq!(report.summary().log_files.invalid, 1);
}

#[test]
fn hostile_key_files_parse_or_fail_as_named() {
    for (name, expected, path) in cases("keys") {
        let result =
            KeySet::from_list_public_keys_json(&fs::read(&path).expect("read"), "hostile.json");
        match (expected.as_str(), result) {
            ("ok", Ok(_)) => {}
            ("error", Err(e)) => {
                let message = e.to_string();
                assert!(
                    message.starts_with("public keys hostile.json: "),
                    "{name}: {message}"
                );
                assert!(!message.contains('\n'), "{name}: one line");
            }
            (_, other) => panic!("{name}: {other:?}"),
        }
    }
}

/// A genuine, validly signed digest is never called tampered because of its size: 250,000
/// entries (about 90 MB inflated) are processed under the default limits, and a digest over a
/// limit is NOT CHECKED, naming the flag that raises it.
#[test]
fn a_signed_digest_of_250000_entries_is_processed_and_limits_are_not_verdicts() {
    let s = setup();
    let newest = s
        .trail
        .digests_in("us-east-1")
        .last()
        .expect("digest")
        .key
        .clone();
    let mut archive = s.trail.archive.clone();
    archive.edit_digest_json(s.trail.bucket(), &newest, |v| {
        let logs = v["logFiles"].as_array_mut().expect("logFiles");
        for i in 0..250_000 {
            logs.push(serde_json::json!({
                "s3Bucket": "trail-bucket",
                "s3Object": format!("AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/gone-{i:06}.json.gz"),
                "hashValue": "00",
                "hashAlgorithm": "SHA-256",
            }));
        }
    });
    archive.resign_digest(s.trail.bucket(), &newest, &trailproof_testkit::TestKey::a());
    let store: MemoryStore = archive
        .objects
        .iter()
        .map(|(k, o)| {
            (
                k.clone(),
                Object {
                    bytes: o.body.clone(),
                    metadata: Some(o.metadata.clone()),
                },
            )
        })
        .collect();
    let range = |o: Options| {
        o.parallelism(Parallelism::Threads(2))
            .keep_valid_logs(false)
    };
    let options = range(Options::new(
        s.trail.start(),
        s.trail.start() + chrono::Duration::hours(3),
    ));
    let report = validate(&store, &s.keys, &s.chain, &s.arn, &options).expect("run");
    assert_eq!(digest_outcome(&report, &newest).0, "valid");
    let summary = report.summary();
    assert!(summary.log_files.invalid >= 250_000, "{summary:?}");
    assert_eq!(report.verdict(), trailproof::Verdict::Invalid);

    for limits in [
        trailproof::digest::Limits::new(1 << 20, 2_000_000),
        trailproof::digest::Limits::new(1 << 30, 1_000),
    ] {
        let options = range(Options::new(
            s.trail.start(),
            s.trail.start() + chrono::Duration::hours(3),
        ))
        .limits(limits);
        let report = validate(&store, &s.keys, &s.chain, &s.arn, &options).expect("run");
        let d = report
            .entries
            .iter()
            .find_map(|e| match e {
                Entry::Digest(d) if d.key == newest => Some(d.clone()),
                _ => None,
            })
            .expect("digest reported");
        assert_eq!(d.outcome.status(), Status::NotChecked, "{limits:?}");
        let message = d.outcome.message();
        assert!(
            message.contains("--max-digest-size") || message.contains("--max-digest-entries"),
            "{message}"
        );
        assert_eq!(
            report.verdict(),
            trailproof::Verdict::Incomplete,
            "{limits:?}"
        );
    }
}
