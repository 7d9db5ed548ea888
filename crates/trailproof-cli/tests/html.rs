//! `--format html`: the evidence page says what the text and JSON reports say (verdict, counts,
//! every finding), embeds the JSON report byte for byte in meaning, renders hostile keys as
//! text, and opens in a real headless browser (Debian's chromium) without any network request
//! or console error.

use std::fs;
use std::io::Read as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use trailproof_testkit::{fmt_time, Archive, TestKey, Trail, TrailBuilder};

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

fn trailproof(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trailproof"))
        .args(args)
        .output()
        .expect("run trailproof")
}

fn with(args: &[String], extra: &[&str]) -> Vec<String> {
    args.iter()
        .cloned()
        .chain(extra.iter().map(|s| s.to_string()))
        .collect()
}

/// `validate` over the archive at `root` with the keys at `keys`: `hours` of `trail`'s chain.
fn validate_archive(root: &Path, keys: &Path, trail: &Trail, hours: i64) -> Vec<String> {
    vec![
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
        fmt_time(trail.start() + chrono::Duration::hours(hours)),
    ]
}

/// `validate` over a testdata scenario, as its `scenario.json` says.
fn scenario_args(name: &str) -> Vec<String> {
    let dir = testdata().join(name);
    let meta: Value =
        serde_json::from_slice(&fs::read(dir.join("scenario.json")).expect("scenario.json"))
            .expect("scenario JSON");
    let mut args = vec![
        "validate".to_owned(),
        "--archive".to_owned(),
        dir.join("archive").display().to_string(),
        "--public-keys".to_owned(),
        dir.join("public-keys.json").display().to_string(),
    ];
    for entry in fs::read_dir(&dir).expect("scenario dir").flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(bucket) = file.strip_prefix("bucket-") {
            args.push("--archive-bucket".to_owned());
            args.push(format!("{bucket}={}", entry.path().display()));
        }
    }
    args.extend(
        meta["args"]
            .as_array()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("arg").to_owned()),
    );
    args
}

/// Text as a browser serialises a text node (`--dump-dom`).
fn dom_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page without its embedded report.
fn markup(page: &str) -> String {
    page.replace(embedded(page), "")
}

/// Text as maud writes it inside an element.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The text of the page's JSON element.
fn embedded(page: &str) -> &str {
    let open = format!(
        "<script type=\"application/json\" id=\"{}\">",
        trailproof_html::JSON_ELEMENT_ID
    );
    let start = page.find(&open).expect("JSON element") + open.len();
    let len = page[start..]
        .find("</script>")
        .expect("end of the JSON element");
    &page[start..start + len]
}

/// The text of the first element with `class`.
fn class_text<'a>(page: &'a str, class: &str) -> &'a str {
    let at = page
        .find(&format!("class=\"{class}\">"))
        .unwrap_or_else(|| panic!("no element of class {class}"));
    let start = at + class.len() + 9;
    let len = page[start..].find('<').expect("end");
    &page[start..start + len]
}

