use chrono::{DateTime, Utc};

use super::*;
use crate::store::{MemoryStore, ObjectReader, ObjectStore};
use crate::time::display;
use crate::{KeySet, Object, PublicKeySource, StoreError, Verdict};
use trailproof_testkit::lake::{scenarios, QueryResults, QueryResultsBuilder};

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

fn verify(r: &QueryResults) -> LakeReport {
    let store = store(r);
    let folder = StoreFolder::new(&store, r.bucket(), r.folder());
    verify_folder(
        &folder,
        &keys(r),
        &LakeOptions::new().parallelism(Parallelism::Threads(2)),
    )
    .unwrap()
}

/// (file name, outcome code) in report order.
fn outcomes(report: &LakeReport) -> Vec<(String, &'static str)> {
    report
        .files
        .iter()
        .map(|f| (f.name.clone().unwrap_or_default(), f.outcome.code()))
        .collect()
}

const R1: &str = "result_1.csv.gz";
const R2: &str = "result_2.csv.gz";
const R3: &str = "result_3.csv.gz";

#[test]
fn every_scenario_gets_its_verdicts() {
    struct Want {
        verdict: Verdict,
        signature: &'static str,
        problems: &'static [&'static str],
        files: &'static [(&'static str, &'static str)],
    }
    let all_valid: &[(&str, &str)] = &[(R1, "valid"), (R2, "valid"), (R3, "valid")];
    let table: Vec<(&str, Want)> = vec![
        (
            "clean",
            Want {
                verdict: Verdict::Valid,
                signature: "valid",
                problems: &[],
                files: all_valid,
            },
        ),
        (
            "modified-file",
            Want {
                verdict: Verdict::Invalid,
                signature: "valid",
                problems: &[],
                files: &[(R1, "hash_mismatch"), (R2, "valid"), (R3, "valid")],
            },
        ),
        (
            "deleted-file",
            Want {
                verdict: Verdict::Invalid,
                signature: "valid",
                problems: &[],
                files: &[(R1, "valid"), (R2, "not_found"), (R3, "valid")],
            },
        ),
        (
            "extra-unlisted-file",
            Want {
                verdict: Verdict::Invalid,
                signature: "valid",
                problems: &[],
                files: &[
                    (R1, "valid"),
                    (R2, "valid"),
                    (R3, "valid"),
                    ("result_9.csv.gz", "unlisted"),
                ],
            },
        ),
        // The files still match their entries; only the signed string's order changed.
        (
            "swapped-file-order",
            Want {
                verdict: Verdict::Invalid,
                signature: "signature_failed",
                problems: &[],
                files: &[(R2, "valid"), (R1, "valid"), (R3, "valid")],
            },
        ),
        (
            "swapped-file-contents",
            Want {
                verdict: Verdict::Invalid,
                signature: "valid",
                problems: &[],
                files: &[(R1, "hash_mismatch"), (R2, "hash_mismatch"), (R3, "valid")],
            },
        ),
        // Key B is published but did not sign, and was not valid at queryCompleteTime either.
        (
            "wrong-fingerprint",
            Want {
                verdict: Verdict::Invalid,
                signature: "signature_failed",
                problems: &["outside_key_validity"],
                files: all_valid,
            },
        ),
        (
            "unknown-fingerprint",
            Want {
                verdict: Verdict::Invalid,
                signature: "public_key_not_found",
                problems: &[],
                files: all_valid,
            },
        ),
        (
            "key-out-of-validity",
            Want {
                verdict: Verdict::Invalid,
                signature: "valid",
                problems: &["outside_key_validity"],
                files: all_valid,
            },
        ),
        (
            "bad-hex-signature",
            Want {
                verdict: Verdict::Invalid,
                signature: "malformed",
                problems: &[],
                files: all_valid,
            },
        ),
        (
            "corrupt-signature",
            Want {
                verdict: Verdict::Invalid,
                signature: "signature_failed",
                problems: &[],
                files: all_valid,
            },
        ),
        (
            "wrong-algorithms",
            Want {
                verdict: Verdict::Invalid,
                signature: "valid",
                problems: &["hash_algorithm", "signature_algorithm"],
                files: all_valid,
            },
        ),
        // The renamed entry is not read; the real file is then in the folder unlisted.
        (
            "unsafe-file-name",
            Want {
                verdict: Verdict::Invalid,
                signature: "valid",
                problems: &[],
                files: &[
                    (R1, "valid"),
                    ("../result_2.csv.gz", "unsafe_name"),
                    (R3, "valid"),
                    (R2, "unlisted"),
                ],
            },
        ),
        (
            "empty-files",
            Want {
                verdict: Verdict::Invalid,
                signature: "not_checked",
                problems: &["no_files"],
                files: &[(R1, "unlisted"), (R2, "unlisted"), (R3, "unlisted")],
            },
        ),
        (
            "everything-at-once",
            Want {
                verdict: Verdict::Invalid,
                signature: "valid",
                problems: &["hash_algorithm"],
                files: &[
                    (R1, "hash_mismatch"),
                    (R2, "not_found"),
                    (R3, "valid"),
                    ("notes.txt", "unlisted"),
                ],
            },
        ),
    ];
    let all = scenarios(&QueryResultsBuilder::new());
    assert_eq!(
        all.iter().map(|s| s.name).collect::<Vec<_>>(),
        table.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "every scenario has a row"
    );
    for (s, (_, want)) in all.iter().zip(&table) {
        let report = verify(&s.results);
        let problems: Vec<&str> = report.sign_problems.iter().map(SignProblem::code).collect();
        let files: Vec<(String, &str)> = want
            .files
            .iter()
            .map(|(n, c)| ((*n).to_owned(), *c))
            .collect();
        assert_eq!(
            (
                report.verdict(),
                report.signature.code(),
                problems,
                outcomes(&report)
            ),
            (want.verdict, want.signature, want.problems.to_vec(), files),
            "{}: {report:#?}",
            s.name
        );
        assert_eq!(report.listing, Listing::Done { more: 0 }, "{}", s.name);
    }
}

