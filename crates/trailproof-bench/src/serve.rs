//! `serve`: a generated trail behind trailproof-testserver's local S3 server and CloudTrail
//! endpoint on 127.0.0.1, for `trailproof validate` and `aws cloudtrail validate-logs` alike.
//!
//! The servers the tests use, with a fixed delay before every S3 request (`--delay-ms`) to
//! stand for the round trip to S3 over a WAN, a persistent s3s-fs root so a large trail is
//! uploaded once and served many times, no request log (only counts, at `GET /stats`), and
//! no `GetTrailStatus`: the trails are of the past, their tails judged from signed data.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};
use trailproof_testserver::{load_dir, BoxError, CloudTrailServer, S3Server, Stats};

/// Credentials the server accepts (any client of the benchmark uses these).
pub const ACCESS_KEY: &str = "AKIDTRAILPROOFBENCH";
pub const SECRET_KEY: &str = "trailproof-bench-secret-key";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A directory made by `gen` (its `archive/` and `trail.json`).
    #[arg(long)]
    trail: PathBuf,
    /// The s3s-fs root. The archive is uploaded into it unless it already holds this trail.
    #[arg(long)]
    root: PathBuf,
    /// Delay before every S3 request is handled, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Written once the servers are ready: `S3_URL=…` and `CLOUDTRAIL_URL=…` lines.
    #[arg(long)]
    env_file: PathBuf,
    /// PutObject requests in flight while uploading.
    #[arg(long, default_value_t = 32)]
    upload_concurrency: usize,
}

pub fn run(args: &ServeArgs) -> crate::Result<()> {
    let trail: Value = serde_json::from_slice(&fs::read(args.trail.join("trail.json"))?)?;
    let archive = args.trail.join("archive");
    let keys: Value = serde_json::from_slice(&fs::read(archive.join("public-keys.json"))?)?;
    let bucket = trail["bucket"].as_str().ok_or("trail.json: no bucket")?;
    fs::create_dir_all(&args.root)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let marker = args.root.join(".trailproof-bench-loaded");
        let wanted = serde_json::to_string(&trail)?;
        if fs::read_to_string(&marker).ok().as_deref() != Some(wanted.as_str()) {
            let started = Instant::now();
            let n = load_dir(&args.root, bucket, &archive, args.upload_concurrency).await?;
            fs::write(&marker, &wanted)?;
            eprintln!(
                "serve: uploaded {n} objects in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        let stats = Arc::new(Stats::default());
        let s3 = S3Server::builder()
            .root(&args.root)
            .credentials(ACCESS_KEY, SECRET_KEY)
            .delay(Duration::from_millis(args.delay_ms))
            .log_requests(false)
            .stats(stats.clone())
            .start()
            .await;
        // Every key on one page: the AWS CLI reads only the first.
        let cloudtrail = CloudTrailServer::builder()
            .access_key(ACCESS_KEY)
            .trail_status(Value::Null)
            .stats(stats)
            .start()
            .await;
        cloudtrail.add_public_keys(&keys);
        cloudtrail.add_trail(json!({
            "Name": trailproof_bench::TRAIL_NAME,
            "S3BucketName": trail["bucket"],
            "TrailARN": trail["trail_arn"],
            "HomeRegion": trail["region"],
            "IsMultiRegionTrail": false,
            "IsOrganizationTrail": false,
            "LogFileValidationEnabled": true,
            "IncludeGlobalServiceEvents": true,
        }));
        let (s3_url, ct_url) = (&s3.url, &cloudtrail.url);
        let tmp = args.env_file.with_extension("partial");
        fs::write(&tmp, format!("S3_URL={s3_url}\nCLOUDTRAIL_URL={ct_url}\n"))?;
        fs::rename(&tmp, &args.env_file)?;
        eprintln!(
            "serve: S3 {s3_url} (delay {} ms), CloudTrail {ct_url}",
            args.delay_ms
        );
        // Serve until killed.
        std::future::pending::<()>().await;
        Ok::<(), BoxError>(())
    })
}
