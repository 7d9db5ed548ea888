//! What a verification found, file by file, and how it is printed (text) and saved (JSON).

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::time::display;
use crate::{Status, Verdict};

use super::{HASH_ALGORITHM, SIGNATURE_ALGORITHM};

/// The verdict on one object of the folder.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileOutcome {
    /// The bytes hash to the sign file's `fileHashValue`.
    Valid,
    /// They do not (compared as text, like the AWS CLI: an upper-case hash does not match).
    HashMismatch {
        /// `fileHashValue` from the sign file.
        expected: String,
        /// Hex SHA-256 of the bytes.
        actual: String,
    },
    /// The sign file lists it, the folder does not hold it.
    NotFound,
    /// Its `fileName` would leave the folder (or is empty): not read.
    UnsafeName {
        /// Why.
        reason: &'static str,
    },
    /// The sign file's entry is not `{"fileHashValue": string, "fileName": string}`.
    InvalidEntry {
        /// What is wrong.
        reason: String,
    },
    /// In the folder, not listed by the sign file.
    Unlisted,
    /// It could not be read.
    Unreadable {
        /// The cause.
        cause: String,
    },
}

impl FileOutcome {
    /// Valid, invalid or not checked.
    pub fn status(&self) -> Status {
        match self {
            FileOutcome::Valid => Status::Valid,
            FileOutcome::Unreadable { .. } => Status::NotChecked,
            _ => Status::Invalid,
        }
    }

    /// Machine-readable name of the verdict.
    pub fn code(&self) -> &'static str {
        match self {
            FileOutcome::Valid => "valid",
            FileOutcome::HashMismatch { .. } => "hash_mismatch",
            FileOutcome::NotFound => "not_found",
            FileOutcome::UnsafeName { .. } => "unsafe_name",
            FileOutcome::InvalidEntry { .. } => "invalid_entry",
            FileOutcome::Unlisted => "unlisted",
            FileOutcome::Unreadable { .. } => "unreadable",
        }
    }

    /// The verdict in words, after the tab of its line.
    pub fn message(&self) -> String {
        match self {
            FileOutcome::Valid => "valid".to_owned(),
            FileOutcome::HashMismatch { expected, actual } => format!(
                "INVALID: hash value doesn't match: the sign file says {expected}, the file hashes to {actual}"
            ),
            FileOutcome::NotFound => "INVALID: not found".to_owned(),
            FileOutcome::UnsafeName { reason } => {
                format!("INVALID: file name {reason}: not read")
            }
            FileOutcome::InvalidEntry { reason } => format!("INVALID: invalid format: {reason}"),
            FileOutcome::Unlisted => "INVALID: not listed in the sign file".to_owned(),
            FileOutcome::Unreadable { cause } => {
                format!("NOT CHECKED: could not be read: {cause}")
            }
        }
    }
}

/// One object of the report: a file the sign file lists, or one it does not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultFile {
    /// `fileName` from the sign file, or the object's name in the folder; `None` for an entry
    /// without a string `fileName`.
    pub name: Option<String>,
    /// Where it was read (or looked for); for a name that leaves the folder, the name quoted.
    pub location: String,
    /// Position in the sign file's `files` (`None` for an unlisted object).
    pub index: Option<usize>,
    /// The verdict.
    pub outcome: FileOutcome,
}

/// The verdict on the signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureOutcome {
    /// Verified with the CloudTrail key the sign file names.
    Valid,
    /// The signature does not verify under that key.
    Failed,
    /// No listed key has the sign file's fingerprint.
    PublicKeyNotFound {
        /// Region the keys were listed in.
        region: String,
        /// The sign file's `publicKeyFingerprint`.
        fingerprint: String,
    },
    /// `hashSignature` (or a `fileHashValue` it covers) is missing or not what it must be.
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// The signature could not be checked (the keys could not be listed, or the sign file lacks
    /// what the lookup needs).
    NotChecked {
        /// Why.
        reason: String,
    },
}

impl SignatureOutcome {
    /// Valid, invalid or not checked.
    pub fn status(&self) -> Status {
        match self {
            SignatureOutcome::Valid => Status::Valid,
            SignatureOutcome::NotChecked { .. } => Status::NotChecked,
            _ => Status::Invalid,
        }
    }

