//! The Lambda handler end to end, with real parts: `cargo lambda watch --only-lambda-apis`
//! emulates the Lambda runtime API, the built `trailproof-lambda` runs against it as the
//! Lambda service would run its `bootstrap`, and `cargo lambda invoke` sends it the events.
//! A testkit trail is uploaded hour by hour to the local S3 server (an S3 notification per
//! object), the keys come from the local CloudTrail endpoint, and moto's server is SNS. The
//! head store is an object on the S3 server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{json, Value};
use trailproof::events;
use trailproof_testkit::{fmt_time, prereq, Archive, DigestInfo, Trail, TrailBuilder};
use trailproof_testserver::{test_options, Alerts, Harness, REGION};

const BUCKET: &str = "tpb";
const HEADS_BUCKET: &str = "tph";
const HEADS_KEY: &str = "lambda/heads.json";
const HOURS: u32 = 6;
/// The function's name, as the emulator and `cargo lambda invoke` know it.
const FUNCTION: &str = "trailproof-lambda";

fn recent(hours: u32) -> TrailBuilder {
    TrailBuilder::new().bucket(BUCKET).recent_hours(hours)
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

/// An EventBridge "Object Created" event of one object (the key as it is).
fn object_created(bucket: &str, key: &str) -> Value {
    json!({
        "version": "0", "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created", "source": "aws.s3", "account": "111122223333",
        "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": REGION, "resources": [format!("arn:aws:s3:::{bucket}")],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": 1, "etag": "0", "sequencer": "0"},
                   "request-id": "0", "requester": "111122223333", "reason": "PutObject"}
    })
}

/// The hourly schedule's event.
fn scheduled() -> Value {
    json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "111122223333",
        "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": REGION, "resources": ["arn:aws:events:us-east-1:111122223333:rule/trailproof-sweep"],
        "detail": {}
    })
}

/// An SQS batch as Lambda's event source mapping delivers it: `(message id, body)` each.
fn batch(messages: &[(String, String)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1709251200000",
                               "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1709251200001"},
                "messageAttributes": {}, "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:trail-events",
                "awsRegion": REGION
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The servers holding a trail delivered hour by hour, and per digest (oldest first) the
/// notifications of its hour: its log files, then itself.
struct Delivered {
    h: Harness,
    trail: Trail,
    hours: Vec<Vec<String>>,
    digest_lines: Vec<String>,
}

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
    let rest = Archive {
        objects: left,
        public_keys: Vec::new(),
    };
    h.upload_archive(&ctx, &rest);
    h.rt.block_on(async {
        ctx.s3_client(REGION)
            .create_bucket()
            .bucket(HEADS_BUCKET)
            .send()
            .await
            .unwrap();
    });
    Delivered {
        h,
        trail,
        hours,
        digest_lines,
    }
}

impl Delivered {
    /// The head of the trail's one chain in the S3 head store (`None`: nothing stored).
    fn head(&self) -> Option<String> {
        let ctx = self.h.context(&test_options());
        let store = trailproof_aws::S3HeadStore::new(
            &ctx,
            self.h.rt.handle().clone(),
            HEADS_BUCKET,
            HEADS_KEY,
            &self.trail.trail_arn(),
        )
        .unwrap();
        let read = self.h.rt.block_on(store.read_async()).unwrap();
        assert!(read.state.heads.len() <= 1, "{:?}", read.state.heads);
        read.state.heads.values().next().map(|h| h.key.clone())
    }
}

/// A free port on 127.0.0.1 for the emulator (which cannot be told to pick one and name it).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `cargo lambda watch --only-lambda-apis`: the runtime API and the invoke endpoint, on one
/// port of 127.0.0.1, without a function (the test starts it). Stopped when dropped.
struct Emulator {
    child: Child,
    port: u16,
    program: PathBuf,
}

