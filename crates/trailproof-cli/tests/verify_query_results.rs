//! `trailproof verify-query-results`, the built binary: exact output and exit status for every
//! testkit Lake scenario, from a local folder and from the local S3 server (keys from a file,
//! and from the local CloudTrail endpoint), the AWS CLI's flag rules, and a trail of the China
//! partition validated live.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use trailproof_testkit::lake::{scenarios, LakeScenario, QueryResultsBuilder, SIGN_FILE};
use trailproof_testkit::{TestKey, TrailBuilder};
use trailproof_testserver::{test_options, Harness};

fn run(cmd: &mut Command) -> (String, String, i32) {
    let out = cmd.output().expect("run trailproof");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().expect("exit status"),
    )
}

fn trailproof() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    cmd.arg("verify-query-results");
    cmd
}

const SUCCESS: &str = "Successfully validated sign and query result files\n";

/// What the command must print for a scenario, `loc` giving each object's location.
fn expected(s: &LakeScenario, loc: &dyn Fn(&str) -> String) -> (String, String, i32) {
    let r = &s.results;
    let sign = format!("Sign file\t{}\t", loc(SIGN_FILE));
    let file = |name: &str| format!("Result file\t{}\t", loc(name));
    let mismatch = |name: &str, i: usize| {
        format!(
            "{}INVALID: hash value doesn't match: the sign file says {}, the file hashes to {}\n",
            file(name),
            r.sign_json()["files"][i]["fileHashValue"].as_str().unwrap(),
            r.file_hash(name)
        )
    };
    let unlisted = |name: &str| format!("{}INVALID: not listed in the sign file\n", file(name));
    let (r1, r2, r3) = ("result_1.csv.gz", "result_2.csv.gz", "result_3.csv.gz");
    let a = TestKey::a().fingerprint();
    let b = TestKey::b().fingerprint();
    let stderr = match s.name {
        "clean" => String::new(),
        "modified-file" => mismatch(r1, 0),
        "deleted-file" => format!("{}INVALID: not found\n", file(r2)),
        "extra-unlisted-file" => unlisted("result_9.csv.gz"),
        "swapped-file-order" | "corrupt-signature" => {
            format!("{sign}INVALID: signature verification failed\n")
        }
        "swapped-file-contents" => mismatch(r1, 0) + &mismatch(r2, 1),
        "wrong-fingerprint" => format!(
            "{sign}INVALID: queryCompleteTime 2024-03-02T06:07:08Z is outside the validity of public key {b} (2024-03-16T00:00:00Z to 2024-04-15T00:00:00Z)\n\
             {sign}INVALID: signature verification failed\n"
        ),
        "unknown-fingerprint" => format!(
            "{sign}INVALID: public key not found in region us-east-1 for fingerprint {}\n",
            TestKey::unknown().fingerprint()
        ),
        "key-out-of-validity" => format!(
            "{sign}INVALID: queryCompleteTime 2024-02-05T06:07:08Z is outside the validity of public key {a} (2024-02-20T00:00:00Z to 2024-03-21T00:00:00Z)\n"
        ),
        "bad-hex-signature" => format!("{sign}INVALID: hashSignature is not hex\n"),
        "wrong-algorithms" => format!(
            "{sign}INVALID: hashAlgorithm is \"MD5\", not \"SHA-256\"\n\
             {sign}INVALID: signatureAlgorithm is \"SHA1withRSA\", not \"SHA256withRSA\"\n"
        ),
        "unsafe-file-name" => format!(
            "Result file\t\"../result_2.csv.gz\"\tINVALID: file name contains a path separator: not read\n{}",
            unlisted(r2)
        ),
        "empty-files" => format!(
            "{sign}INVALID: No export file was found in sign file.\n\
             {sign}NOT CHECKED: signature not verified: the sign file lists no files to sign\n{}{}{}",
            unlisted(r1),
            unlisted(r2),
            unlisted(r3)
        ),
        "everything-at-once" => format!(
            "{sign}INVALID: hashAlgorithm is \"MD5\", not \"SHA-256\"\n{}{}INVALID: not found\n{}",
            mismatch(r1, 0),
            file(r2),
            unlisted("notes.txt")
        ),
        other => panic!("no expected output for scenario {other}"),
    };
    if stderr.is_empty() {
        (SUCCESS.to_owned(), stderr, 0)
    } else {
        (String::new(), stderr, 1)
    }
}