#[test]
fn the_key_used_is_reported_with_its_validity() {
    let r = QueryResultsBuilder::new().build();
    let report = verify(&r);
    let key = report.public_key.clone().unwrap();
    assert_eq!(
        key.fingerprint,
        trailproof_testkit::TestKey::a().fingerprint()
    );
    assert!(key.validity_checked);
    assert_eq!(
        key.validity_start.map(display).as_deref(),
        Some("2024-02-20T00:00:00Z")
    );
    assert_eq!(report.sign_file.region.as_deref(), Some("us-east-1"));
    assert_eq!(report.key_region, "us-east-1");
    assert!(report.notes().is_empty());
    let json = report.to_json();
    assert_eq!(json["verdict"], "valid");
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["public_key"]["validity"]["checked"], true);
    assert_eq!(
        json["sign_file"]["query_complete_time"],
        "2024-03-02T06:07:08Z"
    );
    assert_eq!(json["files"].as_array().unwrap().len(), 3);
}

#[test]
fn unknown_validity_is_said_not_checked() {
    let r = QueryResultsBuilder::new().build();
    let mut undated = KeySet::new();
    for k in keys(&r).iter() {
        let mut k = k.clone();
        k.validity_start = None;
        k.validity_end = None;
        undated.insert(k);
    }
    let store = store(&r);
    let folder = StoreFolder::new(&store, r.bucket(), r.folder());
    let report = verify_folder(&folder, &undated, &LakeOptions::new()).unwrap();
    assert_eq!(report.verdict(), Verdict::Valid);
    assert_eq!(
        report.public_key.as_ref().map(|k| k.validity_checked),
        Some(false)
    );
    let notes = report.notes();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("unknown") && notes[0].contains("not checked"),
        "{notes:?}"
    );
    let mut out = Vec::new();
    let mut err = Vec::new();
    report.write_text(&mut out, &mut err).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "Successfully validated sign and query result files\n"
    );
    assert!(String::from_utf8(err)
        .unwrap()
        .starts_with("Note: the validity of public key "));
}

