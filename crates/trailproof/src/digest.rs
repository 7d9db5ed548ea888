//! Digest files: inflating and parsing them within limits, the string CloudTrail signs, and the
//! signature check, in the order the AWS CLI applies its checks (the first failing check names
//! the verdict).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

mod json;

use crate::keys::PublicKey;
use crate::report::DigestOutcome;

/// Limits on what a digest may cost to read.
///
/// A digest beyond a limit is never called tampered: it is `NOT CHECKED` (exit 2), with a
/// message naming the limit, since CloudTrail itself may write digests that large.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest digest accepted, in bytes, both as stored (gzip) and inflated. A validly signed
    /// digest of 250,000 log entries inflates to about 90 MB; the default admits it.
    pub max_digest_bytes: u64,
    /// Largest number of `logFiles` entries in one digest.
    pub max_log_files_per_digest: usize,
}

impl Limits {
    /// Limits with these values.
    pub fn new(max_digest_bytes: u64, max_log_files_per_digest: usize) -> Self {
        Limits {
            max_digest_bytes,
            max_log_files_per_digest,
        }
    }
}

/// Default [`Limits::max_digest_bytes`]: 256 MiB.
pub const DEFAULT_MAX_DIGEST_BYTES: u64 = 256 * 1024 * 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_digest_bytes: DEFAULT_MAX_DIGEST_BYTES,
            max_log_files_per_digest: 2_000_000,
        }
    }
}

/// The fields the AWS CLI requires before it looks at a digest's contents.
pub const REQUIRED_FIELDS: [&str; 6] = [
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
];

/// A log file named by a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFileRef {
    /// `s3Bucket`.
    pub bucket: String,
    /// `s3Object`.
    pub key: String,
    /// `hashValue`: hex SHA-256 of the inflated log file.
    pub hash: String,
}

/// A digest file after inflating and parsing its top-level fields, before any check.
///
/// Neither the inflated bytes nor the `logFiles` entries are held: the first pass hashes the
/// stream and keeps only the top-level fields the checks read, and [`ParsedDigest::log_files`],
/// which the walk calls once the signature has verified, inflates again to build the entries. An
/// unsigned digest costs no memory beyond its stored bytes however large it inflates or however
/// many entries it claims.
#[derive(Clone, Debug)]
pub struct ParsedDigest {
    /// The top-level fields the checks read (see [`ParsedDigest::field`]).
    fields: Map<String, Value>,
    /// Number of `logFiles` entries (0 when absent or not an array).
    log_file_count: usize,
    /// What the digest was read from, for the second pass over `logFiles`.
    stored: json::Stored,
    /// Up to this inflated size the passes parse the whole text.
    small: usize,
    /// Hex SHA-256 of the inflated bytes, as signed and as the successor's
    /// `previousDigestHashValue` names it.
    pub inflated_sha256: String,
    /// Size of the inflated digest.
    pub inflated_len: u64,
}

/// Why a digest could not be parsed (the "invalid format" verdict), or was not read at all
/// because it is larger than a limit (not a verdict: see [`FormatError::is_limit`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Not a gzip stream, or a corrupt one.
    #[error("not a valid gzip stream: {0}")]
    Gzip(String),
    /// The inflated digest is larger than [`Limits::max_digest_bytes`].
    #[error("inflates to more than {0} bytes")]
    TooLarge(u64),
    /// The inflated bytes are not UTF-8 JSON.
    #[error("not valid JSON: {0}")]
    Json(String),
    /// The JSON is not an object.
    #[error("the JSON document is not an object")]
    NotAnObject,
    /// More `logFiles` entries than [`Limits::max_log_files_per_digest`].
    #[error("more than {0} logFiles entries")]
    TooManyLogFiles(usize),
}

impl FormatError {
    /// True when the digest was not judged because it exceeds a limit: such a digest is
    /// `NOT CHECKED`, never invalid.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            FormatError::TooLarge(_) | FormatError::TooManyLogFiles(_)
        )
    }
}

/// Inflates (gzip) a digest within `limits`, and parses its top-level fields.
///
/// Bytes after the first gzip member are ignored, like the AWS CLI does: the signature covers
/// the first member's inflated bytes only.
pub fn parse(gzip_bytes: &[u8], limits: &Limits) -> Result<ParsedDigest, FormatError> {
    parse_owned(gzip_bytes.to_vec(), limits)
}

