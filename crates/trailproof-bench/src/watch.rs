//! `watch`: end-to-end benchmarks of `trailproof watch` against the local servers (issue #22's
//! performance targets).
//!
//! - `live`: a trail delivered hour by hour into the local S3 server, each object announced
//!   (an S3 notification on watch's standard input, `eventTime` = when it was written) right
//!   after it is written, and each digest's notification sent a second time an hour later (at
//!   least once delivery). Latency: each digest line's `latency_seconds` (event time to verdict
//!   line, as watch measures it). Memory: watch's VmRSS sampled every `rss_every` events.
//! - `replay`: a day of an organization's chains (accounts × regions) in the server, then one
//!   `watch --once` over a file of all their events (log files and digests, in delivery order):
//!   digests verified per second of wall time, and CPU time.
//!
//! The servers run in this process, so watch's CPU time and memory are its own. A verdict that
//! is not valid, or a line missing, fails the run: a benchmark of a failing check measures
//! nothing.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound as _, SecondsFormat, TimeDelta, Utc};
use clap::{Args, Subcommand};
use rayon::prelude::*;
use serde_json::{json, Value};
use trailproof_bench::{BUCKET, TRAIL_NAME};
use trailproof_testkit::{fmt_time, DigestInfo, Trail, TrailBuilder};
use trailproof_testserver::{CloudTrailServer, FsWriter, S3Server};

use crate::serve::{ACCESS_KEY, SECRET_KEY};

/// The targets of issue #22.
const MEDIAN_TARGET_S: f64 = 2.0;
const P99_TARGET_S: f64 = 10.0;
const THROUGHPUT_TARGET: f64 = 50.0;
/// RSS is flat when it grows by at most this much from the sample at 2,000 events to the last
/// one: over 8,000 events, a leak of 1 kB per event would show as 8 MB.
const RSS_GROWTH_LIMIT_KB: u64 = 5 * 1024;

/// How long one line may take before the run is declared stuck.
const LINE_TIMEOUT: Duration = Duration::from_secs(300);

const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-2",
    "eu-central-1",
    "ap-northeast-1",
    "sa-east-1",
    "ca-central-1",
];

#[derive(Debug, Subcommand)]
pub enum WatchBench {
    /// Latency and memory: a trail delivered hour by hour while watch runs.
    Live(LiveArgs),
    /// Throughput: a day of an organization's chains replayed from a file with --once.
    Replay(ReplayArgs),
}

#[derive(Debug, Args)]
pub struct Common {
    /// The `trailproof` binary measured.
    #[arg(long)]
    trailproof: PathBuf,
    /// Working directory (the S3 server's root, heads, events, watch's stderr); emptied first.
    #[arg(long)]
    work: PathBuf,
    /// Appends the result rows (markdown) to this file.
    #[arg(long)]
    results: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    #[command(flatten)]
    common: Common,
    /// Hourly digests delivered.
    #[arg(long, default_value_t = 240)]
    hours: u32,
    /// Log files per digest (each hour has this ± 1).
    #[arg(long, default_value_t = 40)]
    logs_per_hour: u32,
    #[arg(long, default_value_t = 50)]
    records_per_log: u32,
    /// Watch's VmRSS is sampled each time this many more events have been processed.
    #[arg(long, default_value_t = 1000)]
    rss_every: u64,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    common: Common,
    /// Member accounts of the organization trail.
    #[arg(long, default_value_t = 25)]
    accounts: u32,
    /// Regions per account (up to 8).
    #[arg(long, default_value_t = 4)]
    regions: usize,
    #[arg(long, default_value_t = 24)]
    hours: u32,
    #[arg(long, default_value_t = 10)]
    logs_per_hour: u32,
    #[arg(long, default_value_t = 20)]
    records_per_log: u32,
}

pub fn run(bench: &WatchBench) -> crate::Result<()> {
    match bench {
        WatchBench::Live(args) => live(args),
        WatchBench::Replay(args) => replay(args),
    }
}

