#![allow(clippy::unwrap_used)]
use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use super::*;
use crate::layout::Chain;
use crate::report::Summary;

fn t(s: &str) -> DateTime<Utc> {
    crate::time::parse(s).unwrap()
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

proptest! {
    /// Every item goes to exactly one shard, shards take contiguous runs in order, and no
    /// shard carries more than its share plus one item.
    #[test]
    fn split_is_disjoint_complete_and_balanced(
        weights in proptest::collection::vec(1u64..10_000, 0..300),
        n in 1u32..=64,
    ) {
        let owner = split(&weights, n);
        prop_assert_eq!(owner.len(), weights.len());
        prop_assert!(owner.iter().all(|s| *s < n));
        prop_assert!(owner.windows(2).all(|w| w[0] <= w[1]));
        let total: u64 = weights.iter().sum();
        let max = weights.iter().copied().max().unwrap_or(0);
        let mut load = vec![0u64; n as usize];
        for (w, s) in weights.iter().zip(&owner) {
            load[*s as usize] += w;
        }
        prop_assert_eq!(load.iter().sum::<u64>(), total);
        for l in &load {
            prop_assert!(*l <= total / u64::from(n) + max, "{load:?}");
        }
    }

    /// The items of shards 1..=N of a run, taken together, are every item once.
    #[test]
    fn shards_cover_every_item_once(
        chains in 0usize..6,
        hours in 1i64..2000,
        window_hours in 1i64..400,
        offset in 0i64..100_000,
        n in 1u32..=64,
    ) {
        let start = t("2020-01-01T00:00:00Z") + Duration::minutes(offset);
        let end = start + Duration::hours(hours);
        let chains: Vec<Chain> = (0..chains).map(|i| Chain {
            bucket: "b".into(), prefix: None, organization_id: None,
            account_id: format!("{i:012}"), source_region: "us-east-1".into(),
            home_region: "us-east-1".into(), trail_name: "t".into(),
        }).collect();
        let run = RunInfo::new("arn", start, end, Duration::hours(window_hours), n, true,
            &chains, "k", "s", "r");
        let windows = run.windows().unwrap();
        let mut seen = Vec::new();
        for shard in 1..=n {
            seen.extend(run.shard_items(shard).unwrap().into_iter().map(|(i, _)| i));
        }
        seen.sort();
        prop_assert_eq!(seen, items(chains.len(), windows.len()));
    }
}

#[test]
fn windows_follow_the_epoch_grid_and_tile_the_range() {
    let start = t("2024-03-01T05:30:00Z");
    let end = t("2024-03-03T01:00:00Z");
    let w = windows(start, end, Duration::days(1)).unwrap();
    assert_eq!(w.len(), 3);
    assert_eq!(w[0].start, start);
    assert_eq!(w[0].end, t("2024-03-02T00:00:00Z"));
    assert_eq!(w[1].end, t("2024-03-03T00:00:00Z"));
    // The newest window ends where the single run's listing does: an hour past the end.
    assert_eq!(w[2].end, end + Duration::hours(1));
    assert!(w[0].oldest && !w[0].newest && w[2].newest && !w[2].oldest);
    for pair in w.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
    }
    // A boundary exactly at the end belongs to the grid; none at the start.
    let w = windows(
        t("2024-03-01T00:00:00Z"),
        t("2024-03-02T00:00:00Z"),
        Duration::days(1),
    );
    assert_eq!(w.unwrap().len(), 2);
    assert!(windows(start, end, Duration::minutes(30)).is_err());
    assert!(windows(
        t("2000-01-01T00:00:00Z"),
        t("2030-01-01T00:00:00Z"),
        Duration::hours(1)
    )
    .is_err());
    // The ends of time and of the window's range are errors, not panics.
    let max = DateTime::<Utc>::MAX_UTC;
    assert!(windows(max - Duration::hours(2), max, Duration::hours(1)).is_err());
    assert!(windows(start, end, Duration::MAX).is_err());
    assert!(windows(DateTime::<Utc>::MIN_UTC, end, Duration::weeks(10_000)).is_ok());
    let mut run = RunInfo::new(
        "arn",
        start,
        end,
        Duration::hours(1),
        1,
        false,
        &[],
        "k",
        "s",
        "r",
    );
    run.window_seconds = i64::MAX;
    assert!(run.windows().is_err());
    assert!(run.out_of_range().is_some());
    assert!(parse_window("9999999999w").is_err());
    assert!(parse_window("1é").is_err());
}

