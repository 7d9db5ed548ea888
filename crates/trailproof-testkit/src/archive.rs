//! The in-memory S3 bucket contents of a trail, the published public keys, and tamper helpers.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::Path;

use base64::Engine as _;
use chrono::{DateTime, Utc};

use crate::{gunzip, gzip, string_to_sign, to_aws_json, TestKey};

/// One S3 object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object {
    /// The bytes as stored in S3 (gzip for CloudTrail objects).
    pub body: Vec<u8>,
    /// S3 user metadata, names without the `x-amz-meta-` prefix (e.g. `signature`).
    pub metadata: BTreeMap<String, String>,
}

/// One entry of `aws cloudtrail list-public-keys`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKeyEntry {
    /// Base64 of the DER public key exactly as published (PKCS#1 or SPKI).
    pub value_b64: String,
    pub validity_start: DateTime<Utc>,
    pub validity_end: DateTime<Utc>,
    /// MD5 hex of the published DER bytes.
    pub fingerprint: String,
}

impl PublicKeyEntry {
    /// The entry publishing `key` in PKCS#1 (or SPKI when `spki`) form.
    pub fn for_key(
        key: &TestKey,
        spki: bool,
        validity_start: DateTime<Utc>,
        validity_end: DateTime<Utc>,
    ) -> PublicKeyEntry {
        PublicKeyEntry {
            value_b64: base64::engine::general_purpose::STANDARD.encode(key.published_der(spki)),
            validity_start,
            validity_end,
            fingerprint: key.published_fingerprint(spki),
        }
    }
}

/// S3 objects of one or more buckets plus the public keys CloudTrail would list.
#[derive(Clone, Debug, Default)]
pub struct Archive {
    /// Objects by `(bucket, key)`.
    pub objects: BTreeMap<(String, String), Object>,
    /// What `aws cloudtrail list-public-keys` would return (known keys only).
    pub public_keys: Vec<PublicKeyEntry>,
}

/// Epoch seconds the way AWS CLI v1 prints timestamps in JSON output (`1453076702.0`).
fn epoch_float(t: DateTime<Utc>) -> String {
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        format!("{}.0", t.timestamp())
    } else {
        format!("{}.{:09}", t.timestamp(), nanos)
            .trim_end_matches('0')
            .to_owned()
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("serialising a string cannot fail")
}

impl Archive {
    /// The public key list as `aws cloudtrail list-public-keys` prints it:
    /// `{"PublicKeyList":[{"Value":..,"ValidityStartTime":1453076702.0,..,"Fingerprint":..}]}`.
    pub fn public_keys_json(&self) -> String {
        let entries: Vec<String> = self
            .public_keys
            .iter()
            .map(|k| {
                format!(
                    "{{\"Value\":{},\"ValidityStartTime\":{},\"ValidityEndTime\":{},\"Fingerprint\":{}}}",
                    json_str(&k.value_b64),
                    epoch_float(k.validity_start),
                    epoch_float(k.validity_end),
                    json_str(&k.fingerprint)
                )
            })
            .collect();
        format!("{{\"PublicKeyList\":[{}]}}", entries.join(","))
    }

    /// Writes every object of `bucket` to `dir/<key>` (creating folders). Objects with metadata
    /// also get `dir/<key>.meta.json`, a JSON object of the metadata, e.g.
    /// `{"signature":"…","signature-algorithm":"SHA256withRSA"}`.
    pub fn write_bucket(&self, bucket: &str, dir: &Path) -> io::Result<()> {
        for ((b, key), object) in &self.objects {
            if b != bucket {
                continue;
            }
            let path = dir.join(key);
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::write(&path, &object.body)?;
            if !object.metadata.is_empty() {
                let meta = serde_json::to_string(&object.metadata)
                    .expect("serialising string metadata cannot fail");
                fs::write(dir.join(format!("{key}.meta.json")), meta)?;
            }
        }
        Ok(())
    }

