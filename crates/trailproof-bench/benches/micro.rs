//! Criterion micro-benchmarks on realistic CloudTrail-like data from the testkit, with the
//! ceiling probe in the same run.
//!
//! Data: a trail of 4 h × 40 log files × 50 records (about 160 files of 51 kB inflated, 6.5 kB
//! gzip each, like the end-to-end trails of `benches/run.sh`), and a day of 24 signed digests.
//! Throughputs are in MB/s (10^6 bytes) of *uncompressed* log data, or in elements per second.
//!
//! Groups:
//! - `digest_parse`: `trailproof::digest::parse` (gunzip + JSON) of a digest listing ~40 logs.
//! - `signature_verify`: `PublicKey::verify` (RSA-2048 PKCS#1 v1.5 SHA-256, ring) of the
//!   digests' real signatures, serial and on all cores.
//! - `gunzip_sha256`: `trailproof::loghash::inflate_and_hash`, serial and with rayon.
//! - `validate_in_memory`: `trailproof::validate` over a `MemoryStore` (no I/O), serial and
//!   on all cores: everything the library does per log file, without storage.
//! - `ceiling`: the probe, raw gunzip + SHA-256 in a tight loop over the same in-memory buffers
//!   (libdeflate and flate2 as the workspace builds it), one thread and all cores; and its parts
//!   (inflate alone, SHA-256 alone) on one thread.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rayon::prelude::*;
use sha2::{Digest as _, Sha256};
use trailproof::digest::Limits;
use trailproof::{Chain, KeySet, MemoryStore, Object, Options, Parallelism, PublicKey, TrailArn};
use trailproof_bench::probe::{self, Inflater, Worker};
use trailproof_bench::{Corpus, BUCKET, TRAIL_NAME};
use trailproof_testkit::{Trail, TrailBuilder};

const LOG_HOURS: u32 = 4;
const LOGS_PER_HOUR: u32 = 40;
const RECORDS_PER_LOG: u32 = 50;

struct Data {
    /// 4 hours of logs (for the hashing benches).
    logs: Trail,
    corpus: Corpus,
    /// A day of digests (for parsing and signatures).
    day: Trail,
}

fn data() -> Data {
    let builder = TrailBuilder::new()
        .bucket(BUCKET)
        .trail_name(TRAIL_NAME)
        .logs_per_hour(LOGS_PER_HOUR)
        .records_per_log(RECORDS_PER_LOG);
    let logs = builder.clone().hours(LOG_HOURS).build();
    let corpus = Corpus::from_trail(&logs);
    let day = builder.hours(24).build();
    Data { logs, corpus, day }
}

/// Gzip bytes of the trail's standard digests.
fn digests(trail: &Trail) -> Vec<&[u8]> {
    trail
        .digests
        .iter()
        .filter_map(|d| trail.archive.get(&d.bucket, &d.key))
        .map(|o| o.body.as_slice())
        .collect()
}

fn digest_parse(c: &mut Criterion, d: &Data) {
    let bodies = digests(&d.day);
    let limits = Limits::default();
    let mut g = c.benchmark_group("digest_parse");
    g.throughput(Throughput::Elements(bodies.len() as u64));
    g.bench_function("serial", |b| {
        b.iter(|| {
            for body in &bodies {
                let parsed = trailproof::digest::parse(black_box(body), &limits);
                black_box(
                    parsed
                        .ok()
                        .and_then(|p| p.log_files().ok())
                        .map_or(0, |l| l.len()),
                );
            }
        });
    });
    g.finish();
}

/// A string to sign and its signature.
type Signed = (Vec<u8>, Vec<u8>);

/// (message, signature) of every digest of the day, and the key that signed them.
fn signed(d: &Data) -> (Vec<Signed>, PublicKey) {
    let limits = Limits::default();
    let pairs: Vec<Signed> = d
        .day
        .digests
        .iter()
        .filter_map(|info| d.day.archive.get(&info.bucket, &info.key))
        .filter_map(|o| {
            let parsed = trailproof::digest::parse(&o.body, &limits).ok()?;
            let signature = hex::decode(o.metadata.get("signature")?).ok()?;
            Some((parsed.string_to_sign().into_bytes(), signature))
        })
        .collect();
    let keys = KeySet::from_list_public_keys_json(d.day.archive.public_keys_json().as_bytes(), "k")
        .unwrap_or_else(|e| panic!("testkit keys: {e}"));
    let key = d.day.signing_key_for_hour(0).fingerprint();
    let key = keys
        .get(&key)
        .cloned()
        .unwrap_or_else(|| panic!("testkit key {key} not listed"));
    assert!(
        pairs.iter().all(|(m, s)| key.verify(m, s)),
        "testkit signatures must verify"
    );
    (pairs, key)
}

