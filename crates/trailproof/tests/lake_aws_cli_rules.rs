//! `aws cloudtrail verify-query-results` (AWS CLI v2 only, not on PyPI: no differential run) as
//! documented in shared/REFERENCE.md, section "CloudTrail Lake signed query results", written down
//! as test cases. Each test quotes the rule it checks; "stricter" marks where trailproof reports
//! what the CLI lets pass.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use trailproof::lake::{
    folder_prefix, verify_folder, verify_query_results, FileOutcome, LakeOptions, LakeReport,
    SignProblem, SignatureOutcome,
};
use trailproof::{
    Error, KeySet, LocalFolder, MemoryStore, Object, Parallelism, PublicKeySource, StoreFolder,
    Verdict,
};
use trailproof_testkit::lake::{scenarios, QueryResults, QueryResultsBuilder, SIGN_FILE};
use trailproof_testkit::TestKey;

fn store(r: &QueryResults) -> MemoryStore {
    r.archive
        .objects
        .iter()
        .map(|(k, o)| {
            (
                k.clone(),
                Object {
                    bytes: o.body.clone(),
                    metadata: None,
                },
            )
        })
        .collect()
}

fn keys(r: &QueryResults) -> KeySet {
    KeySet::from_list_public_keys_json(r.public_keys_json().as_bytes(), "keys").unwrap()
}

fn verify_with(r: &QueryResults, keys: &dyn PublicKeySource, options: &LakeOptions) -> LakeReport {
    let store = store(r);
    verify_folder(
        &StoreFolder::new(&store, r.bucket(), r.folder()),
        keys,
        options,
    )
    .unwrap()
}

fn verify(r: &QueryResults) -> LakeReport {
    verify_with(
        r,
        &keys(r),
        &LakeOptions::new().parallelism(Parallelism::Serial),
    )
}

/// Signs `hashes` joined by `sep` with key A and stores them as the sign file's hashes and
/// signature.
fn sign_hashes(r: &mut QueryResults, hashes: &[String], sep: &str) {
    let signature = hex::encode(TestKey::a().sign(hashes.join(sep).as_bytes()));
    let hashes = hashes.to_vec();
    r.edit_sign(|v| {
        for (f, h) in v["files"].as_array_mut().unwrap().iter_mut().zip(hashes) {
            f["fileHashValue"] = Value::from(h);
        }
        v["hashSignature"] = Value::from(signature);
    });
}

fn stored_hashes(r: &QueryResults) -> Vec<String> {
    r.file_names().iter().map(|n| r.file_hash(n)).collect()
}

#[test]
fn hashes_are_over_the_bytes_as_stored_not_inflated() {
    // Rule: "`fileHashValue` is the SHA-256 of the file's bytes **as stored** (the gzip bytes,
    // not inflated: the opposite of digest files)."
    let mut r = QueryResultsBuilder::new().build();
    assert_eq!(verify(&r).verdict(), Verdict::Valid);
    let inflated: Vec<String> = r
        .file_names()
        .iter()
        .map(|n| {
            hex::encode(Sha256::digest(trailproof_testkit::gunzip(
                r.get(n).unwrap(),
            )))
        })
        .collect();
    sign_hashes(&mut r, &inflated, " ");
    let report = verify(&r);
    // Validly signed hashes of the inflated bytes: every file mismatches, the signature holds.
    assert_eq!(report.signature, SignatureOutcome::Valid);
    assert!(report
        .files
        .iter()
        .all(|f| matches!(f.outcome, FileOutcome::HashMismatch { .. })));
}

#[test]
fn the_signed_string_is_the_hashes_joined_by_single_spaces_in_order() {
    // Rule: "Signed string: the `fileHashValue`s joined with single spaces, in the order of
    // `files`, UTF-8; RSA PKCS#1 v1.5 with SHA-256; `hashSignature` is hex."
    let mut r = QueryResultsBuilder::new().build();
    let hashes = stored_hashes(&r);
    for (sep, want) in [
        (" ", SignatureOutcome::Valid),
        ("  ", SignatureOutcome::Failed),
        ("\n", SignatureOutcome::Failed),
        ("", SignatureOutcome::Failed),
    ] {
        sign_hashes(&mut r, &hashes, sep);
        assert_eq!(verify(&r).signature, want, "separator {sep:?}");
    }
    let mut reversed = hashes.clone();
    reversed.reverse();
    let signature = hex::encode(TestKey::a().sign(reversed.join(" ").as_bytes()));
    r.edit_sign(|v| v["hashSignature"] = Value::from(signature));
    assert_eq!(verify(&r).signature, SignatureOutcome::Failed);
}