    /// Names of the buckets holding at least one object, sorted.
    pub fn buckets(&self) -> Vec<String> {
        let mut names: Vec<String> = self.objects.keys().map(|(b, _)| b.clone()).collect();
        names.dedup(); // keys are sorted by bucket first
        names
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<&Object> {
        self.objects.get(&(bucket.to_owned(), key.to_owned()))
    }

    /// Keys of the objects of `bucket`, sorted.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        self.objects
            .keys()
            .filter(|(b, _)| b == bucket)
            .map(|(_, k)| k.clone())
            .collect()
    }

    /// Adds `other`'s objects (replacing same-named ones) and its public keys not already listed
    /// (by fingerprint).
    pub fn merge(&mut self, other: Archive) {
        self.objects.extend(other.objects);
        for key in other.public_keys {
            if !self
                .public_keys
                .iter()
                .any(|k| k.fingerprint == key.fingerprint)
            {
                self.public_keys.push(key);
            }
        }
    }

    fn object_mut(&mut self, bucket: &str, key: &str) -> &mut Object {
        self.objects
            .get_mut(&(bucket.to_owned(), key.to_owned()))
            .unwrap_or_else(|| panic!("testkit: no object s3://{bucket}/{key} in the archive"))
    }

    fn take(&mut self, bucket: &str, key: &str) -> Object {
        self.objects
            .remove(&(bucket.to_owned(), key.to_owned()))
            .unwrap_or_else(|| panic!("testkit: no object s3://{bucket}/{key} in the archive"))
    }

    /// Changes one character inside a JSON string of the inflated object and re-gzips it: the
    /// content stays valid JSON but its hash no longer matches.
    pub fn modify_log(&mut self, bucket: &str, key: &str) {
        let object = self.object_mut(bucket, key);
        let mut inflated = gunzip(&object.body);
        match last_string_alnum(&inflated) {
            Some(i) => inflated[i] = next_alnum(inflated[i]),
            // Not JSON with text in it: any change breaks the hash.
            None if !inflated.is_empty() => {
                let last = inflated.len() - 1;
                inflated[last] ^= 1;
            }
            None => inflated.push(b' '),
        }
        object.body = gzip(&inflated);
    }

    /// Removes the object.
    pub fn delete(&mut self, bucket: &str, key: &str) {
        self.take(bucket, key);
    }

    /// Cuts `remove_bytes` bytes (at most all of them) from the end of the stored gzip body.
    pub fn truncate(&mut self, bucket: &str, key: &str, remove_bytes: usize) {
        let body = &mut self.object_mut(bucket, key).body;
        body.truncate(body.len().saturating_sub(remove_bytes));
    }

    /// Appends raw bytes after the gzip stream.
    pub fn append_bytes(&mut self, bucket: &str, key: &str, bytes: &[u8]) {
        self.object_mut(bucket, key).body.extend_from_slice(bytes);
    }

    /// Appends a second gzip member holding `inflated`.
    pub fn append_gzip_member(&mut self, bucket: &str, key: &str, inflated: &[u8]) {
        self.object_mut(bucket, key).body.extend(gzip(inflated));
    }

    /// Renames an object (body and metadata); its content still names the old key.
    /// Replaces any object already at `to`.
    pub fn move_object(&mut self, bucket: &str, from: &str, to: &str) {
        let object = self.take(bucket, from);
        self.objects
            .insert((bucket.to_owned(), to.to_owned()), object);
    }

    /// Overwrites `to` (created if absent) with the body and metadata of `from`, e.g. to replace
    /// a digest with an older, validly signed one.
    pub fn copy_object(&mut self, bucket: &str, from: &str, to: &str) {
        let object = self.object_mut(bucket, from).clone();
        self.objects
            .insert((bucket.to_owned(), to.to_owned()), object);
    }

