//! Writes `testdata/`: the bundled sample archive and one archive per verdict, each with a
//! `scenario.json` giving the command line. Directory names state the expected verdict.
//!
//! `cargo run -p trailproof-testkit --bin gen-testdata -- testdata` rebuilds them byte for byte;
//! `tools/regen-expected.sh` then records the expected output (the AWS CLI's own, for scenarios
//! where trailproof must match it).
#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;
use trailproof_testkit::scenarios::{self, Scenario};

fn write(root: &Path, s: &Scenario) -> std::io::Result<()> {
    let dir = root.join(s.name);
    // Replace the archives, keep the recorded expected output.
    if dir.exists() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "archive" || name.starts_with("bucket-") {
                fs::remove_dir_all(entry.path())?;
            }
        }
    }
    let archive = dir.join("archive");
    fs::create_dir_all(&archive)?;
    for bucket in s.archive.buckets() {
        let target: PathBuf = if bucket == s.trail.bucket() {
            archive.clone()
        } else {
            dir.join(format!("bucket-{bucket}"))
        };
        s.archive.write_bucket(&bucket, &target)?;
    }
    // Beside the archive, not in it: the keys are the trust anchor, obtained apart from the
    // data they check.
    fs::write(dir.join("public-keys.json"), s.archive.public_keys_json())?;
    let meta = json!({
        "description": s.description,
        "bucket": s.trail.bucket(),
        "args": s.args,
        "oracle_args": s.oracle_args,
        "aws_cli_compatible": s.aws_cli_compatible,
        "difference": s.difference,
    });
    fs::write(
        dir.join("scenario.json"),
        serde_json::to_string_pretty(&meta)
            .map(|j| j + "\n")
            .map_err(std::io::Error::other)?,
    )
}

fn main() -> std::process::ExitCode {
    let root = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("testdata"), PathBuf::from);
    for s in scenarios::all("trail-bucket") {
        if let Err(e) = write(&root, &s) {
            eprintln!("gen-testdata: {}: {e}", s.name);
            return std::process::ExitCode::FAILURE;
        }
        println!("{}", s.name);
    }
    std::process::ExitCode::SUCCESS
}
