//! A digest's JSON, read as a stream: the inflated bytes are never held.
//!
//! The first pass inflates the stored bytes once, hashing them, checking them as UTF-8 and
//! picking out the top-level fields the checks read while `serde_json` validates the whole
//! document; the second pass (only for a digest whose signature verified) inflates again and
//! builds the `logFiles` entries.
//!
//! The verdicts and messages must stay those of the parser that held the whole text
//! (`serde_json::from_str`): the JSON report prints the message, and `from_reader` reports some
//! errors one byte further on. The two make the same decisions on the same bytes, so a streaming
//! pass is trusted whenever it succeeds; when it fails, the text parser is run on the shortest
//! prefix that decides the outcome ([`settle`]), which for the invalid documents met in practice
//! (a bomb of zeros, junk, a truncated file) is a few bytes.

use std::cell::Cell;
use std::io::{self, Read};

use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use super::{FormatError, Limits, LogFileRef};

/// Visitor methods for every JSON scalar, each giving `$value`.
macro_rules! discard_scalars {
    ($out:ty = $value:expr) => {
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
        fn visit_str<E>(self, _: &str) -> Result<$out, E> {
            Ok($value)
        }
        fn visit_unit<E>(self) -> Result<$out, E> {
            Ok($value)
        }
        fn visit_none<E>(self) -> Result<$out, E> {
            Ok($value)
        }
    };
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

/// Top-level fields the checks and the walk read; every other field is validated and dropped.
pub(super) const KEPT_FIELDS: [&str; 9] = [
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

/// Inflated bytes handed to the parser at a time.
const CHUNK: usize = 64 * 1024;

/// How many inflated bytes one top-level key or value, or one `logFiles` entry, may take in the
/// first pass. A string is buffered whole by the parser and a kept field is built as a tree, so
/// without this a bomb shaped as one long string would cost up to the size limit before it is
/// found too large. Past it the first pass stops parsing and only measures the rest: a digest
/// over the size limit is then known as such at no cost, and one within it is parsed again
/// without the bound. CloudTrail's own fields and entries are a few hundred bytes.
const VALUE_BUDGET: u64 = 1 << 20;

/// Digests that inflate to at most this are read whole and parsed as text (see [`first_pass`]):
/// what that holds is the bound on what the first pass holds anyway.
pub(super) const SMALL: usize = 1 << 20;

/// Bytes beyond where the streaming parser stopped that the text parser is first given.
const SETTLE_SLACK: u64 = 4096;

/// What a digest was read from, kept for the second pass.
#[derive(Clone, Debug)]
pub(super) enum Stored {
    /// The stored gzip bytes (only the first member is read, as the AWS CLI does).
    Gzip(Vec<u8>),
    /// Bytes already inflated.
    Inflated(Vec<u8>),
    /// Given up once the entries were built.
    Dropped,
}

impl Stored {
    fn inflate(&self) -> Inflate<'_> {
        match self {
            Stored::Gzip(bytes) => {
                Inflate::Gzip(Box::new(flate2::bufread::GzDecoder::new(bytes.as_slice())))
            }
            Stored::Inflated(bytes) => Inflate::Plain(bytes),
            Stored::Dropped => Inflate::Plain(&[]),
        }
    }
}

enum Inflate<'a> {
    Gzip(Box<flate2::bufread::GzDecoder<&'a [u8]>>),
    Plain(&'a [u8]),
}

impl Read for Inflate<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Inflate::Gzip(d) => d.read(buf),
            Inflate::Plain(s) => s.read(buf),
        }
    }
}

/// Shared between the first pass's reader and its visitors (one thread, one parse).
#[derive(Default)]
struct Budget {
    /// Bytes handed to the parser so far, as of the last refill.
    handed: Cell<u64>,
    /// `handed` when the current top-level key or value, or `logFiles` entry, began.
    mark: Cell<u64>,
    /// The bound was passed: the parse was cut short and says nothing.
    tripped: Cell<bool>,
}

fn mark(budget: Option<&Budget>) {
    if let Some(b) = budget {
        b.mark.set(b.handed.get());
    }
}