fn write_keys(dir: &Path, s: &LakeScenario) -> String {
    let path = dir.join("public-keys.json");
    std::fs::write(&path, s.results.public_keys_json()).unwrap();
    path.display().to_string()
}

#[test]
fn every_scenario_from_a_local_folder() {
    let all = scenarios(&QueryResultsBuilder::new());
    assert_eq!(all.len(), 15);
    for s in &all {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("export");
        s.results.write_folder(&dir).unwrap();
        let keys = write_keys(tmp.path(), s);
        let got = run(trailproof()
            .arg("--local-export-path")
            .arg(&dir)
            .args(["--public-keys", &keys]));
        let want = expected(s, &|name| dir.join(name).display().to_string());
        assert_eq!(got, want, "{}", s.name);
    }
}

#[test]
fn json_reports_the_whole_result() {
    let s = scenarios(&QueryResultsBuilder::new())
        .into_iter()
        .find(|s| s.name == "deleted-file")
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("export");
    s.results.write_folder(&dir).unwrap();
    let keys = write_keys(tmp.path(), &s);
    let (stdout, stderr, code) = run(trailproof().arg("--local-export-path").arg(&dir).args([
        "--public-keys",
        &keys,
        "--format",
        "json",
    ]));
    assert_eq!((stderr.as_str(), code), ("", 1));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["verdict"], "invalid");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["sign_file"]["signature"]["outcome"], "valid");
    assert_eq!(v["sign_file"]["status"], "valid");
    assert_eq!(v["sign_file"]["region"], "us-east-1");
    assert_eq!(
        v["sign_file"]["query_complete_time"],
        "2024-03-02T06:07:08Z"
    );
    let outcomes: Vec<(&str, &str)> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("result_1.csv.gz", "valid"),
            ("result_2.csv.gz", "not_found"),
            ("result_3.csv.gz", "valid"),
        ]
    );
    assert_eq!(v["public_key"]["fingerprint"], TestKey::a().fingerprint());
    assert_eq!(v["public_key"]["source"], keys);
    assert_eq!(
        v["public_key"]["validity"],
        serde_json::json!({"start": "2024-02-20T00:00:00Z", "end": "2024-03-21T00:00:00Z", "checked": true})
    );
    assert_eq!(v["unlisted_check"]["status"], "done");
}

#[test]
fn flags_follow_the_aws_cli_rules() {
    // REFERENCE.md: "the two forms exclude each other ("Parameter --local-export-path can not be
    // specified with parameter --s3-bucket nor --s3-prefix."); one of them is required
    // ("Require parameter --s3-bucket or --local-export-path.")".
    let both = "trailproof: error: Parameter --local-export-path can not be specified with parameter --s3-bucket nor --s3-prefix.\n";
    let none = "trailproof: error: Require parameter --s3-bucket or --local-export-path.\n";
    for (args, want) in [
        (&["--local-export-path", "d", "--s3-bucket", "b"][..], both),
        (&["--local-export-path", "d", "--s3-prefix", "p"], both),
        (&[], none),
        (&["--s3-prefix", "p"], none),
    ] {
        let got = run(trailproof().args(args));
        assert_eq!(got, (String::new(), want.to_owned(), 2), "{args:?}");
    }
}

#[test]
fn a_folder_without_a_sign_file_cannot_be_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let s = &scenarios(&QueryResultsBuilder::new())[0];
    let keys = write_keys(tmp.path(), s);
    let got = run(trailproof()
        .arg("--local-export-path")
        .arg(tmp.path())
        .args(["--public-keys", &keys]));
    assert_eq!(
        got,
        (
            String::new(),
            format!(
                "trailproof: error: {}: not found\n",
                tmp.path().join(SIGN_FILE).display()
            ),
            2
        )
    );
}

