//! Property: on a small, really signed trail, any change to what the digests sign or hash (a
//! digest, a listed log file, a signature) or the removal of such an object makes the verdict
//! something other than `Valid`; an object added outside the trail's prefix changes nothing.
//!
//! A byte flip in gzip framing (header MTIME/XFL/OS, or the digest's trailing bytes) may leave
//! the inflated bytes as they were; digests and logs are checked over inflated bytes, so there
//! `Valid` stays acceptable. Whether the inflated bytes changed is decided independently, with
//! flate2's own decoder (`trailproof_testkit::reference_gunzip`).

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use trailproof::{
    validate, Chain, KeySet, MemoryStore, Object, Options, Parallelism, Report, TrailArn, Verdict,
};
use trailproof_testkit::{reference_gunzip, Archive, ReferenceEnd, Trail, TrailBuilder};

const BUCKET: &str = "trail-bucket";

fn trail() -> &'static Trail {
    static TRAIL: OnceLock<Trail> = OnceLock::new();
    TRAIL.get_or_init(|| {
        TrailBuilder::new()
            .hours(3)
            .logs_per_hour(2)
            .records_per_log(2)
            .build()
    })
}

fn store_of(archive: &Archive) -> MemoryStore {
    archive
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
        .collect()
}

fn check(archive: &Archive) -> Report {
    let trail = trail();
    let arn = TrailArn::parse(&trail.trail_arn()).expect("arn");
    let chain = Chain::for_trail(&arn, trail.bucket());
    let keys = KeySet::from_list_public_keys_json(trail.archive.public_keys_json().as_bytes(), "k")
        .expect("keys");
    let options = Options::new(
        trailproof::time::parse("2024-03-01T00:00:00Z").expect("t"),
        trailproof::time::parse("2024-03-01T03:00:00Z").expect("t"),
    )
    .parallelism(Parallelism::Serial)
    .check_unreferenced_logs(true);
    validate(&store_of(archive), &keys, &chain, &arn.arn, &options)
        .expect("a changed object is a verdict, not an Err")
}

fn baseline() -> &'static Report {
    static BASE: OnceLock<Report> = OnceLock::new();
    BASE.get_or_init(|| check(&trail().archive))
}

#[derive(Clone, Debug)]
enum Change {
    FlipByte {
        object: Index,
        at: Index,
        mask: u8,
    },
    Truncate {
        object: Index,
        bytes: usize,
    },
    Delete {
        object: Index,
    },
    Append {
        object: Index,
        bytes: Vec<u8>,
    },
    SignatureChar {
        digest: Index,
        at: Index,
        nibble: u8,
    },
    Unrelated {
        place: Index,
        bytes: Vec<u8>,
    },
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        3 => (any::<Index>(), any::<Index>(), 1u8..=255)
            .prop_map(|(object, at, mask)| Change::FlipByte { object, at, mask }),
        1 => (any::<Index>(), 1usize..64).prop_map(|(object, bytes)| Change::Truncate { object, bytes }),
        1 => any::<Index>().prop_map(|object| Change::Delete { object }),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..32))
            .prop_map(|(object, bytes)| Change::Append { object, bytes }),
        1 => (any::<Index>(), any::<Index>(), 0u8..16)
            .prop_map(|(digest, at, nibble)| Change::SignatureChar { digest, at, nibble }),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(place, bytes)| Change::Unrelated { place, bytes }),
    ]
}

/// What the verdict may be after a change.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Something signed or hashed changed: anything but `Valid`.
    NotValid,
    /// Only framing changed: `Valid` is acceptable too.
    Any,
    /// Nothing the trail covers changed: the very same report.
    Same,
}

fn is_digest(key: &str) -> bool {
    key.contains("/CloudTrail-Digest/")
}

/// Whether `after` inflates to what `before` did, as the verifier reads that kind of object:
/// a log must be exactly one gzip member (data after it is invalid since AWS CLI 1.45.12); a
/// digest is read up to the end of its first member.
fn same_inflated(key: &str, before: &[u8], after: &[u8]) -> bool {
    let (b, a) = (reference_gunzip(before), reference_gunzip(after));
    let complete = if is_digest(key) {
        matches!(
            a.end,
            ReferenceEnd::Clean | ReferenceEnd::SecondMember | ReferenceEnd::TrailingData
        )
    } else {
        a.end == ReferenceEnd::Clean
    };
    complete && a.sha256 == b.sha256 && a.inflated_len == b.inflated_len
}