/// The inflated stream, as the parser reads it: measured against the size limit (like
/// `Read::take(limit + 1)` did over the whole text), hashed and checked as UTF-8 on the way.
struct Meter<'a> {
    inner: Inflate<'a>,
    limit: u64,
    /// Inflated bytes so far.
    len: u64,
    /// Bytes handed to the parser (or its buffer).
    handed: u64,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    sha: Option<Sha256>,
    utf8: Option<Utf8Check>,
    /// The first byte that is not JSON white space.
    first: Option<u8>,
    /// Hand the parser nothing once the document is known not to start with `{`: the first pass
    /// then has nothing to parse, and a long string there must not be buffered.
    objects_only: bool,
    budget: Option<&'a Budget>,
    halted: bool,
    /// Inflating ended early: too large, or not a valid gzip stream.
    stop: Option<FormatError>,
}

impl<'a> Meter<'a> {
    fn new(stored: &'a Stored, limit: u64) -> Self {
        Meter {
            inner: stored.inflate(),
            limit,
            len: 0,
            handed: 0,
            buf: vec![0; CHUNK].into_boxed_slice(),
            pos: 0,
            filled: 0,
            sha: None,
            utf8: None,
            first: None,
            objects_only: false,
            budget: None,
            halted: false,
            stop: None,
        }
    }

    /// Inflates the next chunk into the buffer and accounts for it; `false` at the end or
    /// after a stop.
    fn pump(&mut self) -> bool {
        if self.stop.is_some() {
            return false;
        }
        // Never ask the inflater for more than one byte past the limit: corruption or a cut
        // further on must not turn a digest that is too large into an invalid one.
        let room = self
            .limit
            .saturating_add(1)
            .saturating_sub(self.len)
            .min(self.buf.len() as u64) as usize;
        let n = loop {
            match self.inner.read(&mut self.buf[..room]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stop = Some(FormatError::Gzip(e.to_string()));
                    return false;
                }
            }
        };
        self.len += n as u64;
        if self.len > self.limit {
            self.stop = Some(FormatError::TooLarge(self.limit));
            return false;
        }
        let bytes = &self.buf[..n];
        if let Some(sha) = &mut self.sha {
            sha.update(bytes);
        }
        if let Some(utf8) = &mut self.utf8 {
            utf8.feed(bytes);
        }
        if self.first.is_none() {
            self.first = bytes
                .iter()
                .copied()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        }
        self.pos = 0;
        self.filled = n;
        n > 0
    }

    /// Reads the whole stream into `out` if it ends within `max` bytes (or stops early): true.
    /// Otherwise false, with `out` holding the first `max + 1` bytes.
    fn read_whole(&mut self, out: &mut Vec<u8>, max: usize) -> bool {
        loop {
            if self.pos == self.filled && !self.pump() {
                return true;
            }
            let n = (self.filled - self.pos).min(max + 1 - out.len());
            out.extend_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            if out.len() > max {
                return false;
            }
        }
    }

    /// Reads to the end of the stream without parsing.
    fn drain(&mut self) {
        self.halted = true;
        while self.pump() {}
    }
}

impl Read for Meter<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.halted {
            return Err(io::Error::other("the digest is no longer parsed"));
        }
        if self.pos == self.filled {
            if let Some(b) = self.budget {
                if b.handed.get() - b.mark.get() > VALUE_BUDGET {
                    b.tripped.set(true);
                    self.halted = true;
                    return Err(io::Error::other("a value larger than the first pass reads"));
                }
            }
            if !self.pump() {
                return match self.stop {
                    Some(_) => Err(io::Error::other("inflating stopped")),
                    None => Ok(0),
                };
            }
            if self.objects_only && self.first.is_some_and(|b| b != b'{') {
                self.halted = true;
                return Err(io::Error::other("not an object"));
            }
            if let Some(b) = self.budget {
                b.handed.set(self.handed + self.filled as u64);
            }
        }
        let n = out.len().min(self.filled - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        self.handed += n as u64;
        Ok(n)
    }
}

