//! CloudTrail public keys: DER parsing (PKCS#1 or SubjectPublicKeyInfo), fingerprints, the key set
//! loaded from `aws cloudtrail list-public-keys` output, and signature verification.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use md5::{Digest as _, Md5};
use serde_json::Value;

use crate::Error;

/// Why a key's bytes are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The `Value` is not base64.
    #[error("Value is not valid base64")]
    Base64,
    /// The DER is neither a PKCS#1 `RSAPublicKey` nor an RSA `SubjectPublicKeyInfo`.
    #[error("Value is not an RSA public key in PKCS#1 or SubjectPublicKeyInfo DER ({0})")]
    Der(&'static str),
    /// The modulus is outside 2048..=8192 bits.
    #[error("RSA modulus of {0} bits is outside the accepted 2048..=8192")]
    Size(usize),
}

/// One CloudTrail public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    fingerprint: String,
    der: Vec<u8>,
    pkcs1: Vec<u8>,
    /// Start of the key's validity, when known.
    pub validity_start: Option<DateTime<Utc>>,
    /// End of the key's validity, when known.
    pub validity_end: Option<DateTime<Utc>>,
}

impl PublicKey {
    /// Parses DER exactly as published (`Value` after base64 decoding): PKCS#1 `RSAPublicKey` or
    /// `SubjectPublicKeyInfo`. The fingerprint is the MD5 of these bytes, as CloudTrail computes it.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let pkcs1 = pkcs1_from_der(der)?;
        Ok(PublicKey {
            fingerprint: fingerprint(der),
            der: der.to_vec(),
            pkcs1,
            validity_start: None,
            validity_end: None,
        })
    }

    /// Parses the base64 `Value` of a `list-public-keys` entry.
    pub fn from_base64(value: &str) -> Result<Self, KeyError> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| KeyError::Base64)?;
        Self::from_der(&der)
    }

    /// MD5 hex of the DER bytes: what digests name in `digestPublicKeyFingerprint`.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The DER bytes as published.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.pkcs1,
        )
        .verify(message, signature)
        .is_ok()
    }
}

/// MD5 hex of DER bytes.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Md5::digest(der))
}

/// Reads one DER TLV, returning (tag, content, rest).
fn der_tlv(input: &[u8]) -> Result<(u8, &[u8], &[u8]), KeyError> {
    let (&tag, rest) = input.split_first().ok_or(KeyError::Der("truncated"))?;
    let (&first, mut rest) = rest.split_first().ok_or(KeyError::Der("truncated"))?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return Err(KeyError::Der("bad length"));
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | usize::from(b);
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return Err(KeyError::Der("truncated"));
    }
    Ok((tag, &rest[..len], &rest[len..]))
}

const TAG_SEQUENCE: u8 = 0x30;
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
/// 1.2.840.113549.1.1.1
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// Returns the PKCS#1 `RSAPublicKey` inside `der`, checking its shape and size.
fn pkcs1_from_der(der: &[u8]) -> Result<Vec<u8>, KeyError> {
    let (tag, body, rest) = der_tlv(der)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return Err(KeyError::Der("not a single SEQUENCE"));
    }
    let (first_tag, first, after) = der_tlv(body)?;
    match first_tag {
        TAG_INTEGER => {
            check_rsa_public_key(first, after)?;
            Ok(der.to_vec())
        }
        TAG_SEQUENCE => {
            let (oid_tag, oid, _) = der_tlv(first)?;
            if oid_tag != TAG_OID || oid != OID_RSA_ENCRYPTION {
                return Err(KeyError::Der("algorithm is not rsaEncryption"));
            }
            let (bits_tag, bits, tail) = der_tlv(after)?;
            if bits_tag != TAG_BIT_STRING || !tail.is_empty() {
                return Err(KeyError::Der("no subjectPublicKey BIT STRING"));
            }
            let (&unused, inner) = bits
                .split_first()
                .ok_or(KeyError::Der("empty BIT STRING"))?;
            if unused != 0 {
                return Err(KeyError::Der("BIT STRING with unused bits"));
            }
            pkcs1_from_der(inner).and_then(|k| {
                // An SPKI inside an SPKI is not a key.
                if der_tlv(&k).map(|(_, b, _)| b.first() == Some(&TAG_INTEGER)) == Ok(true) {
                    Ok(k)
                } else {
                    Err(KeyError::Der("nested SubjectPublicKeyInfo"))
                }
            })
        }
        _ => Err(KeyError::Der("unexpected element")),
    }
}