/// Runs text, JSON and HTML over the same flags and checks the page against the other two:
/// the verdict, the exit code, the summary lines, every problem line, the embedded report and
/// both hashes. Returns the page.
fn check_page(name: &str, args: &[String]) -> String {
    let text = trailproof(args);
    let json = trailproof(&with(args, &["--format", "json"]));
    let html = trailproof(&with(args, &["--format", "html"]));
    let page = String::from_utf8(html.stdout.clone()).expect("UTF-8 page");
    assert_eq!(
        html.status.code(),
        text.status.code(),
        "{name}: {}",
        String::from_utf8_lossy(&html.stderr)
    );
    assert_eq!(html.status.code(), json.status.code(), "{name}");
    assert!(
        html.stderr.is_empty(),
        "{name}: {}",
        String::from_utf8_lossy(&html.stderr)
    );
    assert!(page.starts_with("<!DOCTYPE html>"), "{name}");

    // The embedded report parses to what --format json prints, and the footer's hashes are
    // those of the JSON report and of the embedded text.
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON report");
    let inside: Value = serde_json::from_str(embedded(&page)).expect("embedded JSON");
    assert_eq!(inside, report, "{name}: embedded JSON differs");
    assert_eq!(
        class_text(&page, "sha-report"),
        sha256(&json.stdout),
        "{name}"
    );
    assert_eq!(
        class_text(&page, "sha-embedded"),
        sha256(embedded(&page).as_bytes()),
        "{name}"
    );

    // The verdict and exit code.
    let code = text.status.code().expect("exit status");
    let word = match code {
        0 => "VALID",
        1 => "INVALID",
        _ => "INCOMPLETE",
    };
    assert_eq!(report["exit_code"], code, "{name}");
    assert!(
        page.contains(&format!(">{word}</span> exit code <strong>{code}</strong>")),
        "{name}: no {word} banner"
    );

    // Every summary line of the text report, word for word (the header line aside).
    let stdout = String::from_utf8_lossy(&text.stdout);
    let summary_at = stdout
        .find("Results requested for")
        .or_else(|| stdout.find("Chains ("))
        .unwrap_or_else(|| panic!("{name}: no summary in\n{stdout}"));
    for line in stdout[summary_at..]
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        assert!(
            page.contains(&esc(line)),
            "{name}: summary line {line:?} not in the page"
        );
    }
    // Every problem line: its object and its verdict (table cells), or the gap line whole.
    let stderr = String::from_utf8_lossy(&text.stderr);
    let problems: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    for line in &problems {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() == 3 {
            for f in &fields[1..] {
                assert!(
                    page.contains(&esc(f)),
                    "{name}: {f:?} of {line:?} not in the page"
                );
            }
        } else {
            assert!(
                page.contains(&esc(line)),
                "{name}: {line:?} not in the page"
            );
        }
    }
    if problems.is_empty() {
        assert!(page.contains("No invalid or unchecked file, no finding and no logging gap."));
    }
    page
}