/// [`parse`], keeping the stored bytes given (for the second pass) instead of a copy.
pub fn parse_owned(gzip_bytes: Vec<u8>, limits: &Limits) -> Result<ParsedDigest, FormatError> {
    parsed(json::Stored::Gzip(gzip_bytes), limits, json::SMALL)
}

/// Parses an already inflated digest.
pub fn parse_inflated(inflated: &[u8], limits: &Limits) -> Result<ParsedDigest, FormatError> {
    if inflated.len() as u64 > limits.max_digest_bytes {
        return Err(FormatError::TooLarge(limits.max_digest_bytes));
    }
    parsed(
        json::Stored::Inflated(inflated.to_vec()),
        limits,
        json::SMALL,
    )
}

/// [`parse`] without the whole-text path for small digests, which the streaming passes must
/// agree with (for tests).
#[doc(hidden)]
pub fn parse_streamed(gzip_bytes: &[u8], limits: &Limits) -> Result<ParsedDigest, FormatError> {
    parsed(json::Stored::Gzip(gzip_bytes.to_vec()), limits, 0)
}

/// [`parse_inflated`] without the whole-text path (for tests).
#[doc(hidden)]
pub fn parse_inflated_streamed(
    inflated: &[u8],
    limits: &Limits,
) -> Result<ParsedDigest, FormatError> {
    if inflated.len() as u64 > limits.max_digest_bytes {
        return Err(FormatError::TooLarge(limits.max_digest_bytes));
    }
    parsed(json::Stored::Inflated(inflated.to_vec()), limits, 0)
}

fn parsed(
    stored: json::Stored,
    limits: &Limits,
    small: usize,
) -> Result<ParsedDigest, FormatError> {
    let first = json::first_pass(&stored, limits, small)?;
    Ok(ParsedDigest {
        fields: first.header.fields,
        log_file_count: first.header.log_file_count,
        stored,
        small,
        inflated_sha256: first.sha256,
        inflated_len: first.len,
    })
}

/// How Python's f-string renders a JSON value: what the AWS CLI puts in the string to sign.
fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        other => other.to_string(),
    }
}

impl ParsedDigest {
    /// A top-level field, for those the checks and the walk read: the [`REQUIRED_FIELDS`] and
    /// `previousDigestS3Bucket`, `previousDigestS3Object`, `previousDigestHashValue`. Other
    /// fields (and `logFiles`: see [`ParsedDigest::log_files`]) are validated, not kept.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// A top-level field when it is a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// `digestStartTime`, parsed.
    pub fn start_time(&self) -> Option<DateTime<Utc>> {
        self.str_field("digestStartTime")
            .and_then(crate::time::parse_cloudtrail)
    }

    /// `digestEndTime`, parsed.
    pub fn end_time(&self) -> Option<DateTime<Utc>> {
        self.str_field("digestEndTime")
            .and_then(crate::time::parse_cloudtrail)
    }

    /// `previousDigestS3Bucket` and `previousDigestS3Object` when both are set: the link to follow.
    pub fn previous(&self) -> Option<(&str, &str)> {
        match (
            self.str_field("previousDigestS3Bucket"),
            self.str_field("previousDigestS3Object"),
        ) {
            (Some(b), Some(k)) => Some((b, k)),
            _ => None,
        }
    }

    /// True when the previous link is absent or JSON null (a starting digest, for the walk).
    pub fn has_no_previous_link(&self) -> bool {
        let unset = |f| matches!(self.fields.get(f), None | Some(Value::Null));
        unset("previousDigestS3Bucket") || unset("previousDigestS3Object")
    }

    /// `previousDigestSignature` when it is a string.
    pub fn previous_signature(&self) -> Option<&str> {
        self.str_field("previousDigestSignature")
    }

    /// `previousDigestHashValue` when it is a string.
    pub fn previous_hash(&self) -> Option<&str> {
        self.str_field("previousDigestHashValue")
    }

    /// The string CloudTrail signs: end time, `bucket/key`, hex SHA-256 of the inflated digest,
    /// and the previous signature (`null` when there is none), joined by `\n`.
    pub fn string_to_sign(&self) -> String {
        let field = |name| self.fields.get(name).map(python_str).unwrap_or_default();
        let previous = match self.fields.get("previousDigestSignature") {
            None | Some(Value::Null) => "null".to_owned(),
            Some(v) => python_str(v),
        };
        format!(
            "{}\n{}/{}\n{}\n{}",
            field("digestEndTime"),
            field("digestS3Bucket"),
            field("digestS3Object"),
            self.inflated_sha256,
            previous
        )
    }

