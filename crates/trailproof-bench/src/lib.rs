//! Benchmark helpers for trailproof, shared by the criterion benches (`benches/micro.rs`) and the
//! `trailproof-bench` binary that `benches/run.sh` drives.
//!
//! - [`Corpus`]: realistic CloudTrail log files (gzip) from the testkit or from an archive on disk.
//! - [`probe`]: the ceiling probe, the machine's raw gunzip + SHA-256 throughput over in-memory
//!   buffers (no I/O, no verification logic), with libdeflate and with flate2 as the workspace
//!   builds it, on one thread or all of them.
#![forbid(unsafe_code)]

pub mod probe;

use std::fs;
use std::io;
use std::path::Path;

use trailproof_testkit::Trail;

/// Bucket of generated trails: s3s-fs names its metadata files after base64 of bucket and key,
/// and file names are limited to 255 bytes, so bucket and trail names stay short.
pub const BUCKET: &str = "tpb";
/// Trail name of generated trails (short for the same reason).
pub const TRAIL_NAME: &str = "t";

/// Gzip log files held in memory.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// The gzip bytes of each log file, as stored in S3.
    pub logs: Vec<Vec<u8>>,
    /// Sum of the uncompressed sizes (gzip `ISIZE` trailers).
    pub inflated_bytes: u64,
}

impl Corpus {
    /// The log files of a generated trail (not its digests).
    pub fn from_trail(trail: &Trail) -> Corpus {
        let logs = trail
            .log_keys()
            .iter()
            .filter_map(|(b, k)| trail.archive.get(b, k))
            .map(|o| o.body.clone())
            .collect();
        Corpus::new(logs)
    }

    /// Every `*.json.gz` file under `CloudTrail/` folders of an archive directory.
    pub fn load_archive(dir: &Path) -> io::Result<Corpus> {
        let mut logs = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in fs::read_dir(&d)? {
                let entry = entry?;
                let path = entry.path();
                if entry.file_type()?.is_dir() {
                    if path.file_name().is_some_and(|n| n != "CloudTrail-Digest") {
                        stack.push(path);
                    }
                } else if path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".json.gz"))
                {
                    logs.push(fs::read(&path)?);
                }
            }
        }
        Ok(Corpus::new(logs))
    }

    /// A corpus of these gzip files.
    pub fn new(logs: Vec<Vec<u8>>) -> Corpus {
        let inflated_bytes = logs.iter().map(|l| u64::from(isize_of(l))).sum();
        Corpus {
            logs,
            inflated_bytes,
        }
    }

    /// Sum of the compressed sizes.
    pub fn compressed_bytes(&self) -> u64 {
        self.logs.iter().map(|l| l.len() as u64).sum()
    }
}

/// The uncompressed size a gzip member announces in its trailer (modulo 2^32).
pub fn isize_of(gz: &[u8]) -> u32 {
    match gz.len().checked_sub(4).and_then(|at| gz.get(at..)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::{Inflater, Worker};
    use sha2::{Digest as _, Sha256};

    #[test]
    fn both_inflaters_hash_what_the_testkit_compressed() {
        let data = br#"{"Records":[{"eventName":"ListBuckets"}]}"#.repeat(500);
        let gz = trailproof_testkit::gzip(&data);
        assert_eq!(isize_of(&gz) as usize, data.len());
        let expected: [u8; 32] = Sha256::digest(&data).into();
        let mut w = Worker::new();
        for inflater in Inflater::ALL {
            assert_eq!(
                w.gunzip_sha256(inflater, &gz),
                Some((expected, data.len() as u64)),
                "{}",
                inflater.name()
            );
            assert_eq!(w.gunzip_only(inflater, &gz), Some(data.len() as u64));
            assert_eq!(w.gunzip_sha256(inflater, &gz[..gz.len() / 2]), None);
        }
    }

    #[test]
    fn a_pass_covers_every_file() {
        let trail = trailproof_testkit::TrailBuilder::new().hours(2).build();
        let corpus = Corpus::from_trail(&trail);
        assert_eq!(corpus.logs.len(), trail.log_keys().len());
        let pool = probe::pool(2);
        for inflater in Inflater::ALL {
            let serial = probe::pass(&corpus, inflater, None);
            let parallel = probe::pass(&corpus, inflater, Some(&pool));
            assert_eq!(serial.inflated_bytes, corpus.inflated_bytes);
            assert_eq!(parallel.inflated_bytes, corpus.inflated_bytes);
            assert_eq!(serial.check, parallel.check);
        }
    }
}
