//! The ObjectStore conformance suite (trailproof_testkit::conformance) against the stores of
//! the core: in memory, a local copy, and the mirror (which writes a local copy as it reads).

use std::collections::BTreeSet;
use std::fs;

use trailproof::{LocalDirStore, MemoryStore, MirrorStore, Object, ObjectStore};
use trailproof_testkit::conformance::{conformance, Made, Put, BUCKET, TRICKY_KEYS};

fn memory(puts: &[Put]) -> MemoryStore {
    let mut store = MemoryStore::new();
    for p in puts {
        store.put(
            BUCKET,
            &p.key,
            Object {
                bytes: p.bytes.clone(),
                metadata: Some(p.metadata.clone()),
            },
        );
    }
    store
}

#[test]
fn memory_store_holds_every_key_exactly() {
    let outcome = conformance("MemoryStore", &mut |puts| Made::new(memory(puts)));
    let all: BTreeSet<String> = TRICKY_KEYS.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(outcome.exact, all);
}

/// Keys a local copy holds exactly: plain names, whatever their characters.
const LOCAL_EXACT: &[&str] = &["a/b c", "a/b+c", "a/b%2Fc", "a/b?c#d", "ü/日本/ß.json.gz"];

/// A copy as `aws s3 sync` writes it, plus sidecars: one file per key the copy can hold (the
/// mirror writes the same layout; its own writes are checked by the mirror's run below).
#[test]
fn local_copy_is_exact_or_refuses() {
    let outcome = conformance("LocalDirStore", &mut |puts| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = LocalDirStore::new().with_bucket(BUCKET, dir.path());
        let mut refused = Vec::new();
        for p in puts {
            let Ok(path) = store.path(BUCKET, &p.key) else {
                refused.push(p.key.clone());
                continue;
            };
            let mut sidecar = path.clone().into_os_string();
            sidecar.push(".meta.json");
            let json = serde_json::to_vec(&p.metadata).expect("json");
            let written = fs::create_dir_all(path.parent().expect("parent"))
                .and_then(|()| fs::write(&path, &p.bytes))
                .and_then(|()| fs::write(sidecar, json));
            if written.is_err() {
                refused.push(p.key.clone());
            }
        }
        Made::new(store).refused(refused).guard(dir)
    });
    let exact: BTreeSet<String> = LOCAL_EXACT.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(outcome.exact, exact);
}

#[test]
fn mirror_reads_through_exactly_or_refuses() {
    let outcome = conformance("MirrorStore over MemoryStore", &mut |puts| {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MirrorStore::new(memory(puts), BUCKET, dir.path());
        Made::new(store).guard(dir)
    });
    let exact: BTreeSet<String> = LOCAL_EXACT.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(outcome.exact, exact);
}

/// The mirror's copy of what it read, checked by a second pass over a fresh mirror: the same
/// answers from the copy as from the store it mirrors.
#[test]
fn a_second_mirror_pass_reads_the_same_objects() {
    let dir = tempfile::tempdir().expect("tempdir");
    let puts: Vec<Put> = (0..50)
        .map(|i| Put {
            key: format!("AWSLogs/1/CloudTrail/r/{i:03}.json.gz"),
            bytes: format!("log {i}").into_bytes(),
            metadata: Default::default(),
        })
        .collect();
    let source = memory(&puts);
    for pass in 0..2 {
        let mirror = MirrorStore::new(source.clone(), BUCKET, dir.path());
        for p in &puts {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut mirror.open(BUCKET, &p.key).expect("open"), &mut bytes)
                .expect("read");
            assert_eq!(bytes, p.bytes, "pass {pass}");
        }
    }
    let local = LocalDirStore::new().with_bucket(BUCKET, dir.path());
    for p in &puts {
        assert_eq!(
            local.object_size(BUCKET, &p.key).expect("size"),
            Some(p.bytes.len() as u64)
        );
    }
}
