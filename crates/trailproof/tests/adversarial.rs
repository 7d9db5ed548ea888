//! Attacks by the archive's owner. The attacker controls every object and metadata of the
//! archive and holds a signing key of their own (the testkit's never-published key), but not
//! CloudTrail's (key A, the only one in the trusted key set). Whatever they do, the verdict must
//! not be `Valid`, and the report must name what they touched.

use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use trailproof::digest::Limits;
use trailproof::{
    validate, Chain, DigestOutcome, Entry, Finding, KeySet, LogOutcome, MemoryStore, Object,
    Options, Parallelism, Report, Status, TrailArn, Verdict,
};
use trailproof_testkit::{
    gunzip, gzip, to_aws_json, Archive, DigestInfo, PublicKeyEntry, TestKey, Trail, TrailBuilder,
};

const BUCKET: &str = "trail-bucket";

/// The archive as a store. Objects without metadata get none at all (`None`), like a local
/// copy without `.meta.json` sidecars: that is how an attacker presents an unsigned digest.
fn store_of(archive: &Archive) -> MemoryStore {
    archive
        .objects
        .iter()
        .map(|(k, o)| {
            let metadata = (!o.metadata.is_empty()).then(|| o.metadata.clone());
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

fn trail() -> Trail {
    TrailBuilder::new().hours(6).build()
}

fn chain_of(trail: &Trail) -> (Chain, String) {
    let arn = TrailArn::parse(&trail.trail_arn()).expect("arn");
    (Chain::for_trail(&arn, trail.bucket()), arn.arn.clone())
}

/// Only CloudTrail's key (A), as `list-public-keys` obtained apart from the archive would give.
fn trusted_keys(trail: &Trail) -> KeySet {
    let mut published = trail.archive.clone();
    let a = TestKey::a().fingerprint();
    published.public_keys.retain(|k| k.fingerprint == a);
    assert_eq!(published.public_keys.len(), 1);
    KeySet::from_list_public_keys_json(published.public_keys_json().as_bytes(), "trusted")
        .expect("keys")
}

fn options() -> Options {
    Options::new(
        trailproof::time::parse("2024-03-01T00:00:00Z").expect("t"),
        trailproof::time::parse("2024-03-01T06:00:00Z").expect("t"),
    )
    .parallelism(Parallelism::Threads(2))
}

/// Runs the validation on another thread and fails the test if it has not returned within
/// 20 s: a walk steered into a loop must still end.
fn run_with_timeout(
    archive: &Archive,
    keys: KeySet,
    chain: Chain,
    arn: String,
    options: Options,
) -> Report {
    let store = store_of(archive);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = validate(&store, &keys, &chain, &arn, &options);
        // The receiver is gone only when the test already failed on the timeout.
        let _ = tx.send(result);
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(result) => result.expect("a tampered archive is a verdict, not an Err"),
        Err(e) => panic!("the validation did not return within 20 s: {e}"),
    }
}

fn run(archive: &Archive, trail: &Trail, keys: KeySet, options: Options) -> Report {
    let (chain, arn) = chain_of(trail);
    run_with_timeout(archive, keys, chain, arn, options)
}

fn digest_outcome<'r>(report: &'r Report, key: &str) -> Option<&'r DigestOutcome> {
    report.entries.iter().find_map(|e| match e {
        Entry::Digest(d) if d.key == key => Some(&d.outcome),
        _ => None,
    })
}

fn log_outcome<'r>(report: &'r Report, key: &str) -> Option<&'r LogOutcome> {
    report.entries.iter().find_map(|e| match e {
        Entry::Log(l) if l.key == key => Some(&l.outcome),
        _ => None,
    })
}

fn finding_names(report: &Report, key: &str) -> bool {
    report.findings.iter().any(|f| match f {
        Finding::UnreachedDigest { key: k, .. }
        | Finding::UnreferencedLog { key: k, .. }
        | Finding::LinkMismatch { key: k, .. } => k == key,
        Finding::MissingDigests { after_key, .. } => after_key == key,
        _ => false,
    })
}

/// True when the report names `key` as something not valid: an entry that is not valid, or a
/// finding about it.
fn named_as_bad(report: &Report, key: &str) -> bool {
    let entry = report.entries.iter().any(|e| match e {
        Entry::Digest(d) => d.key == key && d.outcome.status() != Status::Valid,
        Entry::Log(l) => l.key == key && l.outcome.status() != Status::Valid,
        _ => false,
    });
    entry || finding_names(report, key)
}

