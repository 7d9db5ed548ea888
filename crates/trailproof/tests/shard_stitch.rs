//! Property: a chain walked window by window (`validate_windows`) and stitched (`shard::stitch`)
//! is the report of the single walk (`validate_chains`): the same entries in the same order, the
//! same findings, counts, times found, head and keys. On a really signed trail with one change
//! (a digest, three consecutive digests or backfill digests, or a log deleted, a log modified, a signature dropped or corrupted, no metadata at
//! all, a gap in logging), over ranges and window sizes that put boundaries anywhere.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use chrono::Duration;
use proptest::prelude::*;
use trailproof::shard::{stitch, RunInfo};
use trailproof::{
    validate_chains, validate_windows, Chain, KeySet, MemoryStore, Object, Options, Parallelism,
    PublicKeySource, TrailArn,
};
use trailproof_testkit::{Archive, Trail, TrailBuilder};

const BUCKET: &str = "trail-bucket";
const HOURS: i64 = 8;

fn trails() -> &'static [Trail; 3] {
    static TRAILS: OnceLock<[Trail; 3]> = OnceLock::new();
    TRAILS.get_or_init(|| {
        let base = TrailBuilder::new()
            .hours(HOURS as u32)
            .logs_per_hour(2)
            .records_per_log(2);
        let generated = trailproof::time::parse("2024-03-01T12:00:00Z").unwrap();
        [
            base.clone().build(),
            base.clone().logging_stopped(3, 5).build(),
            base.backfill(&[0, 1, 2, 3, 4, 5, 6, 7], generated).build(),
        ]
    })
}

#[derive(Clone, Debug)]
enum Change {
    None,
    DeleteDigest(usize),
    DeleteDigests(usize),
    DeleteBackfills(usize),
    DeleteLog(usize),
    ModifyLog(usize),
    DropSignature(usize),
    CorruptSignature(usize),
    NoMetadata,
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        Just(Change::None),
        (0usize..8).prop_map(Change::DeleteDigest),
        (0usize..8).prop_map(Change::DeleteDigests),
        (0usize..8).prop_map(Change::DeleteBackfills),
        (0usize..8).prop_map(Change::DeleteLog),
        (0usize..8).prop_map(Change::ModifyLog),
        (0usize..8).prop_map(Change::DropSignature),
        (0usize..8).prop_map(Change::CorruptSignature),
        Just(Change::NoMetadata),
    ]
}

fn store_of(archive: &Archive, metadata: bool) -> MemoryStore {
    archive
        .objects
        .iter()
        .map(|(k, o)| {
            (
                k.clone(),
                Object {
                    bytes: o.body.clone(),
                    metadata: metadata.then(|| o.metadata.clone()),
                },
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn stitched_windows_are_the_single_walk(
        which in 0usize..3,
        change in change(),
        start_minutes in 0i64..150,
        end_minutes in 0i64..150,
        window_hours in 1i64..6,
    ) {
        let trail = &trails()[which];
        let digests = trail.digests_in(trail.home_region());
        let mut archive = trail.archive.clone();
        let pick = |i: usize| &digests[i % digests.len()];
        let mut metadata = true;
        match &change {
            Change::None => {}
            Change::DeleteDigest(i) => archive.delete(BUCKET, &pick(*i).key),
            Change::DeleteBackfills(i) => {
                let backfills = trail.backfill_digests_in(trail.home_region());
                for j in *i..*i + 3 {
                    if !backfills.is_empty() {
                        archive.delete(BUCKET, &backfills[j % backfills.len()].key);
                    }
                }
            }
            Change::DeleteDigests(i) => {
                for j in *i..*i + 3 {
                    archive.delete(BUCKET, &pick(j).key);
                }
            }
            Change::DeleteLog(i) => {
                if let Some(log) = pick(*i).log_keys.first() {
                    archive.delete(BUCKET, log);
                }
            }
            Change::ModifyLog(i) => {
                if let Some(log) = pick(*i).log_keys.first() {
                    archive.modify_log(BUCKET, log);
                }
            }
            Change::DropSignature(i) => archive.drop_signature(BUCKET, &pick(*i).key),
            Change::CorruptSignature(i) => archive.corrupt_signature(BUCKET, &pick(*i).key),
            Change::NoMetadata => metadata = false,
        }
        let store = store_of(&archive, metadata);
        let keys = KeySet::from_list_public_keys_json(
            trail.archive.public_keys_json().as_bytes(),
            "keys",
        )
        .unwrap();
        let arn = TrailArn::parse(&trail.trail_arn()).unwrap();
        let chain = Chain::for_trail(&arn, BUCKET);
        let start = trail.start() + Duration::minutes(start_minutes);
        let end = trail.start() + Duration::hours(HOURS) - Duration::minutes(end_minutes);
        let options = Options::new(start, end)
            .parallelism(Parallelism::Serial)
            .check_unreferenced_logs(true);
        let single = validate_chains(&store, &keys, &[(chain.clone(), None)], &arn.arn, &options)
            .unwrap()
            .remove(0);
        let run = RunInfo::new(
            &arn.arn,
            start,
            end,
            Duration::hours(window_hours),
            1,
            false,
            std::slice::from_ref(&chain),
            &keys.describe(),
            "",
            "run-1",
        );
        let windows = run.windows().unwrap();
        let items: Vec<(Chain, _)> = windows.iter().map(|w| (chain.clone(), *w)).collect();
        let results = validate_windows(&store, &keys, &items, &arn.arn, &options).unwrap();
        let merged = stitch(&run, &chain, &windows, results);
        prop_assert_eq!(&merged.entries, &single.entries);
        prop_assert_eq!(&merged.findings, &single.findings);
        prop_assert_eq!(merged, single);
    }
}