#[test]
fn every_testdata_scenario_gives_a_page_that_agrees_with_the_text_and_json_reports() {
    let mut names: Vec<String> = fs::read_dir(testdata())
        .expect("testdata")
        .flatten()
        .filter(|e| e.path().join("scenario.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 20);
    for name in &names {
        check_page(name, &scenario_args(name));
    }
}

#[test]
fn clean_tampered_and_gap_pages_show_their_timeline_rows_and_findings() {
    let clean = check_page("valid-six-hours", &scenario_args("valid-six-hours"));
    assert!(clean.contains("6/6 digest files valid"));
    assert!(clean.contains("class=\"m-valid\""));
    assert!(!clean.contains("class=\"m-invalid\""));

    let tampered = check_page(
        "invalid-log-modified",
        &scenario_args("invalid-log-modified"),
    );
    assert!(
        tampered.contains("INVALID: hash value doesn&quot;t match")
            || tampered.contains("INVALID: hash value doesn't match")
    );
    assert!(tampered.contains("class=\"m-invalid\""));
    assert!(tampered.contains("expected SHA-256 "));

    let gap = check_page(
        "valid-gap-logging-stopped",
        &scenario_args("valid-gap-logging-stopped"),
    );
    assert!(gap.contains("class=\"m-gap\""), "the gap is drawn");
    assert!(gap.contains("No log files were delivered by CloudTrail between"));

    let deleted = check_page(
        "invalid-digest-deleted",
        &scenario_args("invalid-digest-deleted"),
    );
    // A digest that is gone has no times of its own: its name places it.
    assert!(deleted.contains("class=\"m-invalid\""));
}

const ORG_BUCKET: &str = "org-bucket";

fn org_member(account: &str) -> Trail {
    TrailBuilder::new()
        .bucket(ORG_BUCKET)
        .trail_name("org")
        .organization("o-abc123")
        .account(account)
        .regions(&["us-east-1", "eu-west-1"])
        .hours(6)
        .logs_per_hour(2)
        .seed(account.bytes().map(u64::from).sum())
        .build()
}

/// An organization trail of `accounts` member accounts in two regions, one log file of the
/// last account's eu-west-1 chain modified; written under `dir`. Returns the flags.
fn tampered_org(accounts: usize, dir: &Path) -> (Vec<String>, String) {
    let members: Vec<Trail> = (0..accounts)
        .map(|i| org_member(&format!("{:012}", 111_111_111_111u64 + i as u64)))
        .collect();
    let mut archive = Archive::default();
    for m in &members {
        archive.merge(m.archive.clone());
    }
    let last = members.last().expect("a member");
    let tampered = last.digests_in("eu-west-1")[2].log_keys[0].clone();
    archive.modify_log(ORG_BUCKET, &tampered);
    let root = dir.join("archive");
    archive
        .write_bucket(ORG_BUCKET, &root)
        .expect("write archive");
    let keys = dir.join("public-keys.json");
    fs::write(&keys, members[0].archive.public_keys_json()).expect("keys");
    let first = &members[0];
    let args = with(
        &validate_archive(&root, &keys, first, 6),
        &["--all-accounts", "--all-regions"],
    );
    (args, tampered)
}

#[test]
fn an_organization_with_a_tampered_chain_has_a_row_per_chain_and_its_finding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (args, tampered) = tampered_org(2, dir.path());
    let page = check_page("organization", &args);
    assert!(page.contains("Chains (4):"));
    for account in ["111111111111", "111111111112"] {
        for region in ["us-east-1", "eu-west-1"] {
            let label = format!("o-abc123/{account} {region}");
            // A timeline row (its label) and a chains table row.
            assert!(
                page.contains(&format!("{label} ✔"))
                    || page.contains(&format!("{label} ✘ INVALID")),
                "no timeline row for {label}"
            );
        }
    }
    assert!(page.contains("o-abc123/111111111112 eu-west-1 ✘ INVALID"));
    assert!(page.contains(&esc(&tampered)));
    // The modified log's digest, and so its hour or the two it straddles.
    let invalid_cells = page.matches("class=\"m-invalid\"").count();
    assert!(
        (1..=2).contains(&invalid_cells),
        "{invalid_cells} invalid cells"
    );
}

#[test]
fn many_chains_all_valid_alike_share_one_timeline_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 18 chains: more than GROUP_ABOVE.
    let (args, tampered) = tampered_org(9, dir.path());
    let page = check_page("organization of 18 chains", &with(&args, &[]));
    assert!(
        page.contains("17 chains, all valid"),
        "valid chains grouped"
    );
    assert!(page.contains("o-abc123/111111111119 eu-west-1 ✘ INVALID"));
    assert!(page.contains(&esc(&tampered)));
    // Two rows: the group and the tampered chain.
    assert_eq!(page.matches("<g class=\"row\">").count(), 2);
}

/// A trail whose newest digest, validly signed by CloudTrail's key, lists log files named to
/// inject markup and script; one of them is also in the bucket and no digest lists it.
fn hostile_archive(dir: &Path) -> (Vec<String>, Vec<String>) {
    let trail = TrailBuilder::new().hours(3).build();
    let bucket = trail.bucket().to_owned();
    let mut archive = trail.archive.clone();
    let newest = trail
        .digests_in("us-east-1")
        .last()
        .map(|d| d.key.clone())
        .expect("digests");
    let folder = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/01/";
    let evil = vec![
        format!("{folder}<script>alert(1)<\\/script>x.json.gz"),
        format!("{folder}\"><img src=x onerror=alert(2)>.json.gz"),
        format!("{folder}</script><script>alert(3)</script>.json.gz"),
        format!("{folder}<!--<script>y.json.gz"),
    ];
    archive.edit_digest_json(&bucket, &newest, |v| {
        let files = v["logFiles"].as_array_mut().expect("logFiles");
        for key in &evil {
            files.push(serde_json::json!({
                "s3Bucket": bucket,
                "s3Object": key,
                "hashValue": "0".repeat(64),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": "2024-03-01T03:00:00Z",
                "oldestEventTime": "2024-03-01T02:59:00Z",
            }));
        }
    });
    archive.resign_digest(&bucket, &newest, &TestKey::a());
    // An unreferenced log file with a hostile name, too.
    let unlisted = format!(
        "{folder}111122223333_CloudTrail_us-east-1_20240301T0210Z_'><svg onload=alert(4)>.json.gz"
    );
    archive.inject_log(&bucket, &unlisted, b"{\"Records\":[]}");
    let root = dir.join("archive");
    archive.write_bucket(&bucket, &root).expect("write archive");
    let keys = dir.join("public-keys.json");
    fs::write(&keys, trail.archive.public_keys_json()).expect("keys");
    let args = validate_archive(&root, &keys, &trail, 3);
    let mut all = evil;
    all.push(unlisted);
    (args, all)
}