/// Applies `change` and says what verdict it allows.
fn apply(archive: &mut Archive, change: &Change) -> (Expect, String) {
    let trail = trail();
    let keys = archive.keys(BUCKET);
    // Deleting the newest digest leaves a shorter, intact chain: nothing in the archive tells
    // it existed (the CLI cannot tell either), so deletions pick among the others.
    let newest = trail
        .digests_in("us-east-1")
        .last()
        .map(|d| d.key.clone())
        .expect("digests");
    match change {
        Change::FlipByte { object, at, mask } => {
            let key = object.get(&keys).clone();
            let before = archive.get(BUCKET, &key).expect("o").body.clone();
            let mut after = before.clone();
            let i = at.index(after.len());
            after[i] ^= mask;
            let expect = if same_inflated(&key, &before, &after) {
                Expect::Any
            } else {
                Expect::NotValid
            };
            archive
                .objects
                .get_mut(&(BUCKET.to_owned(), key.clone()))
                .expect("o")
                .body = after;
            (expect, format!("flip byte {i} of {key} by {mask:#x}"))
        }
        Change::Truncate { object, bytes } => {
            let key = object.get(&keys).clone();
            archive.truncate(BUCKET, &key, *bytes);
            (Expect::NotValid, format!("cut {bytes} bytes of {key}"))
        }
        Change::Delete { object } => {
            let candidates: Vec<&String> = keys.iter().filter(|k| **k != newest).collect();
            let key = object.get(&candidates).to_string();
            archive.delete(BUCKET, &key);
            (Expect::NotValid, format!("delete {key}"))
        }
        Change::Append { object, bytes } => {
            let key = object.get(&keys).clone();
            let before = archive.get(BUCKET, &key).expect("o").body.clone();
            archive.append_bytes(BUCKET, &key, bytes);
            let after = &archive.get(BUCKET, &key).expect("o").body;
            let expect = if same_inflated(&key, &before, after) {
                Expect::Any
            } else {
                Expect::NotValid
            };
            (expect, format!("append {} bytes to {key}", bytes.len()))
        }
        Change::SignatureChar { digest, at, nibble } => {
            let digests = trail.digests_in("us-east-1");
            let key = digest.get(&digests).key.clone();
            let object = archive
                .objects
                .get_mut(&(BUCKET.to_owned(), key.clone()))
                .expect("o");
            let signature = object.metadata.get_mut("signature").expect("signature");
            let mut chars: Vec<char> = signature.chars().collect();
            let i = at.index(chars.len());
            let old = chars[i].to_digit(16).expect("hex");
            // Another hex value, not just another case of the same digit.
            let new = (old + 1 + u32::from(*nibble) % 15) % 16;
            chars[i] = char::from_digit(new, 16).expect("hex digit");
            *signature = chars.into_iter().collect();
            (Expect::NotValid, format!("signature char {i} of {key}"))
        }
        Change::Unrelated { place, bytes } => {
            let log = &trail.log_keys()[0].1;
            let digest = &trail.digests_in("us-east-1")[0].key;
            let places = [
                (BUCKET.to_owned(), format!("other-prefix/{digest}")),
                (BUCKET.to_owned(), format!("other-prefix/{log}")),
                (
                    BUCKET.to_owned(),
                    digest.replace("111122223333", "444455556666"),
                ),
                (
                    BUCKET.to_owned(),
                    log.replace("111122223333", "444455556666"),
                ),
                (BUCKET.to_owned(), "notes.txt".to_owned()),
                ("another-bucket".to_owned(), digest.clone()),
                ("another-bucket".to_owned(), log.clone()),
            ];
            let id = place.get(&places).clone();
            assert!(
                archive.get(&id.0, &id.1).is_none(),
                "{id:?} is part of the trail"
            );
            let description = format!("add s3://{}/{}", id.0, id.1);
            archive.objects.insert(
                id,
                trailproof_testkit::Object {
                    body: bytes.clone(),
                    metadata: Default::default(),
                },
            );
            (Expect::Same, description)
        }
    }
}

#[test]
fn the_baseline_is_valid() {
    let report = baseline();
    assert_eq!(report.verdict(), Verdict::Valid);
    assert_eq!(report.summary().digests.valid, 3);
    assert_eq!(
        report.summary().log_files.valid,
        trail().log_keys().len() as u64
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn changes_to_signed_objects_are_never_valid(change in change()) {
        let mut archive = trail().archive.clone();
        let (expect, description) = apply(&mut archive, &change);
        let report = check(&archive);
        let base = baseline();
        match expect {
            Expect::NotValid => prop_assert_ne!(
                report.verdict(), Verdict::Valid, "{}: still valid", description
            ),
            Expect::Any => {}
            Expect::Same => {
                prop_assert_eq!(report.verdict(), base.verdict(), "{}", &description);
                prop_assert_eq!(&report.entries, &base.entries, "{}", &description);
                prop_assert_eq!(&report.findings, &base.findings, "{}", &description);
                prop_assert_eq!(report.summary(), base.summary(), "{}", &description);
            }
        }
    }
}