/// Both servers on a runtime of their own, serving an (empty at first) bucket.
struct Servers {
    rt: tokio::runtime::Runtime,
    s3: S3Server,
    cloudtrail: CloudTrailServer,
    writer: FsWriter,
}

impl Servers {
    fn start(root: &Path, trail: &Trail) -> crate::Result<Servers> {
        fs::create_dir_all(root)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let (s3, cloudtrail) = rt.block_on(async {
            let s3 = S3Server::builder()
                .root(root)
                .credentials(ACCESS_KEY, SECRET_KEY)
                .log_requests(false)
                .prefix_listing(true)
                .start()
                .await;
            let cloudtrail = CloudTrailServer::builder()
                .access_key(ACCESS_KEY)
                .start()
                .await;
            (s3, cloudtrail)
        });
        cloudtrail.serve_trail(trail);
        let writer = FsWriter::new(root)?;
        rt.block_on(writer.create_bucket(BUCKET))?;
        Ok(Servers {
            rt,
            s3,
            cloudtrail,
            writer,
        })
    }

    fn put(&self, trail: &Trail, key: &str) -> crate::Result<()> {
        let object = trail
            .archive
            .get(BUCKET, key)
            .ok_or_else(|| format!("{key}: not in the trail"))?;
        self.rt.block_on(
            self.writer
                .put(BUCKET, key, object.body.clone(), &object.metadata),
        )
    }

    /// `trailproof watch` pointed at these servers only (as `benches/run.sh` `client_env`).
    fn watch(&self, common: &Common, trail: &Trail, extra: &[&str]) -> crate::Result<Command> {
        let home = common.work.join("home");
        fs::create_dir_all(&home)?;
        fs::write(
            home.join("config"),
            "[default]\ns3 =\n    addressing_style = path\n",
        )?;
        let mut cmd = Command::new(&common.trailproof);
        for var in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_SESSION_TOKEN",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_CONFIG_FILE", home.join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("credentials"))
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_ENDPOINT_URL_S3", &self.s3.url)
            .env("AWS_ENDPOINT_URL_CLOUDTRAIL", &self.cloudtrail.url)
            .env("AWS_ENDPOINT_URL_ORGANIZATIONS", &self.cloudtrail.url)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        cmd.args([
            "watch",
            "--trail-arn",
            &trail.trail_arn(),
            "--start-time",
            &fmt_time(trail.start()),
            "--region",
            trail.home_region(),
            "--state",
        ])
        .arg(common.work.join("heads.json"))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(fs::File::create(common.work.join("watch.stderr"))?);
        Ok(cmd)
    }
}

/// An S3 event notification of one object, as S3 sends it.
fn notification(key: &str, at: DateTime<Utc>) -> String {
    json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "trail",
               "bucket": {"name": BUCKET, "arn": format!("arn:aws:s3:::{BUCKET}")},
               "object": {"key": trailproof::events::encode_key(key), "size": 1, "eTag": "0", "sequencer": "0"}}
    }]})
    .to_string()
}

/// Watch's standard output, line by line as it comes, each with when it was read.
fn lines_of(child: &mut Child) -> crate::Result<Receiver<(Instant, Value)>> {
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let value = serde_json::from_str(&line)
                .unwrap_or_else(|_| json!({"type": "unparsed", "line": line}));
            if tx.send((Instant::now(), value)).is_err() {
                break;
            }
        }
    });
    Ok(rx)
}

/// A field of `/proc/PID/status` in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// User + system CPU seconds of a process (whole thread group), from `/proc/PID/stat`. Read
/// after its output ended and before it is waited for, it is the exited process's total.
fn cpu_seconds(pid: u32) -> Option<(f64, f64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    let hz = 100.0; // USER_HZ: 100 on every Linux architecture trailproof builds for
    Some((ticks(11)? / hz, ticks(12)? / hz))
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Watch's lines with when each was read (seconds from `from`), into WORK/lines.jsonl, to
/// look into a run afterwards.
fn save_lines(common: &Common, from: Instant, seen: &[(Instant, Value)]) -> crate::Result<()> {
    let mut out = String::new();
    for (at, line) in seen {
        let t = at.saturating_duration_since(from).as_secs_f64();
        out.push_str(&json!({"t": t, "line": line}).to_string());
        out.push('\n');
    }
    fs::write(common.work.join("lines.jsonl"), out)?;
    Ok(())
}

fn fresh_dir(dir: &Path) -> crate::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    Ok(())
}

