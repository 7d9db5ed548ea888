//! What a queue or a Lambda hands a watcher: one message body announcing new objects, parsed
//! without I/O into [`ObjectEvent`]s, each key classified by the bucket layout ([`ObjectKind`]).
//!
//! Accepted bodies (see the reference's "Continuous operation: event formats"):
//! - an S3 event notification, `{"Records":[…]}` (SQS, or a Lambda `S3Event`), keys URL-encoded
//!   with `+` for a space;
//! - an SNS envelope (`"Type":"Notification"`) whose `Message` string is such a notification or
//!   an EventBridge event;
//! - an EventBridge event from `aws.s3` (`detail-type` `Object Created`, …), key as is;
//! - `s3:TestEvent`, which S3 sends when a notification is configured: recognised, no events.
//!
//! Nothing here is trusted: an event only says where to look. A digest it names is fetched and
//! its signature checked before anything it says counts.
//!
//! ```
//! use trailproof::events::{parse_message, ObjectKind};
//!
//! let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
//!   "eventTime":"2024-03-01T02:01:31.123Z","eventName":"ObjectCreated:Put",
//!   "s3":{"bucket":{"name":"trail-bucket","arn":"arn:aws:s3:::trail-bucket"},
//!   "object":{"key":"my+logs/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2024/03/01/111122223333_CloudTrail-Digest_us-east-2_mgmt_us-east-1_20240301T013712Z.json.gz",
//!   "size":1405,"eTag":"b21b84d653bb07b05b1e6b33684dc11b","sequencer":"0055AED6DCD90281E5"}}}]}"#;
//! let message = parse_message(body, "sqs message 1")?;
//! let event = &message.events[0];
//! assert!(event.created);
//! assert!(event.key.starts_with("my logs/"));
//! let ObjectKind::Digest(digest) = &event.object else { panic!("a digest") };
//! assert_eq!(digest.chain.prefix.as_deref(), Some("my logs"));
//! assert_eq!(digest.chain.source_region, "us-east-2");
//! assert_eq!(digest.chain.trail_name, "mgmt");
//! assert!(!digest.backfill);
//! # Ok::<(), trailproof::events::EventError>(())
//! ```

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use crate::layout::{self, Chain};

/// Where an event came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SourceKind {
    /// An S3 event notification as S3 sends it to SQS or a Lambda.
    S3Notification,
    /// An S3 event notification inside an SNS envelope.
    SnsS3Notification,
    /// An EventBridge event from `aws.s3`.
    EventBridge,
    /// An EventBridge event from `aws.s3` inside an SNS envelope.
    SnsEventBridge,
}

/// One object event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectEvent {
    /// The bucket.
    pub bucket: String,
    /// The key, decoded (S3 notifications URL-encode it; EventBridge does not).
    pub key: String,
    /// When S3 says the event happened.
    pub event_time: DateTime<Utc>,
    /// The object's size, when the event carries it (creations do).
    pub size: Option<u64>,
    /// The object's ETag, when the event carries it.
    pub etag: Option<String>,
    /// S3's sequencer: orders events for the same key only.
    pub sequencer: Option<String>,
    /// The event's name as sent: `ObjectCreated:Put`, `ObjectRemoved:Delete`, `Object Created`…
    pub event_name: String,
    /// True for an object creation (`ObjectCreated:*`, `Object Created`). Other events are kept
    /// so that a watcher can notice, for instance, a digest being deleted.
    pub created: bool,
    /// Where the event came from.
    pub source: SourceKind,
    /// What the key is in CloudTrail's layout.
    pub object: ObjectKind,
}

/// A message body, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// True for `s3:TestEvent` (then `events` is empty).
    pub test_event: bool,
    /// The object events, in the message's order.
    pub events: Vec<ObjectEvent>,
}

/// What a key is in CloudTrail's bucket layout.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectKind {
    /// A digest file.
    Digest(DigestKey),
    /// A log file.
    LogFile(LogFileKey),
    /// Anything else.
    Other,
}

/// A digest file's key, read back into the chain it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestKey {
    /// Its chain: bucket, prefix, organization id, account, source region, and, from the file
    /// name, the trail's name and home region.
    pub chain: Chain,
    /// True for a backfill digest (`…_backfill.json.gz`), which has a chain of its own.
    pub backfill: bool,
    /// The digest's end time, from its file name.
    pub end_time: DateTime<Utc>,
}

impl DigestKey {
    /// The chain's name in a state file ([`crate::state::chain_id`]).
    pub fn chain_id(&self) -> String {
        crate::state::chain_id(&self.chain)
    }
}