fn describe(report: &Report) -> String {
    let mut s = format!("verdict {:?}\n", report.verdict());
    for e in &report.entries {
        match e {
            Entry::Digest(d) => s.push_str(&format!("D {} {}\n", d.key, d.outcome.message())),
            Entry::Log(l) => s.push_str(&format!("L {} {}\n", l.key, l.outcome.message())),
            other => s.push_str(&format!("{other:?}\n")),
        }
    }
    for f in &report.findings {
        s.push_str(&format!("F {}\n", f.message()));
    }
    s
}

/// A digest key of the trail's chain at another key time (`YYYYMMDDTHHMMSSZ`).
fn key_at(real_key: &str, time: &str) -> String {
    let stem = real_key
        .strip_suffix(".json.gz")
        .expect("digest keys end in .json.gz");
    format!("{}{time}.json.gz", &stem[..stem.len() - time.len()])
}

fn inflated_json(archive: &Archive, key: &str) -> Value {
    let object = archive.get(BUCKET, key).expect("object");
    serde_json::from_slice(&gunzip(&object.body)).expect("digest JSON")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Puts a digest made from `template` (a real digest's JSON) at `key`, with these times and
/// this previous link, and no metadata: a digest the attacker cannot sign for CloudTrail.
fn put_unsigned_fake(
    archive: &mut Archive,
    template: &Value,
    key: &str,
    times: (&str, &str),
    previous: Option<(&str, &str)>,
) {
    let mut fake = template.clone();
    fake["digestStartTime"] = Value::from(times.0);
    fake["digestEndTime"] = Value::from(times.1);
    fake["digestS3Object"] = Value::from(key);
    match previous {
        Some((bucket, prev)) => {
            fake["previousDigestS3Bucket"] = Value::from(bucket);
            fake["previousDigestS3Object"] = Value::from(prev);
            // A plausible-looking signature: hex of the right length, verifying nothing.
            fake["previousDigestSignature"] = Value::from("ab".repeat(256));
            fake["previousDigestHashValue"] = Value::from(sha256_hex(b"anything"));
        }
        None => {
            for f in [
                "previousDigestS3Bucket",
                "previousDigestS3Object",
                "previousDigestSignature",
                "previousDigestHashValue",
                "previousDigestHashAlgorithm",
            ] {
                fake[f] = Value::Null;
            }
        }
    }
    archive.objects.insert(
        (BUCKET.to_owned(), key.to_owned()),
        trailproof_testkit::Object {
            body: gzip(&to_aws_json(&fake)),
            metadata: Default::default(),
        },
    );
}

/// Rewrites the whole chain as an attacker would after changing `tampered_log`: every digest's
/// log hashes, previous-digest hash and signature are recomputed, and every digest is signed
/// with `signer`, naming `claimed_fingerprint`.
fn forge_chain(
    archive: &mut Archive,
    trail: &Trail,
    tampered_log: &str,
    signer: &TestKey,
    claimed_fingerprint: &str,
) {
    archive.modify_log(BUCKET, tampered_log);
    let new_hash = sha256_hex(&gunzip(
        &archive.get(BUCKET, tampered_log).expect("log").body,
    ));
    let mut previous: Option<(String, String)> = None; // hash, signature
    for d in trail.digests_in("us-east-1") {
        let prev = previous.clone();
        archive.edit_digest_json(BUCKET, &d.key, |v| {
            if let Some(files) = v["logFiles"].as_array_mut() {
                for f in files {
                    if f["s3Object"] == tampered_log {
                        f["hashValue"] = Value::from(new_hash.as_str());
                    }
                }
            }
            v["digestPublicKeyFingerprint"] = Value::from(claimed_fingerprint);
            if let Some((hash, signature)) = &prev {
                v["previousDigestHashValue"] = Value::from(hash.as_str());
                v["previousDigestSignature"] = Value::from(signature.as_str());
            }
        });
        archive.resign_digest(BUCKET, &d.key, signer);
        let object = archive.get(BUCKET, &d.key).expect("digest");
        previous = Some((
            sha256_hex(&gunzip(&object.body)),
            object.metadata["signature"].clone(),
        ));
    }
}

/// Every real digest of the trail was reached and verified.
fn assert_all_valid(report: &Report, digests: &[&DigestInfo]) {
    for d in digests {
        assert_eq!(
            digest_outcome(report, &d.key),
            Some(&DigestOutcome::Valid),
            "{}",
            describe(report)
        );
    }
}

#[test]
fn the_untouched_trail_is_valid_with_the_trusted_key_alone() {
    // The baseline every attack below departs from.
    let trail = trail();
    let report = run(&trail.archive, &trail, trusted_keys(&trail), options());
    assert_eq!(report.verdict(), Verdict::Valid, "{}", describe(&report));
    assert_eq!(report.summary().digests.valid, 6);
    assert!(
        report.key_source.contains("trusted"),
        "{}",
        report.key_source
    );
    assert_eq!(
        report
            .keys_used
            .iter()
            .map(|k| k.fingerprint.as_str())
            .collect::<Vec<_>>(),
        vec![TestKey::a().fingerprint().as_str()]
    );
}

#[test]
fn a_chain_re_signed_with_the_attackers_key_is_not_valid() {
    let trail = trail();
    let log = trail.digests_in("us-east-1")[2].log_keys[0].clone();
    let attacker = TestKey::unknown();
    // Naming their own key, or pretending it is CloudTrail's: neither verifies.
    for claimed in [attacker.fingerprint(), TestKey::a().fingerprint()] {
        let mut archive = trail.archive.clone();
        forge_chain(&mut archive, &trail, &log, &attacker, &claimed);
        // The forgery is self-consistent: with the attacker's key trusted it would pass.
        let mut self_trusted = archive.clone();
        self_trusted.public_keys = vec![PublicKeyEntry::for_key(
            &attacker,
            false,
            trail.start() - chrono::Duration::days(1),
            trail.start() + chrono::Duration::days(1),
        )];
        if claimed == attacker.fingerprint() {
            let own = KeySet::from_list_public_keys_json(
                self_trusted.public_keys_json().as_bytes(),
                "attacker",
            )
            .expect("keys");
            let fooled = run(&archive, &trail, own, options());
            assert_eq!(fooled.verdict(), Verdict::Valid, "{}", describe(&fooled));
        }

        let report = run(&archive, &trail, trusted_keys(&trail), options());
        assert_ne!(report.verdict(), Verdict::Valid, "{}", describe(&report));
        assert_eq!(report.verdict(), Verdict::Invalid, "{}", describe(&report));
        for d in trail.digests_in("us-east-1") {
            assert!(
                named_as_bad(&report, &d.key),
                "{} not named: {}",
                d.key,
                describe(&report)
            );
        }
        assert_eq!(report.summary().digests.valid, 0, "{}", describe(&report));
        assert!(
            report.keys_used.is_empty(),
            "no key verified anything: {:?}",
            report.keys_used
        );
        // The tampered log is never called valid.
        assert_ne!(log_outcome(&report, &log), Some(&LogOutcome::Valid));
    }
}

#[test]
fn an_unsigned_fake_newest_digest_cannot_skip_the_tampered_hours() {
    let trail = trail();
    let digests = trail.digests_in("us-east-1");
    let tampered = digests[3].log_keys[0].clone();
    let mut archive = trail.archive.clone();
    archive.modify_log(BUCKET, &tampered);
    // Newer than every real digest, linking straight back to hour 1: hours 2–5 skipped.
    let fake = key_at(&digests[5].key, "20240301T065500Z");
    let template = inflated_json(&archive, &digests[5].key);
    put_unsigned_fake(
        &mut archive,
        &template,
        &fake,
        ("2024-03-01T06:37:12Z", "2024-03-01T06:55:00Z"),
        Some((BUCKET, &digests[1].key)),
    );
    let report = run(&archive, &trail, trusted_keys(&trail), options());
    assert_ne!(report.verdict(), Verdict::Valid, "{}", describe(&report));
    assert!(
        matches!(
            log_outcome(&report, &tampered),
            Some(LogOutcome::HashMismatch { .. })
        ),
        "the tampered log must be checked: {}",
        describe(&report)
    );
    assert!(named_as_bad(&report, &fake), "{}", describe(&report));
    assert_eq!(report.verdict(), Verdict::Invalid, "{}", describe(&report));
    // Every real digest was still reached and verified.
    assert_all_valid(&report, &digests);
}

#[test]
fn two_unsigned_fakes_naming_each_other_do_not_trap_the_walk() {
    let trail = trail();
    let digests = trail.digests_in("us-east-1");
    let mut archive = trail.archive.clone();
    let template = inflated_json(&archive, &digests[5].key);
    let a = key_at(&digests[5].key, "20240301T065500Z");
    let b = key_at(&digests[5].key, "20240301T064500Z");
    put_unsigned_fake(
        &mut archive,
        &template,
        &a,
        ("2024-03-01T06:45:00Z", "2024-03-01T06:55:00Z"),
        Some((BUCKET, &b)),
    );
    put_unsigned_fake(
        &mut archive,
        &template,
        &b,
        ("2024-03-01T06:37:12Z", "2024-03-01T06:45:00Z"),
        Some((BUCKET, &a)),
    );
    // Also a fake naming itself, older than the real chain's newest digest.
    let c = key_at(&digests[3].key, "20240301T050000Z");
    put_unsigned_fake(
        &mut archive,
        &template,
        &c,
        ("2024-03-01T04:37:12Z", "2024-03-01T05:00:00Z"),
        Some((BUCKET, &c)),
    );
    let report = run(&archive, &trail, trusted_keys(&trail), options());
    assert_ne!(report.verdict(), Verdict::Valid, "{}", describe(&report));
    for fake in [&a, &b, &c] {
        assert!(named_as_bad(&report, fake), "{fake}: {}", describe(&report));
    }
    assert_all_valid(&report, &digests);
}

#[test]
fn an_unsigned_fake_naming_another_bucket_is_a_verdict() {
    let trail = trail();
    let digests = trail.digests_in("us-east-1");
    let tampered = digests[4].log_keys[0].clone();
    let mut archive = trail.archive.clone();
    archive.modify_log(BUCKET, &tampered);
    let template = inflated_json(&archive, &digests[5].key);
    let fake = key_at(&digests[5].key, "20240301T065500Z");
    put_unsigned_fake(
        &mut archive,
        &template,
        &fake,
        ("2024-03-01T06:37:12Z", "2024-03-01T06:55:00Z"),
        Some(("attacker-bucket", &digests[0].key)),
    );
    // The other bucket exists and holds a copy of the oldest digest.
    let oldest = archive.get(BUCKET, &digests[0].key).expect("d").clone();
    archive.objects.insert(
        ("attacker-bucket".to_owned(), digests[0].key.clone()),
        oldest,
    );
    let report = run(&archive, &trail, trusted_keys(&trail), options());
    assert_ne!(report.verdict(), Verdict::Valid, "{}", describe(&report));
    assert!(named_as_bad(&report, &fake), "{}", describe(&report));
    assert!(
        matches!(
            log_outcome(&report, &tampered),
            Some(LogOutcome::HashMismatch { .. })
        ),
        "{}",
        describe(&report)
    );
}

#[test]
fn a_key_used_outside_its_validity_is_not_accepted() {
    let trail = trail();
    let mut published = trail.archive.clone();
    // CloudTrail's key, but its validity ended fifty days before the digests were signed.
    published.public_keys = vec![PublicKeyEntry::for_key(
        &TestKey::a(),
        false,
        trail.start() - chrono::Duration::days(100),
        trail.start() - chrono::Duration::days(50),
    )];
    let keys = KeySet::from_list_public_keys_json(published.public_keys_json().as_bytes(), "old")
        .expect("keys");
    let report = run(&trail.archive, &trail, keys, options());
    assert_ne!(report.verdict(), Verdict::Valid, "{}", describe(&report));
    assert_eq!(report.verdict(), Verdict::Invalid, "{}", describe(&report));
    let fingerprint = TestKey::a().fingerprint();
    for d in trail.digests_in("us-east-1") {
        let outcome = digest_outcome(&report, &d.key).expect("digest reported");
        assert!(
            matches!(outcome, DigestOutcome::KeyNotValid { .. }),
            "{}: {outcome:?}",
            d.key
        );
        let message = outcome.message();
        assert!(
            message.starts_with("INVALID: signed at ")
                && message.contains(&format!("outside the validity of public key {fingerprint}")),
            "{message}"
        );
    }
}

#[test]
fn junk_in_the_digest_folder_is_reported() {
    let trail = trail();
    let digests = trail.digests_in("us-east-1");
    let mut archive = trail.archive.clone();
    let template = inflated_json(&archive, &digests[2].key);
    // Between real digests, where the signed chain never leads: garbage, an empty gzip, and a
    // well-formed but unsigned digest.
    let junk = [
        key_at(&digests[1].key, "20240301T020000Z"),
        key_at(&digests[2].key, "20240301T030000Z"),
        key_at(&digests[3].key, "20240301T041500Z"),
    ];
    archive.objects.insert(
        (BUCKET.to_owned(), junk[0].clone()),
        trailproof_testkit::Object {
            body: b"not a digest at all".to_vec(),
            metadata: Default::default(),
        },
    );
    archive.objects.insert(
        (BUCKET.to_owned(), junk[1].clone()),
        trailproof_testkit::Object {
            body: gzip(b""),
            metadata: Default::default(),
        },
    );
    put_unsigned_fake(
        &mut archive,
        &template,
        &junk[2],
        ("2024-03-01T03:37:12Z", "2024-03-01T04:15:00Z"),
        None,
    );
    // And one newer than the chain's newest digest, which the walk reads first.
    let newest_junk = key_at(&digests[5].key, "20240301T065900Z");
    archive.objects.insert(
        (BUCKET.to_owned(), newest_junk.clone()),
        trailproof_testkit::Object {
            body: gzip(b"{\"digestEndTime\":"),
            metadata: [("signature".to_owned(), "00".repeat(256))]
                .into_iter()
                .collect(),
        },
    );
    let report = run(&archive, &trail, trusted_keys(&trail), options());
    assert_eq!(report.verdict(), Verdict::Invalid, "{}", describe(&report));
    for k in junk.iter().chain([&newest_junk]) {
        assert!(named_as_bad(&report, k), "{k}: {}", describe(&report));
    }
    for k in &junk {
        assert!(
            report
                .findings
                .iter()
                .any(|f| matches!(f, Finding::UnreachedDigest { key, .. } if key == k)),
            "{k} should be UNREACHED: {}",
            describe(&report)
        );
    }
    assert_eq!(report.summary().unreached_digests, 3);
    assert_all_valid(&report, &digests);
}

#[test]
fn a_digest_over_the_size_limit_is_not_checked_never_invalid() {
    let trail = trail();
    // Smaller than any of the trail's digests, stored or inflated.
    let limit = 200;
    for d in trail.digests_in("us-east-1") {
        assert!(trail.archive.get(BUCKET, &d.key).expect("d").body.len() > limit);
    }
    let cases = [
        (
            Limits::new(limit as u64, 2_000_000),
            "--max-digest-size",
            trail.digests_in("us-east-1").len(),
        ),
        // Hours holding more than one log file exceed an entry limit of 1.
        (
            Limits::new(trailproof::digest::DEFAULT_MAX_DIGEST_BYTES, 1),
            "--max-digest-entries",
            trail
                .digests_in("us-east-1")
                .iter()
                .filter(|d| d.log_keys.len() > 1)
                .count(),
        ),
    ];
    for (limits, flag, expected) in cases {
        assert!(expected > 0);
        let report = run(
            &trail.archive,
            &trail,
            trusted_keys(&trail),
            options().limits(limits),
        );
        assert_eq!(
            report.verdict(),
            Verdict::Incomplete,
            "{}",
            describe(&report)
        );
        let s = report.summary();
        assert_eq!(s.digests.invalid, 0, "{}", describe(&report));
        assert_eq!(s.log_files.invalid, 0, "{}", describe(&report));
        assert!(report.findings.is_empty(), "{}", describe(&report));
        let too_large: Vec<&DigestOutcome> = report
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Digest(d) if matches!(d.outcome, DigestOutcome::TooLarge { .. }) => {
                    Some(&d.outcome)
                }
                _ => None,
            })
            .collect();
        assert_eq!(too_large.len(), expected, "{}", describe(&report));
        for o in too_large {
            assert_eq!(o.status(), Status::NotChecked);
            let m = o.message();
            assert!(m.starts_with("NOT CHECKED: ") && m.contains(flag), "{m}");
        }
    }
}