/// UTF-8 validation of a stream, with the message `std::str::from_utf8` gives for the whole.
#[derive(Default)]
struct Utf8Check {
    /// Index of the first byte not yet known to be valid.
    valid: u64,
    /// The start of a character cut by the end of the last chunk.
    pending: Vec<u8>,
    error: Option<String>,
}

impl Utf8Check {
    fn feed(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let joined;
        let text = if self.pending.is_empty() {
            bytes
        } else {
            joined = [std::mem::take(&mut self.pending).as_slice(), bytes].concat();
            &joined
        };
        match std::str::from_utf8(text) {
            Ok(_) => self.valid += text.len() as u64,
            Err(e) => {
                let at = self.valid + e.valid_up_to() as u64;
                match e.error_len() {
                    Some(n) => {
                        self.error = Some(format!(
                            "invalid utf-8 sequence of {n} bytes from index {at}"
                        ));
                    }
                    None => {
                        self.pending = text[e.valid_up_to()..].to_vec();
                        self.valid = at;
                    }
                }
            }
        }
    }

    fn finish(self) -> Option<String> {
        self.error.or_else(|| {
            (!self.pending.is_empty())
                .then(|| format!("incomplete utf-8 byte sequence from index {}", self.valid))
        })
    }
}

/// The top-level fields kept, and the number of `logFiles` entries (not built).
#[derive(Debug)]
pub(super) struct Header {
    pub(super) fields: Map<String, Value>,
    pub(super) log_file_count: usize,
}

/// What the first pass learnt.
pub(super) struct FirstPass {
    pub(super) header: Header,
    pub(super) sha256: String,
    pub(super) len: u64,
}

/// The first pass, with the verdicts in the order the whole-text parser gave them: too large,
/// not gzip, not UTF-8, not JSON or not an object, too many entries.
///
/// A digest that ends within `small` bytes ([`SMALL`]: nearly every one) is parsed as text, as it
/// always was: the streaming parser reads a byte at a time and would only cost time there.
pub(super) fn first_pass(
    stored: &Stored,
    limits: &Limits,
    small: usize,
) -> Result<FirstPass, FormatError> {
    let mut meter = Meter::new(stored, limits.max_digest_bytes);
    meter.sha = Some(Sha256::new());
    meter.utf8 = Some(Utf8Check::default());
    let mut text = Vec::new();
    if meter.read_whole(&mut text, small) {
        let (sha256, len) = measured(&mut meter)?;
        let header = match std::str::from_utf8(&text) {
            Ok(text) => header_from_text(text),
            // Not reached: the whole was found to be valid UTF-8.
            Err(e) => return Err(FormatError::Json(e.to_string())),
        };
        return finish_first_pass(header, sha256, len, limits);
    }
    drop(text);
    let budget = Budget::default();
    let mut meter = Meter::new(stored, limits.max_digest_bytes);
    meter.sha = Some(Sha256::new());
    meter.utf8 = Some(Utf8Check::default());
    meter.objects_only = true;
    meter.budget = Some(&budget);
    let parsed = parse_stream(&mut meter, HeaderSeed(Some(&budget)));
    meter.drain();
    let (sha256, len) = measured(&mut meter)?;
    let header = if meter.first != Some(b'{') {
        // As before: any JSON value is validated as such, then refused for not being an object.
        match again(stored, len, std::marker::PhantomData::<IgnoredAny>) {
            Ok(_) => Text::NotAnObject,
            Err(handed) => settle(stored, len, handed, header_from_text),
        }
    } else {
        let parsed = if budget.tripped.get() {
            again(stored, len, HeaderSeed(None))
        } else {
            parsed
        };
        match parsed {
            Ok(header) => Text::Parsed(header),
            Err(handed) => settle(stored, len, handed, header_from_text),
        }
    };
    finish_first_pass(header, sha256, len, limits)
}

/// After a whole pass over the stream: the limit and gzip verdicts, then the UTF-8 one, which
/// come before any about the JSON; else the hash and length.
fn measured(meter: &mut Meter<'_>) -> Result<(String, u64), FormatError> {
    if let Some(stop) = meter.stop.take() {
        return Err(stop);
    }
    if let Some(e) = meter.utf8.take().and_then(Utf8Check::finish) {
        return Err(FormatError::Json(e));
    }
    let sha256 = hex::encode(meter.sha.take().unwrap_or_default().finalize());
    Ok((sha256, meter.len))
}