/// A log file's key, read back into where it was delivered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFileKey {
    /// The bucket.
    pub bucket: String,
    /// Key prefix before `AWSLogs/` (as [`Chain::prefix`]).
    pub prefix: Option<String>,
    /// Organization id, for organization trails.
    pub organization_id: Option<String>,
    /// The account whose log it is.
    pub account_id: String,
    /// The region the log comes from.
    pub source_region: String,
    /// The delivery time in its file name (to the minute).
    pub time: DateTime<Utc>,
}

impl LogFileKey {
    /// True when the log belongs to `chain` (same bucket, prefix, organization, account and
    /// source region): it would be listed under [`Chain::log_prefix`].
    pub fn belongs_to(&self, chain: &Chain) -> bool {
        self.bucket == chain.bucket
            && self.prefix == chain.prefix
            && self.organization_id == chain.organization_id
            && self.account_id == chain.account_id
            && self.source_region == chain.source_region
    }
}

/// Why a message body could not be read. Each names the message (as the caller named it: an
/// SQS message id, a file and line).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The body is not JSON.
    #[error("message {message}: not JSON: {reason}")]
    NotJson {
        /// The message.
        message: String,
        /// The parser's complaint.
        reason: String,
    },
    /// JSON, but none of the formats above.
    #[error("message {message}: not an S3 event notification, SNS envelope, EventBridge S3 event or s3:TestEvent: {reason}")]
    UnknownFormat {
        /// The message.
        message: String,
        /// What was found instead.
        reason: String,
    },
    /// A known format with a field missing or of the wrong type.
    #[error("message {message}: {field}: {reason}")]
    Field {
        /// The message.
        message: String,
        /// Where, as a path (`Records[0].s3.object.key`).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// An S3 notification's key is not a valid URL encoding of UTF-8.
    #[error("message {message}: {field}: key {key:?} is not URL-encoded UTF-8: {reason}")]
    KeyEncoding {
        /// The message.
        message: String,
        /// Where the key is.
        field: String,
        /// The key as sent.
        key: String,
        /// What is wrong with it.
        reason: KeyDecodeError,
    },
}

/// Why an URL-encoded key does not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDecodeError {
    /// A `%` not followed by two hexadecimal digits.
    #[error("'%' at byte {at} is not followed by two hex digits")]
    BadEscape {
        /// Byte offset of the `%`.
        at: usize,
    },
    /// The decoded bytes are not UTF-8.
    #[error("the decoded bytes are not UTF-8 (at byte {at})")]
    NotUtf8 {
        /// Offset in the decoded bytes of the first invalid one.
        at: usize,
    },
}

/// Decodes a key as S3 event notifications carry it: `+` is a space, `%XX` a byte, the bytes
/// UTF-8. Everything else stands for itself.
pub fn decode_key(encoded: &str) -> Result<String, KeyDecodeError> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hex = |b: Option<&u8>| b.and_then(|b| char::from(*b).to_digit(16));
                match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
                    (Some(hi), Some(lo)) => {
                        // Two hex digits: at most 0xff.
                        out.push(u8::try_from(hi * 16 + lo).unwrap_or(u8::MAX));
                        i += 3;
                    }
                    _ => return Err(KeyDecodeError::BadEscape { at: i }),
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| KeyDecodeError::NotUtf8 {
        at: e.utf8_error().valid_up_to(),
    })
}

/// Encodes a key as S3 event notifications do (form encoding): letters, digits and `-_.*/`
/// stand for themselves, a space is `+`, every other byte `%XX`. [`decode_key`] inverts it.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Parses one message body. `name` identifies the message in errors (an SQS message id, a
/// file and line).
pub fn parse_message(body: &str, name: &str) -> Result<Message, EventError> {
    let doc: Value = serde_json::from_str(body).map_err(|e| EventError::NotJson {
        message: name.to_owned(),
        reason: e.to_string(),
    })?;
    let p = Parser { name };
    p.top(&doc, false)
}

