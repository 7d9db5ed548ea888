//! End-to-end checks of generated trails: they must verify the way AWS CLI verifies them.

// Tests: a failed unwrap is a failed test, with the location in the panic message.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine as _;
use chrono::{Duration, TimeZone};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::*;

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("generated JSON parses")
}

fn digest_json(trail: &Trail, d: &DigestInfo) -> (Vec<u8>, Value) {
    let inflated = gunzip(&trail.archive.get(&d.bucket, &d.key).unwrap().body);
    let v = json(&inflated);
    (inflated, v)
}

/// Published keys by fingerprint, decoded like a verifier would (PKCS#1, else SPKI).
fn published_keys(archive: &Archive) -> BTreeMap<String, RsaPublicKey> {
    archive
        .public_keys
        .iter()
        .map(|k| {
            let der = base64::engine::general_purpose::STANDARD
                .decode(&k.value_b64)
                .unwrap();
            assert_eq!(hex::encode(md5::Md5::digest(&der)), k.fingerprint);
            let key = RsaPublicKey::from_pkcs1_der(&der)
                .or_else(|_| RsaPublicKey::from_public_key_der(&der))
                .unwrap();
            (k.fingerprint.clone(), key)
        })
        .collect()
}

/// Verifies one digest from its stored bytes and metadata, like `aws cloudtrail validate-logs`.
fn verify_digest(trail: &Trail, d: &DigestInfo, keys: &BTreeMap<String, RsaPublicKey>) {
    let object = trail.archive.get(&d.bucket, &d.key).unwrap();
    let (inflated, v) = digest_json(trail, d);
    assert_eq!(v["digestS3Bucket"], d.bucket.as_str());
    assert_eq!(v["digestS3Object"], d.key.as_str());
    assert_eq!(object.metadata["signature-algorithm"], "SHA256withRSA");
    let message = string_to_sign(
        v["digestEndTime"].as_str().unwrap(),
        &d.bucket,
        &d.key,
        &inflated,
        v["previousDigestSignature"].as_str(),
    );
    let key = &keys[v["digestPublicKeyFingerprint"].as_str().unwrap()];
    let signature = hex::decode(&object.metadata["signature"]).unwrap();
    key.verify(
        Pkcs1v15Sign::new::<Sha256>(),
        &Sha256::digest(message.as_bytes()),
        &signature,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", d.key));
}

/// Checks every digest of a chain: signature, previous-digest links, listed log hashes.
fn check_chain(trail: &Trail, chain: &[&DigestInfo]) {
    let keys = published_keys(&trail.archive);
    let mut previous: Option<(&DigestInfo, Vec<u8>)> = None;
    for d in chain {
        verify_digest(trail, d, &keys);
        let (inflated, v) = digest_json(trail, d);
        match &previous {
            Some((p, p_inflated)) if p.end == d.start => {
                assert_eq!(v["previousDigestS3Bucket"], p.bucket.as_str());
                assert_eq!(v["previousDigestS3Object"], p.key.as_str());
                assert_eq!(
                    v["previousDigestHashValue"],
                    hex::encode(Sha256::digest(p_inflated)).as_str()
                );
                assert_eq!(v["previousDigestHashAlgorithm"], "SHA-256");
                let p_sig = &trail.archive.get(&p.bucket, &p.key).unwrap().metadata["signature"];
                assert_eq!(v["previousDigestSignature"], p_sig.as_str());
            }
            _ => {
                for f in [
                    "previousDigestS3Bucket",
                    "previousDigestS3Object",
                    "previousDigestHashValue",
                    "previousDigestHashAlgorithm",
                    "previousDigestSignature",
                ] {
                    assert!(v[f].is_null(), "{}: {f} should be null", d.key);
                }
            }
        }
        let files = v["logFiles"].as_array().unwrap();
        assert_eq!(files.len(), d.log_keys.len());
        for (f, key) in files.iter().zip(&d.log_keys) {
            assert_eq!(f["s3Object"], key.as_str());
            let log = gunzip(&trail.archive.get(&d.bucket, key).unwrap().body);
            assert_eq!(f["hashValue"], hex::encode(Sha256::digest(&log)).as_str());
            assert!(json(&log)["Records"]
                .as_array()
                .is_some_and(|r| !r.is_empty()));
        }
        previous = Some((d, inflated));
    }
}

#[test]
fn default_trail_verifies() {
    let trail = TrailBuilder::new().build();
    let chain = trail.digests_in("us-east-1");
    assert_eq!(chain.len(), 24);
    assert_eq!(trail.digests.len(), 24);
    check_chain(&trail, &chain);
    assert_eq!(
        trail.trail_arn(),
        "arn:aws:cloudtrail:us-east-1:111122223333:trail/management-events"
    );
    // Every log object is listed by exactly one digest.
    let listed: usize = chain.iter().map(|d| d.log_keys.len()).sum();
    assert_eq!(listed, trail.log_keys().len());
    assert_eq!(trail.archive.objects.len(), listed + 24);
    assert_eq!(trail.archive.buckets(), vec!["trail-bucket".to_owned()]);
}

#[test]
fn digest_layout_matches_aws() {
    let trail = TrailBuilder::new().build();
    let first = trail.digests_in("us-east-1")[0];
    assert_eq!(
        first.key,
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/01/\
         111122223333_CloudTrail-Digest_us-east-1_management-events_us-east-1_20240301T013712Z.json.gz"
    );
    let (inflated, v) = digest_json(&trail, first);
    let text = String::from_utf8(inflated).unwrap();
    assert!(text.starts_with(
        "{\"awsAccountId\":\"111122223333\",\"digestStartTime\":\"2024-03-01T00:37:12Z\",\
         \"digestEndTime\":\"2024-03-01T01:37:12Z\",\"digestS3Bucket\":\"trail-bucket\",\
         \"digestS3Object\":\"AWSLogs\\/111122223333\\/CloudTrail-Digest\\/"
    ));
    // Compact, escaped, and in CloudTrail's field order.
    assert!(!text.contains(' ') && !text.contains('\n'));
    assert!(!text.contains("\":\"AWSLogs/"));
    let order = [
        "awsAccountId",
        "digestStartTime",
        "digestEndTime",
        "digestS3Bucket",
        "digestS3Object",
        "digestPublicKeyFingerprint",
        "digestSignatureAlgorithm",
        "newestEventTime",
        "oldestEventTime",
        "previousDigestS3Bucket",
        "previousDigestS3Object",
        "previousDigestHashValue",
        "previousDigestHashAlgorithm",
        "previousDigestSignature",
        "logFiles",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|f| text.find(&format!("\"{f}\":")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert_eq!(v["digestSignatureAlgorithm"], "SHA256withRSA");
    assert_eq!(
        v["digestPublicKeyFingerprint"],
        TestKey::a().fingerprint().as_str()
    );
    // Re-serialising the parsed digest in AWS style reproduces the signed bytes exactly.
    assert_eq!(to_aws_json(&v), text.as_bytes());

    // Log keys: minute timestamp inside the digest window, 16 alphanumerics.
    for key in &first.log_keys {
        let name = key.rsplit('/').next().unwrap();
        let parts: Vec<&str> = name.trim_end_matches(".json.gz").split('_').collect();
        assert_eq!(&parts[..3], &["111122223333", "CloudTrail", "us-east-1"]);
        let t = chrono::NaiveDateTime::parse_from_str(parts[3], "%Y%m%dT%H%MZ")
            .unwrap()
            .and_utc();
        assert!(first.start <= t && t < first.end, "{key}");
        assert!(parts[4].len() == 16 && parts[4].chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(key.starts_with(&format!(
            "AWSLogs/111122223333/CloudTrail/us-east-1/{}/",
            t.format("%Y/%m/%d")
        )));
        let log = String::from_utf8(gunzip(
            &trail.archive.get("trail-bucket", key).unwrap().body,
        ))
        .unwrap();
        assert!(log.starts_with("{\"Records\":[{\"eventVersion\":"));
        // Every slash is escaped (ARNs, user agents, paths), and nothing is pretty-printed.
        assert!(log.contains("\\/") && !log.replace("\\/", "").contains('/'));
        assert!(!log.contains('\n') && !log.contains("\": "));
    }
}

#[test]
fn deterministic() {
    let b = TrailBuilder::new()
        .regions(&["us-east-1", "eu-west-1"])
        .backfill(&[2, 3], Utc.with_ymd_and_hms(2024, 3, 5, 0, 0, 0).unwrap());
    let (x, y) = (b.build(), b.build());
    assert_eq!(x.archive.objects, y.archive.objects);
    assert_eq!(x.archive.public_keys_json(), y.archive.public_keys_json());
    assert_eq!(x.digests, y.digests);
    // A different seed gives different logs.
    let z = b.clone().seed(2).build();
    assert_ne!(x.log_keys(), z.log_keys());
    // Regions use independent RNG streams: adding one leaves the others unchanged.
    let single = TrailBuilder::new().build();
    assert_eq!(
        single.log_keys()[..],
        x.log_keys()[..single.log_keys().len()]
    );
}

#[test]
fn default_build_is_fast() {
    TestKey::a(); // key parsing is a one-off cost shared by all tests
    let t = Instant::now();
    TrailBuilder::new().build();
    let elapsed = t.elapsed();
    assert!(elapsed.as_millis() < 1500, "24 h build took {elapsed:?}");
}

#[test]
fn empty_hours_and_stopped_logging() {
    let trail = TrailBuilder::new()
        .empty_hours(&[3])
        .logging_stopped(10, 13)
        .build();
    let chain = trail.digests_in("us-east-1");
    assert_eq!(chain.len(), 21);
    check_chain(&trail, &chain);
    let empty = chain.iter().find(|d| d.hour == 3).unwrap();
    let (_, v) = digest_json(&trail, empty);
    assert_eq!(v["logFiles"], serde_json::json!([]));
    assert!(v["newestEventTime"].is_null() && v["oldestEventTime"].is_null());
    let restart = chain.iter().find(|d| d.hour == 13).unwrap();
    assert!(digest_json(&trail, restart).1["previousDigestSignature"].is_null());
    assert!(!chain.iter().any(|d| (10..13).contains(&d.hour)));
    // Hours with logs report the extreme event times of their logs.
    let (_, v) = digest_json(&trail, chain[0]);
    assert!(v["newestEventTime"].as_str() >= v["oldestEventTime"].as_str());
}

#[test]
fn rotation_and_spki() {
    let trail = TrailBuilder::new()
        .rotate_key_at_hour(12)
        .spki_keys(true)
        .build();
    let chain = trail.digests_in("us-east-1");
    check_chain(&trail, &chain);
    let fp = |d: &DigestInfo| digest_json(&trail, d).1["digestPublicKeyFingerprint"].clone();
    assert_eq!(fp(chain[11]), TestKey::a().fingerprint_spki().as_str());
    assert_eq!(fp(chain[12]), TestKey::b().fingerprint_spki().as_str());
    assert_eq!(trail.archive.public_keys.len(), 2);
    let a = &trail.archive.public_keys[0];
    let b = &trail.archive.public_keys[1];
    assert!(b.validity_start < a.validity_end, "validity overlaps");
    let listed = trail.archive.public_keys_json();
    assert!(
        listed.starts_with("{\"PublicKeyList\":[{\"Value\":\"MIIBIjAN"),
        "{listed}"
    );
    assert!(
        listed.contains("\"ValidityStartTime\":1708387200.0,"),
        "{listed}"
    );
}

#[test]
fn regions_prefix_org_backfill() {
    let generated = Utc.with_ymd_and_hms(2024, 3, 20, 0, 0, 0).unwrap();
    let trail = TrailBuilder::new()
        .regions(&["us-east-1", "eu-west-1"])
        .home_region("eu-west-1")
        .organization("o-abc123def4")
        .account("444455556666")
        .prefix("cloudtrail")
        .hours(6)
        .backfill(&[4, 1, 2], generated)
        .build();
    assert_eq!(
        trail.trail_arn(),
        "arn:aws:cloudtrail:eu-west-1:999988887777:trail/management-events"
    );
    for region in ["us-east-1", "eu-west-1"] {
        let chain = trail.digests_in(region);
        assert_eq!(chain.len(), 6);
        check_chain(&trail, &chain);
        let backfill = trail.backfill_digests_in(region);
        assert_eq!(
            backfill.iter().map(|d| d.hour).collect::<Vec<_>>(),
            vec![1, 2, 4]
        );
        // Backfill digests chain among themselves; 2 follows 1, 4 links to 2.
        let keys = published_keys(&trail.archive);
        for (i, d) in backfill.iter().enumerate() {
            verify_digest(&trail, d, &keys);
            let standard = chain.iter().find(|s| s.hour == d.hour).unwrap();
            assert_eq!(d.key, standard.key.replace(".json.gz", "_backfill.json.gz"));
            assert_eq!((d.start, d.end), (standard.start, standard.end));
            let object = trail.archive.get(&d.bucket, &d.key).unwrap();
            assert_eq!(
                object.metadata["backfill-generation-timestamp"],
                "2024-03-20T00:00:00Z"
            );
            let (_, v) = digest_json(&trail, d);
            assert_eq!(
                v["digestPublicKeyFingerprint"],
                TestKey::b().fingerprint().as_str()
            );
            assert_eq!(standard.log_keys, d.log_keys);
            assert_eq!(
                v["previousDigestS3Object"].as_str(),
                (i > 0).then(|| backfill[i - 1].key.as_str())
            );
        }
        assert!(chain[0].key.starts_with(&format!(
            "cloudtrail/AWSLogs/o-abc123def4/444455556666/CloudTrail-Digest/{region}/2024/03/01/\
             444455556666_CloudTrail-Digest_{region}_management-events_eu-west-1_"
        )));
    }
    // Regions have distinct, slightly offset schedules.
    let us = trail.digests_in("us-east-1")[0].start;
    let eu = trail.digests_in("eu-west-1")[0].start;
    assert_eq!(eu - us, Duration::seconds(4));
}

#[test]
fn tampering_breaks_what_it_should() {
    let mut trail = TrailBuilder::new().hours(3).build();
    let d = trail.digests_in("us-east-1")[1].clone();
    let keys = published_keys(&trail.archive);

    // Editing without re-signing breaks the signature; re-signing with A restores it.
    trail
        .archive
        .edit_digest_json(&d.bucket, &d.key, |v| v["logFiles"] = serde_json::json!([]));
    let r = std::panic::catch_unwind(|| verify_digest(&trail, &d, &keys));
    assert!(r.is_err());
    trail
        .archive
        .resign_digest(&d.bucket, &d.key, &TestKey::a());
    verify_digest(&trail, &d, &keys);

    // Unknown key: signature does not match the (unchanged) fingerprint's key.
    trail
        .archive
        .resign_digest(&d.bucket, &d.key, &TestKey::unknown());
    assert!(std::panic::catch_unwind(|| verify_digest(&trail, &d, &keys)).is_err());

    let log = d.log_keys[0].clone();
    let before = gunzip(&trail.archive.get(&d.bucket, &log).unwrap().body);
    trail.archive.modify_log(&d.bucket, &log);
    let after = gunzip(&trail.archive.get(&d.bucket, &log).unwrap().body);
    assert_eq!(before.len(), after.len());
    assert_eq!(before.iter().zip(&after).filter(|(a, b)| a != b).count(), 1);
    json(&after); // still valid JSON
}

#[test]
fn write_bucket_layout() {
    let trail = TrailBuilder::new().hours(2).build();
    let dir = std::env::temp_dir().join(format!(
        "trailproof-testkit-{}-write-bucket",
        std::process::id()
    ));
    trail.archive.write_bucket("trail-bucket", &dir).unwrap();
    let d = &trail.digests[0];
    let body = std::fs::read(dir.join(&d.key)).unwrap();
    assert_eq!(body, trail.archive.get(&d.bucket, &d.key).unwrap().body);
    let meta: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{}.meta.json", d.key))).unwrap())
            .unwrap();
    assert_eq!(meta["signature-algorithm"], "SHA256withRSA");
    assert!(!dir.join(format!("{}.meta.json", d.log_keys[0])).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