    /// Removes the `signature` metadata.
    pub fn drop_signature(&mut self, bucket: &str, key: &str) {
        self.object_mut(bucket, key).metadata.remove("signature");
    }

    /// Changes one hex digit in the middle of the `signature` metadata (still valid hex, same
    /// length). A middle digit keeps the value below the modulus, so verification fails on the
    /// signature itself rather than on its range.
    pub fn corrupt_signature(&mut self, bucket: &str, key: &str) {
        let object = self.object_mut(bucket, key);
        let sig = object
            .metadata
            .get_mut("signature")
            .unwrap_or_else(|| panic!("testkit: s3://{bucket}/{key} has no signature metadata"));
        let mut bytes = sig.clone().into_bytes();
        assert!(
            !bytes.is_empty(),
            "testkit: s3://{bucket}/{key} has an empty signature"
        );
        let i = bytes.len() / 2;
        bytes[i] = match bytes[i] {
            b'f' | b'F' => b'0',
            b'9' => b'a',
            c if c.is_ascii_hexdigit() => c + 1,
            _ => b'0',
        };
        *sig = String::from_utf8(bytes).expect("hex digits are ASCII");
    }

    /// Sets (`Some`) or removes (`None`) one metadata entry.
    pub fn set_metadata(&mut self, bucket: &str, key: &str, name: &str, value: Option<&str>) {
        let metadata = &mut self.object_mut(bucket, key).metadata;
        match value {
            Some(v) => {
                metadata.insert(name.to_owned(), v.to_owned());
            }
            None => {
                metadata.remove(name);
            }
        }
    }

    /// Parses the inflated digest, lets `f` edit it, then re-serialises it AWS style (compact,
    /// `\/`, CloudTrail field order; new fields last) and re-gzips it. The signature metadata is
    /// left alone: call [`Archive::resign_digest`] to make the edit validly signed.
    pub fn edit_digest_json(
        &mut self,
        bucket: &str,
        key: &str,
        f: impl FnOnce(&mut serde_json::Value),
    ) {
        let object = self.object_mut(bucket, key);
        let mut value: serde_json::Value = serde_json::from_slice(&gunzip(&object.body))
            .unwrap_or_else(|e| panic!("testkit: s3://{bucket}/{key} is not JSON: {e}"));
        f(&mut value);
        object.body = gzip(&to_aws_json(&value));
    }

    /// Signs the digest again with `signer` and stores `signature`/`signature-algorithm`. The
    /// signed string uses the digest's own `digestEndTime`, `digestS3Bucket`, `digestS3Object`
    /// (falling back to where it is stored) and `previousDigestSignature`, like AWS; the
    /// `digestPublicKeyFingerprint` field is left as is.
    pub fn resign_digest(&mut self, bucket: &str, key: &str, signer: &TestKey) {
        let object = self.object_mut(bucket, key);
        let inflated = gunzip(&object.body);
        let value: serde_json::Value = serde_json::from_slice(&inflated)
            .unwrap_or_else(|e| panic!("testkit: s3://{bucket}/{key} is not JSON: {e}"));
        let field = |name: &str| value.get(name).and_then(serde_json::Value::as_str);
        let end = field("digestEndTime")
            .unwrap_or_else(|| panic!("testkit: s3://{bucket}/{key} has no digestEndTime"));
        let message = string_to_sign(
            end,
            field("digestS3Bucket").unwrap_or(bucket),
            field("digestS3Object").unwrap_or(key),
            &inflated,
            field("previousDigestSignature"),
        );
        let signature = hex::encode(signer.sign(message.as_bytes()));
        object.metadata.insert("signature".to_owned(), signature);
        object
            .metadata
            .insert("signature-algorithm".to_owned(), "SHA256withRSA".to_owned());
    }