#[test]
fn unreadable_files_and_listings_are_not_checked() {
    /// A folder whose result_2 cannot be read and whose listing fails.
    struct Broken(MemoryStore, String, String);
    impl ResultFolder for Broken {
        fn location(&self, name: &str) -> String {
            format!("mem:{name}")
        }
        fn open(&self, name: &str) -> Result<ObjectReader, StoreError> {
            if name == R2 {
                return Err(StoreError::unreadable("b", name, "access denied"));
            }
            self.0.open(&self.1, &format!("{}{name}", self.2))
        }
        fn list(&self) -> Result<Vec<String>, StoreError> {
            Err(StoreError::unreadable("b", "", "listing denied"))
        }
    }
    let r = QueryResultsBuilder::new().build();
    let folder = Broken(store(&r), r.bucket().to_owned(), r.folder().to_owned());
    let report = verify_folder(&folder, &keys(&r), &LakeOptions::new()).unwrap();
    assert_eq!(report.verdict(), Verdict::Incomplete);
    assert_eq!(
        report.files[1].outcome,
        FileOutcome::Unreadable {
            cause: "access denied".into()
        }
    );
    assert_eq!(
        report.listing,
        Listing::Failed {
            cause: "listing denied".into()
        }
    );
    let mut err = Vec::new();
    report.write_text(&mut Vec::new(), &mut err).unwrap();
    assert_eq!(
        String::from_utf8(err).unwrap(),
        "Result file\tmem:result_2.csv.gz\tNOT CHECKED: could not be read: access denied\n\
         Sign file\tmem:result_sign.json\tNOT CHECKED: the folder could not be listed for files the sign file does not list: listing denied\n"
    );
}

#[test]
fn a_key_source_that_fails_leaves_the_signature_not_checked() {
    struct Down;
    impl PublicKeySource for Down {
        fn public_keys(
            &self,
            region: &str,
            _: DateTime<Utc>,
            _: DateTime<Utc>,
        ) -> Result<KeySet, Error> {
            Err(Error::PublicKeys {
                source_name: format!("ListPublicKeys in {region}"),
                reason: "throttled".into(),
            })
        }
    }
    let r = QueryResultsBuilder::new().build();
    let store = store(&r);
    let report = verify_folder(
        &StoreFolder::new(&store, r.bucket(), r.folder()),
        &Down,
        &LakeOptions::new(),
    )
    .unwrap();
    assert_eq!(report.verdict(), Verdict::Incomplete);
    assert_eq!(
        report.signature.message(),
        "NOT CHECKED: signature not verified: public keys ListPublicKeys in us-east-1: throttled"
    );
}

#[test]
fn a_missing_sign_file_is_an_error_not_a_verdict() {
    let mut r = QueryResultsBuilder::new().build();
    r.delete(trailproof_testkit::lake::SIGN_FILE);
    let store = store(&r);
    let folder = StoreFolder::new(&store, r.bucket(), r.folder());
    let err = verify_folder(&folder, &keys(&r), &LakeOptions::new())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!("s3://lake-bucket/{}result_sign.json: not found", r.folder())
    );
}

#[test]
fn object_names_cannot_forge_report_lines() {
    let mut r = QueryResultsBuilder::new().build();
    let forged = "x\nSuccessfully validated sign and query result files";
    r.put(forged, b"forged".to_vec());
    let report = verify(&r);
    assert_eq!(report.verdict(), Verdict::Invalid);
    let mut out = Vec::new();
    let mut err = Vec::new();
    report.write_text(&mut out, &mut err).unwrap();
    assert!(out.is_empty());
    let err = String::from_utf8(err).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err,
        format!(
            "Result file\t\"s3://lake-bucket/{}x\\nSuccessfully validated sign and query result files\"\tINVALID: not listed in the sign file\n",
            r.folder()
        )
    );
}

#[test]
fn unsafe_names() {
    for (name, want) in [
        ("result_1.csv.gz", None),
        ("", Some("is empty")),
        ("..", Some("names a folder")),
        (".", Some("names a folder")),
        ("../x", Some("contains a path separator")),
        ("/etc/passwd", Some("contains a path separator")),
        ("a\\b", Some("contains a path separator")),
        ("a\tb", Some("contains a control character")),
        ("a\u{7f}", Some("contains a control character")),
        ("..foo", None),
    ] {
        assert_eq!(unsafe_name(name), want, "{name:?}");
    }
}