fn finish_first_pass(
    header: Text<Header>,
    sha256: String,
    len: u64,
    limits: &Limits,
) -> Result<FirstPass, FormatError> {
    let header = match header {
        Text::Parsed(header) => header,
        Text::NotAnObject => return Err(FormatError::NotAnObject),
        Text::Json(e) => return Err(FormatError::Json(e.to_string())),
    };
    if header.log_file_count > limits.max_log_files_per_digest {
        return Err(FormatError::TooManyLogFiles(
            limits.max_log_files_per_digest,
        ));
    }
    Ok(FirstPass {
        header,
        sha256,
        len,
    })
}

/// The second pass: the `logFiles` entries of a digest the first pass accepted (as text when it
/// inflates to at most `small` bytes).
pub(super) fn entries(
    stored: &Stored,
    len: u64,
    small: usize,
) -> Result<Vec<LogFileRef>, FormatError> {
    if matches!(stored, Stored::Dropped) {
        return Err(FormatError::Json(
            "the digest's bytes were already given up".to_owned(),
        ));
    }
    let from_text = |text: &str| {
        let mut de = serde_json::Deserializer::from_str(text);
        match EntriesSeed
            .deserialize(&mut de)
            .and_then(|v| de.end().map(|()| v))
        {
            Ok(entries) => Text::Parsed(entries),
            Err(e) => Text::Json(e),
        }
    };
    let found = if len <= small as u64 {
        let mut text = Vec::new();
        Meter::new(stored, len).read_whole(&mut text, small);
        match std::str::from_utf8(&text) {
            Ok(text) => from_text(text),
            Err(e) => return Err(FormatError::Json(e.to_string())),
        }
    } else {
        match again(stored, len, EntriesSeed) {
            Ok(entries) => Text::Parsed(entries),
            Err(handed) => settle(stored, len, handed, from_text),
        }
    };
    match found {
        Text::Parsed(entries) => Ok(entries),
        Text::NotAnObject => Err(FormatError::NotAnObject),
        Text::Json(e) => Err(FormatError::Json(e.to_string())),
    }
}

/// Parses the stream as one JSON document; on failure, about where the parser stopped (it may
/// read on past its error, over white space and one token, closing the enclosing containers, and
/// its buffer reads ahead).
fn parse_stream<'de, S: DeserializeSeed<'de>>(
    meter: &mut Meter<'_>,
    seed: S,
) -> Result<S::Value, u64> {
    let result = {
        // Given by value, a `BufReader` hands the parser its bytes without a call each: the
        // parser reads one at a time. Its lead over the parser was already measured and hashed.
        let mut de =
            serde_json::Deserializer::from_reader(io::BufReader::with_capacity(CHUNK, &mut *meter));
        seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v))
    };
    result.map_err(|e| match e.line() {
        1 => meter.handed.min(e.column() as u64),
        _ => meter.handed,
    })
}

/// Another streaming pass over a document already measured (`len` bytes, valid UTF-8).
fn again<'de, S: DeserializeSeed<'de>>(
    stored: &Stored,
    len: u64,
    seed: S,
) -> Result<S::Value, u64> {
    parse_stream(&mut Meter::new(stored, len), seed)
}

/// The outcome of parsing a digest's text.
enum Text<T> {
    Parsed(T),
    NotAnObject,
    Json(serde_json::Error),
}

/// The first pass as it was on the whole text: what [`settle`] runs on a prefix.
fn header_from_text(text: &str) -> Text<Header> {
    // Python's json (what the CLI parses with) accepts only these white-space bytes first.
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => Text::NotAnObject,
            Err(e) => Text::Json(e),
        };
    }
    let mut de = serde_json::Deserializer::from_str(text);
    match HeaderSeed(None)
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
    {
        Ok(header) => Text::Parsed(header),
        Err(e) => Text::Json(e),
    }
}

