//! `S3HeadStore` against the local S3 server: conditional writes (`If-None-Match: *`, then
//! `If-Match: ETAG`), lost races as conflicts, forward-only heads, and workers racing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use trailproof::headstore::{self, HeadStore as _};
use trailproof::{Head, HeadStoreError, State, WriteOutcome};
use trailproof_aws::S3HeadStore;
use trailproof_testserver::*;

const ARN: &str = "arn:aws:cloudtrail:us-east-1:111122223333:trail/t";
const BUCKET: &str = "watch-state";
const KEY: &str = "watch/heads.json";

fn head(hour: u32) -> Head {
    Head {
        bucket: "trail-bucket".into(),
        key: format!("AWSLogs/digest-{hour:03}.json.gz"),
        end_time: chrono::DateTime::from_timestamp(1_709_251_200 + i64::from(hour) * 3600, 0)
            .unwrap(),
        signature: format!("sig{hour}"),
        hash: format!("hash{hour}"),
    }
}

fn heads(pairs: &[(&str, u32)]) -> BTreeMap<String, Head> {
    pairs
        .iter()
        .map(|(c, h)| ((*c).to_owned(), head(*h)))
        .collect()
}

fn setup() -> (Harness, trailproof_aws::AwsContext) {
    let h = Harness::start(100);
    let ctx = h.context(&test_options());
    h.rt.block_on(ctx.s3_client(REGION).create_bucket().bucket(BUCKET).send())
        .unwrap();
    (h, ctx)
}

fn put_name() -> String {
    format!("PUT /{BUCKET}/{KEY}")
}

#[test]
fn conditional_writes_conflicts_and_forward_only_heads() {
    let (h, ctx) = setup();
    let store = S3HeadStore::new(&ctx, h.rt.handle().clone(), BUCKET, KEY, ARN).unwrap();
    assert_eq!(store.name(), format!("s3://{BUCKET}/{KEY}"));
    let empty = store.read().unwrap();
    assert_eq!((&empty.state, &empty.version), (&State::new(ARN), &None));

    let mut first = State::new(ARN);
    first.heads = heads(&[("c1", 1)]);
    let WriteOutcome::Written(v1) = store.write(&empty, &first).unwrap() else {
        panic!("the first write creates the object")
    };
    // `If-None-Match: *`: a second creator loses.
    assert_eq!(store.write(&empty, &first).unwrap(), WriteOutcome::Conflict);
    let read = store.read().unwrap();
    assert_eq!((&read.state, read.version.as_ref()), (&first, Some(&v1)));
    // The object is the `--state` file's JSON.
    let body =
        h.rt.block_on(async {
            ctx.s3_client(REGION)
                .get_object()
                .bucket(BUCKET)
                .key(KEY)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
        })
        .unwrap()
        .into_bytes();
    assert_eq!(body.as_ref(), first.to_json().as_slice());

    // `If-Match`: a write from the version read wins once; from a stale one it loses.
    let mut second = first.clone();
    second.heads = heads(&[("c1", 2), ("c2", 1)]);
    let WriteOutcome::Written(v2) = store.write(&read, &second).unwrap() else {
        panic!("the write from the current version")
    };
    assert_ne!(v1, v2);
    assert_eq!(store.write(&read, &second).unwrap(), WriteOutcome::Conflict);

    // Moving a head back, or dropping one, is refused before anything is sent.
    let now = store.read().unwrap();
    let puts = h.s3.faults.count(&put_name());
    let mut back = now.state.clone();
    back.heads.insert("c1".into(), head(1));
    let e = store.write(&now, &back).unwrap_err();
    assert!(matches!(e, HeadStoreError::Backwards { .. }), "{e}");
    assert!(
        e.to_string().contains(&format!("s3://{BUCKET}/{KEY}")),
        "{e}"
    );
    let mut dropped = now.state.clone();
    dropped.heads.remove("c2");
    assert!(matches!(
        store.write(&now, &dropped).unwrap_err(),
        HeadStoreError::Dropped { .. }
    ));
    assert_eq!(h.s3.faults.count(&put_name()), puts);

    // S3's two answers to a lost race are conflicts; any other refusal is an error.
    let mut third = now.state.clone();
    third.heads.insert("c1".into(), head(3));
    for (status, code) in [
        (412, "PreconditionFailed"),
        (409, "ConditionalRequestConflict"),
    ] {
        h.s3.faults.add(
            &put_name(),
            Fault::Error {
                status,
                code: code.into(),
                message: "lost".into(),
            },
            Some(1),
        );
        assert_eq!(
            store.write(&now, &third).unwrap(),
            WriteOutcome::Conflict,
            "{code}"
        );
    }
    h.s3.faults.add(
        &put_name(),
        Fault::Error {
            status: 403,
            code: "AccessDenied".into(),
            message: "Access Denied".into(),
        },
        Some(1),
    );
    let e = store.write(&now, &third).unwrap_err();
    assert!(
        matches!(e, HeadStoreError::Unavailable { .. }) && e.to_string().contains("AccessDenied"),
        "{e}"
    );
    assert_eq!(store.read().unwrap(), now, "nothing refused was written");
    assert!(matches!(
        store.write(&now, &third).unwrap(),
        WriteOutcome::Written(_)
    ));

    // A foreign or corrupt object is an error naming it, never replaced.
    let other = S3HeadStore::new(&ctx, h.rt.handle().clone(), BUCKET, KEY, "arn:other").unwrap();
    let e = other.read().unwrap_err().to_string();
    assert!(e.contains("belongs to trail") && e.contains(KEY), "{e}");
    h.rt.block_on(
        ctx.s3_client(REGION)
            .put_object()
            .bucket(BUCKET)
            .key("corrupt.json")
            .body(b"{".to_vec().into())
            .send(),
    )
    .unwrap();
    let corrupt =
        S3HeadStore::new(&ctx, h.rt.handle().clone(), BUCKET, "corrupt.json", ARN).unwrap();
    assert!(matches!(
        corrupt.read().unwrap_err(),
        HeadStoreError::State(_)
    ));

    // The core's retrying helper over this store (the blocking trait methods).
    assert_eq!(
        headstore::advance(&store, &heads(&[("c1", 9), ("c2", 1), ("c3", 1)]), 3).unwrap(),
        ["c1", "c3"]
    );
    // Called from an async task, the blocking methods refuse rather than stall the runtime.
    let inside =
        h.rt.block_on(async { store.read().unwrap_err().to_string() });
    assert!(inside.contains("_async"), "{inside}");
}