fn append_results(common: &Common, rows: &str) -> crate::Result<()> {
    if let Some(path) = &common.results {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.write_all(rows.as_bytes())?;
    }
    Ok(())
}

fn stderr_tail(common: &Common) -> String {
    let text = fs::read_to_string(common.work.join("watch.stderr")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Sends one line to watch's standard input.
fn send(stdin: &mut ChildStdin, line: &str) -> crate::Result<()> {
    stdin.write_all(line.as_bytes())?;
    stdin.write_all(b"\n")?;
    stdin.flush()?;
    Ok(())
}

/// Reads watch's lines until one of `kind`; every line read goes to `seen`. A digest line that
/// is not valid, a finding or an error line fails the run.
fn read_until(
    rx: &Receiver<(Instant, Value)>,
    kind: &str,
    seen: &mut Vec<(Instant, Value)>,
) -> crate::Result<(Instant, Value)> {
    loop {
        let (at, line) = rx
            .recv_timeout(LINE_TIMEOUT)
            .map_err(|e| format!("waiting for a {kind} line: {e}"))?;
        seen.push((at, line.clone()));
        let t = line["type"].as_str().unwrap_or("");
        if matches!(t, "finding" | "error" | "unparsed")
            || (matches!(t, "digest" | "sweep") && line["verdict"] != "valid")
        {
            return Err(format!("not valid: {line}").into());
        }
        if t == kind {
            return Ok((at, line));
        }
    }
}

fn live(args: &LiveArgs) -> crate::Result<()> {
    let common = &args.common;
    fresh_dir(&common.work)?;
    let started = Instant::now();
    let trail = TrailBuilder::new()
        .bucket(BUCKET)
        .trail_name(TRAIL_NAME)
        .hours(args.hours)
        .logs_per_hour(args.logs_per_hour)
        .records_per_log(args.records_per_log)
        .build();
    let digests: Vec<DigestInfo> = trail
        .digests_in(trail.home_region())
        .into_iter()
        .cloned()
        .collect();
    eprintln!(
        "watch live: {} digests, {} log files generated in {:.1} s",
        digests.len(),
        trail.log_keys().len(),
        started.elapsed().as_secs_f64()
    );
    let servers = Servers::start(&common.work.join("s3"), &trail)?;
    // No sweep during the run: the trail is of the past, and the latency measured is the
    // events'.
    let mut child = servers
        .watch(
            common,
            &trail,
            &["--from-file", "-", "--sweep-interval", "365d"],
        )?
        .stdin(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let rx = lines_of(&mut child)?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut seen = Vec::new();
    let mut latencies = Vec::new();
    let mut observed = Vec::new();
    let mut events: u64 = 0;
    let mut rss: Vec<(u64, u64)> = Vec::new();
    let mut next_sample = args.rss_every;
    let mut previous: Option<String> = None;
    let delivered = Instant::now();
    let result = (|| -> crate::Result<()> {
        for d in &digests {
            for key in &d.log_keys {
                servers.put(&trail, key)?;
                send(&mut stdin, &notification(key, Utc::now()))?;
                events += 1;
            }
            servers.put(&trail, &d.key)?;
            let written = Instant::now();
            let digest_line = notification(&d.key, Utc::now());
            send(&mut stdin, &digest_line)?;
            events += 1;
            let (at, line) = read_until(&rx, "digest", &mut seen)?;
            if line["digest_key"] != d.key.as_str() {
                return Err(format!("expected {}, got {line}", d.key).into());
            }
            latencies.push(line["latency_seconds"].as_f64().ok_or("no latency")?);
            observed.push(at.duration_since(written).as_secs_f64());
            // At least once delivery: the previous hour's notification comes again.
            if let Some(again) = previous.replace(digest_line) {
                send(&mut stdin, &again)?;
                events += 1;
                read_until(&rx, "duplicate", &mut seen)?;
            }
            // Every event sent so far has been handled: watch handles them in order.
            while events >= next_sample {
                let kb = status_kb(pid, "VmRSS").ok_or("no VmRSS")?;
                rss.push((events, kb));
                next_sample += args.rss_every;
            }
        }
        Ok(())
    })();
    let hwm = status_kb(pid, "VmHWM");
    // End of input: watch prints its summary and exits.
    drop(stdin);
    let summary = result.and_then(|()| read_until(&rx, "summary", &mut seen).map(|(_, l)| l));
    let elapsed = delivered.elapsed().as_secs_f64();
    save_lines(common, delivered, &seen)?;
    let summary = match summary {
        Ok(summary) => summary,
        Err(e) => {
            // Stuck or failed: it need not run on.
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{e}\n--- watch's stderr:\n{}", stderr_tail(common)).into());
        }
    };
    let status = child.wait()?;
    if !status.success() || summary["verdict"] != "valid" {
        return Err(format!("watch exited {status}; {summary}\n{}", stderr_tail(common)).into());
    }
    let n = latencies.len();
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let mut obs = observed.clone();
    obs.sort_by(f64::total_cmp);
    let (median, p99) = (percentile(&sorted, 50.0), percentile(&sorted, 99.0));
    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let latency_ok = median <= MEDIAN_TARGET_S && p99 <= P99_TARGET_S;
    let result_line = json!({
        "bench": "watch-latency",
        "digests": n,
        "log_files_per_digest": args.logs_per_hour,
        "events": events,
        "median_s": median,
        "p90_s": percentile(&sorted, 90.0),
        "p99_s": p99,
        "max_s": sorted.last(),
        "observed_median_s": percentile(&obs, 50.0),
        "observed_p99_s": percentile(&obs, 99.0),
        "wall_s": elapsed,
        "target": format!("median <= {MEDIAN_TARGET_S} s, p99 <= {P99_TARGET_S} s"),
        "verdict": met(latency_ok),
    });
    println!("{result_line}");
    let mut rows = format!(
        "| latency (event time to verdict line) | {n} digests × {} log files, {events} events | median {median:.3} s, p90 {:.3} s, p99 {p99:.3} s, max {:.3} s | median ≤ {MEDIAN_TARGET_S} s, p99 ≤ {P99_TARGET_S} s | {} |\n",
        args.logs_per_hour,
        percentile(&sorted, 90.0),
        sorted.last().copied().unwrap_or(f64::NAN),
        met(latency_ok)
    );
    // RSS: flat when what it grew by from the sample at 2,000 events (start-up allocations,
    // buffers and caches reached their size) to the last sample is within the limit.
    let base = rss
        .iter()
        .find(|(e, _)| *e >= 2 * args.rss_every)
        .or(rss.first());
    let last = rss.last();
    let samples: Vec<String> = rss
        .iter()
        .map(|(e, kb)| format!("{e}: {:.1}", *kb as f64 / 1024.0))
        .collect();
    let growth = match (base, last) {
        (Some(b), Some(l)) => Some(l.1.saturating_sub(b.1)),
        _ => None,
    };
    let rss_verdict = if events < 10_000 {
        // A smoke run: too few events to call it flat or not.
        "n/a (< 10,000 events)"
    } else {
        met(growth.is_some_and(|g| g <= RSS_GROWTH_LIMIT_KB))
    };
    let rss_line = json!({
        "bench": "watch-rss",
        "events": events,
        "samples_kb": rss,
        "growth_from_2k_kb": growth,
        "peak_kb": hwm,
        "target": format!("≥ 10,000 events; last sample − sample at 2k ≤ {} MB", RSS_GROWTH_LIMIT_KB / 1024),
        "verdict": rss_verdict,
    });
    println!("{rss_line}");
    rows.push_str(&format!(
        "| RSS over {events} events (events handled: VmRSS MB) | {} | growth from the 2nd sample to the last {:.1} MB, peak {:.1} MB | ≥ 10,000 events, growth ≤ {} MB | {} |\n",
        samples.join(", "),
        growth.unwrap_or(0) as f64 / 1024.0,
        hwm.unwrap_or(0) as f64 / 1024.0,
        RSS_GROWTH_LIMIT_KB / 1024,
        rss_verdict
    ));
    append_results(common, &rows)?;
    Ok(())
}

fn replay(args: &ReplayArgs) -> crate::Result<()> {
    let common = &args.common;
    fresh_dir(&common.work)?;
    let regions: Vec<&str> = REGIONS
        .get(..args.regions)
        .ok_or("--regions: at most 8")?
        .to_vec();
    // A day ending 23 minutes before the last full hour (testkit's windows start 37 minutes
    // past the hour): the sweep ending a --once run finds every chain's newest edge in time.
    let now = Utc::now();
    let hour = now.duration_trunc(TimeDelta::hours(1))?;
    let start = hour - TimeDelta::hours(i64::from(args.hours) + 1);
    let started = Instant::now();
    let members: Vec<Trail> = (0..args.accounts)
        .into_par_iter()
        .map(|i| {
            TrailBuilder::new()
                .bucket(BUCKET)
                .trail_name(TRAIL_NAME)
                .organization("o-bench00001")
                .account(&format!("{:012}", 100_000_000_000_u64 + u64::from(i)))
                .regions(&regions)
                .start(start)
                .hours(args.hours)
                .logs_per_hour(args.logs_per_hour)
                .records_per_log(args.records_per_log)
                .seed(u64::from(i) + 1)
                .build()
        })
        .collect();
    let first = members.first().ok_or("--accounts: at least 1")?;
    let mut digests: Vec<&DigestInfo> = members
        .iter()
        .flat_map(|m| m.digests.iter().filter(|d| !d.backfill))
        .collect();
    // In delivery order: hour by hour, each chain's log files then its digest.
    digests.sort_by(|a, b| a.end.cmp(&b.end).then_with(|| a.key.cmp(&b.key)));
    let log_files: usize = digests.iter().map(|d| d.log_keys.len()).sum();
    eprintln!(
        "watch replay: {} chains, {} digests, {log_files} log files generated in {:.1} s",
        args.accounts as usize * regions.len(),
        digests.len(),
        started.elapsed().as_secs_f64()
    );
    let servers = Servers::start(&common.work.join("s3"), first)?;
    let uploaded = Instant::now();
    let mut objects: BTreeMap<&str, &Trail> = BTreeMap::new();
    for m in &members {
        for (_, key) in m.archive.objects.keys() {
            objects.insert(key.as_str(), m);
        }
    }
    for (key, m) in &objects {
        servers.put(m, key)?;
    }
    let mut events = String::new();
    let mut count = 0;
    for d in &digests {
        let at = d.end + TimeDelta::minutes(5);
        for key in d.log_keys.iter().chain([&d.key]) {
            events.push_str(&notification(key, at));
            events.push('\n');
            count += 1;
        }
    }
    let file = common.work.join("events.jsonl");
    fs::write(&file, events)?;
    eprintln!(
        "watch replay: {} objects uploaded, {count} events written in {:.1} s",
        objects.len(),
        uploaded.elapsed().as_secs_f64()
    );
    let file = file.to_str().ok_or("work dir: not UTF-8")?;
    let before = servers.s3.stats.to_json();
    let keys_before = servers.cloudtrail.state.stats.to_json();
    let spawned = Instant::now();
    let mut child = servers
        .watch(
            common,
            first,
            &[
                "--from-file",
                file,
                "--once",
                "--all-accounts",
                "--all-regions",
            ],
        )?
        .stdin(Stdio::null())
        .spawn()?;
    let pid = child.id();
    let rx = lines_of(&mut child)?;
    let mut seen = Vec::new();
    let mut peak = 0;
    let summary = loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok((at, line)) => {
                let done = line["type"] == "summary";
                seen.push((at, line.clone()));
                if done {
                    break Some(line);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
        }
        peak = peak.max(status_kb(pid, "VmHWM").unwrap_or(0));
        if spawned.elapsed() > LINE_TIMEOUT * 4 {
            return Err("watch replay: no summary in 20 minutes".into());
        }
    };
    // Wait for the end of its output: the process has exited (not yet reaped).
    while rx.recv_timeout(Duration::from_secs(60)).is_ok() {}
    let wall = spawned.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid);
    let status = child.wait()?;
    let after = servers.s3.stats.to_json();
    let keys_after = servers.cloudtrail.state.stats.to_json();
    let cloudtrail_calls = keys_after["cloudtrail"].as_u64().unwrap_or(0) as f64
        - keys_before["cloudtrail"].as_u64().unwrap_or(0) as f64;
    let requests = |name: &str| {
        after[name].as_u64().unwrap_or(0) as f64 - before[name].as_u64().unwrap_or(0) as f64
    };
    save_lines(common, spawned, &seen)?;
    let bad: Vec<&Value> = seen
        .iter()
        .map(|(_, l)| l)
        .filter(|l| {
            let t = l["type"].as_str().unwrap_or("");
            matches!(t, "finding" | "error" | "unparsed")
                || (matches!(t, "digest" | "sweep") && l["verdict"] != "valid")
        })
        .collect();
    let verified: Vec<&(Instant, Value)> = seen
        .iter()
        .filter(|(_, l)| l["type"] == "digest" && l["verdict"] == "valid")
        .collect();
    let checked: u64 = verified
        .iter()
        .map(|(_, l)| l["digests_checked"].as_u64().unwrap_or(0))
        .sum();
    let sweeps = seen.iter().filter(|(_, l)| l["type"] == "sweep").count();
    let chains = args.accounts as usize * regions.len();
    let Some(summary) = summary else {
        return Err(format!("watch replay: no summary\n{}", stderr_tail(common)).into());
    };
    if !status.success()
        || !bad.is_empty()
        || summary["verdict"] != "valid"
        || checked != digests.len() as u64
        || sweeps != chains
    {
        return Err(format!(
            "watch replay: watch ended with {status}, {checked} of {} digests verified, {sweeps} sweep lines for {chains} chains, {} lines not valid (first: {:?}); {summary}\n{}",
            digests.len(),
            bad.len(),
            bad.first(),
            stderr_tail(common)
        )
        .into());
    }
    let last_digest = verified
        .last()
        .map_or(wall, |(at, _)| at.duration_since(spawned).as_secs_f64());
    let rate = checked as f64 / wall;
    let met = if rate >= THROUGHPUT_TARGET {
        "met"
    } else {
        "MISSED"
    };
    let (user, sys) = cpu.unwrap_or((f64::NAN, f64::NAN));
    let line = json!({
        "bench": "watch-throughput",
        "chains": chains,
        "digests": checked,
        "log_files": log_files,
        "events": count,
        "wall_s": wall,
        "to_last_digest_line_s": last_digest,
        "digests_per_s": rate,
        "cpu_user_s": user,
        "cpu_sys_s": sys,
        "peak_rss_kb": peak,
        "s3_get_per_digest": requests("s3_get") / checked as f64,
        "s3_list_per_digest": requests("s3_list") / checked as f64,
        "cloudtrail_per_digest": cloudtrail_calls / checked as f64,
        "target": format!("≥ {THROUGHPUT_TARGET} digests/s"),
        "verdict": met,
    });
    println!("{line}");
    append_results(
        common,
        &format!(
            "| throughput (`--once` replay, whole process) | {chains} chains ({} accounts × {} regions) × {} h: {checked} digests, {log_files} log files ({} records each), {count} events | {rate:.1} digests/s ({wall:.1} s wall, last digest line at {last_digest:.1} s); CPU {user:.1} s user + {sys:.1} s sys; peak RSS {:.1} MB | ≥ {THROUGHPUT_TARGET} digests/s | {met} |\n",
            args.accounts,
            regions.len(),
            args.hours,
            args.records_per_log,
            peak as f64 / 1024.0
        ),
    )?;
    Ok(())
}
