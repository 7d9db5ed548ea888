//! The ceiling probe: gunzip + SHA-256 of in-memory gzip buffers in a tight loop, nothing else
//! (no file or network I/O, no digest, signature or verdict logic), on one thread or many.
//!
//! Two inflaters: libdeflate (whole-buffer, the fastest inflater we know of on x86-64) and
//! flate2 with the backend and features the workspace builds (zlib-rs), streamed through a
//! 64 KiB buffer like `trailproof::loghash`. The probe's ceiling is the faster of the two.

use std::io::Read;
use std::time::{Duration, Instant};

use libdeflater::Decompressor;
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::{isize_of, Corpus};

/// Which inflater the probe uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inflater {
    /// libdeflate through `libdeflater`: one call per file into a buffer sized from `ISIZE`.
    Libdeflate,
    /// flate2 as the workspace configures it (zlib-rs), streaming 64 KiB at a time.
    Flate2,
}

impl Inflater {
    /// Both, libdeflate first.
    pub const ALL: [Inflater; 2] = [Inflater::Libdeflate, Inflater::Flate2];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Inflater::Libdeflate => "libdeflate",
            Inflater::Flate2 => "flate2/zlib-rs",
        }
    }
}

/// Per-thread state: a decompressor and output buffers, reused across files.
pub struct Worker {
    decompressor: Decompressor,
    out: Vec<u8>,
    chunk: Vec<u8>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("out", &self.out.len())
            .field("chunk", &self.chunk.len())
            .finish_non_exhaustive()
    }
}

impl Default for Worker {
    fn default() -> Self {
        Worker::new()
    }
}

impl Worker {
    /// A worker with empty buffers.
    pub fn new() -> Worker {
        Worker {
            decompressor: Decompressor::new(),
            out: Vec::new(),
            chunk: vec![0; 64 * 1024],
        }
    }

    /// Inflates `gz` and returns the SHA-256 of the inflated bytes and their length (`None` if
    /// the data is not valid gzip).
    pub fn gunzip_sha256(&mut self, inflater: Inflater, gz: &[u8]) -> Option<([u8; 32], u64)> {
        match inflater {
            Inflater::Libdeflate => {
                // ISIZE is the size modulo 2^32; the probe's inputs are far below 4 GiB.
                let size = isize_of(gz) as usize;
                self.out.resize(size.max(1), 0);
                let n = self.decompressor.gzip_decompress(gz, &mut self.out).ok()?;
                let out = self.out.get(..n)?;
                Some((Sha256::digest(out).into(), n as u64))
            }
            Inflater::Flate2 => {
                let mut decoder = flate2::bufread::GzDecoder::new(gz);
                let mut hasher = Sha256::new();
                let mut total = 0u64;
                loop {
                    match decoder.read(&mut self.chunk) {
                        Ok(0) => break,
                        Ok(n) => {
                            hasher.update(self.chunk.get(..n)?);
                            total += n as u64;
                        }
                        Err(_) => return None,
                    }
                }
                Some((hasher.finalize().into(), total))
            }
        }
    }

    /// Inflates `gz` only (no hashing); returns the inflated length.
    pub fn gunzip_only(&mut self, inflater: Inflater, gz: &[u8]) -> Option<u64> {
        match inflater {
            Inflater::Libdeflate => {
                let size = isize_of(gz) as usize;
                self.out.resize(size.max(1), 0);
                let n = self.decompressor.gzip_decompress(gz, &mut self.out).ok()?;
                Some(n as u64)
            }
            Inflater::Flate2 => {
                let mut decoder = flate2::bufread::GzDecoder::new(gz);
                let mut total = 0u64;
                loop {
                    match decoder.read(&mut self.chunk) {
                        Ok(0) => break,
                        Ok(n) => total += n as u64,
                        Err(_) => return None,
                    }
                }
                Some(total)
            }
        }
    }
}

/// What one pass over the corpus did.
#[derive(Clone, Copy, Debug)]
pub struct Pass {
    /// Wall time of the pass.
    pub elapsed: Duration,
    /// CPU time of the whole process during the pass (Linux: `/proc/self/task/*/schedstat`).
    pub cpu: Option<Duration>,
    /// Inflated bytes hashed.
    pub inflated_bytes: u64,
    /// XOR of the first byte of every hash (keeps the work observable).
    pub check: u8,
}

impl Pass {
    /// Throughput in MB/s (10^6 bytes) of inflated output.
    pub fn mb_per_s(&self) -> f64 {
        self.inflated_bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// MB of inflated output per second of CPU time (any number of threads).
    pub fn mb_per_cpu_s(&self) -> Option<f64> {
        self.cpu
            .map(|c| self.inflated_bytes as f64 / 1e6 / c.as_secs_f64().max(1e-9))
    }
}

/// CPU time used so far by every thread of this process, from the scheduler's statistics
/// (nanosecond resolution; `None` where `/proc` does not have them).
pub fn process_cpu() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path().join("schedstat");
        let Ok(text) = std::fs::read_to_string(path) else {
            continue; // the thread ended meanwhile
        };
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// One gunzip + SHA-256 pass over every file of `corpus` on `pool` (all its threads), or on the
/// calling thread when `pool` is `None`.
///
/// # Panics
/// If a file is not valid gzip: the probe's inputs are generated.
pub fn pass(corpus: &Corpus, inflater: Inflater, pool: Option<&rayon::ThreadPool>) -> Pass {
    let cpu_before = process_cpu();
    let started = Instant::now();
    let fold = |(check, bytes): (u8, u64), (hash, n): ([u8; 32], u64)| (check ^ hash[0], bytes + n);
    let one = |w: &mut Worker, gz: &Vec<u8>| {
        w.gunzip_sha256(inflater, gz)
            .unwrap_or_else(|| panic!("probe: not valid gzip ({} bytes)", gz.len()))
    };
    let (check, inflated_bytes) = match pool {
        None => {
            let mut w = Worker::new();
            corpus
                .logs
                .iter()
                .map(|gz| one(&mut w, gz))
                .fold((0, 0), fold)
        }
        Some(pool) => pool.install(|| {
            corpus
                .logs
                .par_iter()
                .with_min_len(4)
                .map_init(Worker::new, one)
                .fold(|| (0u8, 0u64), fold)
                .reduce(|| (0, 0), |a, b| (a.0 ^ b.0, a.1 + b.1))
        }),
    };
    let elapsed = started.elapsed();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    Pass {
        elapsed,
        cpu,
        inflated_bytes,
        check,
    }
}

/// A rayon pool of `threads` threads (0: one per core).
///
/// # Panics
/// If the threads cannot be started.
pub fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap_or_else(|e| panic!("cannot start {threads} threads: {e}"))
}
