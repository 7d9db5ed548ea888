//! Digest files: inflating and parsing them within limits, the string CloudTrail signs, and the
//! signature check, in the order the AWS CLI applies its checks (the first failing check names
//! the verdict).

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{DateTime, Utc};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

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
/// The `logFiles` entries are only counted here: they are turned into values by
/// [`ParsedDigest::log_files`], which the walk calls once the signature has verified, so an
/// unsigned digest costs no memory beyond its bytes however many entries it claims.
#[derive(Clone, Debug)]
pub struct ParsedDigest {
    /// Top-level fields except `logFiles` (present only as a marker when it is not an array).
    fields: Map<String, Value>,
    /// Number of `logFiles` entries (0 when absent or not an array).
    log_file_count: usize,
    /// The inflated bytes, kept for the second, streaming pass over `logFiles`.
    inflated: Vec<u8>,
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
    let mut inflated = Vec::new();
    let decoder = flate2::bufread::GzDecoder::new(gzip_bytes);
    let read = decoder
        .take(limits.max_digest_bytes.saturating_add(1))
        .read_to_end(&mut inflated);
    if inflated.len() as u64 > limits.max_digest_bytes {
        return Err(FormatError::TooLarge(limits.max_digest_bytes));
    }
    if let Err(e) = read {
        return Err(FormatError::Gzip(e.to_string()));
    }
    parse_owned(inflated, limits)
}

/// Parses an already inflated digest.
pub fn parse_inflated(inflated: &[u8], limits: &Limits) -> Result<ParsedDigest, FormatError> {
    if inflated.len() as u64 > limits.max_digest_bytes {
        return Err(FormatError::TooLarge(limits.max_digest_bytes));
    }
    parse_owned(inflated.to_vec(), limits)
}

fn parse_owned(inflated: Vec<u8>, limits: &Limits) -> Result<ParsedDigest, FormatError> {
    let text = std::str::from_utf8(&inflated).map_err(|e| FormatError::Json(e.to_string()))?;
    // Python's json (what the CLI parses with) accepts only these white-space bytes first.
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        serde_json::from_str::<IgnoredAny>(text).map_err(|e| FormatError::Json(e.to_string()))?;
        return Err(FormatError::NotAnObject);
    }
    let Header {
        fields,
        log_file_count,
    } = serde_json::from_str(text).map_err(|e| FormatError::Json(e.to_string()))?;
    if log_file_count > limits.max_log_files_per_digest {
        return Err(FormatError::TooManyLogFiles(
            limits.max_log_files_per_digest,
        ));
    }
    Ok(ParsedDigest {
        fields,
        log_file_count,
        inflated_sha256: hex::encode(Sha256::digest(&inflated)),
        inflated_len: inflated.len() as u64,
        inflated,
    })
}

/// The top-level object with `logFiles` counted, not built: the first pass.
struct Header {
    fields: Map<String, Value>,
    log_file_count: usize,
}