#[test]
fn hashes_are_compared_as_text_like_the_cli() {
    // Rule: the first mismatch raises "ValidationError: File <name> has inconsistent hash value
    // with hash value recorded in sign file" — the CLI compares `hexdigest()` (lower case) with
    // the recorded text as is, so an upper-case `fileHashValue` does not match.
    let mut r = QueryResultsBuilder::new().build();
    let upper: Vec<String> = stored_hashes(&r)
        .iter()
        .map(|h| h.to_ascii_uppercase())
        .collect();
    sign_hashes(&mut r, &upper, " ");
    let report = verify(&r);
    assert_eq!(report.signature, SignatureOutcome::Valid);
    assert_eq!(
        report.files[0].outcome,
        FileOutcome::HashMismatch {
            expected: upper[0].clone(),
            actual: upper[0].to_ascii_lowercase()
        }
    );
}

/// A ListPublicKeys call: region, start, end.
type Call = (String, DateTime<Utc>, DateTime<Utc>);

/// Records each ListPublicKeys call.
struct Recording {
    keys: KeySet,
    calls: Mutex<Vec<Call>>,
}

impl PublicKeySource for Recording {
    fn public_keys(
        &self,
        region: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<KeySet, Error> {
        self.calls
            .lock()
            .unwrap()
            .push((region.to_owned(), start, end));
        Ok(self.keys.clone())
    }
}

#[test]
fn keys_are_listed_over_query_complete_time_plus_20_days() {
    // Rule: "Key: `ListPublicKeys(StartTime=queryCompleteTime, EndTime=queryCompleteTime + 20
    // days)`, the entry whose `Fingerprint` equals `publicKeyFingerprint`". The region is the
    // sign file's unless one is given (the CLI uses its configured region; the sign file names
    // the region whose key signed).
    let r = QueryResultsBuilder::new().region("cn-north-1").build();
    let source = Recording {
        keys: keys(&r),
        calls: Mutex::new(Vec::new()),
    };
    let t = trailproof::time::parse("2024-03-02T06:07:08Z").unwrap();
    assert_eq!(
        verify_with(&r, &source, &LakeOptions::new()).verdict(),
        Verdict::Valid
    );
    let report = verify_with(
        &r,
        &source,
        &LakeOptions::new().region(Some("eusc-de-east-1")),
    );
    assert_eq!(report.key_region, "eusc-de-east-1");
    assert_eq!(
        *source.calls.lock().unwrap(),
        vec![
            ("cn-north-1".to_owned(), t, t + Duration::days(20)),
            ("eusc-de-east-1".to_owned(), t, t + Duration::days(20)),
        ]
    );
}

#[test]
fn a_fingerprint_no_listed_key_has_is_invalid() {
    // Rule: fetch the key ("No public keys found for key with fingerprint: <fp>").
    let s = scenarios(&QueryResultsBuilder::new())
        .into_iter()
        .find(|s| s.name == "unknown-fingerprint")
        .unwrap();
    let report = verify(&s.results);
    assert_eq!(
        report.signature,
        SignatureOutcome::PublicKeyNotFound {
            region: "us-east-1".to_owned(),
            fingerprint: TestKey::unknown().fingerprint()
        }
    );
    assert_eq!(report.verdict(), Verdict::Invalid);
}

#[test]
fn a_signature_that_does_not_verify_is_invalid() {
    // Rule: verify the signature ("ValidationError: Invalid signature in sign file").
    for name in [
        "corrupt-signature",
        "swapped-file-order",
        "wrong-fingerprint",
    ] {
        let s = scenarios(&QueryResultsBuilder::new())
            .into_iter()
            .find(|s| s.name == name)
            .unwrap();
        assert_eq!(
            verify(&s.results).signature,
            SignatureOutcome::Failed,
            "{name}"
        );
    }
}

#[test]
fn a_signature_that_is_not_hex_is_invalid() {
    // Rule: "`hashSignature` is hex" (the CLI's `binascii.unhexlify` raises on anything else,
    // which ends the run with a non-zero status).
    let s = scenarios(&QueryResultsBuilder::new())
        .into_iter()
        .find(|s| s.name == "bad-hex-signature")
        .unwrap();
    let report = verify(&s.results);
    assert_eq!(
        report.signature.message(),
        "INVALID: hashSignature is not hex"
    );
    assert_eq!(report.verdict(), Verdict::Invalid);
}

#[test]
fn files_must_be_a_non_empty_list() {
    // Rule: "`files` must be a non-empty list ("No export file was found in sign file." /
    // "Invalid sign file provided.")".
    let r = QueryResultsBuilder::new().build();
    let store = store(&r);
    let folder = StoreFolder::new(&store, r.bucket(), r.folder());
    let opts = LakeOptions::new().check_unlisted(false);
    let mut sign = r.sign_json();
    for (files, want) in [
        (
            Value::Array(Vec::new()),
            "INVALID: No export file was found in sign file.",
        ),
        (
            Value::Null,
            "INVALID: invalid format: \"files\" is not a list",
        ),
        (
            Value::from("result_1.csv.gz"),
            "INVALID: invalid format: \"files\" is not a list",
        ),
    ] {
        sign["files"] = files;
        let bytes = serde_json::to_vec(&sign).unwrap();
        let report = verify_query_results(&bytes, &folder, &keys(&r), &opts).unwrap();
        assert_eq!(report.verdict(), Verdict::Invalid);
        let messages: Vec<String> = report
            .sign_problems
            .iter()
            .map(SignProblem::message)
            .collect();
        assert_eq!(messages, vec![want.to_owned()]);
    }
}

#[test]
fn a_sign_file_that_is_not_json_is_invalid() {
    // Rule: "load the sign file" (the CLI: "InformationCollectionError: Unable to load
    // result_sign.json file").
    let r = QueryResultsBuilder::new().build();
    let store = store(&r);
    let folder = StoreFolder::new(&store, r.bucket(), r.folder());
    for bytes in [&b"not json"[..], b"[]", b"\xff\xfe"] {
        let report = verify_query_results(bytes, &folder, &keys(&r), &LakeOptions::new()).unwrap();
        assert_eq!(report.verdict(), Verdict::Invalid, "{bytes:?}");
        assert!(matches!(
            report.sign_problems[..],
            [SignProblem::InvalidFormat { .. }]
        ));
    }
}

#[test]
fn every_problem_is_reported_where_the_cli_stops_at_the_first() {
    // Rule: "every failure is an exception with a non-zero exit, and the first one ends the
    // run." Stricter: all of them are reported.
    let s = scenarios(&QueryResultsBuilder::new())
        .into_iter()
        .find(|s| s.name == "everything-at-once")
        .unwrap();
    let report = verify(&s.results);
    let mut out = Vec::new();
    let mut err = Vec::new();
    report.write_text(&mut out, &mut err).unwrap();
    let folder = format!("s3://lake-bucket/{}", s.results.folder());
    let expected = s.results.sign_json()["files"][0]["fileHashValue"]
        .as_str()
        .unwrap()
        .to_owned();
    let actual = s.results.file_hash("result_1.csv.gz");
    assert_eq!(out, b"");
    assert_eq!(
        String::from_utf8(err).unwrap(),
        format!(
            "Sign file\t{folder}result_sign.json\tINVALID: hashAlgorithm is \"MD5\", not \"SHA-256\"\n\
             Result file\t{folder}result_1.csv.gz\tINVALID: hash value doesn't match: the sign file says {expected}, the file hashes to {actual}\n\
             Result file\t{folder}result_2.csv.gz\tINVALID: not found\n\
             Result file\t{folder}notes.txt\tINVALID: not listed in the sign file\n"
        )
    );
}

#[test]
fn what_the_cli_does_not_check_is_checked() {
    // Rule: "Not checked by the CLI: `hashAlgorithm` / `signatureAlgorithm` values, `region`,
    // files in the folder that are not listed, file names with `/` or `..`, MD5(key) =
    // fingerprint, key validity." Stricter: each is a finding here (`region` only chooses where
    // keys are listed: a wrong one cannot make a forged signature verify).
    let all = scenarios(&QueryResultsBuilder::new());
    let find = |name: &str| verify(&all.iter().find(|s| s.name == name).unwrap().results);
    assert_eq!(
        find("wrong-algorithms")
            .sign_problems
            .iter()
            .map(SignProblem::message)
            .collect::<Vec<_>>(),
        vec![
            "INVALID: hashAlgorithm is \"MD5\", not \"SHA-256\"",
            "INVALID: signatureAlgorithm is \"SHA1withRSA\", not \"SHA256withRSA\"",
        ]
    );
    let unlisted = find("extra-unlisted-file");
    assert_eq!(
        unlisted.files.last().map(|f| (&f.outcome, f.index)),
        Some((&FileOutcome::Unlisted, None))
    );
    let unsafe_name = find("unsafe-file-name");
    assert_eq!(unsafe_name.files[1].location, "\"../result_2.csv.gz\"");
    assert_eq!(
        unsafe_name.files[1].outcome.message(),
        "INVALID: file name contains a path separator: not read"
    );
    let validity = find("key-out-of-validity");
    assert_eq!(validity.signature, SignatureOutcome::Valid);
    assert_eq!(
        validity
            .sign_problems
            .iter()
            .map(SignProblem::message)
            .collect::<Vec<_>>(),
        vec![format!(
            "INVALID: queryCompleteTime 2024-02-05T06:07:08Z is outside the validity of public key {} (2024-02-20T00:00:00Z to 2024-03-21T00:00:00Z)",
            TestKey::a().fingerprint()
        )]
    );
    // MD5(key) = fingerprint: a key list that says otherwise is refused when loaded.
    let r = QueryResultsBuilder::new().build();
    let forged = r
        .public_keys_json()
        .replace(&TestKey::a().fingerprint(), &TestKey::b().fingerprint());
    let set = KeySet::from_list_public_keys_json(forged.as_bytes(), "keys.json");
    let err = match set {
        Err(e) => e.to_string(),
        Ok(set) => set.warnings().join("\n"),
    };
    assert!(err.contains("does not match its key"), "{err}");
}

#[test]
fn keys_in_either_der_form_verify() {
    // Rule: "its `Value` is base64 DER" (and, section "Public keys": PKCS#1 `RSAPublicKey` or
    // SubjectPublicKeyInfo DER, fingerprint the MD5 of the bytes as given: accept both).
    for spki in [false, true] {
        let r = QueryResultsBuilder::new().spki_keys(spki).build();
        assert_eq!(verify(&r).verdict(), Verdict::Valid, "spki {spki}");
    }
}

#[test]
fn the_s3_prefix_gets_a_trailing_slash() {
    // Rule: "`--s3-bucket B [--s3-prefix P]` (a `/` is appended to P when missing)".
    assert_eq!(folder_prefix(None), "");
    assert_eq!(folder_prefix(Some("")), "");
    assert_eq!(folder_prefix(Some("a/b")), "a/b/");
    assert_eq!(folder_prefix(Some("a/b/")), "a/b/");
    let r = QueryResultsBuilder::new().build();
    let store = store(&r);
    let prefix = folder_prefix(Some(r.folder().trim_end_matches('/')));
    let report = verify_folder(
        &StoreFolder::new(&store, r.bucket(), &prefix),
        &keys(&r),
        &LakeOptions::new(),
    )
    .unwrap();
    assert_eq!(report.verdict(), Verdict::Valid);
}

#[test]
fn a_local_folder_is_read_as_dir_slash_name() {
    // Rule: "`--local-export-path DIR` (reads `DIR/result_sign.json` and `DIR/<fileName>`)".
    let r = QueryResultsBuilder::new().build();
    let dir = tempfile::tempdir().unwrap();
    r.write_folder(dir.path()).unwrap();
    let folder = LocalFolder::new(dir.path());
    let report = verify_folder(&folder, &keys(&r), &LakeOptions::new()).unwrap();
    assert_eq!(report.verdict(), Verdict::Valid);
    assert_eq!(
        report.sign_file.location,
        dir.path().join(SIGN_FILE).display().to_string()
    );
    std::fs::remove_file(dir.path().join("result_3.csv.gz")).unwrap();
    let report = verify_folder(&folder, &keys(&r), &LakeOptions::new()).unwrap();
    assert_eq!(report.files[2].outcome, FileOutcome::NotFound);
}

/// The report document is the JSON layout: every scenario's report reads back strictly, as
/// itself, through the types the page uses.
#[test]
fn every_scenario_report_reads_back_as_its_document() {
    use trailproof::report::lake::LakeDoc;
    for s in scenarios(&QueryResultsBuilder::new()) {
        let report = verify(&s.results);
        let doc = LakeDoc::from(&report);
        assert_eq!(
            LakeDoc::from_value(report.to_json()).unwrap(),
            doc,
            "{}",
            s.name
        );
    }
}