/// Two tasks race to advance one shared head through the same N hours, and a head of their
/// own each: every distinct new shared head is written exactly once (by one task or the
/// other), and no update is lost (both own heads and the shared one end at hour N).
#[test]
fn racing_tasks_advance_each_head_exactly_once() {
    const N: u32 = 25;
    let (h, ctx) = setup();
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let tasks: Vec<_> = ["w1", "w2"]
        .into_iter()
        .map(|me| {
            let store = S3HeadStore::new(&ctx, h.rt.handle().clone(), BUCKET, KEY, ARN).unwrap();
            let barrier = barrier.clone();
            h.rt.spawn(async move {
                let mut shared_moves = 0;
                for hour in 1..=N {
                    barrier.wait().await;
                    let moved = store
                        .advance(&heads(&[("shared", hour), (me, hour)]), 100)
                        .await
                        .unwrap();
                    assert!(moved.iter().any(|c| c == me), "{me} {hour}: {moved:?}");
                    shared_moves += moved.iter().filter(|c| *c == "shared").count();
                    // Once both are done with this hour, both updates are there: neither
                    // write was overwritten by one made from a stale read.
                    barrier.wait().await;
                    if me == "w1" {
                        let stored = store.read_async().await.unwrap().state.heads;
                        assert_eq!(
                            stored,
                            heads(&[("shared", hour), ("w1", hour), ("w2", hour)])
                        );
                    }
                }
                shared_moves
            })
        })
        .collect();
    let total: usize = h.rt.block_on(async {
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        total
    });
    assert_eq!(total, N as usize);
    let store = S3HeadStore::new(&ctx, h.rt.handle().clone(), BUCKET, KEY, ARN).unwrap();
    assert_eq!(
        store.read().unwrap().state.heads,
        heads(&[("shared", N), ("w1", N), ("w2", N)])
    );
}