fn signature_verify(c: &mut Criterion, d: &Data) {
    let (pairs, key) = signed(d);
    // Enough work per iteration for the parallel version to spread over the cores.
    let batch: Vec<&Signed> = pairs.iter().cycle().take(pairs.len() * 8).collect();
    let mut g = c.benchmark_group("signature_verify");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("serial", |b| {
        b.iter(|| {
            batch
                .iter()
                .filter(|(m, s)| key.verify(black_box(m), black_box(s)))
                .count()
        });
    });
    g.bench_function("rayon_all_cores", |b| {
        b.iter(|| {
            batch
                .par_iter()
                .filter(|(m, s)| key.verify(black_box(m), black_box(s)))
                .count()
        });
    });
    g.finish();
}

fn gunzip_sha256(c: &mut Criterion, d: &Data) {
    let logs = &d.corpus.logs;
    let mut g = c.benchmark_group("gunzip_sha256");
    g.throughput(Throughput::BytesDecimal(d.corpus.inflated_bytes));
    g.bench_function("loghash_serial", |b| {
        b.iter(|| {
            logs.iter()
                .map(|gz| {
                    trailproof::loghash::inflate_and_hash(black_box(gz.as_slice())).inflated_len
                })
                .sum::<u64>()
        });
    });
    g.bench_function("loghash_rayon_all_cores", |b| {
        b.iter(|| {
            logs.par_iter()
                .map(|gz| {
                    trailproof::loghash::inflate_and_hash(black_box(gz.as_slice())).inflated_len
                })
                .sum::<u64>()
        });
    });
    g.finish();
}

fn validate_in_memory(c: &mut Criterion, d: &Data) {
    let trail = &d.logs;
    let store: MemoryStore = trail
        .archive
        .objects
        .iter()
        .map(|(k, o)| {
            (
                k.clone(),
                Object {
                    bytes: o.body.clone(),
                    metadata: Some(o.metadata.clone()),
                },
            )
        })
        .collect();
    let keys = KeySet::from_list_public_keys_json(trail.archive.public_keys_json().as_bytes(), "k")
        .unwrap_or_else(|e| panic!("testkit keys: {e}"));
    let arn = TrailArn::parse(&trail.trail_arn()).unwrap_or_else(|e| panic!("arn: {e}"));
    let chain = Chain::for_trail(&arn, BUCKET);
    let start = trail.start();
    let end = start + chrono::Duration::hours(i64::from(LOG_HOURS));
    let expected = d.corpus.logs.len() as u64;
    let mut g = c.benchmark_group("validate_in_memory");
    g.throughput(Throughput::BytesDecimal(d.corpus.inflated_bytes));
    for (name, parallelism) in [
        ("serial", Parallelism::Serial),
        ("all_cores", Parallelism::Auto),
    ] {
        let options = Options::new(start, end).parallelism(parallelism);
        g.bench_function(name, |b| {
            b.iter(|| {
                let report = trailproof::validate(&store, &keys, &chain, &arn.arn, &options)
                    .unwrap_or_else(|e| panic!("validate: {e}"));
                let valid = report.summary().log_files.valid;
                assert_eq!(valid, expected, "every log file is valid");
                valid
            });
        });
    }
    g.finish();
}

fn ceiling(c: &mut Criterion, d: &Data) {
    let corpus = &d.corpus;
    let all = probe::pool(0);
    let mut g = c.benchmark_group("ceiling");
    g.throughput(Throughput::BytesDecimal(corpus.inflated_bytes));
    for inflater in Inflater::ALL {
        let short = match inflater {
            Inflater::Libdeflate => "libdeflate",
            Inflater::Flate2 => "flate2",
        };
        g.bench_function(format!("{short}_sha256_1_thread"), |b| {
            b.iter(|| probe::pass(corpus, inflater, None).check);
        });
        g.bench_function(format!("{short}_sha256_all_cores"), |b| {
            b.iter(|| probe::pass(corpus, inflater, Some(&all)).check);
        });
        g.bench_function(format!("{short}_inflate_only_1_thread"), |b| {
            let mut w = Worker::new();
            b.iter(|| {
                corpus
                    .logs
                    .iter()
                    .filter_map(|gz| w.gunzip_only(inflater, black_box(gz)))
                    .sum::<u64>()
            });
        });
    }
    let inflated: Vec<Vec<u8>> = d
        .logs
        .log_keys()
        .iter()
        .filter_map(|(b, k)| d.logs.archive.get(b, k))
        .map(|o| trailproof_testkit::gunzip(&o.body))
        .collect();
    g.bench_function("sha256_only_1_thread", |b| {
        b.iter(|| {
            inflated
                .iter()
                .map(|data| Sha256::digest(black_box(data))[0])
                .fold(0u8, |a, x| a ^ x)
        });
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let d = data();
    eprintln!(
        "micro: {} log files, {:.1} MB inflated, {:.1} MB gzip; {} digests; {} cores",
        d.corpus.logs.len(),
        d.corpus.inflated_bytes as f64 / 1e6,
        d.corpus.compressed_bytes() as f64 / 1e6,
        d.day.digests.len(),
        rayon::current_num_threads()
    );
    digest_parse(c, &d);
    signature_verify(c, &d);
    gunzip_sha256(c, &d);
    validate_in_memory(c, &d);
    ceiling(c, &d);
}

criterion_group!(micro, benches);
criterion_main!(micro);