/// Every scenario in S3, each under its own prefix; keys from the local CloudTrail endpoint.
#[test]
fn every_scenario_from_the_local_s3_server() {
    let h = Harness::start(1);
    let ctx = h.context(&test_options());
    let count = scenarios(&QueryResultsBuilder::new()).len();
    let mut failures = Vec::new();
    let mut published = false;
    for i in 0..count {
        let base = QueryResultsBuilder::new()
            .bucket("lqb")
            .prefix(&format!("s{i}"));
        let s = scenarios(&base).swap_remove(i);
        h.upload_archive(&ctx, &s.results.archive);
        if !published {
            let doc: Value = serde_json::from_str(&s.results.public_keys_json()).unwrap();
            h.cloudtrail
                .state
                .keys
                .lock()
                .unwrap()
                .extend(doc["PublicKeyList"].as_array().unwrap().iter().cloned());
            published = true;
        }
        let home = tempfile::tempdir().unwrap();
        let mut cmd = trailproof();
        // The AWS CLI appends the '/' to the prefix; give it without.
        cmd.args([
            "--s3-bucket",
            "lqb",
            "--s3-prefix",
            s.results.folder().trim_end_matches('/'),
        ]);
        h.point_at(&mut cmd, home.path());
        let got = run(&mut cmd);
        let folder = s.results.folder().to_owned();
        let want = expected(&s, &|name| format!("s3://lqb/{folder}{name}"));
        if got != want {
            failures.push(format!("{}:\n got {got:?}\nwant {want:?}", s.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Keys were listed over [queryCompleteTime, +20 days] in the sign file's region, every page.
    let calls = h.cloudtrail.state.calls_to("ListPublicKeys");
    assert!(
        calls.iter().any(|c| c.get("NextToken").is_some()),
        "{calls:?}"
    );
    let first = &calls[0];
    let start = first["StartTime"].as_f64().unwrap();
    let end = first["EndTime"].as_f64().unwrap();
    assert_eq!(end - start, 20.0 * 86_400.0);
}

#[test]
fn china_partition_query_results_from_s3() {
    let h = Harness::start(100);
    let ctx = h.context(&test_options());
    let r = QueryResultsBuilder::new()
        .region("cn-north-1")
        .bucket("cnlq")
        .build();
    h.upload_archive(&ctx, &r.archive);
    let doc: Value = serde_json::from_str(&r.public_keys_json()).unwrap();
    h.cloudtrail
        .state
        .keys
        .lock()
        .unwrap()
        .extend(doc["PublicKeyList"].as_array().unwrap().iter().cloned());
    let home = tempfile::tempdir().unwrap();
    let mut cmd = trailproof();
    cmd.args([
        "--s3-bucket",
        "cnlq",
        "--s3-prefix",
        r.folder(),
        "--region",
        "cn-north-1",
        "--format",
        "json",
    ]);
    h.point_at(&mut cmd, home.path());
    let (stdout, stderr, code) = run(&mut cmd);
    assert_eq!((stderr.as_str(), code), ("", 0), "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["verdict"], "valid");
    assert_eq!(v["public_key"]["region"], "cn-north-1");
    assert_eq!(v["public_key"]["source"], "ListPublicKeys");
}

#[test]
fn a_china_trail_validates_live() {
    // One trail of the aws-cn partition end to end: DescribeTrails with its arn:aws-cn ARN,
    // ListPublicKeys in cn-north-1, digests and logs from S3; the same output as the offline
    // check of the same objects.
    let trail = TrailBuilder::new()
        .partition("aws-cn")
        .home_region("cn-north-1")
        .regions(&["cn-north-1"])
        .bucket("cntb")
        .trail_name("t")
        .hours(3)
        .build();
    let arn = trail.trail_arn();
    assert!(
        arn.starts_with("arn:aws-cn:cloudtrail:cn-north-1:"),
        "{arn}"
    );
    let h = Harness::start(1);
    h.cloudtrail.serve_trail(&trail);
    h.upload(&h.context(&test_options()), &trail);
    let range = [
        "--trail-arn",
        arn.as_str(),
        "--start-time",
        "2024-03-01T00:00:00Z",
        "--end-time",
        "2024-03-01T03:00:00Z",
    ];
    let home = tempfile::tempdir().unwrap();
    let mut live = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    live.arg("validate")
        .args(range)
        .args(["--region", "cn-north-1"]);
    h.point_at(&mut live, home.path());
    let live = run(&mut live);

    let archive = home.path().join("archive");
    trail.archive.write_bucket("cntb", &archive).unwrap();
    let keys = home.path().join("keys.json");
    std::fs::write(&keys, trail.archive.public_keys_json()).unwrap();
    let offline = run(Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .arg("validate")
        .args(range)
        .arg("--archive")
        .arg(&archive)
        .arg("--public-keys")
        .arg(&keys));
    assert_eq!(live.2, 0, "{live:?}");
    // The same report but for the line naming where the keys came from.
    let keys_line = |out: &str| trailproof_testkit::split_keys_line(out).1.pop();
    let without_keys = |out: &str| trailproof_testkit::split_keys_line(out).0;
    assert!(
        keys_line(&live.0).is_some_and(|l| l.contains("CloudTrail ListPublicKeys")),
        "{}",
        live.0
    );
    assert!(
        keys_line(&offline.0).is_some_and(|l| l.contains("keys.json")),
        "{}",
        offline.0
    );
    assert_eq!(
        (without_keys(&live.0), &live.1, live.2),
        (without_keys(&offline.0), &offline.1, offline.2)
    );
    assert!(
        live.0
            .starts_with(&format!("Validating log files for trail {arn} between ")),
        "{}",
        live.0
    );
    assert!(live.0.contains("3/3 digest files valid"), "{}", live.0);
    assert_eq!(h.cloudtrail.state.calls_to("DescribeTrails").len(), 1);
}

/// A program embedding the command (the Python package) cancels a check with its hooks, as it
/// does a validation: the run fails `Cancelled` and gives no report; progress counts result files.
#[test]
fn an_embedding_program_can_cancel_a_check_and_follow_it() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    let results = QueryResultsBuilder::new().files(5).build();
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("results");
    std::fs::create_dir_all(&folder).unwrap();
    results.write_folder(&folder).unwrap();
    let keys = dir.path().join("keys.json");
    std::fs::write(&keys, results.public_keys_json()).unwrap();
    let report = dir.path().join("report.json");
    let cli = || {
        trailproof_cli::parse([
            "trailproof".to_owned(),
            "verify-query-results".to_owned(),
            "--local-export-path".to_owned(),
            folder.display().to_string(),
            "--public-keys".to_owned(),
            keys.display().to_string(),
            "--output".to_owned(),
            report.display().to_string(),
        ])
        .unwrap()
    };
    let cancel = Arc::new(AtomicBool::new(true));
    let hooks = trailproof_cli::Hooks::new().cancel(cancel.clone());
    let e = trailproof_cli::run_with(cli(), hooks).unwrap_err();
    assert!(matches!(e, trailproof::Error::Cancelled), "{e}");
    assert!(!report.exists(), "no report from a cancelled check");

    #[derive(Default)]
    struct Files(AtomicU64, AtomicU64);
    impl trailproof::Progress for Files {
        fn logs_queued(&self, n: u64) {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
        fn log_checked(&self, _bytes: u64) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }
    let files = Arc::new(Files::default());
    cancel.store(false, Ordering::Relaxed);
    let hooks = trailproof_cli::Hooks::new()
        .cancel(cancel)
        .progress(files.clone());
    assert_eq!(trailproof_cli::run_with(cli(), hooks).unwrap(), 0);
    assert!(report.exists());
    assert_eq!(files.0.load(Ordering::Relaxed), 5);
    assert_eq!(files.1.load(Ordering::Relaxed), 5);
}