impl<'de> Deserialize<'de> for Header {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Header;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
                let mut fields = Map::new();
                let mut log_file_count = 0;
                while let Some(name) = map.next_key::<String>()? {
                    if name == "logFiles" {
                        // Python's json keeps the last of duplicate names, and so does the
                        // second pass.
                        match map.next_value::<Shape>()? {
                            Shape::Array(n) => {
                                log_file_count = n;
                                fields.remove("logFiles");
                            }
                            Shape::Other(v) => {
                                log_file_count = 0;
                                fields.insert(name, v);
                            }
                        }
                    } else {
                        let value = map.next_value::<Value>()?;
                        fields.insert(name, value);
                    }
                }
                Ok(Header {
                    fields,
                    log_file_count,
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// `logFiles` in the first pass: an array is only counted (its entries are skipped without
/// being built); anything else is kept as it is.
enum Shape {
    Array(usize),
    Other(Value),
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                let mut n = 0usize;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(Shape::Array(n))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Shape, A::Error> {
                Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(Shape::Other)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Shape, E> {
                Ok(Shape::Other(Value::String(v.to_owned())))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Shape, E> {
                Ok(Shape::Other(Value::Bool(v)))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Shape, E> {
                Ok(Shape::Other(Value::from(v)))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Shape, E> {
                Ok(Shape::Other(Value::from(v)))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Shape, E> {
                Ok(Shape::Other(Value::from(v)))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Shape, E> {
                Ok(Shape::Other(Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

/// The second pass: only the last `logFiles` array, each entry built straight into a
/// [`LogFileRef`] (no intermediate JSON tree), so memory grows with the entries kept.
struct Entries(Vec<LogFileRef>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if name == "logFiles" {
                        entries = match map.next_value::<MaybeList>()? {
                            MaybeList(Some(list)) => list,
                            MaybeList(None) => Vec::new(),
                        };
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(V)
    }
}

/// Visitor methods for the JSON values a permissive visitor does not look into: each gives
/// `$value` (arrays and objects are skipped unread).
macro_rules! otherwise {
    ($out:ty = $value:expr; $($kind:ident),+) => { $(otherwise!(@ $kind $out = $value);)+ };
    (@scalars $out:ty = $value:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$out, E> {
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$out, E> {
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$out, E> {
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$out, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<$out, E> {
            Ok($value)
        }
    };
    (@str $out:ty = $value:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<$out, E> {
            Ok($value)
        }
    };
    (@seq $out:ty = $value:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$out, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
    (@map $out:ty = $value:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$out, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
}

/// `logFiles` when it is an array of entries; `None` for any other value.
struct MaybeList(Option<Vec<LogFileRef>>);

impl<'de> Deserialize<'de> for MaybeList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MaybeList, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(entry) = seq.next_element::<EntryValue>()? {
                    list.push(entry.0);
                }
                Ok(MaybeList(Some(list)))
            }
            otherwise!(MaybeList = MaybeList(None); map, str, scalars);
        }
        d.deserialize_any(V)
    }
}

/// One `logFiles` entry. An entry without the three string fields is kept with what it has
/// (empty strings), so it is checked and reported rather than dropped.
struct EntryValue(LogFileRef);

impl<'de> Deserialize<'de> for EntryValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EntryValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntryValue, A::Error> {
                let mut entry = empty_ref();
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match &*name {
                        "s3Bucket" => &mut entry.bucket,
                        "s3Object" => &mut entry.key,
                        "hashValue" => &mut entry.hash,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = map.next_value::<StringOrNot>()?.0.unwrap_or_default();
                }
                Ok(EntryValue(entry))
            }
            otherwise!(EntryValue = EntryValue(empty_ref()); seq, str, scalars);
        }
        d.deserialize_any(V)
    }
}

fn empty_ref() -> LogFileRef {
    LogFileRef {
        bucket: String::new(),
        key: String::new(),
        hash: String::new(),
    }
}

/// A string value, or `None` for any other JSON value (skipped without being built).
struct StringOrNot(Option<String>);

impl<'de> Deserialize<'de> for StringOrNot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrNot;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<StringOrNot, E> {
                Ok(StringOrNot(Some(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<StringOrNot, E> {
                Ok(StringOrNot(Some(v)))
            }
            otherwise!(StringOrNot = StringOrNot(None); map, seq, scalars);
        }
        d.deserialize_any(V)
    }
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
    /// A top-level field (`logFiles` is only present as a marker: see [`ParsedDigest::log_files`]).
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

    /// The `logFiles` entries, built in a streaming pass over the inflated bytes. Call it only
    /// for a digest whose signature verified: until then its contents are untrusted input.
    pub fn log_files(&self) -> Result<Vec<LogFileRef>, FormatError> {
        if self.log_file_count == 0 {
            return Ok(Vec::new());
        }
        let text =
            std::str::from_utf8(&self.inflated).map_err(|e| FormatError::Json(e.to_string()))?;
        serde_json::from_str::<Entries>(text)
            .map(|e| e.0)
            .map_err(|e| FormatError::Json(e.to_string()))
    }

    /// Frees the inflated bytes once the entries are no longer needed.
    pub fn drop_bytes(&mut self) {
        self.inflated = Vec::new();
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
        // A non-array logFiles is kept as a field, and lists nothing.
        let d = digest(r#"{"logFiles":"nope"}"#);
        assert_eq!(d.field("logFiles"), Some(&Value::String("nope".into())));
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