impl Emulator {
    /// Started in this package's folder: it reads the package's manifest (`cargo metadata`).
    fn start() -> Emulator {
        let program = prereq::cargo_lambda();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&program)
                .args([
                    "lambda",
                    "watch",
                    "--only-lambda-apis",
                    "-A",
                    "127.0.0.1",
                    "-P",
                ])
                .arg(port.to_string())
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Some(status) = child.try_wait().unwrap() {
                    // The port was taken in between: another one.
                    eprintln!("cargo lambda watch ended ({status}) on port {port}");
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Emulator {
                        child,
                        port,
                        program,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("cargo lambda watch did not listen");
    }

    /// `cargo lambda invoke`: the function's response, or its error (`Err` holds the output).
    /// Panics, with the function's output, if the function's process ends meanwhile (the
    /// invocation would wait for it for ever).
    fn invoke(&self, function: &mut Function, payload: &Value) -> Result<Value, String> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), payload.to_string()).unwrap();
        let mut child = Command::new(&self.program)
            .args(["lambda", "invoke", FUNCTION, "-A", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(file.path())
            .args(["--output-format", "json", "--color", "never"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(180);
        while child.try_wait().unwrap().is_none() {
            if let Some(status) = function.child.try_wait().unwrap() {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the function ended ({status})\n{}", function.text());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no response in 180 s\n{}", function.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let text = format!(
            "status {:?}\n--- stdout\n{stdout}--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            return Err(text);
        }
        serde_json::from_str(stdout.trim()).map_err(|e| format!("{e}: {text}"))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The function's process, as the Lambda service runs its bootstrap: its environment, its
/// standard output (the log lines) collected.
struct Function {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<String>>,
}

impl Function {
    fn start(
        d: &Delivered,
        emulator: &Emulator,
        home: &Path,
        start_time: &str,
        env: &[(&str, &str)],
    ) -> Function {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof-lambda"));
        d.h.point_at(&mut cmd, home);
        cmd.env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{}/.rt/{FUNCTION}", emulator.port),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", REGION)
        .env("TRAILPROOF_TRAIL_ARN", d.trail.trail_arn())
        .env("TRAILPROOF_START_TIME", start_time)
        .env(
            "TRAILPROOF_HEADS",
            format!("s3://{HEADS_BUCKET}/{HEADS_KEY}"),
        )
        .env("TRAILPROOF_REGION", REGION)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = BufReader::new(child.stdout.take().unwrap());
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        let err = BufReader::new(child.stderr.take().unwrap());
        let collected = stderr.clone();
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let mut text = collected.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        Function {
            child,
            lines,
            stderr,
        }
    }

    /// Its JSON lines so far (each invocation ends with its `summary` line, printed before the
    /// response is sent).
    fn lines(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The lines after the first `from`, of one type.
    fn of_type(&self, from: usize, kind: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .skip(from)
            .filter(|l| l["type"] == kind)
            .collect()
    }

    fn text(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.lines.lock().unwrap().join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// Ends it as Lambda ends an execution environment.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `payload`, waits for the response; the lines it printed start at the returned index.
fn invoke(
    emulator: &Emulator,
    function: &mut Function,
    payload: &Value,
) -> (usize, Result<Value, String>) {
    let from = function.lines.lock().unwrap().len();
    let response = emulator.invoke(function, payload);
    // The summary line is printed before the response goes out; the reader thread may lag.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline
        && !function
            .lines()
            .iter()
            .skip(from)
            .any(|l| l["type"] == "summary")
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    (from, response)
}

fn failures(response: &Value) -> Vec<String> {
    response["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(prefix: &str, bodies: &[String]) -> Vec<(String, String)> {
    bodies
        .iter()
        .enumerate()
        .map(|(i, b)| (format!("{prefix}-{i}"), b.clone()))
        .collect()
}

/// `(digest key, verdict)` of each `digest` line from `from` on.
fn verdicts(function: &Function, from: usize) -> Vec<(String, String)> {
    function
        .of_type(from, "digest")
        .iter()
        .map(|l| {
            (
                l["digest_key"].as_str().unwrap().to_owned(),
                l["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The function's environment for alerts: the topic, and moto as SNS.
fn alert_env(alerts: &Alerts) -> [(&str, &str); 2] {
    [
        ("TRAILPROOF_ALERT_SNS_TOPIC", alerts.topic_arn.as_str()),
        ("AWS_ENDPOINT_URL_SNS", alerts.moto.url.as_str()),
    ]
}

#[test]
fn sqs_batches_verify_a_trail_as_delivered_through_duplicates_reordering_and_a_restart() {
    let d = deliver(recent(HOURS).build());
    let keys: Vec<String> = digests(&d.trail).into_iter().map(|x| x.key).collect();
    let home = tempfile::tempdir().unwrap();
    let emulator = Emulator::start();
    let start = fmt_time(d.trail.start());
    let mut function = Function::start(&d, &emulator, home.path(), &start, &[]);

    // Hours 0 to 2, a batch each, as they are delivered: each digest valid, the head after it.
    for (hour, (lines, key)) in d.hours.iter().zip(&keys).take(3).enumerate() {
        let (from, response) = invoke(
            &emulator,
            &mut function,
            &batch(&ids(&format!("h{hour}"), lines)),
        );
        let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
        assert!(
            failures(&response).is_empty(),
            "{response}\n{}",
            function.text()
        );
        assert_eq!(
            verdicts(&function, from),
            [(key.clone(), "valid".to_owned())],
            "{}",
            function.text()
        );
        assert_eq!(d.head(), Some(key.clone()));
        let summary = &function.of_type(from, "summary")[0];
        assert_eq!(summary["verdict"], "valid", "{summary}");
        assert_eq!(summary["messages"], lines.len(), "{summary}");
    }

    // Hours 3 and 4 out of order, with hour 1's digest again (at least once delivery): hour 4
    // is checked first and brings hour 3 along as a link; hour 3's own event and hour 1's are
    // duplicates.
    let mut bodies = d.hours[4].clone();
    bodies.extend(d.hours[3].iter().cloned());
    bodies.push(d.digest_lines[1].clone());
    let (from, response) = invoke(&emulator, &mut function, &batch(&ids("r", &bodies)));
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    assert!(failures(&response).is_empty(), "{response}");
    let lines = function.of_type(from, "digest");
    assert_eq!(lines.len(), 1, "{}", function.text());
    assert_eq!(lines[0]["digest_key"], keys[4].as_str());
    assert_eq!(lines[0]["verdict"], "valid");
    assert_eq!(lines[0]["digests_checked"], 2, "{}", lines[0]);
    let duplicates: Vec<Value> = function
        .of_type(from, "duplicate")
        .iter()
        .map(|l| l["digest_key"].clone())
        .collect();
    assert_eq!(duplicates, [json!(keys[3]), json!(keys[1])]);
    assert_eq!(d.head(), Some(keys[4].clone()));

    // A restart (a new execution environment): the head is read back from S3, so every digest
    // already proven is a duplicate, not checked again.
    function.kill();
    let mut function = Function::start(&d, &emulator, home.path(), &start, &[]);
    let before =
        d.h.s3
            .faults
            .count(&trailproof_testserver::get_name(BUCKET, &keys[2]));
    let (from, response) = invoke(
        &emulator,
        &mut function,
        &batch(&ids("again", &d.digest_lines[..5])),
    );
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    assert!(failures(&response).is_empty(), "{response}");
    assert!(verdicts(&function, from).is_empty(), "{}", function.text());
    assert_eq!(function.of_type(from, "duplicate").len(), 5);
    assert_eq!(
        d.h.s3
            .faults
            .count(&trailproof_testserver::get_name(BUCKET, &keys[2])),
        before,
        "a proven digest was read again"
    );

    // Hour 5 as an EventBridge "Object Created" event sent to the function itself.
    let (from, response) = invoke(&emulator, &mut function, &object_created(BUCKET, &keys[5]));
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    assert_eq!(response, json!({"verdict": "valid"}), "{}", function.text());
    assert_eq!(
        verdicts(&function, from),
        [(keys[5].clone(), "valid".to_owned())]
    );
    assert_eq!(d.head(), Some(keys[5].clone()));

    // The hourly sweep: nothing missed, the chain delivering on time.
    let (from, response) = invoke(&emulator, &mut function, &scheduled());
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    assert_eq!(response, json!({"sweep": "valid"}), "{}", function.text());
    let sweep = &function.of_type(from, "sweep")[0];
    assert_eq!(sweep["head_after"], keys[5].as_str(), "{sweep}");
}

#[test]
fn a_tampered_log_is_alerted_and_only_the_bad_record_comes_back() {
    let mut trail = recent(HOURS).build();
    let ds = digests(&trail);
    let log = ds[3].log_keys[0].clone();
    trail.archive.modify_log(BUCKET, &log);
    let d = deliver(trail);
    let alerts = Alerts::start(&d.h.rt);
    let home = tempfile::tempdir().unwrap();
    let emulator = Emulator::start();
    let start = fmt_time(d.trail.start());
    let mut function = Function::start(&d, &emulator, home.path(), &start, &alert_env(&alerts));

    // One batch: every hour's notifications and, in the middle, a record that is no event.
    let mut messages = ids("m", &d.hours.concat());
    messages.insert(4, ("bad-1".to_owned(), "this is not an event".to_owned()));
    let (from, response) = invoke(&emulator, &mut function, &batch(&messages));
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    // Invalid digests are recorded (their lines and alerts are out): only the unreadable
    // record is handed back.
    assert_eq!(failures(&response), ["bad-1"], "{}", function.text());
    let got: Vec<String> = verdicts(&function, from)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        got,
        ["valid", "valid", "valid", "invalid", "invalid", "invalid"],
        "{}",
        function.text()
    );
    let errors = function.of_type(from, "error");
    assert_eq!(errors.len(), 1, "{}", function.text());
    assert_eq!(errors[0]["source"], "sqs message bad-1");
    let findings = function.of_type(from, "digest")[3]["findings"].to_string();
    assert!(
        findings.contains(&log) && findings.contains("INVALID"),
        "{findings}"
    );
    assert_eq!(d.head(), Some(ds[2].key.clone()));

    let published = alerts.read(&d.h.rt, 3);
    let mut alerted: Vec<String> = published
        .iter()
        .map(|(subject, line)| {
            assert_eq!(subject, "trailproof: invalid digest", "{line}");
            assert_eq!(line["verdict"], "invalid", "{line}");
            line["digest_key"].as_str().unwrap().to_owned()
        })
        .collect();
    alerted.sort();
    assert_eq!(
        alerted,
        [ds[3].key.clone(), ds[4].key.clone(), ds[5].key.clone()]
    );

    // A payload from no trigger it knows: an error, and the function lives on.
    let (_, response) = invoke(&emulator, &mut function, &json!({"hello": "world"}));
    let error = response.unwrap_err();
    assert!(error.contains("unrecognised event"), "{error}");
    let (_, response) = invoke(
        &emulator,
        &mut function,
        &batch(&ids("late", &d.digest_lines[..1])),
    );
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    assert!(failures(&response).is_empty(), "{response}");
}

#[test]
fn a_deleted_digest_is_invalid_and_unreachable_s3_comes_back_for_redelivery() {
    let d = deliver(recent(HOURS).build());
    let ds = digests(&d.trail);
    let ctx = d.h.context(&test_options());
    // Deleted after its notification was sent, before the function reads it.
    d.h.rt
        .block_on(trailproof_aws::delete_object(&ctx, BUCKET, &ds[3].key))
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let emulator = Emulator::start();
    let start = fmt_time(d.trail.start());
    let mut function = Function::start(&d, &emulator, home.path(), &start, &[]);
    let messages = ids("m", &d.digest_lines);
    let (from, response) = invoke(&emulator, &mut function, &batch(&messages));
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    assert!(failures(&response).is_empty(), "{response}");
    let got = verdicts(&function, from);
    assert_eq!(got[2], (ds[2].key.clone(), "valid".to_owned()));
    assert_eq!(got[3], (ds[3].key.clone(), "invalid".to_owned()));
    let gone = function.of_type(from, "digest")[3]["findings"].to_string();
    assert!(gone.contains(&ds[2].key), "{gone}");
    assert_eq!(d.head(), Some(ds[2].key.clone()));

    // The trail's bucket answering 503 to every read: the check cannot be carried out, so the
    // record is named for redelivery, and the head stays.
    d.h.s3.faults.add_prefix(
        &format!("GET /{BUCKET}"),
        trailproof_testserver::Fault::SlowDown,
        None,
    );
    let (from, response) = invoke(
        &emulator,
        &mut function,
        &batch(&[("retry-me".to_owned(), d.digest_lines[4].clone())]),
    );
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    assert_eq!(failures(&response), ["retry-me"], "{}", function.text());
    assert_eq!(
        verdicts(&function, from),
        [(ds[4].key.clone(), "not_checked".to_owned())],
        "{}",
        function.text()
    );
    assert_eq!(d.head(), Some(ds[2].key.clone()));
}

#[test]
fn the_scheduled_sweep_alerts_on_a_chain_that_went_silent() {
    // Testkit's default start (2024-03-01): the clock is far past the last digest.
    let d = deliver(TrailBuilder::new().bucket(BUCKET).hours(3).build());
    let keys: Vec<String> = digests(&d.trail).into_iter().map(|x| x.key).collect();
    let alerts = Alerts::start(&d.h.rt);
    let home = tempfile::tempdir().unwrap();
    let emulator = Emulator::start();
    let start = fmt_time(d.trail.start());
    let mut function = Function::start(&d, &emulator, home.path(), &start, &alert_env(&alerts));
    let (_, response) = invoke(
        &emulator,
        &mut function,
        &batch(&ids("m", &d.hours.concat())),
    );
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    assert!(failures(&response).is_empty(), "{response}");
    assert_eq!(d.head(), Some(keys[2].clone()));

    let (from, response) = invoke(&emulator, &mut function, &scheduled());
    let response = response.unwrap_or_else(|e| panic!("{e}\n{}", function.text()));
    assert_eq!(response, json!({"sweep": "invalid"}), "{}", function.text());
    let sweep = &function.of_type(from, "sweep")[0];
    assert_eq!(sweep["verdict"], "invalid", "{sweep}");
    assert_eq!(sweep["head_after"], keys[2].as_str(), "{sweep}");
    let findings = sweep["findings"].to_string();
    assert!(
        findings.contains("TAIL MISSING") && findings.contains(&keys[2]),
        "{findings}"
    );
    let published = alerts.read(&d.h.rt, 1);
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(published[0].0, "trailproof: invalid sweep");
    assert!(
        published[0].1["findings"]
            .to_string()
            .contains("TAIL MISSING"),
        "{published:?}"
    );
    assert_eq!(d.head(), Some(keys[2].clone()));
}

#[test]
fn bad_configuration_ends_the_cold_start_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_trailproof-lambda"))
        .env_clear()
        .env(
            "TRAILPROOF_TRAIL_ARN",
            "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
        )
        .env("TRAILPROOF_START_TIME", "2024-03-01T00:00:00Z")
        .env("TRAILPROOF_HEADS", "/tmp/heads.json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TRAILPROOF_HEADS") && stderr.contains("s3://BUCKET/KEY"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
