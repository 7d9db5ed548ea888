//! `trailproof-bench`: the helpers `benches/run.sh` drives.
//!
//! - `gen`: writes a signed testkit trail as an archive directory (with `public-keys.json` and
//!   `.meta.json` signature sidecars) plus `trail.json` describing it.
//! - `serve`: a local S3 server (s3s + s3s-fs) and a fake CloudTrail endpoint serving such a
//!   trail, with an optional delay on every S3 request to stand for a WAN round trip.
//! - `ceiling`: the ceiling probe over the log files of an archive directory.
//! - `watch live` / `watch replay`: `trailproof watch` end to end against both servers (run in
//!   this process): latency from event to verdict line and memory over 10,000 events, and
//!   digests per second replaying an organization's day with `--once`.
//! - `table`: renders the measurements `run.sh` collected, and criterion's estimates, as
//!   markdown.
#![forbid(unsafe_code)]

mod gen;
mod serve;
mod table;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "trailproof-bench", about = "Benchmark helpers for trailproof")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a trail into DIR/archive (skipped when DIR/trail.json already describes it).
    Gen(gen::GenArgs),
    /// Serve an archive over a local S3 server and a fake CloudTrail endpoint.
    Serve(serve::ServeArgs),
    /// Raw gunzip + SHA-256 throughput over an archive's log files held in memory.
    Ceiling {
        /// The archive directory (its `CloudTrail/` log files are read; digests are not).
        #[arg(long)]
        archive: PathBuf,
        /// Threads for the all-cores pass (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Passes per measurement; the fastest counts.
        #[arg(long, default_value_t = 3)]
        repeat: u32,
    },
    /// Render results as markdown.
    Table(table::TableArgs),
    /// End-to-end benchmarks of `trailproof watch` (latency, memory, throughput).
    #[command(subcommand)]
    Watch(watch::WatchBench),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Gen(args) => gen::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Ceiling {
            archive,
            threads,
            repeat,
        } => ceiling(&archive, threads, repeat),
        Command::Table(args) => table::run(&args),
        Command::Watch(bench) => watch::run(&bench),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trailproof-bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Prints one JSON object per inflater and thread count:
/// `{"probe":"libdeflate","threads":2,"mb_per_s":…,"inflated_bytes":…,"seconds":…}`.
fn ceiling(archive: &std::path::Path, threads: usize, repeat: u32) -> Result<()> {
    use trailproof_bench::probe::{self, Inflater};
    let corpus = trailproof_bench::Corpus::load_archive(archive)
        .map_err(|e| format!("{}: {e}", archive.display()))?;
    if corpus.logs.is_empty() {
        return Err(format!("{}: no log files", archive.display()).into());
    }
    let all = probe::pool(threads);
    for inflater in Inflater::ALL {
        for pool in [None, Some(&all)] {
            let best = (0..repeat.max(1))
                .map(|_| probe::pass(&corpus, inflater, pool))
                .min_by_key(|p| p.elapsed)
                .ok_or("no pass")?;
            let line = serde_json::json!({
                "probe": inflater.name(),
                "threads": pool.map_or(1, rayon::ThreadPool::current_num_threads),
                "files": corpus.logs.len(),
                "compressed_bytes": corpus.compressed_bytes(),
                "inflated_bytes": best.inflated_bytes,
                "seconds": best.elapsed.as_secs_f64(),
                "cpu_seconds": best.cpu.map(|c| c.as_secs_f64()),
                "mb_per_s": best.mb_per_s(),
                "mb_per_cpu_s": best.mb_per_cpu_s(),
                "check": best.check,
            });
            println!("{line}");
        }
    }
    Ok(())
}
