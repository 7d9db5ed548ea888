//! The verification: the sign file read and checked, its signature verified, the result files
//! hashed, and the folder listed for objects it does not name.

use std::collections::BTreeSet;
use std::io::{self, Read};

use chrono::{DateTime, Duration, Utc};
use rayon::prelude::*;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::store::ObjectReader;
use crate::validate::{Parallelism, PublicKeySource};
use crate::{Error, StoreError};

use super::{
    unsafe_name, FileOutcome, KeyUsed, LakeOptions, LakeReport, Listing, ResultFile, ResultFolder,
    SignFile, SignProblem, SignatureOutcome, HASH_ALGORITHM, KEY_WINDOW_DAYS, MAX_SIGN_FILE_BYTES,
    MAX_UNLISTED_NAMED, SIGNATURE_ALGORITHM, SIGN_FILE_NAME,
};

/// Where `name` is, as printed: quoted when it holds control or format characters (S3 keys
/// may), so that an object's name cannot add or forge lines of the report, nor read as another.
fn shown(folder: &dyn ResultFolder, name: &str) -> String {
    let location = folder.location(name);
    if location.chars().any(crate::report::needs_escape) {
        format!("{location:?}")
    } else {
        location
    }
}

/// A listed file, once its entry was read.
struct Listed<'s> {
    index: usize,
    name: &'s str,
    hash: &'s str,
}

/// Reads `result_sign.json` from `folder` and verifies the folder. `Err` when the sign file
/// cannot be read at all (missing, unreadable, too large): then nothing could be checked.
pub fn verify_folder(
    folder: &dyn ResultFolder,
    keys: &dyn PublicKeySource,
    options: &LakeOptions,
) -> Result<LakeReport, Error> {
    options.check_cancel()?;
    let location = folder.location(SIGN_FILE_NAME);
    let fail = |cause: String| Error::SignFile {
        location: location.clone(),
        cause,
    };
    let reader = folder.open(SIGN_FILE_NAME).map_err(|e| match e {
        StoreError::NotFound { .. } => fail("not found".to_owned()),
        other => fail(cause_of(&other)),
    })?;
    let mut bytes = Vec::new();
    reader
        .take(MAX_SIGN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("could not be read: {e}")))?;
    if bytes.len() as u64 > MAX_SIGN_FILE_BYTES {
        return Err(fail(format!(
            "larger than the limit of {MAX_SIGN_FILE_BYTES} bytes"
        )));
    }
    verify_query_results(&bytes, folder, keys, options)
}

fn cause_of(e: &StoreError) -> String {
    match e {
        StoreError::Unreadable { cause, .. } => cause.clone(),
        StoreError::TooLarge { limit, .. } => format!("larger than the limit of {limit} bytes"),
        other => other.to_string(),
    }
}

/// Verifies a query's saved results: `sign_file` is the bytes of its `result_sign.json`, the
/// result files are read from `folder`, keys come from `keys`.
///
/// `Err` only when the work cannot start (no thread pool); every finding about the sign file,
/// the result files and the signature is in the report.
pub fn verify_query_results(
    sign_file: &[u8],
    folder: &dyn ResultFolder,
    keys: &dyn PublicKeySource,
    options: &LakeOptions,
) -> Result<LakeReport, Error> {
    let mut report = unchecked_report(folder, options);
    let Some(doc) = parse_sign_file(sign_file, &mut report.sign_problems) else {
        return Ok(report);
    };
    let text = |field: &str| doc.get(field).and_then(Value::as_str);
    let sf = &mut report.sign_file;
    sf.region = text("region").map(str::to_owned);
    sf.fingerprint = text("publicKeyFingerprint").map(str::to_owned);
    sf.hash_algorithm = text("hashAlgorithm").map(str::to_owned);
    sf.signature_algorithm = text("signatureAlgorithm").map(str::to_owned);

    let (listed, entries_ok) = read_entries(&doc, folder, &mut report);
    check_algorithms(&mut report);

    hash_files(folder, &listed, options, &mut report.files)?;
    report.files.sort_by_key(|f| f.index.unwrap_or(usize::MAX));

    options.check_cancel()?;
    if options.check_unlisted {
        report.listing = find_unlisted(folder, &listed, &mut report.files);
    }

    let qct = check_key_lookup_fields(text("queryCompleteTime"), &mut report);
    report.key_region = options
        .region
        .clone()
        .or_else(|| report.sign_file.region.clone())
        .unwrap_or_default();
    let files_listed = matches!(doc.get("files"), Some(Value::Array(f)) if !f.is_empty());
    options.check_cancel()?;
    report.signature = match (qct, report.sign_file.fingerprint.clone()) {
        (Some(qct), Some(fingerprint)) if files_listed && entries_ok => check_signature(
            &doc,
            &listed,
            qct,
            &fingerprint,
            keys,
            &report.key_region,
            &mut report.public_key,
            &mut report.sign_problems,
        ),
        (Some(_), Some(_)) if files_listed => SignatureOutcome::Malformed {
            reason: "the signed hashes cannot be read from \"files\"".to_owned(),
        },
        (Some(_), Some(_)) => SignatureOutcome::NotChecked {
            reason: "the sign file lists no files to sign".to_owned(),
        },
        (None, _) => SignatureOutcome::NotChecked {
            reason: "no queryCompleteTime to look the public key up with".to_owned(),
        },
        (_, None) => SignatureOutcome::NotChecked {
            reason: "no publicKeyFingerprint".to_owned(),
        },
    };
    Ok(report)
}