    /// Number of `logFiles` entries the digest lists (0 when the field is absent or not an
    /// array). Counted without building them.
    pub fn log_file_count(&self) -> usize {
        self.log_file_count
    }

    /// The `logFiles` entries, built in a second streaming pass (the stored bytes are inflated
    /// again). Call it only for a digest whose signature verified: until then its contents are
    /// untrusted input.
    pub fn log_files(&self) -> Result<Vec<LogFileRef>, FormatError> {
        if self.log_file_count == 0 {
            return Ok(Vec::new());
        }
        json::entries(&self.stored, self.inflated_len, self.small)
    }

    /// Frees the stored bytes once the entries are no longer needed.
    pub fn drop_bytes(&mut self) {
        self.stored = json::Stored::Dropped;
    }
}

/// Where a digest's signature comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureSource {
    /// The object's S3 user metadata (or its `.meta.json` sidecar).
    Metadata(BTreeMap<String, String>),
    /// No metadata; the verified successor's `previousDigestSignature` (if any).
    Successor(Option<String>),
}

/// Why a key lookup gave no key.
#[derive(Debug)]
pub enum LookupError {
    /// The keys could not be fetched: the run cannot go on.
    Fetch(crate::Error),
    /// The lookup failed in a way the AWS CLI reports as this digest's verdict (`INVALID: …`).
    Verdict(String),
}

/// Looks up the key for a fingerprint; for backfill digests the lookup may fetch more keys.
pub trait KeyLookup {
    /// The key with `fingerprint`, if known. `backfill_generated` is the backfill generation time
    /// for backfill digests (keys are searched around it).
    fn lookup(
        &mut self,
        fingerprint: &str,
        backfill_generated: Option<&str>,
    ) -> Result<Option<PublicKey>, LookupError>;
    /// The home region, for the "public key not found" message.
    fn region(&self) -> &str;
}

/// Applies the AWS CLI's checks to a parsed digest read from `bucket/key`, in its order.
///
/// Returns the verdict, or `Err` only when keys could not be fetched.
pub fn check(
    parsed: &ParsedDigest,
    bucket: &str,
    key: &str,
    source: &SignatureSource,
    keys: &mut dyn KeyLookup,
) -> Result<DigestOutcome, crate::Error> {
    let backfill = crate::layout::is_backfill_key(key);
    let (signature_hex, generated) = match source {
        SignatureSource::Metadata(meta) => {
            let (Some(sig), Some(_)) = (meta.get("signature"), meta.get("signature-algorithm"))
            else {
                return Ok(DigestOutcome::SignatureFailed);
            };
            let generated = meta.get("backfill-generation-timestamp");
            if backfill && generated.is_none() {
                return Ok(DigestOutcome::InvalidFormat {
                    reason: "backfill digest without backfill-generation-timestamp metadata"
                        .to_owned(),
                });
            }
            (Some(sig.clone()), generated.cloned())
        }
        SignatureSource::Successor(sig) => (sig.clone(), None),
    };
    if let Some(missing) = REQUIRED_FIELDS.iter().find(|f| parsed.field(f).is_none()) {
        return Ok(DigestOutcome::InvalidFormat {
            reason: format!("required field {missing} is missing"),
        });
    }
    if parsed.str_field("digestS3Bucket") != Some(bucket)
        || parsed.str_field("digestS3Object") != Some(key)
    {
        return Ok(DigestOutcome::Moved {
            claimed: format!(
                "s3://{}/{}",
                parsed
                    .field("digestS3Bucket")
                    .map(python_str)
                    .unwrap_or_default(),
                parsed
                    .field("digestS3Object")
                    .map(python_str)
                    .unwrap_or_default()
            ),
        });
    }
    let fingerprint = parsed
        .field("digestPublicKeyFingerprint")
        .map(python_str)
        .unwrap_or_default();
    let found = match keys.lookup(&fingerprint, generated.as_deref()) {
        Ok(found) => found,
        Err(LookupError::Fetch(e)) => return Err(e),
        Err(LookupError::Verdict(message)) => return Ok(DigestOutcome::Other { message }),
    };
    let Some(public_key) = found else {
        return Ok(DigestOutcome::PublicKeyNotFound {
            region: keys.region().to_owned(),
            fingerprint,
        });
    };
    let Some(signature_hex) = signature_hex else {
        return Ok(DigestOutcome::NotVerified {
            reason: "signature unknown: no S3 metadata (.meta.json sidecar) and no newer digest naming it"
                .to_owned(),
        });
    };
    let signature = match decode_hex_like_python(&signature_hex) {
        Ok(s) => s,
        Err(message) => return Ok(DigestOutcome::Other { message }),
    };
    if !public_key.verify(parsed.string_to_sign().as_bytes(), &signature) {
        return Ok(DigestOutcome::SignatureFailed);
    }
    for field in ["digestEndTime", "digestStartTime"] {
        let raw = parsed.field(field).map(python_str).unwrap_or_default();
        if crate::time::parse_cloudtrail(&raw).is_none() {
            return Ok(DigestOutcome::Other {
                message: format!("Unable to parse date value: {raw}"),
            });
        }
    }
    // Beyond the AWS CLI, which trusts any key ListPublicKeys returns for the whole run.
    let generated = generated.as_deref().and_then(crate::time::parse_cloudtrail);
    if let (Some(end), false) = (
        parsed.end_time(),
        signed_in_validity(&public_key, parsed.end_time(), generated, backfill),
    ) {
        return Ok(DigestOutcome::KeyNotValid {
            fingerprint: public_key.fingerprint().to_owned(),
            signed: crate::time::display(generated.unwrap_or(end)),
            validity: validity_text(&public_key),
        });
    }
    Ok(DigestOutcome::Valid)
}