/// Checks `modulus` + `rest` form `INTEGER n, INTEGER e` with a 2048..=8192-bit n.
fn check_rsa_public_key(modulus: &[u8], rest: &[u8]) -> Result<(), KeyError> {
    let (e_tag, e, tail) = der_tlv(rest)?;
    if e_tag != TAG_INTEGER || e.is_empty() || !tail.is_empty() {
        return Err(KeyError::Der("bad public exponent"));
    }
    let n = match modulus {
        [0, rest @ ..] => rest,
        n => n,
    };
    let bits = match n.first() {
        Some(&top) => (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
        None => 0,
    };
    if !(2048..=8192).contains(&bits) {
        return Err(KeyError::Size(bits));
    }
    Ok(())
}

/// The public keys known for a region, by fingerprint, with where they came from.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: BTreeMap<String, PublicKey>,
    source: String,
    warnings: Vec<String>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key (a later key with the same fingerprint replaces the earlier one).
    pub fn insert(&mut self, key: PublicKey) {
        self.keys.insert(key.fingerprint.clone(), key);
    }

    /// Adds every key of `other`.
    pub fn extend(&mut self, other: KeySet) {
        self.keys.extend(other.keys);
        if self.source.is_empty() {
            self.source = other.source;
        }
        self.warnings.extend(other.warnings);
    }

    /// Names where the keys came from (shown in every report).
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Where the keys came from (empty when not said).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Records an entry that was left out.
    pub fn push_warning(&mut self, warning: String) {
        self.warnings.push(warning);
    }

    /// Entries that were left out, one line each (a key too short, a fingerprint that is not
    /// the MD5 of its key…): only digests naming them are affected.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The key with this fingerprint.
    pub fn get(&self, fingerprint: &str) -> Option<&PublicKey> {
        self.keys.get(fingerprint)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// All keys, by fingerprint.
    pub fn iter(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.values()
    }

    /// Parses the JSON printed by `aws cloudtrail list-public-keys` (or the API's response).
    ///
    /// `source_name` names the input in errors. A `Fingerprint` that is not the MD5 of its key is
    /// an error: such a file was edited, and trusting either value would be a guess.
    pub fn from_list_public_keys_json(json: &[u8], source_name: &str) -> Result<Self, Error> {
        let fail = |reason: String| Error::PublicKeys {
            source_name: source_name.to_owned(),
            reason,
        };
        let doc: Value =
            serde_json::from_slice(json).map_err(|e| fail(format!("not valid JSON: {e}")))?;
        // The CLI's output, or just its list.
        let list = match &doc {
            Value::Array(list) => list,
            _ => doc
                .get("PublicKeyList")
                .and_then(Value::as_array)
                .ok_or_else(|| fail("no \"PublicKeyList\" array".to_owned()))?,
        };
        let mut set = KeySet::new().with_source(format!("file {source_name}"));
        for (i, entry) in list.iter().enumerate() {
            // One unusable entry leaves out that key only: the digests naming it are then
            // "public key not found", and every other digest is checked as usual.
            match key_entry(entry) {
                Ok(key) => set.insert(key),
                Err(reason) => set.warnings.push(format!(
                    "public keys {source_name}: PublicKeyList[{i}] left out: {reason}"
                )),
            }
        }
        if set.is_empty() && !list.is_empty() {
            return Err(fail(format!(
                "no usable key: {}",
                set.warnings
                    .iter()
                    .map(|w| w.rsplit(" left out: ").next().unwrap_or(w).to_owned())
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
        Ok(set)
    }
}

/// One `PublicKeyList` entry as a key, or why it cannot be used.
fn key_entry(entry: &Value) -> Result<PublicKey, String> {
    let value = entry
        .get("Value")
        .and_then(Value::as_str)
        .ok_or("no string \"Value\"")?;
    let mut key = PublicKey::from_base64(value).map_err(|e| e.to_string())?;
    if let Some(given) = entry.get("Fingerprint") {
        let given = given.as_str().ok_or("\"Fingerprint\" is not a string")?;
        if !given.eq_ignore_ascii_case(key.fingerprint()) {
            return Err(format!(
                "Fingerprint {given} does not match its key (MD5 {})",
                key.fingerprint()
            ));
        }
    }
    key.validity_start = validity(entry, "ValidityStartTime")?;
    key.validity_end = validity(entry, "ValidityEndTime")?;
    Ok(key)
}

impl KeySet {
    /// The set as `aws cloudtrail list-public-keys` prints it (CLI v1: epoch-second times), so a
    /// mirrored archive carries the keys it was verified with.
    pub fn to_list_public_keys_json(&self) -> String {
        let epoch = |t: Option<DateTime<Utc>>| match t {
            Some(t) => serde_json::json!(
                t.timestamp() as f64 + f64::from(t.timestamp_subsec_millis()) / 1000.0
            ),
            None => Value::Null,
        };
        let list: Vec<Value> = self
            .iter()
            .map(|k| {
                serde_json::json!({
                    "Value": base64::engine::general_purpose::STANDARD.encode(k.der()),
                    "ValidityStartTime": epoch(k.validity_start),
                    "ValidityEndTime": epoch(k.validity_end),
                    "Fingerprint": k.fingerprint(),
                })
            })
            .collect();
        serde_json::json!({ "PublicKeyList": list }).to_string()
    }
}

/// Reads a validity time given as epoch seconds (CLI v1, the API) or ISO 8601 (CLI v2).
fn validity(entry: &Value, field: &str) -> Result<Option<DateTime<Utc>>, String> {
    match entry.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let secs = n
                .as_f64()
                .ok_or_else(|| format!("{field} is not a number"))?;
            if !secs.is_finite() || secs.abs() > 1e11 {
                return Err(format!("{field} {secs} is out of range"));
            }
            let whole = secs.floor();
            let nanos = ((secs - whole) * 1e9) as u32;
            Utc.timestamp_opt(whole as i64, nanos)
                .single()
                .map(Some)
                .ok_or_else(|| format!("{field} {secs} is out of range"))
        }
        Some(Value::String(s)) => crate::time::parse(s)
            .map(Some)
            .map_err(|_| format!("{field} {s:?} is not a time")),
        Some(_) => Err(format!("{field} is neither a number nor a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS_DOC_KEY: &str = "MIIBCgKCAQEAlSS3cl92HDycr/MTj0moOhas8habjrraXw+KzlWF0axSI2tcF+3iJ9BKQAVSKxGwxwu3m0wG3J+kUl1xboEcEPHYoIYMbgfSw7KGnuDKwkLzsQWhUJ0cIbOHASox1vv/5fNXkrHhGbDCHeVXm804c83nvHUEFYThr1PfyP/8HwrCtR3FX5OANtQCP61C1nJtSSkC8JSQUOrIP4CuwJjc+4WGDk+BGH5m9iuiAKkipEHWmUl8/P7XpfpWQuk4h8g3pXZOrNXr08lbh4d39svj7UqdhvOXoBISp9t/EXYuePGEtBdrKD9Dz+VHwyUPtBQvYr9BnkF88qBnaPNhS44rzwIDAQAB";

    #[test]
    fn fingerprint_test_vector_from_the_aws_docs() {
        let key = PublicKey::from_base64(AWS_DOC_KEY).unwrap();
        assert_eq!(key.fingerprint(), "7f3f401420072e50a65a141430817ab3");
    }

    #[test]
    fn list_public_keys_json_with_epoch_times() {
        let json = format!(
            r#"{{"PublicKeyList":[{{"Value":"{AWS_DOC_KEY}","ValidityStartTime":1453076702.0,"ValidityEndTime":1455668702.0,"Fingerprint":"7f3f401420072e50a65a141430817ab3"}}]}}"#
        );
        let set = KeySet::from_list_public_keys_json(json.as_bytes(), "keys.json").unwrap();
        let key = set.get("7f3f401420072e50a65a141430817ab3").unwrap();
        assert_eq!(key.validity_start.unwrap().timestamp(), 1453076702);
        assert_eq!(key.validity_end.unwrap().timestamp(), 1455668702);
    }

    #[test]
    fn list_public_keys_json_with_iso_times() {
        let json = format!(
            r#"{{"PublicKeyList":[{{"Value":"{AWS_DOC_KEY}","ValidityStartTime":"2016-01-18T00:25:02+00:00","Fingerprint":"7f3f401420072e50a65a141430817ab3"}}]}}"#
        );
        let set = KeySet::from_list_public_keys_json(json.as_bytes(), "keys.json").unwrap();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn spki_wrapping_is_accepted_and_fingerprinted_as_given() {
        let pkcs1 = base64::engine::general_purpose::STANDARD
            .decode(AWS_DOC_KEY)
            .unwrap();
        // SubjectPublicKeyInfo: SEQ { SEQ { OID rsaEncryption, NULL }, BIT STRING { 0, pkcs1 } }
        let mut bit_string = vec![0x03, 0x82];
        bit_string.extend_from_slice(&((pkcs1.len() + 1) as u16).to_be_bytes());
        bit_string.push(0);
        bit_string.extend_from_slice(&pkcs1);
        let alg = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05,
            0x00,
        ];
        let mut body = alg.to_vec();
        body.extend_from_slice(&bit_string);
        let mut spki = vec![0x30, 0x82];
        spki.extend_from_slice(&(body.len() as u16).to_be_bytes());
        spki.extend_from_slice(&body);
        let key = PublicKey::from_der(&spki).unwrap();
        assert_eq!(key.fingerprint(), fingerprint(&spki));
        assert_ne!(key.fingerprint(), "7f3f401420072e50a65a141430817ab3");
        assert_eq!(key.pkcs1, pkcs1);
    }

    #[test]
    fn key_sets_round_trip_through_list_public_keys_json() {
        let json = format!(
            r#"{{"PublicKeyList":[{{"Value":"{AWS_DOC_KEY}","ValidityStartTime":1453076702.0,"ValidityEndTime":1455668702.0,"Fingerprint":"7f3f401420072e50a65a141430817ab3"}}]}}"#
        );
        let set = KeySet::from_list_public_keys_json(json.as_bytes(), "k").unwrap();
        let again =
            KeySet::from_list_public_keys_json(set.to_list_public_keys_json().as_bytes(), "k")
                .unwrap();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            again.iter().collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_bad_entry_is_left_out_with_a_warning_and_alone_it_is_an_error() {
        let bad = format!(
            r#"{{"Value":"{AWS_DOC_KEY}","Fingerprint":"00000000000000000000000000000000"}}"#
        );
        let json = format!(r#"{{"PublicKeyList":[{bad}]}}"#);
        let err = KeySet::from_list_public_keys_json(json.as_bytes(), "k.json").unwrap_err();
        assert!(err.to_string().contains("does not match its key"), "{err}");
        // A 1024-bit key beside a good one: the good one is kept.
        let mut small = vec![0x30, 0x81, 0x89, 0x02, 0x81, 0x81, 0x00, 0xc0];
        small.extend(std::iter::repeat_n(0x11, 127));
        small.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
        let weak = base64::engine::general_purpose::STANDARD.encode(&small);
        let json = format!(
            r#"{{"PublicKeyList":[{{"Value":"{weak}"}},{bad},{{"Value":"{AWS_DOC_KEY}"}}]}}"#
        );
        let set = KeySet::from_list_public_keys_json(json.as_bytes(), "k.json").unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.get("7f3f401420072e50a65a141430817ab3").is_some());
        assert_eq!(set.warnings().len(), 2, "{:?}", set.warnings());
        assert!(
            set.warnings()[0].contains("PublicKeyList[0]") && set.warnings()[0].contains("1024")
        );
        assert!(set.warnings()[1].contains("PublicKeyList[1]"));
        assert_eq!(set.source(), "file k.json");
    }

    #[test]
    fn bad_keys_are_typed_errors() {
        assert_eq!(PublicKey::from_base64("!!!"), Err(KeyError::Base64));
        assert!(matches!(PublicKey::from_der(&[]), Err(KeyError::Der(_))));
        assert!(matches!(
            PublicKey::from_der(&[0x30, 0x05, 0x02]),
            Err(KeyError::Der(_))
        ));
        // A 1024-bit modulus.
        let mut small = vec![0x30, 0x81, 0x89, 0x02, 0x81, 0x81, 0x00, 0xc0];
        small.extend(std::iter::repeat_n(0x11, 127));
        small.extend_from_slice(&[0x02, 0x03, 0x01, 0x00, 0x01]);
        assert_eq!(PublicKey::from_der(&small), Err(KeyError::Size(1024)));
    }

    #[test]
    fn bad_key_files_name_the_problem() {
        for (json, needle) in [
            (&b"not json"[..], "not valid JSON"),
            (b"{}", "PublicKeyList"),
            (br#"{"PublicKeyList":[{}]}"#, "Value"),
            (br#"{"PublicKeyList":[{"Value":"AAAA"}]}"#, "PKCS#1"),
        ] {
            let err = KeySet::from_list_public_keys_json(json, "k.json")
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle) && err.contains("k.json"), "{err}");
        }
    }
}
