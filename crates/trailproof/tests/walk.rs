//! Library-level checks of the walk that the CLI scenarios do not reach: storage failures are
//! "not checked" (never valid), and the verdicts do not depend on parallelism.

use std::io::Read;
use std::ops::ControlFlow;

use trailproof::{
    validate, Chain, DigestOutcome, Entry, KeySet, LogOutcome, MemoryStore, Object, ObjectStore,
    Options, Parallelism, Status, StoreError, TrailArn, Verdict,
};
use trailproof_testkit::{Trail, TrailBuilder};

fn store_of_archive(archive: &trailproof_testkit::Archive) -> MemoryStore {
    archive
        .objects
        .iter()
        .map(|(k, o)| {
            let metadata = Some(o.metadata.clone());
            (
                k.clone(),
                Object {
                    bytes: o.body.clone(),
                    metadata,
                },
            )
        })
        .collect()
}

fn store_of(trail: &Trail) -> MemoryStore {
    store_of_archive(&trail.archive)
}

fn chain_of(trail: &Trail) -> (Chain, String) {
    let arn = TrailArn::parse(&trail.trail_arn()).expect("arn");
    (Chain::for_trail(&arn, trail.bucket()), arn.arn.clone())
}

fn keys(trail: &Trail) -> KeySet {
    KeySet::from_list_public_keys_json(trail.archive.public_keys_json().as_bytes(), "keys")
        .expect("keys")
}

fn options(p: Parallelism) -> Options {
    Options::new(
        trailproof::time::parse("2024-03-01T00:00:00Z").expect("t"),
        trailproof::time::parse("2024-03-01T06:00:00Z").expect("t"),
    )
    .parallelism(p)
}

/// Serves a MemoryStore but fails to read some objects: a flaky disk or network.
struct Failing {
    inner: MemoryStore,
    fail_key: String,
}

struct BrokenReader;
impl Read for BrokenReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "read timed out",
        ))
    }
}

impl ObjectStore for Failing {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.inner.list(bucket, prefix, start_after, each)
    }
    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        if key == self.fail_key {
            return Err(StoreError::unreadable(bucket, key, "connection reset"));
        }
        self.inner.get(bucket, key, limit)
    }
    fn open(&self, bucket: &str, key: &str) -> Result<trailproof::store::ObjectReader, StoreError> {
        if key == self.fail_key {
            return Ok(Box::new(BrokenReader));
        }
        self.inner.open(bucket, key)
    }
}

#[test]
fn an_unreadable_log_is_not_checked_and_the_run_incomplete() {
    let trail = TrailBuilder::new().hours(6).build();
    let (chain, arn) = chain_of(&trail);
    let log = trail.digests_in("us-east-1")[2].log_keys[0].clone();
    let store = Failing {
        inner: store_of(&trail),
        fail_key: log.clone(),
    };
    let report = validate(
        &store,
        &keys(&trail),
        &chain,
        &arn,
        &options(Parallelism::Serial),
    )
    .expect("run");
    let outcome = report
        .entries
        .iter()
        .find_map(|e| match e {
            Entry::Log(l) if l.key == log => Some(l.outcome.clone()),
            _ => None,
        })
        .expect("log reported");
    assert!(
        matches!(&outcome, LogOutcome::Unreadable { cause } if cause.contains("timed out")),
        "{outcome:?}"
    );
    assert_eq!(outcome.status(), Status::NotChecked);
    assert_eq!(report.summary().log_files.not_checked, 1);
    assert_eq!(report.verdict(), Verdict::Incomplete);
}

#[test]
fn an_unreadable_digest_is_not_checked_and_the_walk_goes_on() {
    let trail = TrailBuilder::new().hours(6).build();
    let (chain, arn) = chain_of(&trail);
    let digest = trail.digests_in("us-east-1")[3].key.clone();
    let store = Failing {
        inner: store_of(&trail),
        fail_key: digest.clone(),
    };
    let report = validate(
        &store,
        &keys(&trail),
        &chain,
        &arn,
        &options(Parallelism::Threads(3)),
    )
    .expect("run");
    let s = report.summary();
    assert_eq!(
        (s.digests.valid, s.digests.not_checked, s.digests.invalid),
        (5, 1, 0)
    );
    assert!(report.entries.iter().any(
        |e| matches!(e, Entry::Digest(d) if d.key == digest && matches!(d.outcome, DigestOutcome::Unreadable { .. }))
    ));
    assert_eq!(report.verdict(), Verdict::Incomplete);
}