#[test]
fn window_sizes_parse() {
    assert_eq!(parse_window("6h").unwrap(), Duration::hours(6));
    assert_eq!(parse_window("30d").unwrap(), Duration::days(30));
    assert_eq!(parse_window("2w").unwrap(), Duration::weeks(2));
    for bad in [
        "",
        "h",
        "0h",
        "-3d",
        "30",
        "3m",
        "1.5d",
        "99999999999999999w",
    ] {
        assert!(parse_window(bad).is_err(), "{bad}");
    }
}

#[test]
fn shard_numbers_parse_one_based() {
    assert_eq!(parse_shard("1/1").unwrap(), (1, 1));
    assert_eq!(parse_shard("3/8").unwrap(), (3, 8));
    for bad in ["0/4", "5/4", "1/0", "a/4", "4", "1/4/2", "-1/4"] {
        let e = parse_shard(bad).unwrap_err().to_string();
        assert!(e.contains("--shard"), "{bad}: {e}");
    }
}

#[test]
fn auto_reads_slurm_with_a_nonzero_minimum() {
    let vars = env(&[
        ("SLURM_ARRAY_TASK_ID", "12"),
        ("SLURM_ARRAY_TASK_MIN", "10"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]);
    assert_eq!(auto_shard(&vars, None).unwrap(), (3, 4));
    assert_eq!(auto_shard(&vars, Some(4)).unwrap(), (3, 4));
    let e = auto_shard(&vars, Some(5)).unwrap_err().to_string();
    assert!(
        e.contains("Slurm runs 4 tasks but --shard-count is 5"),
        "{e}"
    );
    let zero = env(&[
        ("SLURM_ARRAY_TASK_ID", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]);
    assert_eq!(auto_shard(&zero, None).unwrap(), (1, 4));
    // A stepped array (--array=0-12:4) numbers its tasks past the count.
    let stepped = env(&[
        ("SLURM_ARRAY_TASK_ID", "12"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]);
    let e = auto_shard(&stepped, None).unwrap_err().to_string();
    assert!(e.contains("contiguous"), "{e}");
    let below = env(&[
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_MIN", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]);
    assert!(auto_shard(&below, None).is_err());
    let no_count = env(&[("SLURM_ARRAY_TASK_ID", "1")]);
    assert!(auto_shard(&no_count, None)
        .unwrap_err()
        .to_string()
        .contains("SLURM_ARRAY_TASK_COUNT"));
}

#[test]
fn auto_reads_aws_batch_and_kubernetes() {
    let batch = env(&[
        ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
        ("AWS_BATCH_JOB_ARRAY_SIZE", "16"),
    ]);
    assert_eq!(auto_shard(&batch, None).unwrap(), (1, 16));
    let batch_no_size = env(&[("AWS_BATCH_JOB_ARRAY_INDEX", "15")]);
    assert_eq!(auto_shard(&batch_no_size, Some(16)).unwrap(), (16, 16));
    assert!(auto_shard(&batch_no_size, Some(15)).is_err());
    let k8s = env(&[("JOB_COMPLETION_INDEX", "6")]);
    assert_eq!(auto_shard(&k8s, Some(7)).unwrap(), (7, 7));
    let e = auto_shard(&k8s, None).unwrap_err().to_string();
    assert!(
        e.contains("Kubernetes") && e.contains("--shard-count"),
        "{e}"
    );
    assert!(auto_shard(&k8s, Some(6)).is_err());
    let e = auto_shard(&env(&[]), Some(3)).unwrap_err().to_string();
    assert!(e.contains("JOB_COMPLETION_INDEX"), "{e}");
    let e = auto_shard(&env(&[("JOB_COMPLETION_INDEX", "x")]), Some(3))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a number"), "{e}");
}

fn chain() -> Chain {
    Chain {
        bucket: "b".into(),
        prefix: None,
        organization_id: None,
        account_id: "111122223333".into(),
        source_region: "us-east-1".into(),
        home_region: "us-east-1".into(),
        trail_name: "t".into(),
    }
}

fn part() -> Part {
    let run = RunInfo::new(
        "arn:aws:cloudtrail:us-east-1:111122223333:trail/t",
        t("2024-03-01T00:00:00Z"),
        t("2024-03-01T03:00:00Z"),
        Duration::hours(1),
        2,
        false,
        &[chain()],
        "k",
        "s",
        "r",
    );
    let empty = WindowResult {
        standard: KindResult::default(),
        backfill: KindResult::default(),
        counts: Summary::default(),
        found_start: None,
        found_end: None,
        new_head: None,
        keys_used: Vec::new(),
        covered: Vec::new(),
        unreferenced: Vec::new(),
        tail: Vec::new(),
    };
    let items = run
        .shard_items(1)
        .unwrap()
        .into_iter()
        .map(|(i, _)| (i, empty.clone()))
        .collect();
    Part {
        kind: PART_KIND.into(),
        version: PART_VERSION,
        run,
        shard: 1,
        chains: vec![(0, chain())],
        valid_logs: true,
        items,
        discovery_warnings: Vec::new(),
        key_warnings: Vec::new(),
    }
}

#[test]
fn a_part_reads_back_and_malformed_parts_are_named() {
    let good = part();
    let back = Part::from_json(&good.to_json(), "p1").unwrap();
    assert_eq!(back, good);
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v: serde_json::Value = serde_json::from_slice(&good.to_json()).unwrap();
        f(&mut v);
        serde_json::to_vec(&v).unwrap()
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"{not json".to_vec(), "not JSON"),
        (b"{}".to_vec(), "not a trailproof partial report"),
        (edit(&|v| v["version"] = 9.into()), "version Some(9)"),
        (
            edit(&|v| v["run"]["end"] = "2024-03-01T04:00:00Z".into()),
            "fingerprint",
        ),
        (
            edit(&|v| v["shard"] = 3.into()),
            "shard 3 is not between 1 and 2",
        ),
        (
            edit(&|v| v["chains"] = serde_json::json!([])),
            "does not name chain 0",
        ),
        (
            edit(
                &|v| v["items"][0][1]["standard"]["findings"] = serde_json::json!([{"kind": "link_mismatch", "bucket": "b", "key": "k", "previous_key": "p", "field": "evil", "expected": "", "actual": ""}]),
            ),
            "unknown variant `evil`, expected one of `previousDigestS3Object`",
        ),
    ];
    for (bytes, want) in cases {
        let e = Part::from_json(&bytes, "parts/p1.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("partial report parts/p1.json: "), "{e}");
        assert!(e.contains(want), "{want}: {e}");
    }
}

/// The streaming merge asks for each part once, newest shard first, and refuses a part that
/// is not the one the plan checked (a file replaced between the two readings).
#[test]
fn parts_are_stitched_one_at_a_time_newest_first() {
    let one = part();
    let mut second = one.clone();
    second.shard = 2;
    second.items = one
        .run
        .shard_items(2)
        .unwrap()
        .into_iter()
        .map(|(i, _)| (i, one.items[0].1.clone()))
        .collect();
    let heads = vec![
        ("a".to_owned(), one.head()),
        ("b".to_owned(), second.head()),
    ];
    let planned = plan(&heads).unwrap();
    let mut asked = Vec::new();
    let reports = stitch_parts(
        &planned,
        &mut |shard| {
            asked.push(shard);
            Ok(if shard == 1 {
                one.clone()
            } else {
                second.clone()
            })
        },
        &mut |_, _, _| Ok(()),
    )
    .unwrap();
    assert_eq!(asked, vec![2, 1]);
    let whole = merge(vec![
        ("a".into(), one.clone()),
        ("b".into(), second.clone()),
    ])
    .unwrap();
    assert_eq!(reports.len(), whole.reports.len());
    let e = stitch_parts(&planned, &mut |_| Ok(one.clone()), &mut |_, _, _| Ok(()))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "the part of shard 2 is not the one checked before");
}

#[test]
fn merges_refuse_other_runs_missing_and_duplicate_shards() {
    let one = part();
    let e = merge(vec![("a".into(), one.clone())])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "missing shard 2 of 2: every shard's partial report is needed"
    );
    let e = merge(vec![("a".into(), one.clone()), ("b".into(), one.clone())])
        .unwrap_err()
        .to_string();
    assert_eq!(e, "shard 1/2 is given twice: a and b");
    let mut other = one.clone();
    other.run = RunInfo::new(
        &one.run.trail_arn,
        one.run.start,
        one.run.end + Duration::hours(1),
        Duration::hours(1),
        2,
        false,
        &[chain()],
        "k",
        "s",
        "r",
    );
    let e = merge(vec![("a".into(), one.clone()), ("b".into(), other)])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "partial report b is of another run than a (not the same range)"
    );
    assert!(matches!(merge(Vec::new()), Err(ShardError::NoParts)));
    // Both shards, but the first without its items.
    let mut second = one.clone();
    second.shard = 2;
    second.items = one
        .run
        .shard_items(2)
        .unwrap()
        .into_iter()
        .map(|(i, _)| (i, one.items[0].1.clone()))
        .collect();
    let mut empty = one.clone();
    empty.items.clear();
    let e = merge(vec![("a".into(), empty), ("b".into(), second.clone())])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "partial report a: it holds 0 items, not the 2 the split gives shard 1"
    );
    assert_eq!(
        merge(vec![("a".into(), one.clone()), ("b".into(), second)])
            .unwrap()
            .reports
            .len(),
        1
    );
}
