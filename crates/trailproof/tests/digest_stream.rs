//! The streaming digest parser (`trailproof::digest`) against the parser it replaced, which
//! inflated the whole digest and parsed the text (kept here, verbatim but for names, as
//! `before`): on genuine digests, on every cut and many damaged bytes of them, on hostile
//! documents and against small limits, both must give the same result: the same error and
//! message, or the same hash, length, fields, string to sign and entries.

use std::io::Write;

use proptest::prelude::*;
use serde_json::Value;
use trailproof::digest::{self, FormatError, Limits};
use trailproof_testkit::TrailBuilder;

/// Every top-level field `ParsedDigest::field` answers for.
const KEPT: [&str; 9] = [
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
    "previousDigestS3Bucket",
    "previousDigestS3Object",
    "previousDigestHashValue",
];

#[allow(dead_code, clippy::all)]
mod before {
    //! `trailproof::digest` as it was before the streaming passes (commit 5da68f2).
    use std::io::Read;

    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};
    use sha2::{Digest as _, Sha256};
    use trailproof::digest::{FormatError, Limits, LogFileRef};

    pub struct ParsedDigest {
        pub fields: Map<String, Value>,
        pub log_file_count: usize,
        inflated: Vec<u8>,
        pub inflated_sha256: String,
        pub inflated_len: u64,
    }

    impl ParsedDigest {
        pub fn log_files(&self) -> Result<Vec<LogFileRef>, FormatError> {
            if self.log_file_count == 0 {
                return Ok(Vec::new());
            }
            let text = std::str::from_utf8(&self.inflated)
                .map_err(|e| FormatError::Json(e.to_string()))?;
            serde_json::from_str::<Entries>(text)
                .map(|e| e.0)
                .map_err(|e| FormatError::Json(e.to_string()))
        }
    }

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
            serde_json::from_str::<IgnoredAny>(text)
                .map_err(|e| FormatError::Json(e.to_string()))?;
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
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).expect("in memory");
    e.finish().expect("in memory")
}

/// What a parse result shows the rest of the program.
#[derive(Debug, PartialEq)]
enum Seen {
    Err(FormatError, String),
    Ok {
        sha256: String,
        len: u64,
        count: usize,
        fields: Vec<Option<Value>>,
        to_sign: String,
        entries: Result<Vec<digest::LogFileRef>, String>,
    },
}

fn seen_now(r: Result<digest::ParsedDigest, FormatError>) -> Seen {
    match r {
        Err(e) => Seen::Err(e.clone(), e.to_string()),
        Ok(d) => Seen::Ok {
            sha256: d.inflated_sha256.clone(),
            len: d.inflated_len,
            count: d.log_file_count(),
            fields: KEPT.iter().map(|f| d.field(f).cloned()).collect(),
            to_sign: d.string_to_sign(),
            entries: d.log_files().map_err(|e| e.to_string()),
        },
    }
}

fn seen_before(r: Result<before::ParsedDigest, FormatError>) -> Seen {
    match r {
        Err(e) => Seen::Err(e.clone(), e.to_string()),
        Ok(d) => {
            let field = |name: &str| d.fields.get(name).cloned();
            let python = |v: Option<Value>| match v {
                None => String::new(),
                Some(Value::String(s)) => s,
                Some(Value::Null) => "None".to_owned(),
                Some(Value::Bool(b)) => if b { "True" } else { "False" }.to_owned(),
                Some(other) => other.to_string(),
            };
            let previous = match field("previousDigestSignature") {
                None | Some(Value::Null) => "null".to_owned(),
                v => python(v),
            };
            Seen::Ok {
                sha256: d.inflated_sha256.clone(),
                len: d.inflated_len,
                count: d.log_file_count,
                fields: KEPT.iter().map(|f| field(f)).collect(),
                to_sign: format!(
                    "{}\n{}/{}\n{}\n{}",
                    python(field("digestEndTime")),
                    python(field("digestS3Bucket")),
                    python(field("digestS3Object")),
                    d.inflated_sha256,
                    previous
                ),
                entries: d.log_files().map_err(|e| e.to_string()),
            }
        }
    }
}

/// Both parsers agree on these stored bytes, and on them taken as already inflated; the new one
/// both as it reads most digests (whole, as text) and as it reads large ones (streamed).
fn agree(stored: &[u8], limits: &Limits, what: &str) {
    let reference = seen_before(before::parse(stored, limits));
    assert_eq!(
        seen_now(digest::parse(stored, limits)),
        reference,
        "{what}: as stored"
    );
    assert_eq!(
        seen_now(digest::parse_streamed(stored, limits)),
        reference,
        "{what}: as stored, streamed"
    );
    agree_inflated(stored, limits, &format!("{what}: taken as inflated"));
}