#[test]
fn keys_that_hold_markup_and_script_render_as_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (args, evil) = hostile_archive(dir.path());
    let page = check_page("hostile keys", &args);
    // One script element (the JSON), no image, no SVG handler, no comment the keys opened.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert_eq!(page.matches("</script>").count(), 1);
    assert!(!page.contains('<') || !embedded(&page).contains('<'));
    let outside = markup(&page);
    assert!(!outside.contains("<img"));
    assert!(!outside.contains("<svg onload"));
    assert!(!outside.contains("<!--"));
    assert!(!outside.contains("onerror=alert(2)>"));
    assert!(!outside.contains("\"><img"));
    for key in &evil {
        // Each appears as text in the findings (escaped), and exactly in the embedded JSON.
        assert!(page.contains(&esc(key)), "{key} not shown as text");
    }
    let inside: Value = serde_json::from_str(embedded(&page)).expect("embedded JSON");
    let named: Vec<&str> = ["entries", "findings"]
        .iter()
        .flat_map(|k| inside[*k].as_array().into_iter().flatten())
        .filter_map(|e| e["key"].as_str())
        .collect();
    for key in &evil {
        assert!(
            named.contains(&key.as_str()),
            "{key} not in the embedded JSON"
        );
    }
}

// --- In a real browser -------------------------------------------------------------------

const CHROMIUM: &str = "/usr/bin/chromium";

/// A proxy that answers nothing and records the first line of every request: the browser sends
/// every request to it (loopback included), so none reaches the network, and each is seen.
struct Tripwire {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Tripwire {
    fn start() -> Tripwire {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut buf = [0u8; 2048];
                let n = stream.read(&mut buf).unwrap_or(0);
                let line = String::from_utf8_lossy(&buf[..n])
                    .lines()
                    .next()
                    .unwrap_or("(nothing sent)")
                    .to_owned();
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        Tripwire { port, requests }
    }

    /// Requests on the page's behalf: all but the browser's own update and sign-in checks,
    /// which chromium makes whatever the flags (to Google's hosts, which the page never names).
    fn page_requests(&self) -> Vec<String> {
        let all = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        all.into_iter()
            .filter(|line| {
                let target = line.split(' ').nth(1).unwrap_or("");
                let host = target
                    .split("://")
                    .last()
                    .unwrap_or("")
                    .split(['/', ':'])
                    .next()
                    .unwrap_or("");
                !(host.ends_with(".google.com") || host.ends_with(".googleapis.com"))
            })
            .collect()
    }
}

/// Runs headless chromium on `page` with the network blocked and observed; returns stdout and
/// stderr.
fn chromium(page: &Path, trip: &Tripwire, mode: &[String]) -> (String, String) {
    trailproof_testkit::prereq::require_programs(&[CHROMIUM], "chromium");
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
            "--metrics-recording-only",
            "--proxy-bypass-list=<-loopback>",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1800",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--proxy-server=http://127.0.0.1:{}", trip.port))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(mode)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

