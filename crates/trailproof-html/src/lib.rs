//! trailproof's evidence report: one self-contained HTML page an auditor can file.
//!
//! The page is rendered from the JSON report (the bytes `--format json` prints) and what the
//! JSON does not hold about the run (when, which command, which version, from where). It works
//! for any command whose JSON it reads: `validate` (one chain or `chains`), `merge` (the same
//! document) and `verify-query-results`.
//!
//! The page loads nothing: no script, font, style sheet or image from anywhere. Every value
//! from the report goes through maud's escaping (object keys come from the archive, whose owner
//! may be the attacker), and the report itself is embedded with every `<` written `\u003c`, so
//! no key can end the `<script type="application/json">` block that holds it; it parses back to
//! the same JSON value.
#![forbid(unsafe_code)]

mod model;
mod page;
mod timeline;

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

pub use model::time_in_key;
pub use timeline::{GROUP_ABOVE, MAX_CELLS};

/// Why no page could be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HtmlError {
    /// The report is not JSON.
    #[error("the JSON report cannot be read: {0}")]
    NotJson(#[from] serde_json::Error),
    /// It is JSON, but not a report trailproof writes.
    #[error("the JSON report has an unknown layout: {0}")]
    Layout(String),
}

/// What the page says about the run beyond the JSON report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// trailproof's version.
    pub version: String,
    /// When the run started.
    pub run_at: DateTime<Utc>,
    /// The command line, as typed (quoted where a shell would need it).
    pub command_line: String,
    /// What was read: `s3://bucket/prefix`, or the archive's path.
    pub source: String,
}

/// The id of the `<script>` element holding the report.
pub const JSON_ELEMENT_ID: &str = "trailproof-report";

/// Reports up to this size are embedded as JSON text; larger ones (thousands of chains, or
/// `--verbose` over many log files) gzip-compressed and base64-encoded, which makes them about
/// eight times smaller and keeps the page within a few megabytes.
pub const PLAIN_JSON_LIMIT: usize = 2 << 20;

/// How the report is embedded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Embedding {
    /// `<script type="application/json">`: the JSON text, each `<` written `\u003c`.
    Json,
    /// `<script type="application/gzip" data-encoding="base64">`: `base64 -d | gunzip` gives
    /// the report's bytes back.
    GzipBase64,
}

/// The report as embedded in the page: every `<` as `\u003c` (valid only inside JSON strings,
/// where the escape means the same character), so the text cannot close or comment out the
/// script element, whatever the keys hold.
pub fn embedded_json(json: &str) -> String {
    json.trim_end().replace('<', "\\u003c")
}