/// The report of a sign file nothing was read from yet.
fn unchecked_report(folder: &dyn ResultFolder, options: &LakeOptions) -> LakeReport {
    LakeReport {
        sign_file: SignFile {
            location: folder.location(SIGN_FILE_NAME),
            ..SignFile::default()
        },
        sign_problems: Vec::new(),
        signature: SignatureOutcome::NotChecked {
            reason: "the sign file could not be read".to_owned(),
        },
        files: Vec::new(),
        listing: Listing::Skipped,
        public_key: None,
        key_source: options.key_source.clone(),
        key_region: String::new(),
    }
}

/// The sign file as a JSON object, or `None` with the problem recorded.
fn parse_sign_file(sign_file: &[u8], problems: &mut Vec<SignProblem>) -> Option<Value> {
    match serde_json::from_slice(sign_file) {
        Ok(Value::Object(map)) => Some(Value::Object(map)),
        Ok(_) => {
            problems.push(SignProblem::InvalidFormat {
                reason: "not a JSON object".to_owned(),
            });
            None
        }
        Err(e) => {
            problems.push(SignProblem::InvalidFormat {
                reason: format!("not JSON: {e}"),
            });
            None
        }
    }
}

/// The entries of `files` that name a file and its hash, and whether every entry did; the
/// others are reported as invalid entries.
fn read_entries<'d>(
    doc: &'d Value,
    folder: &dyn ResultFolder,
    report: &mut LakeReport,
) -> (Vec<Listed<'d>>, bool) {
    // The AWS CLI requires a non-empty list (its two messages), then reads each entry's
    // `fileName` and `fileHashValue`.
    let mut listed: Vec<Listed<'_>> = Vec::new();
    let mut entries_ok = true;
    match doc.get("files") {
        Some(Value::Array(files)) if files.is_empty() => {
            report.sign_problems.push(SignProblem::NoFiles);
        }
        Some(Value::Array(files)) => {
            for (index, entry) in files.iter().enumerate() {
                let name = entry.get("fileName").and_then(Value::as_str);
                let hash = entry.get("fileHashValue").and_then(Value::as_str);
                match (name, hash) {
                    (Some(name), Some(hash)) => listed.push(Listed { index, name, hash }),
                    (name, _) => {
                        entries_ok = false;
                        report.files.push(invalid_entry(folder, index, name));
                    }
                }
            }
        }
        // The AWS CLI: "Invalid sign file provided."
        Some(_) => report.sign_problems.push(SignProblem::InvalidFormat {
            reason: "\"files\" is not a list".to_owned(),
        }),
        None => report.sign_problems.push(SignProblem::InvalidFormat {
            reason: "no \"files\" list".to_owned(),
        }),
    }
    (listed, entries_ok)
}

/// An entry of `files` without a string `fileName` (`name` is `None`) or `fileHashValue`.
fn invalid_entry(folder: &dyn ResultFolder, index: usize, name: Option<&str>) -> ResultFile {
    let location = |name: &str| match unsafe_name(name) {
        None => shown(folder, name),
        Some(_) => format!("{name:?}"),
    };
    let reason = if name.is_none() {
        format!("files[{index}] has no string \"fileName\"")
    } else {
        format!("files[{index}] has no string \"fileHashValue\"")
    };
    ResultFile {
        name: name.map(str::to_owned),
        location: name.map_or_else(|| format!("files[{index}]"), location),
        index: Some(index),
        outcome: FileOutcome::InvalidEntry { reason },
    }
}