    /// Machine-readable name of the verdict.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureOutcome::Valid => "valid",
            SignatureOutcome::Failed => "signature_failed",
            SignatureOutcome::PublicKeyNotFound { .. } => "public_key_not_found",
            SignatureOutcome::Malformed { .. } => "malformed",
            SignatureOutcome::NotChecked { .. } => "not_checked",
        }
    }

    /// The verdict in words.
    pub fn message(&self) -> String {
        match self {
            SignatureOutcome::Valid => "valid".to_owned(),
            SignatureOutcome::Failed => "INVALID: signature verification failed".to_owned(),
            SignatureOutcome::PublicKeyNotFound {
                region,
                fingerprint,
            } => format!(
                "INVALID: public key not found in region {region} for fingerprint {fingerprint}"
            ),
            SignatureOutcome::Malformed { reason } => format!("INVALID: {reason}"),
            SignatureOutcome::NotChecked { reason } => {
                format!("NOT CHECKED: signature not verified: {reason}")
            }
        }
    }
}

/// A problem with the sign file other than its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignProblem {
    /// Not a JSON object, or a field has the wrong type.
    InvalidFormat {
        /// What is wrong.
        reason: String,
    },
    /// `files` is an empty list (the AWS CLI: "No export file was found in sign file.").
    NoFiles,
    /// `hashAlgorithm` is not `SHA-256`.
    HashAlgorithm {
        /// What the sign file says (`None`: missing or not a string).
        found: Option<String>,
    },
    /// `signatureAlgorithm` is not `SHA256withRSA`.
    SignatureAlgorithm {
        /// What the sign file says (`None`: missing or not a string).
        found: Option<String>,
    },
    /// `queryCompleteTime` lies outside the validity of the key that signed.
    OutsideKeyValidity {
        /// `queryCompleteTime`.
        time: DateTime<Utc>,
        /// The key's fingerprint.
        fingerprint: String,
        /// Start of its validity, when known.
        start: Option<DateTime<Utc>>,
        /// End of its validity, when known.
        end: Option<DateTime<Utc>>,
    },
}

fn quoted(found: &Option<String>) -> String {
    match found {
        Some(s) => format!("{s:?}"),
        None => "missing".to_owned(),
    }
}

fn display_or_open(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "(unknown)".to_owned(), display)
}

impl SignProblem {
    /// Machine-readable name of the problem.
    pub fn code(&self) -> &'static str {
        match self {
            SignProblem::InvalidFormat { .. } => "invalid_format",
            SignProblem::NoFiles => "no_files",
            SignProblem::HashAlgorithm { .. } => "hash_algorithm",
            SignProblem::SignatureAlgorithm { .. } => "signature_algorithm",
            SignProblem::OutsideKeyValidity { .. } => "outside_key_validity",
        }
    }

    /// The problem in words.
    pub fn message(&self) -> String {
        match self {
            SignProblem::InvalidFormat { reason } => format!("INVALID: invalid format: {reason}"),
            SignProblem::NoFiles => "INVALID: No export file was found in sign file.".to_owned(),
            SignProblem::HashAlgorithm { found } => format!(
                "INVALID: hashAlgorithm is {}, not \"{HASH_ALGORITHM}\"",
                quoted(found)
            ),
            SignProblem::SignatureAlgorithm { found } => format!(
                "INVALID: signatureAlgorithm is {}, not \"{SIGNATURE_ALGORITHM}\"",
                quoted(found)
            ),
            SignProblem::OutsideKeyValidity {
                time,
                fingerprint,
                start,
                end,
            } => format!(
                "INVALID: queryCompleteTime {} is outside the validity of public key {fingerprint} ({} to {})",
                display(*time),
                display_or_open(*start),
                display_or_open(*end)
            ),
        }
    }
}

/// Whether the folder was listed for objects the sign file does not list.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Listing {
    /// Listed; unlisted objects are in [`LakeReport::files`] (beyond
    /// [`MAX_UNLISTED_NAMED`](super::MAX_UNLISTED_NAMED), counted in `more`).
    Done {
        /// Unlisted objects beyond those named.
        more: u64,
    },
    /// Not asked for, or pointless (the sign file could not be read).
    Skipped,
    /// The listing failed.
    Failed {
        /// The cause.
        cause: String,
    },
}

/// The key the sign file names, as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsed {
    /// Its fingerprint (the MD5 of its DER).
    pub fingerprint: String,
    /// Start of its validity, when known.
    pub validity_start: Option<DateTime<Utc>>,
    /// End of its validity, when known.
    pub validity_end: Option<DateTime<Utc>>,
    /// False when its validity is unknown, so `queryCompleteTime` was not checked against it.
    pub validity_checked: bool,
}