/// How long after `digestEndTime` CloudTrail may sign a standard digest: the `+ 2 h` of the
/// window the AWS CLI asks `ListPublicKeys` for.
pub const STANDARD_SIGNING_DELAY: chrono::Duration = chrono::Duration::hours(2);
/// How far from `backfill-generation-timestamp` a backfill digest's key may be valid: the
/// `± 1 h` of the AWS CLI's lookup.
pub const BACKFILL_TOLERANCE: chrono::Duration = chrono::Duration::hours(1);

/// True when the key was valid while the digest was signed. A standard digest is signed
/// between `digestEndTime` (which the signature covers) and [`STANDARD_SIGNING_DELAY`] after
/// it; a backfill digest within [`BACKFILL_TOLERANCE`] of its generation time, and never
/// before its own end. Unknown validity bounds (a key file without them) do not restrict.
pub fn signed_in_validity(
    key: &PublicKey,
    end: Option<DateTime<Utc>>,
    generated: Option<DateTime<Utc>>,
    backfill: bool,
) -> bool {
    let Some(end) = end else { return true };
    let (earliest, latest) = match (backfill, generated) {
        (true, Some(g)) => ((g - BACKFILL_TOLERANCE).max(end), g + BACKFILL_TOLERANCE),
        // The generation time is S3 metadata, unknown without a sidecar: the signed end time
        // is still a lower bound.
        (true, None) => (end, DateTime::<Utc>::MAX_UTC),
        (false, _) => (end, end + STANDARD_SIGNING_DELAY),
    };
    let starts_in_time = key.validity_start.is_none_or(|s| s <= latest);
    let lasts_long_enough = key.validity_end.is_none_or(|e| e >= earliest);
    starts_in_time && lasts_long_enough
}

fn validity_text(key: &PublicKey) -> String {
    let show = |t: Option<DateTime<Utc>>| t.map_or("unknown".to_owned(), crate::time::display);
    format!("{} to {}", show(key.validity_start), show(key.validity_end))
}