/// The report's bytes gzip-compressed and base64-encoded (no `<` can appear in it).
pub fn embedded_gzip(json: &[u8]) -> String {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let bytes = gz
        .write_all(json)
        .and_then(|()| gz.finish())
        .unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How a report of `len` bytes is embedded.
pub fn embedding(len: usize) -> Embedding {
    if len <= PLAIN_JSON_LIMIT {
        Embedding::Json
    } else {
        Embedding::GzipBase64
    }
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The page for `json` (the bytes of a trailproof JSON report).
pub fn render(json: &[u8], run: &RunInfo) -> Result<String, HtmlError> {
    let text = std::str::from_utf8(json).map_err(|e| HtmlError::Layout(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(text)?;
    let doc = model::read(value)?;
    let how = embedding(json.len());
    let embedded = match how {
        Embedding::Json => embedded_json(text),
        Embedding::GzipBase64 => embedded_gzip(json),
    };
    let hashes = page::Hashes {
        report: sha256_hex(json),
        embedded: sha256_hex(embedded.as_bytes()),
    };
    Ok(page::page(&doc, run, how, &embedded, &hashes).into_string())
}

/// Quotes command-line arguments for display, as a POSIX shell would need them.
pub fn shell_words<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    args.into_iter()
        .map(|a| {
            let a = a.as_ref();
            let plain = !a.is_empty()
                && a.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '@' | '+')
                });
            if plain {
                a.to_owned()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_its_script_and_parses_to_the_same_value() {
        let doc =
            serde_json::json!({"key": "</script><!--<script>\"><img src=x onerror=alert(1)>"});
        let text = serde_json::to_string(&doc).expect("json");
        let embedded = embedded_json(&text);
        assert!(!embedded.contains('<'), "{embedded}");
        let back: serde_json::Value = serde_json::from_str(&embedded).expect("parses");
        assert_eq!(back, doc);
    }

    #[test]
    fn command_lines_are_quoted_like_a_shell_needs() {
        assert_eq!(
            shell_words(["trailproof", "--archive", "my dir", "it's"]),
            "trailproof --archive 'my dir' 'it'\\''s'"
        );
    }

    #[test]
    fn what_is_not_a_report_is_an_error() {
        let run = RunInfo {
            version: "0".into(),
            run_at: Utc::now(),
            command_line: String::new(),
            source: String::new(),
        };
        assert!(matches!(render(b"{", &run), Err(HtmlError::NotJson(_))));
        assert!(matches!(render(b"[1]", &run), Err(HtmlError::Layout(_))));
        assert!(matches!(
            render(b"{\"a\":1}", &run),
            Err(HtmlError::Layout(_))
        ));
    }
}

#[cfg(test)]
mod embedding_tests {
    use super::*;
    use base64::Engine as _;
    use std::io::Read as _;

    /// A report of `chains` chains of `digests` valid digests each, as `--format json` lays
    /// it out (the renderer reads nothing else).
    fn big_report(chains: usize, digests: usize) -> String {
        use trailproof::report::doc::{DigestDoc, EntryDoc, RunDoc, RunHead, Stamp};
        let t = |s: &str| Stamp(crate::model::time(s).expect("time"));
        let chain = |c: usize| {
            let entries = (0..digests)
                .map(|d| EntryDoc::Digest(DigestDoc {
                    bucket: "b".into(),
                    key: format!("AWSLogs/o-1/{c:012}/CloudTrail-Digest/us-east-1/2024/03/01/{c:012}_CloudTrail-Digest_us-east-1_t_us-east-1_20240301T{:02}0000Z.json.gz", d % 24),
                    backfill: false,
                    status: trailproof::report::Status::Valid,
                    outcome: "valid".into(),
                    message: "valid".into(),
                    detail: None,
                    start: Some(t(&format!("2024-03-01T{:02}:00:00Z", d % 24))),
                    end: Some(t(&format!("2024-03-01T{:02}:59:59Z", d % 24))),
                    log_files: 2,
                }))
                .collect();
            let mut doc = crate::model::test_chain(&format!("{c:012}"), entries);
            doc.summary.digest_files.valid = digests as u64;
            doc.summary.digest_files.total = digests as u64;
            doc
        };
        let chains: Vec<_> = (0..chains).map(chain).collect();
        let mut head = RunHead::no_chains(
            &chains[0].trail_arn,
            chains[0].requested.start.0,
            chains[0].requested.end.0,
        );
        head.verdict = trailproof::Verdict::Valid;
        head.exit_code = 0;
        head.totals = Some(trailproof::report::doc::RunTotals {
            found: None,
            summary: chains[0].summary,
            public_keys: chains[0].public_keys.clone(),
        });
        serde_json::to_string(&RunDoc { head, chains }).expect("json") + "\n"
    }

    fn run() -> RunInfo {
        RunInfo {
            version: "0".into(),
            run_at: Utc::now(),
            command_line: "trailproof".into(),
            source: "archive".into(),
        }
    }

    #[test]
    fn a_report_over_the_limit_is_embedded_compressed_and_comes_back_byte_for_byte() {
        let json = big_report(1000, 24);
        assert!(json.len() > PLAIN_JSON_LIMIT, "{} bytes", json.len());
        let page = render(json.as_bytes(), &run()).expect("page");
        assert!(page.len() < 5_000_000, "{} bytes", page.len());
        let open = format!(
            "<script type=\"application/gzip\" data-encoding=\"base64\" id=\"{JSON_ELEMENT_ID}\">"
        );
        let at = page.find(&open).expect("gzip element") + open.len();
        let text = &page[at..at + page[at..].find("</script>").expect("end")];
        let gz = base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut back)
            .expect("gzip");
        assert_eq!(back, json.as_bytes());
        assert!(page.contains(&sha256_hex(json.as_bytes())));
        assert!(page.contains("1000 chains, all valid"));
    }

    #[test]
    fn a_report_within_the_limit_is_embedded_as_json() {
        let json = big_report(3, 24);
        let page = render(json.as_bytes(), &run()).expect("page");
        assert!(page.contains(&format!(
            "<script type=\"application/json\" id=\"{JSON_ELEMENT_ID}\">"
        )));
        assert_eq!(embedding(PLAIN_JSON_LIMIT), Embedding::Json);
        assert_eq!(embedding(PLAIN_JSON_LIMIT + 1), Embedding::GzipBase64);
    }
}