/// The outcome of `parse` on the whole document, found on a prefix where possible: the
/// streaming parser failed at about `handed` bytes of the `len`.
///
/// Parsing is left to right, so the text parser's outcome on a prefix is its outcome on the
/// whole unless it reached the end of the prefix, after which every position it reports is that
/// end: an error placed before the end is final. Otherwise the prefix doubles, up to the whole.
fn settle<T>(stored: &Stored, len: u64, handed: u64, parse: impl Fn(&str) -> Text<T>) -> Text<T> {
    let mut want = handed.saturating_add(SETTLE_SLACK);
    loop {
        let whole_wanted = want >= len;
        let mut bytes = Vec::new();
        let read = stored.inflate().take(want.min(len)).read_to_end(&mut bytes);
        // The first pass inflated all `len` bytes cleanly, so this cannot fall short; if it did,
        // what was read is all there is.
        let whole = whole_wanted || read.is_err() || (bytes.len() as u64) < want;
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            // A prefix may end inside a character (the whole is valid UTF-8).
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        };
        let outcome = parse(text);
        if whole {
            return outcome;
        }
        if let Text::Json(e) = &outcome {
            if offset(text, e).is_some_and(|at| at < text.len()) {
                return outcome;
            }
        }
        want = want.saturating_mul(2);
    }
}

/// The byte offset of an error's line and column in `text`.
fn offset(text: &str, e: &serde_json::Error) -> Option<usize> {
    let line_start = match e.line() {
        0 => return None,
        1 => 0,
        n => {
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .nth(n - 2)?
                .0
                + 1
        }
    };
    Some(line_start + e.column())
}

/// The top-level object: kept fields built, `logFiles` counted, everything else validated as
/// `serde_json::Value` would be (same recursion limit, same number range) without being built.
struct HeaderSeed<'a>(Option<&'a Budget>);

impl<'de> DeserializeSeed<'de> for HeaderSeed<'_> {
    type Value = Header;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Header, D::Error> {
        struct V<'a>(Option<&'a Budget>);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = Header;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
                let mut fields = Map::new();
                let mut log_file_count = 0;
                loop {
                    mark(self.0);
                    let Some(name) = map.next_key::<TopKey>()? else {
                        break;
                    };
                    mark(self.0);
                    match name {
                        // Python's json keeps the last of duplicate names, and so does the
                        // second pass.
                        TopKey::LogFiles => {
                            log_file_count = map.next_value_seed(ShapeSeed(self.0))?.unwrap_or(0);
                        }
                        TopKey::Kept(name) => {
                            let value = map.next_value::<Value>()?;
                            fields.insert(name.to_owned(), value);
                        }
                        TopKey::Other => {
                            map.next_value::<Discard>()?;
                        }
                    }
                }
                Ok(Header {
                    fields,
                    log_file_count,
                })
            }
        }
        d.deserialize_map(V(self.0))
    }
}

/// A top-level name, matched without being kept.
enum TopKey {
    Kept(&'static str),
    LogFiles,
    Other,
}

impl<'de> Deserialize<'de> for TopKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TopKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<TopKey, E> {
                Ok(match KEPT_FIELDS.iter().find(|k| **k == v) {
                    Some(k) => TopKey::Kept(k),
                    None if v == "logFiles" => TopKey::LogFiles,
                    None => TopKey::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// `logFiles` in the first pass: an array is only counted (its entries skipped without being
/// built, as before); anything else is validated like a `Value` and gives `None`.
struct ShapeSeed<'a>(Option<&'a Budget>);

impl<'de> DeserializeSeed<'de> for ShapeSeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        struct V<'a>(Option<&'a Budget>);
        impl<'de> Visitor<'de> for V<'_> {
            type Value = Option<usize>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<usize>, A::Error> {
                let mut n = 0usize;
                loop {
                    mark(self.0);
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        return Ok(Some(n));
                    }
                    n += 1;
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<usize>, A::Error> {
                DiscardVisitor.visit_map(map).map(|()| None)
            }
            discard_scalars!(Option<usize> = None);
        }
        d.deserialize_any(V(self.0))
    }
}