    /// Adds a gzip object holding `inflated` that no digest references (replacing any object
    /// at that key).
    pub fn inject_log(&mut self, bucket: &str, key: &str, inflated: &[u8]) {
        self.objects.insert(
            (bucket.to_owned(), key.to_owned()),
            Object {
                body: gzip(inflated),
                metadata: BTreeMap::new(),
            },
        );
    }
}

/// Index of the last ASCII letter or digit inside a JSON string *value* (not a field name), if
/// any. Changing it keeps the document valid JSON with the same fields (unlike touching a name,
/// `true`/`null` or a number), so only the hash tells the change.
fn last_string_alnum(json: &[u8]) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    let mut candidate = None; // last alphanumeric of the string being read
    let mut found = None;
    for (i, &c) in json.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false; // the escaped character (`\n`, `\u`...) must stay as is
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
                let is_name = json[i + 1..]
                    .iter()
                    .find(|b| !b.is_ascii_whitespace())
                    .is_some_and(|&b| b == b':');
                if !is_name && candidate.is_some() {
                    found = candidate;
                }
            } else if c.is_ascii_alphanumeric() && !inside_unicode_escape(json, i) {
                candidate = Some(i);
            }
        } else if c == b'"' {
            in_string = true;
            candidate = None;
        }
    }
    found
}

/// Whether `i` is one of the four hex digits of a `\uXXXX` escape.
fn inside_unicode_escape(json: &[u8], i: usize) -> bool {
    (2..=5).any(|back| {
        i >= back
            && json[i - back + 1] == b'u'
            && json[i - back] == b'\\'
            && (i - back == 0 || json[i - back - 1] != b'\\')
    })
}

/// A different letter or digit of the same class.
fn next_alnum(c: u8) -> u8 {
    match c {
        b'9' => b'0',
        b'z' => b'a',
        b'Z' => b'A',
        c => c + 1,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn picks_a_character_inside_a_string() {
        let json = br#"{"a":"xy","b":true,"c":null,"d":12}"#;
        assert_eq!(last_string_alnum(json), Some(7)); // the `y`
        assert_eq!(last_string_alnum(br#"{"k":"a\u00e9","l" : "\n"}"#), Some(6)); // the `a`
        assert_eq!(last_string_alnum(br#"{"k":[1,2]}"#), None);
    }

    #[test]
    fn epoch_floats() {
        let t = DateTime::from_timestamp(1_453_076_702, 0).unwrap();
        assert_eq!(epoch_float(t), "1453076702.0");
        let t = DateTime::from_timestamp(1_453_076_702, 250_000_000).unwrap();
        assert_eq!(epoch_float(t), "1453076702.25");
    }

    #[test]
    fn tamper_helpers() {
        let mut a = Archive::default();
        a.inject_log("b", "k", br#"{"Records":[{"x":"abc"}]}"#);
        let before = a.get("b", "k").unwrap().clone();
        a.modify_log("b", "k");
        assert_eq!(
            gunzip(&a.get("b", "k").unwrap().body),
            br#"{"Records":[{"x":"abd"}]}"#
        );
        a.copy_object("b", "k", "k2");
        a.move_object("b", "k2", "k3");
        assert!(a.get("b", "k2").is_none());
        a.set_metadata("b", "k3", "signature", Some("00ff"));
        a.corrupt_signature("b", "k3");
        assert_eq!(a.get("b", "k3").unwrap().metadata["signature"], "000f");
        a.drop_signature("b", "k3");
        assert!(a.get("b", "k3").unwrap().metadata.is_empty());
        a.truncate("b", "k", 5);
        assert_eq!(a.get("b", "k").unwrap().body.len(), before.body.len() - 5);
        a.delete("b", "k");
        assert_eq!(a.keys("b"), vec!["k3".to_owned()]);
        assert_eq!(a.buckets(), vec!["b".to_owned()]);
    }

    #[test]
    #[should_panic(expected = "no object s3://b/missing")]
    fn missing_object_panics_clearly() {
        Archive::default().delete("b", "missing");
    }
}