/// What the sign file says, as far as it could be read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignFile {
    /// Where it was read.
    pub location: String,
    /// `region`.
    pub region: Option<String>,
    /// `queryCompleteTime`, parsed.
    pub query_complete_time: Option<DateTime<Utc>>,
    /// `publicKeyFingerprint`.
    pub fingerprint: Option<String>,
    /// `hashAlgorithm`.
    pub hash_algorithm: Option<String>,
    /// `signatureAlgorithm`.
    pub signature_algorithm: Option<String>,
}

/// The result of verifying one query's saved results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LakeReport {
    /// The sign file's fields.
    pub sign_file: SignFile,
    /// Problems with the sign file other than its signature, in the order found.
    pub sign_problems: Vec<SignProblem>,
    /// The signature's verdict.
    pub signature: SignatureOutcome,
    /// Every listed file in the sign file's order, then every unlisted object by name.
    pub files: Vec<ResultFile>,
    /// Whether the folder was listed.
    pub listing: Listing,
    /// The key the sign file names, when found.
    pub public_key: Option<KeyUsed>,
    /// Where the keys came from ([`LakeOptions::key_source`](super::LakeOptions::key_source)).
    pub key_source: String,
    /// Region the keys were listed in.
    pub key_region: String,
}

impl LakeReport {
    /// Valid only when every listed file matches, the signature verifies, the sign file has no
    /// problem and nothing is unlisted; invalid when anything was proven wrong; else incomplete.
    pub fn verdict(&self) -> Verdict {
        let statuses = self
            .files
            .iter()
            .map(|f| f.outcome.status())
            .chain(std::iter::once(self.signature.status()));
        let mut not_checked = matches!(self.listing, Listing::Failed { .. });
        let mut invalid = !self.sign_problems.is_empty();
        for s in statuses {
            match s {
                Status::Invalid => invalid = true,
                Status::NotChecked => not_checked = true,
                Status::Valid => {}
            }
        }
        if invalid {
            Verdict::Invalid
        } else if not_checked {
            Verdict::Incomplete
        } else {
            Verdict::Valid
        }
    }

    /// Notes that are not problems: what was not checked and why.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(key) = &self.public_key {
            if !key.validity_checked {
                notes.push(format!(
                    "the validity of public key {} is unknown: queryCompleteTime was not checked against it",
                    key.fingerprint
                ));
            }
        }
        if let Listing::Done { more } = self.listing {
            if more > 0 {
                notes.push(format!(
                    "{more} more objects not listed in the sign file are not named"
                ));
            }
        }
        notes
    }

    /// The text output: the AWS CLI's success line on `out` when everything is valid; otherwise
    /// one tab-separated line per problem on `err` (`Sign file\tLOCATION\tINVALID: …`,
    /// `Result file\tLOCATION\tINVALID: …`), then notes.
    pub fn write_text(&self, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<()> {
        // Messages quote the sign file (hashes, algorithms, the fingerprint) and S3's errors:
        // escaped like the validation report's lines, so that none can forge a line.
        let mut line = |text: String| writeln!(err, "{}", crate::report::escape_controls(&text));
        let sign = &self.sign_file.location;
        for problem in &self.sign_problems {
            line(format!("Sign file\t{sign}\t{}", problem.message()))?;
        }
        if self.signature != SignatureOutcome::Valid {
            line(format!("Sign file\t{sign}\t{}", self.signature.message()))?;
        }
        for file in &self.files {
            if file.outcome != FileOutcome::Valid {
                line(format!(
                    "Result file\t{}\t{}",
                    file.location,
                    file.outcome.message()
                ))?;
            }
        }
        if let Listing::Failed { cause } = &self.listing {
            line(format!(
                "Sign file\t{sign}\tNOT CHECKED: the folder could not be listed for files the sign file does not list: {cause}"
            ))?;
        }
        for note in self.notes() {
            line(format!("Note: {note}"))?;
        }
        if self.verdict() == Verdict::Valid {
            writeln!(out, "Successfully validated sign and query result files")?;
        }
        Ok(())
    }

    /// The report as JSON (`"version": 1`).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(crate::report::lake::LakeDoc::from(self)).unwrap_or(Value::Null)
    }
}