#[test]
fn tampering_outranks_what_could_not_be_checked() {
    let trail = TrailBuilder::new().hours(6).build();
    let (chain, arn) = chain_of(&trail);
    let mut archive = trail.archive.clone();
    let modified = trail.digests_in("us-east-1")[1].log_keys[0].clone();
    archive.modify_log("trail-bucket", &modified);
    let inner = store_of_archive(&archive);
    let store = Failing {
        inner,
        fail_key: trail.digests_in("us-east-1")[4].log_keys[0].clone(),
    };
    let report = validate(
        &store,
        &keys(&trail),
        &chain,
        &arn,
        &options(Parallelism::Auto),
    )
    .expect("run");
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(report.verdict().exit_code(), 1);
}

#[test]
fn serial_and_parallel_reports_are_identical() {
    let trail = TrailBuilder::new().hours(6).logs_per_hour(8).build();
    let (chain, arn) = chain_of(&trail);
    let mut archive = trail.archive.clone();
    archive.delete("trail-bucket", &trail.digests_in("us-east-1")[2].key);
    archive.modify_log(
        "trail-bucket",
        &trail.digests_in("us-east-1")[4].log_keys[3],
    );
    let store = store_of_archive(&archive);
    let serial = validate(
        &store,
        &keys(&trail),
        &chain,
        &arn,
        &options(Parallelism::Serial),
    )
    .expect("run");
    for threads in [2, 7] {
        let parallel = validate(
            &store,
            &keys(&trail),
            &chain,
            &arn,
            &options(Parallelism::Threads(threads)),
        )
        .expect("run");
        assert_eq!(serial, parallel);
    }
    assert_eq!(serial.verdict(), Verdict::Invalid);
}

/// Counts the reads of every object.
struct Counting {
    inner: MemoryStore,
    gets: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    announced: std::sync::Mutex<Vec<String>>,
}

impl Counting {
    fn count(&self, key: &str) {
        *self
            .gets
            .lock()
            .expect("lock")
            .entry(key.to_owned())
            .or_default() += 1;
    }
}

impl ObjectStore for Counting {
    fn list(
        &self,
        bucket: &str,
        prefix: &str,
        start_after: &str,
        each: &mut dyn FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.inner.list(bucket, prefix, start_after, each)
    }
    fn get(&self, bucket: &str, key: &str, limit: u64) -> Result<Object, StoreError> {
        self.count(key);
        self.inner.get(bucket, key, limit)
    }
    fn open(&self, bucket: &str, key: &str) -> Result<trailproof::store::ObjectReader, StoreError> {
        self.count(key);
        self.inner.open(bucket, key)
    }
    fn prefetch(&self, objects: &[(&str, &str)], _: trailproof::Intent) -> trailproof::Prefetch {
        let mut announced = self.announced.lock().expect("lock");
        announced.extend(objects.iter().map(|(_, k)| (*k).to_owned()));
        trailproof::Prefetch::none()
    }
}

