//! AWS-style JSON output: compact, `/` escaped as `\/`, fields in CloudTrail's order.
//!
//! CloudTrail's writer escapes forward slashes and never inserts whitespace. Digest signatures
//! and hashes are computed over those exact bytes, so a verifier that re-serialises instead of
//! hashing the delivered bytes gets a different hash: the generated data must exercise that.
//!
//! Generated objects are built as [`J`] values, which keep field order by construction, so this
//! crate does not need serde_json's `preserve_order` feature (enabling it here would silently
//! change `serde_json::Map` for every crate of the workspace that is built alongside the testkit).

use serde_json::Value;

/// A JSON value whose objects keep their insertion order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum J {
    Null,
    Bool(bool),
    /// A number, kept as its JSON text (serde_json floats and big integers round-trip exactly).
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl From<&str> for J {
    fn from(s: &str) -> J {
        J::Str(s.to_owned())
    }
}

impl From<String> for J {
    fn from(s: String) -> J {
        J::Str(s)
    }
}

impl From<bool> for J {
    fn from(b: bool) -> J {
        J::Bool(b)
    }
}

impl From<i64> for J {
    fn from(n: i64) -> J {
        J::Num(n.to_string())
    }
}

impl<T: Into<J>> From<Option<T>> for J {
    fn from(v: Option<T>) -> J {
        v.map_or(J::Null, Into::into)
    }
}

impl<T: Into<J>> From<Vec<T>> for J {
    fn from(v: Vec<T>) -> J {
        J::Arr(v.into_iter().map(Into::into).collect())
    }
}

/// Builds an ordered object from `(name, value)` pairs.
pub(crate) fn obj<const N: usize>(fields: [(&str, J); N]) -> J {
    J::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

impl J {
    /// Serialises the value in AWS style.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            J::Null => out.extend_from_slice(b"null"),
            J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            J::Num(text) => out.extend_from_slice(text.as_bytes()),
            J::Str(s) => write_str(s, out),
            J::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            J::Obj(fields) => {
                out.push(b'{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(k, out);
                    out.push(b':');
                    v.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// Writes a JSON string literal, escaping `/` like CloudTrail does. Non-ASCII text stays UTF-8.
fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '/' => out.extend_from_slice(b"\\/"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Field names in the order CloudTrail writes them. Digest top-level fields and `logFiles`
/// entries share `newestEventTime`/`oldestEventTime` in the same relative order, so one list
/// serves both; record fields follow. Unknown fields sort after all known ones.
const FIELD_ORDER: &[&str] = &[
    // digest file
    "awsAccountId",
    "digestStartTime",
    "digestEndTime",
    "digestS3Bucket",
    "digestS3Object",
    "digestPublicKeyFingerprint",
    "digestSignatureAlgorithm",
    // logFiles entries
    "s3Bucket",
    "s3Object",
    "hashValue",
    "hashAlgorithm",
    // shared by both
    "newestEventTime",
    "oldestEventTime",
    "previousDigestS3Bucket",
    "previousDigestS3Object",
    "previousDigestHashValue",
    "previousDigestHashAlgorithm",
    "previousDigestSignature",
    "logFiles",
    // log files
    "Records",
    "eventVersion",
    "userIdentity",
    "type",
    "principalId",
    "arn",
    "accountId",
    "accessKeyId",
    "userName",
    "sessionContext",
    "invokedBy",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
    "tlsDetails",
];

fn rank(name: &str) -> usize {
    FIELD_ORDER
        .iter()
        .position(|f| *f == name)
        .unwrap_or(FIELD_ORDER.len())
}

/// Converts a `serde_json::Value` to an ordered [`J`]: CloudTrail fields go in CloudTrail's
/// order (whatever order the map iterates in), others keep the map's order after them. This makes
/// the output independent of serde_json's `preserve_order` feature.
fn from_value(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        // serde_json's own rendering: integers as is, floats with at least one decimal.
        Value::Number(n) => J::Num(n.to_string()),
        Value::String(s) => J::Str(s.clone()),
        Value::Array(items) => J::Arr(items.iter().map(from_value).collect()),
        Value::Object(map) => {
            let mut fields: Vec<(String, J)> = map
                .iter()
                .map(|(k, v)| (k.clone(), from_value(v)))
                .collect();
            // Stable sort: unknown fields keep their relative (map) order.
            fields.sort_by_key(|(k, _)| rank(k));
            J::Obj(fields)
        }
    }
}

/// Serialises like CloudTrail: compact, `/` escaped as `\/`, CloudTrail's field order for the
/// digest, `logFiles` and record fields CloudTrail writes (whatever the map's order, so this does
/// not depend on serde_json's `preserve_order`); other fields follow in the map's iteration order.
pub fn to_aws_json(v: &Value) -> Vec<u8> {
    from_value(v).to_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_slashes_and_controls() {
        let j = obj([("a/b", J::from("x/y\"\\\n\u{1}é")), ("n", J::Null)]);
        assert_eq!(
            String::from_utf8(j.to_bytes()).unwrap(),
            r#"{"a\/b":"x\/y\"\\\n\u0001é","n":null}"#
        );
    }

    #[test]
    fn to_aws_json_orders_cloudtrail_fields() {
        let v: Value = serde_json::from_str(
            r#"{"logFiles":[{"oldestEventTime":"o","s3Object":"k/x","s3Bucket":"b"}],
                "zzz":1.5,"awsAccountId":"1","big":18446744073709551615,"neg":-3}"#,
        )
        .unwrap();
        let out = String::from_utf8(to_aws_json(&v)).unwrap();
        // Unknown fields follow in map order (alphabetical without `preserve_order`).
        assert!(out.starts_with(
            r#"{"awsAccountId":"1","logFiles":[{"s3Bucket":"b","s3Object":"k\/x","oldestEventTime":"o"}],"#
        ));
        assert!(out.contains(r#""zzz":1.5"#), "{out}");
        assert!(out.contains(r#""big":18446744073709551615"#), "{out}");
        assert!(out.contains(r#""neg":-3"#), "{out}");
        assert!(!out.contains(' '));
    }
}