/// Classifies a key of `bucket` by CloudTrail's layout: a digest of some chain, a log file, or
/// something else. Agrees with [`Chain::is_digest_key`], [`layout::key_date`] and
/// [`Chain::log_key_time`]: a key classified as a digest of `chain` is one of its digests there.
pub fn classify_key(bucket: &str, key: &str) -> ObjectKind {
    classify(bucket, key).unwrap_or(ObjectKind::Other)
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_organization(s: &str) -> bool {
    s.len() > 2 && s.starts_with("o-") && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn classify(bucket: &str, key: &str) -> Option<ObjectKind> {
    // Read from the right: the layout's tail has a fixed shape, while a prefix may hold
    // anything, `AWSLogs/` included.
    let mut parts: Vec<&str> = key.split('/').collect();
    let file = parts.pop()?;
    let day = parts.pop()?;
    let month = parts.pop()?;
    let year = parts.pop()?;
    if ![year, month, day].iter().all(|s| is_number(s)) {
        return None;
    }
    let region = parts.pop()?;
    let folder = parts.pop()?;
    let account = parts.pop()?;
    let mut organization = None;
    let mut logs = parts.pop()?;
    if logs != "AWSLogs" && is_organization(logs) {
        organization = Some(logs.to_owned());
        logs = parts.pop()?;
    }
    if logs != "AWSLogs" || !is_account(account) || region.is_empty() {
        return None;
    }
    let prefix = (!parts.is_empty()).then(|| parts.join("/"));
    match folder {
        "CloudTrail-Digest" => {
            let head = format!("{account}_CloudTrail-Digest_{region}_");
            let rest = file.strip_prefix(&head)?.strip_suffix(".json.gz")?;
            let (rest, backfill) = match rest.strip_suffix("_backfill") {
                Some(r) => (r, true),
                None => (rest, false),
            };
            let (rest, stamp) = rest.rsplit_once('_')?;
            let (trail_name, home_region) = rest.rsplit_once('_')?;
            if trail_name.is_empty() || home_region.is_empty() || stamp.len() != 16 {
                return None;
            }
            let end_time = NaiveDateTime::parse_from_str(stamp, crate::time::KEY_FORMAT)
                .ok()?
                .and_utc();
            let chain = Chain {
                bucket: bucket.to_owned(),
                prefix,
                organization_id: organization,
                account_id: account.to_owned(),
                source_region: region.to_owned(),
                home_region: home_region.to_owned(),
                trail_name: trail_name.to_owned(),
            };
            // The layout's own reading must agree; a disagreement is a key this function
            // misread, better called "other" than sent to the wrong chain.
            (chain.is_digest_key(key)
                && layout::is_backfill_key(key) == backfill
                && layout::key_date(key) == stamp)
                .then_some(ObjectKind::Digest(DigestKey {
                    chain,
                    backfill,
                    end_time,
                }))
        }
        "CloudTrail" => {
            let head = format!("{account}_CloudTrail_{region}_");
            file.strip_prefix(&head)?.strip_suffix(".json.gz")?;
            let log = LogFileKey {
                bucket: bucket.to_owned(),
                prefix,
                organization_id: organization,
                account_id: account.to_owned(),
                source_region: region.to_owned(),
                time: DateTime::<Utc>::MIN_UTC,
            };
            let time = log_chain(&log).log_key_time(key)?;
            Some(ObjectKind::LogFile(LogFileKey { time, ..log }))
        }
        _ => None,
    }
}

/// A chain with a log's folder (trail name and home region do not take part in log keys).
fn log_chain(log: &LogFileKey) -> Chain {
    Chain {
        bucket: log.bucket.clone(),
        prefix: log.prefix.clone(),
        organization_id: log.organization_id.clone(),
        account_id: log.account_id.clone(),
        source_region: log.source_region.clone(),
        home_region: String::new(),
        trail_name: String::new(),
    }
}

struct Parser<'a> {
    name: &'a str,
}

impl Parser<'_> {
    fn field(&self, field: &str, reason: impl Into<String>) -> EventError {
        EventError::Field {
            message: self.name.to_owned(),
            field: field.to_owned(),
            reason: reason.into(),
        }
    }

    fn unknown(&self, reason: impl Into<String>) -> EventError {
        EventError::UnknownFormat {
            message: self.name.to_owned(),
            reason: reason.into(),
        }
    }

    fn object<'v>(&self, v: &'v Value, at: &str) -> Result<&'v Map<String, Value>, EventError> {
        v.as_object()
            .ok_or_else(|| self.field(at, format!("expected an object, found {}", kind(v))))
    }

    fn get<'v>(
        &self,
        m: &'v Map<String, Value>,
        at: &str,
        name: &str,
    ) -> Result<&'v Value, EventError> {
        m.get(name)
            .ok_or_else(|| self.field(&join(at, name), "missing"))
    }

    fn string<'v>(
        &self,
        m: &'v Map<String, Value>,
        at: &str,
        name: &str,
    ) -> Result<&'v str, EventError> {
        let v = self.get(m, at, name)?;
        v.as_str().ok_or_else(|| {
            self.field(
                &join(at, name),
                format!("expected a string, found {}", kind(v)),
            )
        })
    }

    /// An optional string (absent or null: none).
    fn opt_string(
        &self,
        m: &Map<String, Value>,
        at: &str,
        name: &str,
    ) -> Result<Option<String>, EventError> {
        match m.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.field(
                &join(at, name),
                format!("expected a string, found {}", kind(v)),
            )),
        }
    }

    fn opt_size(
        &self,
        m: &Map<String, Value>,
        at: &str,
        name: &str,
    ) -> Result<Option<u64>, EventError> {
        match m.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                self.field(
                    &join(at, name),
                    format!("expected a size in bytes, found {v}"),
                )
            }),
        }
    }

    fn time(
        &self,
        m: &Map<String, Value>,
        at: &str,
        name: &str,
    ) -> Result<DateTime<Utc>, EventError> {
        let text = self.string(m, at, name)?;
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| self.field(&join(at, name), format!("time {text:?}: {e}")))
    }

    fn top(&self, doc: &Value, in_sns: bool) -> Result<Message, EventError> {
        let Some(m) = doc.as_object() else {
            return Err(self.unknown(format!("the body is {}", kind(doc))));
        };
        if m.contains_key("Records") {
            let source = if in_sns {
                SourceKind::SnsS3Notification
            } else {
                SourceKind::S3Notification
            };
            return self.notification(m, source);
        }
        if let Some(event) = m.get("Event") {
            return if event.as_str() == Some("s3:TestEvent") {
                Ok(Message {
                    test_event: true,
                    events: Vec::new(),
                })
            } else {
                Err(self.unknown(format!("\"Event\" is {event}, not \"s3:TestEvent\"")))
            };
        }
        if m.contains_key("detail-type") || m.contains_key("detail") {
            let source = if in_sns {
                SourceKind::SnsEventBridge
            } else {
                SourceKind::EventBridge
            };
            return self.eventbridge(m, source);
        }
        if !in_sns && m.contains_key("Type") && m.contains_key("Message") {
            return self.sns(m);
        }
        let mut fields: Vec<&str> = m.keys().map(String::as_str).take(8).collect();
        if m.len() > fields.len() {
            fields.push("…");
        }
        Err(self.unknown(format!("an object with fields {}", fields.join(", "))))
    }

    fn sns(&self, m: &Map<String, Value>) -> Result<Message, EventError> {
        let kind = self.string(m, "", "Type")?;
        if kind != "Notification" {
            return Err(self.unknown(format!("an SNS {kind:?} message, not a \"Notification\"")));
        }
        let inner = self.string(m, "", "Message")?;
        let doc: Value = serde_json::from_str(inner)
            .map_err(|e| self.field("Message", format!("the SNS message is not JSON: {e}")))?;
        self.top(&doc, true)
    }

    fn notification(
        &self,
        m: &Map<String, Value>,
        source: SourceKind,
    ) -> Result<Message, EventError> {
        let records = self.get(m, "", "Records")?;
        let records = records.as_array().ok_or_else(|| {
            self.field(
                "Records",
                format!("expected an array, found {}", kind(records)),
            )
        })?;
        let mut events = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            let at = format!("Records[{i}]");
            let r = self.object(record, &at)?;
            let event_source = self.string(r, &at, "eventSource")?;
            if event_source != "aws:s3" {
                return Err(self.field(
                    &join(&at, "eventSource"),
                    format!("{event_source:?}, not \"aws:s3\""),
                ));
            }
            let event_name = self.string(r, &at, "eventName")?.to_owned();
            let event_time = self.time(r, &at, "eventTime")?;
            let s3_at = join(&at, "s3");
            let s3 = self.object(self.get(r, &at, "s3")?, &s3_at)?;
            let bucket_at = join(&s3_at, "bucket");
            let bucket = self.object(self.get(s3, &s3_at, "bucket")?, &bucket_at)?;
            let bucket = self.string(bucket, &bucket_at, "name")?.to_owned();
            let object_at = join(&s3_at, "object");
            let object = self.object(self.get(s3, &s3_at, "object")?, &object_at)?;
            let encoded = self.string(object, &object_at, "key")?;
            let key = decode_key(encoded).map_err(|reason| EventError::KeyEncoding {
                message: self.name.to_owned(),
                field: join(&object_at, "key"),
                key: encoded.to_owned(),
                reason,
            })?;
            events.push(ObjectEvent {
                object: classify_key(&bucket, &key),
                created: event_name.starts_with("ObjectCreated:"),
                size: self.opt_size(object, &object_at, "size")?,
                etag: self.opt_string(object, &object_at, "eTag")?,
                sequencer: self.opt_string(object, &object_at, "sequencer")?,
                bucket,
                key,
                event_time,
                event_name,
                source,
            });
        }
        Ok(Message {
            test_event: false,
            events,
        })
    }

    fn eventbridge(
        &self,
        m: &Map<String, Value>,
        source: SourceKind,
    ) -> Result<Message, EventError> {
        let from = self.string(m, "", "source")?;
        if from != "aws.s3" {
            return Err(self.unknown(format!("an EventBridge event from {from:?}, not aws.s3")));
        }
        let event_name = self.string(m, "", "detail-type")?.to_owned();
        let event_time = self.time(m, "", "time")?;
        let detail = self.object(self.get(m, "", "detail")?, "detail")?;
        let bucket = self.object(self.get(detail, "detail", "bucket")?, "detail.bucket")?;
        let bucket = self.string(bucket, "detail.bucket", "name")?.to_owned();
        let at = "detail.object";
        let object = self.object(self.get(detail, "detail", "object")?, at)?;
        // EventBridge sends the key as it is, not URL-encoded.
        let key = self.string(object, at, "key")?.to_owned();
        let event = ObjectEvent {
            object: classify_key(&bucket, &key),
            created: event_name == "Object Created",
            size: self.opt_size(object, at, "size")?,
            etag: self.opt_string(object, at, "etag")?,
            sequencer: self.opt_string(object, at, "sequencer")?,
            bucket,
            key,
            event_time,
            event_name,
            source,
        };
        Ok(Message {
            test_event: false,
            events: vec![event],
        })
    }
}

fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_owned()
    } else {
        format!("{at}.{name}")
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DIGEST_KEY: &str = "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2024/03/01/111122223333_CloudTrail-Digest_us-east-2_management_events_us-east-1_20240301T013712Z.json.gz";
    const LOG_KEY: &str = "AWSLogs/111122223333/CloudTrail/us-east-2/2024/03/01/111122223333_CloudTrail_us-east-2_20240301T0135Z_9nYN7gp2eWAJHIfT.json.gz";

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// An S3 event notification as S3 sends it (event structure version 2.1).
    fn s3_notification(event_name: &str, encoded_key: &str) -> String {
        serde_json::json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2024-03-01T02:01:31.123Z",
            "eventName": event_name,
            "userIdentity": {"principalId": "AWS:AROAEXAMPLE:regionalDeliverySession"},
            "requestParameters": {"sourceIPAddress": "192.0.2.1"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "trailproof-digests",
                "bucket": {"name": "trail-bucket", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": "arn:aws:s3:::trail-bucket"},
                "object": {"key": encoded_key, "size": 1405, "eTag": "b21b84d653bb07b05b1e6b33684dc11b", "sequencer": "0055AED6DCD90281E5"}
            }
        }]})
        .to_string()
    }

    fn eventbridge(key: &str) -> serde_json::Value {
        serde_json::json!({
            "version": "0",
            "id": "17793124-05d4-b198-2fde-7ededc63b103",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": "111122223333",
            "time": "2024-03-01T02:01:31Z",
            "region": "us-east-1",
            "resources": ["arn:aws:s3:::trail-bucket"],
            "detail": {
                "version": "0",
                "bucket": {"name": "trail-bucket"},
                "object": {"key": key, "size": 1405, "etag": "b21b84d653bb07b05b1e6b33684dc11b", "sequencer": "00617F08299329D189"},
                "request-id": "N4N7GDK58NMKJ12R",
                "requester": "cloudtrail.amazonaws.com",
                "source-ip-address": "192.0.2.1",
                "reason": "PutObject"
            }
        })
    }

    fn sns(message: &str) -> String {
        serde_json::json!({
            "Type": "Notification",
            "MessageId": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            "TopicArn": "arn:aws:sns:us-east-1:111122223333:trail-objects",
            "Subject": "Amazon S3 Notification",
            "Message": message,
            "Timestamp": "2024-03-01T02:01:31.456Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLEpH+..",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:111122223333:trail-objects:EXAMPLE"
        })
        .to_string()
    }

    fn digest_chain() -> Chain {
        Chain {
            bucket: "trail-bucket".into(),
            prefix: None,
            organization_id: None,
            account_id: "111122223333".into(),
            source_region: "us-east-2".into(),
            home_region: "us-east-1".into(),
            trail_name: "management_events".into(),
        }
    }

    #[test]
    fn s3_notification_of_a_digest() {
        let m = parse_message(&s3_notification("ObjectCreated:Put", DIGEST_KEY), "m1").unwrap();
        assert!(!m.test_event);
        let [e] = &m.events[..] else { panic!("{m:?}") };
        assert_eq!(e.bucket, "trail-bucket");
        assert_eq!(e.key, DIGEST_KEY);
        assert_eq!(e.event_time, t("2024-03-01T02:01:31.123Z"));
        assert_eq!(e.size, Some(1405));
        assert_eq!(e.etag.as_deref(), Some("b21b84d653bb07b05b1e6b33684dc11b"));
        assert_eq!(e.sequencer.as_deref(), Some("0055AED6DCD90281E5"));
        assert_eq!(e.source, SourceKind::S3Notification);
        assert!(e.created);
        // A trail name with underscores: the home region and the time are read from the right.
        assert_eq!(
            e.object,
            ObjectKind::Digest(DigestKey {
                chain: digest_chain(),
                backfill: false,
                end_time: t("2024-03-01T01:37:12Z"),
            })
        );
        let ObjectKind::Digest(d) = &e.object else {
            unreachable!()
        };
        assert_eq!(d.chain.digest_key(d.end_time), DIGEST_KEY);
        assert_eq!(
            d.chain_id(),
            "s3://trail-bucket/AWSLogs/111122223333/CloudTrail-Digest/us-east-2"
        );
    }

    #[test]
    fn other_event_names_are_kept_but_not_creations() {
        for name in [
            "ObjectRemoved:Delete",
            "ObjectRemoved:DeleteMarkerCreated",
            "ObjectRestore:Completed",
        ] {
            let mut doc: serde_json::Value =
                serde_json::from_str(&s3_notification(name, DIGEST_KEY)).unwrap();
            // Deletions carry no size or ETag.
            let object = &mut doc["Records"][0]["s3"]["object"];
            object.as_object_mut().unwrap().remove("size");
            object.as_object_mut().unwrap().remove("eTag");
            let m = parse_message(&doc.to_string(), "m").unwrap();
            assert!(!m.events[0].created, "{name}");
            assert_eq!(m.events[0].event_name, name);
            assert_eq!(m.events[0].size, None);
            assert!(matches!(m.events[0].object, ObjectKind::Digest(_)));
        }
        for name in [
            "ObjectCreated:Put",
            "ObjectCreated:CompleteMultipartUpload",
            "ObjectCreated:Copy",
        ] {
            let m = parse_message(&s3_notification(name, LOG_KEY), "m").unwrap();
            assert!(m.events[0].created, "{name}");
        }
    }

    #[test]
    fn several_records_keep_their_order() {
        let mut doc: serde_json::Value =
            serde_json::from_str(&s3_notification("ObjectCreated:Put", DIGEST_KEY)).unwrap();
        let mut second = doc["Records"][0].clone();
        second["s3"]["object"]["key"] = LOG_KEY.into();
        doc["Records"].as_array_mut().unwrap().push(second);
        let m = parse_message(&doc.to_string(), "m").unwrap();
        assert_eq!(m.events.len(), 2);
        assert!(matches!(m.events[0].object, ObjectKind::Digest(_)));
        let ObjectKind::LogFile(log) = &m.events[1].object else {
            panic!("{:?}", m.events[1].object)
        };
        assert_eq!(log.time, t("2024-03-01T01:35:00Z"));
        assert!(log.belongs_to(&digest_chain()));
        assert_eq!(log.prefix, None);
    }

    #[test]
    fn sns_envelope_of_a_notification() {
        let inner = s3_notification("ObjectCreated:Put", DIGEST_KEY);
        let m = parse_message(&sns(&inner), "m").unwrap();
        assert_eq!(m.events.len(), 1);
        assert_eq!(m.events[0].source, SourceKind::SnsS3Notification);
        assert_eq!(m.events[0].key, DIGEST_KEY);
        // An S3 test event through SNS is a test event too.
        let test = serde_json::json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2024-03-01T00:00:00.000Z", "Bucket": "trail-bucket", "RequestId": "5582815E1AEA5ADF", "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"});
        let m = parse_message(&sns(&test.to_string()), "m").unwrap();
        assert!(m.test_event && m.events.is_empty());
        // An EventBridge rule targeting SNS.
        let m = parse_message(&sns(&eventbridge(DIGEST_KEY).to_string()), "m").unwrap();
        assert_eq!(m.events[0].source, SourceKind::SnsEventBridge);
    }

    #[test]
    fn eventbridge_object_created() {
        // Not URL-encoded: a '+' and a '%' are themselves.
        let key = "odd prefix+%/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2024/03/01/111122223333_CloudTrail-Digest_us-east-2_management_events_us-east-1_20240301T013712Z_backfill.json.gz";
        let m = parse_message(&eventbridge(key).to_string(), "m").unwrap();
        let [e] = &m.events[..] else { panic!("{m:?}") };
        assert_eq!(e.key, key);
        assert_eq!(e.source, SourceKind::EventBridge);
        assert_eq!(e.event_time, t("2024-03-01T02:01:31Z"));
        assert_eq!(e.etag.as_deref(), Some("b21b84d653bb07b05b1e6b33684dc11b"));
        assert!(e.created);
        let ObjectKind::Digest(d) = &e.object else {
            panic!("{:?}", e.object)
        };
        assert!(d.backfill);
        assert_eq!(d.chain.prefix.as_deref(), Some("odd prefix+%"));
        assert!(d.chain.is_digest_key(key));
        let mut deleted = eventbridge(key);
        deleted["detail-type"] = "Object Deleted".into();
        let m = parse_message(&deleted.to_string(), "m").unwrap();
        assert!(!m.events[0].created);
        let mut other = eventbridge(key);
        other["source"] = "aws.ec2".into();
        let e = parse_message(&other.to_string(), "m").unwrap_err();
        assert!(matches!(e, EventError::UnknownFormat { .. }), "{e}");
    }

    #[test]
    fn test_event_yields_nothing() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-03-01T00:00:00.000Z","Bucket":"trail-bucket","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;
        assert_eq!(
            parse_message(body, "m").unwrap(),
            Message {
                test_event: true,
                events: Vec::new()
            }
        );
    }

    #[test]
    fn keys_are_decoded_exactly() {
        for (encoded, key) in [
            ("a+b", "a b"),
            ("a%2Bb", "a+b"),
            ("a%2bb", "a+b"),
            ("caf%C3%A9/%E2%9C%93", "café/✓"),
            ("%F0%9F%A6%80", "🦀"),
            ("date%3D2024-03-01/x", "date=2024-03-01/x"),
            ("100%25", "100%"),
            ("plain/key.json.gz", "plain/key.json.gz"),
            // Raw non-ASCII text stands for itself.
            ("café", "café"),
            ("", ""),
        ] {
            assert_eq!(decode_key(encoded).as_deref(), Ok(key), "{encoded}");
        }
        for (encoded, error) in [
            ("abc%", KeyDecodeError::BadEscape { at: 3 }),
            ("abc%4", KeyDecodeError::BadEscape { at: 3 }),
            ("a%zz", KeyDecodeError::BadEscape { at: 1 }),
            ("a%+1", KeyDecodeError::BadEscape { at: 1 }),
            ("%FF", KeyDecodeError::NotUtf8 { at: 0 }),
            ("ok%C3", KeyDecodeError::NotUtf8 { at: 2 }),
            ("%C3%28", KeyDecodeError::NotUtf8 { at: 0 }),
        ] {
            assert_eq!(decode_key(encoded), Err(error), "{encoded}");
        }
        assert_eq!(encode_key("a b+c/é%"), "a+b%2Bc/%C3%A9%25");
    }

    #[test]
    fn an_encoded_digest_key_in_a_notification_is_decoded_then_classified() {
        let key = DIGEST_KEY.replace("AWSLogs/", "my logs+more/AWSLogs/");
        let m = parse_message(
            &s3_notification("ObjectCreated:Put", &encode_key(&key)),
            "m",
        )
        .unwrap();
        assert_eq!(m.events[0].key, key);
        let ObjectKind::Digest(d) = &m.events[0].object else {
            panic!()
        };
        assert_eq!(d.chain.prefix.as_deref(), Some("my logs+more"));
        // A key that does not decode is an error naming the message and the field.
        let e = parse_message(&s3_notification("ObjectCreated:Put", "bad%"), "msg-7").unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, EventError::KeyEncoding { .. }), "{text}");
        assert!(
            text.contains("msg-7") && text.contains("Records[0].s3.object.key"),
            "{text}"
        );
    }

    #[test]
    fn classification() {
        let c = digest_chain();
        let org = Chain {
            organization_id: Some("o-abc123def4".into()),
            prefix: Some("a/AWSLogs/b".into()),
            ..c.clone()
        };
        let when = t("2024-03-01T01:37:12Z");
        for chain in [&c, &org] {
            let key = chain.digest_key(when);
            let ObjectKind::Digest(d) = classify_key("trail-bucket", &key) else {
                panic!("{key}")
            };
            assert_eq!((&d.chain, d.end_time, d.backfill), (chain, when, false));
        }
        let org_log = "a/AWSLogs/b/AWSLogs/o-abc123def4/111122223333/CloudTrail/us-east-2/2024/03/01/111122223333_CloudTrail_us-east-2_20240301T0135Z_x.json.gz";
        let ObjectKind::LogFile(log) = classify_key("trail-bucket", org_log) else {
            panic!()
        };
        assert!(log.belongs_to(&org) && !log.belongs_to(&c));
        for other in [
            "",
            "AWSLogs/",
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2024/03/01/",
            // Wrong account length, non-numeric day, a region not repeated in the file name.
            &DIGEST_KEY.replace("AWSLogs/111122223333/", "AWSLogs/11112222333/"),
            &DIGEST_KEY.replace("/01/", "/xx/"),
            &DIGEST_KEY.replace("Digest_us-east-2_", "Digest_us-west-2_"),
            // No trail name, a time that is no time, not gzip JSON.
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2024/03/01/111122223333_CloudTrail-Digest_us-east-2_us-east-1_20240301T013712Z.json.gz",
            &DIGEST_KEY.replace("20240301T013712Z", "20241301T013712Z"),
            &DIGEST_KEY.replace(".json.gz", ".json"),
            "AWSLogs/111122223333/CloudTrail-Insight/us-east-2/2024/03/01/111122223333_CloudTrail-Insight_us-east-2_20240301T0135Z_x.json.gz",
            "AWSLogs/111122223333/CloudTrail/us-east-2/2024/03/01/111122223333_CloudTrail_us-east-2_2024030_x.json.gz",
            "AWSLogs/o-/111122223333/CloudTrail/us-east-2/2024/03/01/111122223333_CloudTrail_us-east-2_20240301T0135Z_x.json.gz",
        ] {
            assert_eq!(classify_key("b", other), ObjectKind::Other, "{other}");
        }
    }

    #[test]
    fn malformed_messages_are_typed_errors_naming_the_message() {
        let ok = s3_notification("ObjectCreated:Put", DIGEST_KEY);
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut v: serde_json::Value = serde_json::from_str(&ok).unwrap();
            f(&mut v);
            v.to_string()
        };
        let cases: Vec<(String, &str)> = vec![
            ("{not json".into(), "not JSON"),
            ("[]".into(), "the body is an array"),
            ("{\"hello\":1}".into(), "fields hello"),
            ("{\"Event\":\"s3:Other\"}".into(), "s3:TestEvent"),
            (
                edit(&|v| v["Records"] = 1.into()),
                "Records: expected an array",
            ),
            (
                edit(&|v| v["Records"][0]["eventSource"] = "aws:sqs".into()),
                "Records[0].eventSource",
            ),
            (
                edit(&|v| v["Records"][0]["eventTime"] = "yesterday".into()),
                "Records[0].eventTime",
            ),
            (
                edit(&|v| {
                    v["Records"][0]["s3"]["object"]
                        .as_object_mut()
                        .unwrap()
                        .remove("key");
                }),
                "Records[0].s3.object.key: missing",
            ),
            (
                edit(&|v| v["Records"][0]["s3"]["object"]["size"] = (-1).into()),
                "Records[0].s3.object.size",
            ),
            (
                edit(&|v| v["Records"][0]["s3"]["bucket"] = "b".into()),
                "Records[0].s3.bucket: expected an object",
            ),
            (sns("{not json"), "Message: the SNS message is not JSON"),
            (
                serde_json::json!({"Type": "SubscriptionConfirmation", "Message": "confirm"})
                    .to_string(),
                "SubscriptionConfirmation",
            ),
            // An SNS envelope inside an SNS envelope is not a format S3 sends.
            (sns(&sns(&ok)), "fields"),
        ];
        for (body, needle) in cases {
            let e = parse_message(&body, "queue/msg-42").unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains("queue/msg-42") && text.contains(needle),
                "{needle}: {text}"
            );
        }
    }

    proptest! {
        #[test]
        fn encoding_then_decoding_any_key_round_trips(key in any::<String>()) {
            let encoded = encode_key(&key);
            prop_assert!(encoded.is_ascii());
            prop_assert_eq!(decode_key(&encoded), Ok(key));
        }

        #[test]
        fn decoding_never_panics_and_classification_agrees_with_the_layout(text in "[a-zA-Z0-9%+/_.-]{0,64}") {
            if let Ok(key) = decode_key(&text) {
                if let ObjectKind::Digest(d) = classify_key("b", &key) {
                    prop_assert!(d.chain.is_digest_key(&key));
                }
            }
        }
    }
}
