//! The report document of `verify-query-results` (CloudTrail Lake), layout version
//! [`LAKE_JSON_VERSION`]: like the validation report's, Rust types that are the JSON layout,
//! which the JSON report serialises and the page reads back strictly.

use serde::{Deserialize, Serialize};

use super::doc::{DocError, Stamp};
use super::{Status, Verdict};
use crate::lake::{FileOutcome, LakeReport, Listing};

/// Version of the query-results report layout.
pub const LAKE_JSON_VERSION: u64 = 1;

/// A `verify-query-results` report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeDoc {
    /// [`LAKE_JSON_VERSION`].
    pub version: u64,
    /// Valid, invalid or incomplete.
    pub verdict: Verdict,
    /// The exit status it gives.
    pub exit_code: i32,
    /// The sign file and its signature.
    pub sign_file: SignFileDoc,
    /// Every listed file in the sign file's order, then every unlisted object.
    pub files: Vec<LakeFileDoc>,
    /// Whether the folder was listed for files the sign file does not list.
    pub unlisted_check: ListingDoc,
    /// The key the sign file names.
    pub public_key: LakeKeyDoc,
    /// What the reader should know (a key whose validity could not be checked…).
    pub notes: Vec<String>,
}

/// The sign file's fields and verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignFileDoc {
    /// Where it was read.
    pub location: String,
    /// `region`.
    pub region: Option<String>,
    /// `queryCompleteTime`.
    pub query_complete_time: Option<Stamp>,
    /// `publicKeyFingerprint`.
    pub public_key_fingerprint: Option<String>,
    /// `hashAlgorithm`.
    pub hash_algorithm: Option<String>,
    /// `signatureAlgorithm`.
    pub signature_algorithm: Option<String>,
    /// Invalid when it has any problem, else its signature's status.
    pub status: Status,
    /// The signature's verdict.
    pub signature: VerdictDoc,
    /// Problems other than the signature.
    pub problems: Vec<SignProblemDoc>,
}

/// A verdict: its status, machine-readable name and words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictDoc {
    /// Valid, invalid or not checked.
    pub status: Status,
    /// Machine-readable name.
    pub outcome: String,
    /// In words.
    pub message: String,
}

/// A problem of the sign file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignProblemDoc {
    /// Machine-readable name.
    pub kind: String,
    /// In words.
    pub message: String,
}

/// A result file's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeFileDoc {
    /// Its `fileName`, when the sign file lists it.
    pub name: Option<String>,
    /// Where it is.
    pub location: String,
    /// Its place in the sign file's list.
    pub index: Option<usize>,
    /// True when the sign file lists it.
    pub listed: bool,
    /// Valid, invalid or not checked.
    pub status: Status,
    /// Machine-readable name of the verdict.
    pub outcome: String,
    /// The verdict in words.
    pub message: String,
    /// The signed hash, for a mismatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The hash found, for a mismatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// More about the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Whether the folder was listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case", deny_unknown_fields)]
pub enum ListingDoc {
    /// Listed.
    Done {
        /// Unlisted objects beyond those named in `files`.
        more_unlisted: u64,
    },
    /// Not asked for, or pointless.
    Skipped,
    /// The listing failed.
    NotChecked {
        /// Why.
        cause: String,
    },
}

/// The public key the sign file names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeKeyDoc {
    /// Its fingerprint.
    pub fingerprint: Option<String>,
    /// True when a key with that fingerprint was found.
    pub found: bool,
    /// Its validity, when found.
    pub validity: Option<ValidityDoc>,
    /// Where the keys came from.
    pub source: String,
    /// The region they were listed in.
    pub region: String,
}

/// A key's validity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidityDoc {
    /// Start, when known.
    pub start: Option<Stamp>,
    /// End, when known.
    pub end: Option<Stamp>,
    /// True when the signing time was checked against it.
    pub checked: bool,
}

impl From<&LakeReport> for LakeDoc {
    fn from(r: &LakeReport) -> LakeDoc {
        let verdict = r.verdict();
        let sf = &r.sign_file;
        let files = r
            .files
            .iter()
            .map(|f| {
                let (mut expected, mut actual, mut detail) = (None, None, None);
                match &f.outcome {
                    FileOutcome::HashMismatch {
                        expected: e,
                        actual: a,
                    } => {
                        expected = Some(e.clone());
                        actual = Some(a.clone());
                    }
                    FileOutcome::UnsafeName { reason: d } => detail = Some(d.to_string()),
                    FileOutcome::InvalidEntry { reason: d }
                    | FileOutcome::Unreadable { cause: d } => detail = Some(d.clone()),
                    _ => {}
                }
                LakeFileDoc {
                    name: f.name.clone(),
                    location: f.location.clone(),
                    index: f.index,
                    listed: f.index.is_some(),
                    status: f.outcome.status(),
                    outcome: f.outcome.code().to_owned(),
                    message: f.outcome.message(),
                    expected,
                    actual,
                    detail,
                }
            })
            .collect();
        let public_key = match &r.public_key {
            Some(k) => LakeKeyDoc {
                fingerprint: Some(k.fingerprint.clone()),
                found: true,
                validity: Some(ValidityDoc {
                    start: k.validity_start.map(Stamp),
                    end: k.validity_end.map(Stamp),
                    checked: k.validity_checked,
                }),
                source: r.key_source.clone(),
                region: r.key_region.clone(),
            },
            None => LakeKeyDoc {
                fingerprint: sf.fingerprint.clone(),
                found: false,
                validity: None,
                source: r.key_source.clone(),
                region: r.key_region.clone(),
            },
        };
        LakeDoc {
            version: LAKE_JSON_VERSION,
            verdict,
            exit_code: verdict.exit_code(),
            sign_file: SignFileDoc {
                location: sf.location.clone(),
                region: sf.region.clone(),
                query_complete_time: sf.query_complete_time.map(Stamp),
                public_key_fingerprint: sf.fingerprint.clone(),
                hash_algorithm: sf.hash_algorithm.clone(),
                signature_algorithm: sf.signature_algorithm.clone(),
                status: if r.sign_problems.is_empty() {
                    r.signature.status()
                } else {
                    Status::Invalid
                },
                signature: VerdictDoc {
                    status: r.signature.status(),
                    outcome: r.signature.code().to_owned(),
                    message: r.signature.message(),
                },
                problems: r
                    .sign_problems
                    .iter()
                    .map(|p| SignProblemDoc {
                        kind: p.code().to_owned(),
                        message: p.message(),
                    })
                    .collect(),
            },
            files,
            unlisted_check: match &r.listing {
                Listing::Done { more } => ListingDoc::Done {
                    more_unlisted: *more,
                },
                Listing::Skipped => ListingDoc::Skipped,
                Listing::Failed { cause } => ListingDoc::NotChecked {
                    cause: cause.clone(),
                },
            },
            public_key,
            notes: r.notes(),
        }
    }
}

impl LakeDoc {
    /// Reads a query-results report strictly: an unknown version, a missing or misspelt field
    /// is an error, never a default.
    pub fn from_value(value: serde_json::Value) -> Result<LakeDoc, DocError> {
        let version = &value["version"];
        if version.as_u64() != Some(LAKE_JSON_VERSION) {
            return Err(DocError::Version {
                found: version.to_string(),
                expected: LAKE_JSON_VERSION,
            });
        }
        Ok(serde_json::from_value(value)?)
    }
}
