//! A whole validation over an in-memory archive mutated by the fuzzer: never panics, and a digest
//! whose inflated bytes changed is never valid.
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trailproof::{validate, Chain, DigestOutcome, Entry, KeySet, MemoryStore, Object, Options, Parallelism};
use trailproof_testkit::{Trail, TrailBuilder};

#[derive(Arbitrary, Debug)]
enum Mutation {
    FlipByte { object: u16, at: u32, xor: u8 },
    Truncate { object: u16, keep: u32 },
    Append { object: u16, bytes: Vec<u8> },
    Replace { object: u16, bytes: Vec<u8> },
    Delete { object: u16 },
    DropMetadata { object: u16 },
    SetSignature { object: u16, value: String },
}

fn base() -> &'static (Trail, KeySet) {
    static BASE: OnceLock<(Trail, KeySet)> = OnceLock::new();
    BASE.get_or_init(|| {
        let trail = TrailBuilder::new().hours(4).logs_per_hour(2).records_per_log(2).build();
        let keys = KeySet::from_list_public_keys_json(trail.archive.public_keys_json().as_bytes(), "keys")
            .expect("testkit keys");
        (trail, keys)
    })
}

fn first_member(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::bufread::GzDecoder::new(bytes).read_to_end(&mut out).ok()?;
    Some(out)
}

fuzz_target!(|mutations: Vec<Mutation>| {
    let (trail, keys) = base();
    let mut objects: Vec<((String, String), Object)> = trail
        .archive
        .objects
        .iter()
        .map(|(k, o)| (k.clone(), Object { bytes: o.body.clone(), metadata: Some(o.metadata.clone()) }))
        .collect();
    let original: Vec<Vec<u8>> = objects.iter().map(|(_, o)| o.bytes.clone()).collect();
    let n = objects.len();
    let mut deleted = vec![false; n];
    for m in mutations.iter().take(8) {
        match m {
            Mutation::FlipByte { object, at, xor } => {
                let o = &mut objects[usize::from(*object) % n].1;
                if !o.bytes.is_empty() {
                    let i = *at as usize % o.bytes.len();
                    o.bytes[i] ^= xor.max(&1);
                }
            }
            Mutation::Truncate { object, keep } => {
                let o = &mut objects[usize::from(*object) % n].1;
                let keep = *keep as usize % (o.bytes.len() + 1);
                o.bytes.truncate(keep);
            }
            Mutation::Append { object, bytes } => objects[usize::from(*object) % n].1.bytes.extend_from_slice(bytes),
            Mutation::Replace { object, bytes } => objects[usize::from(*object) % n].1.bytes = bytes.clone(),
            Mutation::Delete { object } => deleted[usize::from(*object) % n] = true,
            Mutation::DropMetadata { object } => objects[usize::from(*object) % n].1.metadata = None,
            Mutation::SetSignature { object, value } => {
                if let Some(meta) = objects[usize::from(*object) % n].1.metadata.as_mut() {
                    meta.insert("signature".into(), value.clone());
                }
            }
        }
    }
    let mut store = MemoryStore::new();
    for (i, ((bucket, key), o)) in objects.iter().enumerate() {
        if !deleted[i] {
            store.put(bucket, key, o.clone());
        }
    }
    let arn = trailproof::TrailArn::parse(&trail.trail_arn()).expect("arn");
    let chain = Chain::for_trail(&arn, trail.bucket());
    let start = trail.start();
    let options = Options::new(start, start + chrono::Duration::hours(5)).parallelism(Parallelism::Serial);
    let report = validate(&store, keys, &chain, &arn.arn, &options).expect("in-memory runs complete");
    for entry in &report.entries {
        let Entry::Digest(d) = entry else { continue };
        if d.outcome != DigestOutcome::Valid {
            continue;
        }
        let i = objects.iter().position(|((_, k), _)| *k == d.key).expect("reported digest exists");
        let now = first_member(&objects[i].1.bytes);
        let before = first_member(&original[i]);
        assert_eq!(now, before, "digest {} changed but was reported valid", d.key);
    }
});