/// Digests are fetched a window at a time and log files checked a batch at a time; neither the
/// window sizes nor dropping valid log entries may change a verdict or the order of the report.
#[test]
fn windows_and_omitted_valid_logs_do_not_change_the_report() {
    let trail = TrailBuilder::new().hours(12).logs_per_hour(6).build();
    let (chain, arn) = chain_of(&trail);
    let digests_of_trail = trail.digests_in("us-east-1");
    let digests = &digests_of_trail;
    let mut archive = trail.archive.clone();
    archive.delete("trail-bucket", &digests[2].key);
    archive.delete("trail-bucket", &digests[3].key);
    archive.modify_log("trail-bucket", &digests[4].log_keys[1]);
    archive.modify_log("trail-bucket", &digests[9].log_keys[0]);
    archive.delete("trail-bucket", &digests[10].log_keys[2]);
    archive.corrupt_signature("trail-bucket", &digests[7].key);
    let store = Counting {
        inner: store_of_archive(&archive),
        gets: Default::default(),
        announced: Default::default(),
    };
    let opts = |p| {
        Options::new(
            trailproof::time::parse("2024-03-01T00:00:00Z").expect("t"),
            trailproof::time::parse("2024-03-01T12:00:00Z").expect("t"),
        )
        .parallelism(p)
        .check_unreferenced_logs(true)
    };
    let reference = validate(
        &store,
        &keys(&trail),
        &chain,
        &arn,
        &opts(Parallelism::Serial),
    )
    .expect("run");
    assert_eq!(reference.verdict(), Verdict::Invalid);
    assert_eq!(
        reference.counts.log_files.total() as usize,
        reference
            .entries
            .iter()
            .filter(|e| matches!(e, Entry::Log(_)))
            .count()
    );
    let invalid_logs = reference
        .entries
        .iter()
        .filter(|e| matches!(e, Entry::Log(l) if l.outcome != LogOutcome::Valid))
        .count();
    assert_eq!(invalid_logs, 3, "{reference:#?}");
    let problems: Vec<Entry> = reference
        .entries
        .iter()
        .filter(|e| !matches!(e, Entry::Log(l) if l.outcome == LogOutcome::Valid))
        .cloned()
        .collect();
    for p in [Parallelism::Serial, Parallelism::Threads(3)] {
        for (window, logs) in [(1, 1), (2, 5), (3, 7), (1000, 100_000)] {
            let run = |keep| {
                validate(
                    &store,
                    &keys(&trail),
                    &chain,
                    &arn,
                    &opts(p).windows(window, logs).keep_valid_logs(keep),
                )
                .expect("run")
            };
            store.gets.lock().expect("lock").clear();
            store.announced.lock().expect("lock").clear();
            assert_eq!(run(true), reference, "{p:?}, windows {window}/{logs}");
            let gets = store.gets.lock().expect("lock");
            assert!(
                gets.values().all(|n| *n == 1),
                "{p:?}, windows {window}/{logs}: an object was read twice: {gets:?}"
            );
            // Every digest the walk reaches (the newest deleted one included: its successor
            // names it) and every log file of the valid ones, each once, whatever the windows.
            let digest_gets = gets
                .keys()
                .filter(|k| k.contains("CloudTrail-Digest"))
                .count();
            assert_eq!(
                digest_gets,
                digests.len() - 1,
                "{p:?}, windows {window}/{logs}"
            );
            let log_entries = reference
                .entries
                .iter()
                .filter(|e| matches!(e, Entry::Log(_)));
            assert_eq!(gets.len() - digest_gets, log_entries.count());
            // Everything read was announced first, once.
            let mut announced = store.announced.lock().expect("lock").clone();
            announced.sort();
            let mut read: Vec<String> = gets.keys().cloned().collect();
            read.sort();
            assert_eq!(announced, read, "{p:?}, windows {window}/{logs}");
            drop(gets);
            let lean = run(false);
            assert_eq!(lean.entries, problems, "{p:?}, windows {window}/{logs}");
            assert_eq!(lean.summary(), reference.summary());
            assert_eq!(lean.verdict(), reference.verdict());
            assert_eq!(lean.findings, reference.findings);
        }
    }
}