fn agree_inflated(inflated: &[u8], limits: &Limits, what: &str) {
    let reference = seen_before(before::parse_inflated(inflated, limits));
    assert_eq!(
        seen_now(digest::parse_inflated(inflated, limits)),
        reference,
        "{what}"
    );
    assert_eq!(
        seen_now(digest::parse_inflated_streamed(inflated, limits)),
        reference,
        "{what}, streamed"
    );
}

/// Both agree on this inflated document, gzipped and as it is.
fn agree_json(json: &[u8], limits: &Limits, what: &str) {
    agree(&gzip(json), limits, what);
    agree_inflated(json, limits, &format!("{what}: inflated"));
}

/// The inflated digests of a small signed trail.
fn trail_digests(hours: u32, logs_per_hour: u32, seed: u64) -> Vec<Vec<u8>> {
    let trail = TrailBuilder::new()
        .hours(hours)
        .logs_per_hour(logs_per_hour)
        .records_per_log(1)
        .seed(seed)
        .build();
    trail
        .archive
        .objects
        .iter()
        .filter(|((_, key), _)| key.contains("CloudTrail-Digest"))
        .map(|(_, o)| trailproof_testkit::gunzip(&o.body))
        .collect()
}

/// Bytes that change what a JSON document is, put at every position of a digest.
const CORE: &[u8] = b"{}[],:\"\\u0e-1 \n\x00\x1f\xe2\xff";

/// Bytes worth putting anywhere in a JSON document.
const ALPHABET: &[u8] = b"{}[],:\"\\/u0123456789.eE+-tfnrl \n\tabxdD\x00\x1f\x7f\xc3\xa9\xe2\x82\xac\xed\xa0\x80\xf0\x9f\x98\x80\xff";

#[test]
fn genuine_digests_parse_as_before() {
    for seed in 0..3 {
        for json in trail_digests(3, 1 + seed as u32 * 7, seed) {
            agree_json(&json, &Limits::default(), "genuine");
            let count = serde_json::from_slice::<Value>(&json).expect("json")["logFiles"]
                .as_array()
                .map_or(0, Vec::len);
            // At and around each limit.
            for (bytes, entries) in [
                (json.len() as u64, count),
                (json.len() as u64 - 1, count),
                (json.len() as u64 + 1, count.saturating_sub(1)),
                (0, 0),
            ] {
                agree_json(&json, &Limits::new(bytes, entries), "genuine, limits");
            }
        }
    }
}

#[test]
fn every_cut_and_damaged_byte_of_a_digest_parses_as_before() {
    let json = trail_digests(2, 2, 7).pop().expect("a digest");
    let limits = Limits::default();
    for cut in 0..=json.len() {
        agree_json(&json[..cut], &limits, &format!("cut at {cut}"));
    }
    for at in 0..json.len() {
        for &b in CORE {
            let mut damaged = json.clone();
            damaged[at] = b;
            agree_json(&damaged, &limits, &format!("byte {at} = {b:#x}"));
        }
        let mut shorter = json.clone();
        shorter.remove(at);
        agree_json(&shorter, &limits, &format!("byte {at} removed"));
    }
    // The stored bytes themselves: every cut and flipped bit of the gzip stream.
    let stored = gzip(&json);
    for cut in 0..=stored.len() {
        agree(&stored[..cut], &limits, &format!("gzip cut at {cut}"));
    }
    for at in 0..stored.len() {
        for bit in [0, 3, 7] {
            let mut damaged = stored.clone();
            damaged[at] ^= 1 << bit;
            agree(&damaged, &limits, &format!("gzip byte {at} bit {bit}"));
        }
    }
    let mut extra = stored.clone();
    extra.extend_from_slice(b"trailing bytes");
    agree(&extra, &limits, "trailing bytes");
    extra.extend_from_slice(&gzip(b"{}"));
    agree(&extra, &limits, "a second member");
}

