//! `trailproof watch` end to end, with real parts: a testkit trail uploaded hour by hour to the
//! local S3 server (an S3 event notification written for every object put), the CloudTrail
//! endpoint for the keys, and moto's server for SQS. The built binary is run as a user would.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::Utc;
use serde_json::{json, Value};
use trailproof::events;
use trailproof_testkit::{fmt_time, Archive, DigestInfo, Trail, TrailBuilder};
use trailproof_testserver::{test_options, Alerts, Harness, Moto, ACCESS_KEY, REGION, SECRET_KEY};

const BUCKET: &str = "tpb";
const HOURS: u32 = 6;

fn recent(hours: u32) -> TrailBuilder {
    TrailBuilder::new().bucket(BUCKET).recent_hours(hours)
}

fn trail() -> Trail {
    recent(HOURS).build()
}

fn digests(trail: &Trail) -> Vec<DigestInfo> {
    trail.digests_in(REGION).into_iter().cloned().collect()
}

/// An S3 event notification of one object, as S3 sends it (the key URL-encoded).
fn notification(bucket: &str, key: &str) -> String {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "trail",
               "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": events::encode_key(key), "size": 1, "eTag": "0", "sequencer": "0"}}
    }]})
    .to_string()
}

/// What a delivery hour by hour gives: the servers holding the trail, and per digest (oldest
/// first) the notifications of its log files then of itself.
struct Delivered {
    h: Harness,
    trail: Trail,
    /// Per digest: the lines of its hour.
    hours: Vec<Vec<String>>,
    /// Per digest: the line of the digest itself.
    digest_lines: Vec<String>,
}

/// Starts the servers and puts `trail` hour by hour: each digest's log files, then the digest,
/// writing a notification per object put.
fn deliver(trail: Trail) -> Delivered {
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    let ctx = h.context(&test_options());
    let mut hours = Vec::new();
    let mut digest_lines = Vec::new();
    let mut left = trail.archive.objects.clone();
    for d in digests(&trail) {
        let mut hour = Archive::default();
        let mut lines = Vec::new();
        for key in d.log_keys.iter().chain([&d.key]) {
            let id = (d.bucket.clone(), key.clone());
            if let Some(object) = left.remove(&id) {
                hour.objects.insert(id, object);
                lines.push(notification(&d.bucket, key));
            }
        }
        h.upload_archive(&ctx, &hour);
        digest_lines.push(lines.last().cloned().unwrap());
        hours.push(lines);
    }
    // Anything else of the archive (nothing in these trails but what the digests list).
    let rest = Archive {
        objects: left,
        public_keys: Vec::new(),
    };
    h.upload_archive(&ctx, &rest);
    Delivered {
        h,
        trail,
        hours,
        digest_lines,
    }
}