/// Opens the page, checks the rendered DOM for `expect`, that nothing was requested and that
/// the console logged no error; saves a screenshot to `shot`.
fn open_in_browser(html: &str, expect: &[String], shot: &Path) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("evidence.html");
    fs::write(&page, html).expect("write page");
    let trip = Tripwire::start();
    let (dom, stderr) = chromium(&page, &trip, &["--dump-dom".to_owned()]);
    for e in expect {
        assert!(dom.contains(e), "{e:?} not in the rendered page");
    }
    let (_, stderr2) = chromium(&page, &trip, &[format!("--screenshot={}", shot.display())]);
    assert_eq!(
        trip.page_requests(),
        Vec::<String>::new(),
        "the page made network requests"
    );
    for log in [&stderr, &stderr2] {
        for line in log.lines() {
            assert!(!is_console(line), "console message: {line}");
        }
    }
    let png = fs::read(shot).expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot of {} bytes",
        png.len()
    );
    dom
}

#[test]
fn the_browser_checks_see_a_request_and_a_console_error_when_a_page_makes_them() {
    // Without this, a tripwire the browser never reached would pass every page.
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("leaky.html");
    fs::write(
        &page,
        "<!DOCTYPE html><title>leaky</title><img src=\"http://canary.invalid/x.png\"><script>console.error('boom')</script>",
    )
    .expect("write page");
    let trip = Tripwire::start();
    let (_, stderr) = chromium(&page, &trip, &["--dump-dom".to_owned()]);
    let requests = trip.page_requests();
    assert!(
        requests.iter().any(|r| r.contains("canary.invalid")),
        "the tripwire saw {requests:?}"
    );
    assert!(
        stderr.lines().any(is_console),
        "no console line in\n{stderr}"
    );
}

/// A line of chromium's log that the page's console (or a blocked load) wrote.
fn is_console(line: &str) -> bool {
    line.contains(":CONSOLE") || line.contains("Refused to") || line.contains("Uncaught")
}

fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("html-screenshots");
    fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

#[test]
fn a_tampered_organization_opens_offline_in_headless_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (args, tampered) = tampered_org(2, dir.path());
    let html = trailproof(&with(&args, &["--format", "html"]));
    assert_eq!(html.status.code(), Some(1));
    let page = String::from_utf8(html.stdout).expect("UTF-8");
    let shot = shots().join("tampered-organization.png");
    let dom = open_in_browser(
        &page,
        &[
            "o-abc123/111111111111 us-east-1".to_owned(),
            "o-abc123/111111111112 eu-west-1 ✘ INVALID".to_owned(),
            dom_text(&tampered),
            "INVALID: hash value doesn't match".to_owned(),
            "Chains (4):".to_owned(),
        ],
        &shot,
    );
    assert!(dom.contains("Coverage timeline"));
    // The screenshot in docs/ is this one: refresh it with TRAILPROOF_UPDATE_DOCS=1.
    if std::env::var_os("TRAILPROOF_UPDATE_DOCS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/evidence-tampered-organization.png");
        fs::copy(&shot, docs).expect("copy screenshot to docs/");
    }
}

#[test]
fn hostile_keys_stay_text_in_headless_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (args, evil) = hostile_archive(dir.path());
    let html = trailproof(&with(&args, &["--format", "html"]));
    let page = String::from_utf8(html.stdout).expect("UTF-8");
    let dom = open_in_browser(
        &page,
        &evil.iter().map(|k| dom_text(k)).collect::<Vec<_>>(),
        &shots().join("hostile-keys.png"),
    );
    // The DOM the browser built holds no element the keys named.
    assert!(!dom.contains("<img"), "an image element was injected");
    assert!(!dom.contains("<svg onload"));
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "a script element was injected"
    );
}

