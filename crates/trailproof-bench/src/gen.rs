//! `gen`: a signed testkit trail written as an archive directory, described by `trail.json`.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Duration;
use clap::Args;
use serde_json::{json, Value};
use trailproof_bench::{Corpus, BUCKET, TRAIL_NAME};
use trailproof_testkit::{fmt_time, TrailBuilder};

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Output directory: DIR/archive (the bucket's objects, `.meta.json` sidecars,
    /// `public-keys.json`) and DIR/trail.json.
    #[arg(long)]
    out: PathBuf,
    /// Hourly digests.
    #[arg(long)]
    hours: u32,
    /// Log files per hour (each hour has this ± 1).
    #[arg(long)]
    logs_per_hour: u32,
    /// Records per log file.
    #[arg(long)]
    records_per_log: u32,
    /// Hours of the subset the AWS CLI is timed on when the whole trail would take too long
    /// (recorded in trail.json; 0: the whole trail).
    #[arg(long, default_value_t = 0)]
    subset_hours: u32,
    /// Adds this many entries, naming log files that do not exist, to the newest digest, and
    /// signs it again with the trail's (CloudTrail test) key: a genuine-looking digest of that
    /// size, for the memory benchmark.
    #[arg(long, default_value_t = 0)]
    big_digest_entries: u32,
}

/// What `trail.json` records about the generated trail; `run.sh` reads it with `jq`-free grep,
/// so keep it one flat object.
fn describe(args: &GenArgs) -> Value {
    json!({
        "hours": args.hours,
        "logs_per_hour": args.logs_per_hour,
        "records_per_log": args.records_per_log,
        "big_digest_entries": args.big_digest_entries,
    })
}

pub fn run(args: &GenArgs) -> crate::Result<()> {
    let trail_json = args.out.join("trail.json");
    if let Ok(existing) = fs::read(&trail_json) {
        let existing: Value = serde_json::from_slice(&existing)?;
        if existing.get("params") == Some(&describe(args)) {
            eprintln!("gen: {} is up to date", args.out.display());
            return Ok(());
        }
    }
    let started = Instant::now();
    let mut trail = TrailBuilder::new()
        .bucket(BUCKET)
        .trail_name(TRAIL_NAME)
        .hours(args.hours)
        .logs_per_hour(args.logs_per_hour)
        .records_per_log(args.records_per_log)
        .build();
    if args.big_digest_entries > 0 {
        enlarge_newest_digest(&mut trail, args.big_digest_entries)?;
    }
    let built = started.elapsed();
    let corpus = Corpus::from_trail(&trail);

    // Write next to the target, then swap, so an interrupted run leaves no half archive.
    let tmp = with_suffix(&args.out, ".partial");
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    let archive = tmp.join("archive");
    fs::create_dir_all(&archive)?;
    trail.archive.write_bucket(BUCKET, &archive)?;
    fs::write(
        archive.join("public-keys.json"),
        trail.archive.public_keys_json(),
    )?;

    let start = trail.start();
    let end = start + Duration::hours(i64::from(args.hours));
    let subset_hours = if args.subset_hours == 0 || args.subset_hours >= args.hours {
        args.hours
    } else {
        args.subset_hours
    };
    let subset_end = start + Duration::hours(i64::from(subset_hours));
    // Logs the AWS CLI validates over [start, subset_end]: those of digests listed for it (key
    // time up to an hour after the end, like the digest the range's last hour ends in).
    let subset_logs: usize = trail
        .digests
        .iter()
        .filter(|d| !d.backfill && d.end <= subset_end + Duration::hours(1))
        .map(|d| d.log_keys.len())
        .sum();
    let description = json!({
        "params": describe(args),
        "trail_arn": trail.trail_arn(),
        "bucket": BUCKET,
        "region": trail.home_region(),
        "start": fmt_time(start),
        "end": fmt_time(end),
        "digests": trail.digests.len(),
        "logs": corpus.logs.len(),
        "compressed_bytes": corpus.compressed_bytes(),
        "inflated_bytes": corpus.inflated_bytes,
        "subset_end": fmt_time(subset_end),
        "subset_hours": subset_hours,
        "subset_logs": subset_logs,
        "generate_seconds": built.as_secs_f64(),
    });
    fs::write(
        tmp.join("trail.json"),
        serde_json::to_string_pretty(&description)? + "\n",
    )?;
    if args.out.exists() {
        fs::remove_dir_all(&args.out)?;
    }
    fs::rename(&tmp, &args.out)?;
    eprintln!(
        "gen: {}: {} digests, {} logs, {:.1} MB gzip, {:.1} MB inflated ({:.1} s to build, {:.1} s in all)",
        args.out.display(),
        trail.digests.len(),
        corpus.logs.len(),
        corpus.compressed_bytes() as f64 / 1e6,
        corpus.inflated_bytes as f64 / 1e6,
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// See [`GenArgs::big_digest_entries`].
fn enlarge_newest_digest(trail: &mut trailproof_testkit::Trail, entries: u32) -> crate::Result<()> {
    let region = trail.home_region().to_owned();
    let newest = trail
        .digests_in(&region)
        .last()
        .map(|d| d.key.clone())
        .ok_or("gen: the trail has no digest to enlarge")?;
    // Beside the trail's own log files, where none of these exists.
    let folder = trail
        .digests
        .iter()
        .flat_map(|d| d.log_keys.iter())
        .find_map(|k| k.rsplit_once('/').map(|(dir, _)| format!("{dir}/")))
        .ok_or("gen: the trail has no log file")?;
    trail.archive.edit_digest_json(BUCKET, &newest, |v| {
        if let Some(logs) = v["logFiles"].as_array_mut() {
            for i in 0..entries {
                logs.push(json!({
                    "s3Bucket": BUCKET,
                    "s3Object": format!("{folder}gone/never-delivered-{i:07}.json.gz"),
                    "hashValue": "0".repeat(64),
                    "hashAlgorithm": "SHA-256",
                }));
            }
        }
    });
    trail
        .archive
        .resign_digest(BUCKET, &newest, &trailproof_testkit::TestKey::a());
    Ok(())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}