#[test]
fn local_folders_list_every_file_and_tell_missing_from_unreadable() {
    let r = QueryResultsBuilder::new().build();
    let dir = tempfile::tempdir().unwrap();
    r.write_folder(dir.path()).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/x.meta.json"), b"{}").unwrap();
    let folder = LocalFolder::new(dir.path());
    assert_eq!(
        folder.list().unwrap(),
        vec![R1, R2, R3, SIGN_FILE_NAME, "sub/x.meta.json"]
    );
    assert!(matches!(
        folder.open("nope"),
        Err(StoreError::NotFound { .. })
    ));
    let report = verify_folder(&folder, &keys(&r), &LakeOptions::new()).unwrap();
    assert_eq!(
        outcomes(&report).last().cloned(),
        Some(("sub/x.meta.json".to_owned(), "unlisted"))
    );
    assert_eq!(
        report.files[0].location,
        dir.path().join(R1).display().to_string()
    );
}

/// A folder that raises the cancel flag when its `stop_at`th file is opened, as Ctrl-C
/// would while that file is read, and counts what was opened.
struct Interrupting<'a> {
    inner: StoreFolder<'a>,
    flag: Arc<AtomicBool>,
    stop_at: usize,
    opened: std::sync::Mutex<Vec<String>>,
}

impl ResultFolder for Interrupting<'_> {
    fn location(&self, name: &str) -> String {
        self.inner.location(name)
    }
    fn open(&self, name: &str) -> Result<ObjectReader, StoreError> {
        let mut opened = self.opened.lock().unwrap();
        opened.push(name.to_owned());
        if opened.len() == self.stop_at {
            self.flag.store(true, Ordering::Relaxed);
        }
        self.inner.open(name)
    }
    fn list(&self) -> Result<Vec<String>, StoreError> {
        self.inner.list()
    }
}

#[test]
fn a_cancelled_verification_stops_and_gives_no_report() {
    let r = QueryResultsBuilder::new().files(20).build();
    let store = store(&r);
    let flag = Arc::new(AtomicBool::new(false));
    let folder = Interrupting {
        inner: StoreFolder::new(&store, r.bucket(), r.folder()),
        flag: flag.clone(),
        // The sign file, then three result files.
        stop_at: 4,
        opened: std::sync::Mutex::new(Vec::new()),
    };
    let options = LakeOptions::new()
        .parallelism(Parallelism::Serial)
        .cancel(flag.clone());
    let e = verify_folder(&folder, &keys(&r), &options).unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    assert_eq!(
        folder.opened.lock().unwrap().len(),
        4,
        "nothing opened after"
    );

    // Raised before the start: nothing is read at all.
    let opened_before = folder.opened.lock().unwrap().len();
    let e = verify_folder(&folder, &keys(&r), &options).unwrap_err();
    assert!(matches!(e, Error::Cancelled), "{e}");
    assert_eq!(folder.opened.lock().unwrap().len(), opened_before);

    // Without the flag the same folder verifies, and progress counts every file.
    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicU64, std::sync::atomic::AtomicU64);
    impl Progress for Count {
        fn logs_queued(&self, n: u64) {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
        fn log_checked(&self, _bytes: u64) {
            self.1.fetch_add(1, Ordering::Relaxed);
        }
    }
    let count = Arc::new(Count::default());
    flag.store(false, Ordering::Relaxed);
    let unstopped = StoreFolder::new(&store, r.bucket(), r.folder());
    let report = verify_folder(
        &unstopped,
        &keys(&r),
        &LakeOptions::new().cancel(flag).progress(count.clone()),
    )
    .unwrap();
    assert_eq!(report.verdict(), Verdict::Valid);
    assert_eq!(count.0.load(Ordering::Relaxed), 20);
    assert_eq!(count.1.load(Ordering::Relaxed), 20);
}