#[test]
fn query_results_pages_agree_with_the_text_and_json_reports() {
    use trailproof_testkit::lake::{scenarios, QueryResultsBuilder};
    let all = scenarios(&QueryResultsBuilder::new());
    assert!(all.len() >= 15);
    for s in &all {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("export");
        s.results.write_folder(&dir).expect("write results");
        let keys = tmp.path().join("public-keys.json");
        fs::write(&keys, s.results.public_keys_json()).expect("keys");
        let args = vec![
            "verify-query-results".to_owned(),
            "--local-export-path".to_owned(),
            dir.display().to_string(),
            "--public-keys".to_owned(),
            keys.display().to_string(),
        ];
        let text = trailproof(&args);
        let json = trailproof(&with(&args, &["--format", "json"]));
        let html = trailproof(&with(&args, &["--format", "html"]));
        let page = String::from_utf8(html.stdout).expect("UTF-8");
        assert_eq!(html.status.code(), text.status.code(), "{}", s.name);
        let code = text.status.code().expect("code");
        let report: Value = serde_json::from_slice(&json.stdout).expect("JSON");
        let inside: Value = serde_json::from_str(embedded(&page)).expect("embedded JSON");
        assert_eq!(inside, report, "{}", s.name);
        assert_eq!(class_text(&page, "sha-report"), sha256(&json.stdout));
        let word = ["VALID", "INVALID", "INCOMPLETE"][usize::try_from(code).expect("code").min(2)];
        assert!(
            page.contains(&format!(">{word}</span> exit code <strong>{code}</strong>")),
            "{}: no {word} banner",
            s.name
        );
        for line in String::from_utf8_lossy(&text.stderr).lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() == 3 {
                assert!(page.contains(&esc(fields[1])), "{}: {line}", s.name);
                let verdict = fields[2].split(": the sign file says").next().unwrap_or("");
                assert!(page.contains(&esc(verdict)), "{}: {line}", s.name);
            }
        }
    }
}

#[test]
fn discovery_that_finds_no_chain_gives_an_incomplete_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = TrailBuilder::new().hours(1).build();
    let root = dir.path().join("archive");
    fs::create_dir_all(root.join("AWSLogs")).expect("mkdir");
    let keys = dir.path().join("keys.json");
    fs::write(&keys, trail.archive.public_keys_json()).expect("keys");
    let args = with(
        &validate_archive(&root, &keys, &trail, 1),
        &["--all-accounts"],
    );
    let json = trailproof(&with(&args, &["--format", "json"]));
    let html = trailproof(&with(&args, &["--format", "html"]));
    assert_eq!(
        html.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&html.stderr)
    );
    let page = String::from_utf8(html.stdout).expect("UTF-8");
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let inside: Value = serde_json::from_str(embedded(&page)).expect("embedded JSON");
    assert_eq!(inside, report);
    assert!(page.contains(">INCOMPLETE</span> exit code <strong>2</strong>"));
    assert!(page.contains("No chains found: nothing was checked"));
}

#[test]
fn a_live_run_names_the_bucket_it_read() {
    let trail = org_member("111111111111");
    let mut archive = trail.archive.clone();
    let tampered = trail.digests_in("us-east-1")[1].log_keys[0].clone();
    archive.modify_log(ORG_BUCKET, &tampered);
    let h = trailproof_testserver::Harness::start(100);
    h.cloudtrail.serve_trail(&trail);
    h.upload_archive(&h.context(&trailproof_testserver::test_options()), &archive);
    let home = tempfile::tempdir().expect("home");
    let args = [
        "validate".to_owned(),
        "--trail-arn".to_owned(),
        trail.trail_arn(),
        "--start-time".to_owned(),
        fmt_time(trail.start()),
        "--end-time".to_owned(),
        fmt_time(trail.start() + chrono::Duration::hours(6)),
        "--all-regions".to_owned(),
        "--account-id".to_owned(),
        "111111111111".to_owned(),
        "--region".to_owned(),
        trailproof_testserver::REGION.to_owned(),
        "--no-progress".to_owned(),
    ];
    let run = |format: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailproof"));
        h.point_at(&mut cmd, home.path());
        cmd.args(&args)
            .args(["--format", format])
            .output()
            .expect("run")
    };
    let json = run("json");
    let html = run("html");
    assert_eq!(
        html.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&html.stderr)
    );
    let page = String::from_utf8(html.stdout).expect("UTF-8");
    let report: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let inside: Value = serde_json::from_str(embedded(&page)).expect("embedded JSON");
    assert_eq!(inside, report);
    assert!(
        page.contains(&format!("<code>s3://{ORG_BUCKET}/</code>")),
        "the source"
    );
    assert!(page.contains(&esc(&tampered)));
    assert!(page.contains("Chains (2):"));
}