fn write_events(dir: &Path, name: &str, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn watch(d: &Delivered, home: &Path, state: &Path, source: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    cmd.args([
        "watch",
        "--trail-arn",
        &d.trail.trail_arn(),
        "--start-time",
        &fmt_time(d.trail.start()),
        "--region",
        REGION,
        "--once",
        "--state",
    ])
    .arg(state)
    .args(source);
    d.h.point_at(&mut cmd, home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::of(cmd.output().unwrap())
}

/// A run's status and its JSON lines.
struct Run {
    code: Option<i32>,
    lines: Vec<Value>,
    text: String,
}

impl Run {
    fn of(out: Output) -> Run {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let text = format!(
            "status {:?}\n--- stdout\n{stdout}--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{text}")))
            .collect();
        Run {
            code: out.status.code(),
            lines,
            text,
        }
    }

    fn of_type(&self, kind: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["type"] == kind).collect()
    }

    /// `(digest key, verdict)` of each digest line, in order.
    fn verdicts(&self) -> Vec<(String, String)> {
        self.of_type("digest")
            .iter()
            .map(|l| {
                (
                    l["digest_key"].as_str().unwrap().to_owned(),
                    l["verdict"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }
}

fn head_key(state: &Path) -> String {
    let doc: Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    let chains = doc["chains"].as_object().unwrap();
    assert_eq!(chains.len(), 1, "{doc}");
    chains.values().next().unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn watch_from_a_file_verifies_each_digest_once_in_any_order() {
    let d = deliver(trail());
    let keys: Vec<String> = digests(&d.trail).into_iter().map(|x| x.key).collect();
    assert_eq!(keys.len(), HOURS as usize);
    let home = tempfile::tempdir().unwrap();
    let all: Vec<String> = d.hours.concat();
    let events = write_events(home.path(), "events.jsonl", &all);

    // Hour by hour, in order: one valid line per digest, the head at the newest.
    let state = home.path().join("heads.json");
    let run = watch(
        &d,
        home.path(),
        &state,
        &["--from-file", events.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.text);
    let expected: Vec<(String, String)> = keys
        .iter()
        .map(|k| (k.clone(), "valid".to_owned()))
        .collect();
    assert_eq!(run.verdicts(), expected, "{}", run.text);
    for line in run.of_type("digest") {
        assert_eq!(line["findings"], json!([]), "{line}");
        assert!(line["log_files_checked"].as_u64().unwrap() > 0, "{line}");
        assert!(line["latency_seconds"].is_number(), "{line}");
        assert_eq!(line["head"], line["digest_key"], "{line}");
    }
    assert!(run.of_type("finding").is_empty(), "{}", run.text);
    let summary = run.of_type("summary");
    assert_eq!(summary.len(), 1, "{}", run.text);
    assert_eq!(summary[0]["digests"], HOURS, "{}", run.text);
    assert!(summary[0]["log_file_events"].as_u64().unwrap() > 0);
    assert_eq!(head_key(&state), keys[keys.len() - 1]);
    let heads = std::fs::read(&state).unwrap();

    // The same file again: only duplicates, the head file untouched.
    let again = watch(
        &d,
        home.path(),
        &state,
        &["--from-file", events.to_str().unwrap()],
        &[],
    );
    assert_eq!(again.code, Some(0), "{}", again.text);
    assert!(again.verdicts().is_empty(), "{}", again.text);
    assert_eq!(
        again.of_type("duplicate").len(),
        HOURS as usize,
        "{}",
        again.text
    );
    assert_eq!(std::fs::read(&state).unwrap(), heads);

    // Duplicated and reordered digest events, on a fresh head store: a digest newer than the
    // head by more than one link brings the links in between (verified, counted); what is at
    // or before the head is a duplicate; the heads end where the ordered run left them.
    let l = &d.digest_lines;
    let shuffled = [
        &l[0], &l[2], &l[1], &l[1], &l[3], &l[5], &l[4], &l[5], &l[0],
    ];
    let events = write_events(
        home.path(),
        "shuffled.jsonl",
        &shuffled.iter().map(|s| (*s).clone()).collect::<Vec<_>>(),
    );
    let state2 = home.path().join("heads2.json");
    let run = watch(
        &d,
        home.path(),
        &state2,
        &["--from-file", events.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.text);
    let valid: Vec<(String, String)> = [0, 2, 3, 5]
        .iter()
        .map(|&i| (keys[i].clone(), "valid".to_owned()))
        .collect();
    assert_eq!(run.verdicts(), valid, "{}", run.text);
    let checked: Vec<u64> = run
        .of_type("digest")
        .iter()
        .map(|l| l["digests_checked"].as_u64().unwrap())
        .collect();
    assert_eq!(checked, [1, 2, 1, 2], "{}", run.text);
    let dups: Vec<&str> = run
        .of_type("duplicate")
        .iter()
        .map(|l| l["digest_key"].as_str().unwrap())
        .collect();
    assert_eq!(
        dups,
        [&keys[1], &keys[1], &keys[4], &keys[5], &keys[0]],
        "{}",
        run.text
    );
    assert_eq!(std::fs::read(&state2).unwrap(), heads);
}

#[test]
fn watch_reports_a_tampered_log_and_keeps_the_head() {
    let mut trail = trail();
    let ds = digests(&trail);
    let log = ds[3].log_keys[0].clone();
    trail.archive.modify_log(BUCKET, &log);
    let d = deliver(trail);
    let home = tempfile::tempdir().unwrap();
    let events = write_events(home.path(), "events.jsonl", &d.hours.concat());
    let state = home.path().join("heads.json");
    let run = watch(
        &d,
        home.path(),
        &state,
        &["--from-file", events.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.text);
    let verdicts = run.verdicts();
    let got: Vec<&str> = verdicts.iter().map(|(_, v)| v.as_str()).collect();
    // The later digests are checked from the same head again: still invalid.
    assert_eq!(
        got,
        ["valid", "valid", "valid", "invalid", "invalid", "invalid"],
        "{}",
        run.text
    );
    let line = &run.of_type("digest")[3];
    let findings = line["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.as_str().unwrap().contains(&log) && f.as_str().unwrap().contains("INVALID")),
        "{line}"
    );
    assert!(
        run.of_type("finding")
            .iter()
            .any(|f| f["digest_key"] == ds[3].key.as_str()
                && f["message"].as_str().unwrap().contains(&log)),
        "{}",
        run.text
    );
    assert_eq!(head_key(&state), ds[2].key);
}

#[test]
fn watch_reports_a_digest_deleted_between_events() {
    let d = deliver(trail());
    let ds = digests(&d.trail);
    // Deleted after its notification was sent, before the watcher reads it.
    let ctx = d.h.context(&test_options());
    d.h.rt
        .block_on(trailproof_aws::delete_object(&ctx, BUCKET, &ds[3].key))
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let events = write_events(home.path(), "events.jsonl", &d.hours.concat());
    let state = home.path().join("heads.json");
    let run = watch(
        &d,
        home.path(),
        &state,
        &["--from-file", events.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.text);
    let verdicts = run.verdicts();
    assert_eq!(verdicts.len(), HOURS as usize, "{}", run.text);
    assert_eq!(verdicts[2], (ds[2].key.clone(), "valid".to_owned()));
    assert_eq!(verdicts[3], (ds[3].key.clone(), "invalid".to_owned()));
    // The digest announced is gone: the chain stops at the head (TAIL MISSING; with a digest
    // delivered less than two hours ago, NOT FOUND); the next one links to a digest that is
    // not there.
    let gone = run.of_type("digest")[3]["findings"].to_string();
    assert!(
        gone.contains("TAIL MISSING") && gone.contains(&ds[2].key),
        "{gone}"
    );
    let next = run.of_type("digest")[4];
    assert_eq!(next["verdict"], "invalid", "{}", run.text);
    assert!(
        next["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().contains(&ds[3].key)),
        "{next}"
    );
    assert_eq!(head_key(&state), ds[2].key);
}

/// moto's server with a queue holding the notifications of `d` (with `logs`, those of the log
/// files too), the digests' sent twice (at least once delivery): the server, a client, the
/// queue's URL, the bodies sent.
fn queue_with_events(
    d: &Delivered,
    logs: bool,
) -> (Moto, aws_sdk_sqs::Client, String, Vec<String>) {
    let moto = Moto::start();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new(REGION))
            .endpoint_url(&moto.url)
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "tests",
            ))
            .build(),
    );
    let mut bodies = if logs {
        d.hours.concat()
    } else {
        d.digest_lines.clone()
    };
    bodies.extend(d.digest_lines.iter().cloned());
    let url = d.h.rt.block_on(async {
        let url = sqs
            .create_queue()
            .queue_name("trail-events")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        for body in &bodies {
            sqs.send_message()
                .queue_url(&url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
        url
    });
    (moto, sqs, url, bodies)
}

/// Every digest valid once (directly, or as a link a newer one brought in), every other digest
/// event a duplicate, the head at the newest digest, and no message left on the queue.
fn check_queue_run(d: &Delivered, run: &Run, state: &Path, sqs: &aws_sdk_sqs::Client, url: &str) {
    let keys: Vec<String> = digests(&d.trail).into_iter().map(|x| x.key).collect();
    let lines = run.of_type("digest");
    assert!(
        lines.iter().all(|l| l["verdict"] == "valid"),
        "{}",
        run.text
    );
    let checked: u64 = lines
        .iter()
        .map(|l| l["digests_checked"].as_u64().unwrap())
        .sum();
    assert_eq!(checked, HOURS as u64, "{}", run.text);
    assert_eq!(
        lines.len() + run.of_type("duplicate").len(),
        2 * HOURS as usize,
        "{}",
        run.text
    );
    assert_eq!(head_key(state), keys[keys.len() - 1]);
    // Every message deleted: none visible, none in flight.
    let attributes = d.h.rt.block_on(async {
        sqs.get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap()
    });
    let attributes = attributes.attributes.unwrap();
    for name in [
        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
        aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ] {
        assert_eq!(
            attributes.get(&name).map(String::as_str),
            Some("0"),
            "{name:?}"
        );
    }
}

#[test]
fn watch_from_sqs_deletes_each_message_once_recorded() {
    let d = deliver(trail());
    let (moto, sqs, url, bodies) = queue_with_events(&d, true);
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("heads.json");
    let run = watch(
        &d,
        home.path(),
        &state,
        &["--from-sqs", &url],
        &[("AWS_ENDPOINT_URL_SQS", &moto.url)],
    );
    assert_eq!(run.code, Some(0), "{}", run.text);
    // SQS does not keep order: see check_queue_run.
    check_queue_run(&d, &run, &state, &sqs, &url);
    assert_eq!(
        run.of_type("summary")[0]["messages"],
        bodies.len(),
        "{}",
        run.text
    );
}

#[test]
fn watch_runs_until_sigterm_and_loses_no_message() {
    let d = deliver(trail());
    // Digest notifications only: each message has a line, so once every line is read, every
    // message is in hand or done.
    let (moto, sqs, url, bodies) = queue_with_events(&d, false);
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("heads.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    cmd.args([
        "watch",
        "--trail-arn",
        &d.trail.trail_arn(),
        "--start-time",
        &fmt_time(d.trail.start()),
        "--region",
        REGION,
        "--from-sqs",
        &url,
        "--state",
    ])
    .arg(&state);
    d.h.point_at(&mut cmd, home.path());
    let mut child = cmd
        .env("AWS_ENDPOINT_URL_SQS", &moto.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Without --once it keeps polling: read until every digest event has its line.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut results = 0;
    while results < 2 * HOURS as usize {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "{}",
            seen.join("")
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["type"] == "digest" || v["type"] == "duplicate" {
            results += 1;
        }
        seen.push(line);
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let text = seen.concat() + &rest;
    let run = Run::of(Output {
        status: out.status,
        stdout: text.into_bytes(),
        stderr: out.stderr,
    });
    // Ended by the signal, cleanly, with the worst result's status and its summary.
    assert_eq!(run.code, Some(0), "{}", run.text);
    let summary = run.of_type("summary");
    assert_eq!(summary.len(), 1, "{}", run.text);
    assert_eq!(summary[0]["messages"], bodies.len(), "{}", run.text);
    check_queue_run(&d, &run, &state, &sqs, &url);
}

#[test]
fn watch_finds_a_log_file_added_to_the_bucket() {
    let mut trail = trail();
    let ds = digests(&trail);
    // A copy of a genuine log file under a new name, in the middle of hour 3.
    let body = trail
        .archive
        .get(BUCKET, &ds[3].log_keys[0])
        .unwrap()
        .clone();
    let at = ds[3].start + chrono::Duration::minutes(20);
    let injected = format!(
        "AWSLogs/111122223333/CloudTrail/us-east-1/{}/111122223333_CloudTrail_us-east-1_{}_Injected00000000.json.gz",
        at.format("%Y/%m/%d"),
        at.format("%Y%m%dT%H%MZ")
    );
    trail
        .archive
        .objects
        .insert((BUCKET.to_owned(), injected.clone()), body);
    let d = deliver(trail);
    let home = tempfile::tempdir().unwrap();
    let events = write_events(home.path(), "events.jsonl", &d.hours.concat());
    let state = home.path().join("heads.json");
    let run = watch(
        &d,
        home.path(),
        &state,
        &["--from-file", events.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.text);
    let verdicts = run.verdicts();
    assert_eq!(
        verdicts[2],
        (ds[2].key.clone(), "valid".to_owned()),
        "{}",
        run.text
    );
    assert_eq!(
        verdicts[3],
        (ds[3].key.clone(), "invalid".to_owned()),
        "{}",
        run.text
    );
    let findings = run.of_type("digest")[3]["findings"].to_string();
    assert!(
        findings.contains(&injected) && findings.contains("UNREFERENCED"),
        "{findings}"
    );
    assert_eq!(head_key(&state), ds[2].key);
}

#[test]
fn watch_keeps_heads_in_s3() {
    let d = deliver(trail());
    let keys: Vec<String> = digests(&d.trail).into_iter().map(|x| x.key).collect();
    let ctx = d.h.context(&test_options());
    d.h.rt.block_on(async {
        ctx.s3_client(REGION)
            .create_bucket()
            .bucket("tph")
            .send()
            .await
            .unwrap();
    });
    let home = tempfile::tempdir().unwrap();
    let events = write_events(home.path(), "events.jsonl", &d.hours.concat());
    let state = Path::new("s3://tph/watch/heads.json");
    let source = ["--from-file", events.to_str().unwrap()];
    let run = watch(&d, home.path(), state, &source, &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.verdicts().len(), HOURS as usize, "{}", run.text);
    let stored = trailproof_aws::S3HeadStore::new(
        &ctx,
        d.h.rt.handle().clone(),
        "tph",
        "watch/heads.json",
        &d.trail.trail_arn(),
    )
    .unwrap();
    let read = d.h.rt.block_on(stored.read_async()).unwrap();
    assert_eq!(read.state.heads.len(), 1);
    assert_eq!(
        read.state.heads.values().next().unwrap().key,
        keys[keys.len() - 1]
    );
    // A second worker over the same events: duplicates only, the object unchanged.
    let again = watch(&d, home.path(), state, &source, &[]);
    assert_eq!(again.code, Some(0), "{}", again.text);
    assert!(again.verdicts().is_empty(), "{}", again.text);
    assert_eq!(again.of_type("duplicate").len(), HOURS as usize);
    assert_eq!(d.h.rt.block_on(stored.read_async()).unwrap(), read);
}

#[test]
fn watch_publishes_what_is_not_valid_to_sns() {
    let mut trail = trail();
    let ds = digests(&trail);
    trail.archive.modify_log(BUCKET, &ds[4].log_keys[0]);
    let d = deliver(trail);
    // moto serves SNS too: a queue subscribed to the topic receives the alerts.
    let alerts = Alerts::start(&d.h.rt);
    let home = tempfile::tempdir().unwrap();
    let events = write_events(home.path(), "events.jsonl", &d.hours.concat());
    let state = home.path().join("heads.json");
    let run = watch(
        &d,
        home.path(),
        &state,
        &[
            "--from-file",
            events.to_str().unwrap(),
            "--alert-sns-topic",
            &alerts.topic_arn,
        ],
        &[("AWS_ENDPOINT_URL_SNS", &alerts.moto.url)],
    );
    assert_eq!(run.code, Some(1), "{}", run.text);
    // Digests 4 and 5 are invalid (5 is checked from the same head): two alerts, each the
    // digest's line in SNS's envelope; then the sweep that ends the run, from the same head.
    let mut alerted = Vec::new();
    let mut swept = Vec::new();
    let published = alerts.read(&d.h.rt, 3);
    assert_eq!(published.len(), 3, "alerts: {published:?}\n{}", run.text);
    for (subject, line) in published {
        assert_eq!(line["verdict"], "invalid", "{line}");
        if line["type"] == "sweep" {
            assert_eq!(subject, "trailproof: invalid sweep");
            swept.push(line["head_after"].as_str().unwrap().to_owned());
            continue;
        }
        assert_eq!(subject, "trailproof: invalid digest");
        alerted.push(line["digest_key"].as_str().unwrap().to_owned());
    }
    alerted.sort();
    assert_eq!(alerted, [ds[4].key.clone(), ds[5].key.clone()]);
    assert_eq!(swept, [ds[3].key.clone()]);
}

#[test]
fn watch_follows_the_chains_the_selection_names() {
    let trail = recent(3).regions(&["us-east-1", "us-west-2"]).build();
    let h = Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    h.upload(&h.context(&test_options()), &trail);
    let lines: Vec<String> = trail
        .digests
        .iter()
        .filter(|x| !x.backfill)
        .map(|x| notification(&x.bucket, &x.key))
        .collect();
    let d = Delivered {
        h,
        trail,
        hours: Vec::new(),
        digest_lines: lines,
    };
    let home = tempfile::tempdir().unwrap();
    let events = write_events(home.path(), "events.jsonl", &d.digest_lines);
    let source = ["--from-file", events.to_str().unwrap()];

    // The trail's home region only: the other chain's digests are counted, not checked.
    let state = home.path().join("one.json");
    let run = watch(&d, home.path(), &state, &source, &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.verdicts().len(), 3, "{}", run.text);
    assert_eq!(run.of_type("summary")[0]["other_events"], 3, "{}", run.text);
    assert!(run
        .verdicts()
        .iter()
        .all(|(k, _)| k.contains("/us-east-1/")));
    // The sweep that ends the run: that chain only.
    assert_eq!(run.of_type("sweep").len(), 1, "{}", run.text);
    assert_eq!(sweep_line(&run, "us-east-1")["verdict"], "valid");

    // Every region: both chains, each with its own head.
    let state = home.path().join("all.json");
    let mut all = source.to_vec();
    all.push("--all-regions");
    let run = watch(&d, home.path(), &state, &all, &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.verdicts().len(), 6, "{}", run.text);
    // Both chains found by discovery are swept.
    assert_eq!(run.of_type("sweep").len(), 2, "{}", run.text);
    for region in ["us-east-1", "us-west-2"] {
        assert_eq!(sweep_line(&run, region)["verdict"], "valid", "{}", run.text);
    }
    let doc: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let chains: Vec<&String> = doc["chains"].as_object().unwrap().keys().collect();
    assert_eq!(
        chains,
        [
            "s3://tpb/AWSLogs/111122223333/CloudTrail-Digest/us-east-1",
            "s3://tpb/AWSLogs/111122223333/CloudTrail-Digest/us-west-2"
        ],
        "{doc}"
    );

    // Named: only us-west-2.
    let state = home.path().join("west.json");
    let mut west = source.to_vec();
    west.extend(["--regions", "us-west-2"]);
    let run = watch(&d, home.path(), &state, &west, &[]);
    assert_eq!(run.code, Some(0), "{}", run.text);
    assert_eq!(run.verdicts().len(), 3, "{}", run.text);
    assert!(run
        .verdicts()
        .iter()
        .all(|(k, _)| k.contains("/us-west-2/")));
    assert_eq!(run.of_type("sweep").len(), 1, "{}", run.text);
    assert_eq!(sweep_line(&run, "us-west-2")["verdict"], "valid");
}

/// The sweep line of `chain`'s region (the run's only one for the region).
fn sweep_line<'a>(run: &'a Run, region: &str) -> &'a Value {
    let lines: Vec<&Value> = run
        .of_type("sweep")
        .into_iter()
        .filter(|l| {
            l["chain"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{region}"))
        })
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.text);
    lines[0]
}

#[test]
fn watch_sweep_verifies_digests_whose_events_never_came() {
    let d = deliver(trail());
    let keys: Vec<String> = digests(&d.trail).into_iter().map(|x| x.key).collect();
    let home = tempfile::tempdir().unwrap();
    // Every hour is in the bucket, but only hours 0–3 were announced.
    let events = write_events(home.path(), "events.jsonl", &d.hours[..4].concat());
    let state = home.path().join("heads.json");
    let run = watch(
        &d,
        home.path(),
        &state,
        &["--from-file", events.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.text);
    // Hours 0–3 from their events, then 4 and 5 from the sweep that ends the run.
    let expected: Vec<(String, String)> = keys
        .iter()
        .map(|k| (k.clone(), "valid".to_owned()))
        .collect();
    assert_eq!(run.verdicts(), expected, "{}", run.text);
    let digest_lines = run.of_type("digest");
    for line in &digest_lines[4..] {
        assert_eq!(line["source"], "sweep", "{line}");
        assert!(line["log_files_checked"].as_u64().unwrap() > 0, "{line}");
        assert_eq!(line["head"], keys[5].as_str(), "{line}");
    }
    let sweep = sweep_line(&run, REGION);
    assert_eq!(sweep["verdict"], "valid", "{sweep}");
    assert_eq!(sweep["head_before"], keys[3].as_str(), "{sweep}");
    assert_eq!(sweep["head_after"], keys[5].as_str(), "{sweep}");
    assert_eq!(sweep["findings"], json!([]), "{sweep}");
    assert!(run.of_type("finding").is_empty(), "{}", run.text);
    assert_eq!(head_key(&state), keys[5]);

    // Run again with no event at all: the sweep finds nothing new, the head stays.
    let empty = write_events(home.path(), "empty.jsonl", &[]);
    let again = watch(
        &d,
        home.path(),
        &state,
        &["--from-file", empty.to_str().unwrap()],
        &[],
    );
    assert_eq!(again.code, Some(0), "{}", again.text);
    assert!(again.verdicts().is_empty(), "{}", again.text);
    let sweep = sweep_line(&again, REGION);
    assert_eq!(sweep["verdict"], "valid", "{sweep}");
    assert_eq!(sweep["head_before"], keys[5].as_str(), "{sweep}");
    assert_eq!(sweep["head_after"], keys[5].as_str(), "{sweep}");
    assert_eq!(head_key(&state), keys[5]);
}

#[test]
fn watch_sweep_reports_a_chain_that_stopped_delivering() {
    // Testkit's default start (2024-03-01): the real clock is far past the last digest.
    let d = deliver(TrailBuilder::new().bucket(BUCKET).hours(3).build());
    let keys: Vec<String> = digests(&d.trail).into_iter().map(|x| x.key).collect();
    let home = tempfile::tempdir().unwrap();
    let events = write_events(home.path(), "events.jsonl", &d.hours.concat());
    let state = home.path().join("heads.json");
    let run = watch(
        &d,
        home.path(),
        &state,
        &["--from-file", events.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(1), "{}", run.text);
    // Each digest is valid as it comes; the chain's silence after the last one is not.
    assert!(
        run.verdicts().iter().all(|(_, v)| v == "valid"),
        "{}",
        run.text
    );
    assert_eq!(run.verdicts().len(), 3, "{}", run.text);
    let sweep = sweep_line(&run, REGION);
    assert_eq!(sweep["verdict"], "invalid", "{sweep}");
    assert_eq!(sweep["head_before"], keys[2].as_str(), "{sweep}");
    assert_eq!(sweep["head_after"], keys[2].as_str(), "{sweep}");
    let findings = sweep["findings"].to_string();
    assert!(
        findings.contains("TAIL MISSING") && findings.contains(&keys[2]),
        "{findings}"
    );
    assert!(
        run.of_type("finding")
            .iter()
            .any(|f| f["verdict"] == "invalid"
                && f["digest_key"].is_null()
                && f["message"].as_str().unwrap().contains("TAIL MISSING")),
        "{}",
        run.text
    );
    assert_eq!(
        run.of_type("summary")[0]["verdict"],
        "invalid",
        "{}",
        run.text
    );
    assert_eq!(head_key(&state), keys[2]);
}

#[test]
fn watch_sweep_accepts_a_signed_stop() {
    // StopLogging at the end of hour 2 (in a log file hour 2's digest signs), no digest after.
    let d = deliver(
        TrailBuilder::new()
            .bucket(BUCKET)
            .hours(4)
            .stop_event("StopLogging", 3, 4)
            .build(),
    );
    let keys: Vec<String> = digests(&d.trail).into_iter().map(|x| x.key).collect();
    assert_eq!(keys.len(), 3);
    let home = tempfile::tempdir().unwrap();
    let events = write_events(home.path(), "events.jsonl", &d.hours.concat());
    let state = home.path().join("heads.json");
    let run = watch(
        &d,
        home.path(),
        &state,
        &["--from-file", events.to_str().unwrap()],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.text);
    let sweep = sweep_line(&run, REGION);
    assert_eq!(sweep["verdict"], "valid", "{sweep}");
    assert_eq!(sweep["findings"], json!([]), "{sweep}");
    let notes = sweep["notes"].to_string();
    assert!(
        notes.contains("LOGGING STOPPED") && notes.contains("StopLogging"),
        "{sweep}"
    );
    assert_eq!(head_key(&state), keys[2]);
}

#[test]
fn sweep_interval_takes_seconds_minutes_hours_or_days() {
    use std::time::Duration;
    use trailproof_run::parse_duration;
    for (text, secs) in [
        ("3600s", 3600),
        ("30m", 1800),
        ("1h", 3600),
        ("2d", 172_800),
    ] {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_secs(secs)),
            "{text}"
        );
    }
    for bad in [
        "",
        "1",
        "h",
        "0m",
        "1.5h",
        "-1h",
        "1 h",
        "1w",
        "99999999999999999999s",
    ] {
        let e = parse_duration(bad).unwrap_err();
        assert!(e.to_string().contains("e.g. 3600s, 30m, 1h"), "{bad}: {e}");
    }
    // The command refuses a bad value before doing anything.
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args([
            "watch",
            "--trail-arn",
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
            "--start-time",
            "2024-03-01T00:00:00Z",
            "--state",
            "heads.json",
            "--from-file",
            "-",
            "--sweep-interval",
            "0s",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--sweep-interval"), "{stderr}");
}

#[test]
fn watch_from_sqs_sweeps_between_receives() {
    let d = deliver(trail());
    let keys: Vec<String> = digests(&d.trail).into_iter().map(|x| x.key).collect();
    let moto = Moto::start();
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new(REGION))
            .endpoint_url(&moto.url)
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                ACCESS_KEY, SECRET_KEY, None, None, "tests",
            ))
            .build(),
    );
    // Only hours 0–3 are announced; 4 and 5 are in the bucket all the same.
    let url = d.h.rt.block_on(async {
        let url = sqs
            .create_queue()
            .queue_name("trail-events")
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        for body in &d.digest_lines[..4] {
            sqs.send_message()
                .queue_url(&url)
                .message_body(body)
                .send()
                .await
                .unwrap();
        }
        url
    });
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("heads.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    cmd.args([
        "watch",
        "--trail-arn",
        &d.trail.trail_arn(),
        "--start-time",
        &fmt_time(d.trail.start()),
        "--region",
        REGION,
        "--from-sqs",
        &url,
        "--sweep-interval",
        "1s",
        "--state",
    ])
    .arg(&state);
    d.h.point_at(&mut cmd, home.path());
    let mut child = cmd
        .env("AWS_ENDPOINT_URL_SQS", &moto.url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    // A watchdog, so that a sweep that never comes fails the test instead of hanging it.
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let guard = {
        let pid = pid.clone();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                done.recv_timeout(std::time::Duration::from_secs(300))
            {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        })
    };
    // Read until a sweep has brought the head to the newest digest.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "ended before a sweep reached the newest digest:\n{}",
            seen.join("")
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        seen.push(line);
        if v["type"] == "sweep" && v["head_after"] == keys[5].as_str() {
            break;
        }
    }
    finished.send(()).unwrap();
    guard.join().unwrap();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let run = Run::of(Output {
        status: out.status,
        stdout: (seen.concat() + &rest).into_bytes(),
        stderr: out.stderr,
    });
    assert_eq!(run.code, Some(0), "{}", run.text);
    // Every digest verified once: 0–3 from their messages (in any order) or as links, 4 and 5
    // by a sweep; every sweep valid.
    let verified: std::collections::BTreeSet<String> =
        run.verdicts().into_iter().map(|(k, _)| k).collect();
    assert!(
        run.verdicts().iter().all(|(_, v)| v == "valid"),
        "{}",
        run.text
    );
    for k in &keys[4..] {
        assert!(verified.contains(k), "{k}\n{}", run.text);
    }
    assert!(
        run.of_type("sweep").iter().all(|l| l["verdict"] == "valid"),
        "{}",
        run.text
    );
    assert_eq!(head_key(&state), keys[5]);
}

#[test]
fn watch_sweep_asks_for_the_trail_status_again() {
    // A trail of the past with no signed stop: its silence is explained only by what
    // GetTrailStatus says, which changes while the watch runs.
    let d = deliver(TrailBuilder::new().bucket(BUCKET).hours(3).build());
    let ds = digests(&d.trail);
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("heads.json");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
    cmd.args([
        "watch",
        "--trail-arn",
        &d.trail.trail_arn(),
        "--start-time",
        &fmt_time(d.trail.start()),
        "--region",
        REGION,
        "--from-file",
        "-",
        "--sweep-interval",
        "1s",
        "--state",
    ])
    .arg(&state);
    d.h.point_at(&mut cmd, home.path());
    // Events come through a pipe kept open: a sweep is due before the line read after it.
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let (finished, done) = std::sync::mpsc::channel::<()>();
    let guard = {
        let pid = pid.clone();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                done.recv_timeout(std::time::Duration::from_secs(300))
            {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        })
    };
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut seen: Vec<String> = Vec::new();
    // Owns the pipe: dropping it closes standard input.
    let mut send = move |line: &str| {
        use std::io::Write as _;
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    };
    // Reads up to the next line of `kind`; returns the sweep lines read on the way.
    let mut read_until = |kind: &str, seen: &mut Vec<String>| -> Vec<Value> {
        let mut sweeps = Vec::new();
        loop {
            let mut line = String::new();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "ended early:\n{}",
                seen.concat()
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            seen.push(line);
            if v["type"] == "sweep" {
                sweeps.push(v.clone());
            }
            if v["type"] == kind {
                return sweeps;
            }
        }
    };
    // Every digest, verified as it is announced.
    for line in &d.digest_lines {
        send(line);
        read_until("digest", &mut seen);
    }
    let newest = ds.last().unwrap();
    let mut sweep_with = |status: Value, seen: &mut Vec<String>| -> Value {
        *d.h.cloudtrail.state.trail_status.lock().unwrap() = status;
        // Past the interval, then a line: the sweep runs before it is handled. The duplicate
        // is that line's own result, printed after the sweep.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        send(&d.digest_lines[0]);
        let sweeps = read_until("duplicate", seen);
        sweeps
            .last()
            .cloned()
            .unwrap_or_else(|| panic!("no sweep:\n{}", seen.concat()))
    };

    // Logging on, by the status: the chain's silence is TAIL MISSING.
    let sweep = sweep_with(json!({"IsLogging": true}), &mut seen);
    assert_eq!(sweep["verdict"], "invalid", "{sweep}");
    assert!(
        sweep["findings"].to_string().contains("TAIL MISSING"),
        "{sweep}"
    );

    // StopLogging since, by the status: the next sweep sees it, and the silence is explained.
    let stopped = newest.end + chrono::Duration::minutes(5);
    let sweep = sweep_with(
        json!({"IsLogging": false, "StopLoggingTime": stopped.timestamp() as f64}),
        &mut seen,
    );
    assert_eq!(sweep["verdict"], "valid", "{sweep}");
    assert_eq!(sweep["findings"], json!([]), "{sweep}");
    let notes = sweep["notes"].to_string();
    assert!(
        notes.contains("LOGGING STOPPED") && notes.contains("GetTrailStatus"),
        "{sweep}"
    );

    // GetTrailStatus failing: the stop it reported before is not taken as still true.
    let sweep = sweep_with(Value::Null, &mut seen);
    assert_eq!(sweep["verdict"], "invalid", "{sweep}");
    assert!(
        sweep["findings"].to_string().contains("TAIL MISSING"),
        "{sweep}"
    );

    drop(send);
    finished.send(()).unwrap();
    guard.join().unwrap();
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let run = Run::of(Output {
        status: out.status,
        stdout: (seen.concat() + &rest).into_bytes(),
        stderr: out.stderr,
    });
    // Standard input closed: the watch ends with the worst result's status.
    assert_eq!(run.code, Some(1), "{}", run.text);
    assert!(
        run.text.contains("GetTrailStatus") && run.text.contains("signed data alone"),
        "{}",
        run.text
    );
    assert_eq!(head_key(&state), newest.key);
    // Once at the start, then once before each sweep (none per event).
    assert_eq!(
        d.h.cloudtrail.state.calls_to("GetTrailStatus").len(),
        1 + run.of_type("sweep").len(),
        "{}",
        run.text
    );
}
