//! Message bodies as a watcher receives them (S3 notifications, SNS envelopes, EventBridge
//! events), and keys: never panics; an error names the message; URL encoding round-trips; and
//! classification agrees with the layout code (`Chain::is_digest_key`, `key_date`,
//! `log_key_time`), including on keys built from arbitrary parts of a real layout.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use trailproof::events::{classify_key, decode_key, encode_key, parse_message, ObjectKind};
use trailproof::layout::{is_backfill_key, key_date};
use trailproof::Chain;

#[derive(Arbitrary, Debug)]
struct Parts {
    prefix: Option<String>,
    organization: Option<String>,
    account: u64,
    region: String,
    trail_name: String,
    home_region: String,
    seconds: u32,
    backfill: bool,
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// A raw message body.
    Body(String),
    /// A key, sent in an S3 notification (encoded), an EventBridge event, and through SNS.
    Key { key: String, eventbridge: bool, sns: bool },
    /// A digest key built from parts.
    Digest(Parts),
}

const NAME: &str = "fuzz-message";

/// The layout code's reading of each event agrees with its classification.
fn check(bucket: &str, key: &str, kind: &ObjectKind) {
    match kind {
        ObjectKind::Digest(d) => {
            assert_eq!(d.chain.bucket, bucket);
            assert!(d.chain.is_digest_key(key), "{key:?} {d:?}");
            assert_eq!(is_backfill_key(key), d.backfill);
            assert_eq!(key_date(key), trailproof::time::key_format(d.end_time), "{key:?}");
        }
        ObjectKind::LogFile(l) => {
            let chain = Chain {
                bucket: l.bucket.clone(),
                prefix: l.prefix.clone(),
                organization_id: l.organization_id.clone(),
                account_id: l.account_id.clone(),
                source_region: l.source_region.clone(),
                home_region: String::new(),
                trail_name: String::new(),
            };
            assert_eq!(l.bucket, bucket);
            assert_eq!(chain.log_key_time(key), Some(l.time), "{key:?}");
            assert!(l.belongs_to(&chain));
        }
        _ => {}
    }
}

fn parse(body: &str) {
    match parse_message(body, NAME) {
        Ok(m) => {
            assert!(!m.test_event || m.events.is_empty());
            for e in &m.events {
                assert_eq!(classify_key(&e.bucket, &e.key), e.object);
                check(&e.bucket, &e.key, &e.object);
            }
        }
        Err(e) => assert!(e.to_string().contains(NAME), "{e}"),
    }
}

fn notification(key: &str) -> String {
    serde_json::json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3",
        "eventTime": "2024-03-01T02:01:31.123Z", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 1}}}]})
    .to_string()
}

fn eventbridge(key: &str) -> String {
    serde_json::json!({"source": "aws.s3", "detail-type": "Object Created",
        "time": "2024-03-01T02:01:31Z",
        "detail": {"bucket": {"name": "b"}, "object": {"key": key}}})
    .to_string()
}

fn sns(message: &str) -> String {
    serde_json::json!({"Type": "Notification", "Message": message}).to_string()
}

fuzz_target!(|input: Input| match input {
    Input::Body(body) => {
        parse(&body);
        if let Ok(key) = decode_key(&body) {
            check("b", &key, &classify_key("b", &key));
        }
    }
    Input::Key { key, eventbridge: eb, sns: wrap } => {
        let encoded = encode_key(&key);
        assert_eq!(decode_key(&encoded).as_deref(), Ok(key.as_str()));
        let body = if eb { eventbridge(&key) } else { notification(&encoded) };
        let body = if wrap { sns(&body) } else { body };
        let m = parse_message(&body, NAME).expect("a well-formed message");
        assert_eq!(m.events.len(), 1);
        assert_eq!(m.events[0].key, key);
        check("b", &key, &m.events[0].object);
    }
    Input::Digest(p) => {
        let chain = Chain {
            bucket: "b".into(),
            prefix: p.prefix,
            organization_id: p.organization,
            account_id: format!("{:012}", p.account % 1_000_000_000_000),
            source_region: p.region,
            home_region: p.home_region,
            trail_name: p.trail_name,
        };
        let end = chrono::DateTime::from_timestamp(1_400_000_000 + i64::from(p.seconds), 0)
            .expect("in range");
        let mut key = chain.digest_key(end);
        if p.backfill {
            // Only the suffix: the parts before it may hold ".json.gz" too.
            key = format!("{}_backfill.json.gz", key.strip_suffix(".json.gz").expect("a digest key"));
        }
        let kind = classify_key("b", &key);
        check("b", &key, &kind);
        // Parts a real trail could have are read back exactly.
        let plain = |s: &str| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let real = plain(&chain.source_region)
            && plain(&chain.home_region)
            && !chain.trail_name.is_empty()
            && chain.trail_name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && chain.prefix.as_deref().is_none_or(|p| {
                !p.is_empty() && p.split('/').all(|s| plain(s) && s != "AWSLogs")
            })
            && chain.organization_id.as_deref().is_none_or(|o| {
                o.len() > 2 && o.starts_with("o-") && plain(o)
            });
        if real {
            let ObjectKind::Digest(d) = kind else { panic!("{key:?} not a digest") };
            assert_eq!((d.chain, d.end_time, d.backfill), (chain, end, p.backfill));
        }
    }
});