/// Any JSON value, validated exactly as `serde_json::Value` would be, and dropped.
struct Discard;

impl<'de> Deserialize<'de> for Discard {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DiscardVisitor).map(|()| Discard)
    }
}

struct DiscardVisitor;

impl<'de> Visitor<'de> for DiscardVisitor {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<Discard>()?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<Discard>()?.is_some() {
            map.next_value::<Discard>()?;
        }
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        Discard::deserialize(d).map(|_| ())
    }
    discard_scalars!(() = ());
}

/// The second pass: only the last `logFiles` array, each entry built straight into a
/// [`LogFileRef`] (no intermediate JSON tree), so memory grows with the entries kept.
struct EntriesSeed;

impl<'de> DeserializeSeed<'de> for EntriesSeed {
    type Value = Vec<LogFileRef>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<LogFileRef>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<LogFileRef>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<LogFileRef>, A::Error> {
                let mut entries = Vec::new();
                while let Some(name) = map.next_key::<Name>()? {
                    if name.0 == Some(NameOf::LogFiles) {
                        entries = map.next_value::<MaybeList>()?.0.unwrap_or_default();
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(entries)
            }
        }
        d.deserialize_map(V)
    }
}

/// The names the second pass looks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NameOf {
    LogFiles,
    Bucket,
    Object,
    Hash,
}

/// An object's key, matched without being kept.
struct Name(Option<NameOf>);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Name;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, v: &str) -> Result<Name, E> {
                Ok(Name(match v {
                    "logFiles" => Some(NameOf::LogFiles),
                    "s3Bucket" => Some(NameOf::Bucket),
                    "s3Object" => Some(NameOf::Object),
                    "hashValue" => Some(NameOf::Hash),
                    _ => None,
                }))
            }
        }
        d.deserialize_str(V)
    }
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
                while let Some(name) = map.next_key::<Name>()? {
                    let slot = match name.0 {
                        Some(NameOf::Bucket) => &mut entry.bucket,
                        Some(NameOf::Object) => &mut entry.key,
                        Some(NameOf::Hash) => &mut entry.hash,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_errors_read_as_std_gives_them_whatever_the_chunks() {
        let samples: [&[u8]; 6] = [
            "héllo wörld ✓ 😀".as_bytes(),
            b"ab\xffcd",
            b"ab\xe2\x82",
            b"ab\xe2\x82A",
            b"\xf0\x9f\x98",
            b"x\xed\xa0\x80y",
        ];
        for bytes in samples {
            let expected = std::str::from_utf8(bytes).err().map(|e| e.to_string());
            for chunk in 1..=bytes.len().max(1) {
                let mut check = Utf8Check::default();
                for part in bytes.chunks(chunk) {
                    check.feed(part);
                }
                assert_eq!(check.finish(), expected, "{bytes:?} in chunks of {chunk}");
            }
        }
    }

    #[test]
    fn settle_finds_the_text_parsers_message_on_a_short_prefix() {
        // `from_reader` places this error one column further than `from_str`.
        let doc = format!("{{\"a\":[1e400{}]}}", " ".repeat(100_000));
        let stored = Stored::Inflated(doc.clone().into_bytes());
        let expected = serde_json::from_str::<Value>(&doc).unwrap_err().to_string();
        let Err(handed) = again(&stored, doc.len() as u64, HeaderSeed(None)) else {
            panic!("1e400 is out of range");
        };
        assert!(handed < 100_000, "{handed}");
        let Text::Json(e) = settle(&stored, doc.len() as u64, handed, header_from_text) else {
            panic!("not a JSON error");
        };
        assert_eq!(e.to_string(), expected);
        // An error found only at the end is settled on the whole text, however early the guess.
        let cut = format!("{{\"a\":[{}", "1,".repeat(50_000));
        let stored = Stored::Inflated(cut.clone().into_bytes());
        let Text::Json(e) = settle(&stored, cut.len() as u64, 0, header_from_text) else {
            panic!("not a JSON error");
        };
        assert_eq!(
            e.to_string(),
            serde_json::from_str::<Value>(&cut).unwrap_err().to_string()
        );
    }
}