#[test]
fn hostile_documents_parse_as_before() {
    let deep = |open: &str, close: &str, n: usize| {
        format!("{{\"x\":{}1{}}}", open.repeat(n), close.repeat(n))
    };
    let mut docs: Vec<String> = vec![
        String::new(),
        " \n\t\r".into(),
        "[1]".into(),
        "null".into(),
        "\"s\"".into(),
        "1e400".into(),
        "{}".into(),
        "{} {}".into(),
        "{}x".into(),
        " {\"logFiles\":[{},{}],\"logFiles\":{\"a\":1}}".into(),
        r#"{"logFiles":[1e400]}"#.into(),
        r#"{"logFiles":[{"s3Bucket":1e400}]}"#.into(),
        r#"{"logFiles":[{"s3Bucket":"\ud800"}]}"#.into(),
        r#"{"x":"\ud800"}"#.into(),
        r#"{"x":"\udc00"}"#.into(),
        r#"{"x":1e400}"#.into(),
        r#"{"x":-}"#.into(),
        r#"{"x":[1,]}"#.into(),
        r#"{"x":{"a":1,}}"#.into(),
        r#"{"digestEndTime":{"b":[1,2,{"c":null}],"a":true},"digestS3Bucket":7}"#.into(),
        r#"{"digestS3Bucket":"a","digestS3Bucket":"b","digest\u0053\u0033Object":"k"}"#.into(),
        deep("[", "]", 126),
        deep("[", "]", 127),
        deep("[", "]", 200),
        deep("{\"a\":", "}", 127),
        deep("{\"a\":", "}", 200),
        format!("{{\"logFiles\":[{}]}}", deep("[", "]", 300)),
        "[".repeat(300),
        format!("{}{}", "[".repeat(300), "]".repeat(300)),
    ];
    for (name, at) in [("x", 1), ("digestS3Bucket", 1), ("logFiles", 2)] {
        // Long values cross the reader's chunks and the first pass's per-value bound.
        let long = "é".repeat(700_000);
        let value = if at == 2 {
            format!("[{{\"s3Object\":\"{long}\"}}]")
        } else {
            format!("\"{long}\"")
        };
        docs.push(format!("{{\"{name}\":{value},\"digestEndTime\":\"t\"}}"));
        docs.push(format!("{{\"{name}\":{value},\"digestEndTime\":\"t\",}}"));
        docs.push(format!(
            "{{\"{name}\":{value},\"digestEndTime\":\"\\ud800\"}}"
        ));
        docs.push(format!("{{\"{name}\":{value}"));
    }
    let entries: String = (0..20_000)
        .map(|i| format!("{{\"s3Bucket\":\"b\",\"s3Object\":\"k{i}\",\"hashValue\":\"{i:064x}\"}}"))
        .collect::<Vec<_>>()
        .join(",");
    docs.push(format!(
        "{{\"logFiles\":[{entries}],\"digestEndTime\":\"t\"}}"
    ));
    docs.push(format!("{{\"logFiles\":[{entries},1e999]}}"));
    docs.push(format!("{{\"logFiles\":[{entries},\"\\ud800\"]}}"));
    docs.push(format!("{{\"logFiles\":[{entries}]"));
    for doc in &docs {
        let what = doc.chars().take(80).collect::<String>();
        agree_json(doc.as_bytes(), &Limits::default(), &what);
        agree_json(doc.as_bytes(), &Limits::new(100_000, 10), &what);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/digests");
    for file in std::fs::read_dir(dir).expect("hostile digests").flatten() {
        let bytes = std::fs::read(file.path()).expect("read");
        let what = file.file_name().to_string_lossy().into_owned();
        if what.ends_with(".raw") {
            agree(&bytes, &Limits::default(), &what);
        } else {
            agree_json(&bytes, &Limits::default(), &what);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A few bytes changed anywhere in a digest large enough to span several of the reader's
    /// chunks: the same result as before.
    #[test]
    fn damaged_large_digests_parse_as_before(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 0..ALPHABET.len(), 0..3u8), 1..4),
    ) {
        let mut json = large_digest().clone();
        for (at, b, kind) in edits {
            let at = at.index(json.len());
            match kind {
                0 => json[at] = ALPHABET[b],
                1 => { json.remove(at); }
                _ => json.insert(at, ALPHABET[b]),
            }
        }
        agree_json(&json, &Limits::default(), "damaged");
    }
}

/// A genuine digest of 2,000 entries (about 600 KB).
fn large_digest() -> &'static Vec<u8> {
    static DIGEST: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DIGEST.get_or_init(|| {
        let mut v: Value =
            serde_json::from_slice(&trail_digests(1, 1, 3).pop().expect("a digest")).expect("json");
        let logs = v["logFiles"].as_array_mut().expect("logFiles");
        let first = logs[0].clone();
        for i in 0..2_000 {
            let mut entry = first.clone();
            entry["s3Object"] = Value::String(format!(
                "AWSLogs/1/CloudTrail/us-east-1/2024/03/01/é-{i:06}.json.gz"
            ));
            logs.push(entry);
        }
        serde_json::to_vec(&v).expect("json")
    })
}
