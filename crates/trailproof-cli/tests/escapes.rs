//! Names and texts from the archive, a part or S3 reach the terminal escaped, like the report's
//! lines: in fatal error lines too, and with bidirectional and other format characters shown
//! (`\u{202e}`) rather than obeyed, in the text report and the HTML page alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use trailproof::report::needs_escape;
use trailproof_testkit::{fmt_time, QueryResultsBuilder, TestKey, TrailBuilder};
use trailproof_testserver::{get_name, test_options, Fault, Harness};

/// What a hostile name tries: return to the line's start, clear it, print a verdict of its own
/// on a line of its own, and turn what follows around.
const FORGED: &str = "\r\x1b[2Ktrailproof: all good\n\u{202e}";
const SHOWN: &str = "\\u{d}\\u{1b}[2Ktrailproof: all good\\u{a}\\u{202e}";

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Standard error is the one error line, escaped: no character a terminal would act on.
fn one_escaped_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(2), "{}", show(out));
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    let line = err.strip_suffix('\n').expect("one line");
    assert!(!line.contains('\n'), "{err:?}");
    assert!(!line.chars().any(needs_escape), "{err:?}");
    assert!(line.starts_with("trailproof: error: "), "{err:?}");
    assert!(line.contains(SHOWN), "{err:?}");
    line.to_owned()
}

#[test]
fn a_part_named_to_forge_a_line_is_named_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join(format!("part{FORGED}.json"));
    fs::write(&part, b"not json").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(["merge", "--run-id", "r"])
        .arg(&part)
        .output()
        .unwrap();
    let line = one_escaped_error_line(&out);
    assert!(line.contains(": not JSON: "), "{line}");
}

#[test]
fn an_s3_error_message_is_quoted_escaped() {
    let results = QueryResultsBuilder::new().bucket("lqb").build();
    let h = Harness::start(100);
    h.upload_archive(&h.context(&test_options()), &results.archive);
    let sign = format!("{}result_sign.json", results.folder());
    h.s3.faults.add(
        &get_name("lqb", &sign),
        Fault::Error {
            status: 403,
            code: "AccessDenied".to_owned(),
            message: format!("Access Denied{FORGED}"),
        },
        None,
    );
    let home = tempfile::tempdir().unwrap();
    let keys = home.path().join("keys.json");
    fs::write(&keys, results.public_keys_json()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    h.point_at(&mut cmd, home.path());
    let out = cmd
        .args(["verify-query-results", "--s3-bucket", "lqb", "--s3-prefix"])
        .arg(results.folder())
        .arg("--public-keys")
        .arg(&keys)
        .args(["--region", trailproof_testserver::REGION])
        .output()
        .unwrap();
    let line = one_escaped_error_line(&out);
    assert!(line.contains("AccessDenied: Access Denied"), "{line}");
}

/// An archive whose newest digest, validly signed, lists a log file whose name holds a
/// right-to-left override and a zero-width space, and that is not in the bucket.
fn bidi_archive(dir: &Path) -> (Vec<String>, String) {
    let trail = TrailBuilder::new().hours(3).build();
    let bucket = trail.bucket().to_owned();
    let mut archive = trail.archive.clone();
    let newest = trail.digests_in("us-east-1").last().unwrap().key.clone();
    let name =
        "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/evil\u{202e}gpj.exe\u{200b}.json.gz"
            .to_owned();
    let listed = name.clone();
    archive.edit_digest_json(&bucket, &newest, |v| {
        v["logFiles"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "s3Bucket": bucket,
                "s3Object": listed,
                "hashValue": "0".repeat(64),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": "2024-03-01T03:00:00Z",
                "oldestEventTime": "2024-03-01T02:59:00Z",
            }));
    });
    archive.resign_digest(trail.bucket(), &newest, &TestKey::a());
    let root = dir.join("archive");
    archive.write_bucket(trail.bucket(), &root).unwrap();
    let keys = dir.join("public-keys.json");
    fs::write(&keys, trail.archive.public_keys_json()).unwrap();
    let args = vec![
        "validate".to_owned(),
        "--archive".to_owned(),
        root.display().to_string(),
        "--public-keys".to_owned(),
        keys.display().to_string(),
        "--trail-arn".to_owned(),
        trail.trail_arn(),
        "--start-time".to_owned(),
        fmt_time(trail.start()),
        "--end-time".to_owned(),
        fmt_time(trail.start() + chrono::Duration::hours(3)),
    ];
    (args, name)
}

#[test]
fn format_characters_in_names_are_shown_in_text_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let (args, name) = bidi_archive(dir.path());
    let shown = name
        .replace('\u{202e}', "\\u{202e}")
        .replace('\u{200b}', "\\u{200b}");
    let text = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(&args)
        .output()
        .unwrap();
    assert_eq!(text.status.code(), Some(1), "{}", show(&text));
    let stderr = String::from_utf8(text.stderr.clone()).unwrap();
    let stdout = String::from_utf8(text.stdout.clone()).unwrap();
    let line = stderr
        .lines()
        .find(|l| l.contains(&shown))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.starts_with("Log file\ts3://") && line.contains("\tINVALID"),
        "{line}"
    );
    for out in [&stdout, &stderr] {
        assert!(
            !out.chars().any(|c| c != '\n' && needs_escape(c)),
            "{out:?}"
        );
    }

    // The JSON report keeps the name as it is (for programs); the page shows it escaped.
    let json = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(&args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(doc.to_string().contains(&name), "the raw name in JSON");
    let html = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(&args)
        .args(["--format", "html"])
        .output()
        .unwrap();
    let page = String::from_utf8(html.stdout).unwrap();
    let open = format!(
        "<script type=\"application/json\" id=\"{}\">",
        trailproof_html::JSON_ELEMENT_ID
    );
    let start = page.find(&open).unwrap() + open.len();
    let end = start + page[start..].find("</script>").unwrap();
    let markup = format!("{}{}", &page[..start], &page[end..]);
    assert!(markup.contains(&shown), "shown escaped in the page");
    assert!(
        !markup.chars().any(|c| c != '\n' && needs_escape(c)),
        "no format character is obeyed in the page"
    );
}
