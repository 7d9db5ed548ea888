//! Writes a signed organization trail of many chains for the HTML size benchmark
//! (`benches/html.sh`): ACCOUNTS member accounts × REGIONS regions × HOURS hourly digests, one
//! log file per hour, and one log file of the last chain modified (so the page has a finding).
//!
//! `cargo run -p trailproof-html --example org_archive -- OUT ACCOUNTS REGIONS HOURS`
//! prints the `validate` flags (after `--archive OUT/archive`) on stdout.

use std::path::PathBuf;
use std::process::ExitCode;

use trailproof_testkit::{fmt_time, Archive, TrailBuilder};

const BUCKET: &str = "org-bucket";
const REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, accounts, regions, hours] = args.as_slice() else {
        eprintln!("usage: org_archive OUT ACCOUNTS REGIONS HOURS");
        return ExitCode::from(2);
    };
    let (Ok(accounts), Ok(regions), Ok(hours)) = (
        accounts.parse::<u64>(),
        regions.parse::<usize>(),
        hours.parse::<u32>(),
    ) else {
        eprintln!("org_archive: ACCOUNTS, REGIONS and HOURS are numbers");
        return ExitCode::from(2);
    };
    let regions = &REGIONS[..regions.clamp(1, REGIONS.len())];
    let out = PathBuf::from(out);
    let mut archive = Archive::default();
    let mut first = None;
    let mut last = None;
    for i in 0..accounts {
        let trail = TrailBuilder::new()
            .bucket(BUCKET)
            .trail_name("org")
            .organization("o-bench00001")
            .account(&format!("{:012}", 200_000_000_000 + i))
            .regions(regions)
            .hours(hours)
            .logs_per_hour(1)
            .records_per_log(1)
            .seed(i)
            .build();
        archive.merge(trail.archive.clone());
        if first.is_none() {
            first = Some(trail.clone());
        }
        last = Some(trail);
    }
    let (Some(first), Some(last)) = (first, last) else {
        eprintln!("org_archive: no account");
        return ExitCode::from(2);
    };
    let region = regions[regions.len() - 1];
    if let Some(log) = last
        .digests_in(region)
        .get(hours as usize / 2)
        .and_then(|d| d.log_keys.first())
    {
        archive.modify_log(BUCKET, log);
    }
    if let Err(e) = archive.write_bucket(BUCKET, &out.join("archive")) {
        eprintln!("org_archive: {e}");
        return ExitCode::from(1);
    }
    if let Err(e) = std::fs::write(
        out.join("public-keys.json"),
        first.archive.public_keys_json(),
    ) {
        eprintln!("org_archive: {e}");
        return ExitCode::from(1);
    }
    println!(
        "--trail-arn {} --start-time {} --end-time {} --all-accounts --all-regions",
        first.trail_arn(),
        fmt_time(first.start()),
        fmt_time(first.start() + chrono::Duration::hours(i64::from(hours)))
    );
    ExitCode::SUCCESS
}
