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

/// The id of the `<script type="application/json">` element holding the report.
pub const JSON_ELEMENT_ID: &str = "trailproof-report";

/// The report as embedded in the page: every `<` as `\u003c` (valid only inside JSON strings,
/// where the escape means the same character), so the text cannot close or comment out the
/// script element, whatever the keys hold.
pub fn embedded_json(json: &str) -> String {
    json.trim_end().replace('<', "\\u003c")
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The page for `json` (the bytes of a trailproof JSON report).
pub fn render(json: &[u8], run: &RunInfo) -> Result<String, HtmlError> {
    let text = std::str::from_utf8(json).map_err(|e| HtmlError::Layout(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(text)?;
    let doc = model::read(&value)?;
    let embedded = embedded_json(text);
    let hashes = page::Hashes {
        report: sha256_hex(json),
        embedded: sha256_hex(embedded.as_bytes()),
    };
    Ok(page::page(&doc, run, &embedded, &hashes).into_string())
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