/// The page printed to PDF by chromium, as text without any whitespace (table cells wrap long
/// keys anywhere), and its number of pages.
fn printed(html: &str) -> (String, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("evidence.html");
    fs::write(&page, html).expect("write page");
    let pdf = dir.path().join("evidence.pdf");
    let trip = Tripwire::start();
    chromium(
        &page,
        &trip,
        &[
            "--no-pdf-header-footer".to_owned(),
            format!("--print-to-pdf={}", pdf.display()),
        ],
    );
    assert_eq!(trip.page_requests(), Vec::<String>::new());
    trailproof_testkit::prereq::require_programs(&["pdftotext", "pdfinfo"], "poppler-utils");
    // -raw: the text in the order it was drawn, each table cell whole.
    let text = Command::new("pdftotext")
        .arg("-raw")
        .arg(&pdf)
        .arg("-")
        .output()
        .expect("run pdftotext");
    let info = Command::new("pdfinfo").arg(&pdf).output().expect("pdfinfo");
    let pages = String::from_utf8_lossy(&info.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("page count");
    let text: String = String::from_utf8_lossy(&text.stdout)
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    (text, pages)
}

#[test]
fn printing_repeats_the_run_line_on_every_page_and_unfolds_long_lists() {
    let trail = TrailBuilder::new().hours(3).logs_per_hour(10).build();
    let bucket = trail.bucket().to_owned();
    let mut archive = trail.archive.clone();
    let logs: Vec<String> = trail
        .digests_in("us-east-1")
        .iter()
        .flat_map(|d| d.log_keys.clone())
        .take(25)
        .collect();
    assert_eq!(logs.len(), 25);
    for log in &logs {
        archive.modify_log(&bucket, log);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("archive");
    archive.write_bucket(&bucket, &root).expect("write archive");
    let keys = dir.path().join("keys.json");
    fs::write(&keys, trail.archive.public_keys_json()).expect("keys");
    let args = with(
        &validate_archive(&root, &keys, &trail, 3),
        &["--format", "html"],
    );
    let html = trailproof(&args);
    assert_eq!(html.status.code(), Some(1));
    let page = String::from_utf8(html.stdout).expect("UTF-8");
    // On screen the 25 are folded.
    assert!(page.contains("<summary>Show all 25</summary>"));
    let (text, pages) = printed(&page);
    assert!(pages >= 2, "{pages} pages");
    // The run line heads every page.
    let run_line = "·INVALID(exitcode1)·run";
    assert_eq!(text.matches(run_line).count(), pages, "{text}");
    // Every folded finding is printed.
    for log in &logs {
        assert!(text.contains(log.as_str()), "{log} not printed in {text}");
    }
    assert_eq!(text.matches("INVALID:hashvaluedoesn'tmatch").count(), 25);
}

#[test]
fn an_incremental_run_with_nothing_new_says_so_like_the_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("state.json");
    let args = with(
        &scenario_args("valid-six-hours"),
        &["--state", &state.display().to_string()],
    );
    // The first run checks everything and records the newest digest.
    assert_eq!(trailproof(&args).status.code(), Some(0));
    let page = check_page("valid-six-hours, resumed", &args);
    assert!(page.contains("No new digests since "), "resumed run");
    assert!(page.contains("Resumed from"));
}