#[test]
fn a_chain_continuing_in_another_bucket_is_followed() {
    use sha2::{Digest as _, Sha256};
    use trailproof_testkit::TestKey;
    // The trail's bucket changed at hour 3: older digests (and their logs) live in old-bucket,
    // and the first digest in the new bucket links back into the old one.
    let new = TrailBuilder::new().hours(6).build();
    let old = TrailBuilder::new().hours(6).bucket("old-bucket").build();
    let (chain, arn) = chain_of(&new);
    let (new_d, old_d) = (new.digests_in("us-east-1"), old.digests_in("us-east-1"));
    let mut archive = new.archive.clone();
    for d in &new_d[..3] {
        archive.delete("trail-bucket", &d.key);
    }
    for d in &old_d[..3] {
        for key in std::iter::once(&d.key).chain(&d.log_keys) {
            let o = old
                .archive
                .get("old-bucket", key)
                .expect("old object")
                .clone();
            archive
                .objects
                .insert(("old-bucket".to_owned(), key.clone()), o);
        }
    }
    let mut prev = ("old-bucket".to_owned(), old_d[2].key.clone());
    for d in &new_d[3..] {
        let p = archive.get(&prev.0, &prev.1).expect("previous").clone();
        let signature = p.metadata["signature"].clone();
        let hash = hex::encode(Sha256::digest(trailproof_testkit::gunzip(&p.body)));
        let prev_bucket = prev.0.clone();
        archive.edit_digest_json("trail-bucket", &d.key, |v| {
            v["previousDigestS3Bucket"] = serde_json::json!(prev_bucket);
            v["previousDigestSignature"] = serde_json::json!(signature);
            v["previousDigestHashValue"] = serde_json::json!(hash);
        });
        archive.resign_digest("trail-bucket", &d.key, &TestKey::a());
        prev = ("trail-bucket".to_owned(), d.key.clone());
    }
    let store = store_of_archive(&archive);
    let report = validate(
        &store,
        &keys(&new),
        &chain,
        &arn,
        &options(Parallelism::Serial),
    )
    .expect("run");
    let s = report.summary();
    assert_eq!(
        (s.digests.valid, s.digests.total()),
        (6, 6),
        "{:#?}",
        report.entries
    );
    assert_eq!(s.log_files.valid, s.log_files.total());
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    let buckets: Vec<&str> = report
        .entries
        .iter()
        .filter_map(|e| match e {
            Entry::Digest(d) => Some(d.bucket.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        buckets,
        [
            "trail-bucket",
            "trail-bucket",
            "trail-bucket",
            "old-bucket",
            "old-bucket",
            "old-bucket"
        ]
    );
    assert_eq!(report.verdict(), Verdict::Valid);
}

#[test]
fn backfill_chains_verify_without_metadata_but_for_their_newest_digest() {
    let start = trailproof::time::parse("2024-03-01T00:00:00Z").expect("t");
    let trail = TrailBuilder::new()
        .hours(6)
        .backfill(&[1, 2, 3], start + chrono::Duration::days(2))
        .build();
    let (chain, arn) = chain_of(&trail);
    let newest: Vec<String> = [
        trail.digests_in("us-east-1"),
        trail.backfill_digests_in("us-east-1"),
    ]
    .iter()
    .map(|d| d.last().expect("digest").key.clone())
    .collect();
    let mut store = MemoryStore::new();
    for ((bucket, key), o) in &trail.archive.objects {
        let metadata = (o.metadata.is_empty() || newest.contains(key)).then(|| o.metadata.clone());
        store.put(
            bucket,
            key,
            Object {
                bytes: o.body.clone(),
                metadata,
            },
        );
    }
    let report = validate(
        &store,
        &keys(&trail),
        &chain,
        &arn,
        &options(Parallelism::Serial),
    )
    .expect("run");
    let s = report.summary();
    assert_eq!((s.digests.valid, s.digests.total()), (6, 6));
    assert_eq!(
        (s.backfill_digests.valid, s.backfill_digests.total()),
        (3, 3),
        "{:#?}",
        report.entries
    );
    assert_eq!(report.verdict(), Verdict::Valid);
}

/// Sets the cancel flag once `after` log files were checked, and counts every check.
struct CancelAfter {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    after: u64,
    checked: std::sync::atomic::AtomicU64,
}

impl trailproof::Progress for CancelAfter {
    fn log_checked(&self, _: u64) {
        use std::sync::atomic::Ordering;
        if self.checked.fetch_add(1, Ordering::SeqCst) + 1 >= self.after {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn a_cancelled_run_stops_early_with_no_report() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let trail = TrailBuilder::new().hours(6).logs_per_hour(20).build();
    let total = trail.log_keys().len() as u64;
    let (chain, arn) = chain_of(&trail);
    let store = store_of(&trail);
    for p in [Parallelism::Serial, Parallelism::Threads(4)] {
        // Cancelled before it starts: nothing is read.
        let flag = Arc::new(AtomicBool::new(true));
        let run = validate(
            &store,
            &keys(&trail),
            &chain,
            &arn,
            &options(p).cancel(flag),
        );
        assert!(matches!(run, Err(trailproof::Error::Cancelled)), "{run:?}");

        // Cancelled in the middle of a batch: the other log files of the batch are skipped.
        let progress = Arc::new(CancelAfter {
            flag: Arc::new(AtomicBool::new(false)),
            after: 5,
            checked: AtomicU64::new(0),
        });
        let run = validate(
            &store,
            &keys(&trail),
            &chain,
            &arn,
            &options(p)
                .cancel(progress.flag.clone())
                .progress(progress.clone()),
        );
        assert!(matches!(run, Err(trailproof::Error::Cancelled)), "{run:?}");
        let checked = progress.checked.load(Ordering::SeqCst);
        assert!(checked < total / 2, "{checked} of {total} checked");

        // The flag never set: the same options give the report.
        let flag = Arc::new(AtomicBool::new(false));
        let report = validate(
            &store,
            &keys(&trail),
            &chain,
            &arn,
            &options(p).cancel(flag),
        )
        .expect("run");
        assert_eq!(report.verdict(), Verdict::Valid);
    }
}