fn check_algorithms(report: &mut LakeReport) {
    if report.sign_file.hash_algorithm.as_deref() != Some(HASH_ALGORITHM) {
        report.sign_problems.push(SignProblem::HashAlgorithm {
            found: report.sign_file.hash_algorithm.clone(),
        });
    }
    if report.sign_file.signature_algorithm.as_deref() != Some(SIGNATURE_ALGORITHM) {
        report.sign_problems.push(SignProblem::SignatureAlgorithm {
            found: report.sign_file.signature_algorithm.clone(),
        });
    }
}

/// Lists the folder for objects the sign file does not name, the first `MAX_UNLISTED_NAMED` of
/// them added to `files` by name.
fn find_unlisted(
    folder: &dyn ResultFolder,
    listed: &[Listed<'_>],
    files: &mut Vec<ResultFile>,
) -> Listing {
    match folder.list() {
        Ok(names) => {
            let known: BTreeSet<&str> = listed
                .iter()
                .map(|l| l.name)
                .chain([SIGN_FILE_NAME])
                .collect();
            let mut unlisted: Vec<&String> = names
                .iter()
                .filter(|n| !known.contains(n.as_str()))
                .collect();
            unlisted.sort();
            unlisted.dedup();
            let more = unlisted.len().saturating_sub(MAX_UNLISTED_NAMED) as u64;
            for name in unlisted.into_iter().take(MAX_UNLISTED_NAMED) {
                files.push(ResultFile {
                    name: Some(name.clone()),
                    location: shown(folder, name),
                    index: None,
                    outcome: FileOutcome::Unlisted,
                });
            }
            Listing::Done { more }
        }
        Err(e) => Listing::Failed {
            cause: cause_of(&e),
        },
    }
}

/// Records `queryCompleteTime` (`qct_text`) and reports it or the fingerprint missing: what the
/// key is looked up with. The time, when it is one.
fn check_key_lookup_fields(
    qct_text: Option<&str>,
    report: &mut LakeReport,
) -> Option<DateTime<Utc>> {
    let qct = qct_text.and_then(crate::time::parse_cloudtrail);
    report.sign_file.query_complete_time = qct;
    match (qct_text, qct) {
        (None, _) => report.sign_problems.push(SignProblem::InvalidFormat {
            reason: "no string \"queryCompleteTime\"".to_owned(),
        }),
        (Some(t), None) => report.sign_problems.push(SignProblem::InvalidFormat {
            reason: format!("queryCompleteTime {t:?} is not a time"),
        }),
        _ => {}
    }
    if report.sign_file.fingerprint.is_none() {
        report.sign_problems.push(SignProblem::InvalidFormat {
            reason: "no string \"publicKeyFingerprint\"".to_owned(),
        });
    }
    qct
}

/// Looks the key up as the AWS CLI does, checks it was valid at `queryCompleteTime`, and
/// verifies the signature over the listed hashes joined by single spaces.
#[allow(clippy::too_many_arguments)]
fn check_signature(
    doc: &Value,
    listed: &[Listed<'_>],
    qct: DateTime<Utc>,
    fingerprint: &str,
    keys: &dyn PublicKeySource,
    region: &str,
    used: &mut Option<KeyUsed>,
    problems: &mut Vec<SignProblem>,
) -> SignatureOutcome {
    let Some(end) = qct.checked_add_signed(Duration::days(KEY_WINDOW_DAYS)) else {
        return SignatureOutcome::NotChecked {
            reason: "queryCompleteTime is too late to look keys up after it".to_owned(),
        };
    };
    let set = match keys.public_keys(region, qct, end) {
        Ok(set) => set,
        Err(e) => {
            return SignatureOutcome::NotChecked {
                reason: e.to_string(),
            }
        }
    };
    // Compared as text, like the AWS CLI: KeySet holds fingerprints as lower-case MD5 hex of
    // each key's DER, so a key is only found under the fingerprint of its own bytes.
    let Some(key) = set.get(fingerprint) else {
        return SignatureOutcome::PublicKeyNotFound {
            region: region.to_owned(),
            fingerprint: fingerprint.to_owned(),
        };
    };
    let known = key.validity_start.is_some() || key.validity_end.is_some();
    *used = Some(KeyUsed {
        fingerprint: key.fingerprint().to_owned(),
        validity_start: key.validity_start,
        validity_end: key.validity_end,
        validity_checked: known,
    });
    let before = key.validity_start.is_some_and(|s| qct < s);
    let after = key.validity_end.is_some_and(|e| qct > e);
    if before || after {
        problems.push(SignProblem::OutsideKeyValidity {
            time: qct,
            fingerprint: key.fingerprint().to_owned(),
            start: key.validity_start,
            end: key.validity_end,
        });
    }
    let Some(signature_hex) = doc.get("hashSignature").and_then(Value::as_str) else {
        return SignatureOutcome::Malformed {
            reason: "no string \"hashSignature\"".to_owned(),
        };
    };
    let Ok(signature) = hex::decode(signature_hex) else {
        return SignatureOutcome::Malformed {
            reason: "hashSignature is not hex".to_owned(),
        };
    };
    let message = listed.iter().map(|l| l.hash).collect::<Vec<_>>().join(" ");
    if key.verify(message.as_bytes(), &signature) {
        SignatureOutcome::Valid
    } else {
        SignatureOutcome::Failed
    }
}

/// Hashes every listed file whose name stays in the folder, appending one entry each to `out`.
fn hash_files(
    folder: &dyn ResultFolder,
    listed: &[Listed<'_>],
    options: &LakeOptions,
    out: &mut Vec<ResultFile>,
) -> Result<(), Error> {
    if let Some(progress) = &options.progress {
        progress.logs_queued(listed.len() as u64);
    }
    let one = |l: &Listed<'_>| -> ResultFile {
        let mut hashed = 0;
        if let Some(reason) = unsafe_name(l.name) {
            if let Some(progress) = &options.progress {
                progress.log_checked(0);
            }
            return ResultFile {
                name: Some(l.name.to_owned()),
                location: format!("{:?}", l.name),
                index: Some(l.index),
                outcome: FileOutcome::UnsafeName { reason },
            };
        }
        // Once cancelled, the rest is not even opened: the run fails as a whole below.
        let outcome = if options.cancelled() {
            FileOutcome::Unreadable {
                cause: "cancelled".to_owned(),
            }
        } else {
            match folder.open(l.name) {
                Err(StoreError::NotFound { .. }) => FileOutcome::NotFound,
                Err(e) => FileOutcome::Unreadable {
                    cause: cause_of(&e),
                },
                Ok(reader) => match sha256_hex(reader, options, &mut hashed) {
                    // The AWS CLI compares hexdigest() with the recorded text as is.
                    Ok(actual) if actual == l.hash => FileOutcome::Valid,
                    Ok(actual) => FileOutcome::HashMismatch {
                        expected: l.hash.to_owned(),
                        actual,
                    },
                    Err(e) => FileOutcome::Unreadable {
                        cause: e.to_string(),
                    },
                },
            }
        };
        if let Some(progress) = &options.progress {
            progress.log_checked(hashed);
        }
        ResultFile {
            name: Some(l.name.to_owned()),
            location: shown(folder, l.name),
            index: Some(l.index),
            outcome,
        }
    };
    // One file needs no pool.
    let parallelism = match options.parallelism {
        _ if listed.len() < 2 => Parallelism::Serial,
        p => p,
    };
    match parallelism.pool("trailproof-lake")? {
        None => out.extend(listed.iter().map(one)),
        Some(pool) => {
            let hashed: Vec<ResultFile> = pool.install(|| listed.par_iter().map(one).collect());
            out.extend(hashed);
        }
    }
    // A file cut short by the cancellation is no verdict: the run gives none.
    options.check_cancel()
}

/// Hex SHA-256 of everything `reader` yields, counting the bytes in `total`; stops with an
/// error once the run is cancelled.
fn sha256_hex(
    mut reader: ObjectReader,
    options: &LakeOptions,
    total: &mut u64,
) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        if options.cancelled() {
            return Err(io::Error::other("cancelled"));
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        *total = total.saturating_add(n as u64);
    }
    Ok(hex::encode(hasher.finalize()))
}