/// `binascii.unhexlify`, with its error messages (the AWS CLI prints them as the verdict).
fn decode_hex_like_python(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err("Odd-length string".to_owned());
    }
    hex::decode(s).map_err(|_| "Non-hexadecimal digit found".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};

    fn digest(json: &str) -> ParsedDigest {
        parse_inflated(json.as_bytes(), &Limits::default()).unwrap()
    }

    #[test]
    fn string_to_sign_joins_four_lines_without_trailing_newline() {
        let d = digest(
            r#"{"digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"b","digestS3Object":"AWSLogs\/k.json.gz","previousDigestSignature":"abcd"}"#,
        );
        let hash = hex::encode(Sha256::digest(
            r#"{"digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"b","digestS3Object":"AWSLogs\/k.json.gz","previousDigestSignature":"abcd"}"#,
        ));
        assert_eq!(
            d.string_to_sign(),
            format!("2015-08-17T15:01:31Z\nb/AWSLogs/k.json.gz\n{hash}\nabcd")
        );
    }

    #[test]
    fn null_previous_signature_is_the_literal_null() {
        let d = digest(
            r#"{"digestEndTime":"t","digestS3Bucket":"b","digestS3Object":"k","previousDigestSignature":null}"#,
        );
        assert!(d.string_to_sign().ends_with("\nnull"));
        let d = digest(r#"{"digestEndTime":"t","digestS3Bucket":"b","digestS3Object":"k"}"#);
        assert!(d.string_to_sign().ends_with("\nnull"));
    }

    #[test]
    fn hash_is_of_the_bytes_as_delivered() {
        let a = digest(r#"{"k":"a\/b"}"#);
        let b = digest(r#"{"k":"a/b"}"#);
        assert_eq!(a.field("k"), b.field("k"));
        assert_ne!(a.inflated_sha256, b.inflated_sha256);
    }

    #[test]
    fn format_errors() {
        let limits = Limits::default();
        assert!(matches!(
            parse(b"not gzip", &limits),
            Err(FormatError::Gzip(_))
        ));
        assert!(matches!(
            parse_inflated(b"[1]", &limits),
            Err(FormatError::NotAnObject)
        ));
        assert!(matches!(
            parse_inflated(b"{", &limits),
            Err(FormatError::Json(_))
        ));
        assert!(matches!(
            parse_inflated(b"\xff", &limits),
            Err(FormatError::Json(_))
        ));
        let small = Limits {
            max_log_files_per_digest: 1,
            ..Limits::default()
        };
        assert!(matches!(
            parse_inflated(br#"{"logFiles":[{},{}]}"#, &small),
            Err(FormatError::TooManyLogFiles(1))
        ));
    }

    #[test]
    fn inflate_limit_stops_a_bomb() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut enc, &vec![b' '; 4 << 20]).unwrap();
        let bomb = enc.finish().unwrap();
        let limits = Limits {
            max_digest_bytes: 1 << 20,
            ..Limits::default()
        };
        assert_eq!(
            parse(&bomb, &limits).unwrap_err(),
            FormatError::TooLarge(1 << 20)
        );
    }

    #[test]
    fn python_hex_errors() {
        assert_eq!(
            decode_hex_like_python("abc"),
            Err("Odd-length string".to_owned())
        );
        assert_eq!(
            decode_hex_like_python("zz"),
            Err("Non-hexadecimal digit found".to_owned())
        );
        assert_eq!(decode_hex_like_python("0aFF"), Ok(vec![0x0a, 0xff]));
    }

    #[test]
    fn log_entries_missing_fields_are_kept() {
        let d = digest(
            r#"{"logFiles":[{"s3Bucket":"b","s3Object":"k","hashValue":"h"},{"s3Bucket":"b"}]}"#,
        );
        assert_eq!(d.log_file_count(), 2);
        let logs = d.log_files().unwrap();
        assert_eq!(logs.len(), 2);
        assert_eq!(logs[1].key, "");
        assert_eq!(logs[0].hash, "h");
    }

    #[test]
    fn log_files_are_counted_first_and_built_from_the_last_array() {
        let d = digest(
            r#"{"logFiles":[{"s3Bucket":1}],"x":{"y":[1,2]},"logFiles":[{"s3Bucket":"b","s3Object":"k\u0041","hashValue":"h","extra":[{}]},[],"s",null,{"s3Object":{"no":1}}]}"#,
        );
        assert_eq!(d.log_file_count(), 5);
        assert!(d.field("logFiles").is_none());
        let logs = d.log_files().unwrap();
        assert_eq!(logs.len(), 5);
        assert_eq!(
            logs[0],
            LogFileRef {
                bucket: "b".into(),
                key: "kA".into(),
                hash: "h".into()
            }
        );
        assert!(logs[1..]
            .iter()
            .all(|l| l.key.is_empty() && l.bucket.is_empty()));
        // A non-array logFiles lists nothing.
        let d = digest(r#"{"logFiles":"nope"}"#);
        assert_eq!(d.field("logFiles"), None);
        assert_eq!(d.log_file_count(), 0);
        assert!(d.log_files().unwrap().is_empty());
    }

    #[test]
    fn limits_are_not_format_verdicts() {
        assert!(FormatError::TooLarge(1).is_limit());
        assert!(FormatError::TooManyLogFiles(1).is_limit());
        assert!(!FormatError::NotAnObject.is_limit());
        let small = Limits::new(10, 5);
        assert_eq!(
            parse_inflated(br#"{"logFiles":[]}"#, &small).unwrap_err(),
            FormatError::TooLarge(10)
        );
    }
}
